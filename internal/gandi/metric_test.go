package gandi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// TestMetricQueryOf reads gandi.cli's request (modules/metric.py) and the defaults, and
// refuses bad members with a metric fault.
func TestMetricQueryOf(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 30, 15, 0, time.UTC)
	got, err := metricQueryOf(map[string]any{"start": "2026-12-03 10:30:15", "end": "2026-12-04 10:30:15", "query": "vif.bytes.all",
		"resource_id": []any{int64(42)}, "resource_type": "vm", "sampler": map[string]any{"unit": "hours", "value": int64(1), "function": "max"}}, now)
	want := api.MetricQuery{Query: "vif.bytes.all", ResourceType: "vm", ResourceIDs: []int64{42}, Start: now.Add(-24 * time.Hour), End: now,
		Unit: "hours", Value: 1, Function: "max"}
	if d := cmp.Diff(want, got); err != nil || d != "" {
		t.Errorf("gandi.cli's query: %v (-want +got):\n%s", err, d)
	}
	got, err = metricQueryOf(map[string]any{"query": "vbd.bytes.all", "resource_id": 7.0}, now)
	want = api.MetricQuery{Query: "vbd.bytes.all", ResourceType: "vm", ResourceIDs: []int64{7}, Start: now.Add(-24 * time.Hour), End: now,
		Unit: "hours", Value: 1, Function: "sum"}
	if d := cmp.Diff(want, got); err != nil || d != "" {
		t.Errorf("defaults: %v (-want +got):\n%s", err, d)
	}
	for name, m := range map[string]map[string]any{
		"no query":       {"resource_id": int64(1)},
		"no resource_id": {"query": "vif.bytes.all"},
		"resource_id":    {"query": "vif.bytes.all", "resource_id": []any{"a"}},
		"start":          {"query": "vif.bytes.all", "resource_id": int64(1), "start": "yesterday"},
		"end":            {"query": "vif.bytes.all", "resource_id": int64(1), "end": int64(5)},
		"sampler":        {"query": "vif.bytes.all", "resource_id": int64(1), "sampler": "hourly"},
		"sampler value":  {"query": "vif.bytes.all", "resource_id": int64(1), "sampler": map[string]any{"value": "one"}},
	} {
		_, err := metricQueryOf(m, now)
		if f := Fault(err); f.Code != 531437 {
			t.Errorf("%s: fault %d %q, want 531437 (metric, bad parameter)", name, f.Code, f.String)
		}
	}
}

// TestMetricWire checks the answer's wire types (gandi-api.md D6): resource_id an int,
// labels one-element lists, timestamps plain strings, values doubles, and a period
// without samples a point without value.
func TestMetricWire(t *testing.T) {
	t0 := time.Date(2015, 3, 18, 10, 0, 0, 0, time.UTC)
	w := metricWire(api.MetricSeries{Metric: "vif.bytes", ResourceID: 152967, ResourceType: "vm",
		Labels: []api.MetricLabel{{Name: "direction", Value: "in"}, {Name: "type", Value: "public"}},
		Points: []api.MetricPoint{{Time: t0, Value: 24420, Valid: true}, {Time: t0.Add(time.Hour)}}})
	var b bytes.Buffer
	if err := xmlrpc.EncodeResponse(&b, []any{w}); err != nil {
		t.Fatal(err)
	}
	x := b.String()
	for _, want := range []string{
		"<name>metric</name><value><string>vif.bytes</string></value>",
		"<name>direction</name><value><array><data><value><string>in</string></value></data></array></value>",
		"<name>type</name><value><array><data><value><string>public</string></value></data></array></value>",
		"<name>resource_id</name><value><int>152967</int></value>",
		"<name>resource_type</name><value><string>vm</string></value>",
		"<name>timestamp</name><value><string>2015-03-18T10:00:00</string></value>",
		"<name>value</name><value><double>24420",
		"<member><name>timestamp</name><value><string>2015-03-18T11:00:00</string></value></member></struct>",
	} {
		if !strings.Contains(x, want) {
			t.Errorf("answer lacks %s:\n%s", want, x)
		}
	}
}
