package service_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
)

// where returns the host whose fake hypervisor runs VM id, "" when none does.
func (e *env) where(id int64) string {
	e.t.Helper()
	at := ""
	for name, h := range e.hosts {
		if v, ok := h.hv.Get(id); ok && v.Running {
			if at != "" {
				e.t.Fatalf("vm %d runs on %s and %s", id, at, name)
			}
			at = name
		}
	}
	return at
}

// holdMigrations makes the next live migration wait before its switchover: hold is
// closed when it waits there, closing release lets it go on.
func (e *env) holdMigrations() (hold, release chan struct{}) {
	hold, release = make(chan struct{}), make(chan struct{})
	for _, h := range e.hosts {
		h.hv.OnMigrate = func(int64) { close(hold); <-release }
	}
	return hold, release
}

// TestMoveVMLive moves a running VM to the other host of its datacenter: it keeps
// running without a boot, with its memory and NICs; its disk files and QEMU leave the
// source; the operation is the owner's to see (not another account's), costs nothing,
// and while it runs the VM says is_migrating and refuses other operations. A move to the
// host it is on, or to a host of no datacenter of its, is refused.
func TestMoveVMLive(t *testing.T) {
	e := newEnvHosts(t, "h2")
	hold, release := e.holdMigrations()
	vm := e.vm("mv1")
	id := vm.VM.ID
	mem := int64(512)
	e.must(e.svc.VMUpdate(e.ctx, e.c, id, service.VMUpdate{Memory: &mem}))
	src := e.where(id)
	dst := map[string]string{"local": "h2", "h2": "local"}[src]
	before, _ := e.hosts[src].hv.Get(id)
	credits := e.credits(e.c)

	if _, err := e.svc.VMMove(e.ctx, id, src); !api.IsCode(err, api.NotFound) {
		t.Errorf("move to its own host: %v", err)
	}
	if _, err := e.svc.VMMove(e.ctx, id, "nowhere"); !api.IsCode(err, api.NotFound) {
		t.Errorf("move to an unknown host: %v", err)
	}
	op, err := e.svc.VMMove(e.ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	<-hold // the RAM copy: mirrors in sync, switchover not yet
	if info := e.info(id); !info.VM.Migrating || !info.Disks[0].Migrating || info.VM.State != api.VMRunning {
		t.Errorf("during the move: migrating %v, disk %v, state %s", info.VM.Migrating, info.Disks[0].Migrating, info.VM.State)
	}
	if _, err := e.svc.VMStop(e.ctx, e.c, id); !api.IsCode(err, api.Conflict) || !strings.Contains(err.Error(), "moving to another host") {
		t.Errorf("vm.stop during the move: %v", err)
	}
	if _, err := e.svc.VMMove(e.ctx, id, ""); !api.IsCode(err, api.Conflict) {
		t.Errorf("a second move: %v", err)
	}
	if err := e.svc.OperationCancel(e.ctx, e.c, op.ID); !api.IsCode(err, api.Conflict) || !strings.Contains(err.Error(), "only the operator") {
		t.Errorf("the owner's operation.cancel of the move: %v", err)
	}
	close(release)
	done := e.wait(op, api.StepDone)
	if done.Type != ops.VMMove || done.Source != "berthd admin" || done.VMID != id {
		t.Errorf("operation %+v", done)
	}
	if got := e.where(id); got != dst {
		t.Fatalf("vm runs on %q after the move, want %s", got, dst)
	}
	after, _ := e.hosts[dst].hv.Get(id)
	if after.Boots != 0 || after.Spec.MemoryMB != 512 || len(after.Spec.NICs) != len(before.Spec.NICs) || after.Spec.NICs[0].MAC != before.Spec.NICs[0].MAC {
		t.Errorf("on the target: boots %d, memory %d, nics %+v; before: %+v", after.Boots, after.Spec.MemoryMB, after.Spec.NICs, before.Spec.NICs)
	}
	if _, ok := e.hosts[src].hv.Get(id); ok {
		t.Errorf("the source still has the vm")
	}
	disk := vm.Disks[0].ID
	if _, ok := e.hosts[src].vol.Get(disk); ok {
		t.Errorf("the source still has disk %d", disk)
	}
	if _, ok := e.hosts[dst].vol.Get(disk); !ok {
		t.Errorf("the target has no disk %d", disk)
	}
	if info := e.info(id); info.VM.Migrating || info.VM.State != api.VMRunning {
		t.Errorf("after the move: migrating %v, state %s", info.VM.Migrating, info.VM.State)
	}
	if got := e.credits(e.c); got != credits {
		t.Errorf("credits %d after the move, %d before: a move costs nothing", got, credits)
	}
	// The VM works where it is now: its operations go to the new host.
	e.must(e.svc.VMStop(e.ctx, e.c, id))
	e.must(e.svc.VMStart(e.ctx, e.c, id))
	if got := e.where(id); got != dst {
		t.Errorf("after a stop and start the vm runs on %q, want %s", got, dst)
	}
	bob := e.account("bob", 100)
	if _, err := e.svc.OperationInfo(e.ctx, bob, op.ID); !api.IsCode(err, api.NotFound) {
		t.Errorf("bob sees alice's move: %v", err)
	}
}

// TestMoveVMCancel cancels a live move at its last moment (paused, in sync): the VM runs
// on its source, the target keeps nothing, the operation ends in ERROR saying so; a cancel
// of a VM that is not moving is refused.
func TestMoveVMCancel(t *testing.T) {
	e := newEnvHosts(t, "h2")
	hold, release := e.holdMigrations()
	vm := e.vm("mv2")
	id := vm.VM.ID
	src := e.where(id)
	dst := map[string]string{"local": "h2", "h2": "local"}[src]
	if _, err := e.svc.VMMoveCancel(e.ctx, id); !api.IsCode(err, api.Conflict) {
		t.Errorf("cancel without a move: %v", err)
	}
	op, err := e.svc.VMMove(e.ctx, id, dst)
	if err != nil {
		t.Fatal(err)
	}
	<-hold
	if _, err := e.svc.VMMoveCancel(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	close(release)
	failed := e.wait(op, api.StepError)
	if !strings.Contains(failed.LastError, "cancelled by the operator") || !strings.Contains(failed.LastError, "runs on host "+src) {
		t.Errorf("last_error %q", failed.LastError)
	}
	if got := e.where(id); got != src {
		t.Errorf("vm runs on %q after the cancel, want %s", got, src)
	}
	if _, ok := e.hosts[dst].hv.Get(id); ok {
		t.Errorf("the target still has the vm")
	}
	if _, ok := e.hosts[dst].vol.Get(vm.Disks[0].ID); ok {
		t.Errorf("the target still has the disk")
	}
	if info := e.info(id); info.VM.Migrating || info.VM.State != api.VMRunning {
		t.Errorf("after the cancel: migrating %v, state %s", info.VM.Migrating, info.VM.State)
	}
}

// TestHostDrain drains a host of two running VMs and a halted one: each moves (the halted
// one cold, its disk copied), the host takes no new VM until undrained, and HostList
// says draining. A drain that cannot find room for every VM starts nothing.
func TestHostDrain(t *testing.T) {
	var e *env
	e = newEnvWith(t, "sqlite", func(c *agent.Config) { c.Disks = fakeFetcher{&e} }, "h2", "h3")
	// Two VMs on "local": the other hosts have no room while they are made.
	e.setHostMemory("h2", 1)
	e.setHostMemory("h3", 1)
	victim := "local"
	count := map[string][]int64{victim: {e.vm("dra").VM.ID, e.vm("drb").VM.ID}}
	for _, id := range count[victim] {
		if at := e.where(id); at != victim {
			t.Fatalf("vm %d made on %s", id, at)
		}
	}
	e.setHostMemory("h2", 1<<20)
	e.setHostMemory("h3", 1<<20)
	halted := count[victim][0]
	e.must(e.svc.VMStop(e.ctx, e.c, halted))

	rep, err := e.svc.HostDrain(e.ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Moves) != len(count[victim]) {
		t.Fatalf("drain started %d moves, want %d", len(rep.Moves), len(count[victim]))
	}
	hosts, err := e.svc.HostList(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Draining != (h.Name == victim) {
			t.Errorf("host %s draining %v", h.Name, h.Draining)
		}
	}
	for _, m := range rep.Moves {
		e.wait(m.Op, api.StepDone)
		if m.Live == (m.Op.VMID == halted) || m.Target == victim {
			t.Errorf("move of vm %d: live %v, to %s", m.Op.VMID, m.Live, m.Target)
		}
	}
	for _, id := range count[victim] {
		if id == halted {
			continue
		}
		if at := e.where(id); at == "" || at == victim {
			t.Errorf("vm %d runs on %q after the drain", id, at)
		}
	}
	e.must(e.svc.VMStart(e.ctx, e.c, halted))
	if at := e.where(halted); at == "" || at == victim {
		t.Errorf("the halted vm started on %q after the drain", at)
	}
	if n := e.vmsOn(victim); n != 0 {
		t.Errorf("%d vms left on %s", n, victim)
	}
	if at := e.where(e.vm("new1").VM.ID); at == victim {
		t.Errorf("a new vm was placed on the draining host")
	}
	again, err := e.svc.HostDrain(e.ctx, victim)
	if err != nil || len(again.Moves) != 0 {
		t.Errorf("second drain: %+v, %v", again, err)
	}
	if err := e.svc.HostUndrain(e.ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.HostUndrain(e.ctx, "nope"); !api.IsCode(err, api.NotFound) {
		t.Errorf("undrain of an unknown host: %v", err)
	}
	// No room anywhere else: nothing starts, the host is not marked.
	big := e.vm("big")
	at := e.where(big.VM.ID)
	for name := range e.hosts {
		if name != at {
			e.setHostMemory(name, 1)
		}
	}
	if _, err := e.svc.HostDrain(e.ctx, at); !api.IsCode(err, api.Unavailable) {
		t.Errorf("drain without room: %v", err)
	}
	hosts, _ = e.svc.HostList(e.ctx)
	for _, h := range hosts {
		if h.Draining {
			t.Errorf("host %s draining after a refused drain", h.Name)
		}
	}
}

func (e *env) vmsOn(host string) int64 {
	e.t.Helper()
	hosts, err := e.svc.HostList(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Name == host {
			return h.VMs
		}
	}
	e.t.Fatalf("no host %s", host)
	return 0
}

func (e *env) setHostMemory(name string, mb int64) {
	e.t.Helper()
	dc := int64(1)
	if name == "local" {
		dc = 0
	}
	if err := e.svc.RegisterHost(e.ctx, store.Host{Name: name, DatacenterID: dc, MemoryMB: mb, DiskMB: 1 << 30}); err != nil {
		e.t.Fatal(err)
	}
}

// fakeFetcher lets the agents copy disks from each other's fake volumes, as the internal
// channel does between berthd agents.
type fakeFetcher struct{ e **env }

func (f fakeFetcher) FetchDisk(ctx context.Context, host string, id int64) (io.ReadCloser, int64, func() error, error) {
	r, _, backing, err := (*f.e).hosts[host].vol.Open(ctx, id)
	return r, backing, func() error { return nil }, err
}
