package server

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/ipam"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
)

// networks lays out the network model: one namespace per datacenter, holding a public
// bridge and one bridge per VLAN; one tap per attached iface.
type networks struct {
	svc       *service.Service
	cat       *service.Catalog
	vlans     func(id int64) (*store.VLAN, error)
	namespace func(dc *service.Datacenter) string
	overlay   *overlay // nil: bridges stay on their host
}

var _ agent.Networks = (*networks)(nil)

// Namespace is the network namespace of a datacenter: <prefix><dc_code lowercased>
// (berth-fr-sd5 by default).
func Namespace(prefix, code string) string {
	return prefix + strings.ToLower(strings.ReplaceAll(code, "_", "-"))
}

const publicBridge = "br-public"

func vlanBridge(id int64) string { return fmt.Sprintf("brv%d", id) }

func (n *networks) Port(f *store.Iface) (netdev.Port, bool) {
	dc, err := n.cat.Datacenter(f.DatacenterID)
	if err != nil {
		return netdev.Port{}, false
	}
	p := netdev.Port{IfaceID: f.ID, Namespace: n.namespace(dc), Bridge: publicBridge, Tap: agent.TapName(f.ID), Bandwidth: f.Bandwidth}
	if f.VLANID != 0 {
		p.Bridge = vlanBridge(f.VLANID)
	}
	return p, true
}

// Gateway returns an address with its prefix length and the gateway of its pool.
func (n *networks) Gateway(ip *store.IP) (string, string) {
	addr, err := netip.ParseAddr(ip.IP.IP)
	if err != nil {
		return "", ""
	}
	var pool ipam.Pool
	if id, ok := strings.CutPrefix(ip.Network, "vlan:"); ok {
		var vid int64
		fmt.Sscan(id, &vid)
		if v, err := n.vlans(vid); err == nil {
			pool, _ = ipam.NewPool(v.Subnet, v.Gateway)
		}
	} else {
		pool, _ = n.svc.PublicPool(ip.DatacenterID, ip.Version)
	}
	if !pool.Prefix.IsValid() {
		return addr.String(), ""
	}
	gw := ""
	if pool.Gateway.IsValid() {
		gw = pool.Gateway.String()
	}
	return netip.PrefixFrom(addr, pool.Prefix.Bits()).String(), gw
}

func (n *networks) VLANNetwork(v *store.VLAN) netdev.Network {
	dc, _ := n.cat.Datacenter(v.DatacenterID)
	ns := ""
	if dc != nil {
		ns = n.namespace(dc)
	}
	nw := netdev.Network{Namespace: ns, Bridge: vlanBridge(v.ID), Overlay: n.overlay.of(uint32(v.ID))}
	if v.Gateway != "" {
		if p, err := netip.ParsePrefix(v.Subnet); err == nil {
			nw.Gateways = []string{netip.PrefixFrom(netip.MustParseAddr(v.Gateway), p.Bits()).String()}
		}
	}
	return nw
}

// publicNetwork is a datacenter's public bridge with its gateways.
func (n *networks) publicNetwork(dc *service.Datacenter) netdev.Network {
	nw := netdev.Network{Namespace: n.namespace(dc), Bridge: publicBridge, Overlay: n.overlay.of(publicVNI(dc.ID))}
	for _, v := range []int64{4, 6} {
		if p, err := n.svc.PublicPool(dc.ID, v); err == nil && p.Gateway.IsValid() {
			nw.Gateways = append(nw.Gateways, netip.PrefixFrom(p.Gateway, p.Prefix.Bits()).String())
		}
	}
	return nw
}
