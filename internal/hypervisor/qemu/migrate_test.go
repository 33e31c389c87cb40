package qemu

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/hypervisor"
)

// TestIncomingArgs checks the command line of a migration target: the layout's machine,
// memory, vCPUs and PCI slots win over the spec's, and the hotplugged DIMMs and vCPUs are
// cold-plugged where they were.
func TestIncomingArgs(t *testing.T) {
	spec := hypervisor.Spec{
		ID: 42, MemoryMB: 640, MaxMemMB: 1024, Cores: 2, MaxCores: 4,
		Disks:    []hypervisor.Disk{{ID: 1, Path: "/d/1.qcow2"}, {ID: 7, Path: "/d/7.qcow2"}},
		NICs:     []hypervisor.NIC{{ID: 3, MAC: "52:54:00:00:00:03", Tap: "t3"}},
		Boot:     hypervisor.Boot{Kernel: "/k"},
		SeedPath: "/s.iso",
	}
	lay := hypervisor.Layout{
		Machine: "pc-i440fx-7.2", CPUModel: "qemu64", BaseMemoryMB: 512, MaxMemMB: 1024, MemorySlots: 8,
		BootCores: 1, MaxCores: 4,
		PCISlots: map[string]int{"rng": 2, "vd1": 3, "seed": 4, "nic3": 5, "vd7": 6},
		DIMMs:    []hypervisor.DIMM{{ID: "dimm0", Backend: "dimm0-mem", SizeMB: 128, Slot: 0, Addr: 1 << 32}},
		CPUs:     []hypervisor.HotCPU{{ID: "vcpu0", Type: "qemu64-x86_64-cpu", Props: map[string]int64{"socket-id": 0, "core-id": 1, "thread-id": 0}}},
	}
	if err := checkLayout(spec, lay); err != nil {
		t.Fatalf("checkLayout: %v", err)
	}
	args := incomingArgs(spec, "/r/42", AccelTCG, lay, map[int64]int{3: 3})
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-machine pc-i440fx-7.2 ", "-cpu qemu64 ", "-m 512M,slots=8,maxmem=1024M ", "-smp 1,maxcpus=4 ",
		"virtio-rng-pci,rng=rng0,addr=0x2 ",
		"virtio-blk-pci,drive=d1,id=vd1,serial=berth-1,addr=0x3 ",
		"virtio-blk-pci,drive=d7,id=vd7,serial=berth-7,addr=0x6 ",
		"virtio-blk-pci,drive=seed,id=seed,serial=berth-seed,addr=0x4 ",
		"virtio-net-pci,netdev=n3,id=nic3,mac=52:54:00:00:00:03,addr=0x5 ",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	tailWant := []string{
		"-object", "memory-backend-ram,id=dimm0-mem,size=128M",
		"-device", "pc-dimm,id=dimm0,memdev=dimm0-mem,slot=0,addr=4294967296",
		"-device", "qemu64-x86_64-cpu,id=vcpu0,core-id=1,socket-id=0,thread-id=0",
		"-S", "-incoming", "defer",
	}
	if diff := cmp.Diff(tailWant, args[len(args)-len(tailWant):]); diff != "" {
		t.Errorf("end of the command line (-want +got):\n%s", diff)
	}

	// A spec whose devices differ from the source's is refused.
	for name, change := range map[string]func(*hypervisor.Spec, *hypervisor.Layout){
		"disk missing on the target": func(s *hypervisor.Spec, _ *hypervisor.Layout) { s.Disks = s.Disks[:1] },
		"nic not on the source":      func(_ *hypervisor.Spec, l *hypervisor.Layout) { delete(l.PCISlots, "nic3") },
		"no seed on the target":      func(s *hypervisor.Spec, _ *hypervisor.Layout) { s.SeedPath = "" },
		"no machine":                 func(_ *hypervisor.Spec, l *hypervisor.Layout) { l.Machine = "" },
	} {
		s, l := spec, lay
		l.PCISlots = map[string]int{}
		for k, v := range lay.PCISlots {
			l.PCISlots[k] = v
		}
		change(&s, &l)
		if err := checkLayout(s, l); err == nil {
			t.Errorf("%s: checkLayout accepted it", name)
		}
	}
}
