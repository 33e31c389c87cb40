//go:build linux

package linux

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tunDevice is the clone device of the tun/tap driver.
const tunDevice = "/dev/net/tun"

// TapFlags are the TUNSETIFF flags taps are created and opened with: a single-queue TAP
// without packet information and with virtio-net headers, as QEMU's vhost/virtio-net wants.
const TapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR

// ensureTap returns the tap, creating it as a persistent root-owned tap if it is missing. An
// existing link of that name must be a persistent single-queue tap.
func ensureTap(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := linkByName(h, name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		if err := createTap(name); err != nil {
			return nil, err
		}
		if l, err = h.LinkByName(name); err != nil {
			return nil, fmt.Errorf("get tap %s: %w", name, err)
		}
	}
	t, ok := l.(*netlink.Tuntap)
	switch {
	case !ok:
		return nil, fmt.Errorf("link %s is a %s, not a tap", name, l.Type())
	case t.Mode != netlink.TUNTAP_MODE_TAP:
		return nil, fmt.Errorf("link %s is a tun, not a tap", name)
	case t.Flags&netlink.TUNTAP_MULTI_QUEUE != 0:
		return nil, fmt.Errorf("tap %s is multi-queue", name)
	case t.NonPersist:
		return nil, fmt.Errorf("tap %s is not persistent", name)
	}
	return l, nil
}

// createTap creates a persistent tap owned by root in the calling thread's namespace (the
// namespace of the thread that opens /dev/net/tun is the one the device is created in).
func createTap(name string) error {
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", tunDevice, err)
	}
	// Until TUNSETPERSIST the tap lives only as long as this fd, so any failure below leaves
	// nothing behind.
	defer func() { _ = unix.Close(fd) }()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("tap name %q: %w", name, err)
	}
	ifr.SetUint16(TapFlags | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("create tap %s: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, 0); err != nil {
		return fmt.Errorf("set owner of tap %s: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("make tap %s persistent: %w", name, err)
	}
	return nil
}

// OpenTap opens /dev/net/tun inside namespace ns ("" is the host's) and attaches to the
// existing tap name with TapFlags. The file is blocking and close-on-exec; hand it to QEMU
// with `-netdev tap,fd=N` (exec.Cmd.ExtraFiles) or QMP getfd. It never creates a tap.
func OpenTap(ns, name string) (*os.File, error) {
	if err := validateNamespace(ns); err != nil {
		return nil, err
	}
	if err := validateIfName("tap", name); err != nil {
		return nil, err
	}
	fd := -1
	err := withHandle(ns, func(h *netlink.Handle) error {
		l, err := linkByName(h, name)
		if err != nil {
			return err
		}
		if l == nil {
			return fmt.Errorf("no tap %s", name)
		}
		if l.Type() != "tuntap" {
			return fmt.Errorf("link %s is a %s, not a tap", name, l.Type())
		}
		f, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", tunDevice, err)
		}
		ifr, err := unix.NewIfreq(name)
		if err == nil {
			ifr.SetUint16(TapFlags)
			err = unix.IoctlIfreq(f, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			_ = unix.Close(f)
			return fmt.Errorf("attach to tap %s: %w", name, err)
		}
		fd = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open tap %s/%s: %w", ns, name, err)
	}
	return os.NewFile(uintptr(fd), tunDevice+":"+name), nil
}

// TapInfo returns the name and TUNSETIFF flags of the tap an fd is attached to (TUNGETIFF).
func TapInfo(f *os.File) (string, uint16, error) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return "", 0, err
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return "", 0, fmt.Errorf("tap fd: %w", err)
	}
	var ierr error
	if err := conn.Control(func(fd uintptr) { ierr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr) }); err != nil {
		return "", 0, fmt.Errorf("tap fd: %w", err)
	}
	if ierr != nil {
		return "", 0, fmt.Errorf("TUNGETIFF: %w", ierr)
	}
	return ifr.Name(), ifr.Uint16(), nil
}
