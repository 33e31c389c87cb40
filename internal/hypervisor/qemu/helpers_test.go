package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// The tests in the *_vm_test.go files boot real guests under TCG: the "Berth Tiny"
// image built by `make -f images/images.mk tiny` (its manifest.json is found through
// $BERTH_TINY_MANIFEST or in the repository's .cache/images/tiny). They skip when
// qemu-system-x86_64 is missing, except in CI (CI=true); a missing image is a failure.

// guest is a bootable image from an images manifest.
type guest struct {
	Disk    string `json:"disk"`
	Kernel  string `json:"kernel"`
	Initrd  string `json:"initrd"`
	Cmdline string `json:"cmdline"`
}

// needQEMU skips the test when QEMU is not installed (fails in CI).
func needQEMU(t *testing.T) {
	t.Helper()
	for _, bin := range []string{DefaultBinary, "qemu-img"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found and CI=true: %v", bin, err)
			}
			t.Skipf("%s not installed: %v", bin, err)
		}
	}
}

// tinyGuest returns the Berth Tiny image.
func tinyGuest(t *testing.T) guest {
	t.Helper()
	needQEMU(t)
	path := os.Getenv("BERTH_TINY_MANIFEST")
	if path == "" {
		path = filepath.Join("..", "..", "..", ".cache", "images", "tiny", "manifest.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("guest image: %v (build it with `make -f images/images.mk tiny`, or set BERTH_TINY_MANIFEST)", err)
	}
	var g guest
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("guest image manifest %s: %v", path, err)
	}
	for _, f := range []string{g.Disk, g.Kernel, g.Initrd} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("guest image: %v", err)
		}
	}
	return g
}

