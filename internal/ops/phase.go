package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-io/berth/internal/store"
)

// Long operations (a live migration: prepare on the target, mirror and switch over on the
// source, finish on the target, clean up on the source; Gandi's vm.migrate, which waits in
// wait_finalize for the client's second call) run as phases. Each phase is one Execute on
// one host's queue; it ends by returning a *Next, and the engine records the next phase in
// the operation row (params["inner_step"], the queue, the spec) and enqueues its job in
// the same transaction. A daemon killed in a phase runs that phase again: every phase is
// idempotent. A job left over from a phase already recorded as done is dropped, so a
// phase never runs twice at once.

// ParamInnerStep and ParamPhase are the params of a phased operation: the name of its
// current phase (what Gandi shows as inner_step) and its sequence number.
const (
	ParamInnerStep = "inner_step"
	ParamPhase     = "phase"
)

// Next, returned by Handler.Execute, ends the current phase of a long operation and
// moves it to the phase Step, worked on Queue. With Park, no job is enqueued: the
// operation waits in RUN until Engine.Resume (a client's second call).
type Next struct {
	Step  string
	Queue string // "": the same queue
	Spec  []byte // nil: unchanged
	Park  bool
}

func (n *Next) Error() string { return "next phase " + n.Step }

// Advancer is implemented by handlers that change the objects between two phases of an
// operation: Advance runs in the transaction that records phase n.Step, exactly once.
type Advancer interface {
	Advance(tx store.Tx, op *store.Operation, n *Next) error
}

// InnerStep returns the current phase of op ("" before the first).
func InnerStep(op *store.Operation) string {
	s, _ := op.Params[ParamInnerStep].(string)
	return s
}

// phaseOf returns op's phase number.
func phaseOf(op *store.Operation) int64 {
	switch n := op.Params[ParamPhase].(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// advance records the next phase of op and enqueues its job, in tx.
func (e *Engine) advance(ctx context.Context, tx store.Tx, op *store.Operation, n *Next) error {
	if op.Params == nil {
		op.Params = map[string]any{}
	}
	if a, ok := e.h.(Advancer); ok {
		if err := a.Advance(tx, op, n); err != nil {
			return err
		}
	}
	phase := phaseOf(op) + 1
	op.Params[ParamInnerStep] = n.Step
	op.Params[ParamPhase] = phase
	if n.Queue != "" {
		op.Queue = n.Queue
	}
	if n.Spec != nil {
		op.Spec = n.Spec
	}
	op.Updated = e.now().UTC()
	if err := tx.UpdateOperation(op); err != nil {
		return err
	}
	if n.Park {
		return nil
	}
	return e.enqueuePhase(ctx, tx, op, phase)
}

func (e *Engine) enqueuePhase(ctx context.Context, tx store.Tx, op *store.Operation, phase int64) error {
	if _, err := e.client.InsertTx(ctx, tx.SQLTx(), Args{OpID: op.ID, Phase: phase}, riverOpts(op)); err != nil {
		return fmt.Errorf("enqueue operation %d phase %d: %w", op.ID, phase, err)
	}
	return nil
}

// ErrNotParked is returned by Resume for an operation that does not wait for it.
var ErrNotParked = errors.New("the operation is not waiting to be resumed")

// Resume enqueues, in tx, the parked phase of op (see Next.Park), possibly on another
// queue and with a new spec, and records step as its inner step. The caller has read op
// in tx and checked it waits in want.
func (e *Engine) Resume(ctx context.Context, tx store.Tx, op *store.Operation, want string, n Next) error {
	if InnerStep(op) != want {
		return fmt.Errorf("%w: operation %d is in %q, not %q", ErrNotParked, op.ID, InnerStep(op), want)
	}
	n.Park = false
	return e.advance(ctx, tx, op, &n)
}
