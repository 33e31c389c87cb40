//go:build linux

package linux

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Bounds of a non-zero Port.Bandwidth, in kbit/s (1 kbit = 1000 bits, as tc and Gandi count).
// Below MinBandwidth the token bucket time would overflow tc's 32-bit tick counters; above
// MaxBandwidth (100 Gbit/s) the TBF queue length overflows its 32-bit byte count.
const (
	MinBandwidth = 32
	MaxBandwidth = 100_000_000
)

const (
	// minBurst is the smallest token bucket, in bytes: above the largest GSO frame (64 KiB) a
	// virtio-net guest exchanges with the tap, so that TBF need not split such frames.
	minBurst = 128 << 10
	// burstTime is how much traffic at full rate the bucket holds when that exceeds minBurst.
	burstTime = 20 * time.Millisecond
	// queueLatency is how long a frame may wait in a TBF queue before it is dropped.
	queueLatency = 50 * time.Millisecond
	// tbfHandle is the handle (1:) of the root TBF qdiscs this driver installs.
	tbfHandle uint32 = 1 << 16
	// ingressHandle is the handle (ffff:) of the tap's ingress qdisc, also its filters' parent.
	ingressHandle uint32 = 0xffff << 16
)

// IfbName returns the name of the IFB device that shapes what the guest behind tap sends:
// "bt<id>" gives "bi<id>", any other name gets "bi-" in front.
func IfbName(tap string) string {
	if rest, ok := strings.CutPrefix(tap, "bt"); ok {
		return "bi" + rest
	}
	return "bi-" + tap
}

// limit is a bandwidth limit in the units tc works in.
type limit struct {
	rate  uint64 // bytes per second; 0 means unlimited
	burst uint32 // bytes
}

// limitFor converts kbit/s (0 = unlimited) to a limit.
func limitFor(kbit float64) (limit, error) {
	switch {
	case !finite(kbit) || kbit < 0:
		return limit{}, fmt.Errorf("invalid bandwidth %v kbit/s", kbit)
	case kbit == 0:
		return limit{}, nil
	case kbit < MinBandwidth || kbit > MaxBandwidth:
		return limit{}, fmt.Errorf("bandwidth %v kbit/s is outside [%d, %d]", kbit, MinBandwidth, MaxBandwidth)
	}
	rate := uint64(math.Round(kbit * 1000 / 8))
	burst := max(rate*uint64(burstTime)/uint64(time.Second), minBurst)
	return limit{rate: rate, burst: uint32(burst)}, nil
}

// tbf is the root qdisc that shapes a device's egress to the limit.
func (l limit) tbf(link int) *netlink.Tbf {
	queue := l.rate*uint64(queueLatency)/uint64(time.Second) + uint64(l.burst)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link, Handle: tbfHandle, Parent: netlink.HANDLE_ROOT},
		Rate:       l.rate,
		Buffer:     netlink.Xmittime(l.rate, l.burst),
		Limit:      uint32(queue),
	}
}

// applyLimit limits both directions of a tap, or removes the limits when l is zero:
//   - what the guest receives leaves through the tap: a TBF root qdisc on the tap;
//   - what the guest sends enters through the tap, where it can only be policed, and the
//     test kernel has no act_police; so an ingress u32 filter redirects it (act_mirred) to an
//     IFB device whose TBF root qdisc shapes it before it re-enters the tap's receive path.
//
// Settings already in place are left untouched, so counters and queues survive repeated
// calls, and a rate change only replaces the two TBFs.
func applyLimit(h *netlink.Handle, tap netlink.Link, l limit) error {
	ifbName := IfbName(tap.Attrs().Name)
	if l.rate == 0 {
		return removeLimit(h, tap, ifbName)
	}
	if err := ensureTBF(h, tap, l); err != nil {
		return err
	}
	ifb, err := ensureIfb(h, ifbName)
	if err != nil {
		return err
	}
	if err := ensureTBF(h, ifb, l); err != nil {
		return err
	}
	return ensureRedirect(h, tap, ifb)
}

// removeLimit removes the tap's TBF and ingress qdisc and deletes its IFB.
func removeLimit(h *netlink.Handle, tap netlink.Link, ifbName string) error {
	root, ingress, err := rootAndIngress(h, tap)
	if err != nil {
		return err
	}
	if tbf, ok := root.(*netlink.Tbf); ok {
		if err := h.QdiscDel(tbf); err != nil {
			return fmt.Errorf("delete tbf of %s: %w", tap.Attrs().Name, err)
		}
	}
	if ingress != nil {
		if err := h.QdiscDel(ingress); err != nil {
			return fmt.Errorf("delete ingress qdisc of %s: %w", tap.Attrs().Name, err)
		}
	}
	return deleteIfb(h, ifbName)
}

