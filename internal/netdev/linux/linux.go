//go:build linux

package linux

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-io/berth/internal/netdev"
)

// PublicBridge is the name of a datacenter's public bridge.
const PublicBridge = "br-public"

// VLANBridge returns the name of the bridge of private VLAN id.
func VLANBridge(id int64) string { return "brv" + strconv.FormatInt(id, 10) }

// TapName returns the name of the tap of iface id.
func TapName(ifaceID int64) string { return "bt" + strconv.FormatInt(ifaceID, 10) }

// Driver is the netlink network driver. Its methods are safe for concurrent use; they are
// serialised so that DeleteNetwork cannot remove a namespace another call is filling.
type Driver struct {
	mu         sync.Mutex
	gatewayKey func(ns string) string
}

var (
	_ netdev.Driver = (*Driver)(nil)
	_ netdev.Lister = (*Driver)(nil)
)

// New returns a driver.
func New() *Driver { return &Driver{} }

// NewWithGatewayKey returns a driver whose bridge MACs hash key(namespace) instead of the
// namespace's name: hosts whose namespaces are named differently (one prefix per simulated
// host) then give a datacenter's gateway the same MAC, as an anycast gateway needs.
func NewWithGatewayKey(key func(ns string) string) *Driver { return &Driver{gatewayKey: key} }

// macKey is what a namespace's bridge MACs are derived from.
func (d *Driver) macKey(ns string) string {
	if d.gatewayKey != nil {
		return d.gatewayKey(ns)
	}
	return ns
}

// EnsureNetwork creates the namespace (unless it is the host's), brings lo up in it, creates
// the bridge and makes its addresses exactly n.Gateways (IPv6 ones without duplicate address
// detection, so usable at once). Link-local IPv6 addresses are left alone.
func (d *Driver) EnsureNetwork(ctx context.Context, n netdev.Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateNamespace(n.Namespace); err != nil {
		return err
	}
	if err := validateIfName("bridge", n.Bridge); err != nil {
		return err
	}
	want, err := parseGateways(n.Gateways)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ensureNamespace(n.Namespace); err != nil {
		return err
	}
	err = withHandle(n.Namespace, func(h *netlink.Handle) error {
		if err := prepareNamespace(h, n.Namespace); err != nil {
			return err
		}
		br, err := ensureBridge(h, d.macKey(n.Namespace), n.Bridge)
		if err != nil {
			return err
		}
		if err := syncAddrs(h, br, want); err != nil {
			return err
		}
		if n.Overlay != nil {
			return ensureOverlay(h, n.Namespace, br, n.Overlay)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure network %s/%s: %w", n.Namespace, n.Bridge, err)
	}
	return nil
}

// DeleteNetwork deletes the bridge (a missing one is fine; ports are released, not deleted).
// Then, for a named namespace, it deletes the namespace when no bridge and no tap is left in
// it; the host namespace is never deleted. DeleteNamespace removes one unconditionally.
func (d *Driver) DeleteNetwork(ctx context.Context, n netdev.Network) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateNamespace(n.Namespace); err != nil {
		return err
	}
	if err := validateIfName("bridge", n.Bridge); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok, err := namespaceExists(n.Namespace); err != nil || !ok {
		return err
	}
	var unused bool
	err := withHandle(n.Namespace, func(h *netlink.Handle) error {
		l, err := linkByName(h, n.Bridge)
		if err != nil {
			return err
		}
		if l != nil {
			if l.Type() != "bridge" {
				return fmt.Errorf("link %s is a %s, not a bridge", n.Bridge, l.Type())
			}
			if err := h.LinkDel(l); err != nil {
				return fmt.Errorf("delete bridge %s: %w", n.Bridge, err)
			}
		}
		if err := deleteVXLAN(h, n.Bridge); err != nil {
			return err
		}
		if n.Namespace == "" {
			return nil
		}
		unused, err = namespaceUnused(h)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete network %s/%s: %w", n.Namespace, n.Bridge, err)
	}
	if unused {
		return deleteNamespace(n.Namespace)
	}
	return nil
}

// DeleteNamespace deletes a named namespace with everything in it (missing is fine). The host
// namespace ("") is refused.
func (d *Driver) DeleteNamespace(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return errors.New("refusing to delete the host namespace")
	}
	if err := validateNamespace(name); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return deleteNamespace(name)
}

// EnsurePort creates the namespace and bridge if missing (without addresses), creates the
// persistent tap if missing, enslaves it to p.Bridge, brings it up and sets its bandwidth
// limit (0 removes it). An empty p.Tap means TapName(p.IfaceID).
func (d *Driver) EnsurePort(ctx context.Context, p netdev.Port) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := checkPort(p)
	if err != nil {
		return err
	}
	if err := validateIfName("bridge", p.Bridge); err != nil {
		return err
	}
	lim, err := limitFor(p.Bandwidth)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ensureNamespace(p.Namespace); err != nil {
		return err
	}
	err = withHandle(p.Namespace, func(h *netlink.Handle) error {
		if err := prepareNamespace(h, p.Namespace); err != nil {
			return err
		}
		br, err := ensureBridge(h, d.macKey(p.Namespace), p.Bridge)
		if err != nil {
			return err
		}
		tap, err := ensureTap(h, p.Tap)
		if err != nil {
			return err
		}
		if tap.Attrs().MasterIndex != br.Attrs().Index {
			if err := h.LinkSetMaster(tap, br); err != nil {
				return fmt.Errorf("enslave %s to %s: %w", p.Tap, p.Bridge, err)
			}
		}
		// The tap is a bridge port, not a host interface: no IPv6 address or RA on it.
		if err := writeSysctl("ipv6/conf/"+p.Tap+"/disable_ipv6", "1"); err != nil {
			return err
		}
		if tap.Attrs().Flags&net.FlagUp == 0 {
			if err := h.LinkSetUp(tap); err != nil {
				return fmt.Errorf("set %s up: %w", p.Tap, err)
			}
		}
		return applyLimit(h, tap, lim)
	})
	if err != nil {
		return fmt.Errorf("ensure port %s/%s: %w", p.Namespace, p.Tap, err)
	}
	return nil
}

