package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests of real VMs (issue 3): berthd on the qemu backend boots Berth Tiny under TCG,
// and every check looks inside the guest, on its serial console.

// TestQEMUGuest shares one VM between the checks of a VM's life: it boots with its
// hostname; memory and cores grow live in the same QEMU process; a disk attached live
// shows up and goes away at detach; a disk grown online shows its new size; a cmdline
// change shows after vm.reboot; vm.delete leaves no process, boot disk file or tap.
func TestQEMUGuest(t *testing.T) {
	begin := time.Now()
	e := newQEnv(t)
	vm := e.createVMs(map[string]any{"hostname": "guest1"})[0]
	defer func() { t.Logf("TestQEMUGuest took %s", time.Since(begin).Round(time.Millisecond)) }()

	t.Run("boot", func(t *testing.T) {
		g := vm.in(t)
		if st := g.state(); st != "running" {
			t.Errorf("state %v, want running", st)
		}
		if h := g.value("HOST", "echo HOST=$(hostname)"); h != "guest1" {
			t.Errorf("hostname in the guest %q, want guest1", h)
		}
		if h := g.value("ETC", "echo ETC=$(cat /etc/hostname)"); h != "guest1" {
			t.Errorf("/etc/hostname %q, want guest1", h)
		}
	})

	t.Run("memory-cores", func(t *testing.T) {
		g := vm.in(t)
		pid := g.pid()
		before := memTotalKB(g)
		start := time.Now()
		g.e.do("hosting.vm.update", g.id, map[string]any{"memory": 768})
		var after int
		g.untilGuest(guestTimeout, "MemTotal grows by 500 MiB", "grep MemTotal /proc/meminfo", func(out string) string {
			after = parseMemTotal(out)
			if after < before+500*1024 {
				return fmt.Sprintf("MemTotal %d kB, was %d kB", after, before)
			}
			return ""
		})
		t.Logf("memory 256 → 768 MB: MemTotal %d → %d kB in %s", before, after, time.Since(start).Round(time.Millisecond))

		if n := g.value("NPROC", "echo NPROC=$(nproc)"); n != "1" {
			t.Fatalf("nproc %s before the update, want 1", n)
		}
		start = time.Now()
		g.e.do("hosting.vm.update", g.id, map[string]any{"cores": 2})
		g.untilGuest(guestTimeout, "nproc is 2", "echo NPROC=$(nproc)", func(out string) string {
			if !strings.Contains(out, "NPROC=2") {
				return out
			}
			return ""
		})
		t.Logf("cores 1 → 2 in %s", time.Since(start).Round(time.Millisecond))
		if p := g.pid(); p != pid {
			t.Errorf("qemu pid %d after the updates, was %d: the VM was restarted", p, pid)
		}
		info := g.info()
		if info["memory"] != int64(768) || info["cores"] != int64(2) || info["state"] != "running" {
			t.Errorf("vm.info memory %v cores %v state %v, want 768, 2, running", info["memory"], info["cores"], info["state"])
		}
	})

	t.Run("disk-attach-detach", func(t *testing.T) {
		g := vm.in(t)
		disk := asID(t, g.e.do("hosting.disk.create", map[string]any{"datacenter_id": fsd5, "size": 1024, "name": "hotdisk"})["disk_id"])
		serial := "berth-" + strconv.FormatInt(disk, 10)
		g.e.do("hosting.vm.disk_attach", g.id, disk)
		var dev string
		pollUntil(t, guestTimeout, "attached disk shows up", func() string {
			devs := g.blockDevices()
			dev = devs[serial]
			if dev == "" {
				return fmt.Sprintf("no %s among %v", serial, devs)
			}
			return ""
		})
		if got := blockBytes(g, dev); got != 1024<<20 {
			t.Errorf("/dev/%s is %d bytes, want %d", dev, got, 1024<<20)
		}
		// The guest can use it.
		if out := g.sh("mkfs.ext4 -q /dev/" + dev + " && echo MKFS=ok"); !strings.Contains(out, "MKFS=ok") {
			t.Errorf("mkfs.ext4 /dev/%s: %q", dev, out)
		}
		g.e.do("hosting.vm.disk_detach", g.id, disk)
		pollUntil(t, guestTimeout, "detached disk goes away", func() string {
			if devs := g.blockDevices(); devs[serial] != "" {
				return fmt.Sprintf("%s still there: %v", serial, devs)
			}
			return ""
		})
		g.e.do("hosting.disk.delete", disk)
	})

	t.Run("disk-grow-online", func(t *testing.T) {
		g := vm.in(t)
		disk := asID(t, g.e.do("hosting.disk.create", map[string]any{"datacenter_id": fsd5, "size": 1024, "name": "growdisk"})["disk_id"])
		serial := "berth-" + strconv.FormatInt(disk, 10)
		g.e.do("hosting.vm.disk_attach", g.id, disk)
		var dev string
		pollUntil(t, guestTimeout, "attached disk shows up", func() string {
			dev = g.blockDevices()[serial]
			if dev == "" {
				return "not yet"
			}
			return ""
		})
		pid := g.pid()
		g.e.do("hosting.disk.update", disk, map[string]any{"size": 2048})
		pollUntil(t, guestTimeout, "the guest sees the new size", func() string {
			if got := blockBytes(g, dev); got != 2048<<20 {
				return fmt.Sprintf("/dev/%s is %d bytes, want %d", dev, got, 2048<<20)
			}
			return ""
		})
		if size := asMap(t, g.e.call("hosting.disk.info", disk))["size"]; size != int64(2048) {
			t.Errorf("disk.info size %v, want 2048", size)
		}
		if p := g.pid(); p != pid {
			t.Errorf("qemu pid %d after the resize, was %d", p, pid)
		}
		g.e.do("hosting.vm.disk_detach", g.id, disk)
		g.e.do("hosting.disk.delete", disk)
	})

	t.Run("cmdline-reboot", func(t *testing.T) {
		g := vm.in(t)
		boot := asMap(t, g.e.call("hosting.disk.info", g.sysDisk))
		line := cmdlineString(t, boot["kernel_cmdline"]) + " berth.test=42"
		g.e.do("hosting.disk.update", g.sysDisk, map[string]any{"cmdline": line})
		if out := g.value("CMDLINE", "echo CMDLINE=$(cat /proc/cmdline)"); strings.Contains(out, "berth.test=42") {
			t.Fatalf("berth.test=42 on the running kernel's command line before the reboot: %s", out)
		}
		offset := g.logSize()
		g.closeConsole()
		start := time.Now()
		g.e.do("hosting.vm.reboot", g.id)
		g.waitBooted(offset)
		t.Logf("rebooted in %s", time.Since(start).Round(time.Millisecond))
		got := g.value("CMDLINE", "echo CMDLINE=$(cat /proc/cmdline)")
		if !strings.Contains(" "+got+" ", " berth.test=42 ") {
			t.Errorf("/proc/cmdline after the reboot: %q, want berth.test=42 in it", got)
		}
		if !strings.Contains(got, "root=/dev/vda") {
			t.Errorf("/proc/cmdline after the reboot lost root=/dev/vda: %q", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		g := vm.in(t)
		g.refresh()
		diskFile := filepath.Join(e.b.Data, "disks", strconv.FormatInt(g.sysDisk, 10)+".qcow2")
		if _, err := os.Stat(diskFile); err != nil {
			t.Fatalf("boot disk file before the delete: %v", err)
		}
		tap := "bt" + strconv.FormatInt(g.iface, 10)
		if _, ok := g.e.linkOf(tap); !ok {
			t.Fatalf("no tap %s before the delete: %v", tap, g.e.linkNames())
		}
		pid := g.pid()
		g.stop()
		g.e.do("hosting.vm.delete", g.id)
		if processAlive(pid) {
			t.Errorf("qemu %d still runs after vm.delete", pid)
		}
		if pids := pgrepF(t, g.dir()); len(pids) > 0 {
			t.Errorf("processes of %s after vm.delete: %v", g.dir(), pids)
		}
		if _, err := os.Stat(diskFile); !os.IsNotExist(err) {
			t.Errorf("boot disk file %s after vm.delete: %v", diskFile, err)
		}
		for _, l := range g.e.links() {
			if l.name == tap || l.name == "bi"+strconv.FormatInt(g.iface, 10) {
				t.Errorf("%s still in %s after vm.delete", l.name, g.e.ns)
			}
		}
		if code := g.e.fault("hosting.vm.info", g.id); code != nfVM {
			t.Errorf("vm.info after delete: fault %d, want %d", code, nfVM)
		}
	})
}

// TestQEMURescue boots VM B on VM A's system disk as a data disk: A writes a file and is
// halted, its disk moves to B, B mounts it and reads the file, the disk goes back to A at
// position 0 and A boots from it with the file there.
func TestQEMURescue(t *testing.T) {
	begin := time.Now()
	e := newQEnv(t)
	vms := e.createVMs(map[string]any{"hostname": "rescuea"}, map[string]any{"hostname": "rescueb"})
	a, b := vms[0], vms[1]
	defer func() { t.Logf("TestQEMURescue took %s", time.Since(begin).Round(time.Millisecond)) }()

	if out := a.value("PROOF", "echo rescue-ok > /root/proof; sync; echo PROOF=$(cat /root/proof)"); out != "rescue-ok" {
		t.Fatalf("writing /root/proof on A: %q", out)
	}
	a.stop()
	sys := a.sysDisk
	e.do("hosting.vm.disk_detach", a.id, sys)
	if n := len(asList(t, a.info()["disks"])); n != 0 {
		t.Fatalf("A has %d disks after detaching its system disk", n)
	}
	e.do("hosting.vm.disk_attach", b.id, sys)
	serial := "berth-" + strconv.FormatInt(sys, 10)
	var dev string
	pollUntil(t, guestTimeout, "A's disk shows up in B", func() string {
		devs := b.blockDevices()
		dev = devs[serial]
		if dev == "" {
			return fmt.Sprintf("no %s among %v", serial, devs)
		}
		return ""
	})
	if dev == "vda" {
		t.Fatalf("A's disk is B's vda")
	}
	got := b.value("RESCUED", "mkdir -p /mnt/rescue && mount /dev/"+dev+" /mnt/rescue && echo RESCUED=$(cat /mnt/rescue/root/proof)")
	if got != "rescue-ok" {
		t.Errorf("B read %q from A's disk, want rescue-ok", got)
	}
	if out := b.value("UMOUNT", "umount /mnt/rescue; echo UMOUNT=$?"); out != "0" {
		t.Fatalf("umount in B: %s", out)
	}
	e.do("hosting.vm.disk_detach", b.id, sys)
	pollUntil(t, guestTimeout, "A's disk leaves B", func() string {
		if devs := b.blockDevices(); devs[serial] != "" {
			return fmt.Sprintf("%s still in B: %v", serial, devs)
		}
		return ""
	})

	e.do("hosting.vm.disk_attach", a.id, sys, map[string]any{"position": 0})
	disks := asList(t, a.info()["disks"])
	if len(disks) != 1 || asID(t, asMap(t, disks[0])["id"]) != sys || asMap(t, disks[0])["is_boot_disk"] != true {
		t.Fatalf("A's disks after attaching its system disk back: %v", disks)
	}
	offset := a.logSize()
	e.do("hosting.vm.start", a.id)
	a.waitBooted(offset)
	if got := a.value("PROOF", "echo PROOF=$(cat /root/proof)"); got != "rescue-ok" {
		t.Errorf("A's /root/proof after the rescue: %q", got)
	}
	if st := a.state(); st != "running" {
		t.Errorf("A is %v after vm.start", st)
	}
}

// TestQEMURestart kills berthd with SIGKILL while 3 VMs run and restarts it on the same
// data directory and namespaces: the VMs run on in the same QEMU processes, their guests
// answer, and the new berthd stops and updates them.
func TestQEMURestart(t *testing.T) {
	begin := time.Now()
	e := newQEnv(t)
	vms := e.createVMs(map[string]any{"hostname": "keep1"}, map[string]any{"hostname": "keep2"}, map[string]any{"hostname": "keep3"})
	defer func() { t.Logf("TestQEMURestart took %s", time.Since(begin).Round(time.Millisecond)) }()
	pids := map[int64]int{}
	for _, g := range vms {
		pids[g.id] = g.pid()
		if h := g.value("HOST", "echo HOST=$(hostname)"); h != g.hostname {
			t.Fatalf("vm %d: hostname %q before the kill", g.id, h)
		}
		g.closeConsole()
	}

	e.b.Kill()
	for _, g := range vms {
		if !processAlive(pids[g.id]) {
			t.Fatalf("vm %d: qemu %d died with berthd", g.id, pids[g.id])
		}
	}
	e.start()

	for _, g := range vms {
		if st := g.state(); st != "running" {
			t.Errorf("vm %d is %v after the restart", g.id, st)
		}
		if p := g.pid(); p != pids[g.id] {
			t.Errorf("vm %d: qemu pid %d after the restart, was %d", g.id, p, pids[g.id])
		}
		if h := g.value("HOST", "echo HOST=$(hostname)"); h != g.hostname {
			t.Errorf("vm %d: hostname %q after the restart", g.id, h)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Updated through the new berthd: memory of keep1, cores of keep2, live.
	g1, g2, g3 := vms[0], vms[1], vms[2]
	before := memTotalKB(g1)
	e.do("hosting.vm.update", g1.id, map[string]any{"memory": 512})
	g1.untilGuest(guestTimeout, "MemTotal grows by 250 MiB", "grep MemTotal /proc/meminfo", func(out string) string {
		if kb := parseMemTotal(out); kb < before+250*1024 {
			return fmt.Sprintf("MemTotal %d kB, was %d kB", kb, before)
		}
		return ""
	})
	e.do("hosting.vm.update", g2.id, map[string]any{"cores": 2})
	g2.untilGuest(guestTimeout, "nproc is 2", "echo NPROC=$(nproc)", func(out string) string {
		if !strings.Contains(out, "NPROC=2") {
			return out
		}
		return ""
	})
	for _, g := range []*guestVM{g1, g2} {
		if p := g.pid(); p != pids[g.id] {
			t.Errorf("vm %d: qemu pid %d after the update, was %d", g.id, p, pids[g.id])
		}
	}
	// Stopped through the new berthd: its QEMU goes away.
	g3.stop()
}

// memTotalKB reads the guest's MemTotal.
func memTotalKB(g *guestVM) int {
	g.e.t.Helper()
	kb := parseMemTotal(g.sh("grep MemTotal /proc/meminfo"))
	if kb == 0 {
		g.e.t.Fatalf("vm %d: no MemTotal", g.id)
	}
	return kb
}

// parseMemTotal finds "MemTotal: N kB" in out; 0 if absent.
func parseMemTotal(out string) int {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// blockBytes is the size of a guest block device in bytes (/sys/block/<dev>/size × 512).
func blockBytes(g *guestVM, dev string) int64 {
	g.e.t.Helper()
	n, err := strconv.ParseInt(g.value("SECTORS", "echo SECTORS=$(cat /sys/block/"+dev+"/size)"), 10, 64)
	if err != nil {
		g.e.t.Fatalf("vm %d: size of %s: %v", g.id, dev, err)
	}
	return n * 512
}

// cmdlineString turns a kernel_cmdline struct back into a command line (key=value and
// bare flags, sorted).
func cmdlineString(t *testing.T, v any) string {
	t.Helper()
	m := asMap(t, v)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch x := m[k].(type) {
		case bool:
			if x {
				parts = append(parts, k)
			}
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, x))
		}
	}
	return strings.Join(parts, " ")
}
