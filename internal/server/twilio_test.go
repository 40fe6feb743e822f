package server_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

// forEachDB runs a test on SQLite and on PostgreSQL.
func forEachDB(t *testing.T, test func(t *testing.T, dsn string)) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			test(t, db.DSN(t))
		})
	}
}

// twimlDoc is enough of TwiML to check answers structurally: the library writes
// attributes in random order, so bytes are never compared.
type twimlDoc struct {
	XMLName xml.Name `xml:"Response"`
	Dial    *struct {
		Action  string `xml:"action,attr"`
		Timeout string `xml:"timeout,attr"`
		Number  string `xml:"Number"`
	} `xml:"Dial"`
	Say    string    `xml:"Say"`
	Hangup *struct{} `xml:"Hangup"`
}

func parseTwiML(t *testing.T, body string) twimlDoc {
	t.Helper()
	var d twimlDoc
	if err := xml.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("answer is not TwiML: %v\n%s", err, body)
	}
	return d
}

func TestMissedCallTextsBackOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		c := h.newCall(callerPhone)

		code, body := h.inbound(c)
		h.expect(200)(code, body)
		doc := parseTwiML(t, body)
		if doc.Dial == nil || doc.Dial.Number != ownerPhone || doc.Dial.Action != h.url+"/api/twilio/voice/dial-complete" || doc.Dial.Timeout != "20" {
			t.Fatalf("inbound answer should dial the owner with the dial-complete action: %s", body)
		}
		code, body = h.dialComplete(c, "no-answer", 0)
		h.expect(200)(code, body)
		if d := parseTwiML(t, body); d.Say == "" || d.Hangup == nil {
			t.Errorf("missed dial-complete should apologise and hang up: %s", body)
		}
		h.expect(204)(h.status(c, "completed"))

		msg := h.textback(c)
		if msg.Status != "sent" || !msg.SID.Valid {
			t.Fatalf("text-back = %s (%s), want sent with a SID", msg.Status, msg.Reason)
		}
		sent := h.fake.SentTo(callerPhone)
		if len(sent) != 1 {
			t.Fatalf("fake Twilio got %d messages to the caller, want 1", len(sent))
		}
		if sent[0].From != trackedNum || !strings.Contains(sent[0].Body, "Acme Heating & Cooling") || sent[0].SID != msg.SID.String {
			t.Errorf("sent %+v, stored sid %s", sent[0], msg.SID.String)
		}
		row := h.callRow(c)
		if row.Outcome != "missed" || row.DialStatus != "no-answer" || row.CallStatus != "completed" || !row.LeadID.Valid {
			t.Errorf("call row = %+v", row)
		}
		leads, err := h.svc.Store.Leads(context.Background(), h.org.ID, callerPhone)
		if err != nil || len(leads) != 1 || len(leads[0].Messages) != 1 || leads[0].Messages[0].Direction != "outbound" {
			t.Fatalf("lead of the caller = %+v, %v", leads, err)
		}
		for _, ev := range h.logRows("") {
			if ev.Status != "processed" || ev.Signature != "valid" || ev.OrgID.Int64 != h.org.ID || ev.DedupeKey == "" || len(ev.Body) == 0 {
				t.Errorf("evidence %d: status %s signature %s org %v key %q", ev.ID, ev.Status, ev.Signature, ev.OrgID, ev.DedupeKey)
			}
		}
	})
}

func TestDuplicatedReorderedAndConcurrentCallbacksTextOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		c := h.newCall(callerPhone)
		// Status first, dial-complete twice, then the inbound webhook three times at once.
		h.expect(204)(h.status(c, "completed"))
		h.expect(200)(h.dialComplete(c, "busy", 0))
		h.expect(200)(h.dialComplete(c, "busy", 0))
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(2)
			go func() { defer wg.Done(); h.expect(200)(h.inbound(c)) }()
			go func() { defer wg.Done(); h.expect(200)(h.dialComplete(c, "busy", 0)) }()
		}
		wg.Wait()
		if msg := h.textback(c); msg.Status != "sent" {
			t.Fatalf("text-back = %s (%s)", msg.Status, msg.Reason)
		}
		h.idle() // a wrong second send would be done by now
		if n := len(h.fake.SentTo(callerPhone)); n != 1 {
			t.Fatalf("fake Twilio got %d messages, want 1", n)
		}
		if n := h.count("calls", "call_sid = ?", c.sid); n != 1 {
			t.Errorf("%d call rows", n)
		}
		if n := h.count("leads", ""); n != 1 {
			t.Errorf("%d leads", n)
		}
		if n := h.count("webhook_log", "status = 'duplicate'"); n != 6 {
			t.Errorf("%d deliveries logged duplicate, want 6 (2 inbound, 4 dial-complete)", n)
		}
		for _, ev := range h.logRows("status = 'duplicate'") {
			if !ev.DuplicateOf.Valid {
				t.Errorf("duplicate %d does not name its original", ev.ID)
			}
		}
	})
}

