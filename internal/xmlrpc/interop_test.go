package xmlrpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// python3 returns the interpreter for the interop test. It skips the test
// when Python is missing, unless CI=true, where that is a failure.
func python3(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 not found and CI=true: install python3")
	}
	t.Skip("python3 not found")
	return ""
}

// TestPythonInterop runs testdata/interop.py (Python xmlrpc.client with the
// gandi.cli settings) against a live server.
func TestPythonInterop(t *testing.T) {
	py := python3(t)
	s := NewServer(Options{})
	s.Register("echo", func(_ context.Context, params []any) (any, error) {
		return params, nil
	})
	s.Register("echo1", func(_ context.Context, params []any) (any, error) {
		if len(params) != 1 {
			return nil, Fault{Code: CodeInvalidParams, String: "echo1 wants one parameter"}
		}
		return params[0], nil
	})
	s.Register("types", func(_ context.Context, params []any) (any, error) {
		names := make([]string, len(params))
		for i, p := range params {
			names[i] = TypeName(p)
		}
		return names, nil
	})
	s.Register("big", func(context.Context, []any) (any, error) {
		return []int64{1<<31 - 1, 1 << 31, -1<<31 - 1, 1 << 40, -1 << 62, 1<<63 - 1}, nil
	})
	s.Register("server_values", func(context.Context, []any) (any, error) {
		return Members{
			{"bandwidth", float64(102400)},
			{"date", time.Date(2012, 6, 29, 11, 48, 20, 0, time.UTC)},
			{"nothing", nil},
			{"ok", true},
			{"id", 10895},
			{"bytes", []byte("\x00\x01hi")},
		}, nil
	})
	s.Register("fail", func(context.Context, []any) (any, error) {
		return nil, &Fault{Code: 530439, String: "Error on object : OBJECT_DISK (CAUSE_ATTACHED) [disk#1 is attached]"}
	})
	s.Register("boom", func(_ context.Context, params []any) (any, error) {
		return params[len(params)+1], nil // a real runtime panic: index out of range
	})
	mux := http.NewServeMux()
	mux.Handle("/xmlrpc/", s)
	mux.Handle("/xmlrpc", s)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/interop.py", srv.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("interop.py failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "interop ok") {
		t.Fatalf("interop.py did not report success:\n%s", out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
