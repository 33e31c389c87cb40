package service

import (
	"context"
	"errors"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// OperationList lists the caller's operations.
func (s *Service) OperationList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.Operation, error) {
	return listOf(s, ctx, c, o, store.Tx.Operations, func(op *store.Operation) api.Operation { return op.Operation })
}

// OperationCount counts the caller's operations.
func (s *Service) OperationCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountOperations)
}

// InfoWait is how long operation.info waits for an operation still in flight to end before
// answering. Fast operations end in well under a second, so a client's first poll usually
// sees DONE: libcloud sleeps 20 s after every poll that does not (D7).
const InfoWait = 1500 * time.Millisecond

// OperationInfo returns one operation; while it is not finished, it waits up to InfoWait for
// it to finish.
func (s *Service) OperationInfo(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	deadline := time.Now().Add(InfoWait)
	for {
		op, err := s.operationInfo(ctx, c, id)
		if err != nil || api.Terminal(op.Step) || time.Now().After(deadline) || s.enq == nil {
			return op, err
		}
		select {
		case <-ctx.Done():
			return op, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Service) operationInfo(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Read(ctx, func(tx store.Tx) error {
		op, err := tx.Operation(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjOperation, id)
		}
		out = op.Operation
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// OperationCancel cancels an operation still in BILL or WAIT, undoing what it reserved.
func (s *Service) OperationCancel(ctx context.Context, c *Caller, id int64) error {
	err := s.st.Write(ctx, func(tx store.Tx) error {
		op, err := tx.Operation(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjOperation, id)
		}
		if op.Type == ops.VMMove { // or an owner could keep a host from draining
			return api.Errorf(api.Conflict, api.ObjOperation, "operation %d moves the vm to another host for the operator: only the operator can stop it", id)
		}
		// A migration waiting for its finalize has done nothing to the VM: it can go too.
		parked := op.Type == ops.VMMigrate && op.Step == api.StepRun && ops.InnerStep(op) == ops.MigrateWaitFinalize
		if op.Step != api.StepBill && op.Step != api.StepWait && !parked {
			return api.Errorf(api.Conflict, api.ObjOperation, "operation %d is in step %s: only BILL and WAIT can be cancelled (and a migration waiting for its finalize)", id, op.Step)
		}
		if err := s.Fail(tx, op, errCancelled); err != nil {
			return err
		}
		op.Step, op.Updated = api.StepCancel, s.now().UTC()
		op.LastError = "cancelled"
		if err := tx.UpdateOperation(op); err != nil {
			return err
		}
		return s.remember(ctx, tx, c.AccountID, &op.Operation)
	})
	if err != nil {
		return s.internal(err)
	}
	return nil
}

var errCancelled = errors.New("cancelled")

// OperationRelaunch runs an operation in ERROR again, when its failure undid nothing.
func (s *Service) OperationRelaunch(ctx context.Context, c *Caller, id int64) error {
	err := s.st.Write(ctx, func(tx store.Tx) error {
		op, err := tx.Operation(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjOperation, id)
		}
		if op.Step != api.StepError {
			return api.Errorf(api.Conflict, api.ObjOperation, "operation %d is in step %s: only ERROR can be relaunched", id, op.Step)
		}
		if !ops.Relaunchable(op.Type) {
			return api.Errorf(api.Conflict, api.ObjOperation, "operation %d (%s) undid its work when it failed: make the request again", id, op.Type)
		}
		op.Step, op.LastError, op.Started, op.Updated = api.StepWait, "", nil, s.now().UTC()
		if err := tx.UpdateOperation(op); err != nil {
			return err
		}
		if err := s.remember(ctx, tx, c.AccountID, &op.Operation); err != nil {
			return err
		}
		return s.enq.Enqueue(ctx, tx, op)
	})
	if err != nil {
		return s.internal(err)
	}
	return nil
}
