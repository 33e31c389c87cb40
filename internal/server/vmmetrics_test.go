package server

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/netdev"
)

// TestVMCollector checks the per-VM series served from an agent's last collection.
func TestVMCollector(t *testing.T) {
	snap := agent.StatsSnapshot{At: time.Unix(1796371200, 0), Errors: 2, VMs: []agent.VMCounters{{VMID: 7,
		VMStats: hypervisor.VMStats{CPU: 1500 * time.Millisecond, MemoryBytes: 256 << 20, RSSBytes: 100 << 20,
			Disks: []hypervisor.DiskStats{{ID: 3, ReadBytes: 4096, WriteBytes: 1024, Reads: 2, Writes: 1}}},
		Ifaces: []agent.IfaceCounters{{ID: 5, Type: "public", PortStats: netdev.PortStats{RxBytes: 1500, TxBytes: 500, RxPackets: 3, TxPackets: 1}}}}}}
	c := &vmCollector{host: "h1", stats: func() agent.StatsSnapshot { return snap }}
	want := `
# HELP berth_vm_cpu_seconds_total CPU time of the VM's QEMU process (guest and emulation).
# TYPE berth_vm_cpu_seconds_total counter
berth_vm_cpu_seconds_total{host="h1",vm_id="7"} 1.5
# HELP berth_vm_disk_read_bytes_total Bytes the guest read from the disk.
# TYPE berth_vm_disk_read_bytes_total counter
berth_vm_disk_read_bytes_total{disk_id="3",host="h1",vm_id="7"} 4096
# HELP berth_vm_memory_bytes Guest RAM: boot memory plus hot-plugged memory.
# TYPE berth_vm_memory_bytes gauge
berth_vm_memory_bytes{host="h1",vm_id="7"} 2.68435456e+08
# HELP berth_vm_network_receive_bytes_total Bytes the guest received on the iface (its tap transmitted).
# TYPE berth_vm_network_receive_bytes_total counter
berth_vm_network_receive_bytes_total{host="h1",iface_id="5",type="public",vm_id="7"} 1500
# HELP berth_vm_network_transmit_packets_total Packets the guest sent on the iface.
# TYPE berth_vm_network_transmit_packets_total counter
berth_vm_network_transmit_packets_total{host="h1",iface_id="5",type="public",vm_id="7"} 1
# HELP berth_vm_stats_errors_total VM counter reads that failed on the host.
# TYPE berth_vm_stats_errors_total counter
berth_vm_stats_errors_total{host="h1"} 2
# HELP berth_vm_stats_timestamp_seconds When the host last read its VMs' counters (0: not yet).
# TYPE berth_vm_stats_timestamp_seconds gauge
berth_vm_stats_timestamp_seconds{host="h1"} 1.7963712e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "berth_vm_cpu_seconds_total", "berth_vm_disk_read_bytes_total",
		"berth_vm_memory_bytes", "berth_vm_network_receive_bytes_total", "berth_vm_network_transmit_packets_total",
		"berth_vm_stats_errors_total", "berth_vm_stats_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c); n != 3+4+4+2 {
		t.Errorf("%d series for one vm with one disk and one iface, want 13", n)
	}
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %+v", err, probs)
	}
}
