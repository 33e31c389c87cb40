package service

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/placement"
	"github.com/berth-io/berth/internal/store"
)

// Moves of VMs between the hosts of a datacenter, and host drain: the operator's tools
// (berthd admin vm move, berthd admin host drain), never the API's. A running VM moves
// live (agent/move.go: its guest keeps running, with its MAC, addresses and disks), a
// halted one cold (its disks are copied). The VM's owner sees the vm_move operation and
// is_migrating; its other operations are refused meanwhile. A move costs nothing.

// moverHandle is the source of the operations the operator starts on a customer's VM.
const moverHandle = "berthd admin"

// VMMove moves VM id to host target, or to the host placement chooses in its datacenter
// when target is "".
func (s *Service) VMMove(ctx context.Context, id int64, target string) (*api.Operation, error) {
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		v, err := tx.VM(store.AllAccounts, id)
		if err != nil {
			return nil, notFound(err, api.ObjVM, id)
		}
		return s.moveOp(tx, v, target, moveRoom{})
	})
}

// moveRoom is what the moves decided in one transaction take on their targets.
type moveRoom map[string][2]int64

// moveOp makes the vm_move operation of VM v to host target ("" placement chooses, with
// room, whose moves already decided take their share).
func (s *Service) moveOp(tx store.Tx, v *store.VM, target string, room moveRoom) (*store.Operation, error) {
	if v.Host == "" {
		return nil, api.Errorf(api.Conflict, api.ObjVM, "vm %d is on no host", v.ID)
	}
	if err := hostUp(tx, v.Host, api.ObjVM, v.ID); err != nil {
		return nil, err
	}
	if err := canMove(tx, v, "move"); err != nil {
		return nil, err
	}
	disks, err := tx.DisksOfVM(v.ID)
	if err != nil {
		return nil, err
	}
	var size int64
	for _, d := range disks {
		if d.Host != "" && d.Host != v.Host {
			return nil, api.Errorf(api.Conflict, api.ObjDisk, "disk %d of vm %d lives on host %s, not on the vm's", d.ID, v.ID, d.Host)
		}
		size += d.Size
	}
	snap, err := hostSnapshot(tx, v.DatacenterID)
	if err != nil {
		return nil, err
	}
	var cands []placement.Host
	for _, h := range snap {
		r := room[h.Name]
		h.MemFreeMB, h.DiskFreeMB = h.MemFreeMB-r[0], h.DiskFreeMB-r[1]
		if h.Name != v.Host && (target == "" || h.Name == target) {
			cands = append(cands, h)
		}
	}
	if target != "" && len(cands) == 0 {
		return nil, api.Errorf(api.NotFound, api.ObjVM, "host %s is not another host of datacenter %d", target, v.DatacenterID)
	}
	target, err = choose(cands, placement.Request{DatacenterID: v.DatacenterID, MemoryMB: v.Memory, DiskMB: size})
	if err != nil {
		return nil, err
	}
	room[target] = [2]int64{room[target][0] + v.Memory, room[target][1] + size}
	spec := ops.MoveSpec{Source: v.Host, Target: target, Cold: v.State == api.VMHalted,
		SourceQueue: HostQueue(v.Host), TargetQueue: HostQueue(target)}
	op, err := s.newOp(&Caller{AccountID: v.AccountID, Handle: moverHandle}, ops.VMMove, spec)
	if err != nil {
		return nil, err
	}
	op.VMID, op.DatacenterID, op.Queue = v.ID, v.DatacenterID, spec.SourceQueue
	op.Params[ops.ParamInnerStep] = ops.LiveLayout // on the source, live or cold
	return op, nil
}

