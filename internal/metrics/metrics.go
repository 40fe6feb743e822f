// Package metrics defines the Prometheus series CallSnare exports on /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every series; a nil *Metrics records nothing, so tools that embed the
// server need not care.
type Metrics struct {
	Registry   *prometheus.Registry
	Requests   *prometheus.CounterVec   // route, code
	Latency    *prometheus.HistogramVec // route
	Deliveries *prometheus.CounterVec   // route, status (processed, duplicate, ...)
	Rejected   *prometheus.CounterVec   // route, verdict
	Limited    *prometheus.CounterVec   // route
	Sends      *prometheus.CounterVec   // result
	QueueDepth prometheus.GaugeFunc
}

// New registers the series on a fresh registry, with the Go and process collectors.
// queueDepth is read on every scrape; it may be nil.
func New(queueDepth func() float64) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsnare_http_requests_total", Help: "Webhook requests by route and HTTP status code.",
		}, []string{"route", "code"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "callsnare_http_request_duration_seconds",
			Help:    "Time from request to answer, by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsnare_deliveries_total", Help: "Deliveries by route and log status (processed, duplicate, rejected, ...).",
		}, []string{"route", "status"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsnare_signature_rejections_total", Help: "Deliveries refused for their signature, by route and verdict.",
		}, []string{"route", "verdict"}),
		Limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsnare_signature_rate_limited_total",
			Help: "Deliveries answered 429, not stored, because their address failed signatures past the threshold, by route.",
		}, []string{"route"}),
		Sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsnare_textback_sends_total", Help: "Text-back attempts by result (sent, suppressed, retry, unknown, failed).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.Requests, m.Latency, m.Deliveries, m.Rejected, m.Limited, m.Sends,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		m.QueueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callsnare_queue_depth", Help: "Jobs not finished in the durable queue (waiting, scheduled, retrying or running).",
		}, queueDepth)
		reg.MustRegister(m.QueueDepth)
	}
	return m
}

// Delivery counts one delivery's log status.
func (m *Metrics) Delivery(route, status string) {
	if m != nil {
		m.Deliveries.WithLabelValues(route, status).Inc()
	}
}

// Send counts one text-back attempt's result.
func (m *Metrics) Send(result string) {
	if m != nil {
		m.Sends.WithLabelValues(result).Inc()
	}
}

// Rejection counts a delivery refused for its signature.
func (m *Metrics) Rejection(route, verdict string) {
	if m != nil {
		m.Rejected.WithLabelValues(route, verdict).Inc()
	}
}

// RateLimited counts a delivery answered 429 for its address's failed signatures.
func (m *Metrics) RateLimited(route string) {
	if m != nil {
		m.Limited.WithLabelValues(route).Inc()
	}
}

// WriteStats are the store writer's counts since it opened.
type WriteStats struct {
	Deadlocks     uint64
	Serialization uint64
	Expired       uint64
	Units         uint64
	Commits       uint64
	RoundTrips    uint64
}

// WatchWrites exports the write path's conflicts, missed deadlines and batching, read
// from stats on every scrape.
func (m *Metrics) WatchWrites(stats func() WriteStats) {
	if m == nil {
		return
	}
	for _, c := range []struct {
		name, help string
		value      func(WriteStats) uint64
	}{
		{"callsnare_write_deadlocks_total",
			"Write transactions PostgreSQL aborted to break a deadlock (each retried within its deadline).",
			func(w WriteStats) uint64 { return w.Deadlocks }},
		{"callsnare_write_serialization_failures_total",
			"Write transactions aborted for a serialization conflict (each retried within its deadline).",
			func(w WriteStats) uint64 { return w.Serialization }},
		{"callsnare_write_deadline_exceeded_total",
			"Writes that could not commit before their deadline (the delivery was answered 503).",
			func(w WriteStats) uint64 { return w.Expired }},
		{"callsnare_write_units_total",
			"Units of work committed (a delivery, a job's step); over transactions, how well writes are batched.",
			func(w WriteStats) uint64 { return w.Units }},
		{"callsnare_write_transactions_total",
			"Write transactions committed.",
			func(w WriteStats) uint64 { return w.Commits }},
		{"callsnare_write_round_trips_total",
			"Round trips of write transactions to PostgreSQL, their begin and commit included (0 on SQLite).",
			func(w WriteStats) uint64 { return w.RoundTrips }},
	} {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.value(stats())) }))
	}
}
