package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/volume"
)

// migrateTimeout bounds the RAM copy and switchover of one live migration: a guest that
// dirties memory faster than it can be sent (even with auto-converge) is left running
// on its source.
const migrateTimeout = 10 * time.Minute

// moveVM does the host work of each phase of a vm_move (ops.LiveLayout and the phases
// after it), on the host whose queue the phase runs on. Every phase is idempotent: a
// berthd killed in one runs it again. Until the switchover, an error does not end the
// operation: it turns into a rollback that leaves the VM running on its source and
// nothing on the target.
func (a *Agent) moveVM(ctx context.Context, op *store.Operation) error {
	spec, err := decode[ops.MoveSpec](op)
	if err != nil {
		return err
	}
	step := ops.InnerStep(op)
	switch step {
	case "", ops.LiveLayout, ops.LivePrepare, ops.LiveSync, ops.LiveSwitchover:
		if cancelled, err := a.cancelRequested(ctx, op.ID); err != nil {
			return err
		} else if cancelled {
			return a.rollback(spec, errMoveCancelled)
		}
	}
	switch step {
	case "", ops.LiveLayout:
		if spec.Cold {
			return next(ops.MoveCopy, spec.TargetQueue, spec)
		}
		return a.rollbackOn(spec, a.moveLayout(ctx, op.VMID, &spec), ops.LivePrepare, spec.TargetQueue)
	case ops.MoveCopy:
		return a.moveCopy(ctx, op.VMID, spec)
	case ops.LivePrepare:
		return a.rollbackOn(spec, a.movePrepare(ctx, op.VMID, &spec), ops.LiveSync, spec.SourceQueue)
	case ops.LiveSync:
		mirrors := make([]hypervisor.MirrorDisk, len(spec.Disks))
		for i, d := range spec.Disks {
			mirrors[i] = hypervisor.MirrorDisk{ID: d.ID, Sync: "full"}
			if d.Backing != 0 {
				mirrors[i].Sync = "top"
			}
		}
		err := a.hv.MirrorDisks(ctx, op.VMID, *spec.Incoming, mirrors)
		return a.rollbackOn(spec, err, ops.LiveSwitchover, "")
	case ops.LiveSwitchover:
		mctx, cancel := context.WithTimeout(ctx, migrateTimeout)
		defer cancel()
		err := a.hv.Migrate(mctx, op.VMID, *spec.Incoming, hypervisor.MigrateOptions{
			PreSwitchover: func(ctx context.Context) error {
				// The last moment a cancel can take effect: the guest is paused, its disks in
				// sync, and the target has not run it.
				if c, err := a.cancelRequested(ctx, op.ID); err != nil || !c {
					return err
				}
				return errMoveCancelled
			},
		})
		// The store records the VM on the target as the finish phase begins (service).
		return a.rollbackOn(spec, err, ops.LiveFinish, spec.TargetQueue)
	case ops.LiveFinish:
		// The target holds the VM now: there is no going back. The source completed its
		// side, so the incoming migration ends within seconds.
		fctx, cancel := context.WithTimeout(ctx, migrateTimeout)
		defer cancel()
		if err := a.hv.FinishIncoming(fctx, op.VMID); err != nil {
			return err
		}
		return next(ops.LiveCleanup, spec.SourceQueue, spec)
	case ops.LiveCleanup:
		return a.moveCleanup(ctx, op.VMID, spec)
	case ops.LiveRollback:
		err := a.hv.CancelOutgoing(ctx, op.VMID)
		if errors.Is(err, hypervisor.ErrMigrationCompleted) {
			// The switchover happened before the failure was seen (a berthd killed right
			// after it): the target holds the VM, so the move goes on.
			a.log.Warn("vm move: the switchover had happened, going on", "vm", op.VMID)
			return next(ops.LiveFinish, spec.TargetQueue, spec)
		}
		if err != nil && !errors.Is(err, hypervisor.ErrNotRunning) {
			return err
		}
		return next(ops.LiveRollbackTarget, spec.TargetQueue, spec)
	case ops.LiveRollbackTarget:
		if err := a.removeHere(ctx, op.VMID); err != nil {
			return err
		}
		return api.Errorf(api.Unavailable, api.ObjVM, "vm %d did not move to host %s, it runs on host %s: %s", op.VMID, spec.Target, spec.Source, spec.Failure)
	}
	return fmt.Errorf("%s: unknown phase %q", ops.VMMove, step)
}

var errMoveCancelled = errors.New("cancelled by the operator")

// next ends a phase: the move goes on with step on queue ("" the same), with spec.
func next(step, queue string, spec ops.MoveSpec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return &ops.Next{Step: step, Queue: queue, Spec: b}
}

// rollbackOn goes on with step when err is nil, else rolls the move back.
func (a *Agent) rollbackOn(spec ops.MoveSpec, err error, step, queue string) error {
	if err == nil {
		return next(step, queue, spec)
	}
	return a.rollback(spec, err)
}

func (a *Agent) rollback(spec ops.MoveSpec, cause error) error {
	a.log.Warn("vm move failed, rolling back", "target", spec.Target, "err", cause)
	spec.Failure = cause.Error()
	return next(ops.LiveRollback, spec.SourceQueue, spec)
}

