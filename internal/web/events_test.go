package web_test

import (
	"bufio"
	"context"
	"encoding/json"

	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
	"github.com/berth-io/berth/internal/store/storetest"
	"github.com/berth-io/berth/internal/web"
)

// testSSHKey is a valid public key line for SSHKeyCreate.
const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKLxHhaetsgQIFmDbHRp6R/n9kVluMfd3pM80sV2visd t@berth"

// env is a service on a real store with its event hub running, served by the console.
type env struct {
	svc *service.Service
	srv *httptest.Server
}

func newEnv(t *testing.T, engine string) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var st store.Store
	var err error
	if engine == "postgres" {
		st, err = sqlstore.OpenPostgres(ctx, storetest.PostgresURL(t))
	} else {
		st, err = sqlstore.OpenSQLite(ctx, t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	cat := &service.Catalog{Datacenters: []service.Datacenter{{Datacenter: api.Datacenter{ID: 1, Code: "FR-SD5", IaaSClosedFor: "NONE"},
		IPv4Pool: "192.0.2.0/29", IPv4Gateway: "192.0.2.1", IPv6Prefix: "2001:db8::/32"}}}
	svc := service.New(st, cat, service.Config{MaxCores: 4}, nil)
	w, err := web.New(svc, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Register(mux)
	srv := httptest.NewServer(mux)
	go svc.Events().Run(ctx)
	t.Cleanup(func() {
		svc.Events().CloseAll() // streams end before the server waits for them
		cancel()
		srv.Close()
		st.Close()
	})
	return &env{svc: svc, srv: srv}
}

// stream is one GET /v1/events connection.
type stream struct {
	t      *testing.T
	cancel context.CancelFunc
	events chan map[string]string
}

func (e *env) stream(t *testing.T, auth func(*http.Request), lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/events?types=ssh_key", nil)
	auth(req)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("GET /v1/events: %s", resp.Status)
	}
	s := &stream{t: t, cancel: cancel, events: make(chan map[string]string, 100)}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		ev := map[string]string{}
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev["event"] != "" {
					s.events <- ev
				}
				ev = map[string]string{}
				continue
			}
			if k, v, ok := strings.Cut(line, ": "); ok && k != "" {
				ev[k] = v
			}
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next returns the next event, failing after a deadline.
func (s *stream) next() map[string]string {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(15 * time.Second):
		s.t.Fatal("no event in 15s")
	}
	return nil
}

// keyName returns the name of an ssh_key event's object.
func keyName(t *testing.T, ev map[string]string) string {
	t.Helper()
	var e struct {
		Type   string
		Action string
		Object struct{ Name string }
	}
	if err := json.Unmarshal([]byte(ev["data"]), &e); err != nil {
		t.Fatalf("event data %q: %v", ev["data"], err)
	}
	if ev["event"] != e.Type {
		t.Fatalf("event: %s but data type %s", ev["event"], e.Type)
	}
	return e.Action + " " + e.Object.Name
}

func bearer(key string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
}

// TestEvents streams an account's changes live, resumes after a dropped connection with
// Last-Event-ID, never shows another account's events, and takes the console's session
// cookie as well as an API key, on both engines.
func TestEvents(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t, engine)
			ctx := context.Background()
			_, alice, err := e.svc.CreateAccount(ctx, "alice", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			_, bob, err := e.svc.CreateAccount(ctx, "bob", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			ca, _ := e.svc.Auth(ctx, alice)
			cb, _ := e.svc.Auth(ctx, bob)
			addKey := func(c *service.Caller, name string) {
				t.Helper()
				if _, err := e.svc.SSHKeyCreate(ctx, c, name, testSSHKey); err != nil {
					t.Fatal(err)
				}
			}

			s := e.stream(t, bearer(alice), "")
			addKey(cb, "bob1") // bob's: alice must never see it
			addKey(ca, "alice1")
			ev := s.next()
			if got := keyName(t, ev); got != "created alice1" {
				t.Fatalf("first event = %q (%v), want created alice1", got, ev)
			}
			last := ev["id"]

			s.cancel() // the connection drops; changes go on meanwhile
			addKey(ca, "alice2")
			addKey(cb, "bob2")
			addKey(ca, "alice3")
			s = e.stream(t, bearer(alice), last)
			for _, want := range []string{"created alice2", "created alice3"} {
				if got := keyName(t, s.next()); got != want {
					t.Fatalf("resumed event = %q, want %q", got, want)
				}
			}
			addKey(ca, "alice4") // live again after the backlog
			if got := keyName(t, s.next()); got != "created alice4" {
				t.Fatalf("live event after resume = %q, want created alice4", got)
			}

			// Bob's stream, by the console's cookie: only bob's keys, from his own resume point.
			token, _, err := e.svc.Login(ctx, bob)
			if err != nil {
				t.Fatal(err)
			}
			bs := e.stream(t, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "berth_session", Value: token}) }, "1")
			for _, want := range []string{"created bob1", "created bob2"} {
				if got := keyName(t, bs.next()); got != want {
					t.Fatalf("bob's event = %q, want %q", got, want)
				}
			}
			addKey(ca, "alice5")
			addKey(cb, "bob3")
			if got := keyName(t, bs.next()); got != "created bob3" {
				t.Fatalf("bob's live event = %q, want created bob3", got)
			}
			if got := keyName(t, s.next()); got != "created alice5" {
				t.Fatalf("alice's live event = %q, want created alice5", got)
			}

			for _, bad := range []func(*http.Request){bearer("0123456789abcdefghijklmn"), func(*http.Request) {}} {
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/events", nil)
				bad(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET /v1/events without a valid key: %s, want 401", resp.Status)
				}
			}
		})
	}
}
