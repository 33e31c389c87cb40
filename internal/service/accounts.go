package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

var handleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`)

// CreateAccount creates an account with initial credits and returns its API key: the only
// time the key is seen, since only its hash is stored.
func (s *Service) CreateAccount(ctx context.Context, handle, fullname string, credits int64) (*api.Account, string, error) {
	if !handleRE.MatchString(handle) {
		return nil, "", fmt.Errorf("handle %q: use 1 to 40 letters, digits, '_' or '-'", handle)
	}
	if credits < 0 {
		return nil, "", fmt.Errorf("credits %d is negative", credits)
	}
	key := NewKey()
	now := s.now().UTC()
	a := &store.Account{Account: api.Account{Handle: handle, FullName: fullname, Created: now}, KeyHash: HashKey(key), CreditsMilli: credits * 1000, BilledAt: now}
	err := s.st.Write(ctx, func(tx store.Tx) error {
		if err := insertAccount(tx, a, key, now); err != nil {
			return err
		}
		auditTouch(ctx, a.ID, AuditObject(api.ObjAccount, a.ID))
		return nil
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, "", fmt.Errorf("account %s already exists", handle)
	}
	if err != nil {
		return nil, "", err
	}
	a.Credits = credits
	return &a.Account, key, nil
}

// insertAccount inserts an account and its first API key, named "default".
func insertAccount(tx store.Tx, a *store.Account, key string, now time.Time) error {
	if err := tx.InsertAccount(a); err != nil {
		return err
	}
	return tx.InsertAPIKey(&store.APIKey{AccountID: a.ID, Name: "default", KeyHash: a.KeyHash, Prefix: key[:keyPrefixLen], Created: now})
}

// Credit adds credits (and prepaid money, in cents) to an account.
func (s *Service) Credit(ctx context.Context, handle string, credits, cents int64) (*api.Account, error) {
	var out api.Account
	err := s.st.Write(ctx, func(tx store.Tx) error {
		a, err := tx.AccountByHandle(handle)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s", handle)
		}
		if err != nil {
			return err
		}
		auditTouch(ctx, a.ID, AuditObject(api.ObjAccount, a.ID))
		a.CreditsMilli += credits * 1000
		a.PrepaidCents += cents
		if err := tx.UpdateAccount(a); err != nil {
			return err
		}
		out = toAccount(a)
		return nil
	})
	return &out, err
}

func toAccount(a *store.Account) api.Account {
	out := a.Account
	out.Credits = a.CreditsMilli / 1000
	if a.CreditsMilli < 0 && a.CreditsMilli%1000 != 0 {
		out.Credits--
	}
	return out
}

// AccountInfo returns the caller's account.
func (s *Service) AccountInfo(ctx context.Context, c *Caller) (*api.Account, error) {
	var out api.Account
	err := s.read(ctx, func(tx store.Tx) error {
		a, err := tx.AccountByID(c.AccountID)
		if err != nil {
			return err
		}
		out = toAccount(a)
		return nil
	})
	return &out, err
}

// Rating returns the hourly credit costs.
func (s *Service) Rating() api.Rating {
	r := s.cfg.Rating
	r.Timestamp = s.now().UTC().Truncate(3600e9)
	return r
}

// Currency is the currency of prepaid balances.
func (s *Service) Currency() string { return s.cfg.Currency }

// ConsoleURL is the host shown as a VM's console_url.
func (s *Service) ConsoleURL() string { return s.cfg.ConsoleURL }

// BuyCredits turns prepaid money into credits at the configured price, as an operation.
func (s *Service) BuyCredits(ctx context.Context, c *Caller, credits int64) (*api.Operation, error) {
	if credits <= 0 || credits > 1e9 {
		return nil, api.Errorf(api.Invalid, api.ObjHosting, "credits %d is not between 1 and 1000000000", credits)
	}
	cents := credits * s.cfg.CreditPriceCents
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		a, err := tx.AccountByID(c.AccountID)
		if err != nil {
			return nil, err
		}
		if a.PrepaidCents < cents {
			return nil, api.Errorf(api.Conflict, api.ObjHosting, "%d credits cost %d.%02d %s, the prepaid balance is %d.%02d", credits, cents/100, cents%100, s.cfg.Currency, a.PrepaidCents/100, a.PrepaidCents%100)
		}
		return s.newOp(c, ops.AccountCredit, ops.CreditSpec{Credits: credits, Cents: cents})
	})
}
