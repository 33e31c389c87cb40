package billing

import (
	"context"
	"testing"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
)

func TestHourlyMilli(t *testing.T) {
	r := api.Rating{CPU: 4, RAM: 3, DiskData: 1, DiskSnapshot: 2, IPv4: 2, IPv6: 1, Instance: 5}
	for _, tc := range []struct {
		u    store.Usage
		want int64
	}{
		{store.Usage{}, 0},
		{store.Usage{RunningVMs: 1, Cores: 2, MemoryMB: 1024}, 5000 + 8000 + 3000},
		{store.Usage{DiskMB: 3072, SnapshotMB: 512}, 3000 + 1000},
		{store.Usage{IPv4: 2, IPv6: 3}, 4000 + 3000},
	} {
		if got := HourlyMilli(tc.u, r); got != tc.want {
			t.Errorf("HourlyMilli(%+v) = %d, want %d", tc.u, got, tc.want)
		}
	}
}

func TestCharge(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	a := &store.Account{Account: api.Account{Handle: "a", Created: start}, KeyHash: "k", CreditsMilli: 100_000, BilledAt: start}
	err = st.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertAccount(a); err != nil {
			return err
		}
		// A free trial of 8 credits, used before the paid ones.
		if err := tx.InsertTrial(&store.Trial{AccountID: a.ID, CouponID: 1, GrantedMilli: 8000, LeftMilli: 8000, Started: start, Expires: start.Add(24 * time.Hour)}); err != nil {
			return err
		}
		return tx.InsertVM(&store.VM{AccountID: a.ID, VM: api.VM{DatacenterID: 1, Hostname: "v", State: api.VMRunning, Memory: 1024, MaxMemory: 2048, Cores: 1, MaxCores: 4, Farm: "default", EntityID: "e", Created: start, Updated: start}})
	})
	if err != nil {
		t.Fatal(err)
	}
	r := api.Rating{CPU: 4, RAM: 3} // 7 credits an hour
	if err := Charge(ctx, st, r, start.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st.Read(ctx, func(tx store.Tx) error {
		got, err := tx.AccountByID(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CreditsMilli != 100_000-10_500 || !got.BilledAt.Equal(start.Add(90*time.Minute)) {
			t.Errorf("after 1.5 h at 7/h: %d milli-credits, billed at %s", got.CreditsMilli, got.BilledAt)
		}
		trials, err := tx.Trials(a.ID, true)
		if err != nil || len(trials) != 1 || trials[0].LeftMilli != 0 {
			t.Errorf("trial after 10.5 credits used: %+v, %v; want its 8 credits used first", trials, err)
		}
		return nil
	})
}
