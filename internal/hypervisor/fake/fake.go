// Package fake is an in-memory hypervisor.Driver for service logic tests and berthd's sim
// backend. It keeps the rules of the real driver (memory and cores within the maxima fixed
// at start, live changes only on a running VM) but runs no guest. In the sim backend it
// keeps its state in a file and takes a configurable time per call.
package fake

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/simstate"
)

// VM is the fake's record of one VM.
type VM struct {
	Spec    hypervisor.Spec
	Running bool
	Boots   int
	// Migration is the state of a live migration of the VM ("" for none).
	Migration string `json:",omitempty"`
}

// Driver is the fake hypervisor.
type Driver struct {
	mu    sync.Mutex
	vms   map[int64]*VM
	state simstate.File
	// OnMigrate, when set, runs in Migrate as the RAM copy would, before the switchover
	// (tests hold a migration there).
	OnMigrate func(id int64)
}

var _ hypervisor.Driver = (*Driver)(nil)

// New returns an empty fake hypervisor.
func New() *Driver { return &Driver{vms: map[int64]*VM{}} }

// NewPersistent returns a fake that keeps its VMs in a file and takes a delay per call.
func NewPersistent(state simstate.File) (*Driver, error) {
	d := &Driver{vms: map[int64]*VM{}, state: state}
	return d, state.Load(&d.vms)
}

// change runs fn on the locked driver after the simulated latency, and saves.
func (d *Driver) change(ctx context.Context, fn func() error) error {
	if err := d.state.Wait(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := fn(); err != nil {
		return err
	}
	return d.state.Save(d.vms)
}

// Get returns a copy of the fake's record of VM id.
func (d *Driver) Get(id int64) (VM, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[id]
	if !ok {
		return VM{}, false
	}
	c := *v
	c.Spec.Disks = slices.Clone(v.Spec.Disks)
	c.Spec.NICs = slices.Clone(v.Spec.NICs)
	return c, true
}

// Crash simulates a guest that died: the VM stops without the API asking.
func (d *Driver) Crash(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.vms[id]; ok {
		v.Running = false
	}
}

// Start implements hypervisor.Driver.
func (d *Driver) Start(ctx context.Context, spec hypervisor.Spec) error {
	if spec.MemoryMB > spec.MaxMemMB || spec.Cores > spec.MaxCores || len(spec.Disks) == 0 {
		return fmt.Errorf("start vm %d: invalid spec", spec.ID)
	}
	return d.change(ctx, func() error {
		if v, ok := d.vms[spec.ID]; ok && v.Running {
			return nil
		}
		spec.Disks = slices.Clone(spec.Disks)
		spec.NICs = slices.Clone(spec.NICs)
		v := d.vms[spec.ID]
		if v == nil {
			v = &VM{}
			d.vms[spec.ID] = v
		}
		v.Spec, v.Running = spec, true
		v.Boots++
		return nil
	})
}

// live runs fn on a running VM.
func (d *Driver) live(ctx context.Context, id int64, fn func(v *VM) error) error {
	return d.change(ctx, func() error {
		v, ok := d.vms[id]
		if !ok || !v.Running {
			return fmt.Errorf("vm %d: %w", id, hypervisor.ErrNotRunning)
		}
		return fn(v)
	})
}

// Stop implements hypervisor.Driver.
func (d *Driver) Stop(ctx context.Context, id int64) error {
	return d.change(ctx, func() error {
		if v, ok := d.vms[id]; ok {
			v.Running = false
		}
		return nil
	})
}

// Destroy implements hypervisor.Driver.
func (d *Driver) Destroy(ctx context.Context, id int64) error {
	return d.change(ctx, func() error { delete(d.vms, id); return nil })
}

// State implements hypervisor.Driver.
func (d *Driver) State(_ context.Context, id int64) (hypervisor.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[id]
	switch {
	case !ok:
		return hypervisor.Missing, nil
	case v.Running:
		return hypervisor.Running, nil
	}
	return hypervisor.Halted, nil
}

// SetMemory implements hypervisor.Driver.
func (d *Driver) SetMemory(ctx context.Context, id, mb int64) error {
	return d.live(ctx, id, func(v *VM) error {
		if mb > v.Spec.MaxMemMB {
			return fmt.Errorf("memory %d MB over the maximum %d MB", mb, v.Spec.MaxMemMB)
		}
		v.Spec.MemoryMB = mb
		return nil
	})
}

// SetCores implements hypervisor.Driver.
func (d *Driver) SetCores(ctx context.Context, id, n int64) error {
	return d.live(ctx, id, func(v *VM) error {
		if n > v.Spec.MaxCores {
			return fmt.Errorf("%d cores over the maximum %d", n, v.Spec.MaxCores)
		}
		v.Spec.Cores = n
		return nil
	})
}

// AttachDisk implements hypervisor.Driver.
func (d *Driver) AttachDisk(ctx context.Context, id int64, disk hypervisor.Disk) error {
	return d.live(ctx, id, func(v *VM) error {
		if !slices.ContainsFunc(v.Spec.Disks, func(x hypervisor.Disk) bool { return x.ID == disk.ID }) {
			v.Spec.Disks = append(v.Spec.Disks, disk)
		}
		return nil
	})
}

// DetachDisk implements hypervisor.Driver.
func (d *Driver) DetachDisk(ctx context.Context, id, diskID int64) error {
	return d.live(ctx, id, func(v *VM) error {
		v.Spec.Disks = slices.DeleteFunc(v.Spec.Disks, func(x hypervisor.Disk) bool { return x.ID == diskID })
		return nil
	})
}

// ResizeDisk implements hypervisor.Driver.
func (d *Driver) ResizeDisk(ctx context.Context, id, _, _ int64) error {
	return d.live(ctx, id, func(*VM) error { return nil })
}

// AttachNIC implements hypervisor.Driver.
func (d *Driver) AttachNIC(ctx context.Context, id int64, n hypervisor.NIC) error {
	return d.live(ctx, id, func(v *VM) error {
		if !slices.ContainsFunc(v.Spec.NICs, func(x hypervisor.NIC) bool { return x.ID == n.ID }) {
			v.Spec.NICs = append(v.Spec.NICs, n)
		}
		return nil
	})
}

// DetachNIC implements hypervisor.Driver.
func (d *Driver) DetachNIC(ctx context.Context, id, nicID int64) error {
	return d.live(ctx, id, func(v *VM) error {
		v.Spec.NICs = slices.DeleteFunc(v.Spec.NICs, func(x hypervisor.NIC) bool { return x.ID == nicID })
		return nil
	})
}

// List implements hypervisor.Driver.
func (d *Driver) List(context.Context) ([]int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]int64, 0, len(d.vms))
	for id := range d.vms {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}
