package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// Live migration with local disks (multihost.md §2): the target runs the same device
// model with -incoming defer and exports its new disk images over NBD; the source
// mirrors each disk into them (write-blocking), then migrates the RAM with
// pause-before-switchover, completes the mirrors while paused, and switches over.

const (
	// incomingFile holds the hypervisor.Incoming of a prepared target.
	incomingFile = "incoming.json"
	// outgoingFile holds the hypervisor.Incoming a source's migration was started to:
	// query-migrate alone cannot tell it, as a QEMU that came by a migration reports
	// that incoming one as "completed".
	outgoingFile = "outgoing.json"
	// migNodePrefix names the source's NBD client nodes and mirror jobs.
	migNodePrefix = "mig-"
	// DefaultMaxBandwidth replaces QEMU's 128 MiB/s default migration bandwidth.
	DefaultMaxBandwidth = 10 << 30
	// migratePoll is the interval of query-migrate and query-block-jobs polls; at
	// pre-switchover the guest is paused, so it adds to the downtime.
	migratePoll = 10 * time.Millisecond
)

func migNode(diskID int64) string { return migNodePrefix + diskNode(diskID) }

// Layout implements hypervisor.Migrator: the device model of the running VM as QEMU
// reports it (machine type, PCI slots, DIMMs, hotplugged vCPUs), so that hotplugged
// devices are reproduced where they are.
func (d *Driver) Layout(ctx context.Context, id int64) (hypervisor.Layout, error) {
	var lay hypervisor.Layout
	err := d.live(ctx, id, "read the layout of", func(ctx context.Context, v *vm, c *qmp.Client) error {
		var typ string
		if err := c.QOMGet(ctx, "/machine", "type", &typ); err != nil {
			return err
		}
		lay.Machine = strings.TrimSuffix(typ, "-machine")
		sum, err := c.MemorySizeSummary(ctx)
		if err != nil {
			return err
		}
		lay.BaseMemoryMB = sum.BaseMemory >> 20
		spec, err := readSpec(v.dir)
		if err != nil {
			return err
		}
		lay.MaxMemMB, lay.MemorySlots = max(spec.MaxMemMB, lay.BaseMemoryMB), d.cfg.MemorySlots
		mems, err := c.MemoryDevices(ctx)
		if err != nil {
			return err
		}
		for _, m := range mems {
			if m.Type != "dimm" {
				return fmt.Errorf("memory device %s of type %s cannot be migrated", m.Data.ID, m.Type)
			}
			lay.DIMMs = append(lay.DIMMs, hypervisor.DIMM{
				ID: m.Data.ID, Backend: filepath.Base(m.Data.Memdev), SizeMB: m.Data.Size >> 20,
				Slot: m.Data.Slot, Addr: m.Data.Addr,
			})
		}
		cpus, err := c.HotpluggableCPUs(ctx)
		if err != nil {
			return err
		}
		lay.MaxCores = int64(len(cpus))
		for _, s := range cpus {
			if s.QOMPath == "" {
				continue
			}
			if lay.CPUModel == "" {
				lay.CPUModel = strings.TrimSuffix(s.Type, "-x86_64-cpu")
			}
			name, hot := strings.CutPrefix(s.QOMPath, peripheralPrefix)
			if !hot {
				lay.BootCores++
				continue
			}
			lay.CPUs = append(lay.CPUs, hypervisor.HotCPU{ID: name, Type: s.Type, Props: s.Props})
		}
		slices.SortFunc(lay.CPUs, func(a, b hypervisor.HotCPU) int { return nameIndex(a.ID) - nameIndex(b.ID) })
		pci, err := c.PCIDevices(ctx)
		if err != nil {
			return err
		}
		lay.PCISlots = map[string]int{}
		for _, p := range pci {
			switch {
			case p.Bus != 0 || p.Function != 0:
			case p.QdevID != "":
				lay.PCISlots[p.QdevID] = p.Slot
			case p.ID.Vendor == virtioVendor:
				lay.PCISlots[rngDevice] = p.Slot // the only anonymous virtio device
			}
		}
		return nil
	})
	return lay, err
}

