package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// Defaults for the Config fields left zero.
const (
	DefaultBinary      = "qemu-system-x86_64"
	DefaultStopTimeout = 30 * time.Second
	DefaultMemorySlots = 8
)

// Accelerator modes for Config.Accel.
const (
	AccelAuto = "auto"
	AccelTCG  = "tcg"
	AccelKVM  = "kvm"
)

// Run directory file names.
const (
	pidFile     = "qemu.pid"
	logFile     = "qemu.log"
	specFile    = "spec.json"
	qmpSock     = "qmp.sock"
	consoleSock = "console.sock"
	consoleLog  = "console.log"
)

// maxSockPath is the longest unix socket path Linux accepts (sun_path minus the NUL).
const maxSockPath = 107

// Config configures a Driver.
type Config struct {
	// RunDir holds one directory per VM (see the package doc). Required.
	RunDir string
	// Binary is the QEMU system emulator, a path or a name looked up in PATH
	// (default DefaultBinary).
	Binary string
	// Accel is AccelAuto (default), AccelTCG or AccelKVM.
	Accel string
	// Probe is the test boot AccelAuto uses to decide whether KVM works.
	Probe Probe
	// StopTimeout is how long Stop waits for the guest to power off after the ACPI
	// power button before quitting QEMU (default DefaultStopTimeout).
	StopTimeout time.Duration
	// MemorySlots is the number of DIMM slots for memory hotplug (default
	// DefaultMemorySlots).
	MemorySlots int
	// Logger receives the driver's log (default: discard).
	Logger *slog.Logger
	// OpenTap opens the existing tap device name inside network namespace namespace
	// and returns its file; the driver hands the descriptor to QEMU and closes its copy.
	// Needed only for NICs whose Tap is set.
	OpenTap func(namespace, name string) (*os.File, error)
}

// Driver runs VMs as QEMU processes. It implements hypervisor.Driver; all methods are
// safe for concurrent use, and operations on one VM are serialized.
type Driver struct {
	cfg   Config
	bin   string
	accel string
	log   *slog.Logger

	mu    sync.Mutex
	vms   map[int64]*vm
	locks map[int64]chan struct{}

	// procMu holds, per VM id, a mutex held while finding or creating its process, so
	// that an adoption never races a launch (QEMU takes one QMP client at a time).
	procMu map[int64]*sync.Mutex
	// guestMu holds, per VM id, a mutex held while talking to its guest agent.
	guestMu map[int64]*sync.Mutex

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ hypervisor.Driver = (*Driver)(nil)

// New returns a driver for cfg. It creates RunDir, chooses the accelerator (which may
// take a test boot, see Probe) and re-adopts the QEMU processes already running there.
func New(cfg Config) (*Driver, error) {
	if cfg.RunDir == "" {
		return nil, errors.New("qemu driver: empty run directory")
	}
	dir, err := filepath.Abs(cfg.RunDir)
	if err != nil {
		return nil, fmt.Errorf("qemu driver: run directory: %w", err)
	}
	cfg.RunDir = dir
	// <RunDir>/<19 digits>/console.sock must fit in a unix socket address.
	if n := len(filepath.Join(dir, "9223372036854775807", consoleSock)); n > maxSockPath {
		return nil, fmt.Errorf("qemu driver: run directory %s too long for unix sockets (%d > %d bytes)", dir, n, maxSockPath)
	}
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.MemorySlots <= 0 {
		cfg.MemorySlots = DefaultMemorySlots
	}
	if cfg.Accel == "" {
		cfg.Accel = AccelAuto
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("qemu driver: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu driver: %w", err)
	}
	d := &Driver{
		cfg:     cfg,
		bin:     bin,
		log:     cfg.Logger,
		vms:     map[int64]*vm{},
		locks:   map[int64]chan struct{}{},
		procMu:  map[int64]*sync.Mutex{},
		closing: make(chan struct{}),
	}
	env := hostAccelEnv(func(ctx context.Context) error {
		return bootProbe(ctx, bin, AccelKVM, cfg.Probe)
	}, cfg.Probe.Kernel != "")
	if d.accel, err = chooseAccel(context.Background(), cfg.Accel, env, d.log); err != nil {
		return nil, fmt.Errorf("qemu driver: %w", err)
	}

	ids, err := d.List(context.Background())
	if err != nil {
		return nil, fmt.Errorf("qemu driver: %w", err)
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), adoptTimeout)
		if v := d.lookup(ctx, id, false); v != nil {
			d.log.Info("adopted running vm", "vm", id, "pid", v.pid)
		}
		cancel()
	}
	return d, nil
}

// Close stops watching the VMs and closes their QMP connections. The QEMU processes
// keep running; a later New on the same RunDir adopts them. The driver must not be
// used afterwards.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() { close(d.closing) })
	d.mu.Lock()
	vms := make([]*vm, 0, len(d.vms))
	for _, v := range d.vms {
		vms = append(vms, v)
	}
	d.mu.Unlock()
	for _, v := range vms {
		v.closeClient()
	}
	d.wg.Wait()
	return nil
}

// Accel returns the accelerator the driver starts VMs with: "tcg" or "kvm".
func (d *Driver) Accel() string { return d.accel }

// ConsolePath returns the unix socket of VM id's serial console (a stream: what the
// guest writes, and what is written to it is typed on ttyS0). One client at a time.
func (d *Driver) ConsolePath(id int64) string { return filepath.Join(d.dir(id), consoleSock) }

