package ops_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store/sqlstore"
)

// TestPeriodicRunsOnceInACluster starts two engines on one store, as two processes of a
// cluster: the periodic work runs, every Every, on one of them only (River's leader).
func TestPeriodicRunsOnceInACluster(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const every = 250 * time.Millisecond
	var mu sync.Mutex
	var runs []time.Time
	run := func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, time.Now())
		return nil
	}
	start := time.Now()
	for range 2 {
		e, err := ops.New(ctx, st, nil, ops.Config{Queues: []string{"control"},
			Periodic: []ops.Periodic{{Name: "tick", Every: every, Queue: "control", Run: run}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			e.Stop(sctx)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n, first := len(runs), time.Time{}
		if n > 0 {
			first = runs[0]
		}
		mu.Unlock()
		if n >= 6 {
			// Two leaders would run it about twice as often; fewer runs (a busy machine)
			// are fine.
			if most := int(time.Since(first)/every) + 2; n > most {
				t.Fatalf("%d runs in %s: more than %d, the work ran on both engines", n, time.Since(first), most)
			}
			t.Logf("%d runs, the first %s after start", n, first.Sub(start))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs in 30s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
