// Command migrate measures a live migration through Berth against the bare QEMU recipe on
// the same guest, side by side in one run (issue 11): total time and downtime (the longest
// gap in replies to a ping every 10 ms), and prints the ratios. Goals, for the Tiny guest:
// total at most 1.2× bare, downtime under 300 ms.
//
// Berth: the local cluster of `make cluster` (internal/cluster: PostgreSQL, an API server,
// agents h1-h3 joined by VXLAN), the Tiny VM (256 MB) created through the API, moved back
// and forth between two hosts with `berthd admin vm move --no-wait`, its vm_move operation
// followed through the API. The pings come from a guest stand-in namespace cabled to the
// third host's datacenter bridge (the hosts' own namespaces hold the anycast gateway, whose
// replies never leave the host).
//
// Bare: the same QEMU command line (read from the Berth VM's /proc/PID/cmdline: same image,
// kernel, initrd, cmdline, memory, devices, seed copy), its tap opened by name in a bridge
// of a namespace of the bench's, with fresh qcow2 overlays on the same base; two QEMU
// processes at a time, driven by raw QMP with the recipe of multihost.md §2 and the
// parameters of Berth's driver, migrating over the namespace's loopback (Berth's agents
// migrate over 127.0.0.1 too). The pings come from a stand-in namespace on that bridge.
//
// Berth and bare runs alternate (B, b, B, b, ...). It exits non-zero only on errors, never
// on a missed goal, and removes everything it made (cluster, namespaces, QEMUs, files),
// also on errors and ^C. See bench/README.md.
//
// Usage: go run ./bench/migrate [-runs 5] [-images DIR] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/bench/internal/qemubench"
	"github.com/berth-io/berth/client"
	"github.com/berth-io/berth/internal/cluster"
	"github.com/berth-io/berth/internal/netdev/linux"
)

// What the bench creates.
const (
	imageLabel = "Berth Tiny"
	vmMemoryMB = 256
	pingerAddr = 254 // last octet of the ping stand-ins' address, in the guest's /24
)

// options are the command-line flags.
type options struct {
	runs        int
	warmup      int
	images      string
	berthd      string
	keep        bool
	bootTimeout time.Duration
	moveTimeout time.Duration
	settle      time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "migrations of each kind (berth and bare, alternating)")
	flag.IntVar(&o.warmup, "warmup", 1, "unmeasured pairs of migrations first (guests just booted are still busy)")
	flag.StringVar(&o.images, "images", qemubench.DefaultImages(), "directory of built guest images (make tiny)")
	flag.StringVar(&o.berthd, "berthd", "", "berthd binary (default: go build ./cmd/berthd)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, bare QEMU files); its path is printed")
	flag.DurationVar(&o.bootTimeout, "boot-timeout", 3*time.Minute, "longest wait for a guest to boot")
	flag.DurationVar(&o.moveTimeout, "move-timeout", 5*time.Minute, "longest a migration may take")
	flag.DurationVar(&o.settle, "settle", time.Second, "pause between two migrations, with the pings running after each")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/migrate:", err)
		os.Exit(1)
	}
}

// check validates the options.
func (o options) check() error {
	switch {
	case o.runs < 1:
		return errors.New("-runs must be at least 1")
	case o.warmup < 0:
		return errors.New("-warmup must not be negative")
	case o.bootTimeout <= 0 || o.moveTimeout <= 0:
		return errors.New("-boot-timeout and -move-timeout must be positive")
	case o.settle < 200*time.Millisecond:
		return errors.New("-settle must be at least 200ms: the pings need replies after the migration")
	}
	return nil
}

// preflight checks what the bench needs from the machine.
func preflight(o *options) (err error) {
	if o.images, err = qemubench.Preflight(o.images, imageLabel); err != nil {
		return err
	}
	for _, bin := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: %w", bin, err)
		}
	}
	if _, err := os.Stat(filepath.Join("scripts", "start-pg.sh")); err != nil {
		return fmt.Errorf("run from the repository root (scripts/start-pg.sh starts PostgreSQL): %w", err)
	}
	return nil
}

