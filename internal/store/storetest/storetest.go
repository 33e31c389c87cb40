// Package storetest is the conformance suite every store.Store implementation passes, and
// the test helpers that give each test a fresh database (SQLite or PostgreSQL).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL for the per-test databases

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// PostgresURL creates a fresh database on the server of $DATABASE_URL and returns its URL;
// it is dropped when the test ends. Without DATABASE_URL the test is skipped, except in CI
// (CI=true), where that is a failure: `make test` starts PostgreSQL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DATABASE_URL is not set: make test starts PostgreSQL (scripts/start-pg.sh)")
		}
		t.Skip("DATABASE_URL is not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "berth_t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Run runs the conformance suite on stores made by open (a fresh one per subtest).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Accounts", testAccounts},
		{"ScopeAndFilters", testScopeAndFilters},
		{"Fills", testFills},
		{"UniqueAddress", testUniqueAddress},
		{"Operations", testOperations},
		{"Usage", testUsage},
		{"Rollback", testRollback},
		{"Idempotency", testIdempotency},
		{"Hosts", testHosts},
		{"Events", testEvents},
		{"VMSamples", testVMSamples},
		{"Audit", testAudit},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func write(t *testing.T, st store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := st.Write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, st store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := st.Read(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func testAccounts(t *testing.T, st store.Store) {
	a := &store.Account{Account: api.Account{Handle: "alice", Created: now}, KeyHash: "h1", CreditsMilli: 5000, BilledAt: now}
	write(t, st, func(tx store.Tx) error { return tx.InsertAccount(a) })
	if a.ID == 0 {
		t.Fatal("no id")
	}
	err := st.Write(context.Background(), func(tx store.Tx) error {
		return tx.InsertAccount(&store.Account{Account: api.Account{Handle: "alice", Created: now}, KeyHash: "h2"})
	})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("duplicate handle: %v", err)
	}
	read(t, st, func(tx store.Tx) error {
		got, err := tx.AccountByKeyHash("h1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Error(diff)
		}
		if _, err := tx.AccountByHandle("nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown handle: %v", err)
		}
		return nil
	})
}

func vm(account int64, name string, mem int64, state string) *store.VM {
	return &store.VM{AccountID: account, VM: api.VM{DatacenterID: 1, Hostname: name, State: state, Memory: mem, MaxMemory: 2048, Cores: 1, MaxCores: 4, Farm: "default", EntityID: name, Created: now, Updated: now}}
}

func testScopeAndFilters(t *testing.T, st store.Store) {
	write(t, st, func(tx store.Tx) error {
		for _, v := range []*store.VM{vm(1, "Web1", 256, "running"), vm(1, "web2", 512, "halted"), vm(1, "db1", 1024, "running"), vm(2, "web1", 256, "running")} {
			if err := tx.InsertVM(v); err != nil {
				return err
			}
		}
		return nil
	})
	names := func(q store.Query) []string {
		var out []string
		read(t, st, func(tx store.Tx) error {
			list, err := tx.VMs(q)
			for _, v := range list {
				out = append(out, v.Hostname)
			}
			return err
		})
		return out
	}
	f := func(field string, op api.FilterOp, vals ...any) api.Filter {
		return api.Filter{Field: field, Op: op, Values: vals}
	}
	for _, tc := range []struct {
		name string
		q    store.Query
		want []string
	}{
		{"scope", store.Query{Scope: 1}, []string{"Web1", "web2", "db1"}},
		{"other account", store.Query{Scope: 2}, []string{"web1"}},
		{"eq", store.Query{Scope: 1, Filters: []api.Filter{f("state", api.OpEq, "running")}}, []string{"Web1", "db1"}},
		{"in", store.Query{Scope: 1, Filters: []api.Filter{f("memory", api.OpIn, int64(512), int64(1024))}}, []string{"web2", "db1"}},
		{"number as text", store.Query{Scope: 1, Filters: []api.Filter{f("memory", api.OpEq, "512")}}, []string{"web2"}},
		{"word for a number", store.Query{Scope: 1, Filters: []api.Filter{f("memory", api.OpEq, "lots")}}, nil},
		{"like ignores case", store.Query{Scope: 1, Filters: []api.Filter{f("hostname", api.OpLike, "web%")}}, []string{"Web1", "web2"}},
		{"unknown field ignored", store.Query{Scope: 1, Filters: []api.Filter{f("nope", api.OpEq, "x")}}, []string{"Web1", "web2", "db1"}},
		{"empty in", store.Query{Scope: 1, Filters: []api.Filter{f("id", api.OpIn)}}, nil},
		{"sort desc", store.Query{Scope: 1, SortBy: "memory", Desc: true}, []string{"db1", "web2", "Web1"}},
		{"page", store.Query{Scope: 1, Limit: 2, Offset: 2}, []string{"db1"}},
		{"injection is a value", store.Query{Scope: 1, Filters: []api.Filter{f("hostname", api.OpEq, "x' OR '1'='1")}}, nil},
	} {
		if diff := cmp.Diff(tc.want, names(tc.q)); diff != "" {
			t.Errorf("%s: %s", tc.name, diff)
		}
	}
	read(t, st, func(tx store.Tx) error {
		n, err := tx.CountVMs(store.Query{Scope: 1, Filters: []api.Filter{f("state", api.OpEq, "running")}})
		if n != 2 {
			t.Errorf("count = %d, want 2", n)
		}
		if _, err := tx.VM(2, 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("vm 1 of account 1 read as account 2: %v", err)
		}
		return err
	})
	err := st.Write(context.Background(), func(tx store.Tx) error { return tx.InsertVM(vm(1, "Web1", 256, "halted")) })
	if !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("duplicate hostname: %v", err)
	}
}

