package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berth-io/berth/internal/store"
)

// The access programme's tables (migration 00008).

var apiKeyCols = []string{"account_id", "name", "key_hash", "prefix", "created_at", "revoked_at"}

var apiKeys = &table[store.APIKey]{
	text: texts("name", "key_hash", "prefix"), scoped: true,
	name: "api_keys", cols: apiKeyCols, fields: fieldsOf(apiKeyCols, nil),
	vals: func(k *store.APIKey) []any {
		return []any{k.AccountID, k.Name, k.KeyHash, k.Prefix, unix(k.Created), unix(k.Revoked)}
	},
	ptrs: func(k *store.APIKey) []any {
		return []any{&k.ID, &k.AccountID, &k.Name, &k.KeyHash, &k.Prefix, unixTime{&k.Created}, unixTime{&k.Revoked}}
	},
	id:   func(k *store.APIKey) *int64 { return &k.ID },
	kind: "api_key", event: func(k *store.APIKey) (int64, any) { return k.AccountID, apiKeyEvent(k.Name, k.Prefix, k.Revoked) },
}

// apiKeyEvent is what the events stream says of a key: never its hash.
func apiKeyEvent(name, prefix string, revoked time.Time) map[string]any {
	return map[string]any{"name": name, "prefix": prefix, "revoked": !revoked.IsZero()}
}

var couponCols = []string{"code_hash", "prefix", "credits", "valid_days", "note", "created_at", "redeem_by", "account_id", "redeemed_at"}

var coupons = &table[store.Coupon]{
	text: texts("code_hash", "prefix", "note"),
	name: "coupons", cols: couponCols, fields: fieldsOf(couponCols, nil),
	vals: func(c *store.Coupon) []any {
		return []any{c.CodeHash, c.Prefix, c.Credits, c.ValidDays, c.Note, unix(c.Created), unix(c.RedeemBy), c.AccountID, unix(c.RedeemedAt)}
	},
	ptrs: func(c *store.Coupon) []any {
		return []any{&c.ID, &c.CodeHash, &c.Prefix, &c.Credits, &c.ValidDays, &c.Note, unixTime{&c.Created}, unixTime{&c.RedeemBy}, &c.AccountID, unixTime{&c.RedeemedAt}}
	},
	id: func(c *store.Coupon) *int64 { return &c.ID },
}

var trialCols = []string{"account_id", "coupon_id", "granted_milli", "left_milli", "started_at", "expires_at", "warned_at", "ended_at"}

var trials = &table[store.Trial]{
	scoped: true,
	name:   "trials", cols: trialCols, fields: fieldsOf(trialCols, nil),
	vals: func(tr *store.Trial) []any {
		return []any{tr.AccountID, tr.CouponID, tr.GrantedMilli, tr.LeftMilli, unix(tr.Started), unix(tr.Expires), unix(tr.Warned), unix(tr.Ended)}
	},
	ptrs: func(tr *store.Trial) []any {
		return []any{&tr.ID, &tr.AccountID, &tr.CouponID, &tr.GrantedMilli, &tr.LeftMilli, unixTime{&tr.Started}, unixTime{&tr.Expires}, unixTime{&tr.Warned}, unixTime{&tr.Ended}}
	},
	id:   func(tr *store.Trial) *int64 { return &tr.ID },
	kind: "trial", event: func(tr *store.Trial) (int64, any) {
		return tr.AccountID, map[string]any{"credits_left": tr.LeftMilli / 1000, "expires": tr.Expires, "warned": !tr.Warned.IsZero(), "ended": !tr.Ended.IsZero()}
	},
}

var trialRequestCols = []string{"handle", "email", "purpose", "client_addr", "state", "reason", "account_id", "coupon_id", "created_at", "decided_at"}

var trialRequests = &table[store.TrialRequest]{
	text: texts("handle", "email", "purpose", "client_addr", "state", "reason"),
	name: "trial_requests", cols: trialRequestCols, fields: fieldsOf(trialRequestCols, nil),
	vals: func(r *store.TrialRequest) []any {
		return []any{r.Handle, r.Email, r.Purpose, r.ClientAddr, r.State, r.Reason, r.AccountID, r.CouponID, unix(r.Created), unix(r.Decided)}
	},
	ptrs: func(r *store.TrialRequest) []any {
		return []any{&r.ID, &r.Handle, &r.Email, &r.Purpose, &r.ClientAddr, &r.State, &r.Reason, &r.AccountID, &r.CouponID, unixTime{&r.Created}, unixTime{&r.Decided}}
	},
	id: func(r *store.TrialRequest) *int64 { return &r.ID },
}

