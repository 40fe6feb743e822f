package logview

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// testNow is the fixed clock of the viewer tests.
var testNow = time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)

// seeded is a test database with a known story, and the ids worth pointing at.
type seeded struct {
	path string
	st   *store.Store
	ids  map[string]int64
	acme store.Org
}

func form(kv ...string) []byte {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return []byte(v.Encode())
}

// seed builds the story: a missed call to acme, answered with TwiML, retried once, a
// text-back sent, a reply (with an ANSI escape in it) and a STOP; a rejected forgery; an
// unmatched call; Stripe events; and a day of traffic for bolt.
func seed(t testing.TB) *seeded {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "logs.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := &seeded{path: path, st: st, ids: map[string]int64{}}
	mk := func(in store.NewOrg) store.Org {
		o, err := st.CreateOrg(ctx, in, testNow.Add(-30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	acme := mk(store.NewOrg{Slug: "acme", Name: "Acme Heating & Air", ForwardTo: "+15125550000", Numbers: []string{"+15125550100", "+15125550101"}})
	bolt := mk(store.NewOrg{Slug: "bolt", Name: "Bolt Cooling", ForwardTo: "+17375550000", Numbers: []string{"+17375550200"}})
	mk(store.NewOrg{Slug: "coldsnap", Name: "Cold Snap HVAC", Numbers: []string{"+12105550300"}})
	s.acme = acme
	exec := func(q string, args ...any) {
		t.Helper()
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, q, args...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO org_billing (org_id, customer_id, subscription_id, status, latest_invoice_status, updated_at)
		VALUES (?, 'cus_Acme42', 'sub_Acme42', 'active', 'paid', ?)`, acme.ID, store.T(testNow))
	exec(`INSERT INTO org_billing (org_id, status, updated_at) VALUES ((SELECT id FROM orgs WHERE slug = 'coldsnap'), 'past_due', ?)`, store.T(testNow))

	at := func(hh, mm, ss int) time.Time { return time.Date(2026, 3, 10, hh, mm, ss, 0, time.UTC) }
	headers := func(sig, ua string) map[string]string {
		return map[string]string{"Content-Type": "application/x-www-form-urlencoded", "User-Agent": ua,
			"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "f3a1c2d4-0000-4000-8000-00000000abcd"}
	}
	rec := func(name string, e store.Evidence, body []byte) int64 {
		t.Helper()
		if e.Provider == "" {
			e.Provider = "twilio"
		}
		if e.ContentType == "" {
			e.ContentType = "application/x-www-form-urlencoded"
		}
		if e.Headers == nil {
			e.Headers = headers("Q2hhbmdlTWU9", "TwilioProxy/1.1")
		}
		e.SetBody(body, false)
		if err := st.RecordEvidence(ctx, &e); err != nil {
			t.Fatal(err)
		}
		if name != "" {
			s.ids[name] = e.ID
		}
		return e.ID
	}
	// A day of bolt's traffic, for the sparkline: more in the afternoon, a failure at night.
	for h := range 24 {
		for n := range (h % 6) + 1 {
			ts := testNow.Add(-time.Duration(23-h)*time.Hour - time.Duration(n+1)*time.Minute)
			status, code := "processed", 204
			if h == 3 && n == 0 {
				status, code = "failed", 503
			}
			rec("", store.Evidence{ReceivedAt: store.T(ts), Route: "/api/twilio/voice/status", OrgID: store.NullID(bolt.ID), Kind: "voice.status",
				Signature: "valid", Status: status, HTTPStatus: code, LatencyUS: int64(1000 + 37*n*h), CallSID: fmt.Sprintf("CAb%02d%02d", h, n),
				DedupeKey: fmt.Sprintf("twilio:voice.status:CAb%02d%02d:completed", h, n)},
				form("CallSid", fmt.Sprintf("CAb%02d%02d", h, n), "CallStatus", "completed", "To", "+17375550200"))
		}
	}
	caller := "+15125550177"
	callForm := func(extra ...string) []byte {
		kv := append([]string{"AccountSid", "AC0000000000000000000000000000abcd", "CallSid", "CA1111aaaa2222bbbb3333cccc4444dddd",
			"From", caller, "To", "+15125550100", "CallStatus", "ringing", "Direction", "inbound", "ApiVersion", "2010-04-01"}, extra...)
		return form(kv...)
	}
	fact := func(f callflow.Fact, logID int64) {
		t.Helper()
		err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: acme, CallSID: "CA1111aaaa2222bbbb3333cccc4444dddd", From: caller,
				To: "+15125550100", Fact: f, LogID: logID}, callflow.Rules{Template: "Sorry we missed your call - {org} will text you shortly."})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// As twilio.DialTwiML writes it (fixed here: it orders attributes as it likes).
	dial := `<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="https://hooks.example.com/api/twilio/voice/dial-complete" ` +
		`method="POST" timeout="20"><Number>+15125550000</Number></Dial></Response>`
	sorry, _ := twilio.SayHangupTwiML("Sorry we missed you. We will text you back shortly.")
	callSID := "CA1111aaaa2222bbbb3333cccc4444dddd"
	voice := func(kind, route string, ts time.Time) store.Evidence {
		return store.Evidence{ReceivedAt: store.T(ts), Route: route, OrgID: store.NullID(acme.ID), Kind: kind, CallSID: callSID, Caller: caller,
			Signature: "valid", URL: "https://hooks.example.com" + route, RemoteAddr: "54.172.60.1:41234"}
	}
	e := voice("voice.inbound", "/api/twilio/voice/inbound", at(12, 0, 0))
	e.Status, e.DedupeKey, e.HTTPStatus, e.ResponseBody, e.LatencyUS = "processed", "twilio:voice.inbound:"+callSID, 200, dial, 4200
	inbound := rec("inbound", e, callForm())
	fact(callflow.Fact{Kind: callflow.FactInbound, Sequence: -1, At: at(12, 0, 0)}, inbound)
	e = voice("voice.inbound", "/api/twilio/voice/inbound", at(12, 0, 1))
	e.Status, e.DedupeKey, e.HTTPStatus, e.ResponseBody, e.LatencyUS, e.DuplicateOf = "duplicate", "twilio:voice.inbound:"+callSID, 200, dial, 1900, store.NullID(inbound)
	rec("duplicate", e, callForm())
	e = voice("voice.dial_complete", "/api/twilio/voice/dial-complete", at(12, 0, 25))
	e.Status, e.DedupeKey, e.HTTPStatus, e.ResponseBody, e.LatencyUS = "processed", "twilio:voice.dial_complete:"+callSID+"::no-answer", 200, sorry, 6100
	id := rec("dial", e, callForm("DialCallStatus", "no-answer", "DialCallDuration", "0"))
	fact(callflow.Fact{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1, At: at(12, 0, 25)}, id)
	exec(`UPDATE messages SET status = 'sent', sid = 'SM9f8e7d6c5b4a39281706f5e4d3c2b1a0', attempts = 1, sent_at = ?, updated_at = ? WHERE call_sid = ?`,
		store.T(at(12, 0, 26)), store.T(at(12, 0, 26)), callSID)
	e = voice("voice.status", "/api/twilio/voice/status", at(12, 0, 27))
	e.Status, e.DedupeKey, e.HTTPStatus, e.LatencyUS = "processed", "twilio:voice.status:"+callSID+":completed", 204, 3000
	id = rec("status", e, callForm("CallStatus", "completed", "CallDuration", "27"))
	fact(callflow.Fact{Kind: callflow.FactStatus, CallStatus: "completed", CallDuration: 27, Sequence: -1, At: at(12, 0, 27)}, id)

	sms := func(name string, ts time.Time, sid, body, ua string) {
		t.Helper()
		e := store.Evidence{ReceivedAt: store.T(ts), Route: "/api/twilio/sms/inbound", OrgID: store.NullID(acme.ID), Kind: "sms.inbound",
			Caller: caller, Signature: "valid", Status: "processed", DedupeKey: "twilio:sms.inbound:" + sid, HTTPStatus: 200,
			ResponseBody: twilio.EmptyTwiML(), LatencyUS: 5200, Headers: headers("c21zU2lnbmF0dXJl", ua),
			URL: "https://hooks.example.com/api/twilio/sms/inbound", RemoteAddr: "54.172.60.2:50111"}
		rec(name, e, form("AccountSid", "AC0000000000000000000000000000abcd", "MessageSid", sid, "From", caller, "To", "+15125550100", "Body", body, "NumMedia", "0"))
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.ApplyInboundSMS(ctx, store.InboundSMS{Org: acme, MessageSID: sid, From: caller, To: "+15125550100", Body: body, At: ts})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	sms("reply", at(12, 2, 0), "SMaaaa0000bbbb1111cccc2222dddd3333", "Yes please, the AC is dead \x1b[31mURGENT", "TwilioProxy/1.1 \x1b[2J\x07")
	sms("stop", at(12, 5, 0), "SMaaaa0000bbbb1111cccc2222dddd4444", "STOP", "TwilioProxy/1.1")

	// A forgery: the signature does not verify. Refused before it was read, so the row
	// carries no CallSid; the body does.
	rec("rejected", store.Evidence{ReceivedAt: store.T(at(12, 6, 0)), Route: "/api/twilio/voice/inbound", OrgID: store.NullID(acme.ID),
		Kind: "voice.inbound", Signature: "invalid", Status: "rejected", HTTPStatus: 403, LatencyUS: 800,
		Error: "signature invalid for https://hooks.example.com/api/twilio/voice/inbound", ResponseBody: sorry,
		Headers: headers("Zm9yZ2Vk", "curl/8.5.0"), URL: "https://hooks.example.com/api/twilio/voice/inbound", RemoteAddr: "203.0.113.9:5555"},
		callForm())
	rec("unmatched", store.Evidence{ReceivedAt: store.T(at(12, 7, 0)), Route: "/api/twilio/voice/inbound", Kind: "voice.inbound",
		Signature: "valid", Status: "unmatched", HTTPStatus: 200, LatencyUS: 2100, CallSID: "CA9999", Caller: "+14155550188",
		Error: "no org tracks +19995550000", URL: "https://hooks.example.com/api/twilio/voice/inbound", RemoteAddr: "54.172.60.3:1"},
		form("CallSid", "CA9999", "From", "+14155550188", "To", "+19995550000"))
	rec("nosig", store.Evidence{ReceivedAt: store.T(at(12, 8, 0)), Route: "/api/twilio/sms/inbound", Kind: "sms.inbound",
		Signature: "missing", Status: "rejected", HTTPStatus: 403, LatencyUS: 500, Error: "signature missing for https://hooks.example.com/api/twilio/sms/inbound",
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "python-requests/2.31"},
		URL:     "https://hooks.example.com/api/twilio/sms/inbound", RemoteAddr: "198.51.100.7:4000"},
		[]byte("MessageSid=SMx&Body=\xff\xfe%1B[1mhi&From=%2B15125550111"))
	stripeBody := `{"id":"evt_1PaidAcme","object":"event","type":"invoice.paid","created":1773144000,"livemode":false,` +
		`"data":{"object":{"id":"in_1Acme","object":"invoice","customer":"cus_Acme42","subscription":"sub_Acme42","status":"paid",` +
		`"amount_paid":4900,"currency":"usd","customer_phone":"+15125550100","lines":{"data":[{"id":"il_1","amount":4900}]},"metadata":{}}}}`
	rec("stripe", store.Evidence{ReceivedAt: store.T(at(12, 10, 0)), Provider: "stripe", Route: "/api/stripe/webhook", OrgID: store.NullID(acme.ID),
		Kind: "invoice.paid", Signature: "valid", Status: "processed", DedupeKey: "stripe:evt_1PaidAcme", HTTPStatus: 200,
		ResponseBody: `{"received":true}`, LatencyUS: 7300, ContentType: "application/json",
		Headers: map[string]string{"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": "t=1773144000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
			"User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
		URL: "https://hooks.example.com/api/stripe/webhook", RemoteAddr: "3.18.12.63:443"}, []byte(stripeBody))
	rec("replayed", store.Evidence{ReceivedAt: store.T(at(12, 11, 0)), Provider: "stripe", Route: "/api/stripe/webhook", OrgID: store.NullID(acme.ID),
		Kind: "invoice.paid", Signature: "valid", Status: "duplicate", DedupeKey: "stripe:evt_1PaidAcme", HTTPStatus: 200,
		ResponseBody: `{"received":true}`, LatencyUS: 2300, ContentType: "application/json", ReplayOf: store.NullID(s.ids["stripe"]),
		Headers: map[string]string{"Content-Type": "application/json", "X-Callsnare-Replay-Of": fmt.Sprint(s.ids["stripe"])}}, []byte(stripeBody))
	return s
}

// newTestModel is the viewer on the seeded database at 120x30, colourless.
func newTestModel(t testing.TB, s *seeded, d Deps) Model {
	t.Helper()
	ro, err := store.Open(context.Background(), s.path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	d.Source, d.Renderer = logquery.New(ro), r
	if d.Now == nil {
		d.Now = func() time.Time { return testNow }
	}
	if d.ExportDir == "" {
		d.ExportDir = t.TempDir()
	}
	m := New(context.Background(), d)
	m.input.Cursor.SetMode(cursor.CursorStatic)
	mm, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	return mm.(Model)
}

// drive runs a command and every command its messages lead to, synchronously.
func drive(m Model, cmd tea.Cmd) Model {
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		default:
			next, more := m.Update(msg)
			m = next.(Model)
			queue = append(queue, more)
		}
	}
	return m
}

// press sends keys one at a time, settling after each.
func press(m Model, keys ...string) Model {
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "space":
			msg = tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		next, cmd := m.Update(msg)
		m = drive(next.(Model), cmd)
	}
	return m
}
