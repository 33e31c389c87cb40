package service

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// IdempotencyTTL is how long an idempotency key and its first result are kept.
const IdempotencyTTL = 24 * time.Hour

// Claim is an Idempotency-Key a transport attaches to a mutating call's context: every
// transaction of the call that makes something records it, with what it made, in the same
// transaction, so a retry of a call whose answer was lost finds the first result.
type Claim struct {
	Key     string
	Request string // hash of what was asked (method, path, body)

	tx        store.Tx
	results   []json.RawMessage
	Duplicate bool // the key was recorded by a concurrent call first
}

type claimKey struct{}

// WithClaim returns ctx carrying an idempotency claim.
func WithClaim(ctx context.Context, c *Claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// Results is what the call made, in order (operations, or the object it created).
func (c *Claim) Results() []json.RawMessage { return c.results }

// remember records v as made by the call in ctx's claim, if any, in tx.
func (s *Service) remember(ctx context.Context, tx store.Tx, accountID int64, v any) error {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	if c == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	first := c.tx != tx
	if first { // a new (or retried) transaction starts the list again
		c.tx, c.results = tx, nil
	}
	c.results = append(c.results, b)
	all, err := json.Marshal(c.results)
	if err != nil {
		return err
	}
	if !first {
		return tx.SetIdempotencyResult(accountID, c.Key, all)
	}
	err = tx.InsertIdempotency(&store.Idempotency{AccountID: accountID, Key: c.Key, Request: c.Request, Result: all, Created: s.now().UTC()})
	if errors.Is(err, store.ErrDuplicate) {
		c.Duplicate = true
		return api.Errorf(api.Conflict, api.ObjUnknown, "idempotency key %q is being used by another request", truncate(c.Key, 64))
	}
	return err
}

// IdempotentResult returns what the caller's first call with key recorded, or nil when
// the key is unknown (or expired).
func (s *Service) IdempotentResult(ctx context.Context, c *Caller, key string) (*store.Idempotency, error) {
	var out *store.Idempotency
	err := s.read(ctx, func(tx store.Tx) error {
		r, err := tx.Idempotency(c.AccountID, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil && s.now().Sub(r.Created) < IdempotencyTTL {
			out = r
		}
		return err
	})
	return out, err
}

// PruneIdempotency deletes the keys older than IdempotencyTTL.
func (s *Service) PruneIdempotency(ctx context.Context) (n int64, err error) {
	err = s.st.Write(ctx, func(tx store.Tx) error {
		n, err = tx.PruneIdempotency(s.now().Add(-IdempotencyTTL))
		return err
	})
	return n, err
}
