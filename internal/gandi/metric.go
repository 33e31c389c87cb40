package gandi

import (
	"context"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// metricTimeLayouts are the start and end formats accepted: gandi.cli's
// 'YYYY-mm-dd HH:MM:SS', and the same with a T. Times are UTC.
var metricTimeLayouts = []string{time.DateTime, "2006-01-02T15:04:05"}

// metricPointLayout is the format of a point's timestamp: a plain string, UTC (D3).
const metricPointLayout = "2006-01-02T15:04:05"

// metricTime reads start or end: a string in a metricTimeLayouts format or a dateTime.
// Absent, it is def.
func metricTime(m map[string]any, key string, def time.Time) (time.Time, error) {
	switch v := m[key].(type) {
	case nil:
		return def, nil
	case time.Time:
		return v.UTC(), nil
	case string:
		if v == "" {
			return def, nil
		}
		for _, l := range metricTimeLayouts {
			if t, err := time.Parse(l, strings.TrimSpace(v)); err == nil {
				return t, nil
			}
		}
		return time.Time{}, invalid(api.ObjMetric, "%s %q: want 'YYYY-mm-dd HH:MM:SS' (UTC)", key, v)
	}
	return time.Time{}, invalid(api.ObjMetric, "%s must be a string 'YYYY-mm-dd HH:MM:SS'", key)
}

// metricQueryOf reads a hosting.metric.query request (gandi-api.md §3.12). resource_type
// defaults to vm, end to now, start to a day before end, the sampler to one hour, summed.
func metricQueryOf(m map[string]any, now time.Time) (api.MetricQuery, error) {
	q := api.MetricQuery{ResourceType: "vm", Unit: "hours", Value: 1, Function: "sum"}
	var err error
	if q.Query, err = memberString(api.ObjMetric, m, "query"); err != nil {
		return q, err
	}
	if q.Query == "" {
		return q, invalid(api.ObjMetric, "query is required, e.g. vif.bytes.all")
	}
	if t, err := memberString(api.ObjMetric, m, "resource_type"); err != nil {
		return q, err
	} else if t != "" {
		q.ResourceType = t
	}
	ids, ok, err := xmlrpc.MemberIntList(m, "resource_id")
	if err != nil {
		return q, invalid(api.ObjMetric, "resource_id must be an int or a list of ints")
	}
	if !ok {
		return q, invalid(api.ObjMetric, "resource_id is required")
	}
	q.ResourceIDs = ids
	if q.End, err = metricTime(m, "end", now.UTC().Truncate(time.Second)); err != nil {
		return q, err
	}
	if q.Start, err = metricTime(m, "start", q.End.Add(-24*time.Hour)); err != nil {
		return q, err
	}
	if _, ok := m["sampler"]; !ok || m["sampler"] == nil {
		return q, nil
	}
	s, ok := m["sampler"].(map[string]any)
	if !ok {
		return q, invalid(api.ObjMetric, "sampler must be a struct {unit, value, function}")
	}
	if u, err := memberString(api.ObjMetric, s, "unit"); err != nil {
		return q, err
	} else if u != "" {
		q.Unit = u
	}
	if v, ok, err := memberInt(api.ObjMetric, s, "value"); err != nil {
		return q, err
	} else if ok {
		q.Value = v
	}
	if f, err := memberString(api.ObjMetric, s, "function"); err != nil {
		return q, err
	} else if f != "" {
		q.Function = f
	}
	return q, nil
}

// metricWire is one series of the answer: labels are one-element lists, as Gandi's
// ('direction': ['in']); a period without samples is a point without value.
func metricWire(s api.MetricSeries) wire {
	w := wire{"metric": s.Metric, "resource_id": s.ResourceID, "resource_type": s.ResourceType}
	for _, l := range s.Labels {
		w[l.Name] = []any{l.Value}
	}
	points := make([]any, len(s.Points))
	for i, p := range s.Points {
		pw := wire{"timestamp": p.Time.UTC().Format(metricPointLayout)}
		if p.Valid {
			pw["value"] = p.Value
		}
		points[i] = pw
	}
	w["points"] = points
	return w
}

func (g *gandi) metricQuery(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "query")
	if err != nil {
		return nil, err
	}
	q, err := metricQueryOf(m, time.Now())
	if err != nil {
		return nil, err
	}
	series, err := g.svc.MetricQuery(ctx, c, q)
	if err != nil {
		return nil, err
	}
	return shapeAll(series, metricWire), nil
}
