package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

const (
	// startTimeout bounds the time from exec to a QMP connection.
	startTimeout = 30 * time.Second
	// consoleLogMax is the size above which Start moves console.log to console.log.1.
	consoleLogMax = 8 << 20
	// stderrTail is how much of qemu.log a failed start quotes.
	stderrTail = 2048
)

// Start implements hypervisor.Driver. It writes spec.json, runs QEMU and returns once
// QEMU answers on QMP (the guest then boots on its own). Starting a running VM does
// nothing, even if spec differs; a VM whose QEMU is left in a halted state (guest
// powered off, panicked) is replaced by a new process. When QEMU refuses the command
// line, the error quotes the end of its stderr and no process is left.
func (d *Driver) Start(ctx context.Context, spec hypervisor.Spec) error {
	spec, err := normalize(spec)
	if err != nil {
		return fmt.Errorf("start vm %d: %w", spec.ID, err)
	}
	for _, n := range spec.NICs {
		if n.Tap != "" && d.cfg.OpenTap == nil {
			return fmt.Errorf("start vm %d: nic %d has tap %s but the driver has no OpenTap", spec.ID, n.ID, n.Tap)
		}
	}
	unlock, err := d.lock(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("start vm %d: %w", spec.ID, err)
	}
	defer unlock()
	if v := d.lookup(ctx, spec.ID, true); v != nil {
		st, err := v.status(ctx)
		if err != nil {
			return fmt.Errorf("start vm %d: qemu pid %d runs but: %w", spec.ID, v.pid, err)
		}
		if !guestGone(st.Status) {
			return nil
		}
		d.log.Info("replacing the qemu of a halted vm", "vm", spec.ID, "status", st.Status)
		if err := d.kill(v); err != nil {
			return fmt.Errorf("start vm %d: %w", spec.ID, err)
		}
	}
	if err := d.launch(ctx, spec, nil); err != nil {
		return fmt.Errorf("start vm %d: %w", spec.ID, err)
	}
	return nil
}

// normalize checks spec and fills MaxMemMB and MaxCores when zero.
func normalize(s hypervisor.Spec) (hypervisor.Spec, error) {
	if s.ID <= 0 {
		return s, fmt.Errorf("invalid vm id %d", s.ID)
	}
	if s.MaxMemMB == 0 {
		s.MaxMemMB = s.MemoryMB
	}
	if s.MaxCores == 0 {
		s.MaxCores = s.Cores
	}
	switch {
	case s.MemoryMB <= 0 || s.MemoryMB%2 != 0:
		return s, fmt.Errorf("memory %d MiB: must be a positive even number", s.MemoryMB)
	case s.MaxMemMB < s.MemoryMB || s.MaxMemMB%2 != 0:
		return s, fmt.Errorf("maximum memory %d MiB: must be even and at least the memory (%d MiB)", s.MaxMemMB, s.MemoryMB)
	case s.Cores <= 0:
		return s, fmt.Errorf("cores %d: must be positive", s.Cores)
	case s.MaxCores < s.Cores:
		return s, fmt.Errorf("maximum cores %d below cores %d", s.MaxCores, s.Cores)
	case s.Boot.Kernel == "" && len(s.Disks) == 0:
		return s, errors.New("nothing to boot: no kernel and no disk")
	}
	paths := map[string]string{"kernel": s.Boot.Kernel, "initrd": s.Boot.Initrd, "seed": s.SeedPath}
	for what, p := range paths {
		if p != "" && !filepath.IsAbs(p) {
			return s, fmt.Errorf("%s path %q is not absolute", what, p)
		}
	}
	if s.Boot.Initrd != "" && s.Boot.Kernel == "" {
		return s, errors.New("initrd without a kernel")
	}
	seen := map[int64]bool{}
	for _, disk := range s.Disks {
		if disk.ID <= 0 || seen[disk.ID] {
			return s, fmt.Errorf("invalid or duplicate disk id %d", disk.ID)
		}
		seen[disk.ID] = true
		if !filepath.IsAbs(disk.Path) {
			return s, fmt.Errorf("disk %d path %q is not absolute", disk.ID, disk.Path)
		}
	}
	s.NICs = append([]hypervisor.NIC(nil), s.NICs...)
	seen = map[int64]bool{}
	for i, n := range s.NICs {
		if n.ID <= 0 || seen[n.ID] {
			return s, fmt.Errorf("invalid or duplicate nic id %d", n.ID)
		}
		seen[n.ID] = true
		mac, err := parseMAC(n.MAC)
		if err != nil {
			return s, fmt.Errorf("nic %d: %w", n.ID, err)
		}
		s.NICs[i].MAC = mac
	}
	return s, nil
}

