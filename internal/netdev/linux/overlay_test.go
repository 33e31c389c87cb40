//go:build linux

package linux

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-io/berth/internal/netdev"
)

// TestOverlay wires three simulated hosts to a switch and checks, on the netlink driver:
// every pair of guests (veth stand-ins) on the public bridge and on a VLAN bridge reaches
// the others through VXLAN, and each reaches its gateway, which has the same MAC on every
// host and never answers through a tunnel; the VLAN is isolated from the public network; a
// full 1500-byte frame passes over a 1550 underlay and CheckUnderlay refuses a 1500 one;
// flood lists follow the peer list.
func TestOverlay(t *testing.T) {
	p := testPrefix(t)
	requirePing(t)
	ctx := context.Background()
	sw := p + "sw"
	if err := CreateSwitch(sw); err != nil {
		t.Fatal(err)
	}
	d := NewWithGatewayKey(func(ns string) string { return "dc:" + ns[strings.LastIndex(ns, "-")+1:] })
	vteps := []string{"10.99.0.1", "10.99.0.2", "10.99.0.3"}
	type host struct{ ul, dc string }
	var hosts []host
	for i := range 3 {
		h := host{ul: fmt.Sprintf("%sh%d-ul", p, i+1), dc: fmt.Sprintf("%sh%d-dc", p, i+1)}
		if err := ConnectHost(sw, fmt.Sprintf("h%d", i+1), h.ul, vteps[i]+"/24", 1550); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckUnderlay(h.ul, vteps[i]); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	nets := func(i int, peers []string) []netdev.Network {
		return []netdev.Network{
			{Namespace: hosts[i].dc, Bridge: PublicBridge, Gateways: []string{"192.0.2.1/24", "2001:db8::1/64"},
				Overlay: &netdev.Overlay{VNI: 0x100001, Local: vteps[i], UnderlayNS: hosts[i].ul, Peers: peers}},
			{Namespace: hosts[i].dc, Bridge: VLANBridge(7), Gateways: []string{"10.7.0.1/24"},
				Overlay: &netdev.Overlay{VNI: 7, Local: vteps[i], UnderlayNS: hosts[i].ul, Peers: peers}},
		}
	}
	for i := range hosts {
		for _, n := range nets(i, vteps) {
			if err := d.EnsureNetwork(ctx, n); err != nil {
				t.Fatal(err)
			}
			// Idempotent.
			if err := d.EnsureNetwork(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A guest stand-in per host on each bridge.
	guest := func(i int, bridge, cidr string) string {
		g := fmt.Sprintf("%sh%d-g%s", p, i+1, bridge)
		if err := ensureNamespace(g); err != nil {
			t.Fatal(err)
		}
		mustInNS(t, hosts[i].dc, "ip", "link", "add", "gp"+bridge, "type", "veth", "peer", "name", "gv", "netns", g)
		mustInNS(t, hosts[i].dc, "ip", "link", "set", "gp"+bridge, "master", bridge, "up")
		mustInNS(t, g, "ip", "addr", "add", cidr, "dev", "gv")
		mustInNS(t, g, "ip", "link", "set", "gv", "up")
		mustInNS(t, g, "ip", "link", "set", "lo", "up")
		return g
	}
	var pub, vlan []string
	for i := range hosts {
		pub = append(pub, guest(i, PublicBridge, fmt.Sprintf("192.0.2.%d/24", 11+i)))
		vlan = append(vlan, guest(i, VLANBridge(7), fmt.Sprintf("10.7.0.%d/24", 11+i)))
	}
	for i := range hosts {
		for j := range hosts {
			if i == j {
				continue
			}
			if err := ping(pub[i], net.ParseIP(fmt.Sprintf("192.0.2.%d", 11+j)), 10*time.Second); err != nil {
				t.Errorf("public: host %d → host %d: %v", i+1, j+1, err)
			}
			if err := ping(vlan[i], net.ParseIP(fmt.Sprintf("10.7.0.%d", 11+j)), 10*time.Second); err != nil {
				t.Errorf("vlan: host %d → host %d: %v", i+1, j+1, err)
			}
		}
		if err := ping(pub[i], net.ParseIP("192.0.2.1"), 10*time.Second); err != nil {
			t.Errorf("host %d's guest → its gateway: %v", i+1, err)
		}
	}
	// A full-size frame with DF crosses the 1550 underlay.
	if out, err := inNS(pub[0], "ping", "-n", "-c1", "-W2", "-M", "do", "-s", "1472", "192.0.2.12"); err != nil {
		t.Errorf("1500-byte frame over VXLAN: %v\n%s", err, out)
	}
	// The VLAN is its own L2: the public guests' addresses are unreachable from it even
	// when a VLAN guest takes an address of the public subnet.
	mustInNS(t, vlan[0], "ip", "addr", "add", "192.0.2.99/24", "dev", "gv")
	if _, err := inNS(vlan[0], "ping", "-n", "-c1", "-W1", "192.0.2.12"); err == nil {
		t.Errorf("a vlan guest reached a public guest of another host")
	}
	// Anycast gateway: one MAC everywhere; every guest resolved it to that MAC; no frame
	// of a gateway crossed a tunnel (the filter dropped them, the peers never learned it).
	gw := readLink(t, hosts[0].dc, PublicBridge).MAC
	for i := range hosts {
		if m := readLink(t, hosts[i].dc, PublicBridge).MAC; m != gw {
			t.Errorf("host %d's gateway MAC %s, host 1's %s", i+1, m, gw)
		}
		if n := mustInNS(t, pub[i], "ip", "neigh", "show", "192.0.2.1"); !strings.Contains(n, gw) {
			t.Errorf("host %d's guest has gateway neighbour %q, want MAC %s", i+1, n, gw)
		}
		if f := mustInNS(t, hosts[i].dc, "bridge", "fdb", "show", "dev", VXLANName(PublicBridge)); strings.Contains(f, gw) {
			t.Errorf("host %d learned the gateway MAC %s behind its tunnel:\n%s", i+1, gw, f)
		}
	}
	// Flood lists follow the peers: host 3 leaves, then comes back.
	for i := range 2 {
		if err := d.EnsureNetwork(ctx, nets(i, vteps[:2])[0]); err != nil {
			t.Fatal(err)
		}
		if got := floodPeers(t, hosts[i].dc, VXLANName(PublicBridge)); !slices.Equal(got, []string{vteps[1-i]}) {
			t.Errorf("host %d's flood list %v after host 3 left", i+1, got)
		}
	}
	if err := d.EnsureNetwork(ctx, nets(0, vteps)[0]); err != nil {
		t.Fatal(err)
	}
	if got := floodPeers(t, hosts[0].dc, VXLANName(PublicBridge)); !slices.Equal(got, vteps[1:]) {
		t.Errorf("host 1's flood list %v after host 3 came back", got)
	}
	// Bridges lists both; DeleteNetwork removes the VLAN's VXLAN port with its bridge.
	if got, err := d.Bridges(ctx, hosts[0].dc); err != nil || !slices.Contains(got, VLANBridge(7)) {
		t.Errorf("Bridges = %v, %v", got, err)
	}
	if err := d.DeleteNetwork(ctx, nets(0, vteps)[1]); err != nil {
		t.Fatal(err)
	}
	if l := readLink(t, hosts[0].dc, VXLANName(VLANBridge(7))); l != nil {
		t.Errorf("%s left after its network was deleted", VXLANName(VLANBridge(7)))
	}
	// A 1500 underlay is refused with the reason.
	if err := SetUnderlayMTU(hosts[2].ul, 1500); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckUnderlay(hosts[2].ul, vteps[2]); err == nil || !strings.Contains(err.Error(), "at least 1550") {
		t.Errorf("CheckUnderlay with mtu 1500: %v", err)
	}
}

// floodPeers lists the destinations of a VXLAN device's all-zero FDB entries.
func floodPeers(t *testing.T, ns, dev string) []string {
	t.Helper()
	var out []string
	err := withHandle(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(dev)
		if err != nil {
			return err
		}
		fdb, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		for _, n := range fdb {
			if n.IP != nil && slices.Equal(n.HardwareAddr, zeroMAC) {
				out = append(out, n.IP.String())
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// requirePing skips (fails in CI) without iputils-ping.
func requirePing(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ping"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ping (iputils-ping) is not installed")
		}
		t.Skip("ping (iputils-ping) is not installed")
	}
}
