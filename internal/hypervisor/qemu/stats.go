package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

var _ hypervisor.Statser = (*Driver)(nil)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux ABI Go
// supports (the kernel's CONFIG_HZ does not change it).
const clockTick = 100

// Stats implements hypervisor.Statser: CPU time and RSS of the QEMU process from /proc,
// RAM from query-memory-size-summary and each disk's counters from query-blockstats. It
// does not take the VM's operation lock, so a long hotplug or migration does not delay it.
func (d *Driver) Stats(ctx context.Context, id int64) (hypervisor.VMStats, error) {
	v := d.lookup(ctx, id, false)
	if v == nil {
		return hypervisor.VMStats{}, fmt.Errorf("stats of vm %d: %w", id, hypervisor.ErrNotRunning)
	}
	var st hypervisor.VMStats
	cpu, rss, err := procStats(v.pid)
	if err != nil {
		if !v.alive() {
			return st, fmt.Errorf("stats of vm %d: %w", id, hypervisor.ErrNotRunning)
		}
		return st, fmt.Errorf("stats of vm %d: %w", id, err)
	}
	st.CPU, st.RSSBytes = cpu, rss
	c, err := v.qmp(ctx)
	if err != nil {
		return st, fmt.Errorf("stats of vm %d: %w", id, err)
	}
	mem, err := c.MemorySizeSummary(ctx)
	if err != nil {
		return st, fmt.Errorf("stats of vm %d: %w", id, err)
	}
	st.MemoryBytes = mem.BaseMemory + mem.PluggedMemory
	blocks, err := c.BlockStats(ctx)
	if err != nil {
		return st, fmt.Errorf("stats of vm %d: %w", id, err)
	}
	st.Disks = diskStats(blocks)
	return st, nil
}

// diskStats keeps the block backends of Berth's disks (device vd<ID>, or root node d<ID>
// for a backend without a device), dropping the seed and any other.
func diskStats(blocks []qmp.BlockStat) []hypervisor.DiskStats {
	var out []hypervisor.DiskStats
	for _, b := range blocks {
		id, ok := diskIDOf(b)
		if !ok {
			continue
		}
		out = append(out, hypervisor.DiskStats{ID: id, ReadBytes: b.Stats.ReadBytes, WriteBytes: b.Stats.WriteBytes,
			Reads: b.Stats.Reads, Writes: b.Stats.Writes})
	}
	return out
}

func diskIDOf(b qmp.BlockStat) (int64, bool) {
	if rest, ok := strings.CutPrefix(b.QDev, "/machine/peripheral/"); ok {
		dev, _, _ := strings.Cut(rest, "/")
		return idAfter(dev, diskDevice(0))
	}
	return idAfter(b.NodeName, diskNode(0))
}

// idAfter parses name as the prefix of zero (e.g. "vd0" → "vd") followed by an id.
func idAfter(name, zero string) (int64, bool) {
	s, ok := strings.CutPrefix(name, strings.TrimSuffix(zero, "0"))
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == s
}

// procStats reads the CPU time (user + system) and the resident memory of a process.
func procStats(pid int) (time.Duration, int64, error) {
	if pid <= 0 {
		return 0, 0, fmt.Errorf("no qemu process")
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	statm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(stat, statm, int64(os.Getpagesize()))
}

// parseProcStat parses /proc/<pid>/stat (utime and stime are fields 14 and 15; the
// command name before them is in parentheses and may hold spaces) and /proc/<pid>/statm
// (resident pages are field 2).
func parseProcStat(stat, statm []byte, pageSize int64) (time.Duration, int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("parse /proc stat: %d fields", len(f)+2)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	m := strings.Fields(string(statm))
	if err1 != nil || err2 != nil || len(m) < 2 {
		return 0, 0, fmt.Errorf("parse /proc stat: bad times or statm")
	}
	pages, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc statm: %w", err)
	}
	cpu := time.Duration(utime+stime) * time.Second / clockTick
	return cpu, pages * pageSize, nil
}
