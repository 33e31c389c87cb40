package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// auditEntry is an entry as `berthd admin audit list --json` and GET /v1/audit print it.
type auditEntry struct {
	ID         int64           `json:"id"`
	AccountID  int64           `json:"account_id"`
	Actor      string          `json:"actor"`
	KeyID      int64           `json:"key_id"`
	Transport  string          `json:"transport"`
	Method     string          `json:"method"`
	Object     string          `json:"object"`
	Params     json.RawMessage `json:"params"`
	ClientAddr string          `json:"client_addr"`
	Result     string          `json:"result"`
	Message    string          `json:"message"`
	Operations []int64         `json:"operations"`
}

// TestAuditLog makes mutating calls on every transport (XML-RPC, REST, the web console, the
// operator's commands), one of them refused, and reads the audit log the three ways (berthd
// admin audit list, GET /v1/audit, berth account audit): each call is there once, with the
// account, the key's id, the client's address, the object, the operations, the fault of the
// refused one, and no secret.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	b := NewBerthd(t, "sim")
	b.Start()
	key := b.Account("AUDIT1-BERTH", 100000)
	other := b.Account("AUDIT2-BERTH", 1000)
	b.Admin("account", "credit", "--handle", "AUDIT1-BERTH", "--credits", "5")
	const pw, vmPW = "Sekr1t-pass-word", "Vm-pass-2nd-1"
	pub := sshPublicKey(t)

	// XML-RPC: a VM from the image (password and SSH key given), then a refused update.
	img := asMap(t, asList(t, b.MustCall("hosting.image.list", key, map[string]any{"datacenter_id": 1}))[0])
	ops := asList(t, b.MustCall("hosting.vm.create_from", key,
		map[string]any{"datacenter_id": 1, "hostname": "audited", "memory": 256, "password": pw, "ssh_key": pub},
		map[string]any{"name": "auditsys"}, asID(t, img["disk_id"])))
	var opIDs []int64
	var vmID int64
	for _, o := range ops {
		opIDs = append(opIDs, asID(t, asMap(t, o)["id"]))
		vmID = asID(t, asMap(t, o)["vm_id"])
	}
	_, err := b.Call("hosting.vm.update", key, vmID, map[string]any{"memory": 1 << 30, "password": vmPW})
	var f *xmlrpc.Fault
	if !errors.As(err, &f) {
		t.Fatalf("vm.update to 1 TB: %v, want a fault", err)
	}
	b.MustCall("hosting.vm.info", key, vmID) // a read: not recorded

	// REST: an SSH key.
	rc := newRESTClient(t, b, key)
	sk := rc.must(http.StatusCreated, "POST", "/v1/ssh_keys", map[string]any{"name": "auditkey", "value": pub})
	skID := num(sk.Body["ssh_key"].(map[string]any)["id"])

	// Web console: log in, redeem a coupon that does not exist.
	jar := webLogin(t, b, key)
	form := url.Values{"code": {"BERTH-NOPE-NOPE-NOPE"}}
	req, _ := http.NewRequest("POST", "http://"+b.Addr+"/account/redeem", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := jar.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The operator's view of this account.
	var log []auditEntry
	if err := json.Unmarshal([]byte(b.Admin("audit", "list", "--account", "AUDIT1-BERTH", "--json")), &log); err != nil {
		t.Fatal(err)
	}
	got := map[string]auditEntry{}
	for _, e := range log {
		got[e.Transport+" "+e.Method] = e
		for _, secret := range []string{key, pw, vmPW, strings.Fields(pub)[1], "BERTH-NOPE"} {
			if strings.Contains(string(e.Params), secret) {
				t.Errorf("entry %d (%s) holds a secret: %s", e.ID, e.Method, e.Params)
			}
		}
		if e.Transport != "admin" && (e.ClientAddr != "127.0.0.1" || e.KeyID == 0 || e.Actor != "AUDIT1-BERTH") {
			t.Errorf("entry %d (%s): client %q, key %d, actor %q", e.ID, e.Method, e.ClientAddr, e.KeyID, e.Actor)
		}
	}
	if len(log) != 7 {
		t.Errorf("%d entries, want 7 (create, credit, create_from, update, ssh key, login, redeem): %+v", len(log), log)
	}
	check := func(k, object, result string, ops []int64, params ...string) {
		t.Helper()
		e, ok := got[k]
		if !ok {
			t.Errorf("no entry %q", k)
			return
		}
		if e.Object != object || e.Result != result || fmt.Sprint(e.Operations) != fmt.Sprint(ops) {
			t.Errorf("%s: object %q result %q ops %v; want %q %q %v", k, e.Object, e.Result, e.Operations, object, result, ops)
		}
		for _, p := range params {
			if !strings.Contains(string(e.Params), p) {
				t.Errorf("%s: params %s lack %s", k, e.Params, p)
			}
		}
	}
	acct := got["admin admin account create"].AccountID
	check("admin admin account create", fmt.Sprintf("account:%d", acct), "ok", []int64{}, `"handle":"AUDIT1-BERTH"`)
	check("admin admin account credit", fmt.Sprintf("account:%d", acct), "ok", []int64{}, `"credits":"5"`)
	check("xmlrpc hosting.vm.create_from", fmt.Sprintf("vm:%d", vmID), "ok", opIDs, `"password":"***"`, `"ssh_key":"***"`, `"hostname":"audited"`)
	check("xmlrpc hosting.vm.update", fmt.Sprintf("vm:%d", vmID), got["xmlrpc hosting.vm.update"].Result, []int64{}, `"password":"***"`)
	if e := got["xmlrpc hosting.vm.update"]; e.Result == "ok" || e.Message == "" {
		t.Errorf("refused vm.update recorded as %q %q", e.Result, e.Message)
	}
	check("rest POST /v1/ssh_keys", fmt.Sprintf("sshkey:%d", skID), "ok", []int64{}, `"value":"***"`, `"name":"auditkey"`)
	check("web POST /login", "", "ok", []int64{}, `"apikey":"***"`)
	check("web POST /account/redeem", "", "invalid", []int64{}, `"code":"***"`)
	if e := got["admin admin account create"]; e.Actor == "" || !strings.HasPrefix(e.Actor, "operator:") || e.ClientAddr != "local" || e.KeyID != 0 {
		t.Errorf("admin entry: %+v", e)
	}

	// Filters of the operator's command.
	var byObj []auditEntry
	json.Unmarshal([]byte(b.Admin("audit", "list", "--object", fmt.Sprintf("vm:%d", vmID), "--method", "vm.", "--since", "1h", "--json")), &byObj)
	if len(byObj) != 2 {
		t.Errorf("admin audit list --object vm:%d --method vm.: %d entries, want 2", vmID, len(byObj))
	}
	if text := b.Admin("audit", "list", "--transport", "rest"); !strings.Contains(text, "POST /v1/ssh_keys") || strings.Contains(text, "hosting.vm") {
		t.Errorf("admin audit list --transport rest:\n%s", text)
	}

	// The account's own view: REST (validated against the OpenAPI document) and the CLI.
	r := rc.must(http.StatusOK, "GET", fmt.Sprintf("/v1/audit?object=vm:%d", vmID), nil)
	if n := len(r.Body["audit_entries"].([]any)); n != 2 {
		t.Errorf("GET /v1/audit?object=vm:%d: %d entries, want 2", vmID, n)
	}
	u := newCLIUser(t)
	u.env = append(u.env, "BERTH_URL="+b.URL, "BERTH_API_KEY="+key)
	var cli []auditEntry
	u.json(&cli, "account", "audit", "--transport", "web")
	if len(cli) != 2 || cli[0].Method != "POST /account/redeem" || cli[0].Result != "invalid" {
		t.Errorf("berth account audit --transport web: %+v", cli)
	}
	if out := u.ok("account", "audit", "--method", "create_from").stdout; !strings.Contains(out, "hosting.vm.create_from") || !strings.Contains(out, "127.0.0.1") {
		t.Errorf("berth account audit --method create_from:\n%s", out)
	}
	// Another account sees none of it, and only its own entries.
	r = newRESTClient(t, b, other).must(http.StatusOK, "GET", "/v1/audit", nil)
	for _, e := range r.Body["audit_entries"].([]any) {
		if m := e.(map[string]any); m["actor"] != "AUDIT2-BERTH" && m["actor"] != got["admin admin account create"].Actor {
			t.Errorf("AUDIT2 sees %v", m)
		}
	}
}

// webLogin logs in to the console with an API key and returns a client with the session.
func webLogin(t *testing.T, b *Berthd, key string) *http.Client {
	t.Helper()
	jar := &cookieClient{}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Post("http://"+b.Addr+"/login", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"apikey": {key}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "berth_session" {
			jar.cookie = c
		}
	}
	if jar.cookie == nil {
		t.Fatalf("login: no session cookie (%s)", resp.Status)
	}
	return &http.Client{Transport: jar}
}

// cookieClient adds one cookie to every request.
type cookieClient struct{ cookie *http.Cookie }

func (c *cookieClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.AddCookie(c.cookie)
	return http.DefaultTransport.RoundTrip(r)
}
