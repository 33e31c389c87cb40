package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/bench/internal/qemubench"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// Parameters of the bare recipe: the same as Berth's driver (internal/hypervisor/qemu
// migrate.go), written out here so that the baseline does not depend on Berth's code.
const (
	bareMaxBandwidth = 10 << 30 // bytes/s, as qemu.DefaultMaxBandwidth
	bareMigNode      = "mig-d"  // the source's NBD client node and mirror job
	bareBridge       = "br0"
	bareTimeout      = 5 * time.Minute // one migration
)

// template is the QEMU command line of the Berth VM, captured once from /proc, that
// every bare QEMU replays with its own files and tap.
type template struct {
	exe     string
	args    []string
	vmDir   string // the Berth VM's run directory
	disk    string // path of its qcow2 overlay
	node    string // that disk's block node name
	backing string // its base image
	size    int64  // its virtual size
	seedArg string // path of its raw seed ISO on its command line ("" for none)
	seed    string // the bench's copy of it
}

// capture reads the command line of QEMU pid, running in vmDir, and keeps a copy of its
// seed in dir.
func capture(pid int, vmDir, dir string) (*template, error) {
	exe, args, err := qemubench.Cmdline(pid)
	if err != nil {
		return nil, err
	}
	t := &template{exe: exe, args: args, vmDir: vmDir}
	for i := 1; i < len(t.args); i++ {
		if t.args[i-1] != "-blockdev" {
			continue
		}
		bd, err := qemubench.ParseBlockdev(t.args[i])
		if err != nil {
			return nil, err
		}
		switch {
		case bd.Driver == "qcow2" && t.disk == "":
			t.disk, t.node = bd.File.Filename, bd.Node
		case bd.Driver == "raw" && t.seedArg == "":
			t.seedArg = bd.File.Filename
		default:
			return nil, fmt.Errorf("-blockdev %s: the bench handles one qcow2 disk and one raw seed", t.args[i])
		}
	}
	if t.disk == "" {
		return nil, errors.New("the Berth VM has no qcow2 disk")
	}
	info, err := qemubench.ImageInfo(t.disk)
	if err != nil {
		return nil, err
	}
	if info.Backing == "" {
		return nil, fmt.Errorf("disk %s has no base image", t.disk)
	}
	t.backing, t.size = info.Backing, info.VirtualSize
	if t.seedArg != "" {
		// Berth removes the seed when the VM leaves the host: keep a copy.
		t.seed = filepath.Join(dir, "seed.iso")
		if err := qemubench.CopyFile(t.seedArg, t.seed); err != nil {
			return nil, err
		}
	}
	if _, err := t.argsFor("/check", "/check/disk.qcow2", "/check/seed.iso", "tap0"); err != nil {
		return nil, err
	}
	return t, nil
}

// argsFor translates the template for a QEMU in dir with its disk, seed and tap: paths
// of the Berth VM's run directory move to dir, the tap passed as a descriptor (fd=N)
// becomes one opened by name. Any other descriptor is an error.
func (t *template) argsFor(dir, disk, seed, tap string) ([]string, error) {
	out := make([]string, len(t.args))
	for i, a := range t.args {
		prev := ""
		if i > 0 {
			prev = t.args[i-1]
		}
		switch prev {
		case "-name":
			a = "bench-migrate"
		case "-blockdev":
			var m map[string]any
			if err := json.Unmarshal([]byte(a), &m); err != nil {
				return nil, err
			}
			f, _ := m["file"].(map[string]any)
			switch f["filename"] {
			case t.disk:
				f["filename"] = disk
			case t.seedArg:
				f["filename"] = seed
			default:
				return nil, fmt.Errorf("-blockdev %s: not the disk nor the seed", a)
			}
			b, err := json.Marshal(m)
			if err != nil {
				return nil, err
			}
			a = string(b)
		case "-netdev":
			opts := strings.Split(a, ",")
			if opts[0] == "tap" {
				keep := []string{"tap", "ifname=" + tap, "script=no", "downscript=no"}
				for _, o := range opts[1:] {
					if !strings.HasPrefix(o, "fd=") {
						keep = append(keep, o)
					}
				}
				a = strings.Join(keep, ",")
			}
		}
		a = strings.ReplaceAll(a, t.vmDir+"/", dir+"/")
		for o := range strings.SplitSeq(a, ",") {
			if strings.HasPrefix(o, "fd=") || strings.HasPrefix(o, "fds=") || a == "-add-fd" {
				return nil, fmt.Errorf("argument %q passes a file descriptor: it cannot be replayed", a)
			}
		}
		out[i] = a
	}
	return out, nil
}

// bare is the bare side: a network namespace with a bridge (where every bare QEMU's tap
// goes, as taps go into a host's datacenter bridge) and the QEMU processes.
type bare struct {
	t   *template
	ns  string // the bridge's namespace; QEMU runs in it, migrating over its loopback
	dir string
	n   int       // QEMUs started, for names and ports
	cur *bareQEMU // where the guest runs
}

// bareQEMU is one bare QEMU process.
type bareQEMU struct {
	n    int
	dir  string
	tap  string
	cmd  *exec.Cmd
	done chan error
	qmp  *qmp.Client
}

