package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

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

// buildBerthd builds cmd/berthd (without the race detector) into dir. The binary is named
// bench-berth-daemon: on a shared machine, a `pkill berthd` or `pkill -f berthd` aimed
// at another berthd must not stop the one being measured.
func buildBerthd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "bench-berth-daemon")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/berth-io/berth/cmd/berthd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build berthd: %w\n%s", err, out)
	}
	return bin, nil
}

// berthd is a berthd process.
type berthd struct {
	bin, data, config string
	cmd               *exec.Cmd
	done              chan error
	url               string // http://127.0.0.1:PORT/xmlrpc/
	log               *os.File
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

var apiLine = regexp.MustCompile(`API at (http://\S+/xmlrpc/)`)

// start runs `berthd serve` on 127.0.0.1 and waits for its "API at" line. Its log goes to
// berthd.log in the data directory. It runs in its own process group so that a ^C on the
// bench reaches the bench, which then stops it.
func (b *berthd) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(b.data, "berthd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("berthd log: %w", err)
	}
	b.log = logf
	cmd := exec.Command(b.bin, "serve", "--data", b.data, "--config", b.config, "--backend", "sim", "--listen", "127.0.0.1:0")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return fmt.Errorf("berthd stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start berthd: %w", err)
	}
	b.cmd, b.done = cmd, make(chan error, 1)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		b.done <- cmd.Wait()
	}()
	select {
	case b.url = <-found:
		return nil
	case err := <-b.done:
		b.done <- err
		b.cmd = nil
		logf.Close()
		return fmt.Errorf("berthd exited before serving (%s); see %s", exitStatus(cmd, err), logf.Name())
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	b.stop()
	return fmt.Errorf("berthd did not serve within 60s; see %s", logf.Name())
}

// pid is the process id of the running berthd.
func (b *berthd) pid() int { return b.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 30 s, then kills. A berthd that already died is an error.
func (b *berthd) stop() error {
	if b.cmd == nil {
		return nil
	}
	defer func() { b.cmd = nil; b.log.Close() }()
	select {
	case err := <-b.done:
		return fmt.Errorf("berthd died: %s", exitStatus(b.cmd, err))
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("wait berthd: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		return errors.New("berthd did not stop within 30s of SIGTERM: killed")
	}
}

// alive reports an error when the process has exited.
func (b *berthd) alive() error {
	if b.cmd == nil {
		return errors.New("berthd is not running")
	}
	select {
	case err := <-b.done:
		b.done <- err
		return fmt.Errorf("berthd exited (%s); its log: %s", exitStatus(b.cmd, err), b.log.Name())
	default:
		return nil
	}
}

// explain adds to err that berthd is gone, when it is (a SIGTERM from elsewhere makes it
// stop cleanly, and the bench only sees refused connections).
func (b *berthd) explain(err error) error {
	if err == nil {
		return nil
	}
	if b.cmd != nil {
		select {
		case <-time.After(time.Second): // let a dying process be reaped
		case e := <-b.done:
			b.done <- e
		}
	}
	if gone := b.alive(); gone != nil && b.cmd != nil {
		return fmt.Errorf("%w: %v", err, gone)
	}
	return err
}

// exitStatus describes how a process ended.
func exitStatus(cmd *exec.Cmd, err error) string {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	if err != nil {
		return err.Error()
	}
	return "status 0: stopped by a SIGTERM or SIGINT not sent by this bench?"
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
