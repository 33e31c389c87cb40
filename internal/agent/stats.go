package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/store"
)

// Defaults of the sampling settings left zero.
const (
	DefaultStatsStoreEvery = time.Minute
	DefaultStatsRetention  = 48 * time.Hour
)

// statsParallel is how many VMs are read at once; statsTimeout bounds one VM's read.
const (
	statsParallel = 4
	statsTimeout  = 5 * time.Second
)

// VMCounters are one running VM's counters at one instant, as the host read them.
type VMCounters struct {
	VMID int64
	At   time.Time
	hypervisor.VMStats
	Ifaces []IfaceCounters // ifaces whose tap the network driver found, id order
}

// IfaceCounters are one iface's tap counters, seen from the guest.
type IfaceCounters struct {
	ID   int64
	Type string // public or private
	netdev.PortStats
}

// StatsSnapshot is the last collection of this host's VM counters: what /metrics serves,
// so a scrape costs no QMP round trip.
type StatsSnapshot struct {
	At     time.Time    // when the collection ended; zero before the first
	VMs    []VMCounters // id order
	Errors uint64       // VMs whose counters could not be read, since the start
}

// statsState is the agent's cache of counters and the baseline of the next sample.
type statsState struct {
	mu        sync.Mutex
	latest    StatsSnapshot
	base      map[int64]VMCounters // counters at the last sample written, by VM
	lastStore time.Time
}

// LatestStats returns the last collection (a copy safe to keep).
func (a *Agent) LatestStats() StatsSnapshot {
	a.stats.mu.Lock()
	defer a.stats.mu.Unlock()
	s := a.stats.latest
	s.VMs = slices.Clone(s.VMs)
	return s
}

// CollectStats reads the counters of every VM this host runs, keeps them for LatestStats
// and, once per store interval, writes each VM's growth since the last write to the
// store's sample log (and prunes the samples past the retention). The first write after a
// VM came to this host (or the agent started) only sets its baseline. Drivers without
// counters make it a no-op.
func (a *Agent) CollectStats(ctx context.Context) error {
	hv, ok := a.hv.(hypervisor.Statser)
	if !ok {
		return nil
	}
	vms, ifaces, err := a.runningHere(ctx)
	if err != nil {
		return fmt.Errorf("vm stats: %w", err)
	}
	got := make([]VMCounters, len(vms))
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, statsParallel)
	for i, id := range vms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			vctx, cancel := context.WithTimeout(ctx, statsTimeout)
			defer cancel()
			st, err := hv.Stats(vctx, id)
			got[i], errs[i] = VMCounters{VMID: id, VMStats: st}, err
		}()
	}
	wg.Wait()
	ports := a.portStats(ctx, ifaces)
	now := a.now().Truncate(time.Second)
	var out []VMCounters
	var failed []error
	for i, c := range got {
		if errs[i] != nil {
			if !errors.Is(errs[i], hypervisor.ErrNotRunning) {
				failed = append(failed, errs[i])
			}
			continue
		}
		c.At = now
		for _, f := range ifaces[c.VMID] {
			if p, ok := ports[f.ID]; ok {
				c.Ifaces = append(c.Ifaces, IfaceCounters{ID: f.ID, Type: f.Type, PortStats: p})
			}
		}
		out = append(out, c)
	}
	samples := a.keepStats(out, uint64(len(failed)), now)
	if samples != nil {
		if err := a.storeSamples(ctx, samples, now); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// runningHere returns the running VMs of this host (id order) and their ifaces.
func (a *Agent) runningHere(ctx context.Context) ([]int64, map[int64][]*store.Iface, error) {
	var ids []int64
	ifaces := map[int64][]*store.Iface{}
	err := a.st.Read(ctx, func(tx store.Tx) error {
		vms, err := tx.VMs(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
			{Field: "state", Values: []any{api.VMRunning}}, {Field: "host", Values: []any{a.host}}}})
		if err != nil || len(vms) == 0 {
			return err
		}
		in := make([]any, len(vms))
		for i, v := range vms {
			ids = append(ids, v.ID)
			in[i] = v.ID
		}
		fs, err := tx.Ifaces(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{{Field: "vm_id", Op: api.OpIn, Values: in}}})
		for _, f := range fs {
			ifaces[f.VMID] = append(ifaces[f.VMID], f)
		}
		return err
	})
	slices.Sort(ids)
	return ids, ifaces, err
}