// DeletePort deletes the tap and its IFB; a missing tap, IFB or namespace is fine.
func (d *Driver) DeletePort(ctx context.Context, p netdev.Port) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := checkPort(p)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok, err := namespaceExists(p.Namespace); err != nil || !ok {
		return err
	}
	err = withHandle(p.Namespace, func(h *netlink.Handle) error {
		l, err := linkByName(h, p.Tap)
		if err != nil {
			return err
		}
		if l != nil {
			if l.Type() != "tuntap" {
				return fmt.Errorf("link %s is a %s, not a tap", p.Tap, l.Type())
			}
			if err := h.LinkDel(l); err != nil {
				return fmt.Errorf("delete tap %s: %w", p.Tap, err)
			}
		}
		return deleteIfb(h, IfbName(p.Tap))
	})
	if err != nil {
		return fmt.Errorf("delete port %s/%s: %w", p.Namespace, p.Tap, err)
	}
	return nil
}

// checkPort validates a port's namespace and tap name, filling the default tap name.
func checkPort(p netdev.Port) (netdev.Port, error) {
	if err := validateNamespace(p.Namespace); err != nil {
		return p, err
	}
	if p.Tap == "" {
		p.Tap = TapName(p.IfaceID)
	}
	if err := validateIfName("tap", p.Tap); err != nil {
		return p, err
	}
	if err := validateIfName("ifb", IfbName(p.Tap)); err != nil {
		return p, fmt.Errorf("tap name %q too long for its ifb: %w", p.Tap, err)
	}
	return p, nil
}

// validateIfName checks an interface name the way the kernel does (dev_valid_name).
func validateIfName(what, name string) error {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n\x00") {
		return fmt.Errorf("invalid %s name %q", what, name)
	}
	return nil
}

