package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

// signedRequest is a callback signed ahead of time, so that the benchmark measures the
// server, not the client's signing.
type signedRequest struct {
	route, body, sig string
}

// callFlow signs the three callbacks of one missed call.
func (h *harness) callFlow(c call) []signedRequest {
	steps := []struct {
		route string
		p     twilio.Params
	}{
		{"/api/twilio/voice/inbound", c.params("CallStatus", "ringing")},
		{"/api/twilio/voice/dial-complete", c.params("CallStatus", "in-progress", "DialCallStatus", "no-answer", "DialCallSid", "CA"+strings.Repeat("d", 22)+c.sid[24:])},
		{"/api/twilio/voice/status", c.params("CallStatus", "completed", "CallDuration", "25", "SequenceNumber", "2")},
	}
	out := make([]signedRequest, len(steps))
	for i, s := range steps {
		form := url.Values{}
		for k, v := range s.p {
			form.Set(k, v)
		}
		out[i] = signedRequest{route: s.route, body: form.Encode(), sig: twilio.Sign(testToken, h.url+s.route, s.p)}
	}
	return out
}

func (h *harness) send(client *http.Client, r signedRequest) error {
	req, err := http.NewRequest(http.MethodPost, h.url+r.route, strings.NewReader(r.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, r.sig)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: status %d", r.route, resp.StatusCode)
	}
	return nil
}

// warmUp plays n webhooks of whole calls before the measurement, paced one per interval,
// so that the figures are the warm server's: the connection pools filled, statements
// prepared on every connection, the queue running.
func (h *harness) warmUp(b *testing.B, client *http.Client, n int, interval time.Duration) {
	var wg sync.WaitGroup
	sent := 0
	for sent < n {
		for _, r := range h.callFlow(h.newCall(fmt.Sprintf("+1737555%04d", sent%10000))) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.send(client, r); err != nil {
					b.Error(err)
				}
			}()
			sent++
			time.Sleep(interval)
		}
	}
	wg.Wait()
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
}

// reportLatency reports the rate and latency of n webhooks, and how their writes went
// since before: units per transaction, and on PostgreSQL round trips per webhook (the
// text-backs' jobs included).
func reportLatency(b *testing.B, h *harness, before store.WriteStats, hist *hdrhistogram.Histogram, n int, elapsed time.Duration) {
	after := h.svc.Store.WriteStats()
	if commits := after.Commits - before.Commits; commits > 0 {
		b.ReportMetric(float64(after.Units-before.Units)/float64(commits), "units/commit")
	}
	if trips := after.RoundTrips - before.RoundTrips; trips > 0 {
		b.ReportMetric(float64(trips)/float64(n), "round-trips/webhook")
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "webhooks/s")
	b.ReportMetric(float64(hist.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // the per-op time of a concurrent run says nothing
}

// BenchmarkThroughput, after a warm-up, drives the real handler chain (signature check,
// evidence, claim, facts, outcome, text-back enqueue) over loopback HTTP as fast as 64
// concurrent callers can, and reports webhooks/s with p50/p99. "inbound" is the route a
// caller waits on; "call" plays whole missed calls (inbound, dial-complete, status), each
// making a text-back.
func BenchmarkThroughput(b *testing.B) {
	for _, db := range storetest.All() {
		for _, flow := range []string{"inbound", "call"} {
			b.Run(db.Name+"/"+flow, func(b *testing.B) {
				h := newHarness(b, db.DSN(b))
				reqs := make([]signedRequest, 0, b.N)
				for len(reqs) < b.N {
					f := h.callFlow(h.newCall(fmt.Sprintf("+1512555%04d", len(reqs)%10000)))
					if flow == "inbound" {
						f = f[:1]
					}
					reqs = append(reqs, f...)
				}
				reqs = reqs[:b.N]
				hist := hdrhistogram.New(1, 60_000_000, 3)
				var mu sync.Mutex
				var next atomic.Int64
				client := benchClient()
				h.warmUp(b, client, 1000, 0)
				var wg sync.WaitGroup
				before := h.svc.Store.WriteStats()
				b.ResetTimer()
				start := time.Now()
				for range 64 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						local := hdrhistogram.New(1, 60_000_000, 3)
						for {
							i := int(next.Add(1)) - 1
							if i >= len(reqs) {
								break
							}
							t0 := time.Now()
							if err := h.send(client, reqs[i]); err != nil {
								b.Error(err)
								return
							}
							_ = local.RecordValue(time.Since(t0).Microseconds())
						}
						mu.Lock()
						hist.Merge(local)
						mu.Unlock()
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				reportLatency(b, h, before, hist, len(reqs), elapsed)
			})
		}
	}
}

// BenchmarkLatencyAt1000, after a second of warm-up, sends webhooks at a steady 1,000/s,
// open loop (each request leaves on schedule whether or not earlier ones were answered, so
// a slow answer cannot hide the requests queued behind it), and reports p50/p99:
// "inbound" is the route a caller waits on, "call" plays whole missed calls, each making
// a text-back.
func BenchmarkLatencyAt1000(b *testing.B) {
	for _, db := range storetest.All() {
		for _, flow := range []string{"inbound", "call"} {
			b.Run(db.Name+"/"+flow, func(b *testing.B) {
				h := newHarness(b, db.DSN(b))
				var reqs []signedRequest
				for len(reqs) < b.N {
					f := h.callFlow(h.newCall(fmt.Sprintf("+1512555%04d", len(reqs)%10000)))
					if flow == "inbound" {
						f = f[:1]
					}
					reqs = append(reqs, f...)
				}
				reqs = reqs[:b.N]
				hist := hdrhistogram.New(1, 60_000_000, 3)
				var mu sync.Mutex
				client := benchClient()
				const interval = time.Millisecond
				h.warmUp(b, client, 1000, interval)
				var wg sync.WaitGroup
				before := h.svc.Store.WriteStats()
				b.ResetTimer()
				start := time.Now()
				for i, r := range reqs {
					due := start.Add(time.Duration(i) * interval)
					time.Sleep(time.Until(due))
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := h.send(client, r); err != nil {
							b.Error(err)
							return
						}
						// Latency counts from when the request was due, not when it left.
						d := time.Since(due).Microseconds()
						mu.Lock()
						_ = hist.RecordValue(d)
						mu.Unlock()
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				reportLatency(b, h, before, hist, len(reqs), elapsed)
			})
		}
	}
}
