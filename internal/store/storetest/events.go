package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/store"
)

// testEvents checks the outbox: every write of a tenant object appends an event in its
// transaction (none for a rolled-back one), scoped to the object's account, in seq order.
func testEvents(t *testing.T, st store.Store) {
	log, ok := st.(store.EventLog)
	if !ok {
		t.Fatal("the store does not implement store.EventLog")
	}
	ctx := context.Background()
	_, start, err := log.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := vm(1, "alpha", 256, "halted"), vm(2, "bravo", 256, "halted")
	write(t, st, func(tx store.Tx) error {
		if err := tx.InsertVM(a); err != nil {
			return err
		}
		return tx.InsertVM(b)
	})
	write(t, st, func(tx store.Tx) error {
		a.State = "running"
		if err := tx.UpdateVM(a); err != nil {
			return err
		}
		f := &store.Iface{AccountID: 1}
		f.DatacenterID, f.Num, f.Type, f.State = 1, 0, "public", "used"
		if err := tx.InsertIface(f); err != nil {
			return err
		}
		ip := &store.IP{AccountID: 1, Network: "n"}
		ip.IfaceID, ip.IP.IP, ip.Version, ip.State, ip.Type = f.ID, "192.0.2.9", 4, "created", "public"
		if err := tx.InsertIP(ip); err != nil {
			return err
		}
		return tx.DeleteIPsOfIface(f.ID)
	})
	boom := errors.New("boom")
	if err := st.Write(ctx, func(tx store.Tx) error {
		if err := tx.DeleteVM(a.ID); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("write = %v, want boom", err)
	}
	write(t, st, func(tx store.Tx) error { return tx.DeleteVM(a.ID) })

	type ev struct{ Kind, Action string }
	got := func(account int64) []ev {
		list, err := log.Events(ctx, account, start, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []ev
		last := start
		for _, e := range list {
			if e.Seq <= last {
				t.Fatalf("events out of order: %d after %d", e.Seq, last)
			}
			last = e.Seq
			if account != store.AllAccounts && e.AccountID != account {
				t.Fatalf("account %d got an event of account %d", account, e.AccountID)
			}
			out = append(out, ev{e.Kind, e.Action})
		}
		return out
	}
	want := []ev{{"vm", "created"}, {"vm", "updated"}, {"iface", "created"}, {"ip", "created"}, {"ip", "deleted"}, {"vm", "deleted"}}
	if diff := cmp.Diff(want, got(1)); diff != "" {
		t.Errorf("account 1 events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ev{{"vm", "created"}}, got(2)); diff != "" {
		t.Errorf("account 2 events (-want +got):\n%s", diff)
	}
	if n := len(got(store.AllAccounts)); n != 7 {
		t.Errorf("all accounts: %d events, want 7", n)
	}
	list, _ := log.Events(ctx, 1, start, 0, 1)
	if len(list) != 1 || string(list[0].Data) == "{}" || list[0].ObjectID != a.ID {
		t.Errorf("first event = %+v, want vm %d with its object", list, a.ID)
	}
	if upto := list[0].Seq; len(must(log.Events(ctx, store.AllAccounts, start, upto, 100))) != 1 {
		t.Errorf("events up to %d: want exactly one", upto)
	}
	n, err := log.PruneEvents(ctx, time.Now().Add(time.Hour))
	if err != nil || n < 7 {
		t.Fatalf("prune = %d, %v; want >= 7", n, err)
	}
	if lo, hi, err := log.EventBounds(ctx); err != nil || lo != 0 || hi != 0 {
		t.Errorf("bounds after prune = %d, %d, %v; want empty", lo, hi, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
