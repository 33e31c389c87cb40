package guestagent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Linux ioctls of <linux/fs.h>.
const (
	fiFreeze = 0xc0045877 // FIFREEZE, _IOWR('X', 119, int)
	fiThaw   = 0xc0045878 // FITHAW, _IOWR('X', 120, int)
)

// freezable are the filesystem types frozen: those on block devices that support it.
var freezable = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true, "f2fs": true}

// mountFreezer freezes the writable block filesystems of /proc/mounts with FIFREEZE,
// the last mounted first (as qemu-ga does), and thaws them in the other order.
type mountFreezer struct {
	// Mounts is the mount table (default /proc/self/mounts).
	Mounts string
	frozen []string
}

// mount is one line of the mount table.
type mount struct{ dev, dir, fstype, opts string }

func readMounts(r io.Reader) []mount {
	var out []mount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		out = append(out, mount{dev: f[0], dir: unescapeMount(f[1]), fstype: f[2], opts: f[3]})
	}
	return out
}

// unescapeMount decodes the octal escapes (\040 for a space) of /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// toFreeze returns the mount points to freeze, in freeze order: writable, freezable,
// one per device, last mounted first.
func toFreeze(ms []mount) []string {
	seen := map[string]bool{}
	var dirs []string
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if !freezable[m.fstype] || !strings.HasPrefix(m.dev, "/dev/") || seen[m.dev] {
			continue
		}
		if opts := "," + m.opts + ","; strings.Contains(opts, ",ro,") {
			continue
		}
		seen[m.dev] = true
		dirs = append(dirs, m.dir)
	}
	return dirs
}

func ioctlDir(dir string, req uintptr) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, 0); e != 0 {
		return e
	}
	return nil
}

// Freeze implements Freezer.
func (m *mountFreezer) Freeze() (int, error) {
	path := m.Mounts
	if path == "" {
		path = "/proc/self/mounts"
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	ms := readMounts(f)
	f.Close()
	for _, dir := range toFreeze(ms) {
		err := ioctlDir(dir, fiFreeze)
		if errors.Is(err, syscall.EOPNOTSUPP) {
			continue
		}
		if err != nil {
			_, _ = m.Thaw()
			return 0, fmt.Errorf("freeze %s: %w", dir, err)
		}
		m.frozen = append(m.frozen, dir)
	}
	return len(m.frozen), nil
}

// Thaw implements Freezer: every filesystem Freeze froze, in reverse order. A
// filesystem that is not frozen (EINVAL) counts as thawed.
func (m *mountFreezer) Thaw() (int, error) {
	var errs []error
	n := 0
	for i := len(m.frozen) - 1; i >= 0; i-- {
		err := ioctlDir(m.frozen[i], fiThaw)
		switch {
		case err == nil:
			n++
		case errors.Is(err, syscall.EINVAL):
		default:
			errs = append(errs, fmt.Errorf("thaw %s: %w", m.frozen[i], err))
		}
	}
	m.frozen = nil
	return n, errors.Join(errs...)
}