func testFills(t *testing.T, st store.Store) {
	var v *store.VM
	var d0, d1, snap *store.Disk
	var f *store.Iface
	write(t, st, func(tx store.Tx) error {
		v = vm(1, "fill", 256, "running")
		if err := tx.InsertVM(v); err != nil {
			return err
		}
		mk := func(name string, pos int64, typ string, src int64) *store.Disk {
			d := &store.Disk{AccountID: 1, Disk: api.Disk{DatacenterID: 1, Name: name, Size: 1024, State: "created", Type: typ, Visibility: "private", Source: src, VMID: v.ID, Position: pos, EntityID: name, Created: now, Updated: now}}
			if typ == api.DiskSnapshot {
				d.VMID = 0
			}
			if err := tx.InsertDisk(d); err != nil {
				t.Fatal(err)
			}
			return d
		}
		d1 = mk("second", 1, "data", 0)
		d0 = mk("boot", 0, "data", 0)
		snap = mk("snap", 0, api.DiskSnapshot, d0.ID)
		f = &store.Iface{AccountID: 1, Iface: api.Iface{DatacenterID: 1, Num: 0, Type: "public", State: "used", Bandwidth: 102400, VMID: v.ID, EntityID: "f", Created: now, Updated: now}}
		if err := tx.InsertIface(f); err != nil {
			return err
		}
		for i, a := range []string{"192.0.2.2", "2001:db8::2"} {
			if err := tx.InsertIP(&store.IP{AccountID: 1, Network: "n" + a[:4], IP: api.IP{IfaceID: f.ID, DatacenterID: 1, IP: a, Version: int64(4 + 2*i), Num: int64(i), State: "created", Type: "public", EntityID: a, Created: now, Updated: now}}); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, st, func(tx store.Tx) error {
		got, err := tx.VM(1, v.ID)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]int64{d0.ID, d1.ID}, got.DisksID); diff != "" {
			t.Errorf("disks in position order: %s", diff)
		}
		if diff := cmp.Diff([]int64{f.ID}, got.IfacesID); diff != "" {
			t.Error(diff)
		}
		d, err := tx.Disk(1, d0.ID)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]int64{snap.ID}, d.SnapshotsID); diff != "" {
			t.Errorf("snapshots: %s", diff)
		}
		ips, err := tx.IPs(store.Query{Scope: 1, Filters: []api.Filter{{Field: "vm_hostname", Values: []any{"fill"}}}})
		if err != nil {
			return err
		}
		if len(ips) != 2 || ips[0].VMID != v.ID || ips[0].Bandwidth != 102400 || ips[0].IfaceNum != 0 {
			t.Errorf("ips by vm_hostname: %+v", ips)
		}
		return nil
	})
}

