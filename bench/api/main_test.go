package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// TestMain lets the test binary be the baseline process too (startBaseline re-executes
// the running program).
func TestMain(m *testing.M) {
	if dir := os.Getenv(baselineEnv); dir != "" {
		if err := serveBaseline(dir); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestQuantile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of 4 is the 2nd", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(seq(1, 100)...), 0.99, 99 * time.Millisecond},
		{"p99 of 1000 is the 990th", ms(seq(1, 1000)...), 0.99, 990 * time.Millisecond},
		{"p100 is the max", ms(1, 5, 9), 1, 9 * time.Millisecond},
		{"p0 is the min", ms(1, 5, 9), 0, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func seq(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    memory
		wantErr bool
	}{
		{"both", "Name:\tberthd\nVmPeak:\t 1795676 kB\nVmHWM:\t   68716 kB\nVmRSS:\t   43712 kB\nThreads:\t9\n", memory{HWM: 68716, RSS: 43712}, false},
		{"missing rss", "VmHWM:\t 1 kB\n", memory{HWM: 1}, true},
		{"kernel thread", "Name:\tkthreadd\nThreads:\t1\n", memory{}, true},
		{"bad unit", "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(memory{})); !tt.wantErr && diff != "" {
				t.Errorf("parseStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
	// cmajflt utime stime ...
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "42 (berthd) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0", 3 * time.Second, false},
		{"name with spaces and parens", "42 (a (b) c) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, false},
		{"truncated", "42 (x) S 1 2 3", 0, true},
		{"no name", "garbage", 0, true},
		{"not a number", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 x 3 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseStat = %v, want %v", got, tt.want)
			}
		})
	}
}

// response encodes a methodResponse.
func response(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := xmlrpc.EncodeResponse(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fault(t *testing.T, f xmlrpc.Fault) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := xmlrpc.EncodeFault(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func vmInfo(id int64) map[string]any {
	return map[string]any{"id": id, "hostname": "bench00001", "disks": []any{map[string]any{"id": int64(9)}}, "ifaces": []any{map[string]any{"id": int64(8)}}}
}

func TestChecker(t *testing.T) {
	ids := []int64{10, 11}
	good0, good1 := response(t, vmInfo(10)), response(t, vmInfo(11))
	changed := response(t, map[string]any{"id": int64(10), "hostname": "renamed", "disks": []any{1}, "ifaces": []any{1}})
	steps := []struct {
		name    string
		i       int
		body    []byte
		wantErr string
		decodes int64 // full decodes so far
	}{
		{"first response is decoded", 0, good0, "", 1},
		{"same bytes: hash only", 0, good0, "", 1},
		{"same bytes again", 0, good0, "", 1},
		{"another request is decoded", 1, good1, "", 2},
		{"response of another vm", 0, good1, "vm 11, want 10", 3},
		{"fault", 1, fault(t, xmlrpc.Fault{Code: 510042, String: "Error on object : OBJECT_VM (CAUSE_NOTFOUND)"}), "fault 510042", 4},
		{"not xml-rpc", 1, []byte("<html>oops</html>"), "response of request 1", 5},
		{"truncated", 1, good1[:len(good1)/2], "response of request 1", 6},
		{"a valid change is decoded and accepted", 0, changed, "", 7},
		{"then hashed", 0, changed, "", 7},
	}
	c := newChecker(len(ids), func(i int, v any) error { return checkInfo(v, ids[i]) })
	for _, s := range steps {
		err := c.check(s.i, s.body)
		switch {
		case s.wantErr == "" && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%s: err = %v, want %q", s.name, err, s.wantErr)
		}
		if got := c.decoded.Load(); got != s.decodes {
			t.Errorf("%s: %d decodes, want %d", s.name, got, s.decodes)
		}
	}
}

func TestBaselineWorkload(t *testing.T) {
	canned := response(t, vmInfo(10))
	w := baselineWorkload(&workload{call: callInfo, bodies: [][]byte{[]byte("a"), []byte("b")}}, canned)
	for i := range 2 {
		if err := w.check.check(i, canned); err != nil {
			t.Errorf("canned bytes of request %d: %v", i, err)
		}
	}
	if err := w.check.check(1, response(t, vmInfo(11))); err == nil {
		t.Error("a valid response other than the canned bytes was accepted")
	}
}

func TestListIDs(t *testing.T) {
	vm := func(id int64, host string) any { return map[string]any{"id": id, "hostname": host} }
	tests := []struct {
		name    string
		v       any
		want    int
		ids     []int64
		wantErr bool
	}{
		{"page", []any{vm(3, "a"), vm(5, "b")}, 2, []int64{3, 5}, false},
		{"short page", []any{vm(3, "a")}, 2, nil, true},
		{"not an array", map[string]any{}, 0, nil, true},
		{"item without hostname", []any{vm(3, "")}, 1, nil, true},
		{"item without id", []any{map[string]any{"hostname": "a"}}, 1, nil, true},
		{"item not a struct", []any{int64(3)}, 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := listIDs(tt.v, tt.want)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.ids, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckInfo(t *testing.T) {
	noDisks := vmInfo(10)
	noDisks["disks"] = []any{}
	tests := []struct {
		name    string
		v       any
		wantErr bool
	}{
		{"vm", vmInfo(10), false},
		{"other vm", vmInfo(11), true},
		{"no disks", noDisks, true},
		{"array", []any{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkInfo(tt.v, 10); (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestBaselineHandler(t *testing.T) {
	canned := response(t, vmInfo(10))
	srv := httptest.NewServer(baselineHandler(map[string][]byte{"/" + callInfo: canned}))
	defer srv.Close()
	var dials atomic.Int64
	c := newRPC(srv.URL, &dials)
	defer c.close()
	body, err := encodeCall(callInfo, "key", int64(10))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for range 3 {
		if err := c.post(context.Background(), srv.URL+"/"+callInfo, body, &buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), canned) {
			t.Fatalf("got %q, want the canned bytes", buf.Bytes())
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections for 3 calls, want 1 kept alive", n)
	}
	if err := c.post(context.Background(), srv.URL+"/hosting.vm.nope", body, &buf); err == nil || !strings.Contains(err.Error(), "http 404") {
		t.Errorf("unknown call: err = %v, want http 404", err)
	}
}

func TestPhaseRun(t *testing.T) {
	canned := response(t, vmInfo(10))
	srv := httptest.NewServer(baselineHandler(map[string][]byte{"/" + callInfo: canned}))
	defer srv.Close()
	w := baselineWorkload(&workload{call: callInfo, bodies: [][]byte{[]byte("x"), []byte("y"), []byte("z")}}, canned)
	p := phase{server: "baseline", url: srv.URL + "/" + callInfo, w: w, clients: 3, warmup: 50 * time.Millisecond, duration: 200 * time.Millisecond, pid: os.Getpid()}
	s, err := p.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.n == 0 || len(s.lat) != s.n || s.dials != 3 || s.elapsed != p.duration || s.bytes != int64(s.n*len(canned)) {
		t.Errorf("sample: n %d, %d latencies, %d dials, elapsed %s, %d bytes", s.n, len(s.lat), s.dials, s.elapsed, s.bytes)
	}
	// A server that answers something else stops the phase with an error.
	bad := httptest.NewServer(baselineHandler(map[string][]byte{"/" + callInfo: response(t, vmInfo(11))}))
	defer bad.Close()
	p.url = bad.URL + "/" + callInfo
	if _, err := p.run(context.Background()); err == nil || !strings.Contains(err.Error(), "canned bytes") {
		t.Errorf("wrong responses: err = %v", err)
	}
}

// TestRun runs the whole bench on a few VMs: berthd built and started, VMs created through
// the API and cloned into the store, both calls measured on berthd and the baseline.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs berthd")
	}
	dir := t.TempDir()
	var out bytes.Buffer
	o := options{vms: 130, clients: 4, duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond, rounds: 2,
		data: filepath.Join(dir, "data"), seed: "direct", apiSample: 6, tls: true}
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	o.tls = false
	for _, want := range []string{
		"VMs stored: 130 (6 through hosting.vm.create_from", "124 cloned into the store",
		"hosting.vm.info    berthd", "hosting.vm.info  baseline", "hosting.vm.list    berthd", "hosting.vm.list  baseline",
		"berthd peak RSS (VmHWM)", "vm.info >= 5000 req/s", "GET /v1/vms/{id}: berthd", "berthd/baseline throughput",
		"ratio HTTPS/HTTP", "TLS costs < 20 % of vm.info req/s",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// A second run on the same directory reuses the VMs.
	out.Reset()
	o.vms, o.berthd = 131, filepath.Join(o.data, "bench-berth-daemon")
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if want := "VMs stored: 131 (130 already there; 1 cloned into the store"; !strings.Contains(out.String(), want) {
		t.Errorf("second run: output lacks %q:\n%s", want, out.String())
	}
}

func TestHTTPStatusIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	var dials atomic.Int64
	c := newRPC(srv.URL, &dials)
	defer c.close()
	if _, err := c.call(context.Background(), callInfo, "key", int64(1)); err == nil || !strings.Contains(err.Error(), "http 500") {
		t.Errorf("err = %v, want http 500", err)
	}
}