func TestAnsweredCallIsNotTexted(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		c := h.newCall(callerPhone)
		h.expect(200)(h.inbound(c))
		code, body := h.dialComplete(c, "completed", 42)
		h.expect(200)(code, body)
		if d := parseTwiML(t, body); d.Hangup == nil || d.Say != "" {
			t.Errorf("answered dial-complete should just hang up: %s", body)
		}
		h.expect(204)(h.status(c, "completed"))
		if row := h.callRow(c); row.Outcome != "answered" || row.TextbackStatus.Valid {
			t.Errorf("call = %+v", row)
		}
		if n := h.count("messages", ""); n != 0 {
			t.Errorf("%d messages for an answered call", n)
		}
	})
}

func TestStopThenStart(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		h.expect(200)(h.sms(callerPhone, " stop "))
		c1 := h.missedCall(callerPhone)
		if msg := h.textback(c1); msg.Status != "suppressed" || msg.Reason != "opted_out" {
			t.Fatalf("after STOP: text-back %s (%s), want suppressed (opted_out)", msg.Status, msg.Reason)
		}
		h.expect(200)(h.sms(callerPhone, "START"))
		c2 := h.missedCall(callerPhone)
		if msg := h.textback(c2); msg.Status != "sent" {
			t.Fatalf("after START: text-back %s (%s), want sent", msg.Status, msg.Reason)
		}
		if n := len(h.fake.SentTo(callerPhone)); n != 1 {
			t.Errorf("fake Twilio got %d messages, want 1", n)
		}
		leads, _ := h.svc.Store.Leads(context.Background(), h.org.ID, callerPhone)
		if len(leads) != 1 || leads[0].OptedOut || len(leads[0].Messages) != 4 {
			t.Errorf("lead = %+v", leads)
		}
	})
}

func TestStopCancelsPendingTextback(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, func(c *service.Config) { c.Rules.TextbackDelay = 2 * time.Second })
		c := h.missedCall(callerPhone)
		h.expect(200)(h.sms(callerPhone, "STOP"))
		if msg := h.textback(c); msg.Status != "suppressed" || msg.Reason != "opted_out" {
			t.Fatalf("text-back %s (%s), want suppressed (opted_out)", msg.Status, msg.Reason)
		}
		if n := h.fake.Count(); n != 0 {
			t.Errorf("fake Twilio got %d messages", n)
		}
	})
}

func TestCooldown(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		first, second := h.missedCall(callerPhone), h.newCall(callerPhone)
		if msg := h.textback(first); msg.Status != "sent" {
			t.Fatalf("first text-back %s", msg.Status)
		}
		h.expect(200)(h.inbound(second))
		h.expect(200)(h.dialComplete(second, "no-answer", 0))
		if msg := h.textback(second); msg.Status != "suppressed" || msg.Reason != "cooldown" {
			t.Fatalf("second text-back %s (%s), want suppressed (cooldown)", msg.Status, msg.Reason)
		}
	})
}

func TestUnknownNumberIsUnmatched(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		c := call{sid: newSID("CA"), from: callerPhone, to: "+15125550999"}
		code, body := h.inbound(c)
		h.expect(200)(code, body)
		if d := parseTwiML(t, body); d.Say == "" || d.Hangup == nil {
			t.Errorf("unknown number should get a polite hangup: %s", body)
		}
		h.expect(200)(h.dialComplete(c, "no-answer", 0))
		h.expect(200)(h.post("/api/twilio/sms/inbound", twilio.Params{"MessageSid": newSID("SM"), "From": callerPhone, "To": c.to, "Body": "hi"}))
		rows := h.logRows("")
		if len(rows) != 3 {
			t.Fatalf("%d log rows, want 3", len(rows))
		}
		for _, ev := range rows {
			if ev.Status != "unmatched" || ev.OrgID.Valid {
				t.Errorf("evidence %s: status %s org %v", ev.Kind, ev.Status, ev.OrgID)
			}
		}
		if n := h.count("calls", ""); n != 0 {
			t.Errorf("%d calls", n)
		}
		h.idle()
		if n := h.fake.Count(); n != 0 {
			t.Errorf("%d messages sent", n)
		}
	})
}

