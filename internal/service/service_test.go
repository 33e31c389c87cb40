package service_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/hypervisor"
	hvfake "github.com/berth-io/berth/internal/hypervisor/fake"
	"github.com/berth-io/berth/internal/netdev"
	netfake "github.com/berth-io/berth/internal/netdev/fake"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
	"github.com/berth-io/berth/internal/store/storetest"
	volfake "github.com/berth-io/berth/internal/volume/fake"
)

// env is a service on a temporary SQLite store with the fake drivers and a running engine.
type env struct {
	t   *testing.T
	svc *service.Service
	hv  *hvfake.Driver
	vol *volfake.Driver
	c   *service.Caller
	img int64 // image disk id
	ctx context.Context
	// hosts are the fake drivers of every host, "local" (e.hv, e.vol) and the extra ones
	// of newEnvHosts (datacenter 1), each with its own agent working its own queue.
	hosts map[string]*hostEnv
}

type hostEnv struct {
	hv  *hvfake.Driver
	vol *volfake.Driver
}

// byQueue routes each operation phase to the agent of the host whose queue it runs on,
// as River does across processes.
type byQueue map[string]*agent.Agent

func (b byQueue) Execute(ctx context.Context, op *store.Operation) error {
	if a, ok := b[op.Queue]; ok {
		return a.Execute(ctx, op)
	}
	return b[service.HostQueue("local")].Execute(ctx, op)
}

type nets struct{}

func (nets) Port(f *store.Iface) (netdev.Port, bool) {
	return netdev.Port{IfaceID: f.ID, Tap: agent.TapName(f.ID)}, true
}
func (nets) Gateway(ip *store.IP) (string, string)    { return ip.IP.IP + "/24", "" }
func (nets) VLANNetwork(v *store.VLAN) netdev.Network { return netdev.Network{Bridge: "brv"} }

func newEnv(t *testing.T) *env { return newEnvOn(t, "sqlite") }

func newEnvOn(t *testing.T, engine string) *env { return newEnvWith(t, engine, func(*agent.Config) {}) }

// newEnvHosts is newEnv with more hosts, of datacenter 1, registered after the image.
func newEnvHosts(t *testing.T, names ...string) *env {
	return newEnvWith(t, "sqlite", func(*agent.Config) {}, names...)
}

