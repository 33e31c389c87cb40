package service

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-io/berth/api"
)

// ThrottleConfig sets how failed authentications from one client address are answered:
// after SlowAfter failures within Window each further failure is answered Step later
// (up to MaxDelay), and after LockAfter failures the address is refused for LockFor, except
// for keys that already authenticated from it. Zero fields take the defaults.
type ThrottleConfig struct {
	SlowAfter, LockAfter int
	Window, LockFor      time.Duration
	Step, MaxDelay       time.Duration
}

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	d := ThrottleConfig{SlowAfter: 5, LockAfter: 20, Window: 10 * time.Minute, LockFor: 5 * time.Minute,
		Step: 200 * time.Millisecond, MaxDelay: 3 * time.Second}
	if c.SlowAfter > 0 {
		d.SlowAfter = c.SlowAfter
	}
	if c.LockAfter > 0 {
		d.LockAfter = c.LockAfter
	}
	for dst, v := range map[*time.Duration]time.Duration{&d.Window: c.Window, &d.LockFor: c.LockFor, &d.Step: c.Step, &d.MaxDelay: c.MaxDelay} {
		if v > 0 {
			*dst = v
		}
	}
	return d
}

type clientKey struct{}

// WithClient records the client's network address (an IP, or host:port whose port is
// dropped) in ctx. Every transport calls it once per request, before any service call:
// authentication throttling and the audit log key on it. Calls without it (admin
// commands, tests) are not throttled.
func WithClient(ctx context.Context, addr string) context.Context {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientAddr is the address WithClient recorded, or "".
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}

// AuthStats are the counters of failed and refused authentications since start, for
// metrics (monotonic: export them as Prometheus counters).
type AuthStats struct {
	Failures uint64 // unknown or malformed API keys
	Slowed   uint64 // failures answered late
	Refused  uint64 // calls refused because their address was locked out
}

// AuthStats returns the authentication counters.
func (s *Service) AuthStats() AuthStats {
	t := s.throttle()
	return AuthStats{Failures: t.failures.Load(), Slowed: t.slowed.Load(), Refused: t.refused.Load()}
}

type addrState struct {
	n       int       // failures in the current window
	first   time.Time // of the window
	until   time.Time // locked out until
	good    map[string]bool
	touched time.Time
}

type throttle struct {
	cfg                       ThrottleConfig
	mu                        sync.Mutex
	addrs                     map[string]*addrState
	failures, slowed, refused atomic.Uint64
}

func (s *Service) throttle() *throttle {
	s.thrOnce.Do(func() { s.thr = &throttle{cfg: s.cfg.Throttle.withDefaults(), addrs: map[string]*addrState{}} })
	return s.thr
}

// state returns addr's state, making it; callers hold t.mu.
func (t *throttle) state(addr string, now time.Time) *addrState {
	st := t.addrs[addr]
	if st == nil {
		if len(t.addrs) >= 50000 {
			for a, x := range t.addrs { // drop what no longer matters
				if now.Sub(x.touched) > t.cfg.Window && now.After(x.until) {
					delete(t.addrs, a)
				}
			}
			if len(t.addrs) >= 50000 {
				clear(t.addrs) // a bound under a flood of addresses
			}
		}
		st = &addrState{}
		t.addrs[addr] = st
	}
	st.touched = now
	return st
}

// AuthKey checks an API key without the API-access rule (the web console lets any account
// in, and shows it whether it has API access), throttling failures per client address
// (ClientAddr): a valid key is never slowed; after repeated failures, an address is
// answered slowly, then refused for a while (except for keys that already authenticated
// from it).
func (s *Service) AuthKey(ctx context.Context, key string) (*Caller, error) {
	addr := ClientAddr(ctx)
	if addr == "" {
		return s.checkKey(ctx, key)
	}
	t, now := s.throttle(), time.Now()
	kh := HashKey(key)
	t.mu.Lock()
	st := t.addrs[addr]
	if st != nil && now.Before(st.until) && !st.good[kh] {
		left := st.until.Sub(now).Round(time.Second)
		t.mu.Unlock()
		t.refused.Add(1)
		return nil, api.Errorf(api.NoRight, api.ObjAccount, "too many failed authentications from %s: refused for %s", addr, left)
	}
	t.mu.Unlock()
	c, err := s.checkKey(ctx, key)
	var ae *api.Error
	if err == nil {
		t.mu.Lock()
		if st := t.state(addr, now); !st.good[kh] && len(st.good) < 64 {
			if st.good == nil {
				st.good = map[string]bool{}
			}
			st.good[kh] = true
		}
		t.mu.Unlock()
		return c, nil
	}
	if !errors.As(err, &ae) || (ae.Code != api.NoRight && ae.Code != api.BadKey) {
		return nil, err
	}
	t.failures.Add(1)
	t.mu.Lock()
	st = t.state(addr, now)
	if now.Sub(st.first) > t.cfg.Window {
		st.n, st.first = 0, now
	}
	st.n++
	n := st.n
	var delay time.Duration
	if n > t.cfg.SlowAfter {
		delay = min(time.Duration(n-t.cfg.SlowAfter)*t.cfg.Step, t.cfg.MaxDelay)
	}
	if n >= t.cfg.LockAfter {
		st.until, st.n, st.first = now.Add(t.cfg.LockFor), 0, now
	}
	t.mu.Unlock()
	switch {
	case n >= t.cfg.LockAfter:
		s.log.Warn("authentication: address locked out after repeated failures", "client", addr, "failures", n, "for", t.cfg.LockFor)
	case n == t.cfg.SlowAfter+1:
		s.log.Warn("authentication: repeated failures, answering slowly", "client", addr, "failures", n)
	}
	if delay > 0 {
		t.slowed.Add(1)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	return nil, err
}
