package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// Gandi's migration between datacenters (hosting.vm.can_migrate, hosting.vm.migrate,
// hosting.disk.migrate). A datacenter's can_migrate_to (configuration) says where its VMs
// and disks may go. A VM moves in two calls:
//
//   - vm.migrate(vm, false) makes a hosting_migration_vm operation in wait_sync, on the
//     target host: it checks the target can take the VM and ends DONE. Its completion
//     leaves a second hosting_migration_vm operation waiting in RUN at wait_finalize (what
//     gandi.cli looks for before it finalizes). The VM keeps running meanwhile.
//   - vm.migrate(vm, true) resumes that operation: stop on the source host, copy the
//     disks to the target host when it is another one, then, in one transaction, the VM,
//     its disks and ifaces move to the target datacenter, and the public ifaces trade
//     their addresses for new ones from its pools; the VM starts there if it ran.
//
// The VM, its disks and ifaces keep their ids, so billing goes on unchanged: a migration
// costs nothing of its own. A VM with a private iface cannot migrate (a VLAN belongs to
// one datacenter).

// Resumer resumes parked phases of long operations (the ops engine).
type Resumer interface {
	Resume(ctx context.Context, tx store.Tx, op *store.Operation, want string, n ops.Next) error
}

// MigrateCheck is the answer of vm.can_migrate: whether the VM may migrate now, the
// datacenters its own may migrate to (matched), and those of them open (can_migrate_to),
// by dc_code.
type MigrateCheck struct {
	CanMigrate   bool
	Matched      []string
	CanMigrateTo []string
}

