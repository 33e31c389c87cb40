package api

import "time"

// APIKey is one named API key of an account, as its owner sees it: never the key itself,
// which is shown once, when it is made.
type APIKey struct {
	ID      int64
	Name    string
	Prefix  string // the key's first characters
	Created time.Time
	Revoked time.Time // zero while the key works
	Current bool      // the key of the call that lists it
}

// Trial is the free-trial credits a coupon gave an account.
type Trial struct {
	ID          int64
	Credits     int64 // granted
	CreditsLeft int64 // not yet used; forfeited when the trial ends
	Started     time.Time
	Expires     time.Time
	Ended       time.Time // zero while it runs
	Warned      bool      // the account was told it ends soon
}

// Coupon is a free-trial code as the operator sees it (the code is shown once).
type Coupon struct {
	ID         int64
	Prefix     string
	Credits    int64
	ValidDays  int64
	Note       string
	Created    time.Time
	RedeemBy   time.Time
	AccountID  int64 // 0 until redeemed
	RedeemedAt time.Time
}

// TrialRequest states.
const (
	TrialPending  = "pending"
	TrialApproved = "approved"
	TrialRefused  = "refused"
)

// TrialRequest is a visitor's request for a test share.
type TrialRequest struct {
	ID         int64
	Handle     string
	Email      string
	Purpose    string
	ClientAddr string
	State      string
	Reason     string
	AccountID  int64
	CouponID   int64
	Created    time.Time
	Decided    time.Time
}
