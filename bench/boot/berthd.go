package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/berth-io/berth/client"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/internal/netdev/linux"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// berthd is a `berthd serve --backend qemu` process.
type berthd struct {
	bin, data, images string
	prefix            string // of its network namespaces
	p                 *proc.Proc
	url               string // http://127.0.0.1:PORT/xmlrpc/
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

// start runs berthd on 127.0.0.1 and waits up to 2 minutes for its "API at" line. Its log
// goes to berthd.log in the data directory.
func (b *berthd) start(ctx context.Context) error {
	if err := os.MkdirAll(b.data, 0o750); err != nil {
		return err
	}
	p, m, err := proc.Start("berthd", b.bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, b.flags()...),
		filepath.Join(b.data, "berthd.log"), proc.APILine, 2*time.Minute)
	b.p = p
	if err != nil {
		_ = b.stop()
		return err
	}
	b.url = m[1]
	return nil
}

// stop sends SIGTERM, waits up to 30 s, then kills. A berthd that already died is an error.
func (b *berthd) stop() error { return b.p.Stop() }

// pid is berthd's process id.
func (b *berthd) pid() int { return b.p.Pid() }

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
type rpc struct{ c *client.Client }

func newRPC(url string) *rpc {
	c := client.New(url, "")
	c.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: time.Minute}
	return &rpc{c: c}
}

// close drops idle connections.
func (c *rpc) close() { c.c.HTTP.CloseIdleConnections() }

// call makes one XML-RPC call and decodes its result; a fault is an error.
func (c *rpc) call(ctx context.Context, method string, params ...any) (any, error) {
	v, err := c.c.CallRaw(ctx, method, params...)
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
