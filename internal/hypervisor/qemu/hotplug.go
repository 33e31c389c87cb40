package qemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// live runs fn with a QMP connection to VM id, which must be running; op names the
// operation in errors.
func (d *Driver) live(ctx context.Context, id int64, op string, fn func(context.Context, *vm, *qmp.Client) error) error {
	unlock, err := d.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("%s vm %d: %w", op, id, err)
	}
	defer unlock()
	v := d.lookup(ctx, id, false)
	if v == nil {
		return fmt.Errorf("%s vm %d: %w", op, id, hypervisor.ErrNotRunning)
	}
	c, err := v.qmp(ctx)
	if err != nil {
		return fmt.Errorf("%s vm %d: %w", op, id, err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return fmt.Errorf("%s vm %d: %w", op, id, err)
	}
	if guestGone(st.Status) {
		return fmt.Errorf("%s vm %d: %w (qemu status %s)", op, id, hypervisor.ErrNotRunning, st.Status)
	}
	if err := fn(ctx, v, c); err != nil {
		return fmt.Errorf("%s vm %d: %w", op, id, err)
	}
	return nil
}

// dimm is a plugged pc-dimm.
type dimm struct {
	id string
	mb int64
}

// SetMemory implements hypervisor.Driver: mb is the total target (boot memory plus
// DIMMs, as QEMU lists them). Growing plugs one DIMM of the difference; shrinking
// unplugs whole DIMMs whose sizes add up to the difference exactly (or fails), each
// once the guest released it.
func (d *Driver) SetMemory(ctx context.Context, id int64, mb int64) error {
	return d.hotplug(ctx, id, "set memory of", gpeMemory, func(ctx context.Context, v *vm, c *qmp.Client) error {
		if mb <= 0 || mb%2 != 0 {
			return fmt.Errorf("memory %d MiB: must be a positive even number", mb)
		}
		sum, err := c.MemorySizeSummary(ctx)
		if err != nil {
			return err
		}
		devs, err := c.MemoryDevices(ctx)
		if err != nil {
			return err
		}
		base := sum.BaseMemory >> 20
		cur := base
		var dimms []dimm
		for _, m := range devs {
			if m.Type == "dimm" {
				dimms = append(dimms, dimm{id: m.Data.ID, mb: m.Data.Size >> 20})
				cur += m.Data.Size >> 20
			}
		}
		switch {
		case mb == cur:
			return nil
		case mb > cur:
			if spec, err := readSpec(v.dir); err == nil && mb > spec.MaxMemMB {
				return fmt.Errorf("memory %d MiB over the maximum %d MiB", mb, spec.MaxMemMB)
			}
			ids := make([]string, len(dimms))
			for i, m := range dimms {
				ids[i] = m.id
			}
			name := freeName("dimm", ids)
			// A backend left by an unplug that failed half-way would block object-add.
			_ = c.ObjectDel(ctx, qmp.MemoryBackendID(name))
			if err := c.HotplugMemory(ctx, name, (mb-cur)<<20); err != nil {
				return err
			}
			d.log.Info("memory plugged", "vm", id, "dimm", name, "mb", mb-cur, "total_mb", mb)
			return nil
		case mb < base:
			return fmt.Errorf("memory %d MiB below the boot memory %d MiB", mb, base)
		}
		plan, ok := pickDIMMs(dimms, cur-mb)
		if !ok {
			return fmt.Errorf("cannot remove exactly %d MiB: plugged DIMMs are %s", cur-mb, describeDIMMs(dimms))
		}
		for _, name := range plan {
			if err := unplug(ctx, c, name, gpeMemory); err != nil {
				return fmt.Errorf("the guest did not release its memory (is it onlined movable?): %w", err)
			}
			if err := c.ObjectDel(ctx, qmp.MemoryBackendID(name)); err != nil {
				return fmt.Errorf("memory %s: %w", name, err)
			}
			d.log.Info("memory unplugged", "vm", id, "dimm", name)
		}
		return nil
	})
}

// pickDIMMs chooses DIMMs whose sizes add up to need MiB: the fewest possible, and
// among those the most recently plugged (highest numbered). ok is false when no
// combination matches.
func pickDIMMs(dimms []dimm, need int64) (ids []string, ok bool) {
	const maxDIMMs = 20 // 2^20 combinations at most
	if need <= 0 || len(dimms) == 0 || len(dimms) > maxDIMMs {
		return nil, false
	}
	sorted := slices.Clone(dimms)
	// Most recent first, so that lexicographically smaller masks prefer them.
	slices.SortFunc(sorted, func(a, b dimm) int { return cmp.Compare(nameIndex(b.id), nameIndex(a.id)) })
	best, bestCount := uint32(0), len(sorted)+1
	for mask := uint32(1); mask < 1<<len(sorted); mask++ {
		n := bits.OnesCount32(mask)
		if n > bestCount {
			continue
		}
		var total int64
		for i := range sorted {
			if mask&(1<<i) != 0 {
				total += sorted[i].mb
			}
		}
		if total != need {
			continue
		}
		// Prefer fewer DIMMs; at equal count, the set made of the most recent ones
		// (reversed bit order compares their indices in recency order).
		if n < bestCount || bits.Reverse32(mask) > bits.Reverse32(best) {
			best, bestCount = mask, n
		}
	}
	if best == 0 {
		return nil, false
	}
	for i := range sorted {
		if best&(1<<i) != 0 {
			ids = append(ids, sorted[i].id)
		}
	}
	return ids, true
}

