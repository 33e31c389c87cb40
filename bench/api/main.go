// Command api measures the throughput and latency of berthd's hosting.vm.info and
// hosting.vm.list (items_per_page 100) with many VMs stored, from concurrent keep-alive
// clients, side by side with a baseline in the same run: a bare net/http server answering
// the canned bytes of a real berthd response of the same call. It prints requests/s, p50
// and p99 of both, their ratio, berthd's peak resident memory, and whether the targets are
// met. It exits non-zero only on errors (a failed request, a fault, a wrong response), not
// on missed targets. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/berth-io/berth/bench/internal/proc"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	vms       int
	clients   int
	duration  time.Duration
	warmup    time.Duration
	rounds    int
	idle      time.Duration
	keep      bool
	data      string
	berthd    string
	seed      string
	apiSample int
	profile   string
	tls       bool
}

// Targets of the issue, on 2 cores.
const (
	targetInfoRate = 5000                   // vm.info requests/s, at least
	targetInfoP99  = 10 * time.Millisecond  // vm.info p99, under
	targetHWM      = 150_000_000            // berthd peak resident bytes, under
	targetInfoCPU  = 100 * time.Microsecond // berthd CPU per vm.info, under
	targetListCPU  = 500 * time.Microsecond // berthd CPU per vm.list page of 100, under
)

// handle is the account the bench creates and loads.
const handle = "bench"

func main() {
	if dir := os.Getenv(baselineEnv); dir != "" {
		if err := serveBaseline(dir); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.vms, "vms", 10000, "VMs in the store")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients, one keep-alive connection each")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before the first round of each call on each server")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per call: berthd and the baseline alternate, each measured duration/rounds per round, so that both see the same background load")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "how long berthd's CPU use is measured without load (0 skips)")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory (its path is printed)")
	flag.StringVar(&o.data, "data", "", "data directory to use and keep; VMs already stored there are reused")
	flag.StringVar(&o.berthd, "berthd", "", "berthd binary (default: go build ./cmd/berthd)")
	flag.StringVar(&o.seed, "seed", "direct", "how VMs are created: direct (-api-sample VMs through hosting.vm.create_from, the rest cloned into the store) or api (all through hosting.vm.create_from: 10,000 take over 10 minutes)")
	flag.IntVar(&o.apiSample, "api-sample", 200, "-seed direct: VMs created through the API, the templates of the clones")
	flag.StringVar(&o.profile, "profile", "", "run berthd inside this process and write a CPU profile of each call to FILE.CALL, and heap, mutex and block profiles to FILE.heap, .mutex, .block; no baseline, no targets")
	flag.BoolVar(&o.tls, "tls", true, "also measure vm.info over HTTPS beside plain HTTP (berthd restarted between phases)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/api:", err)
		os.Exit(1)
	}
}

