package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pythonPath is Debian's interpreter: the one python3-libcloud installs its modules for
// (a pyenv or venv python3 earlier in PATH would not see them).
const pythonPath = "/usr/bin/python3"

// needPython returns pythonPath after checking that it can import every module named.
// A missing interpreter or module skips the test, except in CI (CI=true) where it fails:
// the Makefile must install them there.
func needPython(t *testing.T, modules ...string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := os.Stat(pythonPath); err != nil {
		missing("%s: %v (apt-get install python3)", pythonPath, err)
	}
	for _, m := range modules {
		if out, err := exec.Command(pythonPath, "-c", "import "+m).CombinedOutput(); err != nil {
			missing("%s cannot import %s: %v\n%s(apt-get install python3-libcloud)", pythonPath, m, err, out)
		}
	}
	return pythonPath
}

// runClientScript runs python/<script> URL KEY against b with a fresh account, logs its
// report, and fails the test (with the end of berthd's log) when the script fails.
func runClientScript(t *testing.T, py, script, handle string) {
	t.Helper()
	b := NewBerthd(t, "sim")
	b.Start()
	key := b.Account(handle, 100000)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, py, filepath.Join("python", script), b.URL, key)
	out, err := cmd.CombinedOutput()
	t.Logf("%s (%.1fs):\n%s", script, time.Since(start).Seconds(), out)
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in 150s", script)
	}
	if err != nil {
		t.Fatalf("%s failed: %v\nend of berthd's log:\n%s", script, err, tail(b.Stderr(), 4000))
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// TestPythonXMLRPCFlow walks a whole user flow with Python's xmlrpc.client set up like
// gandi.cli (allow_none, use_datetime): every method a user touches, with types, values,
// faults, legacy names and system.multicall (python/gandi_flow.py).
func TestPythonXMLRPCFlow(t *testing.T) {
	t.Parallel() // see TestMain
	py := needPython(t, "xmlrpc.client")
	runClientScript(t, py, "gandi_flow.py", "FLOW1-BERTH")
}

// TestLibcloudFlow drives berthd with Debian's libcloud GandiNodeDriver: locations,
// images, sizes, nodes, volumes, snapshots, key pairs and interfaces
// (python/libcloud_flow.py).
func TestLibcloudFlow(t *testing.T) {
	t.Parallel() // see TestMain
	py := needPython(t, "libcloud.compute.drivers.gandi")
	runClientScript(t, py, "libcloud_flow.py", "LC1-BERTH")
}
