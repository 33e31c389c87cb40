package service

import (
	"context"
	"slices"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Limits of a metric query.
const (
	MaxMetricResources = 50   // resource ids in one query
	MaxMetricPoints    = 2000 // periods in one series
)

// metricUnits are the sampler units, with Gandi's plural names and the singular ones.
var metricUnits = map[string]time.Duration{
	"minutes": time.Minute, "minute": time.Minute, "hours": time.Hour, "hour": time.Hour,
	"days": 24 * time.Hour, "day": 24 * time.Hour,
}

// metricSeries is one series of a query: its labels and its value in one sample (false
// when the sample does not have it, e.g. no private iface).
type metricSeries struct {
	labels []api.MetricLabel
	value  func(s *store.VMSample) (float64, bool)
}

// metricDef is a supported query: the metric it answers and its series, in answer order.
type metricDef struct {
	metric string
	series []metricSeries
}

func label(kv ...string) []api.MetricLabel {
	var out []api.MetricLabel
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, api.MetricLabel{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// vifSeries are the series of an iface metric: in and out, public then private.
func vifSeries(in, out func(u *store.NetUsage) int64) []metricSeries {
	var s []metricSeries
	for _, typ := range []string{"public", "private"} {
		usage := func(x *store.VMSample) *store.NetUsage {
			if typ == "private" {
				return x.Private
			}
			return x.Public
		}
		for _, d := range []struct {
			name string
			f    func(*store.NetUsage) int64
		}{{"in", in}, {"out", out}} {
			s = append(s, metricSeries{labels: label("direction", d.name, "type", typ), value: func(x *store.VMSample) (float64, bool) {
				if u := usage(x); u != nil {
					return float64(d.f(u)), true
				}
				return 0, false
			}})
		}
	}
	return s
}

// diskSeries are the series of a disk metric: read then write.
func diskSeries(read, write func(s *store.VMSample) int64) []metricSeries {
	always := func(f func(s *store.VMSample) int64) func(s *store.VMSample) (float64, bool) {
		return func(s *store.VMSample) (float64, bool) { return float64(f(s)), true }
	}
	return []metricSeries{{labels: label("direction", "read"), value: always(read)}, {labels: label("direction", "write"), value: always(write)}}
}

// metricDefs are the supported queries of resource type vm. vif.bytes.all and
// vbd.bytes.all are Gandi's (gandi.cli vm info --stat); the others are Berth's.
var metricDefs = map[string]metricDef{
	"vif.bytes.all": {"vif.bytes", vifSeries(func(u *store.NetUsage) int64 { return u.RxBytes }, func(u *store.NetUsage) int64 { return u.TxBytes })},
	"vif.packets.all": {"vif.packets", vifSeries(func(u *store.NetUsage) int64 { return u.RxPackets },
		func(u *store.NetUsage) int64 { return u.TxPackets })},
	"vbd.bytes.all": {"vbd.bytes", diskSeries(func(s *store.VMSample) int64 { return s.DiskReadBytes },
		func(s *store.VMSample) int64 { return s.DiskWriteBytes })},
	"vbd.ops.all":   {"vbd.ops", diskSeries(func(s *store.VMSample) int64 { return s.DiskReads }, func(s *store.VMSample) int64 { return s.DiskWrites })},
	"vcpu.time.all": {"vcpu.time", []metricSeries{{value: func(s *store.VMSample) (float64, bool) { return s.CPU.Seconds(), true }}}},
}

// MetricQueries lists the supported queries, sorted.
func MetricQueries() []string {
	var out []string
	for q := range metricDefs {
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

// sum adds values up.
func sum(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t
}

// metricFuncs combine the samples of one period (never empty).
var metricFuncs = map[string]func(v []float64) float64{
	"sum": sum,
	"max": slices.Max[[]float64],
	"min": slices.Min[[]float64],
	"avg": func(v []float64) float64 { return sum(v) / float64(len(v)) },
}

// checkMetricQuery validates q and returns its definition and period.
func checkMetricQuery(q *api.MetricQuery) (metricDef, time.Duration, error) {
	def, ok := metricDefs[q.Query]
	if !ok {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "query %q is not supported: want one of %v", q.Query, MetricQueries())
	}
	if q.ResourceType != "vm" {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "resource_type %q is not supported: want vm", q.ResourceType)
	}
	if len(q.ResourceIDs) == 0 || len(q.ResourceIDs) > MaxMetricResources {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "resource_id: want 1 to %d ids, got %d", MaxMetricResources, len(q.ResourceIDs))
	}
	unit, ok := metricUnits[q.Unit]
	if !ok {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "sampler unit %q: want minutes, hours or days", q.Unit)
	}
	if q.Value < 1 || q.Value > 10000 {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "sampler value %d: want 1 to 10000", q.Value)
	}
	if _, ok := metricFuncs[q.Function]; !ok {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "sampler function %q: want sum, max, min or avg", q.Function)
	}
	if !q.End.After(q.Start) {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "end %s is not after start %s", q.End.Format(time.DateTime), q.Start.Format(time.DateTime))
	}
	period := unit * time.Duration(q.Value)
	if n := (periodOf(q.End.Add(-time.Second), period).Sub(periodOf(q.Start, period)))/period + 1; n > MaxMetricPoints {
		return def, 0, api.Errorf(api.Invalid, api.ObjMetric, "%d periods from start to end: at most %d, take a longer sampler", n, MaxMetricPoints)
	}
	return def, period, nil
}