// portStats reads the tap counters of the ifaces, when the network driver has them.
func (a *Agent) portStats(ctx context.Context, ifaces map[int64][]*store.Iface) map[int64]netdev.PortStats {
	nc, ok := a.net.(netdev.Counter)
	if !ok {
		return nil
	}
	var ports []netdev.Port
	for _, fs := range ifaces {
		for _, f := range fs {
			if p, ok := a.nets.Port(f); ok {
				ports = append(ports, p)
			}
		}
	}
	if len(ports) == 0 {
		return nil
	}
	got, err := nc.PortStats(ctx, ports)
	if err != nil {
		a.log.Warn("vm stats: tap counters", "err", err) // the VMs' other counters still count
	}
	return got
}

// keepStats caches a collection and, when a sample is due, returns each VM's growth since
// the baseline (non-nil, maybe empty) and makes the collection the new baseline.
func (a *Agent) keepStats(vms []VMCounters, failed uint64, now time.Time) []store.VMSample {
	s := &a.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = StatsSnapshot{At: now, VMs: vms, Errors: s.latest.Errors + failed}
	if !s.lastStore.IsZero() && now.Sub(s.lastStore) < a.storeEvery {
		return nil
	}
	samples := []store.VMSample{}
	base := make(map[int64]VMCounters, len(vms))
	for _, c := range vms {
		if prev, ok := s.base[c.VMID]; ok && c.At.After(prev.At) {
			samples = append(samples, sampleOf(prev, c, a.host))
		}
		base[c.VMID] = c
	}
	s.base, s.lastStore = base, now
	return samples
}

// storeSamples writes samples and prunes the old ones, when the store keeps samples.
func (a *Agent) storeSamples(ctx context.Context, samples []store.VMSample, now time.Time) error {
	log, ok := a.st.(store.VMSampleLog)
	if !ok {
		return nil
	}
	if err := log.InsertVMSamples(ctx, samples); err != nil {
		return fmt.Errorf("vm stats: %w", err)
	}
	if _, err := log.PruneVMSamples(ctx, now.Add(-a.retention)); err != nil {
		return fmt.Errorf("vm stats: %w", err)
	}
	return nil
}

// grown is how much a counter grew from prev to cur; a counter that went back restarted
// from zero (a new QEMU process, a new tap), so all of cur is growth.
func grown(prev, cur uint64) int64 {
	if cur < prev {
		return int64(cur)
	}
	return int64(cur - prev)
}

// sampleOf is a VM's growth from prev to cur. Disks and ifaces absent from prev were
// plugged in between: their whole counters are growth.
func sampleOf(prev, cur VMCounters, host string) store.VMSample {
	s := store.VMSample{VMID: cur.VMID, Time: cur.At, Interval: cur.At.Sub(prev.At), Host: host,
		MemoryBytes: cur.MemoryBytes, RSSBytes: cur.RSSBytes}
	s.CPU = time.Duration(grown(uint64(prev.CPU), uint64(cur.CPU)))
	for _, d := range cur.Disks {
		var p hypervisor.DiskStats
		if i := slices.IndexFunc(prev.Disks, func(x hypervisor.DiskStats) bool { return x.ID == d.ID }); i >= 0 {
			p = prev.Disks[i]
		}
		s.DiskReadBytes += grown(p.ReadBytes, d.ReadBytes)
		s.DiskWriteBytes += grown(p.WriteBytes, d.WriteBytes)
		s.DiskReads += grown(p.Reads, d.Reads)
		s.DiskWrites += grown(p.Writes, d.Writes)
	}
	for _, f := range cur.Ifaces {
		var p netdev.PortStats
		if i := slices.IndexFunc(prev.Ifaces, func(x IfaceCounters) bool { return x.ID == f.ID }); i >= 0 {
			p = prev.Ifaces[i].PortStats
		}
		u := &s.Public
		if f.Type == "private" {
			u = &s.Private
		}
		if *u == nil {
			*u = &store.NetUsage{}
		}
		(*u).RxBytes += grown(p.RxBytes, f.RxBytes)
		(*u).TxBytes += grown(p.TxBytes, f.TxBytes)
		(*u).RxPackets += grown(p.RxPackets, f.RxPackets)
		(*u).TxPackets += grown(p.TxPackets, f.TxPackets)
	}
	return s
}
