package simulate

import (
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// latency histograms hold microseconds, 1 µs to 2 minutes, 3 significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) }

// routeStats are the counters of one route.
type routeStats struct {
	hist     *hdrhistogram.Histogram
	codes    map[int]int
	requests int
	retries  int
	errors   int
	netErrs  int
	first    time.Time
	last     time.Time
}

// stats counts every attempt, per route.
type stats struct {
	mu     sync.Mutex
	routes map[string]*routeStats
}

func newStats() *stats { return &stats{routes: map[string]*routeStats{}} }

// record counts an attempt. It is an error when it got no answer, a 5xx, or an answer of
// another class than the delivery expects (a 4xx to a valid delivery, a 2xx to a forged one).
func (s *stats) record(route string, a answer, latency time.Duration, retry bool, expect int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[route]
	if r == nil {
		r = &routeStats{hist: newHist(), codes: map[int]int{}}
		s.routes[route] = r
	}
	r.requests++
	if retry {
		r.retries++
	}
	switch {
	case a.err != nil:
		r.errors++
		r.netErrs++
	case a.status/100 != expect:
		r.errors++
	}
	if a.err == nil {
		r.codes[a.status]++
	}
	_ = r.hist.RecordValue(max(latency.Microseconds(), 1))
	if r.first.IsZero() || a.at.Before(r.first) {
		r.first = a.at
	}
	if a.at.After(r.last) {
		r.last = a.at
	}
}

// snapshot sums what was counted so far, for the progress line.
func (s *stats) snapshot() (requests, errors int, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := newHist()
	for _, r := range s.routes {
		requests += r.requests
		errors += r.errors
		h.Merge(r.hist)
	}
	return requests, errors, time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
}

// RouteReport is what one route (or all of them) measured.
type RouteReport struct {
	Route     string         `json:"route"`
	Requests  int            `json:"requests"`
	Codes     map[string]int `json:"status_codes"`
	Rate      float64        `json:"rate_per_s"`
	Retries   int            `json:"retries"`
	Errors    int            `json:"errors"`
	NetErrors int            `json:"no_answer"`
	Latency   Latency        `json:"latency_ms"`
}

// Latency percentiles in milliseconds, from an HDR histogram.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	return Latency{P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(99.9), Max: float64(h.Max()) / 1000}
}

// reports gives each route's figures and the overall ones; elapsed is the sending window.
func (s *stats) reports(elapsed time.Duration) ([]RouteReport, RouteReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.routes))
	for n := range s.routes {
		names = append(names, n)
	}
	sort.Strings(names)
	all := &routeStats{hist: newHist(), codes: map[int]int{}}
	var out []RouteReport
	for _, n := range names {
		r := s.routes[n]
		out = append(out, r.report(n, elapsed))
		all.hist.Merge(r.hist)
		all.requests += r.requests
		all.retries += r.retries
		all.errors += r.errors
		all.netErrs += r.netErrs
		for c, k := range r.codes {
			all.codes[c] += k
		}
	}
	return out, all.report("all", elapsed)
}

func (r *routeStats) report(name string, elapsed time.Duration) RouteReport {
	codes := map[string]int{}
	for c, n := range r.codes {
		codes[strconv.Itoa(c)] = n
	}
	rep := RouteReport{Route: name, Requests: r.requests, Codes: codes, Retries: r.retries, Errors: r.errors,
		NetErrors: r.netErrs, Latency: latencyOf(r.hist)}
	if elapsed > 0 {
		rep.Rate = float64(r.requests) / elapsed.Seconds()
	}
	return rep
}
