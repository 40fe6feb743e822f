package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/servicetest"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

const (
	testAccount = servicetest.AccountSID
	testToken   = servicetest.AuthToken
	trackedNum  = "+15125550100"
	ownerPhone  = "+15125550199"
	callerPhone = "+15125550123"
)

// harness is one real service on loopback HTTP, over a real database, sending text-backs
// to a fake Twilio.
type harness struct {
	ts       *servicetest.Service
	t        testing.TB
	svc      *service.Service
	fake     *faketwilio.Server
	org      store.Org
	url      string
	fakeBase string
}

func (h *harness) fakeURL() string { return h.fakeBase }

var sidSeq atomic.Int64

// newSID makes a realistic, unique Twilio SID with the given prefix (CA, SM, ...).
func newSID(prefix string) string {
	return fmt.Sprintf("%s%032x", prefix, uint64(time.Now().UnixNano())<<8+uint64(sidSeq.Add(1)))
}

func newHarness(t testing.TB, dsn string, tweak ...func(*service.Config)) *harness {
	t.Helper()
	s := servicetest.Start(t, dsn, tweak...)
	h := &harness{t: t, ts: s, svc: s.Service, fake: s.Fake, url: s.URL, fakeBase: s.FakeURL}
	if _, err := h.svc.Store.OrgBySlug(context.Background(), "acme-hvac"); err != nil {
		h.org = h.addOrg("acme-hvac", trackedNum, ownerPhone)
	}
	return h
}

func (h *harness) addOrg(slug, number, forwardTo string) store.Org {
	h.t.Helper()
	org, err := h.svc.Store.CreateOrg(context.Background(), store.NewOrg{
		Slug: slug, Name: "Acme Heating & Cooling", Numbers: []string{number}, ForwardTo: forwardTo,
	}, time.Now())
	if err != nil {
		h.t.Fatalf("create org: %v", err)
	}
	return org
}

// post sends a callback signed as Twilio signs it, and returns the status and body.
func (h *harness) post(route string, p twilio.Params) (int, string) {
	h.t.Helper()
	return h.postWith(route, p, map[string]string{twilio.SignatureHeader: twilio.Sign(testToken, h.url+route, p)})
}

func (h *harness) postWith(route string, p twilio.Params, headers map[string]string) (int, string) {
	h.t.Helper()
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	return h.raw(http.MethodPost, route, "application/x-www-form-urlencoded", form.Encode(), headers)
}

func (h *harness) raw(method, route, contentType, body string, headers map[string]string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+route, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, route, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// call is one simulated inbound call's callbacks.
type call struct {
	sid, from, to string
}

func (h *harness) newCall(from string) call {
	return call{sid: newSID("CA"), from: from, to: h.org.Numbers[0]}
}

func (c call) params(extra ...string) twilio.Params {
	p := twilio.Params{"AccountSid": testAccount, "CallSid": c.sid, "From": c.from, "To": c.to,
		"Caller": c.from, "Called": c.to, "Direction": "inbound", "ApiVersion": "2010-04-01", "FromCity": ""}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

func (h *harness) inbound(c call) (int, string) {
	return h.post("/api/twilio/voice/inbound", c.params("CallStatus", "ringing"))
}

func (h *harness) dialComplete(c call, status string, dur int) (int, string) {
	return h.post("/api/twilio/voice/dial-complete", c.params("CallStatus", "in-progress",
		"DialCallStatus", status, "DialCallSid", "CA"+strings.Repeat("d", 22)+c.sid[24:], "DialCallDuration", fmt.Sprint(dur)))
}

func (h *harness) status(c call, status string) (int, string) {
	return h.post("/api/twilio/voice/status", c.params("CallStatus", status, "CallDuration", "31", "SequenceNumber", "2"))
}

func (h *harness) sms(from, body string) (int, string) {
	return h.post("/api/twilio/sms/inbound", twilio.Params{"AccountSid": testAccount, "MessageSid": newSID("SM"),
		"From": from, "To": h.org.Numbers[0], "Body": body, "NumMedia": "0", "SmsStatus": "received"})
}

func (h *harness) missedCall(from string) call {
	h.t.Helper()
	c := h.newCall(from)
	h.expect(200)(h.inbound(c))
	h.expect(200)(h.dialComplete(c, "no-answer", 0))
	h.expect(204)(h.status(c, "completed"))
	return c
}

// expect checks a response's status code.
func (h *harness) expect(code int) func(int, string) {
	return func(got int, body string) {
		h.t.Helper()
		if got != code {
			h.t.Fatalf("status %d, want %d; body: %s", got, code, body)
		}
	}
}

// textback waits until the call's text-back is decided (sent, suppressed or failed) and
// returns it.
func (h *harness) textback(c call) store.Message {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := h.svc.Store.TextbackState(context.Background(), c.sid, time.Hour, time.Now())
		if err == nil {
			switch st.Message.Status {
			case store.TextbackSent, store.TextbackSuppressed, store.TextbackFailed:
				return st.Message
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("text-back of %s not decided in time (last: %+v, err %v)", c.sid, st.Message, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) callRow(c call) store.Call {
	h.t.Helper()
	got, err := h.svc.Store.CallBySID(context.Background(), c.sid)
	if err != nil {
		h.t.Fatalf("call %s: %v", c.sid, err)
	}
	return got
}

// logRows returns the evidence of a route, oldest first.
func (h *harness) logRows(where string, args ...any) []store.Evidence {
	h.t.Helper()
	var rows []store.Evidence
	db := h.ts.DB(h.t)
	q := `SELECT id, received_at, provider, route, org_id, remote_addr, url, headers, content_type, body, body_sha256,
		body_truncated, signature, dedupe_key, duplicate_of, kind, call_sid, caller, status, error, http_status,
		response_body, latency_us, replay_of FROM webhook_log`
	if where != "" {
		q += " WHERE " + where
	}
	if err := db.Select(&rows, db.Rebind(q+" ORDER BY id"), args...); err != nil {
		h.t.Fatalf("read webhook log: %v", err)
	}
	return rows
}

func (h *harness) count(table, where string, args ...any) int {
	h.t.Helper()
	return h.ts.Count(h.t, table, where, args...)
}
