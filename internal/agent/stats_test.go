package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/store"
)

// TestSampleOf checks the growth between two readings: a counter that went back restarted
// (a new QEMU, a new tap), and a disk or iface that appeared counts whole.
func TestSampleOf(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	prev := VMCounters{VMID: 7, At: t0, VMStats: hypervisor.VMStats{CPU: 10 * time.Second,
		Disks: []hypervisor.DiskStats{{ID: 1, ReadBytes: 1000, WriteBytes: 100, Reads: 10, Writes: 1}}},
		Ifaces: []IfaceCounters{{ID: 3, Type: "public", PortStats: netdev.PortStats{RxBytes: 500, TxBytes: 50, RxPackets: 5, TxPackets: 1}}}}
	cur := VMCounters{VMID: 7, At: t0.Add(time.Minute), VMStats: hypervisor.VMStats{CPU: 2 * time.Second, MemoryBytes: 256 << 20, RSSBytes: 1 << 20,
		Disks: []hypervisor.DiskStats{{ID: 1, ReadBytes: 3000, WriteBytes: 50, Reads: 12, Writes: 2}, {ID: 2, ReadBytes: 7, WriteBytes: 8, Reads: 1, Writes: 1}}},
		Ifaces: []IfaceCounters{{ID: 3, Type: "public", PortStats: netdev.PortStats{RxBytes: 800, TxBytes: 60, RxPackets: 8, TxPackets: 2}},
			{ID: 4, Type: "private", PortStats: netdev.PortStats{RxBytes: 9, TxBytes: 9, RxPackets: 1, TxPackets: 1}}}}
	want := store.VMSample{VMID: 7, Time: t0.Add(time.Minute), Interval: time.Minute, Host: "h1", CPU: 2 * time.Second,
		MemoryBytes: 256 << 20, RSSBytes: 1 << 20, DiskReadBytes: 2000 + 7, DiskWriteBytes: 50 + 8, DiskReads: 2 + 1, DiskWrites: 1 + 1,
		Public: &store.NetUsage{RxBytes: 300, TxBytes: 10, RxPackets: 3, TxPackets: 1}, Private: &store.NetUsage{RxBytes: 9, TxBytes: 9, RxPackets: 1, TxPackets: 1}}
	if d := cmp.Diff(want, sampleOf(prev, cur, "h1")); d != "" {
		t.Errorf("sampleOf (-want +got):\n%s", d)
	}
}
