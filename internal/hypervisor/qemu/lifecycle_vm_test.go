package qemu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/netdev/linux"
	"github.com/berth-io/berth/internal/seed"
)

var memTotalRE = regexp.MustCompile(`MemTotal:\s+(\d+) kB`)

// memTotal returns the guest's MemTotal in kB.
func memTotal(t *testing.T, con *console) int64 {
	t.Helper()
	out := con.run(t, "grep MemTotal /proc/meminfo")
	m := memTotalRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no MemTotal in %q", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// guestDisk is a virtio disk as the guest sees it.
type guestDisk struct{ name, serial, sectors string }

// guestDisks lists the guest's virtio disks.
func guestDisks(t *testing.T, con *console) []guestDisk {
	t.Helper()
	out := con.run(t, `for b in /sys/block/vd*; do echo ${b##*/} $(cat $b/serial) $(cat $b/size); done`)
	var disks []guestDisk
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && strings.HasPrefix(f[0], "vd") {
			disks = append(disks, guestDisk{f[0], f[1], f[2]})
		}
	}
	return disks
}

// blockDevs lists the guest's virtio disks as "vdX serial".
func blockDevs(t *testing.T, con *console) []string {
	t.Helper()
	var devs []string
	for _, d := range guestDisks(t, con) {
		devs = append(devs, d.name+" "+d.serial)
	}
	return devs
}

