//go:build linux

package linux

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// requireRoot skips the test unless it runs as root; in CI it fails instead.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("network tests need root")
	}
	t.Skip("network tests need root")
}

// testPrefix returns a namespace prefix unique to this test and deletes every namespace with
// that prefix when the test ends.
func testPrefix(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	p := "berth-t" + hex.EncodeToString(b[:]) + "-"
	t.Cleanup(func() {
		if err := Cleanup(p); err != nil {
			t.Errorf("cleanup %s: %v", p, err)
		}
		if m, _ := filepath.Glob(filepath.Join(NamespaceDir, p+"*")); len(m) != 0 {
			t.Errorf("namespaces left behind: %v", m)
		}
	})
	return p
}

// pinThread locks the test goroutine to its thread and returns a check that the thread's
// namespace has not changed since. The caller must defer runtime.UnlockOSThread.
func pinThread(t *testing.T) func(step string) {
	t.Helper()
	runtime.LockOSThread()
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = before.Close() })
	return func(step string) {
		t.Helper()
		now, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = now.Close() }()
		if !now.Equal(before) {
			t.Fatalf("after %s the calling thread is in namespace %s, was %s", step, now, before)
		}
	}
}

// checkThreadsHome fails unless every thread of the process is in the process's namespace
// (threads that just ran a namespace operation may take a moment to exit).
func checkThreadsHome(t *testing.T) {
	t.Helper()
	home, err := os.Readlink(hostNamespacePath)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var strays []string
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, p := range tasks {
			if l, err := os.Readlink(p); err == nil && l != home {
				strays = append(strays, p+" -> "+l)
			}
		}
		if len(strays) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads outside the process namespace %s: %v", home, strays)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inNS runs a command inside a namespace with `ip netns exec`.
func inNS(ns string, argv ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// mustInNS is inNS failing the test on error.
func mustInNS(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	out, err := inNS(ns, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// linkState is what the tests compare about a link.
type linkState struct {
	Type   string
	Up     bool
	Master string
	MAC    string
	Addrs  []string // global addresses, sorted; "tentative" appended when DAD is pending
}

// readLink returns the state of a link in a namespace, or nil when it does not exist.
func readLink(t *testing.T, ns, name string) *linkState {
	t.Helper()
	var st *linkState
	err := withHandle(ns, func(h *netlink.Handle) error {
		l, err := linkByName(h, name)
		if err != nil || l == nil {
			return err
		}
		st = &linkState{Type: l.Type(), Up: l.Attrs().Flags&net.FlagUp != 0, MAC: l.Attrs().HardwareAddr.String()}
		if m := l.Attrs().MasterIndex; m != 0 {
			ml, err := h.LinkByIndex(m)
			if err != nil {
				return err
			}
			st.Master = ml.Attrs().Name
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() {
				continue
			}
			s := a.IPNet.String()
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				s += " tentative"
			}
			st.Addrs = append(st.Addrs, s)
		}
		slices.Sort(st.Addrs)
		return nil
	})
	if err != nil {
		t.Fatalf("read link %s/%s: %v", ns, name, err)
	}
	return st
}

// readSysctl reads a /proc/sys/net key inside a namespace.
func readSysctl(t *testing.T, ns, key string) string {
	t.Helper()
	var v []byte
	err := inNamespace(ns, func() error {
		var err error
		v, err = os.ReadFile(filepath.Join("/proc/sys/net", key))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

// exists reports whether a named namespace is mounted.
func exists(t *testing.T, ns string) bool {
	t.Helper()
	ok, err := namespaceExists(ns)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}
