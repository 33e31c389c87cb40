// Package cluster starts a real multi-host Berth on one machine, wired as a rack would be:
// PostgreSQL (the project's scripts/start-pg.sh), one API server and N agents, each agent
// with its own network-namespace prefix and its own underlay namespace, joined to the
// others by a simulated switch (a bridge in a switch namespace, one MTU-1550 veth per host).
// `berthd admin cluster up|down` (make cluster, make cluster-down), the e2e tests and the
// benchmarks use it. Down removes every process, namespace, link and file it made.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/internal/netdev/linux"
)

// Datacenter is the datacenter every agent serves.
const Datacenter = "FR-SD5"

// UnderlayMTU is the MTU of the simulated rack: a guest's 1500-byte frame plus VXLAN.
const UnderlayMTU = linux.GuestMTU + linux.VXLANOverhead

// Config is what to start.
type Config struct {
	Dir     string   // state directory: data of every process, logs, cluster.json (made; removed by Down)
	Bin     string   // the berthd binary
	Scripts string   // the directory of start-pg.sh and stop-pg.sh
	Images  string   // built guest images ("" for the sim backend)
	Backend string   // qemu (default) or sim
	Prefix  string   // prefix of every namespace it makes, e.g. "bc-"
	Hosts   int      // agents h1…hN (default 3)
	Listen  string   // the API server's address (default 127.0.0.1:0)
	DB      string   // an existing PostgreSQL database; "" starts one
	Handle  string   // the account made (default "cluster")
	Args    []string // extra flags of every berthd (e.g. --heartbeat 300ms)
}

// State is what Down needs, kept in Dir/cluster.json.
type State struct {
	Prefix string         `json:"prefix"`
	DB     string         `json:"db"`
	PGTMP  string         `json:"pgtmp,omitempty"` // set when the cluster started PostgreSQL
	PGBIN  string         `json:"pgbin,omitempty"`
	URL    string         `json:"url"`
	Key    string         `json:"key"`
	PIDs   map[string]int `json:"pids"`
	Hosts  []HostInfo     `json:"hosts"`
}

// HostInfo is one agent of the cluster.
type HostInfo struct {
	Name      string `json:"name"`
	Data      string `json:"data"`
	Netns     string `json:"netns"`     // its datacenter namespace (guests' bridges)
	Underlay  string `json:"underlay"`  // its underlay namespace
	VTEP      string `json:"vtep"`      // its underlay address
	Internal  string `json:"internal"`  // its internal listener
	NetPrefix string `json:"netprefix"` // its --netns-prefix
}

// Cluster is a running cluster.
type Cluster struct {
	cfg    Config
	State  State
	API    *Proc
	Agents []*Proc
}

