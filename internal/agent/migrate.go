package agent

import (
	"context"
	"errors"

	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/seed"
	"github.com/berth-io/berth/internal/store"
)

// migrateVM does the host work of each phase of a VM's migration between datacenters
// (see service/migrate.go): the service moves the objects between the phases.
func (a *Agent) migrateVM(ctx context.Context, op *store.Operation) error {
	spec, err := decode[ops.MigrateSpec](op)
	if err != nil {
		return err
	}
	switch step := ops.InnerStep(op); step {
	case ops.MigrateSync:
		// On the target host, the first call: the disks move only when the VM is stopped
		// (finalize), so what is checked now is that this host can run it.
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		a.capMu.Lock()
		defer a.capMu.Unlock()
		return a.reserve(ctx, v.vm.ID, v.vm.Memory)
	case ops.MigrateStop:
		// On the source host: the VM stops, and its taps in the old datacenter go.
		if err := a.hv.Stop(ctx, op.VMID); err != nil {
			return err
		}
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		if err := a.deletePorts(ctx, v); err != nil {
			return err
		}
		return &ops.Next{Step: ops.MigrateCopy, Queue: spec.Queue}
	case ops.MigrateCopy:
		// On the target host: the disks that live elsewhere are copied here.
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		for _, d := range v.disks {
			if d.Host != "" && d.Host != a.host {
				if err := a.pullDisk(ctx, d); err != nil {
					return err
				}
			}
		}
		return &ops.Next{Step: ops.MigrateStart}
	case ops.MigrateStart:
		// On the target host, the VM now in its new datacenter: its first-boot data gets
		// the new addresses, and it starts if it ran.
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		if err := a.reseed(ctx, v); err != nil {
			return err
		}
		if !spec.Running {
			return nil
		}
		if ok, err := a.running(ctx, op.VMID); err != nil || ok {
			return err
		}
		return a.start(ctx, v, a.seedPath(ctx, op.VMID))
	default:
		return errors.New("hosting_migration_vm: unknown phase " + step)
	}
}

// reseed rewrites a VM's first-boot data with its NICs' addresses now. On a host that has
// none of it (the VM came from another host), it is made again without the first boot's
// secrets: the guest, which keeps its instance id, does not run its first boot again.
func (a *Agent) reseed(ctx context.Context, v *view) error {
	if a.seed == nil {
		return nil
	}
	if a.seed.Path(v.vm.ID) == "" {
		_, err := a.seed.Seed(ctx, v.vm.ID, v.vm.EntityID, seed.FirstBoot{Hostname: v.vm.Hostname}, a.seedNICs(v))
		return err
	}
	if up, ok := a.seed.(NICUpdater); ok {
		return up.UpdateNICs(ctx, v.vm.ID, a.seedNICs(v))
	}
	return nil
}

// migrateDisk copies a detached disk to the target host of its migration when it lives
// on another one.
func (a *Agent) migrateDisk(ctx context.Context, op *store.Operation) error {
	var d *store.Disk
	if err := a.st.Read(ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.Disk(store.AllAccounts, op.DiskID)
		return err
	}); err != nil {
		return err
	}
	if d.Host == "" || d.Host == a.host {
		return nil
	}
	return a.pullDisk(ctx, d)
}
