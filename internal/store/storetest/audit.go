package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// testAudit: entries are written in the transaction that makes them (a rollback loses them
// too), read back whole, filtered by account, object, method, transport and time, paged
// newest first, updated, and pruned by age.
func testAudit(t *testing.T, st store.Store) {
	entry := func(acct int64, method, obj string, at time.Time) *api.AuditEntry {
		return &api.AuditEntry{Time: at, AccountID: acct, Actor: "h", KeyID: 7, Transport: api.TransportXMLRPC, Method: method, Object: obj,
			Params: json.RawMessage(`[12,{"password":"***"}]`), ClientAddr: "192.0.2.9", Result: api.AuditOK, Operations: []int64{3, 4}}
	}
	first := entry(1, "hosting.vm.update", "vm:12", now.Add(-48*time.Hour))
	list := []*api.AuditEntry{first, entry(1, "hosting.vm.delete", "vm:13", now.Add(-time.Hour)),
		entry(2, "POST /v1/vms", "vm:14", now), entry(1, "berth.key.create", "apikey:2", now)}
	list[2].Transport = api.TransportREST
	write(t, st, func(tx store.Tx) error {
		for _, e := range list {
			if err := tx.InsertAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	boom := errors.New("rolled back")
	if err := st.Write(t.Context(), func(tx store.Tx) error {
		if err := tx.InsertAudit(entry(1, "rolled.back", "vm:99", now)); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	ids := func(f store.AuditFilter) []int64 {
		t.Helper()
		var out []int64
		read(t, st, func(tx store.Tx) error {
			got, err := tx.AuditEntries(f)
			for _, e := range got {
				out = append(out, e.ID)
			}
			return err
		})
		return out
	}
	all := store.AuditFilter{AccountID: store.AllAccounts}
	want := []int64{list[3].ID, list[2].ID, list[1].ID, list[0].ID}
	if diff := cmp.Diff(want, ids(all)); diff != "" {
		t.Errorf("every entry, newest first (the rolled-back one absent) (-want +got):\n%s", diff)
	}
	read(t, st, func(tx store.Tx) error {
		got, err := tx.AuditEntries(store.AuditFilter{AccountID: 1, AuditQuery: api.AuditQuery{Object: "vm:12"}})
		if err != nil {
			return err
		}
		if len(got) != 1 {
			t.Fatalf("vm:12: %d entries", len(got))
		}
		if diff := cmp.Diff(first, got[0]); diff != "" {
			t.Errorf("entry read back (-want +got):\n%s", diff)
		}
		return nil
	})
	for name, c := range map[string]struct {
		f    store.AuditFilter
		want []int64
	}{
		"account 2":        {store.AuditFilter{AccountID: 2}, []int64{list[2].ID}},
		"account 1, kind":  {store.AuditFilter{AccountID: 1, AuditQuery: api.AuditQuery{Object: "vm"}}, []int64{list[1].ID, list[0].ID}},
		"method part":      {store.AuditFilter{AccountID: store.AllAccounts, AuditQuery: api.AuditQuery{Method: "VM.DEL"}}, []int64{list[1].ID}},
		"method with _":    {store.AuditFilter{AccountID: store.AllAccounts, AuditQuery: api.AuditQuery{Method: "_"}}, nil},
		"transport":        {store.AuditFilter{AccountID: store.AllAccounts, AuditQuery: api.AuditQuery{Transport: api.TransportREST}}, []int64{list[2].ID}},
		"since":            {store.AuditFilter{AccountID: 1, AuditQuery: api.AuditQuery{Since: now.Add(-2 * time.Hour)}}, []int64{list[3].ID, list[1].ID}},
		"until":            {store.AuditFilter{AccountID: 1, AuditQuery: api.AuditQuery{Until: now.Add(-time.Hour)}}, []int64{list[0].ID}},
		"page after first": {store.AuditFilter{AccountID: store.AllAccounts, AuditQuery: api.AuditQuery{BeforeID: list[2].ID, Limit: 1}}, []int64{list[1].ID}},
	} {
		if diff := cmp.Diff(c.want, ids(c.f)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	first.Result, first.Message, first.Operations, first.Object = "conflict", "vm 12 is busy", []int64{3, 4, 5}, "vm:12"
	write(t, st, func(tx store.Tx) error { return tx.UpdateAudit(first) })
	if err := st.Write(t.Context(), func(tx store.Tx) error { return tx.UpdateAudit(&api.AuditEntry{ID: 9999}) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of an unknown entry: %v, want ErrNotFound", err)
	}
	write(t, st, func(tx store.Tx) error {
		n, err := tx.PruneAudit(now.Add(-24 * time.Hour))
		if n != 1 {
			t.Errorf("pruned %d entries, want 1 (the one updated, 48 h old)", n)
		}
		return err
	})
	if diff := cmp.Diff(want[:3], ids(all)); diff != "" {
		t.Errorf("after the prune (-want +got):\n%s", diff)
	}
}
