//go:build linux

package linux

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/berth-io/berth/internal/netdev"
)

func TestNames(t *testing.T) {
	got := []string{TapName(1), TapName(4242), VLANBridge(7), PublicBridge}
	want := []string{"bt1", "bt4242", "brv7", "br-public"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("names (-want +got):\n%s", d)
	}
}

func TestBridgeMAC(t *testing.T) {
	a := bridgeMAC("berth-fr-sd5", PublicBridge)
	if a[0]&0x02 == 0 || a[0]&0x01 != 0 {
		t.Fatalf("%s is not a locally administered unicast MAC", a)
	}
	if b := bridgeMAC("berth-fr-sd5", PublicBridge); b.String() != a.String() {
		t.Fatalf("bridgeMAC is not stable: %s then %s", a, b)
	}
	if c := bridgeMAC("berth-fr-sd5", VLANBridge(1)); c.String() == a.String() {
		t.Fatalf("two bridges share MAC %s", a)
	}
}

func TestInvalidArguments(t *testing.T) {
	ctx := context.Background()
	d := New()
	const ns = "berth-tinvalid-never"
	tests := []struct {
		name string
		call func() error
	}{
		{"namespace with slash", func() error {
			return d.EnsureNetwork(ctx, netdev.Network{Namespace: "a/b", Bridge: PublicBridge})
		}},
		{"namespace dotdot", func() error { return d.DeleteNamespace(ctx, "..") }},
		{"host namespace deletion", func() error { return d.DeleteNamespace(ctx, "") }},
		{"empty bridge", func() error { return d.EnsureNetwork(ctx, netdev.Network{Namespace: ns}) }},
		{"bridge name too long", func() error {
			return d.EnsureNetwork(ctx, netdev.Network{Namespace: ns, Bridge: "br-0123456789abc"})
		}},
		{"bad gateway", func() error {
			return d.EnsureNetwork(ctx, netdev.Network{Namespace: ns, Bridge: PublicBridge, Gateways: []string{"192.0.2.1"}})
		}},
		{"tap name too long", func() error {
			return d.EnsurePort(ctx, netdev.Port{Namespace: ns, Bridge: PublicBridge, IfaceID: 1234567890123456})
		}},
		{"tap name with space", func() error {
			return d.DeletePort(ctx, netdev.Port{Namespace: ns, Tap: "bt 1"})
		}},
		{"negative bandwidth", func() error {
			return d.EnsurePort(ctx, netdev.Port{Namespace: ns, Bridge: PublicBridge, IfaceID: 1, Bandwidth: -1})
		}},
		{"NaN bandwidth", func() error {
			return d.EnsurePort(ctx, netdev.Port{Namespace: ns, Bridge: PublicBridge, IfaceID: 1, Bandwidth: math.NaN()})
		}},
		{"bandwidth below minimum", func() error {
			return d.EnsurePort(ctx, netdev.Port{Namespace: ns, Bridge: PublicBridge, IfaceID: 1, Bandwidth: 8})
		}},
		{"bandwidth above maximum", func() error {
			return d.EnsurePort(ctx, netdev.Port{Namespace: ns, Bridge: PublicBridge, IfaceID: 1, Bandwidth: 1e9})
		}},
		{"open tap in bad namespace", func() error { _, err := OpenTap("../x", "bt1"); return err }},
		{"cleanup without prefix", func() error { return Cleanup("") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(NamespaceDir, ns)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an invalid call created namespace %s (stat: %v)", ns, err)
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := New()
	const ns = "berth-tcanceled-never"
	calls := map[string]error{
		"EnsureNetwork":   d.EnsureNetwork(ctx, netdev.Network{Namespace: ns, Bridge: PublicBridge}),
		"DeleteNetwork":   d.DeleteNetwork(ctx, netdev.Network{Namespace: ns, Bridge: PublicBridge}),
		"EnsurePort":      d.EnsurePort(ctx, netdev.Port{Namespace: ns, Bridge: PublicBridge, IfaceID: 1}),
		"DeletePort":      d.DeletePort(ctx, netdev.Port{Namespace: ns, IfaceID: 1}),
		"DeleteNamespace": d.DeleteNamespace(ctx, ns),
	}
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want context.Canceled", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(NamespaceDir, ns)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a canceled call created namespace %s (stat: %v)", ns, err)
	}
}

func TestEnsureNetwork(t *testing.T) {
	ctx := context.Background()
	ns := testPrefix(t) + "dc"
	defer runtime.UnlockOSThread()
	check := pinThread(t)
	d := New()
	hostNF, _ := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")

	n := netdev.Network{Namespace: ns, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24", "2001:db8:0:1::1/64"}}
	for i := range 2 {
		if err := d.EnsureNetwork(ctx, n); err != nil {
			t.Fatalf("EnsureNetwork #%d: %v", i+1, err)
		}
		check("EnsureNetwork")
		want := &linkState{Type: "bridge", Up: true, MAC: bridgeMAC(ns, PublicBridge).String(),
			Addrs: []string{"192.0.2.1/24", "2001:db8:0:1::1/64"}}
		if diff := cmp.Diff(want, readLink(t, ns, PublicBridge)); diff != "" {
			t.Fatalf("bridge after EnsureNetwork #%d (-want +got):\n%s", i+1, diff)
		}
	}
	if lo := readLink(t, ns, "lo"); !lo.Up {
		t.Error("lo is down in the namespace")
	}
	if got := readSysctl(t, ns, "ipv6/conf/"+PublicBridge+"/accept_dad"); got != "0" {
		t.Errorf("accept_dad = %s, want 0", got)
	}
	if len(hostNF) != 0 {
		if got := readSysctl(t, ns, "bridge/bridge-nf-call-iptables"); got != "0" {
			t.Errorf("bridge-nf-call-iptables in the namespace = %s, want 0", got)
		}
		if now, _ := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables"); string(now) != string(hostNF) {
			t.Errorf("host bridge-nf-call-iptables changed from %q to %q", hostNF, now)
		}
	}

	// A second bridge in the same namespace, and a gateway change on the first.
	v := netdev.Network{Namespace: ns, Bridge: VLANBridge(7), Gateways: []string{"10.7.0.1/24"}}
	if err := d.EnsureNetwork(ctx, v); err != nil {
		t.Fatal(err)
	}
	n.Gateways = []string{"198.51.100.1/24", "2001:db8:0:1::1/64"}
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	check("EnsureNetwork")
	got := map[string][]string{
		PublicBridge:  readLink(t, ns, PublicBridge).Addrs,
		VLANBridge(7): readLink(t, ns, VLANBridge(7)).Addrs,
	}
	want := map[string][]string{
		PublicBridge:  {"198.51.100.1/24", "2001:db8:0:1::1/64"},
		VLANBridge(7): {"10.7.0.1/24"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("addresses after the gateway change (-want +got):\n%s", diff)
	}
	checkThreadsHome(t)
}

func TestEnsurePort(t *testing.T) {
	ctx := context.Background()
	ns := testPrefix(t) + "dc"
	defer runtime.UnlockOSThread()
	check := pinThread(t)
	d := New()
	if err := d.EnsureNetwork(ctx, netdev.Network{Namespace: ns, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24"}}); err != nil {
		t.Fatal(err)
	}
	ports := []netdev.Port{
		{IfaceID: 1, Namespace: ns, Bridge: PublicBridge},
		{IfaceID: 2, Namespace: ns, Bridge: PublicBridge, Tap: "bt2", Bandwidth: 1024},
	}
	for i := range 2 {
		for _, p := range ports {
			if err := d.EnsurePort(ctx, p); err != nil {
				t.Fatalf("EnsurePort %d #%d: %v", p.IfaceID, i+1, err)
			}
			check("EnsurePort")
		}
	}
	for _, name := range []string{"bt1", "bt2"} {
		st := readLink(t, ns, name)
		if st == nil {
			t.Fatalf("no tap %s", name)
		}
		st.MAC = ""
		if diff := cmp.Diff(&linkState{Type: "tuntap", Up: true, Master: PublicBridge}, st); diff != "" {
			t.Errorf("tap %s (-want +got):\n%s", name, diff)
		}
		var tap *netlink.Tuntap
		err := withHandle(ns, func(h *netlink.Handle) error {
			l, err := h.LinkByName(name)
			tap, _ = l.(*netlink.Tuntap)
			return err
		})
		if err != nil || tap == nil {
			t.Fatalf("tap %s: %v", name, err)
		}
		type tapState struct {
			Mode       netlink.TuntapMode
			NonPersist bool
			Owner      uint32
			MultiQueue bool
		}
		got := tapState{tap.Mode, tap.NonPersist, tap.Owner, tap.Flags&netlink.TUNTAP_MULTI_QUEUE != 0}
		if diff := cmp.Diff(tapState{Mode: netlink.TUNTAP_MODE_TAP}, got); diff != "" {
			t.Errorf("tap %s (-want +got):\n%s", name, diff)
		}
		if v := readSysctl(t, ns, "ipv6/conf/"+name+"/disable_ipv6"); v != "1" {
			t.Errorf("%s disable_ipv6 = %s, want 1", name, v)
		}
	}
	// iproute2's view agrees: a persistent tap owned by root.
	if out := mustInNS(t, ns, "ip", "-d", "link", "show", "bt1"); !containsAll(out, "tun type tap", "persist on", "user root", "master "+PublicBridge) {
		t.Errorf("ip -d link show bt1:\n%s", out)
	}
	// The gateway's MAC did not move to a port's.
	if got, want := readLink(t, ns, PublicBridge).MAC, bridgeMAC(ns, PublicBridge).String(); got != want {
		t.Errorf("bridge MAC %s, want %s", got, want)
	}

	// Moving a port to another bridge re-enslaves it.
	ports[0].Bridge = VLANBridge(3)
	if err := d.EnsurePort(ctx, ports[0]); err != nil {
		t.Fatal(err)
	}
	if got := readLink(t, ns, "bt1").Master; got != VLANBridge(3) {
		t.Fatalf("bt1 master %q, want %q", got, VLANBridge(3))
	}

	// DeletePort removes only that tap, and is idempotent.
	for i := range 2 {
		if err := d.DeletePort(ctx, ports[0]); err != nil {
			t.Fatalf("DeletePort #%d: %v", i+1, err)
		}
		check("DeletePort")
	}
	if readLink(t, ns, "bt1") != nil {
		t.Fatal("bt1 still exists after DeletePort")
	}
	if readLink(t, ns, "bt2") == nil {
		t.Fatal("DeletePort of bt1 removed bt2")
	}
	if err := d.DeletePort(ctx, netdev.Port{Namespace: ns + "-missing", IfaceID: 1}); err != nil {
		t.Fatalf("DeletePort in a missing namespace: %v", err)
	}
	// A link that is not a tap is not deleted.
	if err := d.DeletePort(ctx, netdev.Port{Namespace: ns, Tap: PublicBridge}); err == nil {
		t.Fatal("DeletePort deleted a bridge")
	}
	checkThreadsHome(t)
}

func TestEnsurePortCreatesNetwork(t *testing.T) {
	ctx := context.Background()
	ns := testPrefix(t) + "dc"
	d := New()
	if err := d.EnsurePort(ctx, netdev.Port{IfaceID: 5, Namespace: ns, Bridge: VLANBridge(9)}); err != nil {
		t.Fatal(err)
	}
	want := &linkState{Type: "bridge", Up: true, MAC: bridgeMAC(ns, VLANBridge(9)).String()}
	if diff := cmp.Diff(want, readLink(t, ns, VLANBridge(9))); diff != "" {
		t.Fatalf("bridge (-want +got):\n%s", diff)
	}
	if got := readLink(t, ns, "bt5"); got == nil || got.Master != VLANBridge(9) {
		t.Fatalf("tap bt5: %+v", got)
	}
	if lo := readLink(t, ns, "lo"); !lo.Up {
		t.Error("lo is down in the namespace")
	}
}

func TestDeleteNetwork(t *testing.T) {
	ctx := context.Background()
	ns := testPrefix(t) + "dc"
	defer runtime.UnlockOSThread()
	check := pinThread(t)
	d := New()
	pub := netdev.Network{Namespace: ns, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24"}}
	vlan := netdev.Network{Namespace: ns, Bridge: VLANBridge(4)}
	port := netdev.Port{IfaceID: 1, Namespace: ns, Bridge: PublicBridge}
	for _, n := range []netdev.Network{pub, vlan} {
		if err := d.EnsureNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.EnsurePort(ctx, port); err != nil {
		t.Fatal(err)
	}

	type state struct{ Namespace, Public, VLAN, Tap bool }
	read := func() state {
		if !exists(t, ns) {
			return state{}
		}
		return state{true, readLink(t, ns, PublicBridge) != nil, readLink(t, ns, VLANBridge(4)) != nil, readLink(t, ns, "bt1") != nil}
	}
	steps := []struct {
		name string
		do   func() error
		want state
	}{
		{"delete vlan", func() error { return d.DeleteNetwork(ctx, vlan) }, state{true, true, false, true}},
		{"delete vlan again", func() error { return d.DeleteNetwork(ctx, vlan) }, state{true, true, false, true}},
		{"delete public with a tap left", func() error { return d.DeleteNetwork(ctx, pub) }, state{true, false, false, true}},
		{"delete the tap", func() error { return d.DeletePort(ctx, port) }, state{true, false, false, false}},
		{"delete public again empties the namespace", func() error { return d.DeleteNetwork(ctx, pub) }, state{}},
		{"delete in a missing namespace", func() error { return d.DeleteNetwork(ctx, pub) }, state{}},
		{"recreate", func() error { return d.EnsureNetwork(ctx, pub) }, state{true, true, false, false}},
		{"delete the namespace", func() error { return d.DeleteNamespace(ctx, ns) }, state{}},
		{"delete the namespace again", func() error { return d.DeleteNamespace(ctx, ns) }, state{}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		check(s.name)
		if diff := cmp.Diff(s.want, read()); diff != "" {
			t.Fatalf("after %s (-want +got):\n%s", s.name, diff)
		}
	}
	checkThreadsHome(t)
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
