// Package proc runs the processes the benchmark programs measure: it builds berthd, starts
// a process and waits for the stdout line saying it serves, stops it, and tells whether it
// is still alive.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Lines berthd prints when it serves.
var (
	APILine   = regexp.MustCompile(`API at (https?://\S+/xmlrpc/)`)
	AgentLine = regexp.MustCompile(`berthd: agent \S+ serving`)
)

// BuildBerthd builds cmd/berthd (without the race detector) into dir under name: a name
// other than berthd, so that a `pkill berthd` meant for another berthd on a shared machine
// does not stop the one being measured.
func BuildBerthd(ctx context.Context, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/berth-io/berth/cmd/berthd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build berthd: %w\n%s", err, out)
	}
	return bin, nil
}

// Proc is a started process.
type Proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// Start runs bin with args, its stderr appended to logPath, and waits up to timeout for a
// stdout line matching ready; it returns the line's submatches. The process runs in its own
// process group, so that a ^C reaches the bench only, which then stops it. On an error the
// returned Proc, when not nil, must still be stopped.
func Start(name, bin string, args []string, logPath string, ready *regexp.Regexp, timeout time.Duration) (*Proc, []string, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, done: make(chan error, 1), log: logf}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case m := <-found:
		return p, m, nil
	case err := <-p.done:
		p.done <- err
		return p, nil, fmt.Errorf("%s exited before serving (%s); see %s", name, status(cmd, err), logPath)
	case <-time.After(timeout):
		return p, nil, fmt.Errorf("%s did not serve within %s; see %s", name, timeout, logPath)
	}
}

// Pid is the process id, 0 when it is not running.
func (p *Proc) Pid() int {
	if p == nil || p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends SIGTERM, waits up to 30 s, then kills. A process that had died is an error.
func (p *Proc) Stop() error {
	if p == nil || p.cmd == nil {
		return nil
	}
	defer func() { p.cmd = nil; p.log.Close() }()
	select {
	case err := <-p.done:
		return fmt.Errorf("%s died (%s); see %s", p.name, status(p.cmd, err), p.log.Name())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("wait %s: %w", p.name, err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30s of SIGTERM: killed", p.name)
	}
}

// Alive reports an error when the process has exited.
func (p *Proc) Alive() error {
	if p == nil {
		return errors.New("not running")
	}
	if p.cmd == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("%s exited (%s); see %s", p.name, status(p.cmd, err), p.log.Name())
	default:
		return nil
	}
}

// Gone waits up to grace for the process to end (a dying process is reaped late), then
// reports as Alive does.
func (p *Proc) Gone(grace time.Duration) error {
	if p != nil && p.cmd != nil {
		select {
		case <-time.After(grace):
		case err := <-p.done:
			p.done <- err
		}
	}
	return p.Alive()
}

// status describes how a process ended.
func status(cmd *exec.Cmd, err error) string {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	if err != nil {
		return err.Error()
	}
	return "status 0: stopped by a SIGTERM or SIGINT not sent by the bench?"
}

// LoadAvg returns the first three fields of /proc/loadavg ("unknown" when unreadable), for
// the benchmarks' reports: they run beside whatever else the machine does.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// WorkDir makes a bench's work directory (berth-bench-NAME-*) and returns done, which
// removes it, or with keep leaves it and prints its path on out.
func WorkDir(name string, keep bool, out io.Writer) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", "berth-bench-"+name+"-")
	if err != nil {
		return "", nil, err
	}
	if keep {
		return dir, func() { fmt.Fprintf(out, "work directory kept: %s\n", dir) }, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