// TestVMLifecycle boots the tiny image once and runs every live change on it: memory,
// vCPUs, disk, NIC, re-adoption by a second driver, ACPI stop, destroy.
func TestVMLifecycle(t *testing.T) {
	g := tinyGuest(t)
	dir := runDir(t)
	ns := netns(t)
	addTap(t, ns, "bt1")
	addTap(t, ns, "bt2")
	ip(t, "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "bt1")
	ip(t, "-n", ns, "addr", "add", "198.51.100.1/24", "dev", "bt2")
	openTap := func(namespace, name string) (*os.File, error) {
		if namespace != ns {
			return nil, fmt.Errorf("tap %s asked in netns %q, want %q", name, namespace, ns)
		}
		return openTapIn(namespace, name)
	}
	withTaps := func(c *Config) { c.OpenTap = openTap }
	d := newDriver(t, dir, withTaps)

	const (
		id   = 11
		mac1 = "52:54:00:00:01:01"
		mac2 = "52:54:00:00:01:02"
	)
	// The seed names the guest and gives both NICs (the hotplugged one too) their
	// addresses; the tiny guest finds it by its ISO label.
	seedPath, err := seed.New(filepath.Join(dir, "seeds")).Seed(ctxFor(t, 10*time.Second), id, "iid-life-1",
		seed.FirstBoot{Hostname: "life-vm"}, []seed.NIC{
			{MAC: mac1, Addrs: []seed.Addr{{CIDR: "192.0.2.11/24"}}},
			{MAC: mac2, Addrs: []seed.Addr{{CIDR: "198.51.100.12/24"}}},
		})
	if err != nil {
		t.Fatal(err)
	}
	spec := hypervisor.Spec{
		ID: id, Name: "life", MemoryMB: 256, MaxMemMB: 1024, Cores: 1, MaxCores: 3,
		Disks:     []hypervisor.Disk{{ID: 1, Path: overlay(t, filepath.Join(dir, "root.qcow2"), g.Disk, "")}},
		NICs:      []hypervisor.NIC{{ID: 1, MAC: mac1, Tap: "bt1"}},
		Boot:      hypervisor.Boot{Kernel: g.Kernel, Initrd: g.Initrd, Cmdline: g.Cmdline},
		SeedPath:  seedPath,
		Namespace: ns,
	}
	if err := d.Start(ctxFor(t, time.Minute), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	booted := waitLog(t, d.ConsoleLog(id), 0, "BERTH-BOOTED", time.Minute)
	t.Logf("guest: %s", booted)
	if !strings.Contains(booted, "host=life-vm") || !strings.Contains(booted, "cpus=1") {
		t.Errorf("boot marker %q, want host=life-vm (from the seed) and cpus=1", booted)
	}
	if st, err := d.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Running {
		t.Fatalf("State = %q, %v; want running", st, err)
	}
	pid := pidOf(t, d, id)
	if err := d.Start(ctxFor(t, 10*time.Second), spec); err != nil {
		t.Fatalf("Start of a running vm: %v", err)
	}
	if got := pidOf(t, d, id); got != pid {
		t.Errorf("Start of a running vm replaced qemu: pid %d → %d", pid, got)
	}
	if ids, err := d.List(ctxFor(t, time.Second)); err != nil || !cmp.Equal(ids, []int64{id}) {
		t.Errorf("List = %v, %v; want [%d]", ids, err, id)
	}
	if got := d.Reserved(); got != 256 {
		t.Errorf("Reserved = %d MiB, want 256", got)
	}
	con := openConsole(t, d.ConsolePath(id))
	// Boot disk first, the seed last.
	if got := blockDevs(t, con); !cmp.Equal(got, []string{"vda berth-1", "vdb berth-seed"}) {
		t.Errorf("guest disks at boot: %q, want vda berth-1, vdb berth-seed", got)
	}

	t.Run("memory", func(t *testing.T) {
		before := memTotal(t, con)
		if err := d.SetMemory(ctxFor(t, 30*time.Second), id, 768); err != nil {
			t.Fatalf("SetMemory 768: %v", err)
		}
		poll(t, 20*time.Second, "guest memory grows by 512 MiB", func() string {
			if got := memTotal(t, con); got < before+512*1024-4096 {
				return fmt.Sprintf("MemTotal %d kB (was %d kB)", got, before)
			}
			return ""
		})
		if got := d.Reserved(); got != 768 {
			t.Errorf("Reserved = %d MiB, want 768", got)
		}
		if err := d.SetMemory(ctxFor(t, 10*time.Second), id, 768); err != nil {
			t.Errorf("SetMemory to the current size: %v", err)
		}
		for _, bad := range []int64{2048, 512, 128, 257} {
			if err := d.SetMemory(ctxFor(t, 10*time.Second), id, bad); err == nil {
				t.Errorf("SetMemory %d MiB succeeded, want an error", bad)
			}
		}
		if err := d.SetMemory(ctxFor(t, 60*time.Second), id, 256); err != nil {
			t.Fatalf("SetMemory back to 256: %v", err)
		}
		if got := memTotal(t, con); got != before {
			t.Errorf("MemTotal after unplug = %d kB, want %d kB", got, before)
		}
		devs, err := client(t, d, id).MemoryDevices(ctxFor(t, 5*time.Second))
		if err != nil || len(devs) != 0 {
			t.Errorf("memory devices after unplug: %+v, %v", devs, err)
		}
	})

	t.Run("cores", func(t *testing.T) {
		if err := d.SetCores(ctxFor(t, 30*time.Second), id, 2); err != nil {
			t.Fatalf("SetCores 2: %v", err)
		}
		if n, err := client(t, d, id).CPUCount(ctxFor(t, 5*time.Second)); err != nil || n != 2 {
			t.Errorf("query-cpus-fast: %d cpus, %v; want 2", n, err)
		}
		con.until(t, 20*time.Second, "nproc", func(out string) string {
			if out != "2" {
				return "nproc " + out
			}
			return ""
		})
		if err := d.SetCores(ctxFor(t, 10*time.Second), id, 4); err == nil {
			t.Errorf("SetCores over MaxCores succeeded")
		}
		// Removing a vCPU under TCG would crash QEMU 7.2: refused, the VM keeps running.
		if err := d.SetCores(ctxFor(t, 10*time.Second), id, 1); !errors.Is(err, ErrCPUUnplugTCG) {
			t.Errorf("SetCores 1 under tcg: %v, want ErrCPUUnplugTCG", err)
		}
		if n, err := client(t, d, id).CPUCount(ctxFor(t, 5*time.Second)); err != nil || n != 2 {
			t.Errorf("query-cpus-fast after a refused unplug: %d cpus, %v; want 2", n, err)
		}
	})

	t.Run("disk", func(t *testing.T) {
		data := overlay(t, filepath.Join(dir, "data.qcow2"), "", "64M")
		disk := hypervisor.Disk{ID: 7, Path: data}
		for range 2 { // the second attach finds the disk there
			if err := d.AttachDisk(ctxFor(t, 10*time.Second), id, disk); err != nil {
				t.Fatalf("AttachDisk: %v", err)
			}
		}
		diskSize := func(want string) func() string {
			return func() string {
				for _, disk := range guestDisks(t, con) {
					if disk.serial == "berth-7" {
						if disk.sectors != want {
							return disk.name + " has " + disk.sectors + " sectors"
						}
						return ""
					}
				}
				return "no disk with serial berth-7"
			}
		}
		poll(t, 20*time.Second, "guest sees the disk", diskSize("131072"))
		if err := d.ResizeDisk(ctxFor(t, 10*time.Second), id, 7, 128); err != nil {
			t.Fatalf("ResizeDisk: %v", err)
		}
		poll(t, 20*time.Second, "guest sees the new size", diskSize("262144"))
		if info := qemuImg(t, "info", "-U", data); !strings.Contains(info, "virtual size: 128 MiB") {
			t.Errorf("qcow2 not grown:\n%s", info)
		}
		if err := d.ResizeDisk(ctxFor(t, 10*time.Second), id, 7, 64); err == nil {
			t.Errorf("shrinking a disk succeeded")
		}
		for range 2 {
			if err := d.DetachDisk(ctxFor(t, 40*time.Second), id, 7); err != nil {
				t.Fatalf("DetachDisk: %v", err)
			}
		}
		if got := blockDevs(t, con); !cmp.Equal(got, []string{"vda berth-1", "vdb berth-seed"}) {
			t.Errorf("guest disks after detach: %q", got)
		}
		if _, ok, err := blockNode(ctxFor(t, 5*time.Second), client(t, d, id), "d7"); err != nil || ok {
			t.Errorf("block node d7 after detach: present=%v, %v", ok, err)
		}
		if err := d.ResizeDisk(ctxFor(t, 10*time.Second), id, 7, 256); err == nil {
			t.Errorf("resizing a detached disk succeeded")
		}
	})

	t.Run("nic", func(t *testing.T) {
		// The NIC given at start works: the guest answers on its link-local address.
		poll(t, 30*time.Second, "ping the start-time nic", func() string { return ping(ns, "192.0.2.11") })
		nic := hypervisor.NIC{ID: 2, MAC: mac2, Tap: "bt2"}
		for range 2 {
			if err := d.AttachNIC(ctxFor(t, 10*time.Second), id, nic); err != nil {
				t.Fatalf("AttachNIC: %v", err)
			}
		}
		if c := tapCarrier(ns, "bt2"); c != "1" {
			t.Errorf("tap bt2 carrier %q after attach, want 1", c)
		}
		con.until(t, 20*time.Second, "cat /sys/class/net/*/address", func(out string) string {
			if !strings.Contains(out, mac2) {
				return out
			}
			return ""
		})
		poll(t, 30*time.Second, "ping the hotplugged nic", func() string { return ping(ns, "198.51.100.12") })
		for range 2 {
			if err := d.DetachNIC(ctxFor(t, 40*time.Second), id, 2); err != nil {
				t.Fatalf("DetachNIC: %v", err)
			}
		}
		if out := con.run(t, "cat /sys/class/net/*/address"); strings.Contains(out, mac2) {
			t.Errorf("guest still has %s after detach: %q", mac2, out)
		}
		poll(t, 5*time.Second, "qemu releases the tap", func() string {
			if c := tapCarrier(ns, "bt2"); c != "0" {
				return "carrier " + c
			}
			return ""
		})
		if err := d.AttachNIC(ctxFor(t, 10*time.Second), id, hypervisor.NIC{ID: 3, MAC: "52:54:00:00:01:03"}); err != nil {
			t.Errorf("AttachNIC without a tap: %v", err)
		}
	})

	t.Run("stats", func(t *testing.T) {
		// The boot read the root disk and the pings went through bt1; data disk 7 and the
		// seed are not Berth disks of the VM now.
		st, err := d.Stats(ctxFor(t, 10*time.Second), id)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if st.CPU <= 0 || st.RSSBytes < 16<<20 || st.MemoryBytes != 256<<20 {
			t.Errorf("Stats: cpu %s, rss %d, memory %d; want cpu > 0, rss >= 16 MiB, memory 256 MiB", st.CPU, st.RSSBytes, st.MemoryBytes)
		}
		if len(st.Disks) != 1 || st.Disks[0].ID != 1 || st.Disks[0].ReadBytes == 0 || st.Disks[0].Reads == 0 {
			t.Errorf("Stats disks: %+v, want disk 1 with reads", st.Disks)
		}
		ports, err := linux.New().PortStats(ctxFor(t, 5*time.Second), []netdev.Port{{IfaceID: 1, Namespace: ns, Tap: "bt1"}, {IfaceID: 9, Namespace: ns, Tap: "bt9"}})
		if p, ok := ports[1]; err != nil || len(ports) != 1 || !ok || p.RxBytes == 0 || p.TxBytes == 0 || p.RxPackets == 0 {
			t.Errorf("PortStats of bt1 (and a missing bt9): %+v, %v; want bt1 with traffic both ways", ports, err)
		}
	})

	// A restarted berthd: a new driver on the same run directory adopts the VM.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := newDriver(t, dir, withTaps)
	if st, err := d2.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Running {
		t.Fatalf("adopted State = %q, %v; want running", st, err)
	}
	if err := d2.SetCores(ctxFor(t, 30*time.Second), id, 3); err != nil {
		t.Fatalf("SetCores on the adopted vm: %v", err)
	}
	if n, err := client(t, d2, id).CPUCount(ctxFor(t, 5*time.Second)); err != nil || n != 3 {
		t.Errorf("query-cpus-fast on the adopted vm: %d, %v; want 3", n, err)
	}
	if got := d2.Reserved(); got != 256 {
		t.Errorf("Reserved after adoption = %d MiB, want 256", got)
	}

	// Stop through ACPI: the tiny guest shuts down cleanly, well before the timeout.
	start := time.Now()
	if err := d2.Stop(ctxFor(t, time.Minute), id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("ACPI stop took %s", took)
	}
	waitLog(t, d2.ConsoleLog(id), 0, "berth: stopped", time.Second)
	if pids := pgrep(t, dir); len(pids) != 0 {
		t.Errorf("qemu still running after Stop: %v", pids)
	}
	if st, err := d2.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Halted {
		t.Errorf("State after Stop = %q, %v; want halted", st, err)
	}
	if err := d2.Stop(ctxFor(t, 5*time.Second), id); err != nil {
		t.Errorf("Stop of a halted vm: %v", err)
	}
	if _, err := d2.Stats(ctxFor(t, 5*time.Second), id); !errors.Is(err, hypervisor.ErrNotRunning) {
		t.Errorf("Stats of a halted vm: %v, want ErrNotRunning", err)
	}
	if err := d2.SetMemory(ctxFor(t, 5*time.Second), id, 512); !errors.Is(err, hypervisor.ErrNotRunning) {
		t.Errorf("SetMemory on a halted vm: %v, want ErrNotRunning", err)
	}
	if err := d2.Destroy(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if st, err := d2.State(ctxFor(t, 5*time.Second), id); err != nil || st != hypervisor.Missing {
		t.Errorf("State after Destroy = %q, %v; want missing", st, err)
	}
}
