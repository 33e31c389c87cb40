package qemu

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

func TestParseProcStat(t *testing.T) {
	stat := []byte("4242 (qemu-system-x86 (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 123 1000000 5000 18446744073709551615")
	cpu, rss, err := parseProcStat(stat, []byte("250000 5000 1200 1 0 30000 0\n"), 4096)
	if err != nil || cpu != 3250*time.Millisecond || rss != 5000*4096 {
		t.Errorf("parseProcStat = %s, %d, %v; want 3.25s, %d", cpu, rss, err, 5000*4096)
	}
	for _, bad := range []string{"4242 qemu S 1", "4242 (qemu) S 1 2 3", "4242 (qemu) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 75 0"} {
		if _, _, err := parseProcStat([]byte(bad), []byte("1 2"), 4096); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
}

func TestDiskStats(t *testing.T) {
	b := func(qdev, node string, rd uint64) qmp.BlockStat {
		s := qmp.BlockStat{QDev: qdev, NodeName: node}
		s.Stats.ReadBytes, s.Stats.Reads = rd, 1
		return s
	}
	got := diskStats([]qmp.BlockStat{
		b("/machine/peripheral/vd1/virtio-backend", "d1", 100),
		b("/machine/peripheral/seed/virtio-backend", "seed", 5),   // the seed: no Berth disk
		b("/machine/peripheral/vd12/virtio-backend", "migd12", 7), // the device names the disk
		b("", "d3", 9),   // no device: the node does
		b("", "d03", 1),  // not a canonical id
		b("", "vd4x", 1), // neither
	})
	want := []hypervisor.DiskStats{{ID: 1, ReadBytes: 100, Reads: 1}, {ID: 12, ReadBytes: 7, Reads: 1}, {ID: 3, ReadBytes: 9, Reads: 1}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diskStats (-want +got):\n%s", d)
	}
}
