package linux

import (
	"context"

	"github.com/vishvananda/netlink"

	"github.com/berth-io/berth/internal/netdev"
)

var _ netdev.Counter = (*Driver)(nil)

// PortStats implements netdev.Counter: one link dump per namespace, the counters of the
// ports' taps turned to the guest's side (the tap's tx is the guest's rx). Taps that do
// not exist are left out.
func (d *Driver) PortStats(ctx context.Context, ports []netdev.Port) (map[int64]netdev.PortStats, error) {
	byNS := map[string][]netdev.Port{}
	for _, p := range ports {
		if p.Tap != "" {
			byNS[p.Namespace] = append(byNS[p.Namespace], p)
		}
	}
	out := map[int64]netdev.PortStats{}
	for ns, ps := range byNS {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		err := withHandle(ns, func(h *netlink.Handle) error {
			links, err := dump(h.LinkList)
			if err != nil {
				return err
			}
			byName := make(map[string]*netlink.LinkStatistics, len(links))
			for _, l := range links {
				if a := l.Attrs(); a.Statistics != nil {
					byName[a.Name] = a.Statistics
				}
			}
			for _, p := range ps {
				if s := byName[p.Tap]; s != nil {
					out[p.IfaceID] = netdev.PortStats{RxBytes: s.TxBytes, TxBytes: s.RxBytes, RxPackets: s.TxPackets, TxPackets: s.RxPackets}
				}
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