// cancelRequested reads whether the operator asked operation id to stop.
func (a *Agent) cancelRequested(ctx context.Context, id int64) (bool, error) {
	var c bool
	err := a.st.Read(ctx, func(tx store.Tx) error {
		op, err := tx.Operation(store.AllAccounts, id)
		if err == nil {
			c, _ = op.Params[ops.ParamCancel].(bool)
		}
		return err
	})
	return c, err
}

// moveLayout, on the source, reads the running VM's device model and how each of its
// disks is copied.
func (a *Agent) moveLayout(ctx context.Context, vmID int64, spec *ops.MoveSpec) error {
	if run, err := a.running(ctx, vmID); err != nil || !run {
		return errors.Join(err, fmt.Errorf("vm %d is not running here", vmID))
	}
	lay, err := a.hv.Layout(ctx, vmID)
	if err != nil {
		return err
	}
	v, err := a.load(ctx, vmID)
	if err != nil {
		return err
	}
	spec.Layout, spec.Disks = &lay, nil
	for _, d := range v.disks {
		backing, err := a.backing(ctx, d.ID)
		if err != nil {
			return err
		}
		spec.Disks = append(spec.Disks, ops.MoveDisk{ID: d.ID, SizeMB: d.Size, Backing: backing})
	}
	return nil
}

// backing returns the image disk that disk id is an overlay of here, 0 for none.
func (a *Agent) backing(ctx context.Context, id int64) (int64, error) {
	mv, ok := a.vol.(volume.Mover)
	if !ok {
		return 0, nil
	}
	f, _, backing, err := mv.Open(ctx, id)
	if err != nil {
		return 0, err
	}
	return backing, f.Close()
}

// movePrepare, on the target, makes the VM's disk images, taps and seed, and starts its
// QEMU waiting for the migration, with the memory reserved.
func (a *Agent) movePrepare(ctx context.Context, vmID int64, spec *ops.MoveSpec) error {
	v, err := a.load(ctx, vmID)
	if err != nil {
		return err
	}
	for _, d := range spec.Disks {
		var err error
		if d.Backing != 0 {
			err = a.vol.CreateFrom(ctx, d.ID, d.Backing, d.SizeMB)
		} else {
			err = a.vol.Create(ctx, d.ID, d.SizeMB)
		}
		if errors.Is(err, volume.ErrNoSpace) {
			return api.Errorf(api.Unavailable, api.ObjDisk, "not enough disk space on host %s for disk %d (%d MB)", a.host, d.ID, d.SizeMB)
		}
		if err != nil {
			return fmt.Errorf("disk %d: %w", d.ID, err)
		}
	}
	if err := a.ensurePorts(ctx, v); err != nil {
		return err
	}
	if err := a.reseed(ctx, v); err != nil {
		return err
	}
	a.capMu.Lock()
	defer a.capMu.Unlock()
	if err := a.reserve(ctx, vmID, v.vm.Memory); err != nil {
		return err
	}
	in, err := a.hv.PrepareIncoming(ctx, a.spec(v, a.seedPath(ctx, vmID)), *spec.Layout, hypervisor.Transport{Host: a.migrationHost})
	if err != nil {
		return err
	}
	spec.Incoming = &in
	return nil
}

// moveCopy, on the target of a cold move, copies the halted VM's disks and makes its taps
// and seed; the service records the VM here as the cleanup begins.
func (a *Agent) moveCopy(ctx context.Context, vmID int64, spec ops.MoveSpec) error {
	if run, err := a.running(ctx, vmID); err != nil || run {
		return errors.Join(err, fmt.Errorf("vm %d runs here already", vmID))
	}
	v, err := a.load(ctx, vmID)
	if err != nil {
		return err
	}
	if v.vm.State != api.VMHalted {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is %s: a cold move needs it halted", vmID, v.vm.State)
	}
	for _, d := range v.disks {
		if d.Host != "" && d.Host != a.host {
			if err := a.pullDisk(ctx, d); err != nil {
				return err
			}
		}
	}
	if err := a.reseed(ctx, v); err != nil {
		return err
	}
	return next(ops.LiveCleanup, spec.SourceQueue, spec)
}

// moveCleanup, on the source once the target holds the VM, removes what was left here:
// the paused QEMU, the taps, the seed and the disk files.
func (a *Agent) moveCleanup(ctx context.Context, vmID int64, spec ops.MoveSpec) error {
	if err := a.removeHere(ctx, vmID); err != nil {
		return err
	}
	a.log.Info("vm moved", "vm", vmID, "from", spec.Source, "to", spec.Target, "live", !spec.Cold)
	return nil
}

// removeHere removes a VM's QEMU, taps, seed and disk files from this host (the host the
// VM left, or the target of a move rolled back).
func (a *Agent) removeHere(ctx context.Context, vmID int64) error {
	if err := a.hv.Destroy(ctx, vmID); err != nil {
		return err
	}
	if a.seed != nil {
		if err := a.seed.Remove(ctx, vmID); err != nil {
			return err
		}
	}
	v, err := a.load(ctx, vmID)
	if err != nil {
		return err
	}
	if err := a.deletePorts(ctx, v); err != nil {
		return err
	}
	for _, d := range v.disks {
		if err := a.vol.Delete(ctx, d.ID); err != nil {
			return fmt.Errorf("disk %d: %w", d.ID, err)
		}
	}
	return nil
}
