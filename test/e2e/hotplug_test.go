package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hotplugOpTimeout bounds one hot-plug operation of TestHotplugDuringBoot: the driver
// waits up to 5 minutes for a booting guest to be ready for hotplug.
const hotplugOpTimeout = 6 * time.Minute

// TestHotplugDuringBoot (issue 14) hot-plugs into guests that are still booting, as
// clients do right after vm.create_from: rounds of create → disk attach → disk
// detach → stop → delete, four VMs at a time, while another VM keeps a host core busy
// with a loop in its guest. Every round must succeed; before the driver waited for the
// guest's ACPI hotplug readiness, the detach failed after 30 s with the disk left
// attached. The first round of lane 0 also grows memory and cores and attaches and
// detaches an iface during boot, and checks that the guest got the memory and the CPU.
func TestHotplugDuringBoot(t *testing.T) {
	// 8 rounds in make test (two per lane), the 20 rounds with BERTH_TEST_HOTPLUG_STRESS=1.
	// The "vm is not running" failures it once found (about 1 round in 10) were the
	// reconciler removing a just-started VM as an orphan (fixed in server/reconcile.go).
	rounds := 2
	if os.Getenv("BERTH_TEST_HOTPLUG_STRESS") != "" {
		rounds = 5
	}
	begin := time.Now()
	e := newQEnv(t)
	defer func() { t.Logf("TestHotplugDuringBoot took %s", time.Since(begin).Round(time.Millisecond)) }()

	// The load: a VM whose guest spins once booted.
	hog := e.createFrom(map[string]any{"hostname": "hog", "run": "nohup sh -c 'while :; do :; done' > /dev/null 2>&1 &"})
	t.Logf("hog vm %d started (its guest spins once booted)", hog)

	const lanes = 4
	disks := make([]int64, lanes)
	var diskOps []any
	for i := range disks {
		op := asMap(t, e.call("hosting.disk.create", map[string]any{"datacenter_id": fsd5, "size": 1024, "name": "hp" + strconv.Itoa(i)}))
		disks[i] = asID(t, op["disk_id"])
		diskOps = append(diskOps, op)
	}
	e.wait(diskOps...)

	// The lanes are subtests started from goroutines rather than parallel subtests, which
	// -parallel (GOMAXPROCS, 2 here) would run two at a time.
	var wg sync.WaitGroup
	for lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run("lane"+strconv.Itoa(lane), func(t *testing.T) {
				e := e.in(t)
				for r := range rounds {
					e.hotplugRound(fmt.Sprintf("hp%d-%d", lane, r), disks[lane], lane == 0 && r == 0)
				}
			})
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, d := range disks {
		if vms := asList(t, asMap(t, e.call("hosting.disk.info", d))["vms_id"]); len(vms) != 0 {
			t.Errorf("disk %d attached to %v after the rounds", d, vms)
		}
		e.do("hosting.disk.delete", d)
	}
}

// createFrom creates a VM from the tiny image (256 MB, the test's SSH key plus spec) and
// waits for its operations, not for its guest to boot; it returns the VM id.
func (e *qenv) createFrom(spec map[string]any) int64 {
	e.t.Helper()
	s := map[string]any{"datacenter_id": fsd5, "memory": 256, "ssh_key": e.sshPub}
	for k, v := range spec {
		s[k] = v
	}
	res := asList(e.t, e.call("hosting.vm.create_from", s, map[string]any{"name": "sys-" + s["hostname"].(string)}, e.image))
	var id int64
	for _, o := range res {
		if op := asMap(e.t, o); op["type"] == "vm_create" {
			id = asID(e.t, op["vm_id"])
		}
	}
	e.wait(res...)
	return id
}

// doLong is do with hotplugOpTimeout instead of opTimeout; it returns how long the
// operation took.
func (e *qenv) doLong(method string, params ...any) time.Duration {
	e.t.Helper()
	start := time.Now()
	op := asMap(e.t, e.call(method, params...))
	id := asID(e.t, op["id"])
	for {
		info := asMap(e.t, e.call("operation.info", id))
		switch info["step"] {
		case "DONE":
			return time.Since(start)
		case "ERROR", "CANCEL":
			e.t.Fatalf("%s%v: operation %d ended %v after %s: %v", method, params, id, info["step"],
				time.Since(start).Round(time.Millisecond), info["last_error"])
		}
		if time.Since(start) > hotplugOpTimeout {
			e.t.Fatalf("%s%v: operation %d still %v after %s", method, params, id, info["step"], hotplugOpTimeout)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// hotplugRound is one round of TestHotplugDuringBoot: a new VM gets disk attached and
// detached at once (with memory, cores and an iface first when extra is set), then is
// stopped once booted and deleted.
func (e *qenv) hotplugRound(host string, disk int64, extra bool) {
	t := e.t
	t.Helper()
	start := time.Now()
	g := &guestVM{e: e, id: e.createFrom(map[string]any{"hostname": host}), hostname: host}
	created := time.Since(start)
	var hot int64
	if extra {
		d := e.doLong("hosting.vm.update", g.id, map[string]any{"memory": 512, "cores": 2})
		t.Logf("vm %d: memory 512, cores 2 during boot in %s", g.id, d.Round(time.Millisecond))
		op := asMap(t, e.call("hosting.iface.create", map[string]any{"datacenter_id": fsd5, "ip_version": 4}))
		hot = asID(t, op["iface_id"])
		e.wait(op)
		d = e.doLong("hosting.vm.iface_attach", g.id, hot)
		d2 := e.doLong("hosting.vm.iface_detach", g.id, hot)
		t.Logf("vm %d: iface %d attached in %s, detached in %s during boot", g.id, hot, d.Round(time.Millisecond), d2.Round(time.Millisecond))
	}
	att := e.doLong("hosting.vm.disk_attach", g.id, disk)
	det := e.doLong("hosting.vm.disk_detach", g.id, disk)
	if vms := asList(t, asMap(t, e.call("hosting.disk.info", disk))["vms_id"]); len(vms) != 0 {
		t.Fatalf("disk %d after disk_detach DONE: attached to %v", disk, vms)
	}
	// The guest booted meanwhile (or was booted already), with no trace of the disk.
	g.waitBooted(0)
	t.Logf("round %s: vm %d created in %s, disk attached in %s, detached in %s, booted after %s",
		host, g.id, created.Round(time.Millisecond), att.Round(time.Millisecond), det.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	if extra {
		g.refresh()
		pollUntil(t, guestTimeout, fmt.Sprintf("vm %d shows 2 cpus and the added memory", g.id), func() string {
			out, err := e.ssh(g.ip4, "nproc; grep MemTotal /proc/meminfo")
			if err != nil {
				return err.Error()
			}
			if f := strings.Fields(out); len(f) < 3 || f[0] != "2" || parseMemTotal(out) < 400*1024 {
				return fmt.Sprintf("nproc, meminfo: %q", out)
			}
			return ""
		})
		if out := e.mustSSH(g.ip4, "ls /sys/class/net"); strings.Contains(out, "eth1") {
			t.Errorf("vm %d still has eth1 after iface_detach: %q", g.id, out)
		}
		e.do("hosting.iface.delete", hot)
	}
	e.do("hosting.vm.stop", g.id)
	e.do("hosting.vm.delete", g.id)
}