// parseMAC returns mac in lowercase colon form; it must be a 48-bit unicast address.
func parseMAC(mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || hw[0]&1 != 0 {
		return "", fmt.Errorf("invalid mac address %q", mac)
	}
	return hw.String(), nil
}

// launch runs QEMU for spec and waits for its QMP socket. With a layout, QEMU
// reproduces that device model and waits for an incoming migration (see incomingArgs).
func (d *Driver) launch(ctx context.Context, spec hypervisor.Spec, lay *hypervisor.Layout) error {
	dir := d.dir(spec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeSpec(dir, spec); err != nil {
		return err
	}
	for _, f := range []string{pidFile, qmpSock, consoleSock} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", f, err)
		}
	}
	rotateConsoleLog(filepath.Join(dir, consoleLog))

	var taps []*os.File
	defer func() {
		for _, f := range taps {
			f.Close()
		}
	}()
	tapFD := map[int64]int{}
	for _, n := range spec.NICs {
		if n.Tap == "" {
			d.log.Warn("nic without a tap gets no backend", "vm", spec.ID, "nic", n.ID)
			continue
		}
		ns := n.Namespace
		if ns == "" {
			ns = spec.Namespace
		}
		f, err := d.cfg.OpenTap(ns, n.Tap)
		if err != nil {
			return fmt.Errorf("nic %d: open tap %s in netns %q: %w", n.ID, n.Tap, ns, err)
		}
		taps = append(taps, f)
		tapFD[n.ID] = 2 + len(taps) // ExtraFiles start at fd 3
	}

	m := d.procLock(spec.ID)
	m.Lock()
	defer m.Unlock()
	logf, err := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := buildArgs(spec, dir, d.accel, d.cfg.MemorySlots, tapFD)
	if lay != nil {
		args = incomingArgs(spec, dir, d.accel, *lay, tapFD)
	}
	cmd := exec.Command(d.bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = taps
	// Its own session: QEMU outlives berthd, whatever signal ends berthd's group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", d.bin, err)
	}
	v := d.newVM(spec.ID, cmd.Process.Pid, cmd.Process)
	var exitErr error
	go func() {
		exitErr = cmd.Wait() // reaps the child: no zombie
		if exitErr == nil {
			exitErr = errors.New("exit status 0")
		}
		d.log.Info("qemu exited", "vm", spec.ID, "pid", v.pid, "status", exitErr.Error())
		v.markExited()
	}()

	c, err := d.connect(ctx, v)
	if err == nil {
		if _, err = c.Status(ctx); err != nil {
			c.Close()
		}
	}
	if err != nil {
		// Give a QEMU that is exiting on its own a moment, so its message is complete.
		wctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = v.wait(wctx)
		cancel()
		if !v.alive() {
			err = fmt.Errorf("qemu exited (%w): %w", exitErr, err)
		}
		if kerr := d.kill(v); kerr != nil {
			d.log.Error("cannot kill a qemu that failed to start", "vm", spec.ID, "pid", v.pid, "err", kerr)
		}
		return fmt.Errorf("%w%s", err, tail(filepath.Join(dir, logFile)))
	}
	v.setClient(c)
	d.register(v)
	d.log.Info("vm started", "vm", spec.ID, "pid", v.pid, "accel", d.accel,
		"memory_mb", spec.MemoryMB, "cores", spec.Cores, "disks", len(spec.Disks), "nics", len(tapFD))
	return nil
}

// connect dials v's QMP socket, giving up when QEMU exits first.
func (d *Driver) connect(ctx context.Context, v *vm) (*qmp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	type result struct {
		c   *qmp.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := qmp.Dial(ctx, v.sock, v.log)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-v.exited:
		cancel()
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		return nil, errors.New("no qmp connection")
	}
}

// buildArgs returns QEMU's command line for spec; tapFD maps NIC ids to the descriptor
// numbers of their taps in the child (NICs without one are left out).
func buildArgs(spec hypervisor.Spec, dir, accel string, slots int, tapFD map[int64]int) []string {
	return buildArgsLayout(spec, dir, accel, slots, tapFD, nil)
}

