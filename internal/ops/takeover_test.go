package ops

import (
	"context"
	"testing"

	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
	"github.com/berth-io/berth/internal/store/storetest"
)

// TestTakeOver: the jobs of a shared queue that a dead host was running become available at
// once; those of live hosts, of other queues, and of a host whose name only starts the
// same, stay as they are.
func TestTakeOver(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenPostgres(ctx, storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := New(ctx, st, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		queue, by string
		freed     bool
	}
	jobs := []job{
		{"control", "berth:h1:100", true},
		{"control", "berth:h1:200", true},
		{"control", "berth:h2:100", false},
		{"control", "berth:h10:100", false},
		{"host-h1", "berth:h1:100", false}, // its own queue waits for it
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		err := st.Write(ctx, func(tx store.Tx) error {
			op := &store.Operation{Queue: j.queue}
			op.ID = int64(1000 + i)
			return e.Enqueue(ctx, tx, op)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DB().QueryRowContext(ctx, `UPDATE river_job SET state = 'running', attempted_by = ARRAY['berth:h9:1', $1], attempt = 1
			WHERE id = (SELECT max(id) FROM river_job) RETURNING id`, j.by).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.TakeOver(ctx, "h1", []string{"control"})
	if err != nil || n != 2 {
		t.Fatalf("TakeOver = %d, %v; want 2", n, err)
	}
	for i, j := range jobs {
		var state string
		if err := st.DB().QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, ids[i]).Scan(&state); err != nil {
			t.Fatal(err)
		}
		want := "running"
		if j.freed {
			want = "available"
		}
		if state != want {
			t.Errorf("job of %s in %s: %s, want %s", j.by, j.queue, state, want)
		}
	}
	if n, err := e.TakeOver(ctx, "h1", []string{"control"}); err != nil || n != 0 {
		t.Errorf("second TakeOver = %d, %v; want 0", n, err)
	}
}
