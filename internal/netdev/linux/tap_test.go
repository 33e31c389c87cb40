//go:build linux

package linux

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-io/berth/internal/netdev"
)

// vnetHdrLen is the size of the virtio_net_hdr that prefixes every frame on an IFF_VNET_HDR fd.
const vnetHdrLen = 10

// guestMAC returns the MAC the tests' fake guest uses.
func guestMAC() net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56} }

// arpRequest is a who-has frame (with its empty virtio-net header) from the fake guest.
func arpRequest(srcIP, dstIP net.IP) []byte {
	b := make([]byte, vnetHdrLen, vnetHdrLen+42)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, guestMAC()...)
	b = binary.BigEndian.AppendUint16(b, unix.ETH_P_ARP)
	b = append(b, 0, 1, 8, 0, 6, 4, 0, 1) // Ethernet, IPv4, request
	b = append(b, guestMAC()...)
	b = append(b, srcIP.To4()...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, dstIP.To4()...)
	return b
}

// resolve asks for ip from the tap until a reply arrives, and returns the MAC it announces.
// It asks again every 200 ms: the bridge only forwards from the port once the kernel has
// processed the carrier change of the tap (linkwatch runs asynchronously), as a real guest
// retrying ARP would experience.
func resolve(t *testing.T, f *os.File, src, ip net.IP) net.HardwareAddr {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 70000)
	var next time.Time
	for time.Now().Before(deadline) {
		if time.Now().After(next) {
			if _, err := f.Write(arpRequest(src, ip)); err != nil {
				t.Fatal(err)
			}
			next = time.Now().Add(200 * time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 50)
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err = f.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		fr := buf[vnetHdrLen:n]
		if len(fr) < 42 || binary.BigEndian.Uint16(fr[12:]) != unix.ETH_P_ARP || binary.BigEndian.Uint16(fr[20:]) != 2 {
			continue
		}
		if net.IP(fr[28:32]).Equal(ip) && bytes.Equal(fr[0:6], guestMAC()) {
			return net.HardwareAddr(bytes.Clone(fr[22:28]))
		}
	}
	t.Fatalf("no ARP reply for %s", ip)
	return nil
}

// qdiscStats returns the root qdisc statistics of a device in the namespace.
func qdiscStats(t *testing.T, ns, dev string) (sent uint64, drops uint32) {
	t.Helper()
	err := withHandle(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(dev)
		if err != nil {
			return err
		}
		root, _, err := rootAndIngress(h, l)
		if err != nil {
			return err
		}
		if s := root.Attrs().Statistics; s != nil && s.Basic != nil && s.Queue != nil {
			sent, drops = s.Basic.Bytes, s.Queue.Drops
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sent, drops
}

func TestOpenTap(t *testing.T) {
	ctx := context.Background()
	ns := testPrefix(t) + "dc"
	defer runtime.UnlockOSThread()
	check := pinThread(t)
	d := New()
	gw := net.IPv4(192, 0, 2, 1)
	if err := d.EnsureNetwork(ctx, netdev.Network{Namespace: ns, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsurePort(ctx, netdev.Port{IfaceID: 1, Namespace: ns, Bridge: PublicBridge, Bandwidth: 1000}); err != nil {
		t.Fatal(err)
	}

	f, err := OpenTap(ns, "bt1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	check("OpenTap")
	name, flags, err := TapInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	const mask = unix.IFF_TUN | unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_MULTI_QUEUE
	if name != "bt1" || flags&mask != TapFlags || flags&unix.IFF_PERSIST == 0 {
		t.Fatalf("TUNGETIFF = %q %#x, want bt1 with flags %#x and IFF_PERSIST", name, flags, TapFlags)
	}

	// The fake guest asks for the gateway: the frame goes up the tap, through the IFB
	// shaper, into the bridge; the bridge answers with its fixed MAC, through the tap's TBF.
	if mac := resolve(t, f, net.IPv4(192, 0, 2, 10), gw); mac.String() != bridgeMAC(ns, PublicBridge).String() {
		t.Fatalf("gateway answered with MAC %s, want the bridge's %s", mac, bridgeMAC(ns, PublicBridge))
	}
	if sent, _ := qdiscStats(t, ns, "bi1"); sent == 0 {
		t.Error("the guest's frame did not go through the ifb's tbf")
	}
	if sent, _ := qdiscStats(t, ns, "bt1"); sent == 0 {
		t.Error("the reply did not go through the tap's tbf")
	}

	// A burst far above 1 Mbit/s from the guest overflows the upload shaper.
	junk := make([]byte, vnetHdrLen+1514)
	copy(junk[vnetHdrLen:], []byte{0x52, 0x54, 0x00, 0xee, 0xee, 0xee})
	copy(junk[vnetHdrLen+6:], guestMAC())
	binary.BigEndian.PutUint16(junk[vnetHdrLen+12:], 0x88b5) // local experimental ethertype
	for range 400 {
		if _, err := f.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	if sent, drops := qdiscStats(t, ns, "bi1"); drops == 0 || sent > 400*1514/2 {
		t.Errorf("upload of 600 kB at 1 Mbit/s: ifb tbf sent %d bytes, dropped %d frames", sent, drops)
	}

	// And a burst towards the guest overflows the download shaper.
	err = withHandle(ns, func(h *netlink.Handle) error {
		br, err := h.LinkByName(PublicBridge)
		if err != nil {
			return err
		}
		neigh := &netlink.Neigh{LinkIndex: br.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: net.IPv4(192, 0, 2, 10), HardwareAddr: guestMAC()}
		if err := h.NeighSet(neigh); err != nil {
			return err
		}
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 9})
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		// A socket buffer larger than the TBF queue, or the socket would pace itself.
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		payload := make([]byte, 1400)
		for range 400 {
			if _, err := c.Write(payload); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, drops := qdiscStats(t, ns, "bt1"); drops == 0 {
		t.Error("download of 560 kB at 1 Mbit/s: the tap's tbf dropped nothing")
	}

	// OpenTap never creates a tap.
	if g, err := OpenTap(ns, "bt9"); err == nil {
		_ = g.Close()
		t.Fatal("OpenTap of a missing tap succeeded")
	}
	if readLink(t, ns, "bt9") != nil {
		t.Fatal("OpenTap created bt9")
	}
	if _, err := OpenTap(ns, PublicBridge); err == nil {
		t.Fatal("OpenTap attached to a bridge")
	}
	check("OpenTap")
}
