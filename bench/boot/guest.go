package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bootMarker is the guest's BERTH-BOOTED line, with the guest's uptime when its sshd came
// up (the line before it), zero when the log does not say.
type bootMarker struct {
	Host   string
	MemKB  int64
	CPUs   int
	Uptime time.Duration
}

var (
	markerRE = regexp.MustCompile(`BERTH-BOOTED host=(\S*) mem_kb=(\d+) cpus=(\d+)`)
	sshdRE   = regexp.MustCompile(`sshd up uptime=(\d+(?:\.\d+)?)`)
)

// findMarker looks for a complete BERTH-BOOTED line in a console log. A BERTH-BOOT-FAILED
// line is an error.
func findMarker(log []byte) (bootMarker, bool, error) {
	var up time.Duration
	for line := range bytes.Lines(log) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break // not complete yet
		}
		if i := bytes.Index(line, []byte("BERTH-BOOT-FAILED")); i >= 0 {
			return bootMarker{}, false, fmt.Errorf("guest: %s", bytes.TrimSpace(line[i:]))
		}
		if m := sshdRE.FindSubmatch(line); m != nil {
			if f, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
				up = time.Duration(f * float64(time.Second))
			}
		}
		if m := markerRE.FindSubmatch(line); m != nil {
			mem, _ := strconv.ParseInt(string(m[2]), 10, 64)
			cpus, _ := strconv.Atoi(string(m[3]))
			return bootMarker{Host: string(m[1]), MemKB: mem, CPUs: cpus, Uptime: up}, true, nil
		}
	}
	return bootMarker{}, false, nil
}

// pollEvery is the period of every file poll of the bench (console logs, pidfiles), the
// same for Berth and bare runs.
const pollEvery = 10 * time.Millisecond

// waitBoot polls the console log at path every pollEvery until it holds a BERTH-BOOTED line,
// and returns the time it was seen. tick runs at every poll (it may rate-limit itself); its
// error ends the wait.
func waitBoot(ctx context.Context, path string, timeout time.Duration, tick func() error) (time.Time, bootMarker, error) {
	deadline := time.Now().Add(timeout)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return time.Time{}, bootMarker{}, err
			}
		}
		if f != nil {
			for {
				n, err := f.Read(chunk)
				buf = append(buf, chunk[:n]...)
				if n == 0 || err != nil {
					break
				}
			}
			now := time.Now()
			m, ok, err := findMarker(buf)
			if err != nil {
				return time.Time{}, bootMarker{}, err
			}
			if ok {
				return now, m, nil
			}
		}
		if err := tick(); err != nil {
			return time.Time{}, bootMarker{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, bootMarker{}, fmt.Errorf("no BERTH-BOOTED in %s after %s (end of log: %q)", path, timeout, tailBytes(buf, 300))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, bootMarker{}, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// tailBytes returns the last n bytes of b.
func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on Linux/x86).
const userHZ = 100

// statFields returns the fields of a /proc/PID/stat line after the command name (which may
// hold spaces and parentheses): [0] is the state (field 3 of proc(5)).
func statFields(stat string) ([]string, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(stat[i+1:]), true
}

// procState returns the state letter of a /proc/PID/stat line.
func procState(stat string) (string, bool) {
	f, ok := statFields(stat)
	if !ok || len(f) < 1 {
		return "", false
	}
	return f[0], true
}

// startTicks returns the start time of a /proc/PID/stat line (field 22), in USER_HZ ticks
// of CLOCK_BOOTTIME.
func startTicks(stat string) (int64, error) {
	f, ok := statFields(stat)
	if !ok || len(f) < 20 {
		return 0, fmt.Errorf("short stat line %q", stat)
	}
	return strconv.ParseInt(f[19], 10, 64)
}

// procCPU returns the CPU time (user + system) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(string(b))
}

