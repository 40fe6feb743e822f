package faultsuite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

const (
	// deadline is the server's bound from receipt to answer (its default).
	deadline = 5 * time.Second
	// answerSlack is what the client adds to the server's own time on a busy machine:
	// connecting, scheduling, reading the answer.
	answerSlack = time.Second
	// drainBound is how long, from the last (re)start, every text-back may take to reach
	// the fake Twilio and the queue to empty, the rescue of a dead process's jobs included:
	// the queue takes a dead process's job up again within its lease (15 s) and a poll;
	// the rest is room for a busy machine and for jobs backing off while the database was away.
	drainBound = 30 * time.Second
)

// env is one scenario's world: a database with an org, a fake Twilio in this process, and
// the Twilio-like client.
type env struct {
	t       *testing.T
	dsn     string
	fake    *faketwilio.Server
	fakeURL string
	client  *twilioClient
}

func newEnv(t *testing.T, dsn string, replicas int) *env {
	t.Helper()
	e := &env{t: t, dsn: dsn, fake: faketwilio.New(faketwilio.Options{}), client: newTwilioClient(replicas)}
	var err error
	if e.fakeURL, err = e.fake.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start fake twilio: %v", err)
	}
	t.Cleanup(func() { e.fake.Close() })
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if _, err := st.CreateOrg(ctx, store.NewOrg{
		Slug: "acme-hvac", Name: "Acme Heating & Cooling", Numbers: []string{trackedNumber}, ForwardTo: ownerPhone,
	}, time.Now()); err != nil {
		t.Fatalf("create org: %v", err)
	}
	return e
}

// serve starts a serve process on the scenario's database and points replica i at it.
func (e *env) serve(i int, failpoints string, extraEnv ...string) *serveProc {
	e.t.Helper()
	p := startServe(e.t, serveConfig{dsn: e.dsn, fakeTwilio: e.fakeURL, failpoints: failpoints, env: extraEnv})
	e.client.point(i, p.url)
	return p
}

// expect is what a scenario allows of the answers.
type expect struct {
	// killed: the server was killed under load, so requests in flight may have had no
	// answer (and may have committed: kill -9 leaves no other choice).
	killed bool
	// stopped: the server was stopped (SIGTERM) under load. Connections the kernel had
	// accepted but the server had not yet read are reset when its listener closes; such a
	// request was never applied, and Twilio retries it. One that was applied must have had
	// its answer.
	stopped bool
}

