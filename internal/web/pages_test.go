package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
)

// TestPagesAuth checks the console's guards: no page without a session, login with an API
// key only, cross-site form posts refused, and another account's objects out of reach.
func TestPagesAuth(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	_, alice, _ := e.svc.CreateAccount(ctx, "alice", "", 100)
	_, bob, _ := e.svc.CreateAccount(ctx, "bob", "", 100)
	cb, _ := e.svc.Auth(ctx, bob)
	bobKey, err := e.svc.SSHKeyCreate(ctx, cb, "bobkey", testSSHKey)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values, cookie *http.Cookie, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, e.srv.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	if resp, _ := do("GET", "/vms", nil, nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET /vms without a session: %s to %q, want 303 to /login", resp.Status, resp.Header.Get("Location"))
	}
	if resp, body := do("POST", "/login", url.Values{"apikey": {"0123456789abcdefghijklmn"}}, nil, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid API key") {
		t.Errorf("login with a wrong key: %s, want 401 with the reason", resp.Status)
	}
	resp, _ := do("POST", "/login", url.Values{"apikey": {alice}}, nil, nil)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "berth_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || strings.Contains(session.Value, alice) {
		t.Fatalf("login: cookie %+v, want an HttpOnly SameSite=Strict session token", session)
	}
	if resp, body := do("GET", "/vms", nil, session, nil); resp.StatusCode != 200 || !strings.Contains(body, "alice") {
		t.Errorf("GET /vms with the session: %s", resp.Status)
	}

	key := url.Values{"name": {"k1"}, "value": {testSSHKey}}
	if resp, _ := do("POST", "/keys", key, session, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST /keys: %s, want 403", resp.Status)
	}
	if resp, _ := do("POST", "/keys", key, session, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /keys from another origin: %s, want 403", resp.Status)
	}
	ca, _ := e.svc.Auth(ctx, alice)
	if n, _ := e.svc.SSHKeyCount(ctx, ca, api.ListOptions{}); n != 0 {
		t.Fatalf("a refused cross-site post created %d keys", n)
	}
	if resp, body := do("POST", "/keys", key, session, map[string]string{"Sec-Fetch-Site": "same-origin", "HX-Request": "true"}); resp.StatusCode != 200 || !strings.Contains(body, "key k1 added") {
		t.Errorf("same-origin POST /keys: %s %q", resp.Status, body)
	}

	// Bob's key, through alice's session: not found, and still there.
	path := "/keys/" + itoa(bobKey.ID) + "/delete"
	if _, body := do("POST", path, url.Values{}, session, map[string]string{"HX-Request": "true"}); !strings.Contains(body, "not found") {
		t.Errorf("alice deletes bob's key: %q, want not found", body)
	}
	if _, err := e.svc.SSHKeyInfo(ctx, cb, bobKey.ID); err != nil {
		t.Errorf("bob's key after alice's attempt: %v", err)
	}
	if _, body := do("GET", "/keys", nil, session, nil); strings.Contains(body, "bobkey") {
		t.Error("alice's key page shows bob's key")
	}

	// The audit log: alice's login and actions, secrets masked, her failed attempt on bob's
	// key with its fault; the Activity page shows hers only.
	log, err := e.svc.Audit(ctx, ca, api.AuditQuery{Transport: api.TransportWeb})
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, en := range log {
		methods = append(methods, en.Method+" "+en.Object+" "+en.Result)
		if strings.Contains(string(en.Params), alice) || strings.Contains(string(en.Params), "AAAA") || en.KeyID == 0 || en.Actor != "alice" {
			t.Errorf("web entry %+v: want the key id, no key, no key material", en)
		}
	}
	mine, _ := e.svc.SSHKeyList(ctx, ca, api.ListOptions{})
	if len(mine) != 1 {
		t.Fatalf("alice's keys: %v", mine)
	}
	want := []string{"POST /keys/{id}/delete sshkey:" + itoa(bobKey.ID) + " not_found", "POST /keys sshkey:" + itoa(mine[0].ID) + " ok", "POST /login  ok"}
	if diff := cmp.Diff(want, methods); diff != "" {
		t.Errorf("alice's web entries (-want +got):\n%s", diff)
	}
	if bl, _ := e.svc.Audit(ctx, cb, api.AuditQuery{}); len(bl) != 0 {
		t.Errorf("bob sees %d entries of alice's", len(bl))
	}
	if resp, body := do("GET", "/audit?method=keys", nil, session, nil); resp.StatusCode != 200 || !strings.Contains(body, "POST /keys/{id}/delete") || strings.Contains(body, "POST /login") {
		t.Errorf("GET /audit?method=keys: %s", resp.Status)
	}

	if resp, _ := do("POST", "/logout", url.Values{}, session, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %s", resp.Status)
	}
	if resp, _ := do("GET", "/vms", nil, session, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /vms after logout: %s, want a redirect to /login", resp.Status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
