package service_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// TestAccessProgramme runs the access programme on both engines: API keys, API access,
// coupons (once, twice, expired, by a second account, concurrently), trial expiry
// stopping a VM, and test-share requests.
func TestAccessProgramme(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Run("Keys", func(t *testing.T) { testAPIKeys(t, newEnvOn(t, engine)) })
			t.Run("Coupons", func(t *testing.T) { testCoupons(t, newEnvOn(t, engine)) })
			t.Run("Requests", func(t *testing.T) { testTrialRequests(t, newEnvOn(t, engine)) })
		})
	}
	t.Run("TrialExpiry", func(t *testing.T) { testTrialExpiry(t, newEnv(t)) })
}

func testAPIKeys(t *testing.T, e *env) {
	a, first, err := e.svc.CreateAccount(e.ctx, "keyowner", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.Auth(e.ctx, first)
	if err != nil || c.AccountID != a.ID || c.KeyID == 0 {
		t.Fatalf("auth with the first key: %+v, %v", c, err)
	}
	k, second, err := e.svc.KeyCreate(e.ctx, c, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if second == first || k.Prefix != second[:4] || k.Name != "ci" {
		t.Errorf("new key %+v (%s)", k, second)
	}
	c2, err := e.svc.Auth(e.ctx, second)
	if err != nil || c2.AccountID != a.ID || c2.KeyID != k.ID {
		t.Fatalf("auth with the second key: %+v, %v", c2, err)
	}
	_, _, err = e.svc.KeyCreate(e.ctx, c, "ci")
	wantCode(t, err, api.Conflict)
	_, _, err = e.svc.KeyCreate(e.ctx, c, "")
	wantCode(t, err, api.Invalid)
	_, _, err = e.svc.KeyCreate(e.ctx, c, strings.Repeat("x", 41))
	wantCode(t, err, api.Invalid)

	keys, err := e.svc.KeyList(e.ctx, c2)
	if err != nil || len(keys) != 2 || keys[0].Name != "default" || keys[0].Current || !keys[1].Current {
		t.Fatalf("keys seen with the second key: %+v, %v", keys, err)
	}
	// Another account sees none of them and cannot revoke them.
	_, err = e.svc.KeyRevoke(e.ctx, e.c, k.ID)
	wantCode(t, err, api.NotFound)
	if other, _ := e.svc.KeyList(e.ctx, e.c); len(other) != 1 {
		t.Errorf("alice sees %d keys, want her own 1", len(other))
	}

	// Revoked: refused at once.
	if _, err := e.svc.KeyRevoke(e.ctx, c2, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Auth(e.ctx, first)
	wantCode(t, err, api.NoRight)
	_, err = e.svc.KeyRevoke(e.ctx, c2, keys[0].ID)
	wantCode(t, err, api.Conflict)
	// The last working key stays.
	_, err = e.svc.KeyRevoke(e.ctx, c2, k.ID)
	wantCode(t, err, api.Conflict)

	// API access per handle.
	if err := e.svc.SetAPIAccess(e.ctx, "keyowner", false); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Auth(e.ctx, second)
	wantCode(t, err, api.NoAccess)
	if c, err := e.svc.AuthKey(e.ctx, second); err != nil || c.APIAccess {
		t.Errorf("AuthKey without API access: %+v, %v (the console still lets the account in)", c, err)
	}
	if err := e.svc.SetAPIAccess(e.ctx, "keyowner", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Auth(e.ctx, second); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.SetAPIAccess(e.ctx, "nobody", true), api.NotFound)
}

func testCoupons(t *testing.T, e *env) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e.svc.SetClock(func() time.Time { return now })
	_, err := e.svc.CouponCreate(e.ctx, service.CouponSpec{Credits: 0, ValidDays: 30, Count: 1})
	wantCode(t, err, api.Invalid)
	codes, err := e.svc.CouponCreate(e.ctx, service.CouponSpec{Credits: 500, ValidDays: 30, RedeemDays: 10, Count: 3, Note: "test"})
	if err != nil || len(codes) != 3 || codes[0] == codes[1] {
		t.Fatalf("codes %v, %v", codes, err)
	}
	bob := e.account("bob", 0)
	before := e.credits(bob)
	tr, err := e.svc.Redeem(e.ctx, bob, strings.ToLower(codes[0])) // typed in lower case
	if err != nil {
		t.Fatal(err)
	}
	if tr.Credits != 500 || !tr.Expires.Equal(now.Add(30*24*time.Hour)) || e.credits(bob) != before+500 {
		t.Errorf("trial %+v, credits %d → %d", tr, before, e.credits(bob))
	}
	for _, tc := range []struct {
		who  *service.Caller
		code string
		want string
	}{
		{bob, codes[0], "already redeemed this coupon"},
		{e.c, codes[0], "already redeemed"},
		{bob, codes[1], "already had its free trial"},
		{e.c, "BERTH-NOPE-NOPE-NOPE", "not valid"},
		{e.c, "x", "not valid"},
	} {
		before := e.credits(tc.who)
		_, err := e.svc.Redeem(e.ctx, tc.who, tc.code)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s redeems %s: %v, want %q", tc.who.Handle, tc.code, err, tc.want)
		}
		if e.credits(tc.who) != before {
			t.Errorf("%s got credits from a refused coupon", tc.who.Handle)
		}
	}
	// Expired: past its redeem-by date.
	now = now.Add(11 * 24 * time.Hour)
	_, err = e.svc.Redeem(e.ctx, e.c, codes[1])
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired coupon: %v", err)
	}
	// Concurrently by two accounts: exactly one wins.
	now = now.Add(-11 * 24 * time.Hour)
	carol, dave := e.account("carol", 0), e.account("dave", 0)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*service.Caller{carol, dave} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.svc.Redeem(e.ctx, c, codes[2])
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two accounts redeemed one code: %v, %v; want exactly one to win", errs[0], errs[1])
	}
	if got := e.credits(carol) + e.credits(dave); got != 500 {
		t.Errorf("credits given for one code: %d, want 500", got)
	}
	list, err := e.svc.Coupons(e.ctx)
	if err != nil || len(list) != 3 || list[0].AccountID != bob.AccountID || list[1].AccountID != 0 {
		t.Errorf("coupons %+v, %v", list, err)
	}
}

