package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/store"
)

// testHosts: a host keeps its tunnel endpoint and internal URL across a re-registration,
// and its draining flag;
// a cluster secret is made once, by the first caller.
func testHosts(t *testing.T, st store.Store) {
	h := &store.Host{Name: "h1", DatacenterID: 1, MemoryMB: 1024, DiskMB: 2048, State: store.HostUp, Heartbeat: now, Started: now,
		VTEPAddr: "10.99.0.1", InternalURL: "http://127.0.0.1:9001"}
	write(t, st, func(tx store.Tx) error { return tx.SaveHost(h) })
	h2 := *h
	h2.VTEPAddr, h2.InternalURL = "10.99.0.7", "http://127.0.0.1:9007"
	write(t, st, func(tx store.Tx) error { return tx.SaveHost(&h2) })
	var got []*store.Host
	read(t, st, func(tx store.Tx) error { var err error; got, err = tx.Hosts(); return err })
	if len(got) != 1 {
		t.Fatalf("hosts: %d rows", len(got))
	}
	if diff := cmp.Diff(h2.VTEPAddr+" "+h2.InternalURL, got[0].VTEPAddr+" "+got[0].InternalURL); diff != "" {
		t.Errorf("host after re-registration (-want +got):\n%s", diff)
	}
	// Draining survives a re-registration; an unknown host is reported.
	var ok, okNone bool
	write(t, st, func(tx store.Tx) error { var err error; ok, err = tx.SetDraining("h1", true); return err })
	write(t, st, func(tx store.Tx) error { var err error; okNone, err = tx.SetDraining("nope", true); return err })
	write(t, st, func(tx store.Tx) error { return tx.SaveHost(&h2) })
	read(t, st, func(tx store.Tx) error { var err error; got, err = tx.Hosts(); return err })
	if !ok || okNone || !got[0].Draining {
		t.Errorf("SetDraining(h1) = %v, SetDraining(nope) = %v, draining after re-registration = %v; want true, false, true", ok, okNone, got[0].Draining)
	}
	write(t, st, func(tx store.Tx) error { _, err := tx.SetDraining("h1", false); return err })
	read(t, st, func(tx store.Tx) error { var err error; got, err = tx.Hosts(); return err })
	if got[0].Draining {
		t.Errorf("host still draining after SetDraining(false)")
	}
	var first, second string
	write(t, st, func(tx store.Tx) error { var err error; first, err = tx.ClusterSecret("internal", "aaa"); return err })
	write(t, st, func(tx store.Tx) error { var err error; second, err = tx.ClusterSecret("internal", "bbb"); return err })
	if first != "aaa" || second != "aaa" {
		t.Errorf("cluster secret: %q then %q, want aaa twice", first, second)
	}
}
