package service

import (
	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// diskMoving reports whether a disk is being moved: an unfinished migration to another
// datacenter (its own or its VM's), or an unfinished attach to a VM of another host (the
// attach copies the disk to the VM's host, then attaches it).
func diskMoving(tx store.Tx, d *store.Disk) (bool, error) {
	if d.VMID != 0 {
		op, err := pendingMigration(tx, d.VMID)
		if err != nil || op != nil {
			return op != nil, err
		}
	}
	pending, err := tx.Operations(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
		{Field: "disk_id", Values: []any{d.ID}},
		{Field: "type", Op: api.OpIn, Values: []any{ops.DiskAttach, ops.DiskMigrate}},
		{Field: "step", Op: api.OpIn, Values: []any{api.StepBill, api.StepWait, api.StepRun}},
	}})
	if err != nil {
		return false, err
	}
	for _, op := range pending {
		if op.Type == ops.DiskMigrate {
			return true, nil
		}
		if d.Host == "" {
			continue
		}
		v, err := tx.VM(store.AllAccounts, op.VMID)
		if err != nil {
			continue
		}
		if v.Host != "" && v.Host != d.Host {
			return true, nil
		}
	}
	return false, nil
}

// canSend checks that the host a disk lives on can send it to another host (it serves an
// internal listener; an all-in-one host or an agent without one cannot).
func canSend(tx store.Tx, host string, diskID int64) error {
	hosts, err := tx.Hosts()
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h.Name == host && h.InternalURL == "" {
			return api.Errorf(api.Conflict, api.ObjDisk, "disk %d lives on host %s, which cannot send it to another host (no internal listener): attach it to a vm of host %s", diskID, host, host)
		}
	}
	return nil
}

// followVM records that a disk attached to a VM lives on the VM's host (an attach across
// hosts copied it there; the old host removes its copy once it sees this).
func followVM(tx store.Tx, diskID, vmID int64) error {
	v, err := tx.VM(store.AllAccounts, vmID)
	if err != nil {
		return err
	}
	d, err := tx.Disk(store.AllAccounts, diskID)
	if err != nil {
		return err
	}
	if v.Host == "" || d.Host == v.Host {
		return nil
	}
	d.Host = v.Host
	return tx.UpdateDisk(d)
}