// periodOf is the start of the period holding t: periods are aligned on the Unix epoch
// (days on midnight UTC).
func periodOf(t time.Time, period time.Duration) time.Time {
	return time.Unix(0, 0).UTC().Add(t.Sub(time.Unix(0, 0)) / period * period)
}

// MetricQuery answers hosting.metric.query from the VM samples of the store: for each
// VM, each series of the query that has a value in the range, with one point per period
// from Start to End. A sample covers the interval that ends at its time, and counts in the
// period holding that interval's last second. A VM of another account is not found.
func (s *Service) MetricQuery(ctx context.Context, c *Caller, q api.MetricQuery) ([]api.MetricSeries, error) {
	def, period, err := checkMetricQuery(&q)
	if err != nil {
		return nil, err
	}
	var ids []int64 // in the query's order, once each
	for _, id := range q.ResourceIDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	err = s.st.Read(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			if _, err := tx.VM(c.AccountID, id); err != nil {
				return notFound(err, api.ObjVM, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	log, ok := s.base.(store.VMSampleLog) // the raw store: the audit wrapper hides its extra interfaces
	if !ok {
		return nil, api.Errorf(api.Unavailable, api.ObjMetric, "this store keeps no samples")
	}
	samples, err := log.VMSamples(ctx, ids, q.Start, q.End)
	if err != nil {
		return nil, err
	}
	first, last := periodOf(q.Start, period), periodOf(q.End.Add(-time.Second), period)
	n := int(last.Sub(first)/period) + 1
	byVM := map[int64][]store.VMSample{}
	for _, x := range samples {
		byVM[x.VMID] = append(byVM[x.VMID], x)
	}
	fn := metricFuncs[q.Function]
	var out []api.MetricSeries
	for _, id := range ids {
		for _, ser := range def.series {
			vals := make([][]float64, n)
			found := false
			for i := range byVM[id] {
				x := &byVM[id][i]
				v, ok := ser.value(x)
				if !ok {
					continue
				}
				k := int(periodOf(x.Time.Add(-time.Second), period).Sub(first) / period)
				if k >= 0 && k < n {
					vals[k] = append(vals[k], v)
					found = true
				}
			}
			if !found {
				continue
			}
			ms := api.MetricSeries{Metric: def.metric, ResourceID: id, ResourceType: q.ResourceType, Labels: ser.labels, Points: make([]api.MetricPoint, n)}
			for k := range ms.Points {
				ms.Points[k].Time = first.Add(time.Duration(k) * period)
				if len(vals[k]) > 0 {
					ms.Points[k].Value, ms.Points[k].Valid = fn(vals[k]), true
				}
			}
			out = append(out, ms)
		}
	}
	return out, nil
}
