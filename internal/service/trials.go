package service

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Test-share requests: a visitor asks for a trial from the console's public page; the
// operator approves (an account with API access, a coupon, a one-time key) or refuses.
// Nothing a visitor sends creates an account.

// Limits on requests, per client address and in all.
const (
	trialRequestsPerAddr = 3 // per trialRequestWindow
	trialRequestWindow   = 24 * time.Hour
	maxPendingRequests   = 1000
)

// TrialRequestSpec is what a visitor sends.
type TrialRequestSpec struct {
	Handle, Email, Purpose string
	ClientAddr             string // set by the transport, never by the visitor
}

// RequestTrial records a visitor's request for a test share, after checking it and the
// rate of requests from its address.
func (s *Service) RequestTrial(ctx context.Context, spec TrialRequestSpec) (*api.TrialRequest, error) {
	spec.Handle = strings.TrimSpace(spec.Handle)
	spec.Email = strings.TrimSpace(spec.Email)
	spec.Purpose = strings.TrimSpace(spec.Purpose)
	if err := checkTrialRequest(spec); err != nil {
		return nil, err
	}
	var out api.TrialRequest
	err := s.write(ctx, func(tx store.Tx) error {
		if err := tx.Lock("trial-requests"); err != nil {
			return err
		}
		now := s.now().UTC()
		n, err := tx.CountTrialRequests(spec.ClientAddr, now.Add(-trialRequestWindow))
		if err != nil {
			return err
		}
		if n >= trialRequestsPerAddr {
			return api.Errorf(api.Unavailable, api.ObjTrial, "too many requests from your address: try again tomorrow")
		}
		pending, err := tx.TrialRequests(api.TrialPending)
		if err != nil {
			return err
		}
		if len(pending) >= maxPendingRequests {
			return api.Errorf(api.Unavailable, api.ObjTrial, "we receive too many requests right now: try again later")
		}
		for _, p := range pending {
			if strings.EqualFold(p.Handle, spec.Handle) {
				return api.Errorf(api.Conflict, api.ObjTrial, "a request for %s is already waiting for an answer", spec.Handle)
			}
		}
		r := &store.TrialRequest{Handle: spec.Handle, Email: spec.Email, Purpose: spec.Purpose, ClientAddr: spec.ClientAddr,
			State: api.TrialPending, Created: now}
		if err := tx.InsertTrialRequest(r); err != nil {
			return err
		}
		out = toTrialRequest(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func checkTrialRequest(spec TrialRequestSpec) error {
	if !handleRE.MatchString(spec.Handle) {
		return api.Errorf(api.Invalid, api.ObjTrial, "handle: use 1 to 40 letters, digits, '_' or '-', starting with a letter or digit")
	}
	addr, err := mail.ParseAddress(spec.Email)
	if err != nil || addr.Address != spec.Email || len(spec.Email) > 254 || !strings.Contains(spec.Email[strings.LastIndexByte(spec.Email, '@')+1:], ".") {
		return api.Errorf(api.Invalid, api.ObjTrial, "e-mail: give an address like name@example.org")
	}
	n := utf8.RuneCountInString(spec.Purpose)
	if n < 10 || n > 2000 || !utf8.ValidString(spec.Purpose) {
		return api.Errorf(api.Invalid, api.ObjTrial, "what you want to try: say it in 10 to 2000 characters")
	}
	if spec.ClientAddr == "" {
		return errors.New("trial request without a client address")
	}
	return nil
}

// TrialRequests lists the requests in a state ("" for all), for the operator.
func (s *Service) TrialRequests(ctx context.Context, state string) ([]api.TrialRequest, error) {
	var out []api.TrialRequest
	err := s.read(ctx, func(tx store.Tx) error {
		list, err := tx.TrialRequests(state)
		for _, r := range list {
			out = append(out, toTrialRequest(r))
		}
		return err
	})
	return out, err
}

// TrialApproval is what approving a request made: the key is empty when the handle's
// account existed (its owner keeps their keys: a request is no proof of ownership).
type TrialApproval struct {
	Request    api.TrialRequest
	Key        string
	Coupon     string
	NewAccount bool
}

// ApproveTrial approves a pending request: it creates the account with API access (or
// grants API access to the existing handle) and issues a coupon for the trial, in one
// transaction.
func (s *Service) ApproveTrial(ctx context.Context, id int64, spec CouponSpec) (*TrialApproval, error) {
	auditTouch(ctx, 0, AuditObject(api.ObjTrial, id))
	spec.Count = 1
	if err := checkCouponSpec(&spec); err != nil {
		return nil, err
	}
	var out TrialApproval
	err := s.write(ctx, func(tx store.Tx) error {
		r, err := pendingRequest(tx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		a, err := tx.AccountByHandle(r.Handle)
		switch {
		case errors.Is(err, store.ErrNotFound):
			key := NewKey()
			a = &store.Account{Account: api.Account{Handle: r.Handle, Created: now}, KeyHash: HashKey(key), BilledAt: now}
			if err := insertAccount(tx, a, key, now); err != nil {
				return err
			}
			out.Key, out.NewAccount = key, true
		case err != nil:
			return err
		}
		if err := tx.SetAPIAccess(a.ID, true); err != nil {
			return err
		}
		var couponID int64
		if out.Coupon, couponID, err = s.insertCoupon(tx, spec); err != nil {
			return err
		}
		auditTouch(ctx, a.ID, AuditObject(api.ObjAccount, a.ID))
		r.State, r.Decided, r.AccountID, r.CouponID = api.TrialApproved, now, a.ID, couponID
		if err := tx.UpdateTrialRequest(r); err != nil {
			return err
		}
		out.Request = toTrialRequest(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RefuseTrial refuses a pending request, with a reason kept for support.
func (s *Service) RefuseTrial(ctx context.Context, id int64, reason string) (*api.TrialRequest, error) {
	auditTouch(ctx, 0, AuditObject(api.ObjTrial, id))
	if len(reason) > 500 {
		return nil, api.Errorf(api.Invalid, api.ObjTrial, "reason is longer than 500 characters")
	}
	var out api.TrialRequest
	err := s.write(ctx, func(tx store.Tx) error {
		r, err := pendingRequest(tx, id)
		if err != nil {
			return err
		}
		r.State, r.Reason, r.Decided = api.TrialRefused, reason, s.now().UTC()
		if err := tx.UpdateTrialRequest(r); err != nil {
			return err
		}
		out = toTrialRequest(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func pendingRequest(tx store.Tx, id int64) (*store.TrialRequest, error) {
	r, err := tx.TrialRequest(id)
	if err != nil {
		return nil, notFound(err, api.ObjTrial, id)
	}
	if r.State != api.TrialPending {
		return nil, api.Errorf(api.Conflict, api.ObjTrial, "request %d was already %s on %s", id, r.State, r.Decided.Format(time.DateOnly))
	}
	return r, nil
}

func toTrialRequest(r *store.TrialRequest) api.TrialRequest {
	return api.TrialRequest{ID: r.ID, Handle: r.Handle, Email: r.Email, Purpose: r.Purpose, ClientAddr: r.ClientAddr, State: r.State,
		Reason: r.Reason, AccountID: r.AccountID, CouponID: r.CouponID, Created: r.Created, Decided: r.Decided}
}
