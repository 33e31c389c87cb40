package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePGEnv(t *testing.T) {
	out := "export DATABASE_URL=postgres://postgres@127.0.0.1:5555/berth?sslmode=disable PGTMP=/tmp/berth-pg.x PGBIN=/usr/lib/postgresql/15/bin\n"
	got, err := parsePGEnv(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DATABASE_URL": "postgres://postgres@127.0.0.1:5555/berth?sslmode=disable",
		"PGTMP":        "/tmp/berth-pg.x",
		"PGBIN":        "/usr/lib/postgresql/15/bin",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parsePGEnv (-want +got):\n%s", d)
	}
	for _, bad := range []string{"", "DATABASE_URL=x PGTMP=y PGBIN=z", "export DATABASE_URL=x PGTMP=y"} {
		if _, err := parsePGEnv(bad); err == nil {
			t.Errorf("parsePGEnv(%q) succeeded", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	base := options{vms: 10, clients: 2, rounds: 1, timeout: time.Minute}
	for _, tc := range []struct {
		configs []string
		want    []string // setup names, nil for an error
	}{
		{[]string{"pg-2", "sqlite"}, []string{"sqlite", "pg-2"}},
		{[]string{"sqlite", "pg-1", "pg-2"}, []string{"sqlite", "pg-1", "pg-2"}},
		{[]string{"pg-3"}, nil},
		{[]string{""}, nil},
	} {
		o := base
		o.configs = tc.configs
		got, err := o.check()
		var names []string
		for _, s := range got {
			names = append(names, s.name)
		}
		if (err != nil) != (tc.want == nil) || !cmp.Equal(names, tc.want) {
			t.Errorf("check(%v) = %v, %v; want %v", tc.configs, names, err, tc.want)
		}
	}
	bad := base
	bad.configs = []string{"sqlite"}
	bad.vms = 0
	if _, err := bad.check(); err == nil {
		t.Error("check with -vms 0 succeeded")
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 10 * time.Millisecond}, {1, 10 * time.Millisecond}, {0, time.Millisecond}} {
		if got := quantile(ds, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not zero")
	}
}

// fakeAPI answers operation.count from counts: the pending count pops the next value of
// pending (the last one stays), ERROR and CANCEL answer failed.
type fakeAPI struct {
	mu      sync.Mutex
	pending []int
	failed  int
	calls   int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	body := string(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	n := f.failed
	if strings.Contains(body, "BILL") {
		n = f.pending[0]
		if len(f.pending) > 1 {
			f.pending = f.pending[1:]
		}
	}
	if !strings.Contains(body, "operation.count") {
		fmt.Fprint(w, `<?xml version="1.0"?><methodResponse><params><param><value><array><data></data></array></value></param></params></methodResponse>`)
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0"?><methodResponse><params><param><value><int>%d</int></value></param></params></methodResponse>`, n)
}

func TestPhaseRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		api     *fakeAPI
		wantErr string
	}{
		{"drains", &fakeAPI{pending: []int{5, 3, 1, 0}}, ""},
		{"an operation failed", &fakeAPI{pending: []int{0}, failed: 2}, "2 operations in ERROR"},
		{"never drains", &fakeAPI{pending: []int{4}}, "still pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.api)
			defer srv.Close()
			c := newRPC(srv.URL)
			defer c.close()
			var mu sync.Mutex
			seen := map[int]int{}
			p := phase{name: "test", calls: 20}
			o := options{clients: 4, timeout: 300 * time.Millisecond}
			err := p.run(t.Context(), o, srv.URL, c, "key", func(ctx context.Context, cl *rpc, i int) error {
				mu.Lock()
				seen[i]++
				mu.Unlock()
				_, err := cl.call(ctx, "hosting.vm.list", "key")
				return err
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("run = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range p.calls {
				if seen[i] != 1 {
					t.Errorf("call %d made %d times, want once", i, seen[i])
				}
			}
			if len(p.lat) != p.calls || p.wall < p.callsDone || p.callsDone <= 0 {
				t.Errorf("phase: %d latencies, calls done after %s, wall %s", len(p.lat), p.callsDone, p.wall)
			}
			if len(tc.api.pending) != 1 {
				t.Errorf("pending counts left unread: %v", tc.api.pending)
			}
		})
	}
}

func TestPhaseRunCallError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<?xml version="1.0"?><methodResponse><fault><value><struct>`+
			`<member><name>faultCode</name><value><int>530141</int></value></member>`+
			`<member><name>faultString</name><value><string>boom</string></value></member>`+
			`</struct></value></fault></methodResponse>`)
	}))
	defer srv.Close()
	c := newRPC(srv.URL)
	defer c.close()
	p := phase{name: "test", calls: 5}
	err := p.run(t.Context(), options{clients: 2, timeout: time.Second}, srv.URL, c, "key", func(ctx context.Context, cl *rpc, i int) error {
		_, err := cl.call(ctx, "hosting.vm.stop", "key", int64(i))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("run with failing calls = %v, want the fault", err)
	}
}

func TestProcCPU(t *testing.T) {
	line := "77 (postgres: x (y)) S 12 77 77 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 1 0 5000 1000 50"
	cpu, ppid, err := procCPU(line)
	if err != nil || cpu != 1750*time.Millisecond || ppid != 12 {
		t.Errorf("procCPU = %s, %d, %v; want 1.75s, 12", cpu, ppid, err)
	}
	if _, _, err := procCPU("77 (x) S 12"); err == nil {
		t.Error("procCPU of a short line succeeded")
	}
	// This process has used some CPU, and less than it has lived.
	if got := cpuOf(os.Getpid()); got < 0 || got > time.Hour {
		t.Errorf("cpuOf(self) = %s", got)
	}
	if got := cpuOf(-1); got != 0 {
		t.Errorf("cpuOf(-1) = %s, want 0", got)
	}
}

func TestCPUUsed(t *testing.T) {
	s := time.Second
	before := map[int]cpuSample{1: {"berthd", 2 * s}, 2: {"postgres", 5 * s}, 3: {"postgres", 1 * s}}
	after := map[int]cpuSample{1: {"berthd", 3 * s}, 3: {"postgres", 2 * s}, 4: {"postgres", s / 2}}
	// Process 2 exited (not counted), process 4 is new (counted from zero).
	want := map[string]time.Duration{"berthd": s, "postgres": s + s/2}
	if d := cmp.Diff(want, cpuUsed(before, after)); d != "" {
		t.Errorf("cpuUsed (-want +got):\n%s", d)
	}
}

func TestMedianSpread(t *testing.T) {
	for _, tc := range []struct {
		in     []float64
		median float64
		spread string
	}{
		{[]float64{3}, 3, "3.0"},
		{[]float64{5, 1, 3}, 3, "3.0 (1.0-5.0)"},
		{[]float64{4, 1, 2, 10}, 3, "3.0 (1.0-10.0)"},
	} {
		if got := median(tc.in); got != tc.median {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.median)
		}
		if got := spread(tc.in); got != tc.spread {
			t.Errorf("spread(%v) = %q, want %q", tc.in, got, tc.spread)
		}
	}
}
