package replay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/replay"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/servicetest"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/stripe"
	"github.com/callsnare/callsnare/internal/twilio"
)

const (
	testAccount  = servicetest.AccountSID
	testToken    = servicetest.AuthToken
	stripeSecret = servicetest.StripeSecret
	trackedNum   = "+15125550100"
	ownerPhone   = "+15125550199"
	callerA      = "+15125550123"
	callerB      = "+15125550124"
	callerC      = "+15125550125"
	callerD      = "+15125550126"
)

var secrets = replay.Secrets{TwilioAuthToken: testToken, StripeSecrets: []string{stripeSecret}}

// forEachDB runs a test on SQLite and on PostgreSQL (skipped when none answers).
func forEachDB(t *testing.T, test func(t *testing.T, newDSN func(testing.TB) string)) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) { test(t, db.DSN) })
	}
}

// rig is a real service on loopback over a real database, texting back to a fake Twilio:
// the server a simulated run records evidence into, or the one a replay targets.
type rig struct {
	ts   *servicetest.Service
	t    testing.TB
	dsn  string
	svc  *service.Service
	fake *faketwilio.Server
	url  string
	org  store.Org
	// decided are the instants of the recording by which every earlier text-back had
	// been decided: a replay that must decide the same splits its windows there.
	decided []time.Time
}

func newRig(t testing.TB, dsn string, tweak ...func(*service.Config)) *rig {
	t.Helper()
	s := servicetest.Start(t, dsn, tweak...)
	r := &rig{t: t, ts: s, dsn: dsn, fake: s.Fake, svc: s.Service, url: s.URL}
	var err error
	r.org, err = r.svc.Store.CreateOrg(context.Background(), store.NewOrg{
		Slug: "acme-hvac", Name: "Acme Heating & Cooling", Numbers: []string{trackedNum}, ForwardTo: ownerPhone,
	}, time.Now())
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	return r
}

var sidSeq atomic.Int64

func newSID(prefix string) string {
	return fmt.Sprintf("%s%032x", prefix, uint64(time.Now().UnixNano())<<8+uint64(sidSeq.Add(1)))
}

// post sends a Twilio callback signed as Twilio signs it and returns the status code.
func (r *rig) post(route string, p twilio.Params) int {
	r.t.Helper()
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, r.url+route, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(testToken, r.url+route, p))
	return r.do(req)
}

func (r *rig) postStripe(payload []byte) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url+"/api/stripe/webhook", strings.NewReader(string(payload)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripe.SignedHeader(payload, stripeSecret, time.Now()))
	return r.do(req)
}

func (r *rig) do(req *http.Request) int {
	r.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("post %s: %v", req.URL.Path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func callParams(sid, from string, kv ...string) twilio.Params {
	p := twilio.Params{"AccountSid": testAccount, "CallSid": sid, "From": from, "To": trackedNum,
		"Caller": from, "Called": trackedNum, "Direction": "inbound", "ApiVersion": "2010-04-01", "FromCity": ""}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

// call plays one call: inbound, then the dial's end (none when dial is ""), then the
// parent's final status. It returns the CallSid.
func (r *rig) call(from, dial string) string {
	r.t.Helper()
	sid := newSID("CA")
	r.expect(200, r.post("/api/twilio/voice/inbound", callParams(sid, from, "CallStatus", "ringing")))
	if dial != "" {
		dur := "0"
		if dial == "completed" {
			dur = "42"
		}
		r.expect(200, r.post("/api/twilio/voice/dial-complete", callParams(sid, from, "CallStatus", "in-progress",
			"DialCallStatus", dial, "DialCallSid", newSID("CA"), "DialCallDuration", dur)))
	}
	r.expect(204, r.post("/api/twilio/voice/status", callParams(sid, from, "CallStatus", "completed", "CallDuration", "31", "SequenceNumber", "2")))
	return sid
}

func (r *rig) sms(from, body string) {
	r.t.Helper()
	r.expect(200, r.post("/api/twilio/sms/inbound", twilio.Params{"AccountSid": testAccount, "MessageSid": newSID("SM"),
		"From": from, "To": trackedNum, "Body": body, "NumMedia": "0", "SmsStatus": "received"}))
}

func (r *rig) expect(want, got int) {
	r.t.Helper()
	if got != want {
		r.t.Fatalf("status %d, want %d", got, want)
	}
}

// settled waits until every text-back is decided and no call waits for its settle.
func (r *rig) settled() {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Calls first: a settle turns a call missed and queues its text-back in one
		// transaction, so once no call waits to settle, every text-back it queued shows.
		open := r.count("calls", "outcome = 'forwarded' AND call_status = 'completed' AND dial_status = ''")
		open += r.count("messages", "direction = 'outbound' AND status IN ('queued', 'sending')")
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d text-backs or settles still open", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idle waits until the queue has nothing to do: no job available, running or retrying.
func (r *rig) idle() {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		idle, err := r.svc.Queue.Idle(context.Background())
		if err == nil && idle {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("queue not idle in time (err %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) count(table, where string, args ...any) int {
	r.t.Helper()
	return r.ts.Count(r.t, table, where, args...)
}

func (r *rig) exec(stmt string) {
	r.t.Helper()
	if _, err := r.ts.DB(r.t).Exec(stmt); err != nil {
		r.t.Fatalf("%s: %v", stmt, err)
	}
}

func (r *rig) snapshot() replay.State {
	r.t.Helper()
	s, err := replay.Snapshot(context.Background(), r.svc.Store, "acme-hvac")
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// recordRun plays a simulated day against the rig: missed, answered and untextable calls,
// a STOP and a START, a reply, and the whole Stripe billing lifecycle.
func (r *rig) recordRun() {
	r.t.Helper()
	r.call(callerA, "no-answer")
	r.call(callerB, "completed")
	r.sms(callerC, "STOP")
	r.call(callerC, "busy")
	// The text-back is decided (suppressed) before the caller opts back in: a replay
	// reproduces that only when its target has decided it too before the START.
	r.settled()
	r.decided = append(r.decided, time.Now())
	time.Sleep(250 * time.Millisecond) // a gap --verify's scratch clock keeps
	r.sms(callerC, "start")
	r.call("anonymous", "no-answer")
	r.settled()
	r.sms(callerA, "Can you come Tuesday?")
	fx, err := stripe.Lifecycle()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range fx {
		r.expect(200, r.postStripe(f.Payload))
	}
	r.settled()
}
