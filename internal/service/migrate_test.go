package service_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
)

// TestMigrateVM runs Gandi's two-call migration of a running VM from FR-SD5 to the open
// datacenter of its can_migrate_to (US-BA1; LU-BI1 is matched but closed): the first
// operation ends DONE and leaves one waiting in wait_finalize; meanwhile the VM runs, says
// is_migrating and refuses other operations; the finalize moves the VM, its disks and
// iface (new addresses from US-BA1's pools) and starts it again, on the same host.
// Another account can neither see nor migrate it.
func TestMigrateVM(t *testing.T) {
	e := newEnv(t)
	vm := e.vm("mig1")
	id := vm.VM.ID
	before := vm.Ifaces[0].IPs

	check, err := e.svc.VMCanMigrate(e.ctx, e.c, id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&service.MigrateCheck{CanMigrate: true, Matched: []string{"LU-BI1", "US-BA1"}, CanMigrateTo: []string{"US-BA1"}}, check); diff != "" {
		t.Errorf("can_migrate (-want +got):\n%s", diff)
	}
	if _, err := e.svc.VMMigrate(e.ctx, e.c, id, true); !api.IsCode(err, api.Conflict) || !strings.Contains(err.Error(), "without finalize first") {
		t.Errorf("finalize before the first call: %v", err)
	}

	other := e.account("bob", 100)
	if _, err := e.svc.VMCanMigrate(e.ctx, other, id); !api.IsCode(err, api.NotFound) {
		t.Errorf("bob's can_migrate of alice's vm: %v", err)
	}
	if _, err := e.svc.VMMigrate(e.ctx, other, id, false); !api.IsCode(err, api.NotFound) {
		t.Errorf("bob's migrate of alice's vm: %v", err)
	}

	first := e.must(e.svc.VMMigrate(e.ctx, e.c, id, false))
	if first.Type != ops.VMMigrate || first.Params["from_dc_id"] != int64(1) || first.Params["to_dc_id"] != int64(3) || first.Params["inner_step"] != "wait_finalize" {
		t.Errorf("first operation: %s %v", first.Type, first.Params)
	}
	waiting, err := e.svc.OperationList(e.ctx, e.c, api.ListOptions{Filters: []api.Filter{
		{Field: "type", Values: []any{ops.VMMigrate}}, {Field: "step", Values: []any{api.StepRun}}, {Field: "vm_id", Values: []any{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(waiting) != 1 || waiting[0].Params["inner_step"] != "wait_finalize" || waiting[0].Params["to_dc_id"] != int64(3) {
		t.Fatalf("operations waiting for finalize: %+v", waiting)
	}
	if info := e.info(id); !info.VM.Migrating || !info.Disks[0].Migrating || info.VM.State != api.VMRunning || info.VM.DatacenterID != 1 {
		t.Errorf("while waiting: migrating %v, disk migrating %v, state %s, dc %d", info.VM.Migrating, info.Disks[0].Migrating, info.VM.State, info.VM.DatacenterID)
	}
	if list, err := e.svc.VMList(e.ctx, e.c, api.ListOptions{}); err != nil || len(list) != 1 || !list[0].Migrating {
		t.Errorf("vm.list while waiting: %+v, %v", list, err)
	}
	if _, err := e.svc.VMStop(e.ctx, e.c, id); !api.IsCode(err, api.Conflict) {
		t.Errorf("vm.stop while migrating: %v", err)
	}
	// gandi.cli asks can_migrate before it finalizes.
	if check, err := e.svc.VMCanMigrate(e.ctx, e.c, id); err != nil || !check.CanMigrate {
		t.Errorf("can_migrate while waiting for finalize: %+v, %v", check, err)
	}
	if _, err := e.svc.VMMigrate(e.ctx, e.c, id, false); !api.IsCode(err, api.Conflict) {
		t.Errorf("a second migration: %v", err)
	}
	if _, err := e.svc.VMMigrate(e.ctx, other, id, true); !api.IsCode(err, api.NotFound) {
		t.Errorf("bob's finalize of alice's vm: %v", err)
	}

	final, err := e.svc.VMMigrate(e.ctx, e.c, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if final.ID != waiting[0].ID {
		t.Errorf("finalize returned operation %d, want the waiting one %d", final.ID, waiting[0].ID)
	}
	e.wait(final, api.StepDone)
	info := e.info(id)
	if info.VM.DatacenterID != 3 || info.VM.State != api.VMRunning || info.VM.Migrating {
		t.Errorf("after: dc %d state %s migrating %v", info.VM.DatacenterID, info.VM.State, info.VM.Migrating)
	}
	if info.Disks[0].DatacenterID != 3 || info.Ifaces[0].Iface.DatacenterID != 3 {
		t.Errorf("after: disk dc %d, iface dc %d", info.Disks[0].DatacenterID, info.Ifaces[0].Iface.DatacenterID)
	}
	after := info.Ifaces[0].IPs
	if len(after) != len(before) {
		t.Fatalf("addresses before %v, after %v", before, after)
	}
	v4 := netip.MustParsePrefix("203.0.113.0/24")
	v6 := netip.MustParsePrefix("2001:db8:3000::/36")
	for i, ip := range after {
		a := netip.MustParseAddr(ip.IP)
		if ip.Version != before[i].Version || ip.DatacenterID != 3 || ip.State != api.StateCreated || (ip.Version == 4 && !v4.Contains(a)) || (ip.Version == 6 && !v6.Contains(a)) {
			t.Errorf("address %d after the migration: %+v (before %+v)", i, ip, before[i])
		}
	}
	if g, ok := e.hv.Get(id); !ok || !g.Running || g.Boots != 2 {
		t.Errorf("on the host after the migration: %+v (running and booted twice expected)", g)
	}
	if _, err := e.svc.VMStop(e.ctx, e.c, id); err != nil {
		t.Errorf("vm.stop after the migration: %v", err)
	}
}

// TestMigrateCancel cancels a migration waiting for its finalize: the VM stays, runs and
// can migrate again.
func TestMigrateCancel(t *testing.T) {
	e := newEnv(t)
	id := e.vm("mig3").VM.ID
	e.must(e.svc.VMMigrate(e.ctx, e.c, id, false))
	waiting, err := e.svc.OperationList(e.ctx, e.c, api.ListOptions{Filters: []api.Filter{
		{Field: "type", Values: []any{ops.VMMigrate}}, {Field: "step", Values: []any{api.StepRun}}}})
	if err != nil || len(waiting) != 1 {
		t.Fatalf("waiting: %v, %v", waiting, err)
	}
	if err := e.svc.OperationCancel(e.ctx, e.c, waiting[0].ID); err != nil {
		t.Fatal(err)
	}
	if info := e.info(id); info.VM.Migrating || info.VM.State != api.VMRunning || info.VM.DatacenterID != 1 {
		t.Errorf("after the cancel: migrating %v, state %s, dc %d", info.VM.Migrating, info.VM.State, info.VM.DatacenterID)
	}
	if _, err := e.svc.VMMigrate(e.ctx, e.c, id, true); !api.IsCode(err, api.Conflict) {
		t.Errorf("finalize after the cancel: %v", err)
	}
	e.must(e.svc.VMMigrate(e.ctx, e.c, id, false))
}

// TestMigrateDisk moves a detached disk; an attached one, or to a datacenter not in
// can_migrate_to, is refused.
func TestMigrateDisk(t *testing.T) {
	e := newEnv(t)
	d := e.disk(1024)
	if _, err := e.svc.DiskMigrate(e.ctx, e.c, d, 1); !api.IsCode(err, api.Invalid) {
		t.Errorf("migrate to its own datacenter: %v", err)
	}
	if _, err := e.svc.DiskMigrate(e.ctx, e.account("bob", 100), d, 3); !api.IsCode(err, api.NotFound) {
		t.Errorf("bob's migrate of alice's disk: %v", err)
	}
	op := e.must(e.svc.DiskMigrate(e.ctx, e.c, d, 3))
	if op.Type != ops.DiskMigrate || op.Params["from_dc_id"] != int64(1) || op.Params["to_dc_id"] != int64(3) {
		t.Errorf("operation: %s %v", op.Type, op.Params)
	}
	info, err := e.svc.DiskInfo(e.ctx, e.c, d)
	if err != nil || info.DatacenterID != 3 || info.Migrating {
		t.Errorf("after: %+v, %v", info, err)
	}
	vm := e.vm("mig2")
	if _, err := e.svc.DiskMigrate(e.ctx, e.c, vm.Disks[0].ID, 3); !api.IsCode(err, api.Attached) {
		t.Errorf("migrate of an attached disk: %v", err)
	}
}

// TestMigrateToAnotherHost: when no host serves both datacenters, a VM made from an image
// cannot move yet (its disk is an overlay of an image the target host does not have), and
// can_migrate says so; an empty detached disk can.
func TestMigrateToAnotherHost(t *testing.T) {
	e := newEnv(t)
	id := e.vm("mig4").VM.ID
	d := e.disk(1024)
	for _, h := range []store.Host{{Name: "local", DatacenterID: 1, MemoryMB: 1 << 20, DiskMB: 1 << 30},
		{Name: "h3", DatacenterID: 3, MemoryMB: 1 << 20, DiskMB: 1 << 30}} {
		if err := e.svc.RegisterHost(e.ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.VMMigrate(e.ctx, e.c, id, false); !api.IsCode(err, api.Unavailable) || !strings.Contains(err.Error(), "is made from image disk") {
		t.Errorf("migrate to another host: %v", err)
	}
	if check, err := e.svc.VMCanMigrate(e.ctx, e.c, id); err != nil || check.CanMigrate {
		t.Errorf("can_migrate: %+v, %v", check, err)
	}
	op, err := e.svc.DiskMigrate(e.ctx, e.c, d, 3)
	if err != nil {
		t.Fatal(err)
	}
	if op.Params["to_dc_id"] != int64(3) {
		t.Errorf("disk migration params %v", op.Params)
	}
}