// run is the whole bench.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	if err := o.check(); err != nil {
		return err
	}
	if err := preflight(&o); err != nil {
		return err
	}
	work, done, err := proc.WorkDir("migrate", o.keep, out)
	if err != nil {
		return err
	}
	defer done()
	prefix := fmt.Sprintf("bmg%x-", os.Getpid())
	defer func() {
		if cerr := linux.Cleanup(prefix); cerr != nil && err == nil {
			err = cerr
		}
	}()
	bin := o.berthd
	if bin == "" {
		fmt.Fprintln(out, "building berthd...")
		if bin, err = proc.BuildBerthd(ctx, work, "bench-migrate-daemon"); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "starting the local cluster (PostgreSQL, API, agents h1-h3; namespaces %s*)...\n", prefix)
	c, err := cluster.Up(ctx, cluster.Config{Dir: filepath.Join(work, "cluster"), Bin: bin, Scripts: "scripts",
		Images: o.images, Prefix: prefix + "c-", Hosts: 3})
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			for _, h := range c.State.Hosts {
				_ = qemubench.CopyFile(filepath.Join(h.Data, "berthd.log"), filepath.Join(work, h.Name+"-berthd.log"))
			}
		}
		if derr := c.Down(); derr != nil && err == nil {
			err = derr
		}
	}()
	b := &berth{c: c, api: client.New(c.State.URL, c.State.Key)}
	fmt.Fprintf(out, "creating the %s VM (%d MB) and waiting for its boot...\n", imageLabel, vmMemoryMB)
	if err := b.createVM(ctx, o.bootTimeout); err != nil {
		return err
	}
	pid, err := b.qemuPID()
	if err != nil {
		return err
	}
	t, err := capture(pid, b.vmDir(b.host), work)
	if err != nil {
		return err
	}
	pAddr, err := pingerPrefix(b.ip)
	if err != nil {
		return err
	}
	berthPinger := prefix + "pc"
	if err := addPinger(ctx, berthPinger, b.hostInfo(b.pingHost).Netns, linux.PublicBridge, pAddr); err != nil {
		return err
	}
	bb, err := newBare(ctx, t, prefix+"bare", filepath.Join(work, "bare"))
	if err != nil {
		return err
	}
	defer bb.close()
	barePinger := prefix + "pb"
	if err := addPinger(ctx, barePinger, bb.ns, bareBridge, pAddr); err != nil {
		return err
	}
	fmt.Fprintln(out, "booting the bare QEMU...")
	if err := bb.boot(ctx, o.bootTimeout); err != nil {
		return err
	}
	res := &results{loadBefore: proc.LoadAvg(), bareCmd: bb.cmdline(), warmup: o.warmup,
		pingFrom: fmt.Sprintf("%s (a stand-in on %s's datacenter bridge, through VXLAN)", pAddr.Addr(), b.pingHost),
		bareFrom: fmt.Sprintf("%s (a stand-in on the bench's bridge)", pAddr.Addr())}
	fmt.Fprintf(out, "vm %d (%s) on %s; load average %s\n", b.vm, b.ip, b.host, res.loadBefore)
	for i := 1 - o.warmup; i <= o.runs; i++ {
		label := fmt.Sprintf("run %d", i)
		if i < 1 {
			label = fmt.Sprintf("warm-up %d", i+o.warmup)
		}
		bs, err := pinged(ctx, berthPinger, b.ip, o.settle, func() (sample, error) { return b.move(ctx, o.moveTimeout) })
		if err != nil {
			return fmt.Errorf("berth %s: %w%s", label, err, fdbs(ctx, c))
		}
		fmt.Fprintln(out, runLine(label, "berth", bs))
		xs, err := pinged(ctx, barePinger, b.ip, o.settle, func() (sample, error) { return bb.migrate(ctx) })
		if err != nil {
			return fmt.Errorf("bare %s: %w", label, err)
		}
		fmt.Fprintln(out, runLine(label, "bare", xs))
		if i >= 1 {
			res.berth, res.bare = append(res.berth, bs), append(res.bare, xs)
		}
	}
	res.loadAfter = proc.LoadAvg()
	report(out, res)
	return nil
}

// pinged runs migrate while pinging addr from namespace ns: the pings start (and reach a
// steady state) before, and go on for settle after, or until the guest answers again.
func pinged(ctx context.Context, ns, addr string, settle time.Duration, migrate func() (sample, error)) (sample, error) {
	p, err := startPing(ctx, ns, addr, time.Minute)
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	s, err := migrate()
	end := time.Now()
	// settle, or until the guest answers again (the gap may outlast settle), at most 30 s.
	for err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		rs := parsePing(p.out.String())
		if time.Since(end) >= settle && (len(rs) > 0 && rs[len(rs)-1].at.After(end) || time.Since(end) > 30*time.Second) {
			break
		}
	}
	rs, perr := p.stop()
	if err != nil {
		return s, err
	}
	if perr != nil {
		return s, perr
	}
	s.gap, err = longestGap(rs, start, end)
	return s, err
}

// pingerPrefix is the stand-ins' address: .254 of the guest's /24.
func pingerPrefix(guest string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(guest)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("guest address %q is not IPv4", guest)
	}
	b := a.As4()
	if b[3] == pingerAddr {
		return netip.Prefix{}, fmt.Errorf("guest address %s is the pinger's", guest)
	}
	b[3] = pingerAddr
	return netip.PrefixFrom(netip.AddrFrom4(b), 24), nil
}

// addPinger makes namespace ns, a guest stand-in whose veth is a port of bridge in
// namespace brNS, with address addr.
func addPinger(ctx context.Context, ns, brNS, bridge string, addr netip.Prefix) error {
	port := "bmp" + strings.TrimPrefix(ns[strings.LastIndexByte(ns, '-')+1:], "p")
	for _, c := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", brNS},
		{"-n", brNS, "link", "set", port, "master", bridge, "up"},
		{"-n", ns, "addr", "add", addr.String(), "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	} {
		if err := ip(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// fdbs describes the learned forwarding entries of every host's datacenter bridge and
// tunnel, for an error where the guest stops answering.
func fdbs(ctx context.Context, c *cluster.Cluster) string {
	var b strings.Builder
	for _, h := range c.State.Hosts {
		out, err := exec.CommandContext(ctx, "bridge", "-n", h.Netns, "fdb", "show").CombinedOutput()
		fmt.Fprintf(&b, "\n%s's forwarding entries (%v):", h.Name, err)
		for _, l := range strings.Split(string(out), "\n") {
			if l != "" && !strings.Contains(l, "permanent") {
				b.WriteString("\n  " + l)
			}
		}
	}
	return b.String()
}