// check asserts everything the product promises after a scenario, once the load is
// delivered: answers, evidence, calls and leads; then waits, within drainBound of since,
// for every text-back to be sent and the queue to be empty, and counts the texts.
func (e *env) check(calls []call, p *serveProc, since time.Time, x expect) {
	t := e.t
	t.Helper()
	db := storetest.Open(t, e.dsn)

	// Evidence, by the request id each attempt carried.
	var rows []struct {
		Headers string `db:"headers"`
		HTTP    int    `db:"http_status"`
		Status  string `db:"status"`
		Latency int64  `db:"latency_us"`
	}
	if err := db.Select(&rows, `SELECT headers, http_status, status, latency_us FROM webhook_log WHERE provider = 'twilio'`); err != nil {
		t.Fatalf("read webhook log: %v", err)
	}
	type logRow struct {
		http    int
		status  string
		latency time.Duration // as the server measured it
	}
	byReq := map[string][]logRow{}
	for _, r := range rows {
		var h map[string]string
		if err := json.Unmarshal([]byte(r.Headers), &h); err != nil {
			t.Fatalf("headers %q: %v", r.Headers, err)
		}
		if id := h["X-Request-Id"]; id != "" {
			byReq[id] = append(byReq[id], logRow{r.HTTP, r.Status, time.Duration(r.Latency) * time.Microsecond})
		}
	}
	committed := func(id string) bool {
		for _, r := range byReq[id] {
			if r.status == store.StatusProcessed || r.status == store.StatusDuplicate {
				return true
			}
		}
		return false
	}
	var bad []string
	flag := func(format string, args ...any) {
		if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	var ok2xx, n503, noAnswer int
	for _, a := range e.client.all() {
		if len(byReq[a.reqID]) > 1 {
			flag("%s %s: %d log rows for one request", a.route, a.reqID, len(byReq[a.reqID]))
		}
		switch {
		case a.status >= 200 && a.status < 300:
			ok2xx++
			if rs := byReq[a.reqID]; len(rs) != 1 || rs[0].http != a.status || !committed(a.reqID) {
				flag("%s %s answered %d: evidence %+v", a.route, a.reqID, a.status, rs)
			}
		case a.status == http.StatusServiceUnavailable:
			n503++
			if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 {
				flag("%s %s answered 503 with Retry-After %q, want whole seconds", a.route, a.reqID, a.retryAfter)
			}
			if committed(a.reqID) {
				flag("%s %s answered 503 but its delivery was applied", a.route, a.reqID)
			}
		case a.status == 0 && a.refused():
			// Nothing listened: the request never reached a server.
		case a.status == 0:
			noAnswer++
			switch {
			case x.killed:
			case committed(a.reqID):
				flag("%s %s: applied, and then the connection closed without an answer (%v)", a.route, a.reqID, a.err)
			case !x.stopped:
				flag("%s %s: no answer (%v)", a.route, a.reqID, a.err)
			}
		default:
			flag("%s %s: answered %d", a.route, a.reqID, a.status)
		}
		if a.status != 0 && a.elapsed > deadline+answerSlack {
			flag("%s %s: answered %d after %s, over the %s deadline (evidence %+v)", a.route, a.reqID, a.status, a.elapsed.Round(time.Millisecond), deadline, byReq[a.reqID])
		}
	}
	t.Logf("answers: %d 2xx, %d 503, %d without an answer", ok2xx, n503, noAnswer)

	// One call per CallSid, missed; one lead per caller.
	var got []struct {
		SID     string `db:"call_sid"`
		Outcome string `db:"outcome"`
	}
	if err := db.Select(&got, `SELECT call_sid, outcome FROM calls`); err != nil {
		t.Fatalf("read calls: %v", err)
	}
	outcomes := map[string][]string{}
	for _, c := range got {
		outcomes[c.SID] = append(outcomes[c.SID], c.Outcome)
	}
	for _, c := range calls {
		if o := outcomes[c.sid]; len(o) != 1 || o[0] != "missed" {
			flag("call %s: rows %v, want one missed", c.sid, o)
		}
	}
	if len(got) != len(calls) {
		flag("%d call rows, want %d", len(got), len(calls))
	}
	var leads int
	if err := db.Get(&leads, `SELECT COUNT(*) FROM leads`); err != nil {
		t.Fatalf("count leads: %v", err)
	}
	if leads != len(calls) {
		flag("%d leads, want %d (one per caller)", leads, len(calls))
	}
	for _, b := range bad {
		t.Error(b)
	}

	// The queue drains and every text-back is sent.
	end := since.Add(drainBound)
	for {
		var open, sent int
		err := db.Get(&open, `SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND status NOT IN ('sent', 'delivered')`)
		if err == nil {
			err = db.Get(&sent, `SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND status IN ('sent', 'delivered')`)
		}
		var depth float64
		if err == nil {
			depth, err = p.metric("callsnare_queue_depth")
		}
		if err == nil && open == 0 && sent == len(calls) && depth == 0 {
			t.Logf("drained %s after the last start", time.Since(since).Round(time.Millisecond))
			break
		}
		if time.Now().After(end) {
			t.Errorf("not drained %s after the last start: %d text-backs sent, %d not (want %d sent), queue depth %v, err %v",
				drainBound, sent, open, len(calls), depth, err)
			e.dumpTextbacks(db)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Exactly one text per missed call at Twilio: none missing, none doubled.
	var missing, doubled []string
	for _, c := range calls {
		switch n := len(e.fake.SentTo(c.from)); {
		case n == 0:
			missing = append(missing, c.from)
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s×%d", c.from, n))
		}
	}
	if len(missing) > 0 || len(doubled) > 0 || e.fake.Count() != len(calls) {
		t.Errorf("fake Twilio got %d texts for %d missed calls; no text: %v; doubled: %v", e.fake.Count(), len(calls), short(missing), short(doubled))
	}
}

func (e *env) dumpTextbacks(db interface {
	Select(dest any, query string, args ...any) error
}) {
	var ms []struct {
		Call   string `db:"call_sid"`
		Status string `db:"status"`
		Error  string `db:"error"`
	}
	if err := db.Select(&ms, `SELECT call_sid, status, error FROM messages WHERE direction = 'outbound' AND status NOT IN ('sent', 'delivered')`); err == nil {
		for i, m := range ms {
			if i == 10 {
				break
			}
			e.t.Logf("text-back of %s: %s %s", m.Call, m.Status, m.Error)
		}
	}
}

func short(s []string) []string {
	if len(s) > 8 {
		return append(s[:8:8], fmt.Sprintf("... %d in all", len(s)))
	}
	return s
}