// virtioVendor is the PCI vendor id of virtio devices (Red Hat, Inc.).
const virtioVendor = 0x1af4

// incomingArgs is the command line of a migration target: spec's disks (the target's
// images), NICs (the target's taps) and seed, with lay's device model, paused and
// waiting for migrate-incoming.
func incomingArgs(spec hypervisor.Spec, dir, accel string, lay hypervisor.Layout, tapFD map[int64]int) []string {
	a := buildArgsLayout(spec, dir, accel, 0, tapFD, &lay)
	for _, m := range lay.DIMMs {
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-ram,id=%s,size=%dM", m.Backend, m.SizeMB),
			"-device", fmt.Sprintf("pc-dimm,id=%s,memdev=%s,slot=%d,addr=%d", m.ID, m.Backend, m.Slot, m.Addr))
	}
	for _, c := range lay.CPUs {
		dev := c.Type + ",id=" + c.ID
		keys := make([]string, 0, len(c.Props))
		for k := range c.Props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dev += fmt.Sprintf(",%s=%d", k, c.Props[k])
		}
		a = append(a, "-device", dev)
	}
	return append(a, "-S", "-incoming", "defer")
}

// checkLayout makes sure spec has exactly the PCI devices of lay.
func checkLayout(spec hypervisor.Spec, lay hypervisor.Layout) error {
	if lay.Machine == "" || lay.CPUModel == "" || lay.BaseMemoryMB <= 0 || lay.BootCores <= 0 {
		return errors.New("incomplete layout: machine, cpu model, memory and cores are needed")
	}
	want := map[string]bool{rngDevice: true, serialDevice: true}
	for _, disk := range spec.Disks {
		want[diskDevice(disk.ID)] = true
	}
	if spec.SeedPath != "" {
		want[seedDevice] = true
	}
	for _, n := range spec.NICs {
		if n.Tap != "" {
			want[nicDevice(n.ID)] = true
		}
	}
	for dev := range want {
		if _, ok := lay.PCISlots[dev]; !ok {
			return fmt.Errorf("device %s of the spec is not on the source", dev)
		}
	}
	for dev := range lay.PCISlots {
		if !want[dev] {
			return fmt.Errorf("device %s of the source is not in the spec", dev)
		}
	}
	return nil
}

// PrepareIncoming implements hypervisor.Migrator. The caller made spec's disk images
// (an overlay on the same base for a "top" mirror, an empty image of the same size for
// "full"). Ports are chosen on tr.Host; a second call returns the first one's target.
func (d *Driver) PrepareIncoming(ctx context.Context, spec hypervisor.Spec, lay hypervisor.Layout, tr hypervisor.Transport) (hypervisor.Incoming, error) {
	var in hypervisor.Incoming
	fail := func(err error) (hypervisor.Incoming, error) {
		return in, fmt.Errorf("prepare incoming vm %d: %w", spec.ID, err)
	}
	spec, err := normalize(spec)
	if err != nil {
		return fail(err)
	}
	if err := checkLayout(spec, lay); err != nil {
		return fail(err)
	}
	spec.MaxMemMB, spec.MaxCores = max(lay.MaxMemMB, spec.MemoryMB), max(lay.MaxCores, spec.Cores)
	if tr.Host == "" {
		return fail(errors.New("no listen address"))
	}
	unlock, err := d.lock(ctx, spec.ID)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if v := d.lookup(ctx, spec.ID, true); v != nil {
		if prev, err := readIncoming(v.dir); err == nil {
			return prev, nil
		}
		return fail(errors.New("the vm already runs on this host"))
	}
	_ = os.Remove(filepath.Join(d.dir(spec.ID), incomingFile))
	if err := d.launch(ctx, spec, &lay); err != nil {
		return fail(err)
	}
	v := d.lookup(ctx, spec.ID, false)
	if v == nil {
		return fail(errors.New("qemu exited after its start"))
	}
	err = func() error {
		c, err := v.qmp(ctx)
		if err != nil {
			return err
		}
		if err := c.MigrateSetCapabilities(ctx, map[string]bool{"events": true, "late-block-activate": true}); err != nil {
			return err
		}
		nbdPort, err := freePort(tr.Host)
		if err != nil {
			return err
		}
		if err := c.NBDServerStart(ctx, tr.Host, nbdPort, nil); err != nil {
			return err
		}
		for _, disk := range spec.Disks {
			if err := c.BlockExportAddNBD(ctx, diskNode(disk.ID), true); err != nil {
				return fmt.Errorf("export disk %d: %w", disk.ID, err)
			}
		}
		migPort, err := freePort(tr.Host)
		if err != nil {
			return err
		}
		in = hypervisor.Incoming{
			MigrateURI: "tcp:" + net.JoinHostPort(tr.Host, strconv.Itoa(migPort)),
			NBDHost:    tr.Host, NBDPort: nbdPort,
		}
		if err := c.MigrateIncoming(ctx, in.MigrateURI); err != nil {
			return err
		}
		return writeJSON(filepath.Join(v.dir, incomingFile), in)
	}()
	if err != nil {
		if kerr := d.kill(v); kerr != nil {
			d.log.Error("kill a failed migration target", "vm", spec.ID, "err", kerr)
		}
		return fail(err)
	}
	d.log.Info("migration target ready", "vm", spec.ID, "uri", in.MigrateURI, "nbd_port", in.NBDPort)
	return in, nil
}

