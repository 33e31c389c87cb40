package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-io/berth/internal/service"
)

// metrics is what berthd serves at /metrics, named after node_exporter and Incus:
// berth_ prefix, base units, _total on counters.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics builds the registry of an API server; vms is the collector of the VMs this
// process runs (the all-in-one host), or nil.
func newMetrics(svc *service.Service, vms prometheus.Collector) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_api_requests_total",
		Help: "API requests by transport (xmlrpc, rest), method (XML-RPC method or REST route) and outcome (ok, or the error class)."},
		[]string{"transport", "method", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_api_request_duration_seconds",
		Help: "API request latency by transport and method.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"transport", "method"})
	m.reg.MustRegister(m.requests, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{svc: svc})
	if vms != nil {
		m.reg.MustRegister(vms)
	}
	auth := func(name, help string, v func(service.AuthStats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(svc.AuthStats())) }))
	}
	auth("berth_auth_failures_total", "Calls with an unknown or malformed API key.", func(a service.AuthStats) uint64 { return a.Failures })
	auth("berth_auth_slowed_total", "Failed authentications answered late (throttle).", func(a service.AuthStats) uint64 { return a.Slowed })
	auth("berth_auth_refused_total", "Calls refused because their client address was locked out after failed authentications.",
		func(a service.AuthStats) uint64 { return a.Refused })
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observeREST(route string, status int, d time.Duration) {
	outcome := "ok"
	if status >= 400 {
		outcome = strconv.Itoa(status)
	}
	m.requests.WithLabelValues("rest", route, outcome).Inc()
	m.duration.WithLabelValues("rest", route).Observe(d.Seconds())
}

func (m *metrics) observeXMLRPC(method string, fault int, d time.Duration) {
	outcome := "ok"
	if fault != 0 {
		outcome = "fault_" + strconv.Itoa(fault%100) // the cause: 37 bad parameter, 42 not found...
		if fault < 500000 {
			outcome = "fault_" + strconv.Itoa(fault)
		}
	}
	m.requests.WithLabelValues("xmlrpc", method, outcome).Inc()
	m.duration.WithLabelValues("xmlrpc", method).Observe(d.Seconds())
}

// storeCollector reports the store's counts at scrape time, cached for a few seconds so
// that several scrapers cost one read.
type storeCollector struct {
	svc *service.Service

	mu    sync.Mutex
	at    time.Time
	cache *service.Stats
}

var (
	vmsDesc       = prometheus.NewDesc("berth_vms", "VMs by state and datacenter.", []string{"state", "datacenter_id"}, nil)
	opsDesc       = prometheus.NewDesc("berth_operations", "Operations not finished, by type and step (BILL, WAIT, RUN).", []string{"type", "step"}, nil)
	lagDesc       = prometheus.NewDesc("berth_operation_oldest_waiting_seconds", "Age of the oldest operation waiting in each queue: the queue's lag.", []string{"queue"}, nil)
	hostUpDesc    = prometheus.NewDesc("berth_host_up", "1 when the host's agent heartbeats.", []string{"host", "datacenter_id"}, nil)
	hostAgeDesc   = prometheus.NewDesc("berth_host_heartbeat_age_seconds", "Seconds since the host's last heartbeat.", []string{"host"}, nil)
	hostMemDesc   = prometheus.NewDesc("berth_host_memory_bytes", "Memory the host offers to VMs.", []string{"host"}, nil)
	scrapeErrDesc = prometheus.NewDesc("berth_store_scrape_error", "1 when the store could not be read for this scrape.", nil, nil)
)

const statsTTL = 5 * time.Second

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vmsDesc, opsDesc, lagDesc, hostUpDesc, hostAgeDesc, hostMemDesc, scrapeErrDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil || time.Since(c.at) > statsTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.svc.Stats(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, 1)
			return
		}
		c.cache, c.at = st, time.Now()
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, 0)
	st := c.cache
	for k, n := range st.VMs {
		ch <- prometheus.MustNewConstMetric(vmsDesc, prometheus.GaugeValue, float64(n), k.State, strconv.FormatInt(k.DatacenterID, 10))
	}
	for k, n := range st.Operations {
		ch <- prometheus.MustNewConstMetric(opsDesc, prometheus.GaugeValue, float64(n), k.Type, k.Step)
	}
	for q, age := range st.OldestWaiting {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, age.Seconds(), q)
	}
	for _, h := range st.Hosts {
		up := 0.0
		if h.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(hostUpDesc, prometheus.GaugeValue, up, h.Name, strconv.FormatInt(h.DatacenterID, 10))
		ch <- prometheus.MustNewConstMetric(hostAgeDesc, prometheus.GaugeValue, h.HeartbeatAge.Seconds(), h.Name)
		ch <- prometheus.MustNewConstMetric(hostMemDesc, prometheus.GaugeValue, float64(h.MemoryMB<<20), h.Name)
	}
}
