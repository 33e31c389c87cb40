package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// Timeouts of the driver's own housekeeping.
const (
	adoptTimeout = 3 * time.Second  // connect to the QMP socket of a running QEMU
	quitTimeout  = 5 * time.Second  // QMP quit until the process is gone
	killTimeout  = 10 * time.Second // SIGKILL until the process is gone
	redialAfter  = 2 * time.Second  // QMP lost while QEMU lives: reconnect after this
)

// vm is a live (or just exited) QEMU process.
type vm struct {
	id     int64
	dir    string
	sock   string // the QMP socket
	marker string // a string only this VM's QEMU has in its command line
	pid    int
	proc   *os.Process // our child, nil when adopted

	exited   chan struct{} // closed once the process is known to be gone
	exitOnce sync.Once

	dialMu sync.Mutex // one (re)connection at a time
	mu     sync.Mutex
	client *qmp.Client
	log    qmp.Option
}

func (d *Driver) newVM(id int64, pid int, proc *os.Process) *vm {
	dir := d.dir(id)
	sock := filepath.Join(dir, qmpSock)
	return &vm{
		id: id, dir: dir, sock: sock, marker: qmpMarker(sock), pid: pid, proc: proc,
		exited: make(chan struct{}),
		log:    qmp.WithLogger(d.log.With("vm", id)),
	}
}

// qmpMarker is the -qmp argument prefix for socket sock: present in the command line
// of that VM's QEMU only.
func qmpMarker(sock string) string { return "unix:" + optEscape(sock) + "," }

// alive reports whether the process still runs (not exited, not a zombie).
func (v *vm) alive() bool {
	select {
	case <-v.exited:
		return false
	default:
	}
	if v.proc != nil {
		return true // our child: the Wait goroutine closes exited
	}
	if pidAlive(v.pid, v.marker) {
		return true
	}
	v.markExited()
	return false
}

func (v *vm) markExited() { v.exitOnce.Do(func() { close(v.exited) }) }

// wait returns when the process is gone, or ctx's error.
func (v *vm) wait(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for v.alive() {
		select {
		case <-v.exited:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// signal sends sig to the process, making sure it is still ours.
func (v *vm) signal(sig syscall.Signal) error {
	if v.proc != nil {
		if err := v.proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal qemu pid %d: %w", v.pid, err)
		}
		return nil
	}
	// FindProcess holds a pidfd: once the command line is checked, the signal cannot
	// reach another process that reused the pid.
	p, err := os.FindProcess(v.pid)
	if err != nil {
		return nil // gone already
	}
	defer p.Release()
	if !pidAlive(v.pid, v.marker) {
		return nil
	}
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal qemu pid %d: %w", v.pid, err)
	}
	return nil
}

func (v *vm) currentClient() *qmp.Client {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.client
}

func (v *vm) setClient(c *qmp.Client) {
	v.mu.Lock()
	old := v.client
	v.client = c
	v.mu.Unlock()
	if old != nil && old != c {
		old.Close()
	}
}

func (v *vm) closeClient() {
	v.mu.Lock()
	c := v.client
	v.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// qmp returns a working QMP connection to the VM, reconnecting if the last one ended
// while QEMU still runs.
func (v *vm) qmp(ctx context.Context) (*qmp.Client, error) {
	if c := v.currentClient(); c != nil && c.Err() == nil {
		return c, nil
	}
	v.dialMu.Lock()
	defer v.dialMu.Unlock()
	if c := v.currentClient(); c != nil && c.Err() == nil {
		return c, nil
	}
	if !v.alive() {
		return nil, fmt.Errorf("vm %d: %w", v.id, hypervisor.ErrNotRunning)
	}
	ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
	defer cancel()
	c, err := qmp.Dial(ctx, v.sock, v.log)
	if err != nil {
		return nil, fmt.Errorf("connect to qemu of vm %d (pid %d): %w", v.id, v.pid, err)
	}
	v.setClient(c)
	return c, nil
}

// status returns QEMU's run state.
func (v *vm) status(ctx context.Context) (qmp.StatusInfo, error) {
	c, err := v.qmp(ctx)
	if err != nil {
		return qmp.StatusInfo{}, err
	}
	return c.Status(ctx)
}

// lookup returns the live VM id, adopting its QEMU when this driver does not know it
// yet, or nil when no QEMU runs for it. With scan, a QEMU whose pid file is missing or
// stale is also searched for in /proc (before starting or removing a VM).
func (d *Driver) lookup(ctx context.Context, id int64, scan bool) *vm {
	d.mu.Lock()
	v := d.vms[id]
	d.mu.Unlock()
	if v != nil {
		if v.alive() {
			return v
		}
		d.forget(v)
	}
	return d.adopt(ctx, id, scan)
}

// adopt finds the QEMU of VM id and connects to it. It returns the VM even when its
// QMP socket does not answer, so that it can still be killed.
func (d *Driver) adopt(ctx context.Context, id int64, scan bool) *vm {
	m := d.procLock(id)
	m.Lock()
	defer m.Unlock()
	d.mu.Lock()
	if v := d.vms[id]; v != nil && v.alive() {
		d.mu.Unlock()
		return v
	}
	d.mu.Unlock()

	v := d.newVM(id, 0, nil)
	v.pid = readPid(filepath.Join(v.dir, pidFile))
	if v.pid == 0 || !pidAlive(v.pid, v.marker) {
		v.pid = 0
		if scan {
			v.pid = findProcess(v.marker)
		}
		if v.pid == 0 {
			return nil
		}
	}
	if _, err := v.qmp(ctx); err != nil {
		d.log.Warn("qemu of vm runs but its qmp socket does not answer", "vm", id, "pid", v.pid, "err", err)
	}
	d.register(v)
	return v
}

// register records v and starts watching it.
func (d *Driver) register(v *vm) {
	d.mu.Lock()
	d.vms[v.id] = v
	d.mu.Unlock()
	select {
	case <-d.closing:
		return
	default:
	}
	d.wg.Add(1)
	go d.supervise(v)
}

// forget drops v from the driver's records and closes its connection.
func (d *Driver) forget(v *vm) {
	d.mu.Lock()
	if d.vms[v.id] == v {
		delete(d.vms, v.id)
	}
	d.mu.Unlock()
	v.closeClient()
}

// supervise runs while v's process lives: it quits QEMU when the guest powers off, and
// reconnects QMP when the connection ends while QEMU still runs.
func (d *Driver) supervise(v *vm) {
	defer d.wg.Done()
	for {
		if c := v.currentClient(); c != nil && c.Err() == nil {
			if d.watch(v, c) {
				return
			}
		}
		if d.waitLost(v) {
			return
		}
	}
}

// watch follows one QMP connection until it ends (false) or v is gone or the driver
// closes (true).
func (d *Driver) watch(v *vm, c *qmp.Client) bool {
	events, cancel := c.Subscribe(func(ev qmp.Event) bool { return ev.Name == "SHUTDOWN" })
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(context.Background(), quitTimeout)
	st, err := c.Status(ctx)
	cancelCtx()
	if err == nil && st.Status == "shutdown" {
		d.quitPoweredOff(v, c, "powered off while unwatched")
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return false
			}
			var data struct {
				Guest  bool   `json:"guest"`
				Reason string `json:"reason"`
			}
			if ev.Decode(&data) == nil && data.Guest {
				d.quitPoweredOff(v, c, data.Reason)
			}
		case <-v.exited:
			return true
		case <-d.closing:
			return true
		}
	}
}

