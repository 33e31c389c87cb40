package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store/sqlstore"
)

// TestAuthThrottle: failures from one address are slowed, then refused for a while with a
// clear fault; a valid key is never slowed, keeps working from a locked-out address if it
// authenticated there before, and other addresses are not affected.
func TestAuthThrottle(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := service.Config{OpenAPIAccess: true, Throttle: service.ThrottleConfig{SlowAfter: 2, LockAfter: 5, Step: time.Millisecond, MaxDelay: 5 * time.Millisecond, LockFor: time.Hour}}
	svc := service.New(st, &service.Catalog{}, cfg, nil)
	_, good, err := svc.CreateAccount(ctx, "good", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := svc.CreateAccount(ctx, "other", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	a := service.WithClient(ctx, "192.0.2.7:41000")
	if c, err := svc.Auth(a, good); err != nil || c.Handle != "good" {
		t.Fatalf("good key: %v %v", c, err)
	}
	bad := strings.Repeat("x", 24)
	for i := 1; i <= 5; i++ {
		_, err := svc.Auth(a, bad)
		if e, ok := err.(*api.Error); !ok || e.Code != api.NoRight || strings.Contains(e.Message, "too many") {
			t.Fatalf("failure %d: %v", i, err)
		}
		if i == 3 {
			if c, err := svc.Auth(a, good); err != nil || c.Handle != "good" {
				t.Fatalf("good key among failures: %v", err)
			}
		}
	}
	if s := svc.AuthStats(); s.Failures != 5 || s.Slowed != 3 || s.Refused != 0 {
		t.Fatalf("stats after 5 failures: %+v", s)
	}
	for _, key := range []string{bad, other, "not-a-key"} {
		_, err := svc.Auth(a, key)
		if e, ok := err.(*api.Error); !ok || e.Code != api.NoRight || !strings.Contains(e.Message, "too many failed authentications from 192.0.2.7: refused for 1h0m0s") {
			t.Fatalf("locked out, key %q: %v", key, err)
		}
	}
	if c, err := svc.Auth(a, good); err != nil || c.Handle != "good" {
		t.Fatalf("a key that authenticated from the address before the lockout: %v", err)
	}
	if c, err := svc.Auth(service.WithClient(ctx, "198.51.100.9:5"), other); err != nil || c.Handle != "other" {
		t.Fatalf("another address: %v", err)
	}
	if c, err := svc.Auth(ctx, other); err != nil || c.Handle != "other" {
		t.Fatalf("no client address (admin, in-process): %v", err)
	}
	if s := svc.AuthStats(); s.Refused != 3 {
		t.Fatalf("stats after the lockout: %+v", s)
	}
}
