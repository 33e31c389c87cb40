//go:build linux

package linux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NamespaceDir is where named network namespaces are bind-mounted, as `ip netns` does.
const NamespaceDir = "/run/netns"

// hostNamespacePath is the network namespace of the process (its thread group leader).
const hostNamespacePath = "/proc/self/ns/net"

// errNotNamespace marks a /run/netns entry that is not a mounted namespace (a stale file).
var errNotNamespace = errors.New("not a network namespace")

// validateNamespace checks a namespace name: empty (the host) or a plain file name.
func validateNamespace(name string) error {
	if name == "" {
		return nil
	}
	if name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid namespace name %q", name)
	}
	return nil
}

// namespacePath is the bind-mount path of a named namespace, or the host's namespace for "".
func namespacePath(name string) string {
	if name == "" {
		return hostNamespacePath
	}
	return filepath.Join(NamespaceDir, name)
}

// openNamespace opens a namespace and checks that it really is one. The error wraps
// fs.ErrNotExist when it is missing and errNotNamespace when the entry is stale.
func openNamespace(name string) (int, error) {
	path := namespacePath(name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open namespace %s: %w", path, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("statfs namespace %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", path, errNotNamespace)
	}
	return fd, nil
}

// namespaceExists reports whether a named namespace is mounted; "" always exists.
func namespaceExists(name string) (bool, error) {
	fd, err := openNamespace(name)
	switch {
	case err == nil:
		_ = unix.Close(fd)
		return true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errNotNamespace):
		return false, nil
	default:
		return false, err
	}
}

// ensureNamespace creates the named namespace if it is missing, replacing a stale entry.
func ensureNamespace(name string) error {
	if name == "" {
		return nil
	}
	fd, err := openNamespace(name)
	switch {
	case err == nil:
		_ = unix.Close(fd)
		return nil
	case errors.Is(err, errNotNamespace):
		if err := deleteNamespace(name); err != nil {
			return fmt.Errorf("remove stale namespace %q: %w", name, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(NamespaceDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NamespaceDir, err)
	}
	if err := makeShared(NamespaceDir); err != nil {
		return err
	}
	path := namespacePath(name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrExist) {
		// Someone else (another process, `ip netns add`) is creating it right now.
		return waitNamespace(name)
	}
	if err != nil {
		return fmt.Errorf("create namespace %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create namespace %q: %w", name, err)
	}
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare network namespace: %w", err)
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount %s on %s: %w", src, path, err)
		}
		return nil
	})
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("create namespace %q: %w", name, err)
	}
	return nil
}

// waitNamespace waits briefly for a namespace that another creator is mounting.
func waitNamespace(name string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		ok, err := namespaceExists(name)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %q exists but is not mounted", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// makeShared makes dir a shared mount point, as iproute2 does before mounting namespaces, so
// that namespaces mounted later propagate to every mount namespace that sees dir.
func makeShared(dir string) error {
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: bind it on itself first.
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s on itself: %w", dir, err)
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	return nil
}

// deleteNamespace unmounts and removes a named namespace; a missing one is fine. The kernel
// destroys the namespace, and the bridges and taps inside it, once nothing refers to it.
func deleteNamespace(name string) error {
	if name == "" {
		return errors.New("refusing to delete the host namespace")
	}
	path := namespacePath(name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove namespace %s: %w", path, err)
	}
	return nil
}

// Cleanup deletes every named namespace whose name starts with prefix (tests and `make test`
// use it so that no namespace is left behind). An empty prefix is refused.
func Cleanup(prefix string) error {
	if prefix == "" {
		return errors.New("cleanup needs a non-empty prefix")
	}
	entries, err := os.ReadDir(NamespaceDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			errs = append(errs, deleteNamespace(e.Name()))
		}
	}
	return errors.Join(errs...)
}

// inNamespace runs fn on a dedicated OS thread that has entered the namespace.
func inNamespace(ns string, fn func() error) error {
	fd, err := openNamespace(ns)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	return onThread(func() error {
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter namespace %q: %w", ns, err)
		}
		return fn()
	})
}

// onThread runs fn, which may move its thread to another network namespace, on a new
// goroutine locked to its thread. That goroutine exits still locked, so the runtime destroys
// the thread, except the process's main thread, which the runtime cannot destroy (it would
// park it forever, still in the foreign namespace, pinning that namespace and corrupting
// /proc/self/ns/net): the main thread is moved back to its namespace and released instead.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open the thread's namespace: %w", err)
			return
		}
		defer func() { _ = unix.Close(home) }()
		ferr := fn()
		if unix.Gettid() == unix.Getpid() {
			if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
				ferr = errors.Join(ferr, fmt.Errorf("return the main thread to its namespace: %w", err))
			} else {
				runtime.UnlockOSThread()
			}
		}
		errc <- ferr
	}()
	return <-errc
}

// withHandle runs fn inside the namespace with a rtnetlink handle whose socket lives there.
func withHandle(ns string, fn func(h *netlink.Handle) error) error {
	return inNamespace(ns, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink handle in namespace %q: %w", ns, err)
		}
		defer h.Close()
		if err := h.SetSocketTimeout(10 * time.Second); err != nil {
			return fmt.Errorf("netlink socket timeout: %w", err)
		}
		return fn(h)
	})
}

// dump retries a netlink dump that the kernel reports as interrupted by a concurrent change.
func dump[T any](list func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		v, err := list()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return v, err
	}
}

// writeSysctl writes a value under /proc/sys/net of the calling thread's namespace. A missing
// key (module not loaded, IPv6 disabled) is not an error.
func writeSysctl(key, value string) error {
	err := os.WriteFile(filepath.Join("/proc/sys/net", key), []byte(value), 0o644)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sysctl net/%s=%s: %w", key, value, err)
	}
	return nil
}
