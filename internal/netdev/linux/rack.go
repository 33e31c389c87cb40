//go:build linux

package linux

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SwitchBridge is the bridge of a simulated rack switch.
const SwitchBridge = "brul"

// UnderlayLink is the name of a simulated host's underlay interface.
const UnderlayLink = "ul"

// CreateSwitch makes a simulated top-of-rack switch: a namespace holding one bridge,
// SwitchBridge, up. Hosts join it with ConnectHost.
func CreateSwitch(ns string) error {
	if ns == "" {
		return errors.New("a switch needs its own namespace")
	}
	if err := validateNamespace(ns); err != nil {
		return err
	}
	if err := ensureNamespace(ns); err != nil {
		return err
	}
	return withHandle(ns, func(h *netlink.Handle) error {
		if err := prepareNamespace(h, ns); err != nil {
			return err
		}
		_, err := ensureBridge(h, ns, SwitchBridge)
		return err
	})
}

// ConnectHost wires a simulated host's underlay to the switch: namespace hostNS (created)
// gets UnderlayLink with address cidr (e.g. 10.99.0.1/24) and the given MTU, the veth's
// other end, named port, is a port of the switch's bridge. As a cable to a real switch:
// VXLAN sockets of that host live in hostNS.
func ConnectHost(switchNS, port, hostNS, cidr string, mtu int) error {
	if hostNS == "" || switchNS == "" {
		return errors.New("the switch and the host need their own namespaces")
	}
	for _, n := range []string{switchNS, hostNS} {
		if err := validateNamespace(n); err != nil {
			return err
		}
	}
	if err := validateIfName("switch port", port); err != nil {
		return err
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("underlay address %q: %w", cidr, err)
	}
	if err := ensureNamespace(hostNS); err != nil {
		return err
	}
	hostFd, err := openNamespace(hostNS)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(hostFd) }()
	err = withHandle(switchNS, func(h *netlink.Handle) error {
		br, err := h.LinkByName(SwitchBridge)
		if err != nil {
			return fmt.Errorf("switch bridge: %w", err)
		}
		if old, err := linkByName(h, port); err != nil {
			return err
		} else if old != nil {
			if err := h.LinkDel(old); err != nil {
				return fmt.Errorf("delete old port %s: %w", port, err)
			}
		}
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port, MTU: mtu, MasterIndex: br.Attrs().Index},
			PeerName: UnderlayLink, PeerNamespace: netlink.NsFd(hostFd)}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("create underlay veth %s: %w", port, err)
		}
		l, err := h.LinkByName(port)
		if err != nil {
			return err
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return fmt.Errorf("switch %q: %w", switchNS, err)
	}
	return withHandle(hostNS, func(h *netlink.Handle) error {
		if err := prepareNamespace(h, hostNS); err != nil {
			return err
		}
		l, err := h.LinkByName(UnderlayLink)
		if err != nil {
			return err
		}
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set %s mtu %d: %w", UnderlayLink, mtu, err)
		}
		if err := h.AddrReplace(l, addr); err != nil {
			return fmt.Errorf("add %s to %s: %w", cidr, UnderlayLink, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", UnderlayLink, err)
		}
		return nil
	})
}

// SetUnderlayMTU changes the MTU of a simulated host's underlay link (tests of the
// agent's MTU check).
func SetUnderlayMTU(hostNS string, mtu int) error {
	return withHandle(hostNS, func(h *netlink.Handle) error {
		l, err := h.LinkByName(UnderlayLink)
		if err != nil {
			return err
		}
		return h.LinkSetMTU(l, mtu)
	})
}
