package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berth-io/berth/internal/store"
)

func (t *txn) InsertIdempotency(r *store.Idempotency) error {
	_, err := t.exec(`INSERT INTO idempotency_keys (account_id, idem_key, request, result, created_at) VALUES ($1, $2, $3, $4, $5)`,
		r.AccountID, r.Key, r.Request, string(r.Result), unix(r.Created))
	if isUnique(err) {
		return fmt.Errorf("insert idempotency key: %w", store.ErrDuplicate)
	}
	return err
}

func (t *txn) SetIdempotencyResult(accountID int64, key string, result []byte) error {
	res, err := t.exec(`UPDATE idempotency_keys SET result = $3 WHERE account_id = $1 AND idem_key = $2`, accountID, key, string(result))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (t *txn) Idempotency(accountID int64, key string) (*store.Idempotency, error) {
	r := &store.Idempotency{AccountID: accountID, Key: key}
	var result string
	err := t.queryRow(`SELECT request, result, created_at FROM idempotency_keys WHERE account_id = $1 AND idem_key = $2`, accountID, key).
		Scan(&r.Request, &result, unixTime{&r.Created})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.Result = []byte(result)
	return r, nil
}

func (t *txn) PruneIdempotency(before time.Time) (int64, error) {
	res, err := t.exec(`DELETE FROM idempotency_keys WHERE created_at < $1`, unix(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
