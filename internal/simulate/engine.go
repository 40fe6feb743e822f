package simulate

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// delivery is one provider request, signed and ready to send again as the provider would.
type delivery struct {
	route    string // path, the report's key
	url      string // where it is sent
	body     []byte
	header   http.Header
	expect   int // 2 for a 2xx answer, 4 for a refusal
	stripe   bool
	maxTries int
	// resign signs a Stripe attempt at the time it leaves: retries and redeliveries carry
	// a fresh timestamp and signature, as Stripe's do.
	resign func(at time.Time) string
	// done gets the final answer, after retries.
	done func(a answer)
}

// answer is what a target said to one attempt.
type answer struct {
	status int
	body   []byte
	err    error
	at     time.Time
}

func (a answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// item is work due at a time: a flow's next request or a retry.
type item struct {
	ready time.Time
	seq   int64
	run   func(due time.Time)
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if !h[i].ready.Equal(h[j].ready) {
		return h[i].ready.Before(h[j].ready)
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(*item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// engine sends requests open loop: a clock ticks at the chosen rate, and each tick sends
// the next request that is ready (a follow-up, a retry, or the start of a new flow). A
// request's latency counts from its tick, not from when it could leave, so a slow target
// cannot hide the requests queued behind it.
type engine struct {
	opts   Options
	client *http.Client
	stats  *stats
	sem    chan struct{}
	reqSeq atomic.Int64

	mu       sync.Mutex
	items    itemHeap
	seq      int64
	flush    bool // no new flows: everything queued is due now
	inflight sync.WaitGroup
	running  atomic.Int64

	// attempts are the answered requests, for the evidence check.
	attMu    sync.Mutex
	attempts []attempt
}

// attempt is one answered request.
type attempt struct {
	requestID string
	route     string
	status    int
	expect    int
}

func newEngine(o Options, client *http.Client) *engine {
	return &engine{opts: o, client: client, stats: newStats(), sem: make(chan struct{}, o.Concurrency)}
}

// schedule queues work due at t.
func (e *engine) schedule(t time.Time, run func(due time.Time)) {
	e.mu.Lock()
	e.seq++
	heap.Push(&e.items, &item{ready: t, seq: e.seq, run: run})
	e.mu.Unlock()
}

// next pops the work that is ready at now, if any, and says when the next will be.
func (e *engine) next(now time.Time) (*item, time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.items) == 0 {
		return nil, time.Time{}, false
	}
	top := e.items[0]
	if e.flush || !top.ready.After(now) {
		return heap.Pop(&e.items).(*item), time.Time{}, true
	}
	return nil, top.ready, true
}

// rateAt is the request rate at elapsed time d; 0 means unpaced.
func (e *engine) rateAt(d time.Duration) float64 {
	if len(e.opts.Ramp) > 0 {
		return max(e.opts.Ramp.At(d), 1)
	}
	return e.opts.Rate
}

// dispatch runs the clock until more() says no new flow may start and all work is done.
// start begins a new flow (scheduling its first request) and reports false when no more
// flows may start.
func (e *engine) dispatch(ctx context.Context, start func(now time.Time) bool) {
	t0 := time.Now()
	next := t0
	starting := true
	for ctx.Err() == nil {
		if rate := e.rateAt(next.Sub(t0)); rate > 0 {
			if d := time.Until(next); d > 0 {
				sleep(ctx, d)
			}
		} else {
			next = time.Now()
		}
		due := next
		if rate := e.rateAt(next.Sub(t0)); rate > 0 {
			next = next.Add(time.Duration(float64(time.Second) / rate))
		}
		it, wake, queued := e.next(time.Now())
		if it == nil && starting {
			if starting = start(due); starting {
				it, wake, queued = e.next(time.Now())
			} else {
				e.mu.Lock()
				e.flush = true
				e.mu.Unlock()
				continue
			}
		}
		if it == nil {
			if !queued && !starting {
				if e.running.Load() == 0 {
					e.mu.Lock()
					empty := len(e.items) == 0
					e.mu.Unlock()
					if empty {
						return
					}
				}
			}
			// Idle: nothing is ready; wait for the next item or a short while for
			// answers in flight to queue follow-ups.
			w := time.Now().Add(2 * time.Millisecond)
			if queued && wake.Before(w) {
				w = wake
			}
			sleep(ctx, time.Until(w))
			if next.Before(w) {
				next = w
			}
			continue
		}
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		e.running.Add(1)
		e.inflight.Add(1)
		go func() {
			defer func() { <-e.sem; e.running.Add(-1); e.inflight.Done() }()
			it.run(due)
		}()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// send delivers d once, records it, and on a 5xx or no answer schedules a retry with a
// provider-like backoff, until maxTries; done gets the final answer.
func (e *engine) send(ctx context.Context, d *delivery, due time.Time, try int) {
	a := e.do(ctx, d, due, try > 1)
	if !a.ok() && (a.err != nil || a.status >= 500) && try < d.maxTries && ctx.Err() == nil {
		backoff := retryBackoff(d.stripe, try)
		e.schedule(time.Now().Add(backoff), func(due time.Time) { e.send(ctx, d, due, try+1) })
		return
	}
	if d.done != nil {
		d.done(a)
	}
}

// retryBackoff is the wait before retry n: Twilio retries soon and rarely, Stripe backs
// off exponentially (both scaled from minutes and hours down to a simulation's pace).
func retryBackoff(stripe bool, try int) time.Duration {
	if stripe {
		return 100 * time.Millisecond << min(try-1, 5)
	}
	return 50 * time.Millisecond * time.Duration(try)
}

// do sends one attempt and records its latency from due.
func (e *engine) do(ctx context.Context, d *delivery, due time.Time, retry bool) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return answer{err: err, at: time.Now()}
	}
	for k, v := range d.header {
		req.Header[k] = v
	}
	if d.resign != nil { // Stripe signs every attempt afresh
		req.Header.Set("Stripe-Signature", d.resign(time.Now()))
	}
	id := fmt.Sprintf("sim-%s-%d", e.opts.RunID, e.reqSeq.Add(1))
	req.Header.Set("X-Request-Id", id)
	ctx2, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	req = req.WithContext(ctx2)
	var a answer
	resp, err := e.client.Do(req)
	if err != nil {
		a.err = err
	} else {
		a.status = resp.StatusCode
		a.body, a.err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	a.at = time.Now()
	e.stats.record(d.route, a, a.at.Sub(due), retry, d.expect)
	if a.err == nil && a.status < 500 {
		e.attMu.Lock()
		e.attempts = append(e.attempts, attempt{requestID: id, route: d.route, status: a.status, expect: d.expect})
		e.attMu.Unlock()
	}
	return a
}
