package store

import "time"

// Idempotency is the first result of a mutating REST call made with an Idempotency-Key,
// written in the transaction of the change it made.
type Idempotency struct {
	AccountID int64
	Key       string
	Request   string // hash of the method, path and body
	Result    []byte // JSON of what the call made (its operations or object)
	Created   time.Time
}

// IdempotencyStore keeps idempotency keys, scoped per account (every Tx is one).
type IdempotencyStore interface {
	// InsertIdempotency returns ErrDuplicate when the account already used the key.
	InsertIdempotency(r *Idempotency) error
	// SetIdempotencyResult replaces the result of an account's key.
	SetIdempotencyResult(accountID int64, key string, result []byte) error
	// Idempotency returns ErrNotFound for an unknown key.
	Idempotency(accountID int64, key string) (*Idempotency, error)
	// PruneIdempotency deletes the keys created before t and returns how many.
	PruneIdempotency(before time.Time) (int64, error)
}
