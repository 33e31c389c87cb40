package client

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-io/berth/api"
)

// Operations returns the operations in a mutating call's result: one struct (most methods)
// or an array of structs (hosting.vm.create and create_from).
func Operations(v any) ([]Object, error) {
	switch x := v.(type) {
	case map[string]any:
		return []Object{Object(x)}, nil
	case []any:
		out := make([]Object, 0, len(x))
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("want operation structs, got %T", e)
			}
			out = append(out, Object(m))
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an operation, got %T", v)
}

// Do calls a mutating method and returns the operations it started.
func (c *Client) Do(ctx context.Context, method string, params ...any) ([]Object, error) {
	v, err := c.Call(ctx, method, params...)
	if err != nil {
		return nil, err
	}
	ops, err := Operations(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return ops, nil
}

// Operation returns operation.info for one operation (the full form).
func (c *Client) Operation(ctx context.Context, id int64) (Object, error) {
	return c.Info(ctx, "operation.info", id)
}

// OperationError is the error of an operation that ended in ERROR or CANCEL.
type OperationError struct {
	Op api.Operation
}

func (e *OperationError) Error() string {
	if e.Op.Step == api.StepCancel {
		return fmt.Sprintf("operation %d (%s) was cancelled", e.Op.ID, e.Op.Type)
	}
	msg := e.Op.LastError
	if msg == "" {
		msg = "no error message"
	}
	return fmt.Sprintf("operation %d (%s) failed: %s", e.Op.ID, e.Op.Type, msg)
}

// WaitOptions tunes Wait.
type WaitOptions struct {
	// Interval is the time between two polls of an unfinished operation (default 500 ms).
	Interval time.Duration
	// Progress, when set, receives the latest state of every operation after each round.
	Progress func(ops []api.Operation)
	// Retries is how many polls in a row may fail with a transport error before Wait gives
	// up (default 5). Faults are never retried.
	Retries int
}

// Wait polls operation.info until every operation is DONE, or one ends in ERROR or
// CANCEL (an *OperationError), or ctx ends (ctx.Err()). ops are the operations as a
// mutating call returned them (only their ids are read). It returns the last state of each
// operation (the full form of operation.info once polled), in order, in every case.
func (c *Client) Wait(ctx context.Context, ops []Object, opt WaitOptions) ([]Object, error) {
	if opt.Interval <= 0 {
		opt.Interval = 500 * time.Millisecond
	}
	if opt.Retries <= 0 {
		opt.Retries = 5
	}
	cur := make([]Object, len(ops))
	typed := make([]api.Operation, len(ops))
	for i, o := range ops {
		cur[i] = o
		typed[i] = AsOperation(o)
		typed[i].Step = "" // not polled yet
	}
	failures := 0
	for {
		done := true
		for i := range cur {
			if api.Terminal(typed[i].Step) {
				continue
			}
			o, err := c.Operation(ctx, typed[i].ID)
			if err != nil {
				if ctx.Err() != nil {
					if opt.Progress != nil {
						opt.Progress(typed)
					}
					return cur, ctx.Err()
				}
				if _, fault := AsFault(err); fault || failures >= opt.Retries {
					return cur, fmt.Errorf("follow operation %d: %w", typed[i].ID, err)
				}
				failures++
				done = false
				continue
			}
			failures = 0
			cur[i], typed[i] = o, AsOperation(o)
			switch typed[i].Step {
			case api.StepError, api.StepCancel:
				if opt.Progress != nil {
					opt.Progress(typed)
				}
				return cur, &OperationError{Op: typed[i]}
			case api.StepDone:
			default:
				done = false
			}
		}
		if opt.Progress != nil {
			opt.Progress(typed)
		}
		if done {
			return cur, nil
		}
		t := time.NewTimer(opt.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return cur, ctx.Err()
		case <-t.C:
		}
	}
}
