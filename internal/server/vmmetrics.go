package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-io/berth/internal/agent"
)

// Per-VM series, served by the process of the host that runs the VMs, from the agent's
// last collection (every stats_every): a scrape costs no QMP round trip. Cardinality per
// host: 3 series per VM, 4 per disk attached and 4 per iface with a tap; a VM with two
// disks and one iface makes 15. Labels are ids only (berth_vm_* never carries hostnames
// or accounts).
var (
	vmLabels       = []string{"host", "vm_id"}
	vmCPUDesc      = prometheus.NewDesc("berth_vm_cpu_seconds_total", "CPU time of the VM's QEMU process (guest and emulation).", vmLabels, nil)
	vmMemDesc      = prometheus.NewDesc("berth_vm_memory_bytes", "Guest RAM: boot memory plus hot-plugged memory.", vmLabels, nil)
	vmRSSDesc      = prometheus.NewDesc("berth_vm_memory_rss_bytes", "Resident memory of the VM's QEMU process on the host.", vmLabels, nil)
	diskLabels     = []string{"host", "vm_id", "disk_id"}
	vmDiskRdDesc   = prometheus.NewDesc("berth_vm_disk_read_bytes_total", "Bytes the guest read from the disk.", diskLabels, nil)
	vmDiskWrDesc   = prometheus.NewDesc("berth_vm_disk_written_bytes_total", "Bytes the guest wrote to the disk.", diskLabels, nil)
	vmDiskRdOps    = prometheus.NewDesc("berth_vm_disk_reads_completed_total", "Read operations the guest completed on the disk.", diskLabels, nil)
	vmDiskWrOps    = prometheus.NewDesc("berth_vm_disk_writes_completed_total", "Write operations the guest completed on the disk.", diskLabels, nil)
	ifaceLabels    = []string{"host", "vm_id", "iface_id", "type"}
	vmNetRxDesc    = prometheus.NewDesc("berth_vm_network_receive_bytes_total", "Bytes the guest received on the iface (its tap transmitted).", ifaceLabels, nil)
	vmNetTxDesc    = prometheus.NewDesc("berth_vm_network_transmit_bytes_total", "Bytes the guest sent on the iface.", ifaceLabels, nil)
	vmNetRxPkts    = prometheus.NewDesc("berth_vm_network_receive_packets_total", "Packets the guest received on the iface.", ifaceLabels, nil)
	vmNetTxPkts    = prometheus.NewDesc("berth_vm_network_transmit_packets_total", "Packets the guest sent on the iface.", ifaceLabels, nil)
	vmStatsAtDesc  = prometheus.NewDesc("berth_vm_stats_timestamp_seconds", "When the host last read its VMs' counters (0: not yet).", []string{"host"}, nil)
	vmStatsErrDesc = prometheus.NewDesc("berth_vm_stats_errors_total", "VM counter reads that failed on the host.", []string{"host"}, nil)
)

// vmCollector serves an agent's last collection of VM counters.
type vmCollector struct {
	host  string
	stats func() agent.StatsSnapshot
}

func (c *vmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vmCPUDesc, vmMemDesc, vmRSSDesc, vmDiskRdDesc, vmDiskWrDesc, vmDiskRdOps, vmDiskWrOps,
		vmNetRxDesc, vmNetTxDesc, vmNetRxPkts, vmNetTxPkts, vmStatsAtDesc, vmStatsErrDesc} {
		ch <- d
	}
}

func (c *vmCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	at := 0.0
	if !s.At.IsZero() {
		at = float64(s.At.Unix())
	}
	ch <- prometheus.MustNewConstMetric(vmStatsAtDesc, prometheus.GaugeValue, at, c.host)
	ch <- prometheus.MustNewConstMetric(vmStatsErrDesc, prometheus.CounterValue, float64(s.Errors), c.host)
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, v := range s.VMs {
		vm := strconv.FormatInt(v.VMID, 10)
		counter(vmCPUDesc, v.CPU.Seconds(), c.host, vm)
		ch <- prometheus.MustNewConstMetric(vmMemDesc, prometheus.GaugeValue, float64(v.MemoryBytes), c.host, vm)
		ch <- prometheus.MustNewConstMetric(vmRSSDesc, prometheus.GaugeValue, float64(v.RSSBytes), c.host, vm)
		for _, d := range v.Disks {
			id := strconv.FormatInt(d.ID, 10)
			counter(vmDiskRdDesc, float64(d.ReadBytes), c.host, vm, id)
			counter(vmDiskWrDesc, float64(d.WriteBytes), c.host, vm, id)
			counter(vmDiskRdOps, float64(d.Reads), c.host, vm, id)
			counter(vmDiskWrOps, float64(d.Writes), c.host, vm, id)
		}
		for _, f := range v.Ifaces {
			id := strconv.FormatInt(f.ID, 10)
			counter(vmNetRxDesc, float64(f.RxBytes), c.host, vm, id, f.Type)
			counter(vmNetTxDesc, float64(f.TxBytes), c.host, vm, id, f.Type)
			counter(vmNetRxPkts, float64(f.RxPackets), c.host, vm, id, f.Type)
			counter(vmNetTxPkts, float64(f.TxPackets), c.host, vm, id, f.Type)
		}
	}
}

// vmMetrics is the collector of this daemon's VMs, nil when it runs none (API role).
func (d *Daemon) vmMetrics() prometheus.Collector {
	if d.agent == nil {
		return nil
	}
	return &vmCollector{host: d.opt.Host, stats: d.agent.LatestStats}
}

// startAgentMetrics serves an agent's /metrics on metrics_listen: its VMs' counters and
// the process's own, without authentication (like node_exporter; bind it to a private
// address).
func (d *Daemon) startAgentMetrics(ctx context.Context) error {
	if d.cfg.MetricsListen == "" || d.agent == nil {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.vmMetrics(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ln, err := net.Listen("tcp", d.cfg.MetricsListen)
	if err != nil {
		return err
	}
	d.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := d.metricsHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
			d.log.Error("metrics listener", "err", err)
		}
	}()
	d.log.Info("agent metrics", "addr", ln.Addr().String())
	return nil
}
