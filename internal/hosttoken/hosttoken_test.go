package hosttoken

import (
	"errors"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	clock := now
	k := &Checker{Secret: secret, Host: "h2", Now: func() time.Time { return clock }}
	sign := func(c Claims) string {
		tok, err := Sign(secret, c, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := Claims{What: "console", ID: 7, Host: "h2", Account: 3}
	tok := sign(good)
	if c, err := k.Check(tok, "console", 7); err != nil || c.Account != 3 {
		t.Fatalf("good token: %+v, %v", c, err)
	}
	if _, err := k.Check(tok, "console", 7); !errors.Is(err, ErrReplay) {
		t.Errorf("replayed token: %v", err)
	}
	for name, tc := range map[string]struct {
		tok  string
		what string
		vm   int64
		want error
	}{
		"other vm":     {sign(good), "console", 8, ErrScope},
		"other host":   {sign(Claims{What: "console", ID: 7, Host: "h1"}), "console", 7, ErrScope},
		"other use":    {sign(good), "disk", 7, ErrScope},
		"forged":       {sign(good)[:20] + "x" + sign(good)[21:], "console", 7, ErrInvalid},
		"other secret": {func() string { s, _ := Sign([]byte("another secret, 32 bytes long!!"), good, now); return s }(), "console", 7, ErrInvalid},
		"garbage":      {"nope", "console", 7, ErrInvalid},
		"empty":        {"", "console", 7, ErrInvalid},
	} {
		if _, err := k.Check(tc.tok, tc.what, tc.vm); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	late := sign(good)
	clock = now.Add(TTL + time.Second)
	if _, err := k.Check(late, "console", 7); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token: %v", err)
	}
}