// buildArgsLayout is buildArgs; with a layout, the machine, CPU model, memory, vCPUs
// and PCI addresses come from it (see incomingArgs).
func buildArgsLayout(spec hypervisor.Spec, dir, accel string, slots int, tapFD map[int64]int, lay *hypervisor.Layout) []string {
	cpu, machine := "qemu64", "pc"
	if accel == AccelKVM {
		cpu = "host"
	}
	memMB, maxMemMB, cores, maxCores := spec.MemoryMB, spec.MaxMemMB, spec.Cores, max(spec.MaxCores, spec.Cores)
	addr := func(string) string { return "" }
	if lay != nil {
		cpu, machine = lay.CPUModel, lay.Machine
		memMB, maxMemMB, slots, cores, maxCores = lay.BaseMemoryMB, lay.MaxMemMB, lay.MemorySlots, lay.BootCores, lay.MaxCores
		addr = func(id string) string {
			if s, ok := lay.PCISlots[id]; ok {
				return fmt.Sprintf(",addr=0x%x", s)
			}
			return ""
		}
	}
	mem := fmt.Sprintf("%dM", memMB)
	if maxMemMB > memMB && slots > 0 {
		mem += fmt.Sprintf(",slots=%d,maxmem=%dM", slots, maxMemMB)
	}
	a := []string{
		"-name", "berth-" + strconv.FormatInt(spec.ID, 10),
		"-machine", machine, "-nodefaults", "-no-user-config", "-display", "none",
		"-accel", accel, "-cpu", cpu,
		"-m", mem,
		"-smp", fmt.Sprintf("%d,maxcpus=%d", cores, maxCores),
		"-qmp", qmpMarker(filepath.Join(dir, qmpSock)) + "server=on,wait=off",
		"-chardev", "socket,id=ser0,path=" + optEscape(filepath.Join(dir, consoleSock)) +
			",server=on,wait=off,logfile=" + optEscape(filepath.Join(dir, consoleLog)) + ",logappend=on",
		"-serial", "chardev:ser0",
		"-pidfile", filepath.Join(dir, pidFile),
		"-no-shutdown",
		// Entropy from the host: the guest makes its SSH host keys at first boot.
		"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0" + addr(rngDevice),
	}
	if b := spec.Boot; b.Kernel != "" {
		a = append(a, "-kernel", b.Kernel)
		if b.Initrd != "" {
			a = append(a, "-initrd", b.Initrd)
		}
		if b.Cmdline != "" {
			a = append(a, "-append", b.Cmdline)
		}
	}
	for i, disk := range spec.Disks {
		a = append(a, "-blockdev", blockdevJSON("qcow2", diskNode(disk.ID), disk.Path, disk.ReadOnly))
		dev := fmt.Sprintf("virtio-blk-pci,drive=%s,id=%s,serial=%s", diskNode(disk.ID), diskDevice(disk.ID), diskSerial(disk.ID)) +
			addr(diskDevice(disk.ID))
		if i == 0 && spec.Boot.Kernel == "" {
			dev += ",bootindex=0"
		}
		a = append(a, "-device", dev)
	}
	if spec.SeedPath != "" {
		// Last, so that the data disks come first (/dev/vda...); the guest finds the seed
		// by its ISO volume label.
		a = append(a, "-blockdev", blockdevJSON("raw", "seed", spec.SeedPath, true),
			"-device", "virtio-blk-pci,drive=seed,id=seed,serial=berth-seed"+addr(seedDevice))
	}
	for _, n := range spec.NICs {
		fd, ok := tapFD[n.ID]
		if !ok {
			continue
		}
		a = append(a,
			"-netdev", fmt.Sprintf("tap,id=%s,fd=%d,vhost=off", nicNetdev(n.ID), fd),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=%s,id=%s,mac=%s", nicNetdev(n.ID), nicDevice(n.ID), n.MAC)+addr(nicDevice(n.ID)))
	}
	return a
}

// Ids of the PCI devices without a Berth id: the seed disk, and the entropy device
// (anonymous on the command line; named so in a Layout).
const (
	seedDevice = "seed"
	rngDevice  = "rng"
)

// Names of the QEMU objects behind a disk or NIC id.
func diskNode(id int64) string   { return "d" + strconv.FormatInt(id, 10) }
func diskDevice(id int64) string { return "vd" + strconv.FormatInt(id, 10) }
func diskSerial(id int64) string { return "berth-" + strconv.FormatInt(id, 10) }
func nicNetdev(id int64) string  { return "n" + strconv.FormatInt(id, 10) }
func nicDevice(id int64) string  { return "nic" + strconv.FormatInt(id, 10) }
func nicFDName(id int64) string  { return "tap" + strconv.FormatInt(id, 10) }

// blockdevJSON is a -blockdev argument: a format node over a file node.
func blockdevJSON(format, node, path string, readOnly bool) string {
	m := map[string]any{
		"driver":    format,
		"node-name": node,
		"file":      map[string]any{"driver": "file", "filename": path},
	}
	if readOnly {
		m["read-only"] = true
	}
	b, _ := json.Marshal(m) // strings and maps only: cannot fail
	return string(b)
}

// optEscape escapes a value inside a QEMU option list (commas are doubled).
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// rotateConsoleLog moves a large console log aside so it does not grow forever.
func rotateConsoleLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > consoleLogMax {
		_ = os.Rename(path, path+".1")
	}
}

// tail returns the end of QEMU's output file, formatted for an error message.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > stderrTail {
		_, _ = f.Seek(-stderrTail, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	return "; qemu output: " + strings.ReplaceAll(s, "\n", " | ")
}
