package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// The access programme: API access per account, several named API keys, free-trial
// coupons. Trial requests are in trials.go, credit enforcement in credits.go.

var apiKeyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$`)

// keyPrefixLen is how much of a key is kept in clear, to tell keys apart.
const keyPrefixLen = 4

// CallerOf is the operator's view of an account by handle, for the admin commands.
func (s *Service) CallerOf(ctx context.Context, handle string) (*Caller, error) {
	var c *Caller
	err := s.st.Read(ctx, func(tx store.Tx) error {
		a, err := tx.AccountByHandle(handle)
		if err != nil {
			return err
		}
		on, err := tx.APIAccess(a.ID)
		c = &Caller{AccountID: a.ID, Handle: a.Handle, APIAccess: on}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.NotFound, api.ObjAccount, "no account %s", handle)
	}
	if err != nil {
		return nil, s.internal(err)
	}
	auditTouch(ctx, c.AccountID, "")
	return c, nil
}

// SetAPIAccess grants or revokes an account's API access (the operator's switch).
func (s *Service) SetAPIAccess(ctx context.Context, handle string, on bool) error {
	c, err := s.CallerOf(ctx, handle)
	if err != nil {
		return err
	}
	auditTouch(ctx, c.AccountID, AuditObject(api.ObjAccount, c.AccountID))
	return s.write(ctx, func(tx store.Tx) error { return tx.SetAPIAccess(c.AccountID, on) })
}

// APIAccessOpen reports whether every account may use the APIs.
func (s *Service) APIAccessOpen() bool { return s.cfg.OpenAPIAccess }

// KeyCreate makes a new named API key for the caller's account and returns it: the only
// time it is seen.
func (s *Service) KeyCreate(ctx context.Context, c *Caller, name string) (*api.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if !apiKeyNameRE.MatchString(name) {
		return nil, "", api.Errorf(api.Invalid, api.ObjAPIKey, "key name %q: use 1 to 40 letters, digits, spaces, '.', '_' or '-'", truncate(name, 64))
	}
	key := NewKey()
	k := &store.APIKey{AccountID: c.AccountID, Name: name, KeyHash: HashKey(key), Prefix: key[:keyPrefixLen], Created: s.now().UTC()}
	err := s.st.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertAPIKey(k); err != nil {
			return err
		}
		auditTouch(ctx, c.AccountID, AuditObject(api.ObjAPIKey, k.ID))
		return nil
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, "", api.Errorf(api.Conflict, api.ObjAPIKey, "a key named %q already exists: revoke it or choose another name", name)
	}
	if err != nil {
		return nil, "", s.internal(err)
	}
	out := toAPIKey(k, c)
	return &out, key, nil
}

// KeyList lists the caller's API keys, revoked ones included.
func (s *Service) KeyList(ctx context.Context, c *Caller) ([]api.APIKey, error) {
	var out []api.APIKey
	err := s.read(ctx, func(tx store.Tx) error {
		keys, err := tx.APIKeys(c.AccountID)
		for _, k := range keys {
			out = append(out, toAPIKey(k, c))
		}
		return err
	})
	return out, err
}

// KeyRevoke revokes one of the caller's keys at once. The last working key cannot be
// revoked, so that an account never locks itself out.
func (s *Service) KeyRevoke(ctx context.Context, c *Caller, id int64) (*api.APIKey, error) {
	auditTouch(ctx, c.AccountID, AuditObject(api.ObjAPIKey, id))
	var out api.APIKey
	err := s.write(ctx, func(tx store.Tx) error {
		keys, err := tx.APIKeys(c.AccountID)
		if err != nil {
			return err
		}
		var target *store.APIKey
		active := 0
		for _, k := range keys {
			if k.Revoked.IsZero() {
				active++
			}
			if k.ID == id {
				target = k
			}
		}
		if target == nil {
			return api.NotFoundErr(api.ObjAPIKey, id)
		}
		if !target.Revoked.IsZero() {
			return api.Errorf(api.Conflict, api.ObjAPIKey, "key %d (%s) is already revoked", id, target.Name)
		}
		if active == 1 {
			return api.Errorf(api.Conflict, api.ObjAPIKey, "key %d (%s) is the account's last working key: create another one first", id, target.Name)
		}
		target.Revoked = s.now().UTC()
		if err := tx.RevokeAPIKey(c.AccountID, id, target.Revoked); err != nil {
			return err
		}
		out = toAPIKey(target, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func toAPIKey(k *store.APIKey, c *Caller) api.APIKey {
	return api.APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Created: k.Created, Revoked: k.Revoked, Current: c != nil && c.KeyID == k.ID}
}

// Coupons.

// couponAlphabet leaves out letters and digits that read alike (0/O, 1/I/L).
const couponAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newCouponCode returns a code like BERTH-7KQ2-M9XA-P4TR.
func newCouponCode() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	var sb strings.Builder
	sb.WriteString("BERTH")
	for i, x := range b {
		if i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(couponAlphabet[int(x)%len(couponAlphabet)])
	}
	return sb.String()
}

// normalizeCoupon makes a typed code comparable: upper case, no spaces.
func normalizeCoupon(code string) string {
	return strings.ToUpper(strings.Join(strings.Fields(code), ""))
}

// hashCoupon is how coupon codes are stored: never in clear.
func hashCoupon(code string) string {
	h := sha256.Sum256([]byte("berth-coupon:" + normalizeCoupon(code)))
	return hex.EncodeToString(h[:])
}

// CouponSpec is what the operator asks of new coupons.
type CouponSpec struct {
	Credits    int64
	ValidDays  int64 // how long the trial's credits last once redeemed
	RedeemDays int64 // how long the code may be redeemed; 0: ValidDays
	Count      int
	Note       string
}

// CouponCreate makes single-use coupon codes and returns them: the only time they are seen.
func (s *Service) CouponCreate(ctx context.Context, spec CouponSpec) ([]string, error) {
	if err := checkCouponSpec(&spec); err != nil {
		return nil, err
	}
	codes := make([]string, spec.Count)
	err := s.write(ctx, func(tx store.Tx) error {
		for i := range codes {
			c, id, err := s.insertCoupon(tx, spec)
			if err != nil {
				return err
			}
			codes[i] = c
			auditTouch(ctx, 0, AuditObject(api.ObjCoupon, id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

func checkCouponSpec(spec *CouponSpec) error {
	switch {
	case spec.Credits <= 0 || spec.Credits > 1e9:
		return api.Errorf(api.Invalid, api.ObjCoupon, "credits %d is not between 1 and 1000000000", spec.Credits)
	case spec.ValidDays <= 0 || spec.ValidDays > 3650:
		return api.Errorf(api.Invalid, api.ObjCoupon, "valid days %d is not between 1 and 3650", spec.ValidDays)
	case spec.RedeemDays < 0 || spec.RedeemDays > 3650:
		return api.Errorf(api.Invalid, api.ObjCoupon, "redeem days %d is not between 1 and 3650", spec.RedeemDays)
	case spec.Count <= 0 || spec.Count > 10000:
		return api.Errorf(api.Invalid, api.ObjCoupon, "count %d is not between 1 and 10000", spec.Count)
	case len(spec.Note) > 200:
		return api.Errorf(api.Invalid, api.ObjCoupon, "note is longer than 200 characters")
	}
	if spec.RedeemDays == 0 {
		spec.RedeemDays = spec.ValidDays
	}
	return nil
}

func (s *Service) insertCoupon(tx store.Tx, spec CouponSpec) (code string, id int64, err error) {
	now := s.now().UTC()
	code = newCouponCode()
	c := &store.Coupon{CodeHash: hashCoupon(code), Prefix: code[:10], Credits: spec.Credits, ValidDays: spec.ValidDays,
		Note: spec.Note, Created: now, RedeemBy: now.Add(time.Duration(spec.RedeemDays) * 24 * time.Hour)}
	if err := tx.InsertCoupon(c); err != nil {
		return "", 0, err
	}
	return code, c.ID, nil
}

// Coupons lists every coupon, for the operator.
func (s *Service) Coupons(ctx context.Context) ([]api.Coupon, error) {
	var out []api.Coupon
	err := s.read(ctx, func(tx store.Tx) error {
		list, err := tx.Coupons()
		for _, c := range list {
			out = append(out, api.Coupon{ID: c.ID, Prefix: c.Prefix, Credits: c.Credits, ValidDays: c.ValidDays, Note: c.Note,
				Created: c.Created, RedeemBy: c.RedeemBy, AccountID: c.AccountID, RedeemedAt: c.RedeemedAt})
		}
		return err
	})
	return out, err
}

// Redeem turns a coupon code into trial credits for the caller's account. A code works
// once, for one account, before its redeem-by date; an account has one free trial.
func (s *Service) Redeem(ctx context.Context, c *Caller, code string) (*api.Trial, error) {
	norm := normalizeCoupon(code)
	if len(norm) < 8 || len(norm) > 64 {
		return nil, api.Errorf(api.Invalid, api.ObjCoupon, "coupon code %q is not valid", truncate(code, 64))
	}
	var out api.Trial
	err := s.write(ctx, func(tx store.Tx) error {
		now := s.now().UTC()
		cp, err := tx.CouponByHash(hashCoupon(norm))
		if errors.Is(err, store.ErrNotFound) {
			return api.Errorf(api.Invalid, api.ObjCoupon, "coupon code %q is not valid: check it, or ask support", truncate(code, 64))
		}
		if err != nil {
			return err
		}
		if cp.AccountID == c.AccountID {
			return api.Errorf(api.Conflict, api.ObjCoupon, "you already redeemed this coupon on %s", cp.RedeemedAt.Format(time.DateOnly))
		}
		if cp.AccountID != 0 {
			return api.Errorf(api.Conflict, api.ObjCoupon, "this coupon was already redeemed: a code works once")
		}
		if now.After(cp.RedeemBy) {
			return api.Errorf(api.Conflict, api.ObjCoupon, "this coupon expired on %s", cp.RedeemBy.Format(time.DateOnly))
		}
		prior, err := tx.Trials(c.AccountID, false)
		if err != nil {
			return err
		}
		if len(prior) > 0 {
			return api.Errorf(api.Conflict, api.ObjCoupon, "account %s already had its free trial (from %s): ask support for credits", c.Handle, prior[0].Started.Format(time.DateOnly))
		}
		if err := tx.RedeemCoupon(cp.ID, c.AccountID, now); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return api.Errorf(api.Conflict, api.ObjCoupon, "this coupon was already redeemed: a code works once")
			}
			return err
		}
		tr := &store.Trial{AccountID: c.AccountID, CouponID: cp.ID, GrantedMilli: cp.Credits * 1000, LeftMilli: cp.Credits * 1000,
			Started: now, Expires: now.Add(time.Duration(cp.ValidDays) * 24 * time.Hour)}
		if err := tx.InsertTrial(tr); err != nil {
			return err
		}
		auditTouch(ctx, c.AccountID, AuditObject(api.ObjTrial, tr.ID))
		a, err := tx.AccountByID(c.AccountID)
		if err != nil {
			return err
		}
		a.CreditsMilli += tr.GrantedMilli
		if err := tx.UpdateAccount(a); err != nil {
			return err
		}
		out = toTrial(tr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Trials lists the caller's free trials.
func (s *Service) Trials(ctx context.Context, c *Caller) ([]api.Trial, error) {
	var out []api.Trial
	err := s.read(ctx, func(tx store.Tx) error {
		list, err := tx.Trials(c.AccountID, false)
		for _, tr := range list {
			out = append(out, toTrial(tr))
		}
		return err
	})
	return out, err
}

func toTrial(tr *store.Trial) api.Trial {
	return api.Trial{ID: tr.ID, Credits: tr.GrantedMilli / 1000, CreditsLeft: tr.LeftMilli / 1000, Started: tr.Started,
		Expires: tr.Expires, Ended: tr.Ended, Warned: !tr.Warned.IsZero()}
}
