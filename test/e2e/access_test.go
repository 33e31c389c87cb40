package e2e

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/store/storetest"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// Faults of the access programme.
const (
	faultNoAccess   = 510151 // the account has no API access
	faultInvalidKey = 510150 // unknown or revoked key
)

// wantFault calls method and wants the fault code.
func wantFault(t *testing.T, b *Berthd, code int, method string, params ...any) string {
	t.Helper()
	_, err := b.Call(method, params...)
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != code {
		t.Fatalf("%s: %v, want fault %d", method, err, code)
	}
	return f.String
}

// TestAccessProgramme drives the access programme through berthd, its admin commands,
// XML-RPC and the berth CLI: API access granted and revoked per handle, named keys created
// and revoked, coupons redeemed once, twice and by a second account, and a trial's end
// stopping the trial's VM.
func TestAccessProgramme(t *testing.T) {
	t.Parallel() // see TestMain
	cfg := filepath.Join(t.TempDir(), "berthd.json")
	if err := os.WriteFile(cfg, []byte(`{"billing_every": "1s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewBerthd(t, "sim", "--config", cfg)
	b.Start()

	// API access per handle.
	key := b.Admin("account", "create", "--handle", "beta", "--credits", "100", "--no-api-access")
	msg := wantFault(t, b, faultNoAccess, "hosting.vm.list", key)
	if !strings.Contains(msg, "API access is not enabled for account beta") {
		t.Errorf("fault string %q", msg)
	}
	u := newCLIUser(t)
	u.env = append(u.env, "BERTH_URL="+b.URL, "BERTH_API_KEY="+key)
	u.expect(1, "ask your provider's support", "vm", "list")
	req, _ := http.NewRequest("GET", strings.TrimSuffix(b.URL, "/xmlrpc/")+"/v1/vms", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "510151") {
		t.Errorf("REST with a key without API access: %d %s, want 403 with fault_code 510151", resp.StatusCode, body)
	}
	if out := b.Admin("account", "api", "enable", "beta"); !strings.Contains(out, "API access enabled") {
		t.Errorf("api enable: %q", out)
	}
	b.MustCall("hosting.vm.list", key)
	b.Admin("account", "api", "disable", "beta")
	wantFault(t, b, faultNoAccess, "hosting.vm.list", key)
	b.Admin("account", "api", "enable", "beta")

	// Named keys from the CLI; the old one revoked stops at once.
	second := strings.TrimSpace(u.ok("account", "key", "create", "ci").stdout)
	if len(second) != 24 || second == key {
		t.Fatalf("new key %q", second)
	}
	b.MustCall("hosting.vm.list", second)
	var keys []map[string]any
	u.json(&keys, "account", "key", "list")
	if len(keys) != 2 || keys[0]["name"] != "default" || keys[0]["current"] != true || keys[1]["name"] != "ci" {
		t.Fatalf("keys %v", keys)
	}
	u.env = append(u.env, "BERTH_API_KEY="+second)
	u.ok("account", "key", "revoke", "1")
	wantFault(t, b, faultInvalidKey, "hosting.vm.list", key)
	u.expect(1, "last working key", "account", "key", "revoke", "2")
	adminKeys := b.Admin("account", "key", "list", "beta")
	if !strings.Contains(adminKeys, "ci") || !strings.Contains(adminKeys, second[:4]+"…") || strings.Contains(adminKeys, second) {
		t.Errorf("admin key list (the key must not show, its prefix must):\n%s", adminKeys)
	}

	// Coupons: once, twice, by another account; no credit given for a refusal.
	codes := strings.Fields(b.Admin("coupon", "create", "--credits", "40", "--valid-days", "30", "--count", "2"))
	if len(codes) != 2 || !strings.HasPrefix(codes[0], "BERTH-") {
		t.Fatalf("codes %v", codes)
	}
	trialKey := b.Account("trialist", 0)
	tu := newCLIUser(t)
	tu.env = append(tu.env, "BERTH_URL="+b.URL, "BERTH_API_KEY="+trialKey)
	if out := tu.ok("account", "redeem", codes[0]).stdout; !strings.Contains(out, "40") {
		t.Errorf("redeem: %q", out)
	}
	tu.expect(1, "already redeemed this coupon", "account", "redeem", codes[0])
	u.expect(1, "already redeemed", "account", "redeem", codes[0])
	u.expect(1, "not valid", "account", "redeem", "BERTH-AAAA-BBBB-CCCC")
	credits := func(k string) int64 { return asMap(t, b.MustCall("hosting.account.info", k))["credits"].(int64) }
	if got := credits(second); got != 100 {
		t.Errorf("beta's credits after refused coupons: %d, want 100", got)
	}
	if got := credits(trialKey); got != 40 {
		t.Errorf("trialist's credits: %d, want 40", got)
	}
	if out := b.Admin("coupon", "list"); !strings.Contains(out, codes[0][:10]+"…") || strings.Contains(out, codes[0]) {
		t.Errorf("coupon list (prefix only):\n%s", out)
	}

	// The trial runs a VM; when it ends, the VM is stopped by billing and stays stopped.
	img := asID(t, asMap(t, asList(t, b.MustCall("hosting.image.list", trialKey, map[string]any{"datacenter_id": 1}))[0])["disk_id"])
	ops := asList(t, b.MustCall("hosting.vm.create_from", trialKey, map[string]any{"datacenter_id": 1, "hostname": "trialvm", "memory": 256}, map[string]any{}, img))
	var vm int64
	for _, o := range ops {
		op := b.WaitOp(trialKey, asID(t, asMap(t, o)["id"]), time.Minute)
		if op["step"] != "DONE" {
			t.Fatalf("create: %v", op)
		}
		vm = asID(t, op["vm_id"])
	}
	if out := b.Admin("trial", "end", "trialist"); !strings.Contains(out, "trial ended") {
		t.Errorf("trial end: %q", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for asMap(t, b.MustCall("hosting.vm.info", trialKey, vm))["state"] != "halted" {
		if time.Now().After(deadline) {
			t.Fatalf("vm still %v 30 s after the trial ended", asMap(t, b.MustCall("hosting.vm.info", trialKey, vm))["state"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	stops := asList(t, b.MustCall("operation.list", trialKey, map[string]any{"type": "vm_stop"}))
	if len(stops) != 1 || asMap(t, stops[0])["source"] != "billing" {
		t.Errorf("stop operations %v: want one, from billing", stops)
	}
	if _, err := b.Call("hosting.vm.start", trialKey, vm); err == nil {
		t.Errorf("a VM of an account without credits started")
	}
	var trials []map[string]any
	tu.json(&trials, "account", "trial")
	if len(trials) != 1 || trials[0]["date_ended"] == nil {
		t.Errorf("trials %v: want one, ended", trials)
	}
}

// TestKeysAcrossAPIServers creates and revokes keys through one API server and checks them
// at once on another, on PostgreSQL.
func TestKeysAcrossAPIServers(t *testing.T) {
	t.Parallel() // see TestMain
	db := storetest.PostgresURL(t)
	api1, api2 := NewBerthd(t, "sim", "--role", "api"), NewBerthd(t, "sim", "--role", "api")
	api1.DB, api2.DB = db, db
	api1.Start()
	api2.Start()
	key := api1.Account("twoservers", 10)
	k := asMap(t, api1.MustCall("berth.key.create", key, "deploy"))
	second := k["key"].(string)
	api2.MustCall("hosting.account.info", second) // made on api1, works on api2 at once
	api2.MustCall("berth.key.revoke", second, asID(t, asMap(t, asList(t, api2.MustCall("berth.key.list", second))[0])["id"]))
	wantFault(t, api1, faultInvalidKey, "hosting.account.info", key) // revoked on api2, refused on api1 at once
	api1.MustCall("hosting.account.info", second)
	api2.Admin("account", "api", "disable", "twoservers")
	wantFault(t, api1, faultNoAccess, "hosting.account.info", second)
	wantFault(t, api2, faultNoAccess, "hosting.account.info", second)
}