// check validates the options.
func (o options) check() error {
	switch {
	case o.vms < 1:
		return errors.New("-vms must be at least 1")
	case o.clients < 1:
		return errors.New("-clients must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case o.idle < 0:
		return errors.New("-idle must not be negative")
	case o.rounds < 1 || o.duration/time.Duration(o.rounds) < 100*time.Millisecond:
		return errors.New("-rounds must be at least 1, with rounds of at least 100ms")
	case o.seed != "api" && o.seed != "direct":
		return fmt.Errorf("-seed %q is not api or direct", o.seed)
	case o.apiSample < 1:
		return errors.New("-api-sample must be at least 1")
	}
	return nil
}

// seeding is what the seeding step did.
type seeding struct {
	reused, viaAPI, cloned int
	apiTime, cloneTime     time.Duration
	stored                 int
}

// run is the whole bench.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	if err := o.check(); err != nil {
		return err
	}
	dir, keep := o.data, o.keep || o.data != ""
	if dir == "" {
		if dir, err = os.MkdirTemp("", "berth-bench-api-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if keep {
		defer fmt.Fprintf(out, "data directory kept: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.berthd
	if bin == "" {
		fmt.Fprintf(out, "building berthd from %s...\n", sourceRev(ctx))
		if bin, err = proc.BuildBerthd(ctx, dir, "bench-berth-daemon"); err != nil {
			return err
		}
	}
	cfg := benchConfig()
	cfgPath, err := writeConfig(dir, cfg)
	if err != nil {
		return err
	}
	b := &berthd{bin: bin, data: dir, config: cfgPath}
	key, err := account(ctx, b)
	if err != nil {
		return err
	}
	sd, err := seed(ctx, o, b, key, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "VMs stored: %d (%s)\n", sd.stored, sd.describe())
	if o.profile != "" {
		return runProfile(ctx, o, dir, cfgPath, key, sd, out)
	}
	if err := b.start(ctx); err != nil {
		return err
	}
	defer func() {
		if e := b.stop(); err == nil {
			err = e
		}
	}()
	works, canned, err := workloads(ctx, b.url, key, sd.stored, o.clients)
	if err != nil {
		return b.explain(err)
	}
	webPage, webCookie, err := primeWebPage(ctx, b.url, key, sd.stored)
	if err != nil {
		return b.explain(err)
	}
	canned[callWebVMs] = webPage
	cdir := filepath.Join(dir, "baseline")
	if err := writeCanned(cdir, canned); err != nil {
		return err
	}
	bl, err := startBaseline(ctx, cdir)
	if err != nil {
		return err
	}
	defer func() {
		if e := bl.stop(); err == nil {
			err = e
		}
	}()
	idle, err := idleCPU(ctx, b.pid(), o.idle)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "load average before the measure: %s\n", loadAvg())
	samples, err := measure(ctx, o, b, bl, works, canned, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "load average after the measure: %s\n", loadAvg())
	bm, err := readMemory(b.pid())
	if err != nil {
		return err
	}
	blm, err := readMemory(bl.pid())
	if err != nil {
		return err
	}
	idleCores := 0.0
	if o.idle > 0 {
		idleCores = idle.Seconds() / o.idle.Seconds()
	}
	report(out, o, sd.stored, samples, bm, blm, canned, idleCores)
	if err := measureWebPage(ctx, o, b.url, bl.url, webCookie, webPage, sd.stored, out); err != nil {
		return b.explain(err)
	}
	if err := measureREST(ctx, o, b, key, dir, out); err != nil { // rest.go
		return err
	}
	if o.tls {
		if err := measureTLS(ctx, o, b, works, dir, out); err != nil {
			return err
		}
	}
	if o.idle > 0 {
		fmt.Fprintf(out, "berthd idle, %d VMs stored: %.2f cores over %s (background work: reconciliation, operations queue, billing)\n",
			sd.stored, idle.Seconds()/o.idle.Seconds(), o.idle)
	}
	return nil
}

// measure runs each workload on berthd and on the baseline, alternating in o.rounds
// rounds, and returns a berthd sample and a baseline sample per call.
func measure(ctx context.Context, o options, b *berthd, bl *baseline, works []*workload, canned map[string][]byte, out io.Writer) ([]sample, error) {
	var samples []sample
	for _, w := range works {
		bw := baselineWorkload(w, canned[w.call])
		var onB, onBL sample
		fmt.Fprintf(out, "measuring %s: %d rounds of %s on berthd then the baseline...\n", w.call, o.rounds, o.duration/time.Duration(o.rounds))
		for r := range o.rounds {
			for _, p := range []phase{
				{server: "berthd", url: b.url, w: w, pid: b.pid()},
				{server: "baseline", url: bl.url + "/" + w.call, w: bw, pid: bl.pid()},
			} {
				p.clients, p.duration = o.clients, o.duration/time.Duration(o.rounds)
				if r == 0 {
					p.warmup = o.warmup
				}
				s, err := p.run(ctx)
				if err != nil {
					return nil, b.explain(err)
				}
				if p.server == "berthd" {
					onB.add(s)
				} else {
					onBL.add(s)
				}
				if err := b.alive(); err != nil {
					return nil, err
				}
			}
		}
		onB.finish()
		onBL.finish()
		onB.changed = w.check.decoded.Load() - w.primed
		samples = append(samples, onB, onBL)
	}
	return samples, nil
}

// idleCPU measures the CPU time a process uses for d with no load.
func idleCPU(ctx context.Context, pid int, d time.Duration) (time.Duration, error) {
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
	return c1 - c0, err
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

// account returns the API key of the bench account, creating the account (with plenty of
// credits) the first time and keeping its key in the data directory.
func account(ctx context.Context, b *berthd) (string, error) {
	path := filepath.Join(b.data, "bench.key")
	if k, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(k)), nil
	}
	out, err := b.admin(ctx, "account", "create", "--handle", handle, "--credits", "1000000000")
	if err != nil {
		return "", err
	}
	lines := strings.Split(out, "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

// seed fills the store up to o.vms VMs: through the API (a seeding berthd that is then
// stopped, so the measured berthd starts fresh), then by cloning into the store.
func seed(ctx context.Context, o options, b *berthd, key string, out io.Writer) (seeding, error) {
	var sd seeding
	have, err := countVMs(ctx, b.data, handle)
	if err != nil {
		return sd, err
	}
	sd.reused = have
	if have < o.vms {
		viaAPI := o.vms - have
		if o.seed == "direct" {
			viaAPI = 0
			if have == 0 {
				viaAPI = min(o.apiSample, o.vms) // the templates of the clones
			}
		}
		if viaAPI > 0 {
			if err := b.start(ctx); err != nil {
				return sd, err
			}
			fmt.Fprintf(out, "creating %d VMs through hosting.vm.create_from...\n", viaAPI)
			t0 := time.Now()
			err := b.explain(seedAPI(ctx, b.url, key, have, viaAPI, o.clients, out))
			sd.apiTime, sd.viaAPI = time.Since(t0), viaAPI
			if e := b.stop(); err == nil {
				err = e
			}
			if err != nil {
				return sd, err
			}
		}
		if rest := o.vms - have - sd.viaAPI; rest > 0 {
			fmt.Fprintf(out, "cloning %d VMs into the store...\n", rest)
			t0 := time.Now()
			if err := seedDirect(ctx, b.data, benchConfig(), handle, have+sd.viaAPI, o.vms, 1000); err != nil {
				return sd, err
			}
			sd.cloneTime, sd.cloned = time.Since(t0), rest
		}
	}
	if sd.stored, err = countVMs(ctx, b.data, handle); err != nil {
		return sd, err
	}
	if sd.stored < o.vms {
		return sd, fmt.Errorf("%d vms stored, want %d", sd.stored, o.vms)
	}
	return sd, nil
}

// describe says how the VMs got there.
func (sd seeding) describe() string {
	var parts []string
	if sd.reused > 0 {
		parts = append(parts, fmt.Sprintf("%d already there", sd.reused))
	}
	if sd.viaAPI > 0 {
		parts = append(parts, fmt.Sprintf("%d through hosting.vm.create_from in %s, %.0f VMs/s, all operations done",
			sd.viaAPI, sd.apiTime.Round(time.Millisecond), float64(sd.viaAPI)/sd.apiTime.Seconds()))
	}
	if sd.cloned > 0 {
		parts = append(parts, fmt.Sprintf("%d cloned into the store in %s (halted)", sd.cloned, sd.cloneTime.Round(time.Millisecond)))
	}
	return strings.Join(parts, "; ")
}

// report prints the table, the memory and the targets.
func report(out io.Writer, o options, stored int, samples []sample, bm, blm memory, canned map[string][]byte, idleCores float64) {
	fmt.Fprintf(out, "\n%d clients, %s measured per call and server in %d rounds, after %s of warm-up; %d CPUs, GOMAXPROCS %d\n",
		o.clients, o.duration, o.rounds, o.warmup, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if runtime.NumCPU() != 2 {
		fmt.Fprintf(out, "note: the targets are for 2 cores; this machine has %d\n", runtime.NumCPU())
	}
	printTable(out, samples, canned)
	fmt.Fprintf(out, "\nberthd peak RSS (VmHWM): %s, now %s; baseline peak RSS: %s\n", mb(bm.HWM*1024), mb(bm.RSS*1024), mb(blm.HWM*1024))
	var info, list, infoBL, listBL sample
	for _, s := range samples {
		switch {
		case s.server == "berthd" && s.call == callInfo:
			info = s
		case s.server == "berthd" && s.call == callList:
			list = s
		case s.call == callInfo:
			infoBL = s
		case s.call == callList:
			listBL = s
		}
	}
	fmt.Fprintln(out, "\nserver CPU per request (process CPU from /proc over the measured windows / requests), against the bare replay:")
	cpuLine(out, "vm.info", info, infoBL, idleCores)
	cpuLine(out, "vm.list page", list, listBL, idleCores)
	fmt.Fprintln(out, "\ntargets (2 cores):")
	target(out, fmt.Sprintf("vm.info >= %d req/s", targetInfoRate), info.rate() >= targetInfoRate, fmt.Sprintf("%.0f req/s", info.rate()))
	target(out, fmt.Sprintf("vm.info p99 < %s", targetInfoP99), quantile(info.lat, 0.99) < targetInfoP99, ms(quantile(info.lat, 0.99)))
	target(out, fmt.Sprintf("berthd peak RSS < %s with %d VMs", mb(targetHWM), stored), bm.HWM*1024 < targetHWM, mb(bm.HWM*1024))
	for _, t := range []struct {
		what  string
		s     sample
		limit time.Duration
	}{{"vm.info", info, targetInfoCPU}, {"vm.list page", list, targetListCPU}} {
		got := t.s.perRequest(t.s.serverCPU)
		target(out, fmt.Sprintf("%s server CPU/req < %d µs", t.what, t.limit.Microseconds()), t.s.serverCPU > 0 && got < t.limit, us(got))
	}
}

// cpuLine prints a call's server CPU per request, its ratio to the baseline's, and the same
// less berthd's idle background work over the windows (what remains is the requests' own
// cost; on a busy machine the background's share per request grows as the rate falls).
func cpuLine(out io.Writer, what string, s, bl sample, idleCores float64) {
	if s.n == 0 || s.serverCPU == 0 || bl.n == 0 || bl.serverCPU == 0 {
		fmt.Fprintf(out, "  %-13s unknown\n", what)
		return
	}
	per, blPer := s.perRequest(s.serverCPU), bl.perRequest(bl.serverCPU)
	net := s.perRequest(s.serverCPU - time.Duration(idleCores*float64(s.elapsed)))
	fmt.Fprintf(out, "  %-13s berthd %s, bare replay %s: %.1fx; less berthd's idle background (%.2f cores): %s, %.1fx\n",
		what, us(per), us(blPer), float64(per)/float64(blPer), idleCores, us(net), float64(net)/float64(blPer))
}

func target(out io.Writer, what string, ok bool, got string) {
	verdict := "MISSED"
	if ok {
		verdict = "met"
	}
	fmt.Fprintf(out, "  %-40s %-7s (%s)\n", what, verdict, got)
}

// mb formats bytes in MB (10^6 bytes).
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