func testUniqueAddress(t *testing.T, st store.Store) {
	ip := func(a string) *store.IP {
		return &store.IP{AccountID: 1, Network: "dc:1:v4", IP: api.IP{IfaceID: 1, DatacenterID: 1, IP: a, Version: 4, State: "created", Type: "public", EntityID: a, Created: now, Updated: now}}
	}
	write(t, st, func(tx store.Tx) error { return tx.InsertIP(ip("192.0.2.9")) })
	err := st.Write(context.Background(), func(tx store.Tx) error {
		if err := tx.Lock("pool:dc:1:v4"); err != nil {
			return err
		}
		return tx.InsertIP(ip("192.0.2.9"))
	})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second insert of one address: %v", err)
	}
	read(t, st, func(tx store.Tx) error {
		used, err := tx.UsedAddresses("dc:1:v4")
		if diff := cmp.Diff([]string{"192.0.2.9"}, used); diff != "" {
			t.Error(diff)
		}
		return err
	})
}

func testOperations(t *testing.T, st store.Store) {
	mk := func(vmID int64, step string) *store.Operation {
		return &store.Operation{AccountID: 1, Operation: api.Operation{Type: "vm_update", Step: step, Source: "alice", VMID: vmID, Created: now, Updated: now,
			Params: map[string]any{"vm_id": vmID, "name": "x", "ratio": 0.5}}, Spec: []byte(`{"memory":512}`), Queue: "q"}
	}
	a, b, c := mk(7, api.StepDone), mk(7, api.StepWait), mk(8, api.StepWait)
	write(t, st, func(tx store.Tx) error {
		for _, o := range []*store.Operation{a, b, c} {
			if err := tx.InsertOperation(o); err != nil {
				return err
			}
		}
		return nil
	})
	d := mk(7, api.StepWait)
	d.ID = c.ID + 1
	read(t, st, func(tx store.Tx) error {
		got, err := tx.Operation(1, b.ID)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("round trip: %s", diff)
		}
		if p, err := tx.PendingBefore(b); err != nil || p {
			t.Errorf("b: only a DONE operation before it: %v %v", p, err)
		}
		if p, err := tx.PendingBefore(d); err != nil || !p {
			t.Errorf("d waits for b: %v %v", p, err)
		}
		list, err := tx.Operations(store.Query{Scope: 1, Filters: []api.Filter{{Field: "step", Op: api.OpIn, Values: []any{"BILL", "WAIT", "RUN"}}}, SortBy: "date_created", Desc: true})
		if len(list) != 2 {
			t.Errorf("pending: %d", len(list))
		}
		return err
	})
}

func testUsage(t *testing.T, st store.Store) {
	write(t, st, func(tx store.Tx) error {
		if err := tx.InsertVM(vm(3, "u1", 512, "running")); err != nil {
			return err
		}
		if err := tx.InsertVM(vm(3, "u2", 1024, "halted")); err != nil {
			return err
		}
		return tx.InsertDisk(&store.Disk{AccountID: 3, Disk: api.Disk{DatacenterID: 1, Name: "d", Size: 2048, State: "created", Type: "data", Visibility: "private", EntityID: "d", Created: now, Updated: now}})
	})
	read(t, st, func(tx store.Tx) error {
		u, err := tx.Usage(3)
		want := store.Usage{RunningVMs: 1, Cores: 1, MemoryMB: 512, DiskMB: 2048}
		if diff := cmp.Diff(want, u); diff != "" {
			t.Error(diff)
		}
		return err
	})
}

func testRollback(t *testing.T, st store.Store) {
	boom := errors.New("boom")
	err := st.Write(context.Background(), func(tx store.Tx) error {
		if err := tx.InsertVM(vm(5, "gone", 256, "halted")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	read(t, st, func(tx store.Tx) error {
		n, err := tx.CountVMs(store.Query{Scope: 5})
		if n != 0 {
			t.Errorf("a failed transaction left %d rows", n)
		}
		return err
	})
	if !strings.Contains(st.Dialect(), "s") {
		t.Fatal("dialect")
	}
}