// runDir returns a short, unique run directory (unix socket paths are limited). At the
// end of the test, any process still mentioning it is an orphan: the test fails and
// the process is killed.
func runDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pids := pgrep(t, dir); len(pids) > 0 {
			t.Errorf("processes left running in %s: %v", dir, pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if os.Getenv("BERTH_TEST_KEEP") != "" {
			t.Logf("run directory kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// pgrep returns the pids of the processes whose command line contains s.
func pgrep(t *testing.T, s string) []int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "--", s).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return nil // no match
		}
		t.Fatalf("pgrep: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// testLogger logs to t until the test ends (goroutines may log later).
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// newDriver returns a TCG driver on dir, closed at the end of the test.
func newDriver(t *testing.T, dir string, change func(*Config)) *Driver {
	t.Helper()
	cfg := Config{RunDir: dir, Accel: AccelTCG, Logger: testLogger(t), StopTimeout: 20 * time.Second}
	if change != nil {
		change(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// qemuImg runs qemu-img.
func qemuImg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// overlay creates a qcow2 overlay of base (or an empty image of size when base is "").
func overlay(t *testing.T, path, base, size string) string {
	t.Helper()
	if base != "" {
		qemuImg(t, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", path)
	} else {
		qemuImg(t, "create", "-q", "-f", "qcow2", path, size)
	}
	return path
}

// ctxFor returns a context bounded for one test step.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// poll calls f until it returns "" or the deadline passes; then it fails with f's last
// complaint.
func poll(t *testing.T, timeout time.Duration, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %s", what, timeout, msg)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// waitLog waits until the file at path holds want after offset, and returns the line.
func waitLog(t *testing.T, path string, offset int64, want string, timeout time.Duration) string {
	t.Helper()
	var line string
	poll(t, timeout, fmt.Sprintf("%q in %s", want, path), func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		if int64(len(b)) < offset {
			offset = 0
		}
		b = b[offset:]
		i := bytes.Index(b, []byte(want))
		if i < 0 {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			return "last line: " + lines[len(lines)-1]
		}
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			end = len(b) - i
		}
		line = strings.TrimSpace(string(b[i : i+end]))
		return ""
	})
	return line
}

// fileSize returns the size of path, 0 if it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// console is a shell on a guest's serial console.
type console struct {
	conn net.Conn
	buf  []byte
	seq  int
}

// openConsole connects to a console socket; the guest's shell must be up.
func openConsole(t *testing.T, path string) *console {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &console{conn: conn}
}

// run types cmd and returns its output (without the echo of the command line).
func (c *console) run(t *testing.T, cmd string) string {
	t.Helper()
	c.seq++
	// The echoed line holds DONE"-N"; only the output holds the marker itself.
	mark := fmt.Sprintf("CMD-DONE-%d", c.seq)
	if _, err := fmt.Fprintf(c.conn, "%s; echo CMD-DONE\"-%d\"\n", cmd, c.seq); err != nil {
		t.Fatalf("console write: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	tmp := make([]byte, 4096)
	for {
		if i := bytes.Index(c.buf, []byte(mark)); i >= 0 {
			out := strings.ReplaceAll(string(c.buf[:i]), "\r", "")
			c.buf = c.buf[i+len(mark):]
			echo := fmt.Sprintf("CMD-DONE\"-%d\"", c.seq)
			if j := strings.Index(out, echo); j >= 0 {
				out = out[j+len(echo):]
			}
			return strings.TrimSpace(out)
		}
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.conn.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil {
			t.Fatalf("console: %q gave no result: %v (read so far: %q)", cmd, err, c.buf)
		}
	}
}

// until runs cmd on the console until check(output) returns "".
func (c *console) until(t *testing.T, timeout time.Duration, cmd string, check func(out string) string) {
	t.Helper()
	poll(t, timeout, cmd, func() string { return check(c.run(t, cmd)) })
}

// client returns the driver's QMP connection to VM id (tests share it with the driver).
func client(t *testing.T, d *Driver, id int64) *qmp.Client {
	t.Helper()
	v := d.lookup(ctxFor(t, 5*time.Second), id, false)
	if v == nil {
		t.Fatalf("vm %d not running", id)
	}
	c, err := v.qmp(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pidOf returns the pid in VM id's pid file.
func pidOf(t *testing.T, d *Driver, id int64) int {
	t.Helper()
	pid := readPid(filepath.Join(d.dir(id), pidFile))
	if pid == 0 {
		t.Fatalf("vm %d has no pid file", id)
	}
	return pid
}

// netns creates a network namespace for the test and returns its name.
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("network namespaces need root and CI=true")
		}
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) is needed: %v", err)
	}
	name := fmt.Sprintf("bq-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	ip(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ip(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// ip runs ip(8).
func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// addTap creates a persistent tap in ns and sets it up.
func addTap(t *testing.T, ns, name string) {
	t.Helper()
	ip(t, "-n", ns, "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr")
	ip(t, "-n", ns, "link", "set", name, "up")
}

// tapCarrier reads a tap's carrier in ns: "1" while QEMU holds its fd.
func tapCarrier(ns, name string) string {
	out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+name+"/carrier").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// ping reports "" when a ping from ns reaches addr.
func ping(ns, addr string) string {
	out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", addr).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("ping %s: %v: %s", addr, err, strings.TrimSpace(string(out)))
	}
	return ""
}

// openTapIn opens the existing tap name in network namespace ns (what the netdev
// driver provides as Config.OpenTap).
func openTapIn(ns, name string) (*os.File, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	f, openErr := openTun(name)
	if err := setns(orig); err != nil {
		// The thread stays in ns: leave it locked so that it dies with the goroutine.
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("return to the original netns: %w", err)
	}
	runtime.UnlockOSThread()
	return f, openErr
}

// sysSetns is setns(2) on amd64 (the syscall package has no constant for it).
const sysSetns = 308

func setns(f *os.File) error {
	_, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return fmt.Errorf("setns: %w", errno)
	}
	return nil
}

// openTun attaches to tap name with TUNSETIFF.
func openTun(name string) (*os.File, error) {
	const (
		tunSetIff  = 0x400454ca
		iffTap     = 0x0002
		iffNoPI    = 0x1000
		iffVnetHdr = 0x4000
	)
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [40]byte
	copy(ifr[:15], name)
	*(*uint16)(unsafe.Pointer(&ifr[16])) = iffTap | iffNoPI | iffVnetHdr
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("attach to tap %s: %w", name, errno)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

// sessionOf returns the session id of pid (/proc/<pid>/stat field 6).
func sessionOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest) // state ppid pgrp session ...
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatal(err)
	}
	return sid
}
