//go:build linux

package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-io/berth/internal/netdev"
)

// VXLANPort is the IANA VXLAN port, the default of an overlay.
const VXLANPort = 4789

// VXLANOverhead is what VXLAN over IPv4 adds to a frame: outer IPv4, UDP, VXLAN headers
// and the inner Ethernet header.
const VXLANOverhead = 50

// GuestMTU is the MTU of bridges, taps and guests.
const GuestMTU = 1500

// VXLANName is the name of a bridge's VXLAN port: br-public → vx-public, brv7 → vxv7.
// Every VXLAN device Berth makes starts with "vx", which the anycast filter matches.
func VXLANName(bridge string) string { return "vx" + strings.TrimPrefix(bridge, "br") }

// nftTable and nftChain hold the filter that keeps the gateway's own frames on this host.
const (
	nftTable = "berth"
	nftChain = "gateway-local"
)

// zeroMAC is the destination of head-end replication (flood) entries.
var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// ensureOverlay gives the bridge its VXLAN port: the device is created in the underlay
// namespace (its UDP socket stays there) and moved into the bridge's namespace, enslaved,
// brought up; its flood entries become exactly the peers; and the namespace's bridge
// filter keeps frames sent by the gateway itself (every host holds the same gateway
// address and MAC) out of every tunnel.
func ensureOverlay(h *netlink.Handle, ns string, br netlink.Link, o *netdev.Overlay) error {
	name := VXLANName(br.Attrs().Name)
	if err := validateIfName("vxlan", name); err != nil {
		return err
	}
	local := net.ParseIP(o.Local).To4()
	if local == nil {
		return fmt.Errorf("overlay of %s: local address %q is not an IPv4 address", br.Attrs().Name, o.Local)
	}
	if o.VNI == 0 || o.VNI >= 1<<24 {
		return fmt.Errorf("overlay of %s: vni %d out of range", br.Attrs().Name, o.VNI)
	}
	port := o.Port
	if port == 0 {
		port = VXLANPort
	}
	peers := make([]net.IP, 0, len(o.Peers))
	for _, p := range o.Peers {
		ip := net.ParseIP(p).To4()
		if ip == nil {
			return fmt.Errorf("overlay of %s: peer %q is not an IPv4 address", br.Attrs().Name, p)
		}
		if !ip.Equal(local) {
			peers = append(peers, ip)
		}
	}
	// The filter first: no gateway frame may slip out while the port comes up.
	if err := ensureGatewayFilter(ns); err != nil {
		return err
	}
	l, err := linkByName(h, name)
	if err != nil {
		return err
	}
	if l != nil && !vxlanMatches(l, o.VNI, local, port) {
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("delete outdated %s: %w", name, err)
		}
		l = nil
	}
	if l == nil {
		if err := createVXLAN(ns, o.UnderlayNS, name, o.VNI, local, port); err != nil {
			return err
		}
		if l, err = h.LinkByName(name); err != nil {
			return fmt.Errorf("get %s: %w", name, err)
		}
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", name, br.Attrs().Name, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
	}
	return syncFlood(h, l, peers)
}

// vxlanMatches reports whether an existing link is the VXLAN device wanted.
func vxlanMatches(l netlink.Link, vni uint32, local net.IP, port int) bool {
	v, ok := l.(*netlink.Vxlan)
	return ok && v.VxlanId == int(vni) && v.SrcAddr.Equal(local) && v.Port == port && v.Learning
}

// createVXLAN makes the device in the underlay namespace and moves it to ns. A device of
// that name left in the underlay (a crash between the two steps) is replaced.
func createVXLAN(ns, underlay, name string, vni uint32, local net.IP, port int) error {
	dst, err := openNamespace(ns)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(dst) }()
	err = withHandle(underlay, func(u *netlink.Handle) error {
		if old, err := linkByName(u, name); err != nil {
			return err
		} else if old != nil {
			if err := u.LinkDel(old); err != nil {
				return fmt.Errorf("delete leftover %s in the underlay: %w", name, err)
			}
		}
		vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: GuestMTU}, VxlanId: int(vni), SrcAddr: local,
			Port: port, Learning: true}
		if err := u.LinkAdd(vx); err != nil {
			return fmt.Errorf("create %s (vni %d, local %s): %w", name, vni, local, err)
		}
		l, err := u.LinkByName(name)
		if err != nil {
			return fmt.Errorf("get %s: %w", name, err)
		}
		if err := u.LinkSetNsFd(l, dst); err != nil {
			_ = u.LinkDel(l)
			return fmt.Errorf("move %s to namespace %q: %w", name, ns, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("underlay %q: %w", underlay, err)
	}
	return nil
}

