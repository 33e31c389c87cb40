package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
)

var _ hypervisor.Statser = (*Driver)(nil)

// Per-call growth of the fake's counters: each Stats call on a running VM is one tick, and
// after n ticks (counted since the VM's last start) the counters are n times these, times
// the VM's cores for CPU, and times 1 + the disk's position for disks.
const (
	TickCPU        = 500 * time.Millisecond
	TickReadBytes  = 4096
	TickWriteBytes = 1024
)

// Stats implements hypervisor.Statser with counters that change deterministically: see
// TickCPU. The ticks are not kept in the sim backend's state file.
func (d *Driver) Stats(_ context.Context, id int64) (hypervisor.VMStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[id]
	if !ok || !v.Running {
		return hypervisor.VMStats{}, fmt.Errorf("vm %d: %w", id, hypervisor.ErrNotRunning)
	}
	if d.ticks == nil {
		d.ticks = map[int64]tick{}
	}
	t := d.ticks[id]
	if t.boot != v.Boots {
		t = tick{boot: v.Boots}
	}
	t.n++
	d.ticks[id] = t
	n := uint64(t.n)
	st := hypervisor.VMStats{
		CPU:         time.Duration(n) * TickCPU * time.Duration(v.Spec.Cores),
		MemoryBytes: v.Spec.MemoryMB << 20,
		RSSBytes:    v.Spec.MemoryMB << 19, // half the guest's memory is touched
	}
	for i, disk := range v.Spec.Disks {
		k := n * uint64(i+1)
		st.Disks = append(st.Disks, hypervisor.DiskStats{ID: disk.ID, ReadBytes: k * TickReadBytes, WriteBytes: k * TickWriteBytes, Reads: k, Writes: k})
	}
	return st, nil
}

// tick counts the Stats calls on one boot of a VM.
type tick struct {
	boot int // VM.Boots when counting began
	n    int
}