func TestUntextableCallersAreNeverTexted(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		for _, from := range []string{"anonymous", "+266696687", "client:alice", "sip:bob@example.com"} {
			c := h.missedCall(from)
			if msg := h.textback(c); msg.Status != "suppressed" || msg.Reason != "not_textable" {
				t.Errorf("%s: text-back %s (%s), want suppressed (not_textable)", from, msg.Status, msg.Reason)
			}
			if row := h.callRow(c); row.Outcome != "missed" || row.LeadID.Valid {
				t.Errorf("%s: call %+v", from, row)
			}
		}
		h.idle()
		if n := h.fake.Requests(); n != 0 {
			t.Errorf("%d send attempts", n)
		}
	})
}

func TestCallerHungUpBeforeDialCompleteSettles(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, func(c *service.Config) { c.Rules.Settle = 300 * time.Millisecond })
		c := h.newCall(callerPhone)
		h.expect(200)(h.inbound(c))
		h.expect(204)(h.status(c, "completed"))
		if row := h.callRow(c); row.Outcome != "forwarded" {
			t.Fatalf("before the settle window: %s", row.Outcome)
		}
		if msg := h.textback(c); msg.Status != "sent" {
			t.Fatalf("text-back %s (%s)", msg.Status, msg.Reason)
		}
		if row := h.callRow(c); row.Outcome != "missed" || row.Reason != "hung_up" {
			t.Errorf("after settling: %s (%s)", row.Outcome, row.Reason)
		}
	})
}

func TestNoForwardToIsMissedAtOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		h.org = h.addOrg("no-owner", "+15125550111", "")
		c := h.newCall(callerPhone)
		code, body := h.inbound(c)
		h.expect(200)(code, body)
		if d := parseTwiML(t, body); d.Dial != nil || d.Say == "" {
			t.Errorf("with no forward-to the caller should hear an apology: %s", body)
		}
		if msg := h.textback(c); msg.Status != "sent" {
			t.Errorf("text-back %s (%s)", msg.Status, msg.Reason)
		}
	})
}

