package service

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// defaultTrialWarning is how long before its end a trial's account is warned.
const defaultTrialWarning = 72 * time.Hour

// CreditsTick is run after each billing pass: it warns the accounts whose trial ends soon,
// ends the trials that expired (their unused credits are forfeited), and stops the running
// VMs of every account whose credits are used up. It returns what it did, for the log.
func (s *Service) CreditsTick(ctx context.Context) (TickReport, error) {
	var rep TickReport
	now := s.now().UTC()
	warnBefore := s.cfg.TrialWarning
	if warnBefore == 0 {
		warnBefore = defaultTrialWarning
	}
	err := s.write(ctx, func(tx store.Tx) error {
		// One pass at a time across API servers: two would stop the same VMs twice.
		if err := tx.Lock("credits"); err != nil {
			return err
		}
		active, err := tx.Trials(store.AllAccounts, true)
		if err != nil {
			return err
		}
		for _, tr := range active {
			switch {
			case !now.Before(tr.Expires):
				if err := s.endTrial(tx, tr, now); err != nil {
					return err
				}
				rep.Ended = append(rep.Ended, tr.AccountID)
			case tr.Warned.IsZero() && !now.Before(tr.Expires.Add(-warnBefore)):
				tr.Warned = now
				if err := tx.UpdateTrial(tr); err != nil {
					return err
				}
				rep.Warned = append(rep.Warned, tr.AccountID)
				s.log.Warn("trial ends soon", "account", tr.AccountID, "expires", tr.Expires, "credits_left", tr.LeftMilli/1000)
			}
		}
		stopped, err := s.stopUnpaid(ctx, tx)
		rep.Stopped = stopped
		return err
	})
	return rep, err
}

// TickReport is what CreditsTick did.
type TickReport struct {
	Warned, Ended []int64 // accounts
	Stopped       []int64 // VMs
}

// endTrial forfeits a trial's unused credits.
func (s *Service) endTrial(tx store.Tx, tr *store.Trial, now time.Time) error {
	a, err := tx.AccountByID(tr.AccountID)
	if err != nil {
		return err
	}
	forfeit := min(tr.LeftMilli, max(a.CreditsMilli, 0))
	a.CreditsMilli -= forfeit
	if err := tx.UpdateAccount(a); err != nil {
		return err
	}
	tr.LeftMilli, tr.Ended = 0, now
	s.log.Warn("trial ended", "account", a.Handle, "credits_forfeited", forfeit/1000)
	return tx.UpdateTrial(tr)
}

// stopUnpaid stops the running VMs of accounts with no credits left, as operations their
// owners see (source "billing"); a VM with an operation under way is left for the next pass.
func (s *Service) stopUnpaid(ctx context.Context, tx store.Tx) ([]int64, error) {
	accounts, err := tx.Accounts()
	if err != nil {
		return nil, err
	}
	var busy map[int64]bool
	var stopped []int64
	for _, a := range accounts {
		if a.CreditsMilli > 0 {
			continue
		}
		running, err := tx.VMs(store.Query{Scope: a.ID, Filters: []api.Filter{{Field: "state", Values: []any{api.VMRunning}}}})
		if err != nil {
			return nil, err
		}
		if len(running) == 0 {
			continue
		}
		if busy == nil {
			if busy, err = tx.BusyVMs(); err != nil {
				return nil, err
			}
		}
		c := &Caller{AccountID: a.ID, Handle: "billing"}
		for _, v := range running {
			if busy[v.ID] {
				continue
			}
			op, err := s.newOp(c, ops.VMStop, struct{}{})
			if err != nil {
				return nil, err
			}
			op.VMID, op.DatacenterID = v.ID, v.DatacenterID
			if err := onHost(tx, op, v.Host, api.ObjVM, v.ID); err != nil {
				continue // the VM's host is down: the next pass tries again
			}
			if err := s.submit(ctx, tx, op); err != nil {
				return nil, fmt.Errorf("stop vm %d of %s: %w", v.ID, a.Handle, err)
			}
			stopped = append(stopped, v.ID)
			s.log.Warn("no credits left: stopping vm", "account", a.Handle, "vm", v.ID)
		}
	}
	return stopped, nil
}

// EndTrials ends an account's running trials now (support's decision), as expiry would;
// it returns how many it ended.
func (s *Service) EndTrials(ctx context.Context, handle string) (int, error) {
	c, err := s.CallerOf(ctx, handle)
	if err != nil {
		return 0, err
	}
	auditTouch(ctx, c.AccountID, AuditObject(api.ObjAccount, c.AccountID))
	n := 0
	err = s.write(ctx, func(tx store.Tx) error {
		active, err := tx.Trials(c.AccountID, true)
		if err != nil {
			return err
		}
		for _, tr := range active {
			if err := s.endTrial(tx, tr, s.now().UTC()); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