// VMCanMigrate says whether and where a VM may migrate.
func (s *Service) VMCanMigrate(ctx context.Context, c *Caller, id int64) (*MigrateCheck, error) {
	out := &MigrateCheck{Matched: []string{}, CanMigrateTo: []string{}}
	err := s.read(ctx, func(tx store.Tx) error {
		v, err := tx.VM(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjVM, id)
		}
		all, open := s.migrationTargets(v.DatacenterID)
		for _, dc := range all {
			out.Matched = append(out.Matched, dc.Code)
		}
		for _, dc := range open {
			out.CanMigrateTo = append(out.CanMigrateTo, dc.Code)
		}
		if len(out.CanMigrateTo) == 0 {
			return nil
		}
		// A migration waiting for its finalize can go on: gandi.cli asks can_migrate
		// before it finalizes too.
		if op, err := pendingMigration(tx, v.ID); err != nil || op != nil {
			out.CanMigrate = op != nil && ops.InnerStep(op) == ops.MigrateWaitFinalize
			return err
		}
		_, err = s.migrationTarget(tx, c, v)
		out.CanMigrate = err == nil
		if api.AsError(err) != nil {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// migrationTargets returns the datacenters datacenter dc's VMs and disks may migrate to
// (its can_migrate_to), and those of them open to VMs.
func (s *Service) migrationTargets(dc int64) (all, open []*Datacenter) {
	d, err := s.cat.Datacenter(dc)
	if err != nil {
		return nil, nil
	}
	for _, id := range d.CanMigrateTo {
		if t, err := s.cat.Datacenter(id); err == nil {
			all = append(all, t)
			if t.IaaSClosedFor != "ALL" {
				open = append(open, t)
			}
		}
	}
	return all, open
}

// migrationTarget checks that VM v may migrate now and returns its operation's spec: the
// first open datacenter of its own's can_migrate_to, and the host there (the VM's own
// when it serves that datacenter).
func (s *Service) migrationTarget(tx store.Tx, c *Caller, v *store.VM) (ops.MigrateSpec, error) {
	spec := ops.MigrateSpec{From: v.DatacenterID}
	if _, open := s.migrationTargets(v.DatacenterID); len(open) > 0 {
		spec.To = open[0].ID
	}
	if spec.To == 0 {
		return spec, api.Errorf(api.Conflict, api.ObjVM, "vm %d cannot migrate: datacenter %d has no open datacenter to migrate to", v.ID, v.DatacenterID)
	}
	if err := canMove(tx, v, "migrate"); err != nil {
		return spec, err
	}
	ifaces, err := tx.IfacesOfVM(v.ID)
	if err != nil {
		return spec, err
	}
	for _, f := range ifaces {
		if f.VLANID != 0 {
			return spec, api.Errorf(api.Conflict, api.ObjVM, "vm %d has private iface %d in vlan %d, which stays in its datacenter: detach it before the migration", v.ID, f.ID, f.VLANID)
		}
	}
	disks, err := tx.DisksOfVM(v.ID)
	if err != nil {
		return spec, err
	}
	var size int64
	for _, d := range disks {
		size += d.Size
	}
	spec.Host, err = s.targetHost(tx, v.Host, spec.To, v.Memory, size)
	spec.Queue = HostQueue(spec.Host)
	if err != nil {
		return spec, err
	}
	for _, d := range disks {
		if err := movable(tx, d, v.Host, spec.Host); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// movable checks that a disk can be copied from host from to host to: a disk made from an
// image is an overlay of that image's file, which a host of another datacenter does not
// have (each host keeps the images of its datacenters). Flattening it on the way is not
// done yet.
func movable(tx store.Tx, d *store.Disk, from, to string) error {
	if from == to || d.Host == "" || d.Source == 0 {
		return nil
	}
	src, err := tx.Disk(store.AllAccounts, d.Source)
	if err != nil || src.AccountID != 0 {
		return nil // a copy of a user's disk, or of one gone: no backing file
	}
	return api.Errorf(api.Unavailable, api.ObjDisk, "disk %d is made from image disk %d, which host %s of the target datacenter does not have: migrating it to another host is not supported yet", d.ID, src.ID, to)
}

// targetHost is where an object of host from lands in datacenter to: the same host when
// it serves to (nothing to copy), else the host placement chooses there.
func (s *Service) targetHost(tx store.Tx, from string, to, memMB, diskMB int64) (string, error) {
	if from != "" {
		hosts, err := tx.Hosts()
		if err != nil {
			return "", err
		}
		for _, h := range hosts {
			if h.Name == from && h.State == store.HostUp && !h.Draining && (h.DatacenterID == 0 || h.DatacenterID == to) {
				return from, nil
			}
		}
	}
	return s.place(tx, to, memMB, diskMB)
}

// movingTypes are the operations during which a VM is migrating (is_migrating): Gandi's
// migration between datacenters and an operator's move between hosts.
var movingTypes = []any{ops.VMMigrate, ops.VMMove}

// pendingMigration returns the unfinished hosting_migration_vm or vm_move operation of a
// VM, or nil.
func pendingMigration(tx store.Tx, vmID int64) (*store.Operation, error) {
	list, err := tx.Operations(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
		{Field: "vm_id", Values: []any{vmID}},
		{Field: "type", Op: api.OpIn, Values: movingTypes},
		{Field: "step", Op: api.OpIn, Values: []any{api.StepBill, api.StepWait, api.StepRun}},
	}})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

// canMove checks that VM v may start to move (verb: migrate, move): it runs or is
// halted, and no other migration or move of it is unfinished.
func canMove(tx store.Tx, v *store.VM, verb string) error {
	if v.State != api.VMRunning && v.State != api.VMHalted {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is %s: it can %s when running or halted", v.ID, v.State, verb)
	}
	return notMigrating(tx, v)
}

// notMigrating checks that VM v has no unfinished migration.
func notMigrating(tx store.Tx, v *store.VM) error {
	op, err := pendingMigration(tx, v.ID)
	if err != nil || op == nil {
		return err
	}
	if op.Type == ops.VMMove {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is moving to another host (operation %d, %s): try again when it ends", v.ID, op.ID, ops.InnerStep(op))
	}
	return api.Errorf(api.Conflict, api.ObjVM, "vm %d is migrating (operation %d, %s): finalize or cancel the migration first", v.ID, op.ID, ops.InnerStep(op))
}

// VMMigrate starts the migration of a VM to another datacenter (finalize false), or
// finalizes the one waiting for it.
func (s *Service) VMMigrate(ctx context.Context, c *Caller, id int64, finalize bool) (*api.Operation, error) {
	vm := func(tx store.Tx) (*store.VM, error) {
		v, err := tx.VM(c.AccountID, id)
		if err != nil {
			return nil, notFound(err, api.ObjVM, id)
		}
		return v, hostUp(tx, v.Host, api.ObjVM, v.ID)
	}
	if finalize {
		var out api.Operation
		err := s.write(ctx, func(tx store.Tx) error {
			v, err := vm(tx)
			if err != nil {
				return err
			}
			op, err := s.finalizeMigration(ctx, tx, v)
			if err == nil {
				out = op.Operation
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		return &out, nil
	}
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		v, err := vm(tx)
		if err != nil {
			return nil, err
		}
		spec, err := s.migrationTarget(tx, c, v)
		if err != nil {
			return nil, err
		}
		op, err := s.newOp(c, ops.VMMigrate, spec)
		if err != nil {
			return nil, err
		}
		op.VMID, op.DatacenterID, op.Queue = v.ID, v.DatacenterID, spec.Queue
		migrationParams(op, spec, ops.MigrateSync)
		return op, nil
	})
}

func migrationParams(op *store.Operation, spec ops.MigrateSpec, step string) {
	if op.Params == nil {
		op.Params = map[string]any{}
	}
	op.Params["from_dc_id"], op.Params["to_dc_id"], op.Params[ops.ParamInnerStep] = spec.From, spec.To, step
}

// finalizeMigration resumes the migration of v waiting in wait_finalize.
func (s *Service) finalizeMigration(ctx context.Context, tx store.Tx, v *store.VM) (*store.Operation, error) {
	op, err := pendingMigration(tx, v.ID)
	if err != nil {
		return nil, err
	}
	if op == nil || ops.InnerStep(op) != ops.MigrateWaitFinalize {
		msg := "vm %d has no migration to finalize: call vm.migrate without finalize first"
		if op != nil {
			msg = "vm %d has no migration to finalize yet: its operation " + fmt.Sprint(op.ID) + " is in " + ops.InnerStep(op)
		}
		return nil, api.Errorf(api.Conflict, api.ObjVM, msg, v.ID)
	}
	r, ok := s.enq.(Resumer)
	if !ok {
		return nil, fmt.Errorf("the operations engine cannot resume operations")
	}
	spec, err := decode[ops.MigrateSpec](op)
	if err != nil {
		return nil, err
	}
	if err := hostUp(tx, spec.Host, api.ObjVM, v.ID); err != nil {
		return nil, err
	}
	spec.Running = v.State == api.VMRunning
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := r.Resume(ctx, tx, op, ops.MigrateWaitFinalize, ops.Next{Step: ops.MigrateStop, Queue: HostQueue(v.Host), Spec: b}); err != nil {
		return nil, err
	}
	return op, nil
}

// completeMigrationSync ends the first operation of a VM's migration: it records
// wait_finalize and leaves the operation the finalize call resumes, in RUN, parked.
func (s *Service) completeMigrationSync(tx store.Tx, op *store.Operation) error {
	spec, err := decode[ops.MigrateSpec](op)
	if err != nil {
		return err
	}
	op.Params[ops.ParamInnerStep] = ops.MigrateWaitFinalize
	next := *op
	next.ID, next.Step, next.LastError, next.Params = 0, api.StepRun, "", map[string]any{}
	now := s.now().UTC()
	next.Created, next.Updated, next.Started = now, now, &now
	for k, v := range op.Params {
		next.Params[k] = v
	}
	delete(next.Params, ops.ParamPhase)
	migrationParams(&next, spec, ops.MigrateWaitFinalize)
	return tx.InsertOperation(&next)
}

// Advance implements ops.Advancer: before a migrated VM starts on its target, the VM, its
// disks and ifaces move to the target datacenter and host, in one transaction; a VM
// moved to another host is recorded there at its switchover (advanceMove).
func (s *Service) Advance(tx store.Tx, op *store.Operation, n *ops.Next) error {
	if op.Type == ops.VMMove {
		return s.advanceMove(tx, op, n)
	}
	if op.Type != ops.VMMigrate || n.Step != ops.MigrateStart {
		return nil
	}
	spec, err := decode[ops.MigrateSpec](op)
	if err != nil {
		return err
	}
	return s.moveVM(tx, op.AccountID, op.VMID, spec)
}

// moveVM moves VM id with its disks and ifaces to datacenter spec.To on host spec.Host;
// each public iface gets new addresses (same versions) from the target's pools.
func (s *Service) moveVM(tx store.Tx, account, id int64, spec ops.MigrateSpec) error {
	now := s.now().UTC()
	v, err := tx.VM(account, id)
	if err != nil {
		return err
	}
	v.DatacenterID, v.Host, v.Updated = spec.To, spec.Host, now
	if err := tx.UpdateVM(v); err != nil {
		return err
	}
	disks, err := tx.DisksOfVM(id)
	if err != nil {
		return err
	}
	for _, d := range disks {
		if err := moveDisk(tx, d, spec, now); err != nil {
			return err
		}
	}
	ifaces, err := tx.IfacesOfVM(id)
	if err != nil {
		return err
	}
	c := &Caller{AccountID: account}
	for _, f := range ifaces {
		if f.VLANID != 0 {
			return api.Errorf(api.Conflict, api.ObjIface, "iface %d is in vlan %d, which stays in datacenter %d", f.ID, f.VLANID, spec.From)
		}
		old, err := tx.IPsOfIface(f.ID)
		if err != nil {
			return err
		}
		if err := tx.DeleteIPsOfIface(f.ID); err != nil {
			return err
		}
		f.DatacenterID, f.Updated = spec.To, now
		if err := tx.UpdateIface(f); err != nil {
			return err
		}
		for _, ip := range old {
			pool, err := s.PublicPool(spec.To, ip.Version)
			if err != nil {
				return err
			}
			nip, err := s.allocate(tx, c, f, pool, publicNetwork(spec.To, ip.Version), ip.Version, ip.Num, "")
			if err != nil {
				return err
			}
			nip.State = api.StateCreated
			if err := tx.UpdateIP(nip); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveDisk records that a disk is in datacenter spec.To, on host spec.Host when it lived
// on one (a disk that holds nothing yet stays unplaced).
func moveDisk(tx store.Tx, d *store.Disk, spec ops.MigrateSpec, now timeT) error {
	d.DatacenterID, d.Updated = spec.To, now
	if d.Host != "" {
		d.Host = spec.Host
	}
	return tx.UpdateDisk(d)
}

// completeVMMigration records the end of a finalized migration: the VM runs (or not) in
// its new datacenter.
func completeVMMigration(tx store.Tx, op *store.Operation, now timeT) error {
	spec, err := decode[ops.MigrateSpec](op)
	if err != nil {
		return err
	}
	v, err := tx.VM(op.AccountID, op.VMID)
	if err != nil {
		return err
	}
	v.State, v.Updated = api.VMHalted, now
	if spec.Running {
		v.State = api.VMRunning
	}
	if err := tx.UpdateVM(v); err != nil {
		return err
	}
	return placeWithVM(tx, v.ID)
}

// DiskMigrate moves a detached disk to another datacenter (one of its own's
// can_migrate_to): operation hosting_migration_disk, which copies it to a host of the
// target datacenter when its own host does not serve it.
func (s *Service) DiskMigrate(ctx context.Context, c *Caller, id, to int64) (*api.Operation, error) {
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		d, err := tx.Disk(c.AccountID, id)
		if err != nil {
			return nil, notFound(err, api.ObjDisk, id)
		}
		if d.VMID != 0 {
			return nil, api.Errorf(api.Attached, api.ObjDisk, "disk %d is attached to vm %d: detach it before the migration", d.ID, d.VMID)
		}
		if d.State != api.StateCreated {
			return nil, api.Errorf(api.Conflict, api.ObjDisk, "disk %d is %s", d.ID, d.State)
		}
		all, _ := s.migrationTargets(d.DatacenterID)
		if !slices.ContainsFunc(all, func(t *Datacenter) bool { return t.ID == to }) {
			return nil, api.Errorf(api.Invalid, api.ObjDisk, "disk %d cannot migrate from datacenter %d to %d (can_migrate_to of datacenter.list)", d.ID, d.DatacenterID, to)
		}
		if err := s.dcOpen(tx, c, to); err != nil {
			return nil, err
		}
		if moving, err := diskMoving(tx, d); err != nil || moving {
			if err == nil {
				err = api.Errorf(api.Conflict, api.ObjDisk, "disk %d is already moving", d.ID)
			}
			return nil, err
		}
		spec := ops.MigrateSpec{From: d.DatacenterID, To: to}
		if d.Host != "" {
			if err := hostUp(tx, d.Host, api.ObjDisk, d.ID); err != nil {
				return nil, err
			}
			if spec.Host, err = s.targetHost(tx, d.Host, to, 0, d.Size); err != nil {
				return nil, err
			}
			spec.Queue = HostQueue(spec.Host)
			if err := movable(tx, d, d.Host, spec.Host); err != nil {
				return nil, err
			}
		}
		op, err := s.newOp(c, ops.DiskMigrate, spec)
		if err != nil {
			return nil, err
		}
		op.DiskID, op.DatacenterID = d.ID, d.DatacenterID
		if spec.Host != "" {
			op.Queue = spec.Queue
		}
		migrationParams(op, spec, ops.MigrateCopy)
		return op, nil
	})
}

// migratingVMs returns which of an account's VMs have an unfinished migration.
func migratingVMs(tx store.Tx, account int64) (map[int64]bool, error) {
	list, err := tx.Operations(store.Query{Scope: account, Filters: []api.Filter{
		{Field: "type", Op: api.OpIn, Values: movingTypes},
		{Field: "step", Op: api.OpIn, Values: []any{api.StepBill, api.StepWait, api.StepRun}},
	}})
	out := map[int64]bool{}
	for _, op := range list {
		out[op.VMID] = true
	}
	return out, err
}
