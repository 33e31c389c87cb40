package store

import (
	"context"
	"time"
)

// VMSample is what one running VM used during one sampling interval of its host: the
// growth of its counters over the interval (summed over its disks, and over its ifaces of
// each type), and its memory at the end. Samples are what hosting.metric.query answers
// from, whichever API server is asked.
type VMSample struct {
	VMID     int64
	Time     time.Time     // end of the interval, whole seconds
	Interval time.Duration // its length
	Host     string

	CPU         time.Duration // CPU time of the VM's process
	MemoryBytes int64         // guest RAM at Time
	RSSBytes    int64         // resident memory of the process at Time

	DiskReadBytes, DiskWriteBytes int64
	DiskReads, DiskWrites         int64

	Public, Private *NetUsage // nil: the VM had no iface of that type
}

// NetUsage is the traffic of a VM's ifaces of one type during an interval, seen from the
// guest (in = Rx, out = Tx).
type NetUsage struct {
	RxBytes, TxBytes     int64
	RxPackets, TxPackets int64
}

// VMSampleLog keeps VM samples for a retention period. sqlstore's DB implements it.
type VMSampleLog interface {
	// InsertVMSamples stores samples in one transaction; a sample of the same VM and
	// time as one already stored is dropped.
	InsertVMSamples(ctx context.Context, samples []VMSample) error
	// VMSamples returns the samples of the VMs with after < Time <= upto, by VM then time.
	VMSamples(ctx context.Context, vmIDs []int64, after, upto time.Time) ([]VMSample, error)
	// PruneVMSamples deletes the samples older than before and returns how many.
	PruneVMSamples(ctx context.Context, before time.Time) (int64, error)
}
