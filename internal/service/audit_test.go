package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
)

func TestAudit(t *testing.T) { testAudit(t, newEnv(t)) }

// testAudit: a mutating call's entry is written with its change (before the transport ends
// the call), names the account, the key's id, the client, the object and the operations,
// and masks the secrets; a refused call is recorded with its fault, its rolled-back work
// absent; an account sees only its own entries; old entries are pruned.
func testAudit(t *testing.T, e *env) {
	_, key, err := e.svc.CreateAccount(e.ctx, "auditor", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method string, params any) context.Context {
		ctx := service.WithClient(e.ctx, "198.51.100.7:41000")
		return service.WithAudit(ctx, service.AuditSpec{Transport: api.TransportXMLRPC, Method: method, Params: params})
	}
	ctx := call("hosting.vm.create_from", []any{map[string]any{"hostname": "au1", "password": "s3cret-pw", "ssh_key": "ssh-ed25519 AAAA me"}, map[string]any{}, e.img})
	c, err := e.svc.Auth(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.VMCreateFrom(ctx, c, service.VMSpec{DatacenterID: 1, Hostname: "au1", Password: "s3cret-pw"}, service.DiskSpec{}, e.img)
	if err != nil {
		t.Fatal(err)
	}
	// Written with the change: there before the transport ends the call.
	got, err := e.svc.Audit(e.ctx, c, api.AuditQuery{})
	if err != nil || len(got) != 1 {
		t.Fatalf("entries right after the call: %v %v", got, err)
	}
	e.svc.AuditEnd(ctx, nil)
	ops := []int64{list[0].ID, list[1].ID, list[2].ID}
	want := api.AuditEntry{ID: got[0].ID, Time: got[0].Time, AccountID: c.AccountID, Actor: "auditor", KeyID: c.KeyID, Transport: api.TransportXMLRPC,
		Method: "hosting.vm.create_from", Object: service.AuditObject(api.ObjVM, list[2].VMID),
		Params:     json.RawMessage(`[{"hostname":"au1","password":"***","ssh_key":"***"},{},` + strconv.FormatInt(e.img, 10) + `]`),
		ClientAddr: "198.51.100.7", Result: api.AuditOK, Operations: ops}
	got, _ = e.svc.Audit(e.ctx, c, api.AuditQuery{})
	if diff := cmp.Diff([]api.AuditEntry{want}, got); diff != "" {
		t.Errorf("entry (-want +got):\n%s", diff)
	}
	if c.KeyID == 0 || time.Since(got[0].Time) > time.Minute {
		t.Errorf("key id %d, time %s", c.KeyID, got[0].Time)
	}
	alice := e.c
	e.c = c // e.wait reads the operations as e.c
	for i := range list {
		e.wait(&list[i], api.StepDone)
	}
	e.c = alice

	// Refused: the same hostname again. Nothing until the call ends, then the fault.
	ctx = call("hosting.vm.create_from", []any{map[string]any{"hostname": "au1"}})
	if _, err := e.svc.Auth(ctx, key); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.VMCreateFrom(ctx, c, service.VMSpec{DatacenterID: 1, Hostname: "au1"}, service.DiskSpec{}, e.img)
	wantCode(t, err, api.Conflict)
	if n, _ := e.svc.Audit(e.ctx, c, api.AuditQuery{}); len(n) != 1 {
		t.Fatalf("a rolled-back call left %d entries before it ended", len(n))
	}
	e.svc.AuditEnd(ctx, err)
	e.svc.AuditEnd(ctx, err) // once only
	got, _ = e.svc.Audit(e.ctx, c, api.AuditQuery{})
	if len(got) != 2 || got[0].Result != "conflict" || !strings.Contains(got[0].Message, "au1") || len(got[0].Operations) != 0 || got[0].Object != "" {
		t.Fatalf("refused call: %+v", got)
	}

	// A bad key names no account: not recorded (the throttle counts it).
	ctx = call("hosting.vm.delete", []any{int64(1)})
	_, err = e.svc.Auth(ctx, "0123456789abcdefghijklmn")
	e.svc.AuditEnd(ctx, err)

	// Filters, and another account sees none of these.
	if got, _ := e.svc.Audit(e.ctx, c, api.AuditQuery{Object: want.Object}); len(got) != 1 {
		t.Errorf("by object %s: %d entries, want 1", want.Object, len(got))
	}
	if _, err := e.svc.Audit(e.ctx, c, api.AuditQuery{Object: "vm:x'"}); !api.IsCode(err, api.Invalid) {
		t.Errorf("a bad object filter: %v, want invalid", err)
	}
	if got, _ := e.svc.Audit(e.ctx, e.c, api.AuditQuery{}); len(got) != 0 {
		t.Errorf("alice sees %d of auditor's entries", len(got))
	}
	all, err := e.svc.AuditAll(e.ctx, "", api.AuditQuery{})
	if err != nil || len(all) != 2 {
		t.Errorf("the operator's view: %d entries, %v", len(all), err)
	}

	// An operator's command: its actor, and the account it acted on.
	ctx = service.WithAudit(e.ctx, service.AuditSpec{Transport: api.TransportAdmin, Method: "admin account credit", Actor: "operator:root", Addr: "local",
		Params: map[string]any{"handle": "auditor", "credits": "5"}})
	_, err = e.svc.Credit(ctx, "auditor", 5, 0)
	e.svc.AuditEnd(ctx, err)
	got, _ = e.svc.Audit(e.ctx, c, api.AuditQuery{Transport: api.TransportAdmin})
	if len(got) != 1 || got[0].Actor != "operator:root" || got[0].KeyID != 0 || got[0].Object != service.AuditObject(api.ObjAccount, c.AccountID) || got[0].Result != api.AuditOK {
		t.Errorf("admin entry: %+v", got)
	}

	// Pruned once older than the retention (90 days by default).
	e.svc.SetClock(func() time.Time { return time.Now().Add(91 * 24 * time.Hour) })
	defer e.svc.SetClock(time.Now)
	n, err := e.svc.PruneAudit(e.ctx)
	if err != nil || n != 3 {
		t.Errorf("pruned %d entries, %v; want 3", n, err)
	}
	if got, _ := e.svc.AuditAll(e.ctx, "", api.AuditQuery{}); len(got) != 0 {
		t.Errorf("%d entries left after the prune", len(got))
	}
}

// TestAuditCommitFails: when the transaction of a change fails at the end (a crash, a lost
// connection), neither the change nor its entry remains, and the call's fault entry names no
// object that never existed.
func TestAuditCommitFails(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &failingStore{Store: st}
	svc := service.New(fs, &service.Catalog{}, service.Config{}, nil)
	ctx := context.Background()
	_, key, err := svc.CreateAccount(ctx, "bob", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx = service.WithAudit(ctx, service.AuditSpec{Transport: api.TransportREST, Method: "POST /v1/ssh_keys", Params: map[string]any{"name": "k", "value": testSSHKey}})
	c, err := svc.Auth(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	fs.fail = true
	_, err = svc.SSHKeyCreate(ctx, c, "k", testSSHKey)
	fs.fail = false
	if err == nil {
		t.Fatal("the failed commit went unnoticed")
	}
	if got, _ := svc.Audit(ctx, c, api.AuditQuery{}); len(got) != 0 {
		t.Fatalf("an entry survived its rolled-back transaction: %+v", got)
	}
	if n, _ := svc.SSHKeyCount(ctx, c, api.ListOptions{}); n != 0 {
		t.Fatalf("the change survived: %d keys", n)
	}
	svc.AuditEnd(ctx, err)
	got, _ := svc.Audit(ctx, c, api.AuditQuery{})
	if len(got) != 1 || got[0].Result != "internal" || got[0].Object != "" || strings.Contains(string(got[0].Params), "AAAA") {
		t.Fatalf("fault entry: %+v", got)
	}
}

const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKLxHhaetsgQIFmDbHRp6R/n9kVluMfd3pM80sV2visd t@berth"

// failingStore fails write transactions at their end, after their work, when fail is set.
type failingStore struct {
	store.Store
	fail bool
}

func (f *failingStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Write(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if f.fail {
			return errors.New("commit failed")
		}
		return nil
	})
}

func TestMaskSecrets(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, `{}`},
		{map[string]any{"password": "x", "Password": "", "name": "n"}, `{"Password":"","name":"n","password":"***"}`},
		{[]any{int64(3), map[string]any{"vm": map[string]any{"api-key": "k", "keys": []any{int64(1)}, "script": "#!/bin/sh"}}}, `[3,{"vm":{"api-key":"***","keys":[1],"script":"***"}}]`},
		{map[string]any{"value": "ssh-ed25519 AAAA", "code": "BERTH-1", "token": []any{"t"}, "apikey": "k"}, `{"apikey":"***","code":"***","token":"***","value":"***"}`},
		{map[string]any{"note": strings.Repeat("a", 300)}, `{"note":"` + strings.Repeat("a", 256) + `… (300 bytes)"}`},
		{func() {}, `{"unrecorded":"parameters not encodable"}`},
		{make([]int, 10000), `{"unrecorded":"parameters too large (20001 bytes once masked)"}`},
	} {
		if got := string(service.MaskSecrets(c.in)); got != c.want {
			t.Errorf("MaskSecrets(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}
