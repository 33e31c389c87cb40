package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/store"
)

// testIdempotency: keys are per account, unique, updatable, and pruned by age.
func testIdempotency(t *testing.T, st store.Store) {
	write(t, st, func(tx store.Tx) error {
		if err := tx.InsertIdempotency(&store.Idempotency{AccountID: 1, Key: "k", Request: "h1", Result: []byte(`[1]`), Created: now}); err != nil {
			return err
		}
		if err := tx.InsertIdempotency(&store.Idempotency{AccountID: 2, Key: "k", Request: "h2", Result: []byte(`[2]`), Created: now.Add(-48 * time.Hour)}); err != nil {
			return err
		}
		return tx.SetIdempotencyResult(1, "k", []byte(`[1,3]`))
	})
	err := st.Write(t.Context(), func(tx store.Tx) error {
		return tx.InsertIdempotency(&store.Idempotency{AccountID: 1, Key: "k", Request: "h3", Result: []byte(`[]`), Created: now})
	})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second insert of a key: %v, want ErrDuplicate", err)
	}
	read(t, st, func(tx store.Tx) error {
		r, err := tx.Idempotency(1, "k")
		if err != nil {
			return err
		}
		if r.Request != "h1" || string(r.Result) != "[1,3]" || !r.Created.Equal(now) {
			t.Errorf("key of account 1: %+v", r)
		}
		if _, err := tx.Idempotency(3, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key of account 3: %v, want ErrNotFound", err)
		}
		return nil
	})
	write(t, st, func(tx store.Tx) error {
		n, err := tx.PruneIdempotency(now.Add(-24 * time.Hour))
		if n != 1 {
			t.Errorf("pruned %d keys, want 1", n)
		}
		return err
	})
	read(t, st, func(tx store.Tx) error {
		if _, err := tx.Idempotency(2, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pruned key still there: %v", err)
		}
		return nil
	})
}