// deleteIfb deletes an IFB device; a missing one is fine, another kind of link is an error.
func deleteIfb(h *netlink.Handle, name string) error {
	l, err := linkByName(h, name)
	if err != nil || l == nil {
		return err
	}
	if l.Type() != "ifb" {
		return fmt.Errorf("link %s is a %s, not an ifb", name, l.Type())
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete ifb %s: %w", name, err)
	}
	return nil
}

// rootAndIngress returns a link's root qdisc and its ingress qdisc (nil if none).
func rootAndIngress(h *netlink.Handle, link netlink.Link) (root, ingress netlink.Qdisc, err error) {
	qdiscs, err := dump(func() ([]netlink.Qdisc, error) { return h.QdiscList(link) })
	if err != nil {
		return nil, nil, fmt.Errorf("list qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qdiscs {
		switch q.Attrs().Parent {
		case netlink.HANDLE_ROOT:
			root = q
		case netlink.HANDLE_INGRESS:
			ingress = q
		}
	}
	return root, ingress, nil
}

// ensureTBF makes the link's root qdisc the TBF of l unless it already is.
func ensureTBF(h *netlink.Handle, link netlink.Link, l limit) error {
	root, _, err := rootAndIngress(h, link)
	if err != nil {
		return err
	}
	want := l.tbf(link.Attrs().Index)
	cur, ok := root.(*netlink.Tbf)
	if ok && cur.Handle == want.Handle && cur.Rate == want.Rate && cur.Buffer == want.Buffer && cur.Limit == want.Limit {
		return nil
	}
	if err := h.QdiscReplace(want); err != nil {
		return fmt.Errorf("set tbf on %s: %w", link.Attrs().Name, err)
	}
	return nil
}

// ensureIfb creates the IFB device if missing and brings it up (a down IFB drops everything
// redirected to it). It carries no IPv6 address.
func ensureIfb(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := linkByName(h, name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		if err := h.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create ifb %s: %w", name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return nil, fmt.Errorf("get ifb %s: %w", name, err)
		}
	}
	if l.Type() != "ifb" {
		return nil, fmt.Errorf("link %s is a %s, not an ifb", name, l.Type())
	}
	if err := writeSysctl("ipv6/conf/"+name+"/disable_ipv6", "1"); err != nil {
		return nil, err
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("set ifb %s up: %w", name, err)
		}
	}
	return l, nil
}

// ensureRedirect makes the tap's ingress qdisc hold exactly one filter: match everything and
// redirect it to the IFB. Anything else found there is flushed first, with the qdisc.
func ensureRedirect(h *netlink.Handle, tap, ifb netlink.Link) error {
	name := tap.Attrs().Name
	_, ingress, err := rootAndIngress(h, tap)
	if err != nil {
		return err
	}
	if ingress != nil {
		filters, err := dump(func() ([]netlink.Filter, error) { return h.FilterList(tap, ingressHandle) })
		if err != nil {
			return fmt.Errorf("list ingress filters of %s: %w", name, err)
		}
		if redirectsOnlyTo(filters, ifb.Attrs().Index) {
			return nil
		}
		if err := h.QdiscDel(ingress); err != nil {
			return fmt.Errorf("flush ingress qdisc of %s: %w", name, err)
		}
	}
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: tap.Attrs().Index, Handle: ingressHandle, Parent: netlink.HANDLE_INGRESS}}
	if err := h.QdiscAdd(q); err != nil {
		return fmt.Errorf("add ingress qdisc to %s: %w", name, err)
	}
	f := &netlink.U32{ // a nil selector matches every frame
		FilterAttrs: netlink.FilterAttrs{LinkIndex: tap.Attrs().Index, Parent: ingressHandle, Priority: 1, Protocol: unix.ETH_P_ALL},
		Actions:     []netlink.Action{netlink.NewMirredAction(ifb.Attrs().Index)},
	}
	if err := h.FilterAdd(f); err != nil {
		return fmt.Errorf("add ingress redirect from %s to %s: %w", name, ifb.Attrs().Name, err)
	}
	return nil
}

// redirectsOnlyTo reports whether the filters are our u32 match-all redirect to ifindex and
// nothing else (u32 also lists its hash table, an entry without actions).
func redirectsOnlyTo(filters []netlink.Filter, ifindex int) bool {
	found := 0
	for _, f := range filters {
		u, ok := f.(*netlink.U32)
		if !ok || u.Attrs().Priority != 1 {
			return false
		}
		if len(u.Actions) == 0 {
			continue
		}
		if len(u.Actions) != 1 || u.Sel == nil || len(u.Sel.Keys) != 1 || u.Sel.Keys[0].Mask != 0 {
			return false
		}
		m, ok := u.Actions[0].(*netlink.MirredAction)
		if !ok || m.MirredAction != netlink.TCA_EGRESS_REDIR || m.Ifindex != ifindex {
			return false
		}
		found++
	}
	return found == 1
}