func TestTextbackSendFaults(t *testing.T) {
	tests := []struct {
		name       string
		script     []faketwilio.Response
		wantStatus string
		wantSent   int // messages the fake recorded
	}{
		{"rate limited then accepted", []faketwilio.Response{faketwilio.TooManyRequests, faketwilio.Accept}, "sent", 1},
		{"server error then accepted", []faketwilio.Response{faketwilio.ServerError, faketwilio.Accept}, "sent", 1},
		{"accepted but answered 500 is found, not resent", []faketwilio.Response{faketwilio.AcceptThenServerError}, "sent", 1},
		{"opted out at Twilio is permanent", []faketwilio.Response{faketwilio.OptedOut}, "failed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, storetest.SQLite(t))
			h.fake.Script(tt.script...)
			c := h.missedCall(callerPhone)
			msg := h.textback(c)
			if msg.Status != tt.wantStatus {
				t.Fatalf("text-back %s (%s), want %s", msg.Status, msg.Error, tt.wantStatus)
			}
			h.idle()
			if n := len(h.fake.SentTo(callerPhone)); n != tt.wantSent {
				t.Errorf("fake recorded %d messages, want %d", n, tt.wantSent)
			}
			if tt.wantStatus == "sent" && h.fake.SentTo(callerPhone)[0].SID != msg.SID.String {
				t.Errorf("stored SID %s is not the one Twilio gave", msg.SID.String)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		c := h.newCall(callerPhone)
		good := c.params("CallStatus", "ringing")
		route := "/api/twilio/voice/inbound"
		sig := twilio.Sign(testToken, h.url+route, good)
		form := func(p twilio.Params) string {
			var b strings.Builder
			for k, v := range p {
				if b.Len() > 0 {
					b.WriteByte('&')
				}
				b.WriteString(k + "=" + strings.ReplaceAll(v, "+", "%2B"))
			}
			return b.String()
		}
		tests := []struct {
			name        string
			method      string
			contentType string
			body        string
			headers     map[string]string
			want        int
			verdict     string
		}{
			{"wrong method", http.MethodGet, "", "", nil, 405, "unchecked"},
			{"oversized body", http.MethodPost, "application/x-www-form-urlencoded", "Body=" + strings.Repeat("x", 2<<20), map[string]string{twilio.SignatureHeader: sig}, 413, "unchecked"},
			{"wrong content type", http.MethodPost, "application/json", `{"CallSid":"x"}`, map[string]string{twilio.SignatureHeader: sig}, 415, "unchecked"},
			{"malformed form", http.MethodPost, "application/x-www-form-urlencoded", "CallSid=%zz&From=%", map[string]string{twilio.SignatureHeader: sig}, 400, "unchecked"},
			{"repeated key", http.MethodPost, "application/x-www-form-urlencoded", form(good) + "&To=%2B15125550999", map[string]string{twilio.SignatureHeader: sig}, 400, "unchecked"},
			{"missing signature", http.MethodPost, "application/x-www-form-urlencoded", form(good), nil, 403, "missing"},
			{"wrong signature", http.MethodPost, "application/x-www-form-urlencoded", form(good), map[string]string{twilio.SignatureHeader: "bm90IGEgc2lnbmF0dXJl"}, 403, "invalid"},
			{"signature for another URL", http.MethodPost, "application/x-www-form-urlencoded", form(good), map[string]string{twilio.SignatureHeader: twilio.Sign(testToken, "https://evil.example.com"+route, good)}, 403, "invalid"},
			{"signature with another token", http.MethodPost, "application/x-www-form-urlencoded", form(good), map[string]string{twilio.SignatureHeader: twilio.Sign("fedcba9876543210fedcba9876543210", h.url+route, good)}, 403, "invalid"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(h.logRows(""))
				code, body := h.raw(tt.method, route, tt.contentType, tt.body, tt.headers)
				if code != tt.want {
					t.Fatalf("status %d, want %d (%s)", code, tt.want, body)
				}
				rows := h.logRows("")
				if len(rows) != before+1 {
					t.Fatalf("%d new log rows, want 1", len(rows)-before)
				}
				ev := rows[len(rows)-1]
				if ev.Status != "rejected" || ev.HTTPStatus != tt.want || ev.Error == "" || ev.Signature != tt.verdict {
					t.Errorf("evidence: status %s http %d signature %s error %q", ev.Status, ev.HTTPStatus, ev.Signature, ev.Error)
				}
				// A parsable refusal is filed under the org its To names, for support.
				if wantOrg := tt.want == 403; ev.OrgID.Valid != wantOrg || (wantOrg && ev.CallSID != c.sid) {
					t.Errorf("evidence org %v call %q; filed under the org: %v", ev.OrgID, ev.CallSID, wantOrg)
				}
			})
		}
		t.Run("duplicated signature header", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.url+route, strings.NewReader(form(good)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Add(twilio.SignatureHeader, sig)
			req.Header.Add(twilio.SignatureHeader, sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
		if n := h.count("calls", ""); n != 0 {
			t.Errorf("rejected deliveries created %d calls", n)
		}
		// The same delivery, properly signed, still goes through: nothing was claimed.
		h.expect(200)(h.post(route, good))
		if n := h.count("calls", ""); n != 1 {
			t.Errorf("%d calls after the good delivery", n)
		}
	})
}

func TestHostileBodiesAreStoredVerbatim(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		bodies := []string{
			"'; DROP TABLE calls; --",
			"Robert'); DELETE FROM leads WHERE ('1'='1",
			"bell\x07 escape\x1b[31mred\x1b[0m nul-free \u202e rtl",
			"emoji 🔥 and accents éà",
		}
		for _, b := range bodies {
			h.expect(200)(h.sms(callerPhone, b))
		}
		leads, err := h.svc.Store.Leads(context.Background(), h.org.ID, callerPhone)
		if err != nil || len(leads) != 1 || len(leads[0].Messages) != len(bodies) {
			t.Fatalf("leads %+v, %v", leads, err)
		}
		for i, m := range leads[0].Messages {
			if m.Body != bodies[i] {
				t.Errorf("message %d = %q, want %q", i, m.Body, bodies[i])
			}
		}
		for _, ev := range h.logRows("kind = 'sms.inbound'") {
			p, err := twilio.ParseForm(ev.Body)
			if err != nil || !contains(bodies, p["Body"]) {
				t.Errorf("evidence body does not round-trip: %q", ev.Body)
			}
		}
		if n := h.count("calls", ""); n != 0 {
			t.Errorf("tables were touched: %d calls", n)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCooldownUnderConcurrentJobs: several missed calls from one caller at once put
// several text-back jobs in the queue at once; the caller still gets one text.
func TestCooldownUnderConcurrentJobs(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		calls := make([]call, 6)
		var wg sync.WaitGroup
		for i := range calls {
			calls[i] = h.newCall(callerPhone)
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.expect(200)(h.inbound(calls[i]))
				h.expect(200)(h.dialComplete(calls[i], "no-answer", 0))
			}()
		}
		wg.Wait()
		sent := 0
		for _, c := range calls {
			switch msg := h.textback(c); {
			case msg.Status == "sent":
				sent++
			case msg.Status != "suppressed" || msg.Reason != "cooldown":
				t.Errorf("%s: text-back %s (%s)", c.sid, msg.Status, msg.Reason)
			}
		}
		if n := len(h.fake.SentTo(callerPhone)); sent != 1 || n != 1 {
			t.Errorf("%d text-backs recorded sent, %d at the fake Twilio; want 1 and 1", sent, n)
		}
	})
}