// keyAuth is the one query every API call makes: prepared (hotQueries).
const keyAuth = `SELECT k.id, a.id, a.handle, a.api_access FROM api_keys k JOIN accounts a ON a.id = k.account_id
	WHERE k.key_hash = $1 AND k.revoked_at = 0`

func (t *txn) KeyAuth(hash string) (*store.KeyAuth, error) {
	var k store.KeyAuth
	err := t.queryRow(keyAuth, hash).Scan(&k.KeyID, &k.AccountID, &k.Handle, boolInt{&k.APIAccess})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("key auth: %w", err)
	}
	return &k, nil
}

func (t *txn) SetAPIAccess(accountID int64, on bool) error {
	res, err := t.exec(`UPDATE accounts SET api_access = $2 WHERE id = $1`, accountID, b2i(on))
	if err != nil {
		return fmt.Errorf("set api access: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return t.emit("account", evUpdated, accountID, accountID, map[string]bool{"api_access": on})
}

func (t *txn) APIAccess(accountID int64) (bool, error) {
	var on bool
	err := t.queryRow(`SELECT api_access FROM accounts WHERE id = $1`, accountID).Scan(boolInt{&on})
	if errors.Is(err, sql.ErrNoRows) {
		return false, store.ErrNotFound
	}
	return on, err
}

func (t *txn) InsertAPIKey(k *store.APIKey) error { return apiKeys.insert(t, k) }

func (t *txn) APIKeys(accountID int64) ([]*store.APIKey, error) {
	return apiKeys.list(t, store.Query{Scope: accountID})
}

func (t *txn) RevokeAPIKey(accountID, id int64, at time.Time) error {
	var name, prefix string
	err := t.queryRow(`UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at = 0 RETURNING name, prefix`,
		id, accountID, unix(at)).Scan(&name, &prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return t.emit("api_key", evUpdated, accountID, id, apiKeyEvent(name, prefix, at))
}

func (t *txn) InsertCoupon(c *store.Coupon) error { return coupons.insert(t, c) }

func (t *txn) CouponByHash(hash string) (*store.Coupon, error) {
	return one(coupons.queryRows(t, "SELECT "+coupons.selectCols()+" FROM coupons WHERE code_hash = $1", hash))
}

func (t *txn) Coupons() ([]*store.Coupon, error) { return coupons.list(t, store.Query{}) }

func (t *txn) RedeemCoupon(id, accountID int64, at time.Time) error {
	res, err := t.exec(`UPDATE coupons SET account_id = $2, redeemed_at = $3 WHERE id = $1 AND account_id = 0`, id, accountID, unix(at))
	if err != nil {
		return fmt.Errorf("redeem coupon: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrDuplicate
	}
	return nil
}

func (t *txn) InsertTrial(tr *store.Trial) error { return trials.insert(t, tr) }
func (t *txn) UpdateTrial(tr *store.Trial) error { return trials.update(t, tr) }

func (t *txn) Trials(accountID int64, activeOnly bool) ([]*store.Trial, error) {
	q := store.Query{Scope: accountID}
	if !activeOnly {
		return trials.list(t, q)
	}
	where, args := trials.where(q, t.like)
	if where == "" {
		where = " WHERE ended_at = 0"
	} else {
		where += " AND ended_at = 0"
	}
	return trials.queryRows(t, "SELECT "+trials.selectCols()+" FROM trials"+where+" ORDER BY id", args...)
}

func (t *txn) InsertTrialRequest(r *store.TrialRequest) error { return trialRequests.insert(t, r) }
func (t *txn) UpdateTrialRequest(r *store.TrialRequest) error { return trialRequests.update(t, r) }

func (t *txn) TrialRequest(id int64) (*store.TrialRequest, error) {
	return trialRequests.get(t, store.AllAccounts, id)
}

func (t *txn) TrialRequests(state string) ([]*store.TrialRequest, error) {
	if state == "" {
		return trialRequests.list(t, store.Query{})
	}
	return trialRequests.queryRows(t, "SELECT "+trialRequests.selectCols()+" FROM trial_requests WHERE state = $1 ORDER BY id", state)
}

func (t *txn) CountTrialRequests(addr string, since time.Time) (int64, error) {
	var n int64
	err := t.queryRow(`SELECT COUNT(*) FROM trial_requests WHERE client_addr = $1 AND created_at >= $2`, addr, unix(since)).Scan(&n)
	return n, err
}
