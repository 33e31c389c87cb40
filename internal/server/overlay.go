package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/store"
)

// publicVNI is the VXLAN network identifier of a datacenter's public network; a private
// VLAN's is its id (VLAN ids stay below it).
func publicVNI(dcID int64) uint32 { return 0x100000 + uint32(dcID) }

// overlay is what an agent knows of its datacenter's tunnels: its own endpoint and the
// peers last read from the hosts table (nil before the first read: a network ensured then
// keeps whatever flood list it had).
type overlay struct {
	local, underlay string
	port            int
	peers           atomic.Pointer[[]string]
	// applied is what the last full sync made (peers and VLANs); ticks counts the syncs
	// skipped since, so that the devices are checked again now and then.
	applied string
	ticks   int
}

// overlayRecheck is every how many heartbeats an unchanged overlay is checked again.
const overlayRecheck = 10

// of returns the overlay of a network with the given VNI, or nil without one.
func (o *overlay) of(vni uint32) *netdev.Overlay {
	if o == nil || o.local == "" {
		return nil
	}
	p := o.peers.Load()
	if p == nil {
		return nil
	}
	return &netdev.Overlay{VNI: vni, Local: o.local, UnderlayNS: o.underlay, Port: o.port, Peers: *p}
}

// syncOverlay runs at start and at every heartbeat of an agent with a tunnel endpoint: it
// reads the datacenter's other hosts (their endpoints are the flood list: a host that
// registers is in every peer's list within one heartbeat; a host that is down stays listed,
// since its VMs may still run) and the datacenter's VLANs, ensures the public network and
// every VLAN with its tunnel and anycast gateway, and removes the bridges of VLANs deleted
// meanwhile (their delete operation ran on one host only).
func (d *Daemon) syncOverlay(ctx context.Context) error {
	o := d.nets.overlay
	if o == nil || o.local == "" || d.hostDC == 0 {
		return nil
	}
	dc, err := d.svc.Catalog().Datacenter(d.hostDC)
	if err != nil {
		return err
	}
	ns := d.nets.namespace(dc)
	// Bridges before VLANs: a bridge listed here has its VLAN row already written, so a
	// VLAN created meanwhile is never taken for a deleted one.
	var bridges []string
	if l, ok := d.be.net.(netdev.Lister); ok {
		if bridges, err = l.Bridges(ctx, ns); err != nil {
			return err
		}
	}
	var hosts []*store.Host
	var vlans []*store.VLAN
	err = d.st.Read(ctx, func(tx store.Tx) error {
		var err error
		if hosts, err = tx.Hosts(); err != nil {
			return err
		}
		vlans, err = tx.VLANs(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{{Field: "datacenter_id", Values: []any{d.hostDC}}}})
		return err
	})
	if err != nil {
		return err
	}
	peers := []string{}
	for _, h := range hosts {
		if h.Name != d.opt.Host && h.DatacenterID == d.hostDC && h.VTEPAddr != "" && h.VTEPAddr != o.local {
			peers = append(peers, h.VTEPAddr)
		}
	}
	slices.Sort(peers)
	o.peers.Store(&peers)
	// Nothing changed since the last full sync: skip the netlink work (bounded).
	key := fmt.Sprint(peers, bridges)
	for _, v := range vlans {
		key += fmt.Sprintf(" %d/%s/%s", v.ID, v.Subnet, v.Gateway)
	}
	if key == o.applied && o.ticks < overlayRecheck {
		o.ticks++
		return nil
	}
	o.applied, o.ticks = "", 0
	want := []netdev.Network{d.nets.publicNetwork(dc)}
	keep := map[string]bool{}
	for _, v := range vlans {
		n := d.nets.VLANNetwork(v)
		want = append(want, n)
		keep[n.Bridge] = true
	}
	for _, n := range want {
		if err := d.be.net.EnsureNetwork(ctx, n); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	for _, b := range bridges {
		if strings.HasPrefix(b, "brv") && !keep[b] {
			if err := d.be.net.DeleteNetwork(ctx, netdev.Network{Namespace: ns, Bridge: b}); err != nil {
				return fmt.Errorf("overlay: remove the bridge of a deleted vlan: %w", err)
			}
		}
	}
	o.applied = key
	return nil
}