// quitPoweredOff ends the QEMU process of a guest that powered off (-no-shutdown keeps
// it alive until then).
func (d *Driver) quitPoweredOff(v *vm, c *qmp.Client, reason string) {
	d.log.Info("guest powered off, quitting qemu", "vm", v.id, "reason", reason)
	ctx, cancel := context.WithTimeout(context.Background(), quitTimeout)
	defer cancel()
	if err := c.Quit(ctx); err != nil {
		d.log.Warn("quit powered-off vm", "vm", v.id, "err", err)
	}
}

// waitLost runs when v has no working QMP connection: it returns true when the process
// is gone or the driver closes, false once reconnected.
func (d *Driver) waitLost(v *vm) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	since := time.Now()
	for v.alive() {
		select {
		case <-v.exited:
			return true
		case <-d.closing:
			return true
		case <-t.C:
		}
		if time.Since(since) > redialAfter {
			ctx, cancel := context.WithTimeout(context.Background(), adoptTimeout)
			_, err := v.qmp(ctx)
			cancel()
			if err == nil {
				return false
			}
			d.log.Warn("qmp of running vm unreachable", "vm", v.id, "pid", v.pid, "err", err)
			since = time.Now()
		}
	}
	return true
}

// kill ends v's QEMU at once: QMP quit, then SIGKILL. It returns when the process is
// gone, and removes the run files QEMU leaves behind.
func (d *Driver) kill(v *vm) error {
	defer d.forget(v)
	if v.alive() {
		if c := v.currentClient(); c != nil && c.Err() == nil {
			ctx, cancel := context.WithTimeout(context.Background(), quitTimeout)
			if err := c.Quit(ctx); err != nil {
				d.log.Warn("qmp quit failed, killing qemu", "vm", v.id, "err", err)
			}
			_ = v.wait(ctx)
			cancel()
		}
	}
	if v.alive() {
		d.log.Warn("killing qemu", "vm", v.id, "pid", v.pid)
		if err := v.signal(syscall.SIGKILL); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
		defer cancel()
		if err := v.wait(ctx); err != nil {
			return fmt.Errorf("qemu pid %d still alive after SIGKILL: %w", v.pid, err)
		}
	}
	for _, f := range []string{pidFile, qmpSock, consoleSock} {
		_ = os.Remove(filepath.Join(v.dir, f))
	}
	return nil
}

// readPid returns the pid in a pid file, 0 if there is none.
func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// pidAlive reports whether pid is a live process (not a zombie, whose command line is
// empty) whose command line contains marker.
func pidAlive(pid int, marker string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(b, []byte(marker))
}

// findProcess returns the pid of a live process whose command line contains marker,
// 0 if there is none.
func findProcess(marker string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if pidAlive(pid, marker) {
			return pid
		}
	}
	return 0
}
