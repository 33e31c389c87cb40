package service_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/agent"
	hvfake "github.com/berth-io/berth/internal/hypervisor/fake"
	netfake "github.com/berth-io/berth/internal/netdev/fake"
	"github.com/berth-io/berth/internal/service"
)

// statsClock is the samples' clock of a test.
type statsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *statsClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *statsClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// TestMetricQuery collects the fake drivers' counters (which grow by one tick per read)
// once a minute and checks what hosting.metric.query makes of the samples, on SQLite and
// PostgreSQL.
func TestMetricQuery(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) { testMetricQuery(t, engine) })
	}
}

func testMetricQuery(t *testing.T, engine string) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := &statsClock{t: t0}
	var acfg agent.Config
	e := newEnvWith(t, engine, func(c *agent.Config) { c.Now = clock.now; acfg = *c })
	ag := agent.New(acfg) // the same drivers and store as the env's agent
	v := e.vm("stats")
	if len(v.Ifaces) != 1 || v.Ifaces[0].Iface.Type != "public" {
		t.Fatalf("the vm's ifaces: %+v, want one public", v.Ifaces)
	}
	for i := range 3 { // 10:00 sets the baseline; 10:01 and 10:02 each store one sample
		clock.set(t0.Add(time.Duration(i) * time.Minute))
		if err := ag.CollectStats(e.ctx); err != nil {
			t.Fatalf("CollectStats %d: %v", i, err)
		}
	}
	clock.set(t0.Add(150 * time.Second)) // read for /metrics, no sample: the minute has not passed
	if err := ag.CollectStats(e.ctx); err != nil {
		t.Fatal(err)
	}
	snap := ag.LatestStats()
	if len(snap.VMs) != 1 || snap.VMs[0].VMID != v.VM.ID || !snap.At.Equal(clock.now()) {
		t.Fatalf("LatestStats: %+v", snap)
	}
	c := snap.VMs[0]
	if c.CPU != 4*hvfake.TickCPU || c.MemoryBytes != 256<<20 || len(c.Disks) != 1 || c.Disks[0].ReadBytes != 4*hvfake.TickReadBytes ||
		len(c.Ifaces) != 1 || c.Ifaces[0].RxBytes != 4*netfake.TickRxBytes || c.Ifaces[0].Type != "public" {
		t.Errorf("after 4 reads: %+v", c)
	}

	query := func(q string, unit, fn string, start, end time.Time) []api.MetricSeries {
		t.Helper()
		got, err := e.svc.MetricQuery(e.ctx, e.c, api.MetricQuery{Query: q, ResourceType: "vm", ResourceIDs: []int64{v.VM.ID},
			Start: start, End: end, Unit: unit, Value: 1, Function: fn})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return got
	}
	pt := func(min int, v float64) api.MetricPoint {
		return api.MetricPoint{Time: t0.Add(time.Duration(min) * time.Minute), Value: v, Valid: true}
	}
	series := func(metric string, labels []api.MetricLabel, pts ...api.MetricPoint) api.MetricSeries {
		return api.MetricSeries{Metric: metric, ResourceID: v.VM.ID, ResourceType: "vm", Labels: labels, Points: pts}
	}
	dir := func(d string, typ ...string) []api.MetricLabel {
		l := []api.MetricLabel{{Name: "direction", Value: d}}
		for _, x := range typ {
			l = append(l, api.MetricLabel{Name: "type", Value: x})
		}
		return l
	}
	// Per minute: the sample of 10:01 counts in 10:00, that of 10:02 in 10:01; 10:02 has none.
	none := api.MetricPoint{Time: t0.Add(2 * time.Minute)}
	want := []api.MetricSeries{
		series("vif.bytes", dir("in", "public"), pt(0, netfake.TickRxBytes), pt(1, netfake.TickRxBytes), none),
		series("vif.bytes", dir("out", "public"), pt(0, netfake.TickTxBytes), pt(1, netfake.TickTxBytes), none),
	}
	if d := cmp.Diff(want, query("vif.bytes.all", "minutes", "sum", t0, t0.Add(3*time.Minute))); d != "" {
		t.Errorf("vif.bytes.all by minute (-want +got):\n%s", d)
	}
	for fn, v := range map[string]float64{"sum": 2 * hvfake.TickReadBytes, "max": hvfake.TickReadBytes, "min": hvfake.TickReadBytes, "avg": hvfake.TickReadBytes} {
		got := query("vbd.bytes.all", "hours", fn, t0.Add(-time.Hour), t0.Add(time.Hour))
		want := []api.MetricSeries{
			series("vbd.bytes", dir("read"), api.MetricPoint{Time: t0.Add(-time.Hour)}, pt(0, v)),
			series("vbd.bytes", dir("write"), api.MetricPoint{Time: t0.Add(-time.Hour)}, pt(0, v/4)),
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("vbd.bytes.all by hour, %s (-want +got):\n%s", fn, d)
		}
	}
	if got := query("vcpu.time.all", "days", "sum", t0, t0.Add(time.Hour)); len(got) != 1 || got[0].Points[0] != (api.MetricPoint{Time: t0.Add(-10 * time.Hour), Value: 1, Valid: true}) {
		t.Errorf("vcpu.time.all by day: %+v, want 1 s on 2026-12-04", got)
	}
	if got := query("vif.bytes.all", "hours", "sum", t0.Add(time.Hour), t0.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("an hour without samples: %+v, want no series", got)
	}

	b, _, _ := e.svc.CreateAccount(e.ctx, "bob", "", 100)
	bob := &service.Caller{AccountID: b.ID, Handle: "bob"}
	good := api.MetricQuery{Query: "vif.bytes.all", ResourceType: "vm", ResourceIDs: []int64{v.VM.ID}, Start: t0, End: t0.Add(time.Hour), Unit: "hours", Value: 1, Function: "max"}
	_, err := e.svc.MetricQuery(e.ctx, bob, good)
	if ae := api.AsError(err); ae == nil || ae.Code != api.NotFound || ae.Object != api.ObjVM {
		t.Errorf("another account's vm: %v, want vm not found", err)
	}
	for name, change := range map[string]func(q *api.MetricQuery){
		"query":         func(q *api.MetricQuery) { q.Query = "vfs.df.bytes.all" },
		"resource_type": func(q *api.MetricQuery) { q.ResourceType = "paas" },
		"no ids":        func(q *api.MetricQuery) { q.ResourceIDs = nil },
		"unit":          func(q *api.MetricQuery) { q.Unit = "weeks" },
		"value":         func(q *api.MetricQuery) { q.Value = 0 },
		"function":      func(q *api.MetricQuery) { q.Function = "median" },
		"end":           func(q *api.MetricQuery) { q.End = q.Start },
		"points":        func(q *api.MetricQuery) { q.Unit, q.End = "minutes", q.Start.Add(7*24*time.Hour) },
	} {
		q := good
		change(&q)
		_, err := e.svc.MetricQuery(e.ctx, e.c, q)
		if ae := api.AsError(err); ae == nil || ae.Code != api.Invalid || ae.Object != api.ObjMetric {
			t.Errorf("bad %s: %v, want an invalid metric query", name, err)
		}
	}
}
