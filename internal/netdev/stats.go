package netdev

import "context"

// PortStats are the traffic counters of one port's tap, seen from the guest behind it: Rx
// is what the guest received (what the tap transmitted), Tx what the guest sent. They
// restart from zero when the tap is made again.
type PortStats struct {
	RxBytes   uint64
	TxBytes   uint64
	RxPackets uint64
	TxPackets uint64
}

// Counter is implemented by drivers that read their ports' counters (the linux driver:
// one netlink link dump per namespace). Ports whose tap does not exist are left out.
type Counter interface {
	PortStats(ctx context.Context, ports []Port) (map[int64]PortStats, error)
}