// syncFlood makes the device's all-zero FDB entries exactly one per peer.
func syncFlood(h *netlink.Handle, l netlink.Link, peers []net.IP) error {
	name := l.Attrs().Name
	have, err := dump(func() ([]netlink.Neigh, error) { return h.NeighList(l.Attrs().Index, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("list fdb of %s: %w", name, err)
	}
	present := map[string]bool{}
	for _, n := range have {
		if n.IP == nil || !slices.Equal(n.HardwareAddr, zeroMAC) {
			continue
		}
		present[n.IP.String()] = true
		if slices.ContainsFunc(peers, n.IP.Equal) {
			continue
		}
		n := n
		if err := h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove flood entry %s from %s: %w", n.IP, name, err)
		}
	}
	for _, p := range peers {
		if present[p.String()] {
			continue
		}
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT, IP: p, HardwareAddr: zeroMAC}
		if err := h.NeighAppend(n); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add flood entry %s to %s: %w", p, name, err)
		}
	}
	return nil
}

// ensureGatewayFilter installs, once per namespace, a bridge-family nftables rule dropping
// every frame the namespace's own stack (the gateways) sends out of a VXLAN port. Each host
// answers its own guests; a remote guest's ARP or neighbour solicitation reaching this
// host's gateway gets no answer through the tunnel, so the peers never learn the shared
// gateway MAC behind a tunnel. (The kernel here has no tc flower or gact: nftables it is.)
func ensureGatewayFilter(ns string) error {
	fd, err := openNamespace(ns)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return fmt.Errorf("nftables in namespace %q: %w", ns, err)
	}
	defer func() { _ = c.CloseLasting() }()
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyBridge)
	if err != nil {
		return fmt.Errorf("list nftables tables in namespace %q: %w", ns, err)
	}
	t := &nftables.Table{Name: nftTable, Family: nftables.TableFamilyBridge}
	for _, have := range tables {
		if have.Name != nftTable {
			continue
		}
		ch := &nftables.Chain{Name: nftChain, Table: have}
		if rules, err := c.GetRules(have, ch); err == nil && len(rules) == 1 {
			return nil
		}
		c.DelTable(have)
	}
	c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{Name: nftChain, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("vx")}, // a prefix: "vx*"
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install the gateway filter in namespace %q: %w", ns, err)
	}
	return nil
}

// deleteVXLAN deletes a bridge's VXLAN port, if any.
func deleteVXLAN(h *netlink.Handle, bridge string) error {
	l, err := linkByName(h, VXLANName(bridge))
	if err != nil || l == nil {
		return err
	}
	if l.Type() != "vxlan" {
		return fmt.Errorf("link %s is a %s, not a vxlan", l.Attrs().Name, l.Type())
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// Bridges lists the bridges of a namespace (none when it does not exist).
func (d *Driver) Bridges(ctx context.Context, ns string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateNamespace(ns); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok, err := namespaceExists(ns); err != nil || !ok {
		return nil, err
	}
	var out []string
	err := withHandle(ns, func(h *netlink.Handle) error {
		links, err := dump(h.LinkList)
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		for _, l := range links {
			if l.Type() == "bridge" {
				out = append(out, l.Attrs().Name)
			}
		}
		return nil
	})
	return out, err
}

// CheckUnderlay checks that the underlay link holding addr in namespace ns carries a
// guest's full frame through VXLAN: its MTU must be at least GuestMTU + VXLANOverhead
// (RFC 7348 forbids fragmenting; a smaller underlay silently drops big frames or answers
// "frag needed" to guests that were told 1500). It returns the link's MTU.
func CheckUnderlay(ns, addr string) (int, error) {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() == nil {
		return 0, fmt.Errorf("vtep address %q is not an IPv4 address", addr)
	}
	if err := validateNamespace(ns); err != nil {
		return 0, err
	}
	mtu, name := 0, ""
	err := withHandle(ns, func(h *netlink.Handle) error {
		addrs, err := dump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
		if err != nil {
			return fmt.Errorf("list addresses: %w", err)
		}
		for _, a := range addrs {
			if a.IP.Equal(ip) {
				l, err := h.LinkByIndex(a.LinkIndex)
				if err != nil {
					return fmt.Errorf("get the link of %s: %w", addr, err)
				}
				mtu, name = l.Attrs().MTU, l.Attrs().Name
				return nil
			}
		}
		return fmt.Errorf("no link holds the vtep address %s in namespace %q", addr, ns)
	})
	if err != nil {
		return 0, err
	}
	if need := GuestMTU + VXLANOverhead; mtu < need {
		return mtu, fmt.Errorf("underlay link %s (%s) has mtu %d: VXLAN leaves %d for guests that use %d; set the underlay mtu to at least %d",
			name, addr, mtu, mtu-VXLANOverhead, GuestMTU, need)
	}
	return mtu, nil
}