// ConsoleLog returns the file where QEMU appends everything VM id wrote on its console.
func (d *Driver) ConsoleLog(id int64) string { return filepath.Join(d.dir(id), consoleLog) }

func (d *Driver) dir(id int64) string {
	return filepath.Join(d.cfg.RunDir, strconv.FormatInt(id, 10))
}

// lock takes VM id's operation lock; the returned function releases it.
func (d *Driver) lock(ctx context.Context, id int64) (func(), error) {
	select {
	case <-d.closing:
		return nil, errors.New("qemu driver closed")
	default:
	}
	d.mu.Lock()
	l, ok := d.locks[id]
	if !ok {
		l = make(chan struct{}, 1)
		d.locks[id] = l
	}
	d.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for another operation on vm %d: %w", id, ctx.Err())
	}
}

// procLock returns VM id's process mutex (see Driver.procMu).
func (d *Driver) procLock(id int64) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.procMu[id]
	if !ok {
		m = new(sync.Mutex)
		d.procMu[id] = m
	}
	return m
}

// List implements hypervisor.Driver: the ids of the VM directories in RunDir.
func (d *Driver) List(_ context.Context) ([]int64, error) {
	entries, err := os.ReadDir(d.cfg.RunDir)
	if err != nil {
		return nil, fmt.Errorf("list vms: %w", err)
	}
	var ids []int64
	for _, e := range entries {
		if id, ok := parseVMDir(e); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// parseVMDir returns the VM id a run directory entry stands for.
func parseVMDir(e fs.DirEntry) (int64, bool) {
	if !e.IsDir() {
		return 0, false
	}
	id, err := strconv.ParseInt(e.Name(), 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != e.Name() {
		return 0, false
	}
	return id, true
}

// State implements hypervisor.Driver (see the package doc for the mapping).
func (d *Driver) State(ctx context.Context, id int64) (hypervisor.State, error) {
	if _, err := os.Stat(d.dir(id)); errors.Is(err, fs.ErrNotExist) {
		return hypervisor.Missing, nil
	} else if err != nil {
		return "", fmt.Errorf("state of vm %d: %w", id, err)
	}
	v := d.lookup(ctx, id, false)
	if v == nil {
		return hypervisor.Halted, nil
	}
	st, err := v.status(ctx)
	if err != nil {
		if !v.alive() {
			return hypervisor.Halted, nil
		}
		return "", fmt.Errorf("state of vm %d: %w", id, err)
	}
	if guestGone(st.Status) {
		return hypervisor.Halted, nil
	}
	return hypervisor.Running, nil
}

// guestGone reports whether a QMP run state means the guest will not run again without
// a new start: it powered off, panicked, or the accelerator failed.
func guestGone(status string) bool {
	switch status {
	case "shutdown", "guest-panicked", "internal-error":
		return true
	}
	return false
}

// Destroy implements hypervisor.Driver: it kills QEMU if it still runs (no grace
// period: call Stop first for a clean power-off) and removes the VM's directory.
func (d *Driver) Destroy(ctx context.Context, id int64) error {
	unlock, err := d.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("destroy vm %d: %w", id, err)
	}
	defer unlock()
	if v := d.lookup(ctx, id, true); v != nil {
		if err := d.kill(v); err != nil {
			return fmt.Errorf("destroy vm %d: %w", id, err)
		}
	}
	if err := os.RemoveAll(d.dir(id)); err != nil {
		return fmt.Errorf("destroy vm %d: %w", id, err)
	}
	d.log.Info("vm destroyed", "vm", id)
	return nil
}

// Reserved returns the guest memory, in MiB, of the VMs whose QEMU process is alive:
// boot memory plus hotplugged DIMMs as QEMU reports them (the memory of the last Start
// when QMP does not answer within a second). It is what the agent compares with the
// host's memory before starting another VM. It does not count QEMU's own overhead
// (about 100 MB a VM under TCG: translation cache, device state).
func (d *Driver) Reserved() (memMB int64) {
	ids, err := d.List(context.Background())
	if err != nil {
		d.log.Error("reserved memory", "err", err)
		return 0
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if v := d.lookup(ctx, id, false); v != nil {
			memMB += d.currentMemory(ctx, v)
		}
		cancel()
	}
	return memMB
}

// currentMemory is v's guest memory in MiB (see Reserved).
func (d *Driver) currentMemory(ctx context.Context, v *vm) int64 {
	if c, err := v.qmp(ctx); err == nil {
		if s, err := c.MemorySizeSummary(ctx); err == nil {
			return (s.BaseMemory + s.PluggedMemory) >> 20
		}
	}
	spec, err := readSpec(v.dir)
	if err != nil {
		d.log.Warn("memory of vm unknown", "vm", v.id, "err", err)
		return 0
	}
	return spec.MemoryMB
}

// readSpec reads the spec.json written by the last Start.
func readSpec(dir string) (hypervisor.Spec, error) {
	var s hypervisor.Spec
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return s, fmt.Errorf("read vm spec: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read vm spec %s: %w", filepath.Join(dir, specFile), err)
	}
	return s, nil
}

// writeSpec writes spec.json atomically.
func writeSpec(dir string, s hypervisor.Spec) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write vm spec: %w", err)
	}
	tmp := filepath.Join(dir, specFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write vm spec: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, specFile)); err != nil {
		return fmt.Errorf("write vm spec: %w", err)
	}
	return nil
}

// isQMPError reports whether err is a QMP error reply of the given class.
func isQMPError(err error, class string) bool {
	var qe *qmp.Error
	return errors.As(err, &qe) && qe.Class == class
}
