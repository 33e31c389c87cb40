package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one berthd of the cluster. It runs in its own session, so it outlives the
// command that started it (make cluster); its output goes to Log.
type Proc struct {
	Name  string
	Bin   string
	Args  []string
	Log   string
	ready string // the line it prints once serving

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs the process and waits (up to 2 minutes) for its ready line, which it returns.
func (p *Proc) Start() (string, error) {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	off, _ := f.Seek(0, io.SeekEnd)
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("cluster: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if line := findLine(p.Log, off, p.ready); line != "" {
			return line, nil
		}
		select {
		case <-done:
			return "", fmt.Errorf("cluster: %s exited: %s", p.Name, tail(p.Log, off))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Kill()
			return "", fmt.Errorf("cluster: %s not ready after 2 minutes: %s", p.Name, tail(p.Log, off))
		}
	}
}

// PID is the process id, 0 before Start.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to end (a host losing power).
func (p *Proc) Kill() {
	p.signal(syscall.SIGKILL)
}

// Stop sends SIGTERM and waits for the process to end.
func (p *Proc) Stop() {
	p.signal(syscall.SIGTERM)
}

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Signal sends sig without waiting (SIGSTOP and SIGCONT pause and resume a host).
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return errors.New("cluster: " + p.Name + " not started")
	}
	return cmd.Process.Signal(sig)
}

// Running reports whether the process runs.
func (p *Proc) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// findLine returns the first line of the log after off containing s.
func findLine(path string, off int64, s string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return sc.Text()
		}
	}
	return ""
}

// tail is the end of the log after off, for error messages.
func tail(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < off {
		return ""
	}
	b = b[off:]
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freePort returns a TCP port free on loopback right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("cluster: no tcp port")
	}
	return a.Port, nil
}
