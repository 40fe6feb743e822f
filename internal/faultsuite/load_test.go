package faultsuite_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	twilioclient "github.com/twilio/twilio-go/client"

	"github.com/callsnare/callsnare/internal/servicetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

const (
	trackedNumber = "+15125550100"
	ownerPhone    = "+15125550199"

	routeInbound = "/api/twilio/voice/inbound"
	routeDial    = "/api/twilio/voice/dial-complete"
	routeStatus  = "/api/twilio/voice/status"
)

// call is one inbound call that will go unanswered: each has a caller of its own, so that
// the text-back cooldown never hides a missing or doubled text.
type call struct {
	sid, from string
	replica   int // which replica start sends it to
}

var runSeq atomic.Int64

// validator is twilio-go's own check, applied to every request the suite signs.
var validator = twilioclient.NewRequestValidator(servicetest.AuthToken)

// newCalls makes n calls with SIDs unique to this run.
func newCalls(n int) []call {
	run := runSeq.Add(1)
	stamp := time.Now().UnixNano()
	cs := make([]call, n)
	for i := range cs {
		cs[i] = call{
			sid:  fmt.Sprintf("CA%016x%08x%08x", stamp, run, i),
			from: fmt.Sprintf("+1512555%04d", 3000+i),
		}
	}
	return cs
}

func (c call) params(extra ...string) twilio.Params {
	p := twilio.Params{"AccountSid": servicetest.AccountSID, "CallSid": c.sid, "From": c.from, "To": trackedNumber,
		"Caller": c.from, "Called": trackedNumber, "Direction": "inbound", "ApiVersion": "2010-04-01"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// steps are a missed call's three callbacks, in the order Twilio sends them.
func (c call) steps() []delivery {
	return []delivery{
		{routeInbound, c.sid, c.params("CallStatus", "ringing")},
		{routeDial, c.sid, c.params("CallStatus", "in-progress", "DialCallStatus", "no-answer",
			"DialCallSid", "CA"+strings.Repeat("d", 8)+c.sid[10:], "DialCallDuration", "0")},
		{routeStatus, c.sid, c.params("CallStatus", "completed", "CallDuration", "31", "SequenceNumber", "2")},
	}
}

type delivery struct {
	route, callSID string
	params         twilio.Params
}

// attempt is one HTTP request of a delivery and what came of it.
type attempt struct {
	reqID, route, callSID, target string
	start                         time.Time
	elapsed                       time.Duration
	status                        int // 0: no answer
	retryAfter                    string
	err                           error
}

// refused says the request never reached a server: nothing listened.
func (a attempt) refused() bool { return errors.Is(a.err, syscall.ECONNREFUSED) }

// twilioClient delivers callbacks as Twilio does, signed with twilio-go's validator over
// the target's URL, and retries a 503 (after its Retry-After) or a request that got no
// answer, until a 2xx or giveUp. Every attempt carries an X-Request-Id of its own, which
// the evidence keeps, so each answer can be matched with its log row.
type twilioClient struct {
	targets []*atomic.Pointer[string] // one per replica; a restart swaps the URL
	http    *http.Client
	giveUp  time.Duration
	seq     atomic.Int64

	mu       sync.Mutex
	attempts []attempt
}

func newTwilioClient(replicas int) *twilioClient {
	c := &twilioClient{
		// A request not answered in 30 s is a failure of its own, well above any deadline.
		http:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		giveUp: 90 * time.Second,
	}
	for range replicas {
		c.targets = append(c.targets, new(atomic.Pointer[string]))
	}
	return c
}

// point makes replica i's deliveries go to url (after a start or a restart).
func (c *twilioClient) point(i int, url string) { c.targets[i].Store(&url) }

// deliver sends d to replica i until it is acknowledged.
func (c *twilioClient) deliver(i int, d delivery) error {
	first := time.Now()
	for {
		a := c.send(i, d)
		if a.status >= 200 && a.status < 300 {
			return nil
		}
		if a.status != 0 && a.status != http.StatusServiceUnavailable {
			return fmt.Errorf("%s %s: answered %d", d.route, d.callSID, a.status)
		}
		if time.Since(first) > c.giveUp {
			return fmt.Errorf("%s %s: not acknowledged within %s (last: %d %v)", d.route, d.callSID, c.giveUp, a.status, a.err)
		}
		wait := 50 * time.Millisecond
		if s, err := strconv.Atoi(a.retryAfter); err == nil && s > 0 {
			// Twilio would wait the whole Retry-After; the suite is in a hurry.
			wait = 250 * time.Millisecond
		}
		time.Sleep(wait)
	}
}

func (c *twilioClient) send(i int, d delivery) attempt {
	base := *c.targets[i].Load()
	a := attempt{reqID: fmt.Sprintf("fs-%d-%d", time.Now().UnixNano(), c.seq.Add(1)), route: d.route, callSID: d.callSID, target: base}
	form := url.Values{}
	for k, v := range d.params {
		form.Set(k, v)
	}
	req, err := http.NewRequest(http.MethodPost, base+d.route, strings.NewReader(form.Encode()))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sig := twilio.Sign(servicetest.AuthToken, base+d.route, d.params)
	if !validator.Validate(base+d.route, d.params, sig) {
		panic("twilio-go refuses the suite's signature of " + base + d.route)
	}
	req.Header.Set(twilio.SignatureHeader, sig)
	req.Header.Set("X-Request-Id", a.reqID)
	a.start = time.Now()
	resp, err := c.http.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		if err != nil { // the answer was cut short: not an answer
			a.status = 0
		}
	}
	a.elapsed, a.err = time.Since(a.start), err
	c.mu.Lock()
	c.attempts = append(c.attempts, a)
	c.mu.Unlock()
	return a
}

// missedCall plays one missed call's callbacks to replica i.
func (c *twilioClient) missedCall(i int, cl call) error {
	for _, d := range cl.steps() {
		if err := c.deliver(i, d); err != nil {
			return err
		}
	}
	return nil
}

// load plays calls with a few concurrent callers; done counts the calls fully delivered.
type load struct {
	done atomic.Int64
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (c *twilioClient) start(calls []call, workers int) *load {
	return c.play(calls, workers, func(cl call) error { return c.missedCall(cl.replica, cl) })
}

func (c *twilioClient) play(calls []call, workers int, play func(call) error) *load {
	l := &load{}
	next := make(chan call)
	go func() {
		for _, cl := range calls {
			next <- cl
		}
		close(next)
	}()
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for cl := range next {
				if err := play(cl); err != nil {
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
				}
				l.done.Add(1)
			}
		}()
	}
	return l
}

// wait waits for every call to be delivered and fails the test on any that was not.
func (l *load) wait(t testing.TB) {
	t.Helper()
	l.wg.Wait()
	for i, err := range l.errs {
		if i == 5 {
			t.Errorf("... and %d more", len(l.errs)-5)
			break
		}
		t.Error(err)
	}
	if len(l.errs) > 0 {
		t.FailNow()
	}
}

// waitFor waits until the load has delivered n calls (or all of them).
func (l *load) waitFor(t testing.TB, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for l.done.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls delivered in a minute, waiting for %d", l.done.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *twilioClient) all() []attempt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]attempt(nil), c.attempts...)
}

// count is how many attempts were answered with status.
func (c *twilioClient) count(status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.attempts {
		if a.status == status {
			n++
		}
	}
	return n
}
