package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ipam"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// The service is the ops.Handler: it decides what operations do to the objects, and hands
// the host work to the agent.
var _ ops.Handler = (*Service)(nil)

func decode[T any](op *store.Operation) (T, error) {
	var v T
	if err := json.Unmarshal(op.Spec, &v); err != nil {
		return v, fmt.Errorf("operation %d: bad spec: %w", op.ID, err)
	}
	return v, nil
}

func gone(obj api.Object, id int64) error {
	return api.Errorf(api.NotFound, obj, "%s %d no longer exists", obj, id)
}

// Begin re-checks an operation against the state its older operations left.
func (s *Service) Begin(tx store.Tx, op *store.Operation) error {
	c := &Caller{AccountID: op.AccountID, Handle: op.Source}
	vm := func() (*store.VM, error) {
		v, err := tx.VM(op.AccountID, op.VMID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, gone(api.ObjVM, op.VMID)
		}
		return v, err
	}
	disk := func(id int64) (*store.Disk, error) {
		d, err := tx.Disk(op.AccountID, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, gone(api.ObjDisk, id)
		}
		return d, err
	}
	switch op.Type {
	case ops.VMCreate:
		if _, err := vm(); err != nil {
			return err
		}
		d, err := disk(op.DiskID)
		if err != nil {
			return err
		}
		if d.State == api.StateBeingCreated {
			return ops.ErrWait
		}
		if d.VMID != op.VMID {
			return api.Errorf(api.Conflict, api.ObjDisk, "disk %d is no longer on vm %d", d.ID, op.VMID)
		}
		return nil
	case ops.VMStart, ops.VMReboot:
		v, err := vm()
		if err != nil {
			return err
		}
		return bootable(tx, v)
	case ops.VMStop:
		_, err := vm()
		return err
	case ops.VMMigrate: // the first operation (the finalized one never begins: it is made in RUN)
		v, err := vm()
		if err != nil {
			return err
		}
		spec, err := decode[ops.MigrateSpec](op)
		if err != nil {
			return err
		}
		if v.DatacenterID != spec.From {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is no longer in datacenter %d", v.ID, spec.From)
		}
		return nil
	case ops.VMMove:
		v, err := vm()
		if err != nil {
			return err
		}
		return beginMove(tx, op, v)
	case ops.DiskMigrate:
		d, err := disk(op.DiskID)
		if err != nil {
			return err
		}
		if d.VMID != 0 {
			return api.Errorf(api.Attached, api.ObjDisk, "disk %d is attached to vm %d", d.ID, d.VMID)
		}
		return nil
	case ops.VMDelete:
		v, err := vm()
		if err != nil {
			return err
		}
		if v.State == api.VMRunning {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is running: stop it first", v.ID)
		}
		return nil
	case ops.VMUpdate:
		v, err := vm()
		if err != nil {
			return err
		}
		u, err := decode[ops.VMUpdateSpec](op)
		if err != nil {
			return err
		}
		if u.Hostname != nil && *u.Hostname == v.Hostname {
			u.Hostname = nil
		}
		return s.checkVMUpdate(tx, c, v, &u)
	case ops.DiskCreate:
		d, err := disk(op.DiskID)
		if err != nil {
			return err
		}
		spec, err := decode[ops.DiskCreateSpec](op)
		if err != nil || spec.Source == 0 {
			return err
		}
		src, err := sourceDisk(tx, c, spec.Source)
		if err != nil {
			return gone(api.ObjDisk, spec.Source)
		}
		if src.State == api.StateBeingCreated {
			return ops.ErrWait
		}
		_ = d
		return nil
	case ops.DiskUpdate:
		d, err := disk(op.DiskID)
		if err != nil {
			return err
		}
		if d.State == api.StateBeingCreated {
			return ops.ErrWait
		}
		u, err := decode[ops.DiskUpdateSpec](op)
		if err != nil {
			return err
		}
		return s.checkDiskUpdate(d, &u)
	case ops.DiskDelete, ops.DiskRollback:
		d, err := disk(op.DiskID)
		if err != nil {
			return err
		}
		if d.VMID != 0 {
			return api.Errorf(api.Attached, api.ObjDisk, "disk#%d is attached to vm#%d", d.ID, d.VMID)
		}
		if op.Type == ops.DiskRollback {
			spec, err := decode[ops.DiskRollbackSpec](op)
			if err != nil {
				return err
			}
			if _, err := disk(spec.Snapshot); err != nil {
				return err
			}
		}
		return nil
	case ops.DiskAttach, ops.DiskDetach:
		v, err := vm()
		if err != nil {
			return err
		}
		d, err := disk(op.DiskID)
		if err != nil {
			return err
		}
		if d.State == api.StateBeingCreated {
			return ops.ErrWait
		}
		spec, err := decode[ops.AttachSpec](op)
		if err != nil {
			return err
		}
		if op.Type == ops.DiskAttach {
			return s.checkDiskAttach(tx, v, op.DiskID, spec)
		}
		return s.checkDiskDetach(tx, v, op.DiskID, spec)
	case ops.IfaceAttach, ops.IfaceDetach:
		v, err := vm()
		if err != nil {
			return err
		}
		if op.Type == ops.IfaceAttach {
			return s.checkIfaceAttach(tx, v, op.IfaceID, ops.AttachSpec{})
		}
		return checkIfaceDetach(tx, v, op.IfaceID, ops.AttachSpec{})
	case ops.IfaceCreate, ops.IfaceUpdate, ops.IfaceDelete:
		f, err := tx.Iface(op.AccountID, op.IfaceID)
		if errors.Is(err, store.ErrNotFound) {
			return gone(api.ObjIface, op.IfaceID)
		}
		if err != nil {
			return err
		}
		if op.Type == ops.IfaceDelete && f.VMID != 0 {
			return api.Errorf(api.Conflict, api.ObjIface, "iface %d is attached to vm %d", f.ID, f.VMID)
		}
		return nil
	case ops.IPUpdate:
		if _, err := tx.IP(op.AccountID, op.IPID); err != nil {
			return gone(api.ObjIP, op.IPID)
		}
		return nil
	case ops.AccountCredit:
		spec, err := decode[ops.CreditSpec](op)
		if err != nil {
			return err
		}
		a, err := tx.AccountByID(op.AccountID)
		if err != nil {
			return err
		}
		if a.PrepaidCents < spec.Cents {
			return api.Errorf(api.Conflict, api.ObjHosting, "the prepaid balance no longer covers %d credits", spec.Credits)
		}
		return nil
	case ops.VLANCreate, ops.VLANUpdate, ops.VLANDelete:
		if _, err := tx.VLAN(op.AccountID, op.VLANID); err != nil {
			return gone(api.ObjVLAN, op.VLANID)
		}
		if op.Type == ops.VLANDelete {
			n, err := tx.CountIfaces(store.Query{Scope: op.AccountID, Filters: []api.Filter{{Field: "vlan_id", Values: []any{op.VLANID}}}})
			if err != nil {
				return err
			}
			if n > 0 {
				return api.Errorf(api.Conflict, api.ObjVLAN, "vlan %d still has %d ifaces", op.VLANID, n)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown operation type %q", op.Type)
}

// Execute hands the host work to the agent.
func (s *Service) Execute(ctx context.Context, op *store.Operation) error {
	if s.exec == nil {
		return errors.New("no agent")
	}
	return s.exec.Execute(ctx, op)
}

// Complete records what a successful operation changed.
func (s *Service) Complete(tx store.Tx, op *store.Operation) error {
	now := s.now().UTC()
	switch op.Type {
	case ops.VMCreate, ops.VMStart, ops.VMReboot, ops.VMStop:
		v, err := tx.VM(op.AccountID, op.VMID)
		if err != nil {
			return err
		}
		v.State, v.Updated = api.VMRunning, now
		if op.Type == ops.VMStop {
			v.State = api.VMHalted
		} else {
			v.BootMemory = v.Memory
		}
		if op.Type == ops.VMCreate {
			op.Spec = []byte("{}") // the seed's secrets are not kept
		}
		if err := tx.UpdateVM(v); err != nil {
			return err
		}
		return placeWithVM(tx, v.ID)
	case ops.VMUpdate:
		return s.completeVMUpdate(tx, op, now)
	case ops.VMMigrate:
		if ops.InnerStep(op) == ops.MigrateSync {
			return s.completeMigrationSync(tx, op)
		}
		return completeVMMigration(tx, op, now)
	case ops.DiskMigrate:
		spec, err := decode[ops.MigrateSpec](op)
		if err != nil {
			return err
		}
		d, err := tx.Disk(op.AccountID, op.DiskID)
		if err != nil {
			return err
		}
		return moveDisk(tx, d, spec, now)
	case ops.VMDelete:
		return s.completeVMDelete(tx, op)
	case ops.DiskCreate:
		d, err := tx.Disk(op.AccountID, op.DiskID)
		if err != nil {
			return err
		}
		d.State, d.Updated = api.StateCreated, now
		return tx.UpdateDisk(d)
	case ops.DiskUpdate:
		return s.completeDiskUpdate(tx, op, now)
	case ops.DiskDelete:
		return tx.DeleteDisk(op.DiskID)
	case ops.DiskRollback:
		d, err := tx.Disk(op.AccountID, op.DiskID)
		if err != nil {
			return err
		}
		d.Updated = now
		return tx.UpdateDisk(d)
	case ops.DiskAttach:
		spec, err := decode[ops.AttachSpec](op)
		if err != nil {
			return err
		}
		if err := attachDisk(tx, op, spec, now); err != nil {
			return err
		}
		if err := followVM(tx, op.DiskID, op.VMID); err != nil {
			return err
		}
		return placeWithVM(tx, op.VMID)
	case ops.DiskDetach:
		return detachDisk(tx, op.AccountID, op.VMID, op.DiskID, now)
	case ops.IfaceCreate:
		ips, err := tx.IPsOfIface(op.IfaceID)
		if err != nil {
			return err
		}
		for _, ip := range ips {
			ip.State, ip.Updated = api.StateCreated, now
			if err := tx.UpdateIP(ip); err != nil {
				return err
			}
		}
		return nil
	case ops.IfaceUpdate:
		u, err := decode[ops.IfaceUpdateSpec](op)
		if err != nil {
			return err
		}
		f, err := tx.Iface(op.AccountID, op.IfaceID)
		if err != nil {
			return err
		}
		if u.Bandwidth != nil {
			f.Bandwidth = *u.Bandwidth
		}
		f.Updated = now
		return tx.UpdateIface(f)
	case ops.IfaceDelete:
		if err := tx.DeleteIPsOfIface(op.IfaceID); err != nil {
			return err
		}
		return tx.DeleteIface(op.IfaceID)
	case ops.IfaceAttach:
		f, err := tx.Iface(op.AccountID, op.IfaceID)
		if err != nil {
			return err
		}
		list, err := tx.IfacesOfVM(op.VMID)
		if err != nil {
			return err
		}
		f.VMID, f.Num, f.State, f.Updated = op.VMID, int64(len(list)), api.IfaceUsed, now
		return tx.UpdateIface(f)
	case ops.IfaceDetach:
		return detachIface(tx, op.AccountID, op.VMID, op.IfaceID, now)
	case ops.IPUpdate:
		spec, err := decode[ops.IPUpdateSpec](op)
		if err != nil {
			return err
		}
		ip, err := tx.IP(op.AccountID, op.IPID)
		if err != nil {
			return err
		}
		ip.Reverse = spec.Reverse
		if ip.Reverse == "" {
			dc, err := s.cat.Datacenter(ip.DatacenterID)
			if err != nil {
				return err
			}
			ip.Reverse = ipam.DefaultReverse(mustAddr(ip.IP.IP), dc.Code, s.cfg.ReverseDomain)
		}
		ip.Updated = now
		return tx.UpdateIP(ip)
	case ops.VLANCreate, ops.VLANUpdate:
		v, err := tx.VLAN(op.AccountID, op.VLANID)
		if err != nil {
			return err
		}
		if op.Type == ops.VLANUpdate {
			u, err := decode[ops.VLANUpdateSpec](op)
			if err != nil {
				return err
			}
			if u.Name != nil {
				v.Name = *u.Name
			}
			if u.Gateway != nil {
				v.Gateway = *u.Gateway
			}
		}
		v.State, v.Updated = api.StateCreated, now
		return tx.UpdateVLAN(v)
	case ops.VLANDelete:
		return tx.DeleteVLAN(op.VLANID)
	case ops.AccountCredit:
		spec, err := decode[ops.CreditSpec](op)
		if err != nil {
			return err
		}
		a, err := tx.AccountByID(op.AccountID)
		if err != nil {
			return err
		}
		a.PrepaidCents -= spec.Cents
		a.CreditsMilli += spec.Credits * 1000
		return tx.UpdateAccount(a)
	case ops.VMMove:
		return nil // recorded on its target at the switchover (advanceMove)
	}
	return fmt.Errorf("unknown operation type %q", op.Type)
}

func (s *Service) completeVMUpdate(tx store.Tx, op *store.Operation, now timeT) error {
	u, err := decode[ops.VMUpdateSpec](op)
	if err != nil {
		return err
	}
	v, err := tx.VM(op.AccountID, op.VMID)
	if err != nil {
		return err
	}
	if u.Memory != nil {
		v.Memory = *u.Memory
	}
	if u.Cores != nil {
		v.Cores = *u.Cores
	}
	if u.Console != nil {
		v.Console = *u.Console
	}
	if u.Hostname != nil {
		v.Hostname = *u.Hostname
	}
	if u.MaxMemory != nil && *u.MaxMemory != v.MaxMemory {
		v.MaxMemory = *u.MaxMemory
		v.BootMemory = v.Memory // the vm rebooted with its new maximum
	}
	v.Updated = now
	if u.Password != nil {
		op.Spec = []byte("{}")
	}
	return tx.UpdateVM(v)
}

func (s *Service) completeDiskUpdate(tx store.Tx, op *store.Operation, now timeT) error {
	u, err := decode[ops.DiskUpdateSpec](op)
	if err != nil {
		return err
	}
	d, err := tx.Disk(op.AccountID, op.DiskID)
	if err != nil {
		return err
	}
	if u.Name != nil {
		d.Name = *u.Name
	}
	if u.Size != nil {
		d.Size = *u.Size
	}
	if u.Kernel != nil {
		d.KernelVersion = *u.Kernel
		if k, ok := s.cat.Kernel(*u.Kernel); ok && u.Cmdline == nil && d.KernelCmdline == "" {
			d.KernelCmdline = k.Cmdline
		}
	}
	if u.Cmdline != nil {
		d.KernelCmdline = *u.Cmdline
	}
	if u.SnapshotProfile != nil {
		d.SnapshotProfileID = *u.SnapshotProfile
	}
	d.Updated = now
	return tx.UpdateDisk(d)
}

// completeVMDelete deletes the VM, its boot disk and first iface, and detaches the rest.
func (s *Service) completeVMDelete(tx store.Tx, op *store.Operation) error {
	now := s.now().UTC()
	disks, err := tx.DisksOfVM(op.VMID)
	if err != nil {
		return err
	}
	for _, d := range disks {
		if d.Position == 0 {
			if err := tx.DeleteDisk(d.ID); err != nil {
				return err
			}
			continue
		}
		d.VMID, d.Position, d.Updated = 0, 0, now
		if err := tx.UpdateDisk(d); err != nil {
			return err
		}
	}
	ifs, err := tx.IfacesOfVM(op.VMID)
	if err != nil {
		return err
	}
	for i, f := range ifs {
		if i == 0 {
			if err := tx.DeleteIPsOfIface(f.ID); err != nil {
				return err
			}
			if err := tx.DeleteIface(f.ID); err != nil {
				return err
			}
			continue
		}
		f.VMID, f.Num, f.State, f.Updated = 0, -1, api.IfaceFree, now
		if err := tx.UpdateIface(f); err != nil {
			return err
		}
	}
	return tx.DeleteVM(op.VMID)
}

// attachDisk places a disk on a VM following D14.
func attachDisk(tx store.Tx, op *store.Operation, spec ops.AttachSpec, now timeT) error {
	disks, err := tx.DisksOfVM(op.VMID)
	if err != nil {
		return err
	}
	d, err := tx.Disk(op.AccountID, op.DiskID)
	if err != nil {
		return err
	}
	n := int64(len(disks))
	if d.VMID == op.VMID { // already on the VM: swap with the disk at the position
		if spec.Position < 0 || spec.Position >= n || spec.Position == d.Position {
			d.ReadOnly = spec.ReadOnly
			return tx.UpdateDisk(d)
		}
		other := disks[spec.Position]
		other.Position, other.Updated = d.Position, now
		d.Position, d.ReadOnly, d.Updated = spec.Position, spec.ReadOnly, now
		if err := tx.UpdateDisk(other); err != nil {
			return err
		}
		return tx.UpdateDisk(d)
	}
	pos := spec.Position
	if pos < 0 || pos >= n {
		pos = n
	} else { // the disk at the position moves to the end
		other := disks[pos]
		other.Position, other.Updated = n, now
		if err := tx.UpdateDisk(other); err != nil {
			return err
		}
	}
	d.VMID, d.Position, d.ReadOnly, d.Updated = op.VMID, pos, spec.ReadOnly, now
	return tx.UpdateDisk(d)
}

// detachDisk takes a disk off its VM and closes the hole.
func detachDisk(tx store.Tx, account, vmID, diskID int64, now timeT) error {
	disks, err := tx.DisksOfVM(vmID)
	if err != nil {
		return err
	}
	var pos int64 = -1
	for _, d := range disks {
		switch {
		case d.ID == diskID:
			pos = d.Position
			d.VMID, d.Position, d.ReadOnly, d.Updated = 0, 0, false, now
		case pos >= 0:
			d.Position--
			d.Updated = now
		default:
			continue
		}
		if err := tx.UpdateDisk(d); err != nil {
			return err
		}
	}
	return nil
}

// detachIface takes an iface off its VM and renumbers the others.
func detachIface(tx store.Tx, account, vmID, ifaceID int64, now timeT) error {
	list, err := tx.IfacesOfVM(vmID)
	if err != nil {
		return err
	}
	var n int64
	for _, f := range list {
		if f.ID == ifaceID {
			f.VMID, f.Num, f.State = 0, -1, api.IfaceFree
		} else {
			f.Num = n
			n++
		}
		f.Updated = now
		if err := tx.UpdateIface(f); err != nil {
			return err
		}
	}
	return nil
}

// Fail undoes what an operation had reserved when it ends in ERROR or is cancelled.
func (s *Service) Fail(tx store.Tx, op *store.Operation, cause error) error {
	now := s.now().UTC()
	cancelled := errors.Is(cause, errCancelled)
	switch op.Type {
	case ops.VMCreate:
		v, err := tx.VM(op.AccountID, op.VMID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		op.Spec = []byte("{}")
		if cancelled { // the VM never existed: free its disk and iface
			if err := s.releaseVM(tx, op.AccountID, op.VMID, now); err != nil {
				return err
			}
			return tx.DeleteVM(op.VMID)
		}
		v.State, v.Updated = api.VMHalted, now
		return tx.UpdateVM(v)
	case ops.VMStart:
		v, err := tx.VM(op.AccountID, op.VMID)
		if err != nil {
			return ignoreGone(err)
		}
		if v.State == api.VMBeingCreated {
			v.State = api.VMHalted
			return tx.UpdateVM(v)
		}
	case ops.DiskCreate:
		d, err := tx.Disk(op.AccountID, op.DiskID)
		if err != nil {
			return ignoreGone(err)
		}
		if d.State != api.StateBeingCreated {
			return nil
		}
		if d.VMID != 0 {
			if err := detachDisk(tx, op.AccountID, d.VMID, d.ID, now); err != nil {
				return err
			}
		}
		return tx.DeleteDisk(d.ID)
	case ops.IfaceCreate:
		f, err := tx.Iface(op.AccountID, op.IfaceID)
		if err != nil {
			return ignoreGone(err)
		}
		if f.VMID != 0 {
			if err := detachIface(tx, op.AccountID, f.VMID, f.ID, now); err != nil {
				return err
			}
		}
		if err := tx.DeleteIPsOfIface(f.ID); err != nil {
			return err
		}
		return tx.DeleteIface(f.ID)
	case ops.VLANCreate:
		v, err := tx.VLAN(op.AccountID, op.VLANID)
		if err != nil {
			return ignoreGone(err)
		}
		if v.State == api.StateBeingCreated {
			return tx.DeleteVLAN(v.ID)
		}
	case ops.VMUpdate:
		op.Spec = []byte("{}")
	case ops.VMMigrate:
		// Failed after its stop, the VM is halted: in its old datacenter before the start
		// phase, in the new one in it. The user starts it again.
		if step := ops.InnerStep(op); step == ops.MigrateCopy || step == ops.MigrateStart {
			v, err := tx.VM(op.AccountID, op.VMID)
			if err != nil {
				return ignoreGone(err)
			}
			v.State, v.Updated = api.VMHalted, now
			return tx.UpdateVM(v)
		}
	}
	return nil
}

// releaseVM detaches every disk and iface of a VM.
func (s *Service) releaseVM(tx store.Tx, account, vmID int64, now timeT) error {
	disks, err := tx.DisksOfVM(vmID)
	if err != nil {
		return err
	}
	for _, d := range disks {
		d.VMID, d.Position, d.Updated = 0, 0, now
		if err := tx.UpdateDisk(d); err != nil {
			return err
		}
	}
	ifs, err := tx.IfacesOfVM(vmID)
	if err != nil {
		return err
	}
	for _, f := range ifs {
		f.VMID, f.Num, f.State, f.Updated = 0, -1, api.IfaceFree, now
		if err := tx.UpdateIface(f); err != nil {
			return err
		}
	}
	return nil
}

func ignoreGone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// placeWithVM gives the disks of a VM that lived nowhere yet (empty disks on a datacenter
// of several hosts) the VM's host: the agent just created them there.
func placeWithVM(tx store.Tx, vmID int64) error {
	v, err := tx.VM(store.AllAccounts, vmID)
	if err != nil {
		return err
	}
	disks, err := tx.DisksOfVM(vmID)
	if err != nil {
		return err
	}
	for _, d := range disks {
		if d.Host == "" {
			d.Host = v.Host
			if err := tx.UpdateDisk(d); err != nil {
				return err
			}
		}
	}
	return nil
}