// freePort returns a TCP port free on host right now.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readIncoming(dir string) (hypervisor.Incoming, error) {
	var in hypervisor.Incoming
	b, err := os.ReadFile(filepath.Join(dir, incomingFile))
	if err != nil {
		return in, err
	}
	return in, json.Unmarshal(b, &in)
}

// outgoing reports whether the VM of run directory dir has a migration to in started.
func outgoing(dir string, in hypervisor.Incoming) bool {
	b, err := os.ReadFile(filepath.Join(dir, outgoingFile))
	var was hypervisor.Incoming
	return err == nil && json.Unmarshal(b, &was) == nil && was == in
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// MirrorDisks implements hypervisor.Migrator.
func (d *Driver) MirrorDisks(ctx context.Context, id int64, in hypervisor.Incoming, disks []hypervisor.MirrorDisk) error {
	return d.live(ctx, id, "mirror the disks of", func(ctx context.Context, _ *vm, c *qmp.Client) error {
		jobs, err := c.BlockJobs(ctx)
		if err != nil {
			return err
		}
		for _, disk := range disks {
			if disk.Sync != "top" && disk.Sync != "full" {
				return fmt.Errorf("disk %d: sync %q, want top or full", disk.ID, disk.Sync)
			}
			node := migNode(disk.ID)
			if slices.ContainsFunc(jobs, func(j qmp.BlockJob) bool { return j.Device == node }) {
				continue // mirroring already
			}
			_, ok, err := blockNode(ctx, c, node)
			if err != nil {
				return err
			}
			if !ok {
				if err := c.BlockdevAddNBD(ctx, node, in.NBDHost, in.NBDPort, diskNode(disk.ID), nil); err != nil {
					return fmt.Errorf("disk %d: connect to the target's export: %w", disk.ID, err)
				}
			}
			if err := c.BlockdevMirror(ctx, node, diskNode(disk.ID), node, disk.Sync); err != nil {
				return fmt.Errorf("disk %d: %w", disk.ID, err)
			}
			d.log.Info("disk mirror started", "vm", id, "disk", disk.ID, "sync", disk.Sync)
		}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			jobs, err := c.BlockJobs(ctx)
			if err != nil {
				return err
			}
			pending := ""
			for _, disk := range disks {
				i := slices.IndexFunc(jobs, func(j qmp.BlockJob) bool { return j.Device == migNode(disk.ID) })
				switch {
				case i < 0:
					return fmt.Errorf("disk %d: the mirror ended before it was in sync", disk.ID)
				case !jobs[i].Ready:
					pending = fmt.Sprintf("disk %d at %d/%d bytes", disk.ID, jobs[i].Offset, jobs[i].Len)
				}
			}
			if pending == "" {
				d.log.Info("disk mirrors in sync", "vm", id, "disks", len(disks))
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for the mirrors (%s): %w", pending, ctx.Err())
			case <-t.C:
			}
		}
	})
}