func testTrialExpiry(t *testing.T, e *env) {
	now := time.Now().UTC()
	e.svc.SetClock(func() time.Time { return now })
	codes, err := e.svc.CouponCreate(e.ctx, service.CouponSpec{Credits: 100, ValidDays: 7, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	erin := e.account("erin", 0)
	if _, err := e.svc.Redeem(e.ctx, erin, codes[0]); err != nil {
		t.Fatal(err)
	}
	e.c = erin
	v := e.vm("trialvm")
	if v.VM.State != api.VMRunning {
		t.Fatalf("vm %s", v.VM.State)
	}
	rep, err := e.svc.CreditsTick(e.ctx)
	if err != nil || len(rep.Warned)+len(rep.Ended)+len(rep.Stopped) != 0 {
		t.Fatalf("tick on day 0: %+v, %v", rep, err)
	}
	now = now.Add(5 * 24 * time.Hour) // 2 days left: under the 72 h warning
	rep, err = e.svc.CreditsTick(e.ctx)
	if err != nil || len(rep.Warned) != 1 || len(rep.Ended) != 0 {
		t.Fatalf("tick 2 days before the end: %+v, %v", rep, err)
	}
	if trials, _ := e.svc.Trials(e.ctx, erin); len(trials) != 1 || !trials[0].Warned {
		t.Errorf("trials %+v: want warned", trials)
	}
	if rep, _ = e.svc.CreditsTick(e.ctx); len(rep.Warned) != 0 {
		t.Errorf("warned twice: %+v", rep)
	}
	now = now.Add(2 * 24 * time.Hour)
	rep, err = e.svc.CreditsTick(e.ctx)
	if err != nil || len(rep.Ended) != 1 || len(rep.Stopped) != 1 || rep.Stopped[0] != v.VM.ID {
		t.Fatalf("tick at the end: %+v, %v", rep, err)
	}
	if e.credits(erin) != 0 {
		t.Errorf("credits after the trial: %d, want 0 (forfeited)", e.credits(erin))
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.info(v.VM.ID).VM.State != api.VMHalted {
		if time.Now().After(deadline) {
			t.Fatalf("vm still %s after the trial ended", e.info(v.VM.ID).VM.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = e.svc.VMStart(e.ctx, erin, v.VM.ID)
	wantCode(t, err, api.NoCredit)
	if rep, _ = e.svc.CreditsTick(e.ctx); len(rep.Stopped) != 0 {
		t.Errorf("stopped again: %+v", rep)
	}
}

func testTrialRequests(t *testing.T, e *env) {
	ok := service.TrialRequestSpec{Handle: "newbie", Email: "newbie@example.org", Purpose: "a small web shop on two VMs", ClientAddr: "192.0.2.7"}
	for _, bad := range []service.TrialRequestSpec{
		{Handle: "", Email: ok.Email, Purpose: ok.Purpose, ClientAddr: ok.ClientAddr},
		{Handle: "bad handle", Email: ok.Email, Purpose: ok.Purpose, ClientAddr: ok.ClientAddr},
		{Handle: ok.Handle, Email: "nobody", Purpose: ok.Purpose, ClientAddr: ok.ClientAddr},
		{Handle: ok.Handle, Email: "a@b", Purpose: ok.Purpose, ClientAddr: ok.ClientAddr},
		{Handle: ok.Handle, Email: "Eve <eve@example.org>", Purpose: ok.Purpose, ClientAddr: ok.ClientAddr},
		{Handle: ok.Handle, Email: ok.Email, Purpose: "short", ClientAddr: ok.ClientAddr},
		{Handle: ok.Handle, Email: ok.Email, Purpose: strings.Repeat("x", 2001), ClientAddr: ok.ClientAddr},
	} {
		_, err := e.svc.RequestTrial(e.ctx, bad)
		wantCode(t, err, api.Invalid)
	}
	r, err := e.svc.RequestTrial(e.ctx, ok)
	if err != nil || r.State != api.TrialPending {
		t.Fatalf("request: %+v, %v", r, err)
	}
	_, err = e.svc.RequestTrial(e.ctx, ok)
	wantCode(t, err, api.Conflict) // the same handle is waiting
	for _, h := range []string{"second", "third"} {
		if _, err := e.svc.RequestTrial(e.ctx, service.TrialRequestSpec{Handle: h, Email: ok.Email, Purpose: ok.Purpose, ClientAddr: ok.ClientAddr}); err != nil && h == "second" {
			t.Fatal(err)
		}
	}
	_, err = e.svc.RequestTrial(e.ctx, service.TrialRequestSpec{Handle: "fourth", Email: ok.Email, Purpose: ok.Purpose, ClientAddr: ok.ClientAddr})
	wantCode(t, err, api.Unavailable) // rate limit of the address
	if _, err := e.svc.RequestTrial(e.ctx, service.TrialRequestSpec{Handle: "alice", Email: ok.Email, Purpose: ok.Purpose, ClientAddr: "192.0.2.8"}); err != nil {
		t.Fatal(err)
	}
	// No account exists before approval.
	if _, err := e.svc.CallerOf(e.ctx, "newbie"); !api.IsCode(err, api.NotFound) {
		t.Fatalf("account before approval: %v", err)
	}
	pending, err := e.svc.TrialRequests(e.ctx, api.TrialPending)
	if err != nil || len(pending) != 4 || pending[3].Handle != "alice" {
		t.Fatalf("pending: %+v, %v", pending, err)
	}

	ap, err := e.svc.ApproveTrial(e.ctx, r.ID, service.CouponSpec{Credits: 300, ValidDays: 30})
	if err != nil || !ap.NewAccount || ap.Key == "" || ap.Coupon == "" || ap.Request.State != api.TrialApproved {
		t.Fatalf("approve: %+v, %v", ap, err)
	}
	c, err := e.svc.Auth(e.ctx, ap.Key)
	if err != nil || c.Handle != "newbie" {
		t.Fatalf("the approved key: %+v, %v", c, err)
	}
	if tr, err := e.svc.Redeem(e.ctx, c, ap.Coupon); err != nil || tr.Credits != 300 {
		t.Fatalf("redeem the approval's coupon: %+v, %v", tr, err)
	}
	_, err = e.svc.ApproveTrial(e.ctx, r.ID, service.CouponSpec{Credits: 300, ValidDays: 30})
	wantCode(t, err, api.Conflict)

	// An existing handle: API access granted, no key handed out.
	if err := e.svc.SetAPIAccess(e.ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	ap, err = e.svc.ApproveTrial(e.ctx, pending[3].ID, service.CouponSpec{Credits: 300, ValidDays: 30})
	if err != nil || ap.NewAccount || ap.Key != "" || ap.Coupon == "" {
		t.Fatalf("approve for an existing handle: %+v, %v", ap, err)
	}
	if c, err := e.svc.CallerOf(e.ctx, "alice"); err != nil || !c.APIAccess {
		t.Errorf("alice after approval: %+v, %v", c, err)
	}
	ref, err := e.svc.RefuseTrial(e.ctx, pending[1].ID, "duplicate")
	if err != nil || ref.State != api.TrialRefused {
		t.Fatalf("refuse: %+v, %v", ref, err)
	}
	if _, err := e.svc.CallerOf(e.ctx, "second"); !api.IsCode(err, api.NotFound) {
		t.Errorf("a refused request made an account: %v", err)
	}
	_, err = e.svc.ApproveTrial(e.ctx, 9999, service.CouponSpec{Credits: 300, ValidDays: 30})
	wantCode(t, err, api.NotFound)
}

// account creates an account with credits and returns it as a caller.
func (e *env) account(handle string, credits int64) *service.Caller {
	e.t.Helper()
	_, key, err := e.svc.CreateAccount(e.ctx, handle, "", credits)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.svc.Auth(e.ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) credits(c *service.Caller) int64 {
	e.t.Helper()
	a, err := e.svc.AccountInfo(e.ctx, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.Credits
}
