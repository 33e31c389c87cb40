package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, for CREATE DATABASE and river_job
	_ "modernc.org/sqlite"             // SQLite, for river_job

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/internal/config"
)

// handle is the account the bench creates in every configuration.
const handle = "bench-scale"

// datacenter is where every VM is created (the agents serve it).
const datacenter = "FR-SD5"

// writeConfig writes a berthd configuration file in dir: the default datacenters with IPv4
// pools big enough for tens of thousands of VMs (RFC 2544 benchmarking space,
// 198.18.0.0/15: one /16 per datacenter; the default /24 pools hold about 250 addresses).
func writeConfig(dir string) (string, error) {
	c := config.Default()
	for i := range c.Datacenters {
		d := &c.Datacenters[i]
		d.IPv4Pool = fmt.Sprintf("198.%d.0.0/16", 18+i)
		d.IPv4Gateway = fmt.Sprintf("198.%d.0.1", 18+i)
	}
	b, err := json.MarshalIndent(struct {
		Datacenters []config.Datacenter `json:"datacenters"`
	}{c.Datacenters}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	path := filepath.Join(dir, "berthd.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return path, nil
}

// cluster is one configuration's processes: an all-in-one berthd (db empty), or an API
// server and agents on one PostgreSQL database.
type cluster struct {
	bin, config, dir string
	db               string // postgres URL, "" for SQLite
	simLatency       time.Duration
	url              string // the API
	api              *proc.Proc
	agents           []*proc.Proc
	pg               *postgres // the server of db, for its CPU use
}

// flags are the flags every berthd command of the cluster gets, with its data directory.
func (c *cluster) flags(data string) []string {
	a := []string{"--data", data, "--backend", "sim", "--config", c.config, "--sim-latency", c.simLatency.String()}
	if c.db != "" {
		a = append(a, "--db", c.db)
	}
	return a
}

func (c *cluster) apiDir() string { return filepath.Join(c.dir, "api") }

// start starts the agents (one after the other: the first one migrates the database), the
// account and the API server; it returns the account's API key.
func (c *cluster) start(ctx context.Context, agents int) (string, error) {
	if err := os.MkdirAll(c.apiDir(), 0o750); err != nil {
		return "", err
	}
	for i := 1; i <= agents; i++ {
		host := fmt.Sprintf("h%d", i)
		data := filepath.Join(c.dir, "agent-"+host)
		if err := os.MkdirAll(data, 0o750); err != nil {
			return "", err
		}
		args := append([]string{"agent", "--host", host, "--datacenter", datacenter}, c.flags(data)...)
		p, _, err := proc.Start("agent "+host, c.bin, args, filepath.Join(data, "berthd.log"), proc.AgentLine, time.Minute)
		if p != nil {
			c.agents = append(c.agents, p)
		}
		if err != nil {
			return "", err
		}
	}
	key, err := c.account(ctx)
	if err != nil {
		return "", err
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0"}, c.flags(c.apiDir())...)
	name := "berthd serve"
	if agents > 0 {
		args = append(args, "--role", "api")
		name = "berthd serve --role api"
	}
	p, m, err := proc.Start(name, c.bin, args, filepath.Join(c.apiDir(), "berthd.log"), proc.APILine, time.Minute)
	c.api = p
	if err != nil {
		return "", err
	}
	c.url = m[1]
	return key, nil
}

// account creates the bench account with plenty of credits and returns its API key.
func (c *cluster) account(ctx context.Context) (string, error) {
	args := append([]string{"admin", "account", "create", "--handle", handle, "--credits", "1000000000"}, c.flags(c.apiDir())...)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("berthd %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// alive reports an error when a process of the cluster has exited.
func (c *cluster) alive() error {
	for _, p := range append([]*proc.Proc{c.api}, c.agents...) {
		if p != nil {
			if err := p.Alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

// stop stops the API server, then the agents. It can be called again.
func (c *cluster) stop() error {
	errs := []error{c.api.Stop()}
	for i := len(c.agents) - 1; i >= 0; i-- {
		errs = append(errs, c.agents[i].Stop())
	}
	return errors.Join(errs...)
}

// database is how to open a configuration's database.
type database struct{ driver, dsn string }

// dsn returns the cluster's database: its PostgreSQL URL or the API server's SQLite file.
func (c *cluster) dsn() database {
	if c.db != "" {
		return database{"pgx", c.db}
	}
	return database{"sqlite", "file:" + filepath.Join(c.apiDir(), "berth.db") + "?mode=ro"}
}

// postgres is a throwaway PostgreSQL server of scripts/start-pg.sh.
type postgres struct {
	url, tmp, bin, root string
}

// freePort returns a TCP port of 127.0.0.1 that nothing listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// parsePGEnv reads the `export DATABASE_URL=... PGTMP=... PGBIN=...` line of start-pg.sh.
func parsePGEnv(out string) (map[string]string, error) {
	env := map[string]string{}
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	for _, k := range []string{"DATABASE_URL", "PGTMP", "PGBIN"} {
		if env[k] == "" {
			return nil, fmt.Errorf("start-pg.sh printed no %s: %q", k, out)
		}
	}
	return env, nil
}

// startPostgres runs scripts/start-pg.sh on a free port.
func startPostgres(ctx context.Context, root string) (*postgres, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "start-pg.sh"))
	cmd.Env = append(os.Environ(), "PGPORT="+strconv.Itoa(port))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/start-pg.sh: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	env, err := parsePGEnv(string(out))
	if err != nil {
		return nil, err
	}
	return &postgres{url: env["DATABASE_URL"], tmp: env["PGTMP"], bin: env["PGBIN"], root: root}, nil
}

// stop runs scripts/stop-pg.sh, which stops the server and removes its files.
func (p *postgres) stop() error {
	cmd := exec.Command(filepath.Join(p.root, "scripts", "stop-pg.sh"))
	cmd.Env = append(os.Environ(), "PGTMP="+p.tmp, "PGBIN="+p.bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/stop-pg.sh: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// createDB creates database name and returns its URL.
func (p *postgres) createDB(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", p.url)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(p.url)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on Linux/x86).
const userHZ = 100

// procCPU returns the CPU time (user + system) a /proc/PID/stat line reports, and its
// parent's pid.
func procCPU(stat string) (cpu time.Duration, ppid int, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 of proc(5)
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short stat line %q", stat)
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("stat ppid %q: %w", f[1], err)
	}
	var ticks int64
	for _, x := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("stat times %q: %w", f[11:13], err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), ppid, nil
}

// cpuOf returns the CPU time process pid has used; zero when it is gone.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	cpu, _, _ := procCPU(string(b))
	return cpu
}

// cpuSample is the CPU time a process has used so far, and its group (berthd, agents,
// postgres).
type cpuSample struct {
	group string
	cpu   time.Duration
}

// cpu returns the CPU time used so far by each process of the cluster, by pid: berthd, the
// agents, and its PostgreSQL server (the postmaster and its children).
func (c *cluster) cpu() map[int]cpuSample {
	out := map[int]cpuSample{}
	add := func(p *proc.Proc, group string) {
		if pid := p.Pid(); pid != 0 {
			out[pid] = cpuSample{group, cpuOf(pid)}
		}
	}
	add(c.api, "berthd")
	for _, a := range c.agents {
		add(a, "agents")
	}
	if c.pg != nil {
		for pid, cpu := range c.pg.cpu() {
			out[pid] = cpuSample{"postgres", cpu}
		}
	}
	return out
}

// cpuUsed is the CPU time each group used between two samples. A process that exited in
// between is not counted (PostgreSQL backends of closed connections).
func cpuUsed(before, after map[int]cpuSample) map[string]time.Duration {
	out := map[string]time.Duration{}
	for pid, a := range after {
		out[a.group] += a.cpu - before[pid].cpu
	}
	return out
}

// cpu returns the CPU time used so far by the server's postmaster and its children, by pid.
func (p *postgres) cpu() map[int]time.Duration {
	out := map[int]time.Duration{}
	b, err := os.ReadFile(filepath.Join(p.tmp, "data", "postmaster.pid"))
	if err != nil {
		return out
	}
	master, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return out
	}
	out[master] = cpuOf(master)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if cpu, ppid, err := procCPU(string(b)); err == nil && ppid == master {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			out[pid] = cpu
		}
	}
	return out
}