// Up starts a cluster. On error, what was started is stopped again.
func Up(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.Hosts == 0 {
		cfg.Hosts = 3
	}
	if cfg.Backend == "" {
		cfg.Backend = "qemu"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Handle == "" {
		cfg.Handle = "cluster"
	}
	if cfg.Prefix == "" || cfg.Dir == "" || cfg.Bin == "" {
		return nil, errors.New("cluster: dir, bin and prefix are required")
	}
	for _, p := range []*string{&cfg.Dir, &cfg.Bin, &cfg.Scripts, &cfg.Images} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "cluster.json")); err == nil {
		return nil, fmt.Errorf("cluster: %s already holds a cluster: take it down first", cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	c = &Cluster{cfg: cfg, State: State{Prefix: cfg.Prefix, DB: cfg.DB, PIDs: map[string]int{}}}
	defer func() {
		if err != nil {
			_ = c.Down()
		}
	}()
	if c.State.DB == "" {
		if err := c.startPG(ctx); err != nil {
			return c, err
		}
	}
	if err := c.save(); err != nil {
		return c, err
	}
	if err := c.wire(); err != nil {
		return c, err
	}
	for i := 1; i <= cfg.Hosts; i++ {
		a, err := c.startAgent(i)
		if err != nil {
			return c, err
		}
		c.Agents = append(c.Agents, a)
		if err := c.save(); err != nil {
			return c, err
		}
	}
	if c.State.Key, err = c.Account(ctx, cfg.Handle); err != nil {
		return c, err
	}
	if err := c.startAPI(); err != nil {
		return c, err
	}
	return c, c.save()
}

// KillAgent kills agent i (1-based) with SIGKILL, its VMs left running.
func (c *Cluster) KillAgent(i int) { c.Agents[i-1].Kill() }

// StartAgent starts agent i (1-based) again, with the same flags.
func (c *Cluster) StartAgent(i int) error {
	p := c.Agents[i-1]
	if _, err := p.Start(); err != nil {
		return err
	}
	c.State.PIDs[p.Name] = p.PID()
	return c.save()
}

// wire makes the switch and, per host, its underlay namespace cabled to it.
func (c *Cluster) wire() error {
	sw := c.cfg.Prefix + "sw"
	if err := linux.CreateSwitch(sw); err != nil {
		return fmt.Errorf("cluster: switch: %w", err)
	}
	for i := 1; i <= c.cfg.Hosts; i++ {
		name := fmt.Sprintf("h%d", i)
		h := HostInfo{Name: name, Data: filepath.Join(c.cfg.Dir, name), NetPrefix: c.cfg.Prefix + name + "-",
			Underlay: c.cfg.Prefix + name + "-ul", VTEP: fmt.Sprintf("10.99.0.%d", i)}
		h.Netns = h.NetPrefix + strings.ToLower(Datacenter)
		if err := linux.ConnectHost(sw, name, h.Underlay, h.VTEP+"/24", UnderlayMTU); err != nil {
			return fmt.Errorf("cluster: underlay of %s: %w", name, err)
		}
		if err := os.MkdirAll(h.Data, 0o755); err != nil {
			return err
		}
		c.State.Hosts = append(c.State.Hosts, h)
	}
	return nil
}

// common are the flags of every berthd of the cluster.
func (c *Cluster) common(data string) []string {
	a := []string{"--data", data, "--backend", c.cfg.Backend, "--db", c.State.DB}
	if c.cfg.Images != "" {
		a = append(a, "--images", c.cfg.Images)
	}
	return append(a, c.cfg.Args...)
}

func (c *Cluster) startAgent(i int) (*Proc, error) {
	h := &c.State.Hosts[i-1]
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	h.Internal = fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"agent", "--host", h.Name, "--datacenter", Datacenter, "--netns-prefix", h.NetPrefix,
		"--underlay-netns", h.Underlay, "--vtep-addr", h.VTEP, "--internal-listen", h.Internal}, c.common(h.Data)...)
	p := &Proc{Name: "agent " + h.Name, Bin: c.cfg.Bin, Args: args, Log: filepath.Join(h.Data, "berthd.log"), ready: "berthd: agent " + h.Name + " serving"}
	if _, err := p.Start(); err != nil {
		return p, err
	}
	c.State.PIDs[p.Name] = p.PID()
	return p, nil
}

func (c *Cluster) startAPI() error {
	data := filepath.Join(c.cfg.Dir, "api")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	args := append([]string{"serve", "--role", "api", "--listen", c.cfg.Listen}, c.common(data)...)
	c.API = &Proc{Name: "api", Bin: c.cfg.Bin, Args: args, Log: filepath.Join(data, "berthd.log"), ready: "API at "}
	line, err := c.API.Start()
	if c.API.PID() > 0 {
		c.State.PIDs[c.API.Name] = c.API.PID()
	}
	if err != nil {
		return err
	}
	// berthd: API at http://127.0.0.1:8080/xmlrpc/ (backend …)
	f := strings.Fields(line[strings.Index(line, "API at ")+len("API at "):])
	if len(f) == 0 {
		return fmt.Errorf("cluster: no URL in %q", line)
	}
	c.State.URL = f[0]
	return nil
}

