package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/internal/netdev/linux"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// buildBerthd builds cmd/berthd (without the race detector) into dir, as bench-boot-daemon: a
// `pkill berthd` meant for another berthd on a shared machine does not match it.
func buildBerthd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "bench-boot-daemon")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/berth-io/berth/cmd/berthd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build berthd: %w\n%s", err, out)
	}
	return bin, nil
}

// berthd is a `berthd serve --backend qemu` process.
type berthd struct {
	bin, data, images string
	prefix            string // of its network namespaces
	cmd               *exec.Cmd
	done              chan error
	url               string // http://127.0.0.1:PORT/xmlrpc/
	log               *os.File
}

// flags are the flags every berthd command of the bench gets.
func (b *berthd) flags() []string {
	return []string{"--data", b.data, "--backend", "qemu", "--images", b.images, "--netns-prefix", b.prefix}
}

// account creates an account with plenty of credits and returns its API key.
func (b *berthd) account(ctx context.Context, h string) (string, error) {
	args := append([]string{"admin", "account", "create", "--handle", h, "--credits", "1000000000"}, b.flags()...)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("berthd %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

var apiLine = regexp.MustCompile(`API at (http://\S+/xmlrpc/)`)

// start runs berthd on 127.0.0.1 and waits for its "API at" line. Its log goes to
// berthd.log in the data directory. It runs in its own process group, so that a ^C reaches
// the bench only, which then stops it.
func (b *berthd) start(ctx context.Context) error {
	if err := os.MkdirAll(b.data, 0o750); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(b.data, "berthd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("berthd log: %w", err)
	}
	b.log = logf
	cmd := exec.Command(b.bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, b.flags()...)...)
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
		b.cmd = nil
		logf.Close()
		return fmt.Errorf("berthd exited before serving (%v); see %s", err, logf.Name())
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	_ = b.stop()
	return fmt.Errorf("berthd did not serve within 2 minutes; see %s", logf.Name())
}

// stop sends SIGTERM, waits up to 30 s, then kills. A berthd that already died is an error.
func (b *berthd) stop() error {
	if b.cmd == nil {
		return nil
	}
	defer func() { b.cmd = nil; b.log.Close() }()
	select {
	case err := <-b.done:
		return fmt.Errorf("berthd died: %v; see %s", err, b.log.Name())
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

// pid is berthd's process id.
func (b *berthd) pid() int { return b.cmd.Process.Pid }

// vmDir is the run directory of VM id.
func (b *berthd) vmDir(id int64) string {
	return filepath.Join(b.data, "vms", strconv.FormatInt(id, 10))
}

// cleanup kills the QEMU processes berthd started that still run (VMs the bench could not
// delete after an error; berthd leaves them running by design) and deletes the network
// namespaces of this run. It reports what it had to kill.
func (b *berthd) cleanup(out io.Writer) error {
	dirs, _ := filepath.Glob(filepath.Join(b.data, "vms", "*"))
	var errs []error
	for _, d := range dirs {
		pid, err := readPid(filepath.Join(d, "qemu.pid"))
		if err != nil || !ownsPath(pid, d) {
			continue
		}
		fmt.Fprintf(out, "killing QEMU %d left by berthd (%s)\n", pid, d)
		errs = append(errs, killWait(pid))
	}
	if err := linux.Cleanup(b.prefix); err != nil {
		errs = append(errs, fmt.Errorf("delete network namespaces %s*: %w", b.prefix, err))
	}
	return errors.Join(errs...)
}

// readPid reads a pidfile.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s: bad content %q", path, b)
	}
	return pid, nil
}

// ownsPath reports whether process pid runs and its command line mentions path: a pid read
// from a pidfile may have been reused by an unrelated process.
func ownsPath(pid int, path string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(path))
}

// killWait sends SIGKILL to pid and waits up to 10 s for it to be gone.
func killWait(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return waitGone(pid, 10*time.Second)
}

// waitGone polls until process pid no longer exists (or is a zombie), for up to d.
func waitGone(pid int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		if s, ok := procState(string(st)); ok && s == "Z" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still runs after %s", pid, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rpc is an XML-RPC client of berthd.
type rpc struct {
	url string
	hc  *http.Client
}

func newRPC(url string) *rpc {
	return &rpc{url: url, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: time.Minute}}
}

// close drops idle connections.
func (c *rpc) close() { c.hc.CloseIdleConnections() }

// call makes one XML-RPC call and decodes its result; a fault is an error.
func (c *rpc) call(ctx context.Context, method string, params ...any) (any, error) {
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, method, params...); err != nil {
		return nil, fmt.Errorf("encode %s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("%s: http %d: %s", method, resp.StatusCode, b)
	}
	v, err := xmlrpc.DecodeResponse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// opID returns the id of a short-form operation.
func opID(v any) (int64, error) {
	m, _ := v.(map[string]any)
	id, ok := m["id"].(int64)
	if !ok {
		return 0, fmt.Errorf("not an operation: %s", xmlrpc.TypeName(v))
	}
	return id, nil
}

// waitOp polls operation.info every 20 ms until the operation is DONE (nil) or ended
// otherwise (an error with its last_error), for up to d.
func (c *rpc) waitOp(ctx context.Context, key string, id int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		v, err := c.call(ctx, "operation.info", key, id)
		if err != nil {
			return err
		}
		op, _ := v.(map[string]any)
		switch step := op["step"]; step {
		case "DONE":
			return nil
		case "ERROR", "CANCEL", "SUPPORT":
			return fmt.Errorf("operation %d (%v): %v: %v", id, op["type"], step, op["last_error"])
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("operation %d (%v) still %v after %s", id, op["type"], op["step"], d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// imageDisk returns the source disk and the datacenter of the image called label, in the
// lowest datacenter id that has it.
func imageDisk(ctx context.Context, c *rpc, key, label string) (disk, dc int64, err error) {
	v, err := c.call(ctx, "hosting.image.list", key, map[string]any{})
	if err != nil {
		return 0, 0, err
	}
	list, _ := v.([]any)
	for _, x := range list {
		im, _ := x.(map[string]any)
		d, _ := im["disk_id"].(int64)
		id, _ := im["datacenter_id"].(int64)
		if im["label"] == label && d != 0 && (dc == 0 || id < dc) {
			disk, dc = d, id
		}
	}
	if disk == 0 {
		return 0, 0, fmt.Errorf("hosting.image.list: no %q image", label)
	}
	return disk, dc, nil
}
