package qemu

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
)

// TestHotplugGuestNotReady runs a VM whose guest never enables ACPI hotplug (no OS:
// the firmware finds nothing to boot). Every hotplug waits for it, gives up after
// readyTimeout with errGuestNotReady, and leaves QEMU as it was: nothing plugged,
// nothing unplugged, no block node or memory backend left. (Hotplug into booting
// guests that do get ready is covered end to end by test/e2e TestHotplugDuringBoot.)
func TestHotplugGuestNotReady(t *testing.T) {
	dir := runDir(t)
	// No guest answers the power button either.
	d := newDriver(t, dir, func(c *Config) { c.StopTimeout = time.Second })
	saved := readyTimeout
	readyTimeout = 3 * time.Second
	t.Cleanup(func() { readyTimeout = saved })

	const id = 31
	spec := hypervisor.Spec{
		ID: id, Name: "noos", MemoryMB: 128, MaxMemMB: 512, Cores: 1, MaxCores: 2,
		Disks: []hypervisor.Disk{{ID: 1, Path: overlay(t, filepath.Join(dir, "blank.qcow2"), "", "16M")}},
	}
	if err := d.Start(ctxFor(t, time.Minute), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := client(t, d, id)
	if ok, err := guestReady(ctxFor(t, 5*time.Second), c, gpePCI); err != nil || ok {
		t.Fatalf("guestReady with no guest os = %v, %v; want false", ok, err)
	}
	pci := func() []string {
		devs, err := c.PCIDevices(ctxFor(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range devs {
			if p.QdevID != "" {
				ids = append(ids, p.QdevID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	nodes := func() []string {
		ns, err := c.BlockNodes(ctxFor(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range ns {
			if n.Driver == "qcow2" {
				names = append(names, n.NodeName)
			}
		}
		slices.Sort(names)
		return names
	}
	wantPCI, wantNodes := pci(), nodes()
	if !slices.Contains(wantPCI, "vd1") || !slices.Equal(wantNodes, []string{"d1"}) {
		t.Fatalf("at start: pci %v, nodes %v; want vd1 and d1", wantPCI, wantNodes)
	}

	notReady := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, errGuestNotReady) {
			t.Errorf("%s: %v, want errGuestNotReady", what, err)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	start := time.Now()
	notReady("AttachDisk", d.AttachDisk(ctxFor(t, time.Minute), id, hypervisor.Disk{ID: 2, Path: overlay(t, filepath.Join(dir, "d2.qcow2"), "", "16M")}))
	if waited := time.Since(start); waited < readyTimeout {
		t.Errorf("AttachDisk gave up after %s, before readyTimeout %s", waited, readyTimeout)
	}
	notReady("DetachDisk", d.DetachDisk(ctxFor(t, time.Minute), id, 1))
	notReady("AttachNIC", d.AttachNIC(ctxFor(t, time.Minute), id, hypervisor.NIC{ID: 2, MAC: "52:54:00:00:03:02"}))
	notReady("SetMemory", d.SetMemory(ctxFor(t, time.Minute), id, 256))
	notReady("SetCores", d.SetCores(ctxFor(t, time.Minute), id, 2))
	if got := pci(); !slices.Equal(got, wantPCI) {
		t.Errorf("pci devices after the failed hotplugs: %v, want %v", got, wantPCI)
	}
	if got := nodes(); !slices.Equal(got, wantNodes) {
		t.Errorf("block nodes after the failed hotplugs: %v, want %v", got, wantNodes)
	}
	if mem, err := c.MemoryDevices(ctxFor(t, 5*time.Second)); err != nil || len(mem) != 0 {
		t.Errorf("memory devices after the failed hotplugs: %v, %v; want none", mem, err)
	}
	if n, err := c.CPUCount(ctxFor(t, 5*time.Second)); err != nil || n != 1 {
		t.Errorf("cpus after the failed hotplugs: %d, %v; want 1", n, err)
	}
	if err := d.Stop(ctxFor(t, time.Minute), id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// A stopped VM is not waited for.
	if err := d.DetachDisk(ctxFor(t, 10*time.Second), id, 1); !errors.Is(err, hypervisor.ErrNotRunning) {
		t.Errorf("DetachDisk on a stopped vm: %v, want ErrNotRunning", err)
	}
}
