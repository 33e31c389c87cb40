package api

import "time"

// MetricQuery asks for the usage of resources over time (hosting.metric.query): the
// growth of Query's counters in each sampling period of Every from Start to End, combined
// by Function over the host's samples (one a minute by default) in the period.
type MetricQuery struct {
	Query        string // e.g. vif.bytes.all
	ResourceType string // vm
	ResourceIDs  []int64
	Start, End   time.Time
	Unit         string // minutes, hours or days
	Value        int64  // periods are Value units long
	Function     string // sum, max, min or avg
}

// MetricSeries is one series of a metric query's answer.
type MetricSeries struct {
	Metric       string // e.g. vif.bytes
	ResourceID   int64
	ResourceType string
	Labels       []MetricLabel // e.g. direction in, type public
	Points       []MetricPoint // one per period, oldest first
}

// MetricLabel is one dimension of a series.
type MetricLabel struct{ Name, Value string }

// MetricPoint is one period of a series: Time is its start; Valid is false when no
// sample fell in it.
type MetricPoint struct {
	Time  time.Time
	Value float64
	Valid bool
}