// Account creates an account with plenty of credits and returns its API key.
func (c *Cluster) Account(ctx context.Context, handle string) (string, error) {
	out, err := c.Admin(ctx, "account", "create", "--handle", handle, "--credits", "100000000")
	return strings.TrimSpace(out), err
}

// Admin runs `berthd admin ARGS` on the cluster's database and returns what it printed.
func (c *Cluster) Admin(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	data := filepath.Join(c.cfg.Dir, "admin")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, c.cfg.Bin, append(append([]string{"admin"}, args...), c.common(data)...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("cluster: berthd admin %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// startPG starts a throwaway PostgreSQL with the project's script.
func (c *Cluster) startPG(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.cfg.Scripts, "start-pg.sh"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("PGPORT=%d", port), "PGTMP=")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("cluster: start-pg.sh: %v: %s", err, ee.Stderr)
		}
		return fmt.Errorf("cluster: start-pg.sh: %w", err)
	}
	// export DATABASE_URL=… PGTMP=… PGBIN=…
	for _, f := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "DATABASE_URL":
			c.State.DB = v
		case "PGTMP":
			c.State.PGTMP = v
		case "PGBIN":
			c.State.PGBIN = v
		}
	}
	if c.State.DB == "" || c.State.PGTMP == "" {
		return fmt.Errorf("cluster: start-pg.sh printed %q", out)
	}
	return nil
}

func (c *Cluster) save() error {
	b, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.cfg.Dir, "cluster.json"), append(b, '\n'), 0o600)
}

// Down stops the cluster: processes, the VMs of every host, PostgreSQL when it started
// it, namespaces and links; then removes its directory.
func (c *Cluster) Down() error {
	var errs []error
	for _, p := range append([]*Proc{c.API}, c.Agents...) {
		if p != nil {
			p.Kill()
		}
	}
	errs = append(errs, teardown(c.cfg.Dir, c.cfg.Scripts, c.State))
	return errors.Join(errs...)
}

// DownDir takes down the cluster whose state is in dir (make cluster-down). A directory
// without a cluster is fine.
func DownDir(dir, scripts string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("cluster: %s: %w", dir, err)
	}
	return teardown(dir, scripts, st)
}

// teardown stops what State records and removes the directory.
func teardown(dir, scripts string, st State) error {
	var errs []error
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// Every process of the cluster has its directory on its command line: nothing else is
	// ever signalled, even when a recorded pid was reused.
	for name, pid := range st.PIDs {
		if err := stopPID(pid, abs); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	// VMs outlive their agent (as on a real host): stop their QEMUs too.
	pidfiles, _ := filepath.Glob(filepath.Join(dir, "*", "vms", "*", "qemu.pid"))
	for _, f := range pidfiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil {
			if err := stopPID(pid, abs); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.PGTMP != "" {
		cmd := exec.Command(filepath.Join(scripts, "stop-pg.sh"))
		cmd.Env = append(os.Environ(), "PGTMP="+st.PGTMP, "PGBIN="+st.PGBIN)
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("stop-pg.sh: %v: %s", err, out))
		}
	}
	if st.Prefix != "" {
		if err := linux.Cleanup(st.Prefix); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stopPID sends SIGTERM to a process whose command line contains what, then SIGKILL if it
// is still there after 10 s. A process gone (or a pid reused by another program) is fine.
func stopPID(pid int, what string) error {
	if !alive(pid, what) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid, what) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(100 * time.Millisecond)
			if alive(pid, what) {
				return fmt.Errorf("process %d (%s) survives SIGKILL", pid, what)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// alive reports whether pid runs a command line containing what (not a zombie).
func alive(pid int, what string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return false
		}
	}
	return strings.Contains(string(b), what)
}
