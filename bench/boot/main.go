// Command boot measures how long a VM takes to boot through berthd, side by side with a bare
// qemu-system-x86_64 boot of the same image with the same flags in the same run, and how long
// a hot memory update takes to reach the guest (issue 3 §7).
//
// Boot: a Berth run times hosting.vm.create_from (Berth Tiny, 256 MB, 1 core) from the call to
// the guest's BERTH-BOOTED line in the VM's console log, then stops and deletes the VM
// (untimed). A bare run replays the QEMU command line berthd used for its first VM, read from
// /proc/PID/cmdline, on fresh copies of its files (a qcow2 overlay of the same image disk, a
// copy of the seed ISO, new QMP, console and pidfile paths), with one change: the tap netdev
// (fd=N, which cannot be replayed) becomes `-netdev user,...,restrict=on`, which keeps the same
// NIC model; it is timed from exec to BERTH-BOOTED. Berth and bare runs alternate (B, b, B, b,
// ...) so that drift of the machine's load hits both alike. It prints every run, the medians,
// min and max, the ratio berth/bare and whether Berth adds at most 10 %.
//
// Memory: on the VMs of the first -mem-runs Berth runs, once booted (each a fresh 256 MB
// guest, so every run measures the same 256 → 768 MB step), hosting.vm.update {memory: 768}
// is timed from the call until the guest's MemTotal, polled through the console socket, has
// grown by at least 500 MiB. It prints each run and the median.
//
// berthd runs with the qemu backend on a fresh data directory, its datacenters in network
// namespaces with a prefix unique to this run (deleted at the end), its API on 127.0.0.1.
// The bench needs root, QEMU and the built images (make tiny). It exits non-zero only on
// errors (a failed call or operation, a guest that does not boot), never on a missed target.
// See bench/README.md.
//
// Usage: go run ./bench/boot [-runs 10] [-mem-runs 5] [-images DIR] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/bench/internal/qemubench"
)

// options are the command-line flags.
type options struct {
	runs, memRuns, warmup int
	images                string
	keep                  bool
	berthd                string
	bootTimeout           time.Duration
	idle                  time.Duration
}

// What the bench creates and measures.
const (
	imageLabel   = "Berth Tiny"
	vmMemoryMB   = 256
	memTargetMB  = 768
	memGrowthKiB = 500 * 1024 // the guest must see at least this much more MemTotal
	targetRatio  = 1.10       // Berth adds at most 10 % to a bare boot
	handle       = "bench-boot"
)

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 10, "measured boots of each kind (berth and bare, alternating)")
	flag.IntVar(&o.memRuns, "mem-runs", 5, "memory updates measured, on the VMs of the first Berth runs (at most -runs)")
	flag.IntVar(&o.warmup, "warmup", 1, "unmeasured pairs of boots first (warm page cache); the first Berth boot's QEMU command line is the bare runs' template")
	flag.StringVar(&o.images, "images", qemubench.DefaultImages(), "directory of built guest images (make tiny)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (berthd's data, logs, the bare runs' files); its path is printed")
	flag.StringVar(&o.berthd, "berthd", "", "berthd binary (default: go build ./cmd/berthd)")
	flag.DurationVar(&o.bootTimeout, "boot-timeout", 3*time.Minute, "longest wait for one guest to boot")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "how long berthd's CPU use is measured with no VM and no call, before the runs (0 skips)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/boot:", err)
		os.Exit(1)
	}
}

// check validates the options.
func (o options) check() error {
	switch {
	case o.runs < 1:
		return errors.New("-runs must be at least 1")
	case o.memRuns < 0 || o.memRuns > o.runs:
		return errors.New("-mem-runs must be between 0 and -runs (it uses the VMs of the Berth runs)")
	case o.warmup < 0:
		return errors.New("-warmup must not be negative")
	case o.bootTimeout <= 0:
		return errors.New("-boot-timeout must be positive")
	case o.idle < 0:
		return errors.New("-idle must not be negative")
	}
	return nil
}

// preflight checks what the bench needs from the machine, with errors that say what to do.
func preflight(o *options) (err error) {
	o.images, err = qemubench.Preflight(o.images, imageLabel)
	return err
}

// run is the whole bench.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	if err := o.check(); err != nil {
		return err
	}
	if err := preflight(&o); err != nil {
		return err
	}
	work, done, err := proc.WorkDir("boot", o.keep, out)
	if err != nil {
		return err
	}
	defer done()
	if strings.ContainsAny(work, ",=") {
		return fmt.Errorf("work directory %q holds a comma or '=': QEMU options cannot carry it", work)
	}
	bin := o.berthd
	if bin == "" {
		fmt.Fprintf(out, "building berthd from %s...\n", sourceRev(ctx))
		if bin, err = proc.BuildBerthd(ctx, work, "bench-boot-daemon"); err != nil {
			return err
		}
	}
	b := &berthd{bin: bin, data: filepath.Join(work, "data"), images: o.images, prefix: fmt.Sprintf("bboot%d-", os.Getpid())}
	key, err := b.account(ctx, handle)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "starting berthd (qemu backend, network namespaces %s*)...\n", b.prefix)
	if err := b.start(ctx); err != nil {
		b.cleanup(out)
		return err
	}
	defer func() {
		if e := b.stop(); err == nil {
			err = e
		}
		if e := b.cleanup(out); err == nil {
			err = e
		}
	}()
	c := newRPC(b.url)
	defer c.close()
	disk, dc, err := imageDisk(ctx, c, key, imageLabel)
	if err != nil {
		return err
	}
	idle, err := idleCPU(ctx, b.pid(), o.idle)
	if err != nil {
		return err
	}
	s := &session{o: o, b: b, c: c, key: key, disk: disk, dc: dc, bareDir: filepath.Join(work, "bare"), out: out}
	res, err := s.measure(ctx)
	if err != nil {
		return err
	}
	res.idle = idle
	report(out, o, res)
	return nil
}

// idleCPU returns the share of a core process pid uses over d (the bench makes no call
// meanwhile).
func idleCPU(ctx context.Context, pid int, d time.Duration) (float64, error) {
	if d == 0 {
		return 0, nil
	}
	c0, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	c1, err := procCPU(pid)
	return (c1 - c0).Seconds() / d.Seconds(), err
}

// sourceRev describes the source tree berthd is built from: git describe, "-dirty" when
// files changed.
func sourceRev(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "the working tree"
	}
	return "git " + strings.TrimSpace(string(out))
}