func newEnvWith(t *testing.T, engine string, tune func(*agent.Config), extra ...string) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var st store.Store
	var err error
	if engine == "postgres" {
		st, err = sqlstore.OpenPostgres(ctx, storetest.PostgresURL(t))
	} else {
		st, err = sqlstore.OpenSQLite(ctx, t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	cat := &service.Catalog{
		Datacenters: []service.Datacenter{
			{Datacenter: api.Datacenter{ID: 1, Code: "FR-SD5", IaaSClosedFor: "NONE", CanMigrateTo: []int64{2, 3}}, IPv4Pool: "192.0.2.0/29", IPv4Gateway: "192.0.2.1", IPv6Prefix: "2001:db8::/32"},
			{Datacenter: api.Datacenter{ID: 2, Code: "LU-BI1", IaaSClosedFor: "ALL"}, IPv4Pool: "198.51.100.0/24", IPv4Gateway: "198.51.100.1"},
			{Datacenter: api.Datacenter{ID: 3, Code: "US-BA1", IaaSClosedFor: "NONE"}, IPv4Pool: "203.0.113.0/24", IPv4Gateway: "203.0.113.1", IPv6Prefix: "2001:db8:3000::/36"},
		},
		Kernels: []service.Kernel{
			{Name: "k1", Flavor: "linux", Kernel: "/k1", Cmdline: "root=/dev/vda console=ttyS0"},
			{Name: "k2", Flavor: "linux", Kernel: "/k2"},
			{Name: "grub", Flavor: "linux-hvm"},
		},
	}
	svc := service.New(st, cat, service.Config{MaxCores: 4}, nil)
	e := &env{t: t, svc: svc, hv: hvfake.New(), vol: volfake.New(0), ctx: ctx, hosts: map[string]*hostEnv{}}
	router := byQueue{}
	queues := []string{service.ControlQueue}
	for _, name := range append([]string{"local"}, extra...) {
		h := &hostEnv{hv: e.hv, vol: e.vol}
		if name != "local" {
			h = &hostEnv{hv: hvfake.New(), vol: volfake.New(0)}
		}
		e.hosts[name] = h
		acfg := agent.Config{Store: st, HV: h.hv, Volumes: h.vol, Net: netfake.New(), Networks: nets{}, Host: name,
			MigrationHost: "127.0.0.1",
			Kernels: func(name, cmdline string) hypervisor.Boot {
				k, _ := cat.Kernel(name)
				return hypervisor.Boot{Kernel: k.Kernel, Cmdline: cmdline}
			}}
		tune(&acfg)
		router[service.HostQueue(name)] = agent.New(acfg)
		queues = append(queues, service.HostQueue(name))
	}
	if err := svc.RegisterHost(ctx, store.Host{Name: "local", MemoryMB: 1 << 20, DiskMB: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	eng, err := ops.New(ctx, st, svc, ops.Config{Queues: queues, SnoozeWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetEngine(eng, router)
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		eng.Stop(sctx)
		cancel()
		st.Close()
	})
	im, err := svc.RegisterImage(ctx, service.ImageSpec{Label: "Tiny", DatacenterID: 1, KernelVersion: "k1", Cmdline: "root=/dev/vda console=ttyS0", SizeMB: 3072},
		func(id int64) (int64, error) {
			for _, h := range e.hosts { // every host keeps its copy of the images
				if _, err := h.vol.Import(ctx, id, "/img"); err != nil {
					return 0, err
				}
			}
			return e.vol.Import(ctx, id, "/img")
		})
	if err != nil {
		t.Fatal(err)
	}
	e.img = im.DiskID
	for _, name := range extra {
		if err := svc.RegisterHost(ctx, store.Host{Name: name, DatacenterID: 1, MemoryMB: 1 << 20, DiskMB: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	a, _, err := svc.CreateAccount(ctx, "alice", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	e.c = &service.Caller{AccountID: a.ID, Handle: a.Handle}
	return e
}

// wait waits for an operation to end and fails the test unless it ends in want.
func (e *env) wait(op *api.Operation, want string) *api.Operation {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := e.svc.OperationInfo(e.ctx, e.c, op.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		if api.Terminal(o.Step) {
			if o.Step != want {
				e.t.Fatalf("operation %d (%s) ended %s (%s), want %s", o.ID, o.Type, o.Step, o.LastError, want)
			}
			return o
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("operation %d (%s) still %s", o.ID, o.Type, o.Step)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) must(op *api.Operation, err error) *api.Operation {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.wait(op, api.StepDone)
}

// vm creates a running VM from the image.
func (e *env) vm(name string) *service.VMDetail {
	e.t.Helper()
	list, err := e.svc.VMCreateFrom(e.ctx, e.c, service.VMSpec{DatacenterID: 1, Hostname: name, Memory: 256}, service.DiskSpec{}, e.img)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range list {
		e.wait(&list[i], api.StepDone)
	}
	return e.info(list[len(list)-1].VMID)
}

func (e *env) info(id int64) *service.VMDetail {
	e.t.Helper()
	d, err := e.svc.VMInfo(e.ctx, e.c, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) disk(size int64) int64 {
	e.t.Helper()
	return e.must(e.svc.DiskCreate(e.ctx, e.c, service.DiskSpec{DatacenterID: 1, Size: size})).DiskID
}

func wantCode(t *testing.T, err error, code api.Code) {
	t.Helper()
	if !api.IsCode(err, code) {
		t.Fatalf("err = %v, want code %d", err, code)
	}
}

func TestCreateFromReturnsThreeOperations(t *testing.T) { testCreateFrom(t, newEnv(t)) }

// TestOnPostgres runs the main flows with the store and River on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	t.Run("CreateFrom", func(t *testing.T) { testCreateFrom(t, newEnvOn(t, "postgres")) })
	t.Run("Order", func(t *testing.T) { testOrder(t, newEnvOn(t, "postgres")) })
	t.Run("ConcurrentAddresses", func(t *testing.T) { testConcurrentAddresses(t, newEnvOn(t, "postgres")) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, newEnvOn(t, "postgres")) })
}

func testCreateFrom(t *testing.T, e *env) {
	list, err := e.svc.VMCreateFrom(e.ctx, e.c, service.VMSpec{DatacenterID: 1, Hostname: "a"}, service.DiskSpec{}, e.img)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, o := range list {
		types = append(types, o.Type)
		if o.VMID == 0 || o.Step != api.StepWait {
			t.Errorf("%s: vm_id %d step %s", o.Type, o.VMID, o.Step)
		}
	}
	if diff := cmp.Diff([]string{"disk_create", "iface_create", "vm_create"}, types); diff != "" {
		t.Fatal(diff)
	}
	// The objects exist at once, being created.
	d := e.info(list[2].VMID)
	if d.VM.State != api.VMBeingCreated || len(d.Disks) != 1 || len(d.Ifaces) != 1 {
		t.Fatalf("right after the call: %+v", d.VM)
	}
	for i := range list {
		e.wait(&list[i], api.StepDone)
	}
	d = e.info(list[2].VMID)
	if d.VM.State != api.VMRunning || d.VM.MaxMemory != 2048 || d.Disks[0].Source != e.img || !d.Disks[0].BootDisk() {
		t.Fatalf("after: %+v %+v", d.VM, d.Disks[0])
	}
	if got := d.Ifaces[0].IPs; len(got) != 2 || got[0].Version != 4 || got[1].Version != 6 {
		t.Fatalf("ips %+v", got)
	}
	// An existing iface: two operations, no new iface.
	f := e.must(e.svc.IfaceCreate(e.ctx, e.c, service.IfaceSpec{DatacenterID: 1, IPVersion: 6}))
	list, err = e.svc.VMCreateFrom(e.ctx, e.c, service.VMSpec{DatacenterID: 1, Hostname: "b", IfaceID: f.IfaceID}, service.DiskSpec{}, e.img)
	if err != nil || len(list) != 2 {
		t.Fatalf("with iface_id: %d ops, %v", len(list), err)
	}
	// The same hostname twice is refused.
	_, err = e.svc.VMCreateFrom(e.ctx, e.c, service.VMSpec{DatacenterID: 1, Hostname: "a"}, service.DiskSpec{}, e.img)
	wantCode(t, err, api.Conflict)
	// A closed datacenter refuses.
	_, err = e.svc.DiskCreate(e.ctx, e.c, service.DiskSpec{DatacenterID: 2, Size: 1024})
	wantCode(t, err, api.Conflict)
}

func TestDiskPositions(t *testing.T) {
	e := newEnv(t)
	v := e.vm("pos")
	boot := v.VM.DisksID[0]
	d1, d2, d3 := e.disk(1024), e.disk(1024), e.disk(1024)
	attach := func(id, pos int64) { e.must(e.svc.DiskAttach(e.ctx, e.c, v.VM.ID, id, pos, false)) }
	disks := func() []int64 { return e.info(v.VM.ID).VM.DisksID }
	attach(d1, -1)
	attach(d2, -1)
	if diff := cmp.Diff([]int64{boot, d1, d2}, disks()); diff != "" {
		t.Fatal("append:", diff)
	}
	// Running: the boot disk cannot change.
	_, err := e.svc.DiskAttach(e.ctx, e.c, v.VM.ID, d3, 0, false)
	wantCode(t, err, api.Conflict)
	_, err = e.svc.DiskDetach(e.ctx, e.c, v.VM.ID, boot)
	wantCode(t, err, api.Conflict)
	// Hot-plugged into the running VM.
	fv, _ := e.hv.Get(v.VM.ID)
	if len(fv.Spec.Disks) != 3 {
		t.Fatalf("hypervisor has %d disks", len(fv.Spec.Disks))
	}
	e.must(e.svc.VMStop(e.ctx, e.c, v.VM.ID))
	attach(d3, 0) // a new disk at 0: the old boot disk moves to the end
	if diff := cmp.Diff([]int64{d3, d1, d2, boot}, disks()); diff != "" {
		t.Fatal("attach at 0:", diff)
	}
	attach(boot, 0) // already on the VM: swap
	if diff := cmp.Diff([]int64{boot, d1, d2, d3}, disks()); diff != "" {
		t.Fatal("swap:", diff)
	}
	e.must(e.svc.DiskDetach(e.ctx, e.c, v.VM.ID, d1)) // the hole closes
	if diff := cmp.Diff([]int64{boot, d2, d3}, disks()); diff != "" {
		t.Fatal("detach:", diff)
	}
	// A disk is on at most one VM.
	w := e.vm("other")
	_, err = e.svc.DiskAttach(e.ctx, e.c, w.VM.ID, d2, -1, false)
	wantCode(t, err, api.Attached)
	// Deleting an attached disk is refused (530439).
	_, err = e.svc.DiskDelete(e.ctx, e.c, d2)
	wantCode(t, err, api.Attached)
	info, _ := e.svc.DiskInfo(e.ctx, e.c, boot)
	if !info.BootDisk() {
		t.Fatal("boot disk not is_boot_disk")
	}
}

func TestRescueBootDisk(t *testing.T) {
	e := newEnv(t)
	a, b := e.vm("a"), e.vm("b")
	sys := a.VM.DisksID[0]
	e.must(e.svc.VMStop(e.ctx, e.c, a.VM.ID))
	e.must(e.svc.DiskDetach(e.ctx, e.c, a.VM.ID, sys))
	_, err := e.svc.VMStart(e.ctx, e.c, a.VM.ID) // nothing to boot from
	wantCode(t, err, api.Conflict)
	e.must(e.svc.DiskAttach(e.ctx, e.c, b.VM.ID, sys, -1, false))
	e.must(e.svc.DiskDetach(e.ctx, e.c, b.VM.ID, sys))
	e.must(e.svc.DiskAttach(e.ctx, e.c, a.VM.ID, sys, 0, false))
	e.must(e.svc.VMStart(e.ctx, e.c, a.VM.ID))
	fv, _ := e.hv.Get(a.VM.ID)
	if fv.Spec.Disks[0].ID != sys || !fv.Running || fv.Boots != 2 {
		t.Fatalf("a booted %+v", fv)
	}
}

func TestKernelAndCmdlinePerDisk(t *testing.T) {
	e := newEnv(t)
	v := e.vm("k")
	boot := v.VM.DisksID[0]
	k2, line := "k2", "root=/dev/vda console=ttyS0 quiet berth.test=1"
	e.must(e.svc.DiskUpdate(e.ctx, e.c, boot, service.DiskUpdate{Kernel: &k2, Cmdline: &line}))
	fv, _ := e.hv.Get(v.VM.ID)
	if fv.Spec.Boot.Kernel != "/k1" {
		t.Fatalf("changed before the reboot: %+v", fv.Spec.Boot)
	}
	e.must(e.svc.VMReboot(e.ctx, e.c, v.VM.ID))
	fv, _ = e.hv.Get(v.VM.ID)
	if diff := cmp.Diff(hypervisor.Boot{Kernel: "/k2", Cmdline: line}, fv.Spec.Boot); diff != "" {
		t.Fatal(diff)
	}
	bad := "nope"
	_, err := e.svc.DiskUpdate(e.ctx, e.c, boot, service.DiskUpdate{Kernel: &bad})
	wantCode(t, err, api.Invalid)
}

func TestMemoryAndCores(t *testing.T) {
	e := newEnv(t)
	v := e.vm("m")
	mem, cores := int64(768), int64(2)
	e.must(e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{Memory: &mem, Cores: &cores}))
	fv, _ := e.hv.Get(v.VM.ID)
	if fv.Spec.MemoryMB != 768 || fv.Spec.Cores != 2 || fv.Boots != 1 {
		t.Fatalf("live update: %+v boots %d", fv.Spec, fv.Boots)
	}
	big := int64(3000)
	_, err := e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{Memory: &big})
	wantCode(t, err, api.Invalid)
	maxm := int64(4096)
	e.must(e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{Memory: &big, MaxMemory: &maxm}))
	fv, _ = e.hv.Get(v.VM.ID)
	if fv.Boots != 2 || fv.Spec.MaxMemMB != 4096 || fv.Spec.MemoryMB != 3000 {
		t.Fatalf("vm_max_memory takes a reboot: %+v boots %d", fv.Spec, fv.Boots)
	}
	odd := int64(3000)
	_, err = e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{MaxMemory: &odd})
	wantCode(t, err, api.Invalid)
	many := int64(9)
	_, err = e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{Cores: &many})
	wantCode(t, err, api.Invalid)
	if got := e.info(v.VM.ID).VM; got.Memory != 3000 || got.MaxMemory != 4096 || got.Cores != 2 {
		t.Fatalf("recorded %+v", got)
	}
}

func TestDefaultMaxMemory(t *testing.T) {
	for mem, want := range map[int64]int64{128: 2048, 256: 2048, 2048: 2048, 2049: 4096, 4096: 4096, 5000: 8192} {
		if got := service.DefaultMaxMemory(mem); got != want {
			t.Errorf("DefaultMaxMemory(%d) = %d, want %d", mem, got, want)
		}
	}
}

func TestDiskGrowSnapshotRollback(t *testing.T) {
	e := newEnv(t)
	d := e.disk(1024)
	big, small := int64(2048), int64(1024)
	e.must(e.svc.DiskUpdate(e.ctx, e.c, d, service.DiskUpdate{Size: &big}))
	_, err := e.svc.DiskUpdate(e.ctx, e.c, d, service.DiskUpdate{Size: &small})
	wantCode(t, err, api.Invalid)
	snap := e.must(e.svc.DiskCreateFrom(e.ctx, e.c, service.DiskSpec{Type: api.DiskSnapshot}, d)).DiskID
	info, _ := e.svc.DiskInfo(e.ctx, e.c, d)
	if diff := cmp.Diff([]int64{snap}, info.SnapshotsID); diff != "" {
		t.Fatal(diff)
	}
	s, _ := e.svc.DiskInfo(e.ctx, e.c, snap)
	if s.Type != api.DiskSnapshot || s.Source != d {
		t.Fatalf("snapshot %+v", s)
	}
	v := e.vm("r")
	e.must(e.svc.DiskAttach(e.ctx, e.c, v.VM.ID, d, -1, false))
	_, err = e.svc.DiskRollback(e.ctx, e.c, snap)
	wantCode(t, err, api.Attached)
	e.must(e.svc.DiskDetach(e.ctx, e.c, v.VM.ID, d))
	e.must(e.svc.DiskRollback(e.ctx, e.c, snap))
}

func TestDeleteVM(t *testing.T) {
	e := newEnv(t)
	v := e.vm("del")
	extra := e.disk(1024)
	e.must(e.svc.DiskAttach(e.ctx, e.c, v.VM.ID, extra, -1, false))
	f := e.must(e.svc.IfaceCreate(e.ctx, e.c, service.IfaceSpec{DatacenterID: 1, IPVersion: 4}))
	e.must(e.svc.IfaceAttach(e.ctx, e.c, v.VM.ID, f.IfaceID))
	_, err := e.svc.VMDelete(e.ctx, e.c, v.VM.ID)
	wantCode(t, err, api.Conflict) // running
	e.must(e.svc.VMStop(e.ctx, e.c, v.VM.ID))
	e.must(e.svc.VMDelete(e.ctx, e.c, v.VM.ID))
	_, err = e.svc.VMInfo(e.ctx, e.c, v.VM.ID)
	wantCode(t, err, api.NotFound)
	_, err = e.svc.DiskInfo(e.ctx, e.c, v.VM.DisksID[0])
	wantCode(t, err, api.NotFound)
	_, err = e.svc.IfaceInfo(e.ctx, e.c, v.VM.IfacesID[0])
	wantCode(t, err, api.NotFound)
	if d, err := e.svc.DiskInfo(e.ctx, e.c, extra); err != nil || d.VMID != 0 {
		t.Fatalf("extra disk: %+v %v", d, err)
	}
	if f, err := e.svc.IfaceInfo(e.ctx, e.c, f.IfaceID); err != nil || f.Iface.VMID != 0 || f.Iface.State != api.IfaceFree {
		t.Fatalf("second iface: %+v %v", f, err)
	}
	if _, ok := e.hv.Get(v.VM.ID); ok {
		t.Fatal("the hypervisor still has the vm")
	}
	if _, ok := e.vol.Get(v.VM.DisksID[0]); ok {
		t.Fatal("the boot disk's volume is still there")
	}
	// Its addresses are free again: the /29 pool holds 5 (minus the gateway), the second
	// iface keeps one.
	for i := range 4 {
		if _, err := e.svc.IfaceCreate(e.ctx, e.c, service.IfaceSpec{DatacenterID: 1, IPVersion: 4}); err != nil {
			t.Fatalf("iface %d: %v", i, err)
		}
	}
	_, err = e.svc.IfaceCreate(e.ctx, e.c, service.IfaceSpec{DatacenterID: 1, IPVersion: 4})
	wantCode(t, err, api.Unavailable)
}

func TestCreditsAndCancel(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.svc.CreateAccount(e.ctx, "poor", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	poor, err := e.svc.Auth(e.ctx, "")
	wantCode(t, err, api.BadKey)
	_ = poor
	a, key, _ := e.svc.CreateAccount(e.ctx, "broke", "", 0)
	c, err := e.svc.Auth(e.ctx, key)
	if err != nil || c.AccountID != a.ID {
		t.Fatal(err)
	}
	_, err = e.svc.DiskCreate(e.ctx, c, service.DiskSpec{DatacenterID: 1, Size: 1024})
	wantCode(t, err, api.NoCredit)
	_, err = e.svc.Auth(e.ctx, "abcdefghijklmnopqrstuvwx")
	wantCode(t, err, api.NoRight)

	// Cancel while waiting: an operation queued behind a slow one on the same VM.
	v := e.vm("c")
	mem := int64(512)
	var last *api.Operation
	for range 5 {
		if last, err = e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{Memory: &mem}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.OperationCancel(e.ctx, e.c, last.ID); err != nil {
		o, _ := e.svc.OperationInfo(e.ctx, e.c, last.ID)
		if o.Step != api.StepDone {
			t.Fatalf("cancel: %v (step %s)", err, o.Step)
		}
		wantCode(t, err, api.Conflict) // it ran before the cancel came
	} else {
		e.wait(last, api.StepCancel)
	}
	done := e.must(e.svc.VMStop(e.ctx, e.c, v.VM.ID))
	err = e.svc.OperationCancel(e.ctx, e.c, done.ID)
	wantCode(t, err, api.Conflict)
}

func TestOperationsOnOneObjectRunInOrder(t *testing.T) { testOrder(t, newEnv(t)) }

func testOrder(t *testing.T, e *env) {
	v := e.vm("order")
	var list []*api.Operation
	for i := range 10 {
		mem := int64(256 + 64*(i+1))
		op, err := e.svc.VMUpdate(e.ctx, e.c, v.VM.ID, service.VMUpdate{Memory: &mem})
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, op)
	}
	var prev time.Time
	for _, op := range list {
		o := e.wait(op, api.StepDone)
		if o.Started.Before(prev) {
			t.Fatalf("operation %d started before the one before it ended", o.ID)
		}
		prev = o.Updated
	}
	if got := e.info(v.VM.ID).VM.Memory; got != 256+64*10 {
		t.Fatalf("memory %d: the last update must win", got)
	}
	fv, _ := e.hv.Get(v.VM.ID)
	if fv.Spec.MemoryMB != 256+64*10 {
		t.Fatalf("hypervisor memory %d", fv.Spec.MemoryMB)
	}
}

func TestNotFoundAcrossAccounts(t *testing.T) {
	e := newEnv(t)
	v := e.vm("mine")
	b, _, _ := e.svc.CreateAccount(e.ctx, "bob", "", 100)
	bob := &service.Caller{AccountID: b.ID, Handle: "bob"}
	_, err := e.svc.VMInfo(e.ctx, bob, v.VM.ID)
	wantCode(t, err, api.NotFound)
	_, err = e.svc.VMStop(e.ctx, bob, v.VM.ID)
	wantCode(t, err, api.NotFound)
	list, err := e.svc.VMList(e.ctx, bob, api.ListOptions{})
	if err != nil || len(list) != 0 {
		t.Fatalf("bob sees %d vms (%v)", len(list), err)
	}
	if !errors.Is(err, nil) {
		t.Fatal(err)
	}
}

func TestHostMemoryCapacity(t *testing.T) {
	e := newEnvWith(t, "sqlite", func(c *agent.Config) { c.MemoryMB, c.OverheadMB = 1024, 128 })
	e.vm("one") // 256 + 128
	e.vm("two") // 256 + 128: 768 of 1024 reserved
	list, err := e.svc.VMCreateFrom(e.ctx, e.c, service.VMSpec{DatacenterID: 1, Hostname: "three", Memory: 256}, service.DiskSpec{}, e.img)
	if err != nil {
		t.Fatal(err)
	}
	for i := range list[:2] {
		e.wait(&list[i], api.StepDone)
	}
	o := e.wait(&list[2], api.StepError)
	if !strings.Contains(o.LastError, "not enough memory on the host") {
		t.Fatalf("last_error %q", o.LastError)
	}
	if v := e.info(list[2].VMID); v.VM.State != api.VMHalted {
		t.Fatalf("the vm that did not fit is %s", v.VM.State)
	}
	// Growing a running VM past the host's memory is refused too.
	mem := int64(640)
	o = e.wait(e.mustOp(e.svc.VMUpdate(e.ctx, e.c, e.info(list[2].VMID-2).VM.ID, service.VMUpdate{Memory: &mem})), api.StepError)
	if !strings.Contains(o.LastError, "not enough memory") {
		t.Fatalf("grow: last_error %q", o.LastError)
	}
}

func (e *env) mustOp(op *api.Operation, err error) *api.Operation {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	return op
}

// TestConcurrentAddresses: 50 iface.create at once never hand out an address twice.
func TestConcurrentAddresses(t *testing.T) { testConcurrentAddresses(t, newEnv(t)) }

func testConcurrentAddresses(t *testing.T, e *env) {
	var wg sync.WaitGroup
	ops := make([]*api.Operation, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops[i], errs[i] = e.svc.IfaceCreate(e.ctx, e.c, service.IfaceSpec{DatacenterID: 3, IPVersion: 4})
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("iface.create %d: %v", i, err)
		}
		f, err := e.svc.IfaceInfo(e.ctx, e.c, ops[i].IfaceID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range f.IPs {
			if seen[ip.IP] {
				t.Fatalf("address %s handed out twice", ip.IP)
			}
			seen[ip.IP] = true
		}
	}
	if len(seen) != 100 {
		t.Fatalf("%d addresses for 50 ifaces, want 100", len(seen))
	}
}
