package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/internal/config"
)

// benchConfig returns the configuration berthd runs with: the defaults, with IPv4 pools
// big enough for tens of thousands of VMs (RFC 2544 benchmarking space, 198.18.0.0/15:
// one /16 per datacenter; the default /24 pools hold about 250 addresses).
func benchConfig() config.Config {
	c := config.Default()
	for i := range c.Datacenters {
		d := &c.Datacenters[i]
		d.IPv4Pool = fmt.Sprintf("198.%d.0.0/16", 18+i)
		d.IPv4Gateway = fmt.Sprintf("198.%d.0.1", 18+i)
	}
	return c
}

// writeConfig writes the datacenters of cfg as a berthd JSON configuration file in dir and
// returns its path. Every field of each datacenter is written: the file replaces the list.
func writeConfig(dir string, cfg config.Config) (string, error) {
	b, err := json.MarshalIndent(struct {
		Datacenters []config.Datacenter `json:"datacenters"`
	}{cfg.Datacenters}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	path := filepath.Join(dir, "bench-berthd.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return path, nil
}

// berthd is a berthd process.
type berthd struct {
	bin, data, config string
	p                 *proc.Proc
	extra             []string // more serve flags (--tls-cert …)
	url               string   // http://127.0.0.1:PORT/xmlrpc/
}

// admin runs `berthd admin ARGS` on the data directory and returns its trimmed stdout.
func (b *berthd) admin(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"admin"}, args...)
	full = append(full, "--data", b.data, "--config", b.config, "--backend", "sim")
	cmd := exec.CommandContext(ctx, b.bin, full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("berthd %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// start runs `berthd serve` on 127.0.0.1 and waits up to 60 s for its "API at" line. Its
// log goes to berthd.log in the data directory.
func (b *berthd) start(ctx context.Context) error {
	p, m, err := proc.Start("berthd", b.bin, append([]string{"serve", "--data", b.data, "--config", b.config, "--backend", "sim", "--listen", "127.0.0.1:0"}, b.extra...),
		filepath.Join(b.data, "berthd.log"), proc.APILine, 60*time.Second)
	b.p = p
	if err != nil {
		_ = b.stop()
		return err
	}
	b.url = m[1]
	return nil
}

// pid is the process id of the running berthd.
func (b *berthd) pid() int { return b.p.Pid() }

// stop sends SIGTERM, waits up to 30 s, then kills. A berthd that already died is an error.
func (b *berthd) stop() error { return b.p.Stop() }

// alive reports an error when the process has exited.
func (b *berthd) alive() error { return b.p.Alive() }

// explain adds to err that berthd is gone, when it is (a SIGTERM from elsewhere makes it
// stop cleanly, and the bench only sees refused connections).
func (b *berthd) explain(err error) error {
	if err == nil || b.p.Pid() == 0 {
		return err
	}
	if gone := b.p.Gone(time.Second); gone != nil {
		return fmt.Errorf("%w: %v", err, gone)
	}
	return err
}

// memory is what /proc/PID/status says about a process's resident memory, in kB.
type memory struct {
	HWM, RSS int64 // VmHWM (peak resident), VmRSS (resident now)
}

// readMemory reads VmHWM and VmRSS of a process.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return parseStatus(string(b))
}

// parseStatus extracts VmHWM and VmRSS from the text of /proc/PID/status.
func parseStatus(s string) (memory, error) {
	var m memory
	seen := 0
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("unexpected status line %q", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status line %q: %w", line, err)
		}
		if name == "VmHWM" {
			m.HWM = n
		} else {
			m.RSS = n
		}
		seen++
	}
	if seen != 2 {
		return m, errors.New("no VmHWM and VmRSS in status")
	}
	return m, nil
}
