package store

import "time"

// AccessStore persists the access programme: API access per account, named API keys,
// free-trial coupons and the trial credits they grant, and test-share requests.
type AccessStore interface {
	// KeyAuth resolves the hash of an API key that is not revoked.
	KeyAuth(hash string) (*KeyAuth, error)
	// SetAPIAccess grants or revokes an account's API access.
	SetAPIAccess(accountID int64, on bool) error
	// APIAccess reports whether an account has API access.
	APIAccess(accountID int64) (bool, error)

	InsertAPIKey(k *APIKey) error
	// APIKeys lists an account's keys, revoked ones included, oldest first.
	APIKeys(accountID int64) ([]*APIKey, error)
	// RevokeAPIKey revokes one of the account's keys; ErrNotFound if it has no such
	// key not yet revoked.
	RevokeAPIKey(accountID, id int64, at time.Time) error

	InsertCoupon(c *Coupon) error
	CouponByHash(hash string) (*Coupon, error)
	Coupons() ([]*Coupon, error)
	// RedeemCoupon marks a coupon redeemed by an account, unless it already is: it
	// returns ErrDuplicate then, so that of two concurrent redemptions exactly one wins.
	RedeemCoupon(id, accountID int64, at time.Time) error

	InsertTrial(tr *Trial) error
	// Trials lists the trials of an account (AllAccounts: of every account); with
	// activeOnly, those not ended.
	Trials(accountID int64, activeOnly bool) ([]*Trial, error)
	UpdateTrial(tr *Trial) error

	InsertTrialRequest(r *TrialRequest) error
	TrialRequest(id int64) (*TrialRequest, error)
	// TrialRequests lists requests in one state ("" for all), oldest first.
	TrialRequests(state string) ([]*TrialRequest, error)
	UpdateTrialRequest(r *TrialRequest) error
	// CountTrialRequests counts the requests made from a client address since a time.
	CountTrialRequests(addr string, since time.Time) (int64, error)
}

// KeyAuth is what an API key resolves to.
type KeyAuth struct {
	KeyID     int64
	AccountID int64
	Handle    string
	APIAccess bool
}

// APIKey is one named API key of an account; only its hash is stored.
type APIKey struct {
	ID        int64
	AccountID int64
	Name      string
	KeyHash   string
	Prefix    string // the key's first characters, to tell keys apart
	Created   time.Time
	Revoked   time.Time // zero while the key works
}

// Coupon is a single-use free-trial code; only its hash is stored.
type Coupon struct {
	ID         int64
	CodeHash   string
	Prefix     string
	Credits    int64
	ValidDays  int64
	Note       string
	Created    time.Time
	RedeemBy   time.Time
	AccountID  int64 // 0 until redeemed
	RedeemedAt time.Time
}

// Trial is the credits a redeemed coupon granted to an account, until they expire.
type Trial struct {
	ID           int64
	AccountID    int64
	CouponID     int64
	GrantedMilli int64
	LeftMilli    int64 // what billing has not yet consumed of the grant
	Started      time.Time
	Expires      time.Time
	Warned       time.Time
	Ended        time.Time
}

// TrialRequest is a visitor's request for a test share.
type TrialRequest struct {
	ID         int64
	Handle     string
	Email      string
	Purpose    string
	ClientAddr string
	State      string // pending, approved, refused
	Reason     string
	AccountID  int64
	CouponID   int64
	Created    time.Time
	Decided    time.Time
}
