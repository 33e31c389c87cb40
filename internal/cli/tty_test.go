package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestConsoleTerminal attaches with a terminal on stdin: the terminal goes raw (a CR and a
// Ctrl-C pass through as bytes), Ctrl-] detaches with exit 0, and the terminal mode is
// restored afterwards.
func TestConsoleTerminal(t *testing.T) {
	h := newHarness(t)
	master, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if !isTerminal(slave) {
		t.Fatal("isTerminal(pty) is false")
	}
	var out, errb bytes.Buffer
	e := env{stdin: slave, stdout: &out, stderr: &errb, getenv: func(k string) string { return h.env[k] },
		now: time.Now, poll: time.Millisecond}
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), []string{"vm", "console", "web1"}, e) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminal never went raw")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := master.Write([]byte("ls\r\x03")); err != nil {
		t.Fatal(err)
	}
	for {
		h.fake.mu.Lock()
		got := h.fake.console.String()
		h.fake.mu.Unlock()
		if got == "ls\r\x03" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console received %q, want %q", got, "ls\r\x03")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := master.Write([]byte{detachByte}); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-] did not detach")
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("terminal mode not restored:\nbefore %+v\nafter  %+v", *before, *after)
	}
	if !strings.Contains(errb.String(), "Connected to vm web1 console (detach with Ctrl-])") || !strings.Contains(errb.String(), "Detached") {
		t.Errorf("stderr %q", errb.String())
	}
	if !strings.HasPrefix(out.String(), "login: ls\r\x03") {
		t.Errorf("stdout %q, want the banner and the echo", out.String())
	}
}