// parseGateways parses CIDR gateway addresses such as 192.0.2.1/24 or 2001:db8::1/64.
func parseGateways(cidrs []string) ([]*netlink.Addr, error) {
	out := make([]*netlink.Addr, 0, len(cidrs))
	for _, c := range cidrs {
		a, err := netlink.ParseAddr(c)
		if err != nil {
			return nil, fmt.Errorf("invalid gateway address %q: %w", c, err)
		}
		if a.IP.To4() == nil {
			a.Flags = unix.IFA_F_NODAD
		}
		out = append(out, a)
	}
	return out, nil
}

// linkByName returns the link, or nil when there is none by that name.
func linkByName(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get link %s: %w", name, err)
	}
	return l, nil
}

// prepareNamespace brings lo up and, in a namespace of ours, stops br_netfilter (if loaded)
// from passing bridged frames to iptables. The host's sysctls are left alone.
func prepareNamespace(h *netlink.Handle, ns string) error {
	if ns == "" {
		return nil
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("get lo: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
	}
	for _, k := range []string{"iptables", "ip6tables", "arptables"} {
		if err := writeSysctl("bridge/bridge-nf-call-"+k, "0"); err != nil {
			return err
		}
	}
	return nil
}

// bridgeMAC is a stable, locally administered unicast MAC for a bridge. Setting it explicitly
// stops the bridge from taking the lowest port MAC, which would change the gateway's MAC
// (and break guests' ARP caches) whenever a tap comes or goes.
func bridgeMAC(ns, bridge string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(ns + "\x00" + bridge))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}

// ensureBridge creates the bridge if missing, fixes its MAC (from key and the bridge's
// name), turns off IPv6 DAD and router advertisement acceptance on it, and brings it up.
func ensureBridge(h *netlink.Handle, key, name string) (netlink.Link, error) {
	mac := bridgeMAC(key, name)
	l, err := linkByName(h, name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}
		if err := h.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return nil, fmt.Errorf("get bridge %s: %w", name, err)
		}
	}
	if l.Type() != "bridge" {
		return nil, fmt.Errorf("link %s is a %s, not a bridge", name, l.Type())
	}
	if !bytes.Equal(l.Attrs().HardwareAddr, mac) {
		if err := h.LinkSetHardwareAddr(l, mac); err != nil {
			return nil, fmt.Errorf("set bridge %s address: %w", name, err)
		}
	}
	for _, kv := range [][2]string{{"accept_dad", "0"}, {"accept_ra", "0"}} {
		if err := writeSysctl("ipv6/conf/"+name+"/"+kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("set bridge %s up: %w", name, err)
		}
	}
	return l, nil
}

// syncAddrs makes the link's global addresses exactly want.
func syncAddrs(h *netlink.Handle, l netlink.Link, want []*netlink.Addr) error {
	have, err := dump(func() ([]netlink.Addr, error) { return h.AddrList(l, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	wanted := make(map[string]bool, len(want))
	for _, a := range want {
		wanted[a.IPNet.String()] = true
	}
	present := make(map[string]bool, len(have))
	for _, a := range have {
		key := a.IPNet.String()
		present[key] = true
		if wanted[key] || a.IP.IsLinkLocalUnicast() {
			continue
		}
		if err := h.AddrDel(l, &a); err != nil {
			return fmt.Errorf("delete address %s from %s: %w", key, l.Attrs().Name, err)
		}
	}
	for _, a := range want {
		if present[a.IPNet.String()] {
			continue
		}
		if err := h.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s to %s: %w", a.IPNet, l.Attrs().Name, err)
		}
	}
	return nil
}

// namespaceUnused reports whether the current namespace holds no bridge and no tap.
func namespaceUnused(h *netlink.Handle) (bool, error) {
	links, err := dump(h.LinkList)
	if err != nil {
		return false, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		if t := l.Type(); t == "bridge" || t == "tuntap" {
			return false, nil
		}
	}
	return true, nil
}

// finite reports whether f is neither NaN nor infinite.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
