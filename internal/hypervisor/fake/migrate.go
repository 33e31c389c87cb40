package fake

import (
	"context"
	"fmt"
	"slices"

	"github.com/berth-io/berth/internal/hypervisor"
)

// The fake live-migrates by the same steps as the real driver, between two fakes (two
// hosts): the target holds a paused copy of the spec until the source switches over.

// Migration states of a fake VM.
const (
	MigIncoming  = "incoming"  // target: waiting for the migration
	MigMirroring = "mirroring" // source: disks mirrored
	MigCompleted = "completed" // source: the target holds the guest
)

// Layout implements hypervisor.Migrator.
func (d *Driver) Layout(ctx context.Context, id int64) (hypervisor.Layout, error) {
	var lay hypervisor.Layout
	err := d.live(ctx, id, func(v *VM) error {
		lay = hypervisor.Layout{Machine: "fake", BaseMemoryMB: v.Spec.MemoryMB, MaxMemMB: v.Spec.MaxMemMB,
			BootCores: v.Spec.Cores, MaxCores: v.Spec.MaxCores, PCISlots: map[string]int{}}
		for i, dk := range v.Spec.Disks {
			lay.PCISlots[fmt.Sprintf("vd%d", dk.ID)] = i + 4
		}
		for i, n := range v.Spec.NICs {
			lay.PCISlots[fmt.Sprintf("nic%d", n.ID)] = i + 16
		}
		return nil
	})
	return lay, err
}

// PrepareIncoming implements hypervisor.Migrator: spec must have the layout's devices.
func (d *Driver) PrepareIncoming(ctx context.Context, spec hypervisor.Spec, lay hypervisor.Layout, tr hypervisor.Transport) (hypervisor.Incoming, error) {
	in := hypervisor.Incoming{MigrateURI: fmt.Sprintf("fake:%s:%d", tr.Host, spec.ID)}
	if n := len(spec.Disks) + len(spec.NICs); n != len(lay.PCISlots) {
		return in, fmt.Errorf("prepare vm %d: %d devices, the source has %d", spec.ID, n, len(lay.PCISlots))
	}
	return in, d.change(ctx, func() error {
		if v, ok := d.vms[spec.ID]; ok && (v.Running || v.Migration != MigIncoming) {
			return fmt.Errorf("prepare vm %d: it exists here already", spec.ID)
		}
		spec.Disks, spec.NICs = slices.Clone(spec.Disks), slices.Clone(spec.NICs)
		d.vms[spec.ID] = &VM{Spec: spec, Migration: MigIncoming}
		return nil
	})
}

// MirrorDisks implements hypervisor.Migrator.
func (d *Driver) MirrorDisks(ctx context.Context, id int64, _ hypervisor.Incoming, _ []hypervisor.MirrorDisk) error {
	return d.live(ctx, id, func(v *VM) error { v.Migration = MigMirroring; return nil })
}

// Migrate implements hypervisor.Migrator.
func (d *Driver) Migrate(ctx context.Context, id int64, _ hypervisor.Incoming, opts hypervisor.MigrateOptions) error {
	if v, ok := d.Get(id); ok && v.Migration == MigCompleted {
		return nil
	}
	if err := d.live(ctx, id, func(v *VM) error {
		if v.Migration != MigMirroring {
			return fmt.Errorf("migrate vm %d: no disk mirror runs", id)
		}
		return nil
	}); err != nil {
		return err
	}
	if d.OnMigrate != nil {
		d.OnMigrate(id)
	}
	if opts.PreSwitchover != nil {
		if err := opts.PreSwitchover(ctx); err != nil {
			return fmt.Errorf("before the switchover: %w", err)
		}
	}
	return d.live(ctx, id, func(v *VM) error { v.Running, v.Migration = false, MigCompleted; return nil })
}

// CancelOutgoing implements hypervisor.Migrator.
func (d *Driver) CancelOutgoing(ctx context.Context, id int64) error {
	return d.change(ctx, func() error {
		v, ok := d.vms[id]
		if !ok {
			return fmt.Errorf("vm %d: %w", id, hypervisor.ErrNotRunning)
		}
		if v.Migration == MigCompleted {
			return hypervisor.ErrMigrationCompleted
		}
		v.Migration = ""
		return nil
	})
}

// FinishIncoming implements hypervisor.Migrator.
func (d *Driver) FinishIncoming(ctx context.Context, id int64) error {
	return d.change(ctx, func() error {
		v, ok := d.vms[id]
		switch {
		case ok && v.Running:
			return nil
		case !ok || v.Migration != MigIncoming:
			return fmt.Errorf("vm %d: no incoming migration", id)
		}
		v.Running, v.Migration = true, "" // the guest goes on: no boot
		return nil
	})
}
