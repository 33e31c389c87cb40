package fake

import (
	"context"

	"github.com/berth-io/berth/internal/netdev"
)

var _ netdev.Counter = (*Driver)(nil)

// Per-call growth of the fake's port counters: after n PortStats calls that found a port
// (counted since it was made), its counters are n times these, and n packets each way.
const (
	TickRxBytes = 1500
	TickTxBytes = 500
)

// PortStats implements netdev.Counter with counters that change deterministically.
func (d *Driver) PortStats(_ context.Context, ports []netdev.Port) (map[int64]netdev.PortStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[int64]netdev.PortStats{}
	for _, p := range ports {
		if _, ok := d.ports[p.IfaceID]; !ok {
			continue
		}
		if d.ticks == nil {
			d.ticks = map[int64]uint64{}
		}
		d.ticks[p.IfaceID]++
		n := d.ticks[p.IfaceID]
		out[p.IfaceID] = netdev.PortStats{RxBytes: n * TickRxBytes, TxBytes: n * TickTxBytes, RxPackets: n, TxPackets: n}
	}
	return out, nil
}
