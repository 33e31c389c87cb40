// Package billing consumes credits per hour of resources at the rates of
// hosting.rating.list: cores, memory and the VM itself while it runs, disks and public
// addresses while they exist.
package billing

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// HourlyMilli is the cost of a usage for one hour, in thousandths of a credit.
func HourlyMilli(u store.Usage, r api.Rating) int64 {
	return u.RunningVMs*r.Instance*1000 +
		u.Cores*r.CPU*1000 +
		u.MemoryMB*r.RAM*1000/1024 +
		u.DiskMB*r.DiskData*1000/1024 +
		u.SnapshotMB*r.DiskSnapshot*1000/1024 +
		u.IPv4*r.IPv4*1000 +
		u.IPv6*r.IPv6*1000
}

// Charge bills every account for the time since it was last billed.
func Charge(ctx context.Context, st store.Store, r api.Rating, now time.Time) error {
	return st.Write(ctx, func(tx store.Tx) error {
		accounts, err := tx.Accounts()
		if err != nil {
			return err
		}
		trials, err := activeTrials(tx)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			elapsed := now.Sub(a.BilledAt)
			if elapsed <= 0 {
				continue
			}
			u, err := tx.Usage(a.ID)
			if err != nil {
				return err
			}
			cost := HourlyMilli(u, r) * int64(elapsed/time.Millisecond) / int64(time.Hour/time.Millisecond)
			if cost == 0 && HourlyMilli(u, r) > 0 {
				continue // too short to cost a thousandth: keep accumulating
			}
			a.CreditsMilli -= cost
			a.BilledAt = now
			if err := tx.UpdateAccount(a); err != nil {
				return err
			}
			if err := consumeTrials(tx, trials[a.ID], cost); err != nil {
				return err
			}
		}
		return nil
	})
}

// activeTrials returns the running free trials by account, oldest first.
func activeTrials(tx store.Tx) (map[int64][]*store.Trial, error) {
	list, err := tx.Trials(store.AllAccounts, true)
	if err != nil {
		return nil, err
	}
	out := map[int64][]*store.Trial{}
	for _, tr := range list {
		out[tr.AccountID] = append(out[tr.AccountID], tr)
	}
	return out, nil
}

// consumeTrials spends an account's trial credits first: what a trial still holds when it
// ends is forfeited, what the account paid for is not.
func consumeTrials(tx store.Tx, trials []*store.Trial, cost int64) error {
	for _, tr := range trials {
		if cost <= 0 {
			return nil
		}
		use := min(cost, tr.LeftMilli)
		if use <= 0 {
			continue
		}
		tr.LeftMilli -= use
		cost -= use
		if err := tx.UpdateTrial(tr); err != nil {
			return err
		}
	}
	return nil
}

// Run charges every interval until ctx ends.
func Run(ctx context.Context, st store.Store, r api.Rating, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := Charge(ctx, st, r, now.UTC()); err != nil && ctx.Err() == nil {
				log.Error("billing", "err", err)
			}
		}
	}
}
