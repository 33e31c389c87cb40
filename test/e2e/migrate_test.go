package e2e

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// lubi1 is the second default datacenter (LU-BI1): FR-SD5's can_migrate_to.
const lubi1 = 2

// testMigrate migrates a running VM from FR-SD5 to LU-BI1 with the calls gandi.cli makes
// for `gandi vm migrate` then `gandi vm migrate --finalize` (vm.can_migrate; vm.migrate
// and operation.info polled until DONE; operation.list of the RUN hosting_migration_vm
// in wait_finalize; vm.migrate with finalize; polled until DONE). The VM writes a file
// first; afterwards it runs in LU-BI1 with a new address from LU-BI1's pool, answers SSH
// there with the file intact, and left no tap in FR-SD5.
func testMigrate(g *guestVM) {
	e, t := g.e, g.e.t
	want := fmt.Sprintf("berth-%d", time.Now().UnixNano())
	e.mustSSH(g.ip4, "echo "+want+" > /root/before-migration && sync")

	check := asMap(t, e.call("hosting.vm.can_migrate", g.id))
	if check["can_migrate"] != true || fmt.Sprint(check["matched"]) != "[LU-BI1]" || fmt.Sprint(check["can_migrate_to"]) != "[LU-BI1]" {
		t.Fatalf("vm.can_migrate: %v", check)
	}
	first := e.do("hosting.vm.migrate", g.id, false)
	params := asMap(t, asMap(t, e.call("operation.info", first["id"]))["params"])
	if asID(t, params["from_dc_id"]) != fsd5 || asID(t, params["to_dc_id"]) != lubi1 {
		t.Fatalf("first operation's params: %v", params)
	}
	waiting := asList(t, e.call("operation.list", map[string]any{"type": "hosting_migration_vm", "step": "RUN", "vm_id": g.id}))
	if len(waiting) != 1 || asMap(t, asMap(t, waiting[0])["params"])["inner_step"] != "wait_finalize" {
		t.Fatalf("operations waiting for finalize: %v", waiting)
	}
	if info := g.info(); info["is_migrating"] != true || info["state"] != "running" {
		t.Fatalf("vm.info while waiting for finalize: is_migrating %v, state %v", info["is_migrating"], info["state"])
	}
	if got := e.mustSSH(g.ip4, "cat /root/before-migration"); got != want {
		t.Fatalf("the guest before the finalize: %q", got)
	}

	// gandi.cli's --finalize asks can_migrate first.
	if check := asMap(t, e.call("hosting.vm.can_migrate", g.id)); check["can_migrate"] != true {
		t.Fatalf("vm.can_migrate while waiting for finalize: %v", check)
	}
	offset := g.logSize()
	begin := time.Now()
	final := e.do("hosting.vm.migrate", g.id, true)
	if asID(t, final["id"]) != asID(t, asMap(t, waiting[0])["id"]) {
		t.Errorf("finalize returned operation %v, want the waiting %v", final["id"], asMap(t, waiting[0])["id"])
	}
	info := g.info()
	if asID(t, info["datacenter_id"]) != lubi1 || info["state"] != "running" || info["is_migrating"] != false {
		t.Fatalf("vm.info after the migration: datacenter_id %v, state %v, is_migrating %v", info["datacenter_id"], info["state"], info["is_migrating"])
	}
	old := g.ip4
	g.refresh()
	if a, err := netip.ParseAddr(g.ip4); err != nil || !netip.MustParsePrefix("198.51.100.0/24").Contains(a) {
		t.Fatalf("address after the migration %q (was %s), want one of LU-BI1's 198.51.100.0/24", g.ip4, old)
	}
	g.waitBooted(offset)
	t.Logf("finalize: stopped, moved and booted in LU-BI1 in %s", time.Since(begin).Round(time.Millisecond))
	for _, l := range e.linkNames() {
		if l == "bt"+strconv.FormatInt(g.iface, 10) {
			t.Errorf("tap %s is left in FR-SD5's namespace", l)
		}
	}
	lu := *e
	lu.ns = e.prefix + "lu-bi1"
	if got := lu.mustSSH(g.ip4, "cat /root/before-migration"); got != want {
		t.Fatalf("the file written before the migration holds %q, want %q", got, want)
	}
}
