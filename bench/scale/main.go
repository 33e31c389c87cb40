// Command scale measures the operation throughput of berthd (VM create and delete, sim
// backend) on SQLite and on PostgreSQL with one and two agents, side by side in one run
// (issue 6 §6).
//
// Configurations, each on fresh data directories and a fresh database:
//
//   - sqlite: all in one, `berthd serve --backend sim --data DIR` (SQLite in DIR);
//   - pg-1: PostgreSQL, one API server (`serve --role api --db URL`) and one agent
//     (`berthd agent --host h1 --datacenter FR-SD5 --db URL --data DIR2`);
//   - pg-2: the same with two agents, h1 and h2.
//
// PostgreSQL is a throwaway server (scripts/start-pg.sh on a free port, stopped with
// scripts/stop-pg.sh), with one database per configuration and round. Every process gets
// --sim-latency (0 by default: the fake drivers answer at once, so what is measured is the
// control plane: API, store, River queues).
//
// Workload: -vms VMs created with hosting.vm.create_from (in FR-SD5, 256 MB, IPv4) from
// -clients concurrent keep-alive clients, timed from the first call until operation.count
// says no operation is pending (polled every 10 ms); then every VM stopped (hosting.vm.stop,
// all, and wait) and deleted (hosting.vm.delete, all, and wait), timed the same way. Each of
// -rounds rounds runs every configuration once, in turn, so that a change of the machine's
// load hits them alike.
//
// It prints creates/s and deletes/s (VMs per second, median over the rounds, and operations
// per second: a create_from is 3 operations, a delete a stop and a delete), the ratio of
// each configuration to SQLite, the latency of the calls, the CPU time of berthd, the agents
// and PostgreSQL in each phase, and where the operations spent their time (from River's
// river_job rows: enqueue to finish, snoozes, queues). It exits non-zero only on errors (a
// failed call or operation, a process that dies), never on a slow result. See
// bench/README.md.
//
// Usage: go run ./bench/scale [-vms 200] [-clients 16] [-rounds 3] [-configs sqlite,pg-1,pg-2]
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
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	vms, clients int
	rounds       int
	configs      []string
	simLatency   time.Duration
	timeout      time.Duration
	berthd       string
	keep         bool
}

// setup is one configuration of Berth.
type setup struct {
	name   string
	agents int // 0: all in one on SQLite; else API server + agents on PostgreSQL
	desc   string
}

// allSetups are the configurations the bench knows, in the order it runs them.
func allSetups() []setup {
	return []setup{
		{name: "sqlite", desc: "SQLite, all in one"},
		{name: "pg-1", agents: 1, desc: "PostgreSQL, API + 1 agent"},
		{name: "pg-2", agents: 2, desc: "PostgreSQL, API + 2 agents"},
	}
}

func main() {
	var o options
	var configs string
	flag.IntVar(&o.vms, "vms", 200, "VMs created, then stopped and deleted, per configuration")
	flag.IntVar(&o.clients, "clients", 16, "concurrent API clients, one keep-alive connection each")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds: each runs every configuration once, in turn, on fresh data (the report gives medians)")
	flag.StringVar(&configs, "configs", "sqlite,pg-1,pg-2", "configurations to run, comma-separated: sqlite, pg-1, pg-2 (ratios are to sqlite, when it runs)")
	flag.DurationVar(&o.simLatency, "sim-latency", 0, "time each fake driver call takes (berthd --sim-latency)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest time one phase may take")
	flag.StringVar(&o.berthd, "berthd", "", "berthd binary (default: go build ./cmd/berthd)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (data directories, logs); its path is printed")
	flag.Parse()
	o.configs = strings.Split(configs, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/scale:", err)
		os.Exit(1)
	}
}

// check validates the options and returns the configurations to run.
func (o options) check() ([]setup, error) {
	switch {
	case o.vms < 1:
		return nil, errors.New("-vms must be at least 1")
	case o.clients < 1:
		return nil, errors.New("-clients must be at least 1")
	case o.rounds < 1:
		return nil, errors.New("-rounds must be at least 1")
	case o.timeout <= 0:
		return nil, errors.New("-timeout must be positive")
	case o.simLatency < 0:
		return nil, errors.New("-sim-latency must not be negative")
	}
	setups := allSetups()
	var out []setup
	for _, s := range setups {
		if slices.Contains(o.configs, s.name) {
			out = append(out, s)
		}
	}
	for _, c := range o.configs {
		if !slices.ContainsFunc(setups, func(s setup) bool { return s.name == c }) {
			return nil, fmt.Errorf("-configs: unknown configuration %q (want sqlite, pg-1, pg-2)", c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-configs: no configuration")
	}
	return out, nil
}

// run is the whole bench.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	todo, err := o.check()
	if err != nil {
		return err
	}
	work, done, err := proc.WorkDir("scale", o.keep, out)
	if err != nil {
		return err
	}
	defer done()
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	bin := o.berthd
	if bin == "" {
		fmt.Fprintf(out, "building berthd from %s...\n", sourceRev(ctx))
		if bin, err = proc.BuildBerthd(ctx, work, "bench-scale-daemon"); err != nil {
			return err
		}
	}
	cfg, err := writeConfig(work)
	if err != nil {
		return err
	}
	var pg *postgres
	if slices.ContainsFunc(todo, func(s setup) bool { return s.agents > 0 }) {
		fmt.Fprintln(out, "starting a throwaway PostgreSQL (scripts/start-pg.sh)...")
		if pg, err = startPostgres(ctx, root); err != nil {
			return err
		}
		defer func() {
			if e := pg.stop(); err == nil {
				err = e
			}
		}()
	}
	var results []result
	for round := 1; round <= o.rounds; round++ {
		for _, s := range todo {
			fmt.Fprintf(out, "\n== round %d/%d, %s: %s, %d VMs, %d clients\n", round, o.rounds, s.name, s.desc, o.vms, o.clients)
			id := fmt.Sprintf("%s-r%d", s.name, round)
			c := &cluster{bin: bin, config: cfg, dir: filepath.Join(work, id), simLatency: o.simLatency}
			if s.agents > 0 {
				c.pg = pg
				if c.db, err = pg.createDB(ctx, "scale_"+strings.ReplaceAll(id, "-", "_")); err != nil {
					return err
				}
			}
			r, err := runSetup(ctx, o, s, c, out)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", s.name, round, err)
			}
			results = append(results, r)
		}
	}
	report(out, o, todo, results)
	return nil
}

// runSetup starts a configuration, runs the workload on it, stops it and reads where its
// operations spent their time.
func runSetup(ctx context.Context, o options, s setup, c *cluster, out io.Writer) (r result, err error) {
	r.setup = s
	key, err := c.start(ctx, s.agents)
	defer func() {
		if e := c.stop(); err == nil {
			err = e
		}
	}()
	if err != nil {
		return r, err
	}
	if r.load, err = workload(ctx, o, c.url, key, c.cpu, out); err != nil {
		return r, err
	}
	if err := c.alive(); err != nil {
		return r, err
	}
	if err := c.stop(); err != nil {
		return r, err
	}
	if r.jobs, err = readJobs(ctx, c.dsn()); err != nil {
		return r, fmt.Errorf("read river jobs: %w", err)
	}
	printBreakdown(out, r)
	return r, nil
}

// moduleRoot is the directory of the berth module (where scripts/ is).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench inside the berth module (go run ./bench/scale)")
	}
	return filepath.Dir(mod), nil
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