// newBare makes the namespace and its bridge (192.0.2.1/24, as a datacenter gateway).
func newBare(ctx context.Context, t *template, ns, dir string) (*bare, error) {
	for _, c := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", bareBridge, "type", "bridge"},
		{"-n", ns, "addr", "add", "192.0.2.1/24", "dev", bareBridge},
		{"-n", ns, "link", "set", bareBridge, "up"},
	} {
		if err := ip(ctx, c...); err != nil {
			return nil, err
		}
	}
	return &bare{t: t, ns: ns, dir: dir}, os.MkdirAll(dir, 0o700)
}

// ip runs the ip command.
func ip(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// launch prepares and starts a QEMU: a qcow2 overlay on the same base, a copy of the
// seed, a tap in the bridge, and the template's command line (plus -S -incoming defer
// for a migration target). It returns once QMP answers.
func (b *bare) launch(ctx context.Context, incoming bool) (*bareQEMU, error) {
	b.n++
	q := &bareQEMU{n: b.n, dir: filepath.Join(b.dir, fmt.Sprintf("q%d", b.n)), tap: fmt.Sprintf("bt%d", b.n), done: make(chan error, 1)}
	if err := os.MkdirAll(q.dir, 0o700); err != nil {
		return nil, err
	}
	disk, seed := filepath.Join(q.dir, "disk.qcow2"), filepath.Join(q.dir, "seed.iso")
	cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", b.t.backing, "-F", "qcow2", disk, strconv.FormatInt(b.t.size, 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu-img create: %v: %s", err, out)
	}
	if b.t.seed != "" {
		if err := qemubench.CopyFile(b.t.seed, seed); err != nil {
			return nil, err
		}
	}
	for _, c := range [][]string{
		{"-n", b.ns, "tuntap", "add", "dev", q.tap, "mode", "tap"},
		{"-n", b.ns, "link", "set", q.tap, "master", bareBridge, "up"},
	} {
		if err := ip(ctx, c...); err != nil {
			return nil, err
		}
	}
	args, err := b.t.argsFor(q.dir, disk, seed, q.tap)
	if err != nil {
		return nil, err
	}
	if incoming {
		args = append(args, "-S", "-incoming", "defer")
	}
	logf, err := os.Create(filepath.Join(q.dir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	q.cmd = exec.Command("ip", append([]string{"netns", "exec", b.ns, b.t.exe}, args...)...)
	q.cmd.Stdout, q.cmd.Stderr = logf, logf
	q.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // a ^C reaches the bench only
	if err := q.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { q.done <- q.cmd.Wait() }()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if q.qmp, err = qmp.Dial(dctx, filepath.Join(q.dir, "qmp.sock")); err != nil {
		log, _ := os.ReadFile(filepath.Join(q.dir, "qemu.log"))
		b.kill(q)
		return nil, fmt.Errorf("%w: %s", err, bytes.TrimSpace(log))
	}
	return q, nil
}

// kill stops a QEMU at once and removes its tap and files.
func (b *bare) kill(q *bareQEMU) {
	if q == nil {
		return
	}
	if q.qmp != nil {
		q.qmp.Close()
	}
	_ = q.cmd.Process.Kill()
	<-q.done
	q.done <- nil
	_ = ip(context.Background(), "-n", b.ns, "link", "del", q.tap)
	_ = os.RemoveAll(q.dir)
}

// quit ends a QEMU with QMP quit and removes its tap and files.
func (b *bare) quit(ctx context.Context, q *bareQEMU) error {
	if err := q.qmp.Quit(ctx); err != nil && !errors.Is(err, io.EOF) {
		b.kill(q)
		return err
	}
	select {
	case <-q.done:
		q.done <- nil
	case <-time.After(10 * time.Second):
	}
	b.kill(q)
	return nil
}

// close stops every QEMU left.
func (b *bare) close() {
	if b.cur != nil {
		b.kill(b.cur)
		b.cur = nil
	}
}

// boot starts the first QEMU and waits for the guest's BERTH-BOOTED.
func (b *bare) boot(ctx context.Context, timeout time.Duration) error {
	q, err := b.launch(ctx, false)
	if err != nil {
		return err
	}
	b.cur = q
	return waitBooted(ctx, filepath.Join(q.dir, "console.log"), timeout, func() error {
		select {
		case err := <-q.done:
			q.done <- err
			return fmt.Errorf("bare qemu exited (%v)", err)
		default:
			return nil
		}
	})
}

// cmdline is the first bare QEMU's command line, for the report.
func (b *bare) cmdline() string {
	args, _ := b.t.argsFor(filepath.Join(b.dir, "qN"), filepath.Join(b.dir, "qN", "disk.qcow2"), filepath.Join(b.dir, "qN", "seed.iso"), "btN")
	return "ip netns exec " + b.ns + " " + b.t.exe + " " + strings.Join(args, " ")
}

// migrate moves the guest to a new QEMU with the recipe of multihost.md §2, driven by
// QMP events, and returns the timings. total runs from the target's preparation to the
// guest running there; the source is then quit and removed (cleanup).
func (b *bare) migrate(ctx context.Context) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, bareTimeout)
	defer cancel()
	var s sample
	src := b.cur
	t0 := time.Now()
	dst, err := b.launch(ctx, true)
	if err != nil {
		return s, fmt.Errorf("target: %w", err)
	}
	s.from, s.to = fmt.Sprintf("q%d", src.n), fmt.Sprintf("q%d", dst.n)
	fail := func(err error) (sample, error) {
		// The guest stays on the source: resume it if it was paused.
		_ = src.qmp.MigrateCancel(context.Background())
		_ = src.qmp.Cont(context.Background())
		b.kill(dst)
		return s, err
	}
	// Ports on the namespace's loopback, one pair per migration.
	nbdPort, migPort := 20000+2*dst.n, 20001+2*dst.n
	uri := "tcp:127.0.0.1:" + strconv.Itoa(migPort)
	dq, sq := dst.qmp, src.qmp
	if err := dq.MigrateSetCapabilities(ctx, map[string]bool{"events": true, "late-block-activate": true}); err != nil {
		return fail(err)
	}
	if err := dq.NBDServerStart(ctx, "127.0.0.1", nbdPort, nil); err != nil {
		return fail(err)
	}
	if err := dq.BlockExportAddNBD(ctx, b.t.node, true); err != nil {
		return fail(err)
	}
	if err := dq.MigrateIncoming(ctx, uri); err != nil {
		return fail(err)
	}
	s.milestones[0] = time.Since(t0)
	arrived := dq.Expect("MIGRATION", status("completed"))
	defer arrived.Cancel()
	// Source: mirror the disk into the target's export until in sync.
	if err := sq.BlockdevAddNBD(ctx, bareMigNode, "127.0.0.1", nbdPort, b.t.node, nil); err != nil {
		return fail(err)
	}
	ready := sq.Expect("BLOCK_JOB_READY", nil)
	if err := sq.BlockdevMirror(ctx, bareMigNode, b.t.node, bareMigNode, "top"); err != nil {
		ready.Cancel()
		return fail(err)
	}
	if _, err := ready.Wait(ctx); err != nil {
		return fail(err)
	}
	s.milestones[1] = time.Since(t0)
	// RAM, paused before the switchover.
	if err := sq.MigrateSetCapabilities(ctx, map[string]bool{"events": true, "pause-before-switchover": true, "auto-converge": true}); err != nil {
		return fail(err)
	}
	if err := sq.MigrateSetParameters(ctx, map[string]any{"max-bandwidth": bareMaxBandwidth}); err != nil {
		return fail(err)
	}
	pre := sq.Expect("MIGRATION", status("pre-switchover"))
	if err := sq.Migrate(ctx, uri); err != nil {
		pre.Cancel()
		return fail(err)
	}
	if _, err := pre.Wait(ctx); err != nil {
		return fail(err)
	}
	// The guest is paused: complete the mirror (no pivot), close it, switch over.
	completed := sq.Expect("BLOCK_JOB_COMPLETED", nil)
	if err := sq.BlockJobCancel(ctx, bareMigNode, false); err != nil {
		completed.Cancel()
		return fail(err)
	}
	if _, err := completed.Wait(ctx); err != nil {
		return fail(err)
	}
	if err := sq.BlockdevDel(ctx, bareMigNode); err != nil {
		return fail(err)
	}
	done := sq.Expect("MIGRATION", status("completed"))
	if err := sq.MigrateContinue(ctx, "pre-switchover"); err != nil {
		done.Cancel()
		return fail(err)
	}
	if _, err := done.Wait(ctx); err != nil {
		return fail(err)
	}
	// Past the switchover the target holds the guest: no going back.
	s.milestones[2] = time.Since(t0)
	b.cur = dst
	if _, err := arrived.Wait(ctx); err != nil {
		return s, fmt.Errorf("target: %w", err)
	}
	if err := dq.BlockExportDel(ctx, b.t.node); err != nil {
		return s, err
	}
	if err := dq.NBDServerStop(ctx); err != nil {
		return s, err
	}
	if err := dq.Cont(ctx); err != nil {
		return s, err
	}
	// As Berth does: the announce during the incoming migration ran while the guest was
	// paused (-S); announce again, running.
	if err := dq.AnnounceSelf(ctx); err != nil {
		return s, err
	}
	s.total = time.Since(t0)
	s.running, s.milestones[3] = s.total, s.total
	mi, err := sq.QueryMigrate(ctx)
	if err != nil {
		return s, err
	}
	s.qemuTotal, s.qemuDowntime = time.Duration(mi.TotalTime)*time.Millisecond, time.Duration(mi.Downtime)*time.Millisecond
	if err := b.quit(ctx, src); err != nil {
		return s, fmt.Errorf("quit the source: %w", err)
	}
	s.cleanup = time.Since(t0) - s.total
	return s, nil
}

// status matches MIGRATION events of one status.
func status(want string) func(qmp.Event) bool {
	return func(ev qmp.Event) bool { return ev.DataString("status") == want }
}
