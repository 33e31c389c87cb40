package agent

import (
	"context"
	"errors"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// vmUpdate changes memory and cores live (a new vm_max_memory takes a reboot), then
// hands hostname and password to the guest's agent.
func (a *Agent) vmUpdate(ctx context.Context, op *store.Operation) error {
	u, err := decode[ops.VMUpdateSpec](op)
	if err != nil {
		return err
	}
	if err := a.vmUpdateHardware(ctx, op, u); err != nil {
		return err
	}
	a.guestUpdate(ctx, op, u)
	return nil
}

// vmUpdateHardware changes memory and cores.
func (a *Agent) vmUpdateHardware(ctx context.Context, op *store.Operation, u ops.VMUpdateSpec) error {
	run, err := a.running(ctx, op.VMID)
	if err != nil || !run {
		return err // a halted VM takes the new values at its next start
	}
	v, err := a.load(ctx, op.VMID)
	if err != nil {
		return err
	}
	if u.MaxMemory != nil && *u.MaxMemory != v.vm.MaxMemory {
		if err := a.hv.Stop(ctx, op.VMID); err != nil {
			return err
		}
		v.vm.MaxMemory = *u.MaxMemory
		if u.Memory != nil {
			v.vm.Memory = *u.Memory
		}
		if u.Cores != nil {
			v.vm.Cores = *u.Cores
		}
		return a.start(ctx, v, a.seedPath(ctx, op.VMID))
	}
	if u.Memory != nil && *u.Memory != v.vm.Memory {
		a.capMu.Lock()
		err := a.reserve(ctx, op.VMID, *u.Memory)
		if err == nil {
			err = a.hv.SetMemory(ctx, op.VMID, *u.Memory)
		}
		a.capMu.Unlock()
		if err != nil {
			return err
		}
	}
	if u.Cores != nil && *u.Cores != v.vm.Cores {
		if err := a.hv.SetCores(ctx, op.VMID, *u.Cores); err != nil {
			return err
		}
	}
	return nil
}

// vmDelete stops and removes the VM, its boot disk's data and its taps.
func (a *Agent) vmDelete(ctx context.Context, op *store.Operation) error {
	v, err := a.load(ctx, op.VMID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := a.hv.Stop(ctx, op.VMID); err != nil {
		return err
	}
	if err := a.hv.Destroy(ctx, op.VMID); err != nil {
		return err
	}
	if a.seed != nil {
		if err := a.seed.Remove(ctx, op.VMID); err != nil {
			return err
		}
	}
	if err := a.deletePorts(ctx, v); err != nil {
		return err
	}
	for _, d := range v.disks {
		if d.Position == 0 {
			return a.vol.Delete(ctx, d.ID)
		}
	}
	return nil
}

// diskUpdate grows a disk: online through the hypervisor when its VM runs.
func (a *Agent) diskUpdate(ctx context.Context, op *store.Operation) error {
	u, err := decode[ops.DiskUpdateSpec](op)
	if err != nil || u.Size == nil {
		return err
	}
	var d *store.Disk
	if err := a.st.Read(ctx, func(tx store.Tx) error {
		d, err = tx.Disk(store.AllAccounts, op.DiskID)
		return err
	}); err != nil {
		return err
	}
	if *u.Size <= d.Size || d.Host == "" {
		return nil // nothing to grow: an unplaced disk is made at its new size
	}
	if d.VMID != 0 {
		run, err := a.running(ctx, d.VMID)
		if err != nil {
			return err
		}
		if run {
			if err := a.vol.Grow(ctx, d.ID, *u.Size); err != nil {
				return err
			}
			return a.hv.ResizeDisk(ctx, d.VMID, d.ID, *u.Size)
		}
	}
	return a.vol.Resize(ctx, d.ID, *u.Size)
}

// diskAttach hot-plugs a disk in or out of a running VM. A change of boot disk needs a
// halted VM, so it touches nothing here: the next start uses the new order.
func (a *Agent) diskAttach(ctx context.Context, op *store.Operation) error {
	var d *store.Disk
	err := a.st.Read(ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.Disk(store.AllAccounts, op.DiskID)
		return err
	})
	if err != nil {
		return err
	}
	if op.Type == ops.DiskAttach && d.Host != "" && d.Host != a.host {
		// The disk lives on another host of the datacenter: it follows the VM.
		if err := a.pullDisk(ctx, d); err != nil {
			return err
		}
	}
	if op.Type == ops.DiskAttach && d.Host == "" {
		// An empty disk that lived nowhere yet: it is made here, on its VM's host.
		if err := a.vol.Create(ctx, d.ID, d.Size); err != nil {
			return err
		}
	}
	run, err := a.running(ctx, op.VMID)
	if err != nil || !run {
		return err
	}
	if op.Type == ops.DiskDetach {
		return a.hv.DetachDisk(ctx, op.VMID, op.DiskID)
	}
	spec, err := decode[ops.AttachSpec](op)
	if err != nil {
		return err
	}
	if d.VMID == op.VMID { // a swap of positions: takes effect at the next boot
		return nil
	}
	hd := a.disk(d)
	hd.ReadOnly = spec.ReadOnly
	return a.hv.AttachDisk(ctx, op.VMID, hd)
}

// ifaceOp creates, updates and removes taps and hot-plugs NICs.
func (a *Agent) ifaceOp(ctx context.Context, op *store.Operation) error {
	var f *store.Iface
	err := a.st.Read(ctx, func(tx store.Tx) error {
		var err error
		f, err = tx.Iface(store.AllAccounts, op.IfaceID)
		return err
	})
	if err != nil {
		return err
	}
	if op.Type == ops.IfaceUpdate {
		u, err := decode[ops.IfaceUpdateSpec](op)
		if err != nil {
			return err
		}
		if u.Bandwidth != nil {
			f.Bandwidth = *u.Bandwidth
		}
	}
	port, hasPort := a.nets.Port(f)
	switch op.Type {
	case ops.IfaceAttach:
		if hasPort {
			if err := a.net.EnsurePort(ctx, port); err != nil {
				return err
			}
		}
		if err := a.refreshSeed(ctx, op.VMID, f); err != nil {
			return err
		}
		if run, err := a.running(ctx, op.VMID); err != nil || !run {
			return err
		}
		return a.hv.AttachNIC(ctx, op.VMID, a.nic(f))
	case ops.IfaceDetach:
		if run, err := a.running(ctx, op.VMID); err != nil {
			return err
		} else if run {
			if err := a.hv.DetachNIC(ctx, op.VMID, f.ID); err != nil && !errors.Is(err, hypervisor.ErrNotRunning) {
				return err
			}
		}
		if hasPort {
			return a.net.DeletePort(ctx, port)
		}
	case ops.IfaceUpdate:
		if hasPort && f.VMID != 0 {
			return a.net.EnsurePort(ctx, port)
		}
	case ops.IfaceDelete:
		if hasPort {
			return a.net.DeletePort(ctx, port)
		}
	}
	return nil
}

// refreshSeed rewrites the NIC data of a VM's seed with its ifaces plus extra (being
// attached), so the guest configures the new NIC from it: addresses reach a hot-plugged NIC
// without a reboot, and a later boot too.
func (a *Agent) refreshSeed(ctx context.Context, vmID int64, extra *store.Iface) error {
	up, ok := a.seed.(NICUpdater)
	if !ok || a.seed.Path(vmID) == "" {
		return nil
	}
	v, err := a.load(ctx, vmID)
	if err != nil {
		return err
	}
	if err := a.st.Read(ctx, func(tx store.Tx) error {
		ips, err := tx.IPsOfIface(extra.ID)
		v.ips[extra.ID] = ips
		return err
	}); err != nil {
		return err
	}
	v.ifaces = append(v.ifaces, extra)
	return up.UpdateNICs(ctx, vmID, a.seedNICs(v))
}