func describeDIMMs(dimms []dimm) string {
	if len(dimms) == 0 {
		return "none"
	}
	parts := make([]string, len(dimms))
	for i, m := range dimms {
		parts[i] = fmt.Sprintf("%s %d MiB", m.id, m.mb)
	}
	return strings.Join(parts, ", ")
}

// nameIndex returns N for a name ending in digits N (dimm3, cpu12), -1 otherwise.
func nameIndex(name string) int {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(name[i:])
	if err != nil {
		return -1
	}
	return n
}

// freeName returns prefix<N> for the smallest N not in used.
func freeName(prefix string, used []string) string {
	for n := 0; ; n++ {
		name := prefix + strconv.Itoa(n)
		if !slices.Contains(used, name) {
			return name
		}
	}
}

// peripheralPrefix is the QOM path of the devices added with an id.
const peripheralPrefix = "/machine/peripheral/"

// ErrCPUUnplugTCG is returned by SetCores when asked to remove vCPUs from a VM running
// under TCG: QEMU 7.2 frees a TCG vCPU's address space while its RCU thread still uses
// it, and crashes (SIGSEGV) soon after the unplug (measured on Debian 12's QEMU).
// Fewer cores take effect at the next start.
var ErrCPUUnplugTCG = errors.New("removing vcpus from a running vm is not supported under tcg (qemu crashes); restart the vm with fewer cores")

// SetCores implements hypervisor.Driver. Growing hotplugs vCPUs (ids vcpu<N>), which
// the guest must online; shrinking unplugs the hotplugged vCPUs, highest first, and
// waits until QEMU no longer lists them. The vCPUs the VM booted with are not removed,
// and under TCG no vCPU is (ErrCPUUnplugTCG).
func (d *Driver) SetCores(ctx context.Context, id int64, n int64) error {
	return d.hotplug(ctx, id, "set cores of", gpeCPU, func(ctx context.Context, _ *vm, c *qmp.Client) error {
		if n <= 0 {
			return fmt.Errorf("cores %d: must be positive", n)
		}
		slots, err := c.HotpluggableCPUs(ctx)
		if err != nil {
			return err
		}
		var present, plugged []qmp.HotpluggableCPU
		var used []string
		for _, s := range slots {
			if s.QOMPath == "" {
				continue
			}
			present = append(present, s)
			if name, ok := strings.CutPrefix(s.QOMPath, peripheralPrefix); ok {
				plugged = append(plugged, s)
				used = append(used, name)
			}
		}
		cur := int64(len(present))
		switch {
		case n == cur:
			return nil
		case n > int64(len(slots)):
			return fmt.Errorf("%d cores over the maximum %d", n, len(slots))
		case n > cur:
			for ; cur < n; cur++ {
				name := freeName("vcpu", used)
				if _, err := c.HotplugCPU(ctx, name); err != nil {
					return err
				}
				used = append(used, name)
			}
			d.log.Info("cpus plugged", "vm", id, "cores", n)
			return nil
		case d.accel == AccelTCG:
			return ErrCPUUnplugTCG
		}
		remove := int(cur - n)
		if remove > len(plugged) {
			return fmt.Errorf("cannot go below the %d boot cores", cur-int64(len(plugged)))
		}
		order := []string{"socket-id", "die-id", "core-id", "thread-id"}
		slices.SortFunc(plugged, func(a, b qmp.HotpluggableCPU) int {
			for _, k := range order {
				if r := cmp.Compare(b.Props[k], a.Props[k]); r != 0 {
					return r
				}
			}
			return 0
		})
		for _, s := range plugged[:remove] {
			if err := unplugCPU(ctx, c, s.QOMPath); err != nil {
				return err
			}
		}
		d.log.Info("cpus unplugged", "vm", id, "cores", n)
		return nil
	})
}

// unplugCPU removes the vCPU at path and waits until its slot is free, repeating the
// request every unplugRetry while the guest is ready (as unplug does). It does not
// wait for DEVICE_DELETED: QEMU 7.2 emits it for the vCPU's lapic child only.
func unplugCPU(ctx context.Context, c *qmp.Client, path string) error {
	ctx, cancel := context.WithTimeout(ctx, unplugTimeout)
	defer cancel()
	name := strings.TrimPrefix(path, peripheralPrefix)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var asked time.Time
	for {
		if time.Since(asked) >= unplugRetry {
			if ok, err := guestReady(ctx, c, gpeCPU); err == nil && ok {
				err := c.Execute(ctx, "device_del", map[string]any{"id": name}, nil)
				if err != nil && !isQMPError(err, "DeviceNotFound") && !strings.Contains(err.Error(), "already in the process of unplug") {
					return err
				}
				asked = time.Now()
			}
		}
		slots, err := c.HotpluggableCPUs(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(slots, func(s qmp.HotpluggableCPU) bool { return s.QOMPath == path }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the guest did not release cpu %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}
