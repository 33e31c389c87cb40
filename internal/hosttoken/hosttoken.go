// Package hosttoken signs and checks the short-lived tokens an API server gives a
// hypervisor host's internal listener (console proxy): HMAC-SHA256 over what the token
// allows (a VM's console on one host, for one account), an expiry and a nonce, with a
// secret shared by the servers of a cluster. A host refuses a token that is forged,
// expired, meant for another host or VM, or already used.
package hosttoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// TTL is how long a token is valid.
const TTL = 30 * time.Second

// Scheme is the Authorization scheme of internal requests: "Berth-Internal <token>".
const Scheme = "Berth-Internal"

// Claims is what a token allows.
type Claims struct {
	What    string `json:"what"` // "console" (ID a VM) or "disk" (ID a disk)
	ID      int64  `json:"id"`
	Host    string `json:"host"`
	Account int64  `json:"account"`
	Expires int64  `json:"exp"` // unix seconds
	Nonce   string `json:"nonce"`
}

// Errors of Check.
var (
	ErrInvalid = errors.New("invalid token")
	ErrExpired = errors.New("expired token")
	ErrReplay  = errors.New("token already used")
	ErrScope   = errors.New("token not for this request")
)

// Sign returns a token for c, valid for TTL from now.
func Sign(secret []byte, c Claims, now time.Time) (string, error) {
	if len(secret) < 16 {
		return "", errors.New("hosttoken: secret too short")
	}
	var n [12]byte
	if _, err := rand.Read(n[:]); err != nil {
		return "", err
	}
	c.Nonce, c.Expires = hex.EncodeToString(n[:]), now.Add(TTL).Unix()
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(secret, p)), nil
}

func mac(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Checker checks tokens on a host and remembers the nonces it accepted until they expire.
type Checker struct {
	Secret []byte
	Host   string
	Now    func() time.Time

	mu   sync.Mutex
	seen map[string]int64 // nonce → expiry
}

// Check verifies a token for a request of what on object id and returns its claims.
func (k *Checker) Check(token, what string, id int64) (Claims, error) {
	var c Claims
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(k.Secret) < 16 {
		return c, ErrInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(k.Secret, p)) {
		return c, ErrInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(body, &c) != nil || c.Nonce == "" {
		return c, ErrInvalid
	}
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	t := now().Unix()
	if t > c.Expires || c.Expires > t+int64(2*TTL/time.Second) {
		return c, ErrExpired
	}
	if c.Host != k.Host || c.What != what || c.ID != id {
		return c, fmt.Errorf("%w: %s %d on host %s", ErrScope, c.What, c.ID, c.Host)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen == nil {
		k.seen = map[string]int64{}
	}
	for n, exp := range k.seen {
		if exp < t {
			delete(k.seen, n)
		}
	}
	if _, used := k.seen[c.Nonce]; used {
		return c, ErrReplay
	}
	k.seen[c.Nonce] = c.Expires
	return c, nil
}
