package hypervisor

import (
	"context"
	"time"
)

// VMStats are a running VM's resource counters, read by the host at one instant. Counters
// (CPU time, bytes, operations, packets) only grow while the VM's process lives; they
// restart from zero when it is started again.
type VMStats struct {
	// CPU is the CPU time the VM's process used (guest and emulation, user and system).
	CPU time.Duration
	// MemoryBytes is the guest's RAM: boot memory plus hot-plugged memory.
	MemoryBytes int64
	// RSSBytes is the resident memory of the VM's process on the host.
	RSSBytes int64
	Disks    []DiskStats
}

// DiskStats are the I/O counters of one attached disk, as the guest issued them.
type DiskStats struct {
	ID         int64
	ReadBytes  uint64
	WriteBytes uint64
	Reads      uint64 // read operations completed
	Writes     uint64 // write operations completed
}

// Statser is implemented by drivers that report the counters of their running VMs (the
// qemu driver: /proc for the process, QMP for memory and disks). NIC counters are the
// network driver's (netdev.Counter): it owns the taps. Stats of a VM that does not run
// wraps ErrNotRunning.
type Statser interface {
	Stats(ctx context.Context, id int64) (VMStats, error)
}