// VMMoveCancel asks the unfinished move of VM id to stop: it rolls back unless its
// switchover has begun.
func (s *Service) VMMoveCancel(ctx context.Context, id int64) (*api.Operation, error) {
	var out api.Operation
	err := s.write(ctx, func(tx store.Tx) error {
		op, err := pendingMigration(tx, id)
		if err != nil {
			return err
		}
		if op == nil || op.Type != ops.VMMove {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is not moving", id)
		}
		switch ops.InnerStep(op) {
		case ops.LiveFinish, ops.LiveCleanup:
			return api.Errorf(api.Conflict, api.ObjOperation, "operation %d is past its switchover (%s): the vm runs on host %s now", op.ID, ops.InnerStep(op), op.Queue)
		}
		op.Params[ops.ParamCancel] = true
		op.Updated = s.now().UTC()
		out = op.Operation
		return tx.UpdateOperation(op)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DrainReport is what a host drain started.
type DrainReport struct {
	Moves  []Move  // one per VM of the host
	Moving []int64 // VMs already moving (a drain run again)
}

// Move is one VM's move: its operation, and where it goes.
type Move struct {
	Op     *api.Operation
	Target string
	Live   bool
}

// HostDrain marks host name draining (placement gives it no new VM) and moves each of
// its VMs to another host of the datacenter. Room for every VM is found first: when one
// does not fit anywhere, nothing starts and the host is not marked.
func (s *Service) HostDrain(ctx context.Context, name string) (*DrainReport, error) {
	out := &DrainReport{}
	err := s.write(ctx, func(tx store.Tx) error {
		if ok, err := tx.SetDraining(name, true); err != nil || !ok {
			return hostNotFound(err, ok, name)
		}
		vms, err := tx.VMs(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{{Field: "host", Values: []any{name}}}})
		if err != nil {
			return err
		}
		// The biggest first, so that they find room while there is most.
		slices.SortFunc(vms, func(a, b *store.VM) int { return int(b.Memory - a.Memory) })
		room := moveRoom{}
		for _, v := range vms {
			if op, err := pendingMigration(tx, v.ID); err != nil || op != nil {
				if op != nil {
					out.Moving = append(out.Moving, v.ID)
				}
				if err != nil {
					return err
				}
				continue
			}
			op, err := s.moveOp(tx, v, "", room)
			if err != nil {
				return err
			}
			if err := s.submit(ctx, tx, op); err != nil {
				return err
			}
			spec, err := decode[ops.MoveSpec](op)
			if err != nil {
				return err
			}
			out.Moves = append(out.Moves, Move{Op: &op.Operation, Target: spec.Target, Live: !spec.Cold})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("host draining", "host", name, "moves", len(out.Moves), "already_moving", len(out.Moving))
	return out, nil
}

// HostUndrain opens a drained host to new VMs again.
func (s *Service) HostUndrain(ctx context.Context, name string) error {
	return s.write(ctx, func(tx store.Tx) error {
		ok, err := tx.SetDraining(name, false)
		return hostNotFound(err, ok, name)
	})
}

// hostNotFound is err, or a fault when the host named is not registered (!ok).
func hostNotFound(err error, ok bool, name string) error {
	if err != nil || ok {
		return err
	}
	return api.Errorf(api.NotFound, api.ObjDatacenter, "no host %s", name)
}

// OperationsByID returns operations by id, whatever their account (the operator's
// commands follow the operations they started).
func (s *Service) OperationsByID(ctx context.Context, ids []int64) ([]*api.Operation, error) {
	var out []*api.Operation
	err := s.read(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			op, err := tx.Operation(store.AllAccounts, id)
			if err != nil {
				return err
			}
			out = append(out, &op.Operation)
		}
		return nil
	})
	return out, err
}

// beginMove re-checks a vm_move: the VM is still on its source, and both hosts are up.
// An older operation may have started or stopped the VM since the move was asked for:
// it moves live when it runs now, cold when halted.
func beginMove(tx store.Tx, op *store.Operation, v *store.VM) error {
	spec, err := decode[ops.MoveSpec](op)
	if err != nil {
		return err
	}
	if v.Host != spec.Source {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is no longer on host %s", v.ID, spec.Source)
	}
	if v.State != api.VMRunning && v.State != api.VMHalted {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is %s: it can move when running or halted", v.ID, v.State)
	}
	if err := hostUp(tx, spec.Source, api.ObjVM, v.ID); err != nil {
		return err
	}
	if err := hostUp(tx, spec.Target, api.ObjVM, v.ID); err != nil {
		return err
	}
	if cold := v.State == api.VMHalted; cold != spec.Cold {
		spec.Cold = cold
		op.Spec, err = json.Marshal(spec)
	}
	return err
}

// advanceMove records a moving VM and its disks on the target host, in the transaction
// that records the phase after the switchover (live) or after the copy (cold).
func (s *Service) advanceMove(tx store.Tx, op *store.Operation, n *ops.Next) error {
	if n.Step != ops.LiveFinish && n.Step != ops.LiveCleanup {
		return nil
	}
	spec, err := decode[ops.MoveSpec](op)
	if err != nil {
		return err
	}
	v, err := tx.VM(store.AllAccounts, op.VMID)
	if err != nil || v.Host == spec.Target {
		return err
	}
	now := s.now().UTC()
	v.Host, v.Updated = spec.Target, now
	if err := tx.UpdateVM(v); err != nil {
		return err
	}
	disks, err := tx.DisksOfVM(v.ID)
	if err != nil {
		return err
	}
	for _, d := range disks {
		if d.Host == spec.Source {
			d.Host, d.Updated = spec.Target, now
			if err := tx.UpdateDisk(d); err != nil {
				return err
			}
		}
	}
	return nil
}
