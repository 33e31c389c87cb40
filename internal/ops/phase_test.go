package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
)

// phased is a Handler whose operations go through phases on two queues, with a parked one.
type phased struct {
	mu    sync.Mutex
	calls []string
}

func (h *phased) Begin(store.Tx, *store.Operation) error { return nil }

func (h *phased) Execute(_ context.Context, op *store.Operation) error {
	h.mu.Lock()
	h.calls = append(h.calls, op.Queue+":"+InnerStep(op)+":"+string(op.Spec))
	h.mu.Unlock()
	switch InnerStep(op) {
	case "":
		return &Next{Step: "mirror", Queue: "h2", Spec: []byte(`{"port":1}`)}
	case "mirror":
		return &Next{Step: "wait_finalize", Park: true}
	case "finish":
		return nil
	}
	return fmt.Errorf("unexpected phase %q", InnerStep(op))
}

func (h *phased) Complete(store.Tx, *store.Operation) error    { return nil }
func (h *phased) Fail(store.Tx, *store.Operation, error) error { return nil }

func (h *phased) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// TestPhases runs an operation through phases on two queues, parks it, resumes it, and
// checks that a job of a phase already done is dropped instead of running it again.
func TestPhases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := &phased{}
	e, err := New(ctx, st, h, Config{Queues: []string{"h1", "h2"}, SnoozeWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())

	now := time.Now().UTC()
	op := &store.Operation{Operation: api.Operation{Type: "vm_migrate", Step: api.StepWait, Created: now, Updated: now,
		Params: map[string]any{}}, AccountID: 1, Queue: "h1", Spec: []byte(`{}`)}
	if err := st.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertOperation(op); err != nil {
			return err
		}
		return e.Enqueue(ctx, tx, op)
	}); err != nil {
		t.Fatal(err)
	}
	read := func() *store.Operation {
		var cur *store.Operation
		if err := st.Read(ctx, func(tx store.Tx) error {
			cur, err = tx.Operation(store.AllAccounts, op.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return cur
	}
	waitFor := func(what string, ok func(*store.Operation) bool) *store.Operation {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			cur := read()
			if ok(cur) {
				return cur
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: operation %+v, calls %v", what, cur, h.seen())
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	cur := waitFor("parked in wait_finalize", func(o *store.Operation) bool { return InnerStep(o) == "wait_finalize" })
	if cur.Step != api.StepRun || cur.Queue != "h2" || string(cur.Spec) != `{"port":1}` || phaseOf(cur) != 2 {
		t.Errorf("parked operation: step %s queue %s spec %s phase %d", cur.Step, cur.Queue, cur.Spec, phaseOf(cur))
	}

	// A job of phase 1 (as left by a crash after its phase was recorded) does nothing.
	res, err := e.client.Insert(ctx, Args{OpID: op.ID, Phase: 1}, riverOpts(cur))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		if err := st.DB().QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale job still %s", state)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	want := []string{`h1::{}`, `h2:mirror:{"port":1}`}
	if got := h.seen(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}

	err = st.Write(ctx, func(tx store.Tx) error {
		cur, err := tx.Operation(store.AllAccounts, op.ID)
		if err != nil {
			return err
		}
		if err := e.Resume(ctx, tx, cur, "mirror", Next{Step: "x"}); !errors.Is(err, ErrNotParked) {
			t.Errorf("Resume from the wrong step: %v, want ErrNotParked", err)
		}
		return e.Resume(ctx, tx, cur, "wait_finalize", Next{Step: "finish", Queue: "h1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	cur = waitFor("done", func(o *store.Operation) bool { return api.Terminal(o.Step) })
	if cur.Step != api.StepDone || InnerStep(cur) != "finish" || cur.Queue != "h1" {
		t.Errorf("final operation: step %s (%s) inner_step %s queue %s", cur.Step, cur.LastError, InnerStep(cur), cur.Queue)
	}
	want = append(want, `h1:finish:{"port":1}`)
	if got := h.seen(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}