// migJobs returns the ids of the migration mirror jobs of the VM.
func migJobs(ctx context.Context, c *qmp.Client) ([]string, error) {
	jobs, err := c.BlockJobs(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, j := range jobs {
		if strings.HasPrefix(j.Device, migNodePrefix) {
			ids = append(ids, j.Device)
		}
	}
	return ids, nil
}

// dropMirrors cancels the migration mirror jobs (force: at once; otherwise an in-sync
// mirror completes its copy first), waits for them to end, and closes the NBD nodes.
func dropMirrors(ctx context.Context, c *qmp.Client, force bool) error {
	ids, err := migJobs(ctx, c)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := c.BlockJobCancel(ctx, id, force); err != nil && !isQMPError(err, "DeviceNotActive") {
			return fmt.Errorf("cancel mirror %s: %w", id, err)
		}
	}
	for len(ids) > 0 {
		if ids, err = migJobs(ctx, c); err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for mirrors %v to end: %w", ids, ctx.Err())
		case <-time.After(migratePoll):
		}
	}
	nodes, err := c.BlockNodes(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if strings.HasPrefix(n.NodeName, migNodePrefix) {
			if err := c.BlockdevDel(ctx, n.NodeName); err != nil {
				return fmt.Errorf("close %s: %w", n.NodeName, err)
			}
		}
	}
	return nil
}

// Migrate implements hypervisor.Migrator. Called again after an interruption, it
// follows the migration under way instead of starting another.
func (d *Driver) Migrate(ctx context.Context, id int64, in hypervisor.Incoming, opts hypervisor.MigrateOptions) error {
	return d.live(ctx, id, "migrate", func(ctx context.Context, v *vm, c *qmp.Client) error {
		mi, err := c.QueryMigrate(ctx)
		if err != nil {
			return err
		}
		ours := outgoing(v.dir, in)
		switch {
		case mi.Status == "completed" && ours:
			return dropMirrors(ctx, c, true)
		case !ours || mi.Status == "none" || mi.Status == "failed" || mi.Status == "cancelled":
			if err := writeJSON(filepath.Join(v.dir, outgoingFile), in); err != nil {
				return err
			}
			if err := d.startMigration(ctx, c, in, opts); err != nil {
				return err
			}
		}
		start := time.Now()
		var paused time.Duration
		continued := false // a second migrate-continue would be refused, or left pending
		t := time.NewTicker(migratePoll)
		defer t.Stop()
		for {
			mi, err := c.QueryMigrate(ctx)
			if err != nil {
				return err
			}
			switch mi.Status {
			case "pre-switchover":
				if continued {
					break // migrate-continue returns before QEMU leaves the state
				}
				pausedAt := time.Now()
				if opts.PreSwitchover != nil {
					if err := opts.PreSwitchover(ctx); err != nil {
						return fmt.Errorf("before the switchover: %w", err)
					}
				}
				// The guest is paused: complete the in-sync mirrors, then switch over.
				if err := dropMirrors(ctx, c, false); err != nil {
					return err
				}
				if err := c.MigrateContinue(ctx, "pre-switchover"); err != nil {
					return err
				}
				paused, continued = time.Since(pausedAt), true
			case "completed":
				// QEMU may say completed before it fills in the times.
				for i := 0; i < 5 && mi.TotalTime == 0; i++ {
					time.Sleep(migratePoll)
					if again, err := c.QueryMigrate(ctx); err == nil {
						mi = again
					}
				}
				d.log.Info("vm migrated", "vm", id, "total_ms", mi.TotalTime, "downtime_ms", mi.Downtime,
					"wall", time.Since(start).Round(time.Millisecond), "pre_switchover", paused.Round(time.Millisecond))
				return dropMirrors(ctx, c, true)
			case "failed", "cancelled", "none":
				return fmt.Errorf("migration %s: %s", mi.Status, mi.ErrorDesc)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("migration %s: %w", mi.Status, ctx.Err())
			case <-t.C:
			}
		}
	})
}