// statCPU returns the CPU time (utime + stime, fields 14 and 15) of a /proc/PID/stat line.
func statCPU(stat string) (time.Duration, error) {
	f, ok := statFields(stat)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("short stat line %q", stat)
	}
	var ticks int64
	for _, x := range f[11:13] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat times %q: %w", f[11:13], err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// procStart returns the wall-clock time process pid was started (fork), to 10 ms.
func procStart(pid int) (time.Time, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}, fmt.Errorf("clock_gettime: %w", err)
	}
	now := time.Now()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	ticks, err := startTicks(string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("stat of %d: %w", pid, err)
	}
	age := time.Duration(ts.Nano()) - time.Duration(ticks)*(time.Second/userHZ)
	return now.Add(-age), nil
}

// console is a client of a VM's serial console socket, where the guest runs a root shell.
type console struct {
	conn net.Conn
	buf  []byte
	seq  int
}

// dialConsole connects to a console socket.
func dialConsole(path string) (*console, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &console{conn: conn}, nil
}

func (c *console) close() error { return c.conn.Close() }

// readUntil reads until buf holds mark, before the deadline, and returns the index of mark.
func (c *console) readUntil(mark string, deadline time.Time) (int, error) {
	tmp := make([]byte, 4096)
	for {
		if i := bytes.Index(c.buf, []byte(mark)); i >= 0 {
			return i, nil
		}
		if err := c.conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		n, err := c.conn.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil {
			return 0, err
		}
	}
}

// ready waits until the shell answers, typing an echo every 2 s: the shell may start a
// moment after BERTH-BOOTED.
func (c *console) ready(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.seq++
		mark := fmt.Sprintf("READY-%d", c.seq)
		if _, err := fmt.Fprintf(c.conn, "echo READY\"-%d\"\n", c.seq); err != nil {
			return fmt.Errorf("console write: %w", err)
		}
		wait := time.Now().Add(2 * time.Second)
		if wait.After(deadline) {
			wait = deadline
		}
		i, err := c.readUntil(mark, wait)
		if err == nil {
			c.buf = c.buf[i+len(mark):]
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return fmt.Errorf("console: %w", err)
		}
	}
	return fmt.Errorf("console: no shell answered within %s", timeout)
}

// run types cmd and returns its output, without the echo of the command line.
func (c *console) run(cmd string, timeout time.Duration) (string, error) {
	c.seq++
	// The echoed line holds DONE"-N"; only the output holds the mark itself.
	mark := fmt.Sprintf("CMD-DONE-%d", c.seq)
	if _, err := fmt.Fprintf(c.conn, "%s; echo CMD-DONE\"-%d\"\n", cmd, c.seq); err != nil {
		return "", fmt.Errorf("console write: %w", err)
	}
	i, err := c.readUntil(mark, time.Now().Add(timeout))
	if err != nil {
		return "", fmt.Errorf("console: %q gave no result: %w", cmd, err)
	}
	out := strings.ReplaceAll(string(c.buf[:i]), "\r", "")
	c.buf = c.buf[i+len(mark):]
	if j := strings.Index(out, fmt.Sprintf("CMD-DONE\"-%d\"", c.seq)); j >= 0 {
		out = out[j+len(fmt.Sprintf("CMD-DONE\"-%d\"", c.seq)):]
	}
	return strings.TrimSpace(out), nil
}

var memTotalRE = regexp.MustCompile(`MemTotal:\s+(\d+) kB`)

// parseMemTotal extracts MemTotal (kB) from /proc/meminfo text.
func parseMemTotal(s string) (int64, error) {
	m := memTotalRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no MemTotal in %q", s)
	}
	return strconv.ParseInt(m[1], 10, 64)
}

// memTotal asks the guest for its MemTotal, in kB.
func (c *console) memTotal() (int64, error) {
	out, err := c.run("grep MemTotal /proc/meminfo", 20*time.Second)
	if err != nil {
		return 0, err
	}
	return parseMemTotal(out)
}
