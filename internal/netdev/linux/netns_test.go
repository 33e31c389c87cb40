//go:build linux

package linux

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/berth-io/berth/internal/netdev"
)

func TestHostNamespaceIsTheProcesses(t *testing.T) {
	requireRoot(t)
	defer runtime.UnlockOSThread()
	check := pinThread(t)
	here, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = here.Close() }()
	var inside netns.NsHandle
	// Read-only: nothing is created in the host namespace.
	err = inNamespace("", func() error {
		var err error
		inside, err = netns.Get()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inside.Close() }()
	if !inside.Equal(here) {
		t.Fatalf(`inNamespace("") ran in %s, want the process namespace %s`, inside, here)
	}
	check(`inNamespace("")`)
}

func TestThreadsStayHome(t *testing.T) {
	p := testPrefix(t)
	ns := p + "dc"
	if err := ensureNamespace(ns); err != nil {
		t.Fatal(err)
	}
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Close() }()

	// Many short operations from many goroutines: sooner or later one of them is scheduled
	// on the main thread, which the runtime cannot destroy.
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for range 400 {
		wg.Go(func() {
			errs <- inNamespace(ns, func() error {
				cur, err := netns.Get()
				if err != nil {
					return err
				}
				defer func() { _ = cur.Close() }()
				if !cur.Equal(target) {
					return fmt.Errorf("ran in %s, not in %s", cur, ns)
				}
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkThreadsHome(t)
}

func TestCleanup(t *testing.T) {
	p, q := testPrefix(t), testPrefix(t)
	for _, ns := range []string{p + "a", p + "b", q + "a"} {
		if err := ensureNamespace(ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := Cleanup(p); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{"pa": exists(t, p+"a"), "pb": exists(t, p+"b"), "qa": exists(t, q+"a")}
	if diff := cmp.Diff(map[string]bool{"pa": false, "pb": false, "qa": true}, got); diff != "" {
		t.Fatalf("after Cleanup(p) (-want +got):\n%s", diff)
	}
	if err := Cleanup(p); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
}

func TestStaleNamespaceIsReplaced(t *testing.T) {
	ns := testPrefix(t) + "dc"
	// What a crash between creating the mount point and mounting on it leaves behind.
	if err := os.WriteFile(filepath.Join(NamespaceDir, ns), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if exists(t, ns) {
		t.Fatal("a plain file counts as a namespace")
	}
	d := New()
	n := netdev.Network{Namespace: ns, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24"}}
	if err := d.EnsureNetwork(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if !exists(t, ns) {
		t.Fatal("the stale namespace was not replaced")
	}
	if out := mustInNS(t, ns, "ip", "-br", "addr", "show", "dev", PublicBridge); !containsAll(out, "192.0.2.1/24") {
		t.Fatalf("ip addr in the namespace:\n%s", out)
	}
}

// addGuest plugs a fake guest into the bridge: a veth pair whose host end is a bridge port
// in namespace dc and whose guest end (eth0, with the addresses) is in namespace guest.
func addGuest(t *testing.T, dc, bridge, guest string, addrs ...string) {
	t.Helper()
	if err := ensureNamespace(guest); err != nil {
		t.Fatal(err)
	}
	gfd, err := openNamespace(guest)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(gfd) }()
	err = withHandle(dc, func(h *netlink.Handle) error {
		br, err := h.LinkByName(bridge)
		if err != nil {
			return err
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: "vg0", MasterIndex: br.Attrs().Index},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(gfd),
		}
		if err := h.LinkAdd(veth); err != nil {
			return err
		}
		return h.LinkSetUp(veth)
	})
	if err != nil {
		t.Fatalf("veth in %s: %v", dc, err)
	}
	err = withHandle(guest, func(h *netlink.Handle) error {
		for _, name := range []string{"lo", "eth0"} {
			l, err := h.LinkByName(name)
			if err != nil {
				return err
			}
			if err := h.LinkSetUp(l); err != nil {
				return err
			}
		}
		eth, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		gws, err := parseGateways(addrs)
		if err != nil {
			return err
		}
		for _, a := range gws {
			if err := h.AddrAdd(eth, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("guest %s: %v", guest, err)
	}
}

// ping pings ip from namespace ns, retrying until a reply or the deadline.
func ping(ns string, ip net.IP, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	for {
		_, err := inNS(ns, "ping", "-n", "-c1", "-W1", ip.String())
		if err == nil || time.Now().After(end) {
			return err
		}
	}
}

func TestPingGateway(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ping (iputils-ping) is not installed")
		}
		t.Skip("ping (iputils-ping) is not installed")
	}
	ctx := context.Background()
	p := testPrefix(t)
	dc, guest := p+"dc", p+"g"
	defer runtime.UnlockOSThread()
	check := pinThread(t)
	d := New()
	n := netdev.Network{Namespace: dc, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24", "2001:db8:0:1::1/64"}}
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	// A tap next to the guest on the same bridge must not disturb anything.
	if err := d.EnsurePort(ctx, netdev.Port{IfaceID: 1, Namespace: dc, Bridge: PublicBridge, Bandwidth: 102400}); err != nil {
		t.Fatal(err)
	}
	addGuest(t, dc, PublicBridge, guest, "192.0.2.10/24", "2001:db8:0:1::10/64")
	check("setup")

	v4, v6 := net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8:0:1::1")
	for _, ip := range []net.IP{v4, v6} {
		if err := ping(guest, ip, 10*time.Second); err != nil {
			t.Fatalf("guest cannot ping the gateway %s: %v", ip, err)
		}
	}
	// Without its gateway addresses the bridge no longer answers.
	n.Gateways = nil
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []net.IP{v4, v6} {
		if _, err := inNS(guest, "ping", "-n", "-c1", "-W1", ip.String()); err == nil {
			t.Fatalf("guest still pings %s after the gateways were removed", ip)
		}
	}
	check("ping")
	checkThreadsHome(t)
}