// startMigration sets the capabilities and parameters and starts the RAM migration.
func (d *Driver) startMigration(ctx context.Context, c *qmp.Client, in hypervisor.Incoming, opts hypervisor.MigrateOptions) error {
	if ids, err := migJobs(ctx, c); err != nil {
		return err
	} else if len(ids) == 0 {
		return errors.New("no disk mirror runs: mirror the disks first")
	}
	caps := map[string]bool{"events": true, "pause-before-switchover": true, "auto-converge": true}
	if err := c.MigrateSetCapabilities(ctx, caps); err != nil {
		return err
	}
	params := map[string]any{"max-bandwidth": DefaultMaxBandwidth}
	if opts.MaxBandwidth > 0 {
		params["max-bandwidth"] = opts.MaxBandwidth
	}
	if opts.DowntimeLimit > 0 {
		params["downtime-limit"] = opts.DowntimeLimit
	}
	if err := c.MigrateSetParameters(ctx, params); err != nil {
		return err
	}
	return c.Migrate(ctx, in.MigrateURI)
}

// CancelOutgoing implements hypervisor.Migrator.
func (d *Driver) CancelOutgoing(ctx context.Context, id int64) error {
	return d.live(ctx, id, "cancel the migration of", func(ctx context.Context, v *vm, c *qmp.Client) error {
		_, err := os.Stat(filepath.Join(v.dir, outgoingFile))
		started := err == nil
		for started {
			mi, err := c.QueryMigrate(ctx)
			if err != nil {
				return err
			}
			if mi.Status == "completed" {
				return hypervisor.ErrMigrationCompleted
			}
			if mi.Status == "none" || mi.Status == "failed" || mi.Status == "cancelled" {
				break
			}
			if mi.Status != "cancelling" {
				if err := c.MigrateCancel(ctx); err != nil {
					return err
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for the migration to stop: %w", ctx.Err())
			case <-time.After(migratePoll):
			}
		}
		if err := dropMirrors(ctx, c, true); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(v.dir, outgoingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if !st.Running && (st.Status == "paused" || st.Status == "finish-migrate" || st.Status == "postmigrate") {
			if err := c.Cont(ctx); err != nil {
				return fmt.Errorf("resume the guest: %w", err)
			}
		}
		d.log.Info("migration cancelled, vm runs on the source", "vm", id)
		return nil
	})
}

// FinishIncoming implements hypervisor.Migrator.
func (d *Driver) FinishIncoming(ctx context.Context, id int64) error {
	return d.live(ctx, id, "finish the incoming migration of", func(ctx context.Context, v *vm, c *qmp.Client) error {
		if _, err := readIncoming(v.dir); errors.Is(err, os.ErrNotExist) {
			return nil // finished already
		}
		t := time.NewTicker(migratePoll)
		defer t.Stop()
		for {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			mi, err := c.QueryMigrate(ctx)
			if err != nil {
				return err
			}
			if mi.Status == "failed" {
				return fmt.Errorf("incoming migration failed: %s", mi.ErrorDesc)
			}
			if st.Status != "inmigrate" && mi.Status == "completed" {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for the incoming migration (%s, %s): %w", st.Status, mi.Status, ctx.Err())
			case <-t.C:
			}
		}
		exports, err := c.BlockExports(ctx)
		if err != nil {
			return err
		}
		for _, e := range exports {
			if err := c.BlockExportDel(ctx, e); err != nil {
				return fmt.Errorf("remove export %s: %w", e, err)
			}
		}
		if err := c.NBDServerStop(ctx); err != nil && !strings.Contains(err.Error(), "not running") {
			return err
		}
		if err := c.Cont(ctx); err != nil {
			return err
		}
		// The announce of the incoming migration ran while the guest was still paused
		// (-S): a virtio-net guest asked to announce itself then may not, and the
		// network kept sending its frames to the old host. Announce again, running.
		if err := c.AnnounceSelf(ctx); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(v.dir, incomingFile)); err != nil {
			return err
		}
		d.log.Info("incoming migration finished, vm runs", "vm", id)
		return nil
	})
}
