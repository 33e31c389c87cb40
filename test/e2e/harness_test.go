// Package e2e holds whole-system tests: berthd built and started as a real process, driven
// by real clients (Python xmlrpc.client, Debian's libcloud, our Go client).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// berthdBinary builds cmd/berthd once per test binary.
func berthdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berthd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "berthd")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "github.com/berth-io/berth/cmd/berthd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Berthd is a berthd process under test.
type Berthd struct {
	t       *testing.T
	Data    string
	Backend string
	Args    []string     // extra serve flags
	DB      string       // postgres:// URL, "" for SQLite in Data
	agent   []string     // for an agent: its host and datacenter
	URL     string       // http://host:port/xmlrpc/ (https:// with --tls-cert)
	HTTP    *http.Client // the client of Call; nil for http.DefaultClient
	Addr    string
	cmd     *exec.Cmd
	stderr  *lockedWriter
	done    chan struct{}
}

// NewBerthd prepares a berthd on a fresh data directory.
func NewBerthd(t *testing.T, backend string, args ...string) *Berthd {
	return &Berthd{t: t, Data: t.TempDir(), Backend: backend, Args: args}
}

var (
	apiLine   = regexp.MustCompile(`API at (https?://(\S+)/xmlrpc/)`)
	agentLine = regexp.MustCompile(`berthd: agent \S+ serving`)
)

// NewAgent prepares `berthd agent` for a host of a datacenter, on a shared PostgreSQL.
func NewAgent(t *testing.T, db, host, dc string, args ...string) *Berthd {
	b := &Berthd{t: t, Data: t.TempDir(), Backend: "sim", Args: args, DB: db, agent: []string{host, dc}}
	return b
}

// Start runs `berthd serve` and waits until it answers.
func (b *Berthd) Start() {
	t := b.t
	t.Helper()
	listen := "127.0.0.1:0"
	if b.Addr != "" {
		listen = b.Addr // a restart keeps the address
	}
	args := []string{"serve", "--data", b.Data, "--backend", b.Backend, "--listen", listen}
	if b.agent != nil {
		args = []string{"agent", "--data", b.Data, "--backend", b.Backend, "--host", b.agent[0], "--datacenter", b.agent[1]}
	}
	if b.DB != "" {
		args = append(args, "--db", b.DB)
	}
	args = append(args, b.Args...)
	cmd := exec.Command(berthdBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.stderr = &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stderr = b.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.Kill() })
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("berthd exited before serving:\n%s", b.Stderr())
			}
			if b.agent != nil && agentLine.MatchString(l) {
				go func() {
					for range lines {
					}
				}()
				return
			}
			if m := apiLine.FindStringSubmatch(l); m != nil {
				b.URL, b.Addr = m[1], m[2]
				go func() {
					for range lines {
					}
				}()
				return
			}
		case <-deadline:
			t.Fatalf("berthd did not start in 60s:\n%s", b.Stderr())
		}
	}
}

// Stderr returns what berthd logged.
func (b *Berthd) Stderr() string {
	if b.stderr == nil {
		return ""
	}
	b.stderr.mu.Lock()
	defer b.stderr.mu.Unlock()
	return b.stderr.w.String()
}

// Kill sends SIGKILL to berthd (not to the VMs it started: they run in their own sessions)
// and waits for it.
func (b *Berthd) Kill() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	b.cmd = nil
}

// Stop sends SIGTERM and waits.
func (b *Berthd) Stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		b.t.Errorf("berthd did not stop on SIGTERM")
		b.Kill()
	}
	b.cmd = nil
}

// Admin runs `berthd admin ...` on the same data directory and returns its stdout.
func (b *Berthd) Admin(args ...string) string {
	b.t.Helper()
	full := append([]string{"admin"}, args...)
	full = append(full, "--data", b.Data, "--backend", b.Backend)
	if b.DB != "" {
		full = append(full, "--db", b.DB)
	}
	out, err := exec.Command(berthdBinary(b.t), full...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.t.Fatalf("berthd %s: %v\n%s", strings.Join(full, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// Account creates an account with credits and returns its API key.
func (b *Berthd) Account(handle string, credits int) string {
	return b.Admin("account", "create", "--handle", handle, "--credits", fmt.Sprint(credits))
}

// Call makes one XML-RPC call.
func (b *Berthd) Call(method string, params ...any) (any, error) {
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, method, params...); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", b.URL, &body)
	req.Header.Set("Content-Type", "text/xml")
	hc := b.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return xmlrpc.DecodeResponse(resp.Body)
}

// MustCall is Call that fails the test on an error.
func (b *Berthd) MustCall(method string, params ...any) any {
	b.t.Helper()
	v, err := b.Call(method, params...)
	if err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	return v
}

// WaitOp polls operation.info until the operation is DONE, ERROR or CANCEL.
func (b *Berthd) WaitOp(key string, id int64, timeout time.Duration) map[string]any {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		op := b.MustCall("operation.info", key, id).(map[string]any)
		switch op["step"] {
		case "DONE", "ERROR", "CANCEL":
			return op
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("operation %d still %v after %s", id, op["step"], timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
