package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

const promise = "We will text you back shortly."

// idle waits until the queue has no job left to run, so that "nothing else happens" is a
// condition met, not a sleep.
func (h *harness) idle() {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		idle, err := h.svc.Queue.Idle(context.Background())
		if err == nil && idle {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("queue not idle in time (err %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMissedCallPromisesOnlyAQueuedText(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		ctx := context.Background()

		// A caller who can be texted is promised a text, and a duplicate of the same
		// dial-complete gets the very same bytes.
		c := h.newCall(callerPhone)
		code, first := h.inbound(c)
		h.expect(200)(code, first)
		h.expect(200)(h.inbound(c))
		if _, again := h.inbound(c); again != first {
			t.Errorf("duplicate inbound answered differently:\n%s\n%s", first, again)
		}
		code, missed := h.dialComplete(c, "no-answer", 0)
		h.expect(200)(code, missed)
		if d := parseTwiML(t, missed); d.Say != "Sorry we missed you. "+promise || d.Hangup == nil {
			t.Errorf("missed call with a queued text-back: %s", missed)
		}
		for range 3 {
			if _, again := h.dialComplete(c, "no-answer", 0); again != missed {
				t.Errorf("duplicate dial-complete answered differently:\n%s\n%s", missed, again)
			}
		}
		if msg := h.textback(c); msg.Status != "sent" {
			t.Fatalf("text-back %s (%s)", msg.Status, msg.Reason)
		}

		// Callers who will not get a text are not promised one.
		optedOut := "+15125550124"
		h.expect(200)(h.sms(optedOut, "STOP"))
		disabled, err := h.svc.Store.CreateOrg(ctx, store.NewOrg{Slug: "quiet-hvac", Name: "Quiet HVAC",
			Numbers: []string{"+15125550112"}, ForwardTo: ownerPhone, TextbackDisabled: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, from, to, reason string
		}{
			{"opted out", optedOut, trackedNum, "opted_out"},
			{"anonymous", "anonymous", trackedNum, "not_textable"},
			{"text-backs off", "+15125550125", disabled.Numbers[0], "disabled"},
		}
		for _, tc := range cases {
			c := call{sid: newSID("CA"), from: tc.from, to: tc.to}
			h.expect(200)(h.inbound(c))
			code, body := h.dialComplete(c, "no-answer", 0)
			h.expect(200)(code, body)
			d := parseTwiML(t, body)
			if d.Say != "Sorry we missed you. Goodbye." || strings.Contains(strings.ToLower(body), "text") {
				t.Errorf("%s: the caller is promised a text: %s", tc.name, body)
			}
			if msg := h.textback(c); msg.Status != "suppressed" || msg.Reason != tc.reason {
				t.Errorf("%s: text-back %s (%s), want suppressed (%s)", tc.name, msg.Status, msg.Reason, tc.reason)
			}
		}
		h.idle()
		if n := len(h.fake.Messages()); n != 1 {
			t.Errorf("fake Twilio got %d messages, want the one text-back", n)
		}
	})
}

func TestNoForwardToPromisesOnlyAQueuedText(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		h.org = h.addOrg("no-owner", "+15125550111", "")
		c := h.newCall(callerPhone)
		code, body := h.inbound(c)
		h.expect(200)(code, body)
		if d := parseTwiML(t, body); d.Dial != nil || d.Say != "Sorry, nobody can take your call right now. "+promise {
			t.Errorf("with no forward-to and a textable caller: %s", body)
		}
		c = h.newCall("anonymous")
		code, body = h.inbound(c)
		h.expect(200)(code, body)
		if d := parseTwiML(t, body); d.Say != "Sorry, nobody can take your call right now. Goodbye." {
			t.Errorf("with no forward-to and an anonymous caller: %s", body)
		}
	})
}

// messageStatus posts a message status callback for a text-back, signed as Twilio signs it.
func (h *harness) messageStatus(sid, to, status, errorCode string) (int, string) {
	h.t.Helper()
	p := twilio.Params{"AccountSid": testAccount, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
		"SmsStatus": status, "From": h.org.Numbers[0], "To": to, "ApiVersion": "2010-04-01"}
	if errorCode != "" {
		p["ErrorCode"] = errorCode
	}
	return h.post("/api/twilio/sms/status", p)
}

func TestDeliveryStatusMovesForwardOnly(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		delivered := h.missedCall(callerPhone)
		undelivered := h.missedCall("+15125550126")
		for _, c := range []call{delivered, undelivered} {
			if msg := h.textback(c); msg.Status != "sent" {
				t.Fatalf("text-back %s (%s)", msg.Status, msg.Reason)
			}
			if sent := h.fake.SentTo(c.from); len(sent) != 1 || sent[0].StatusCallback != h.url+"/api/twilio/sms/status" {
				t.Fatalf("the send should ask Twilio for status callbacks: %+v", sent)
			}
		}
		sid := h.textback(delivered).SID.String
		// queued -> sent -> delivered, with duplicates and a late sent and sending.
		for _, st := range []string{"sent", "sent", "delivered", "sent", "sending", "delivered", "queued"} {
			h.expect(204)(h.messageStatus(sid, delivered.from, st, ""))
		}
		if row := h.callRow(delivered); row.TextbackStatus.String != "delivered" || row.TextbackError() != "" {
			t.Errorf("delivered text-back reads %s (error %q)", row.TextbackStatus.String, row.TextbackError())
		}
		// Out of order: undelivered first, then the sent it came from, then again.
		usid := h.textback(undelivered).SID.String
		for _, st := range []struct{ status, code string }{{"undelivered", "30003"}, {"sent", ""}, {"undelivered", "30003"}, {"sending", ""}} {
			h.expect(204)(h.messageStatus(usid, undelivered.from, st.status, st.code))
		}
		row := h.callRow(undelivered)
		if row.TextbackStatus.String != "undelivered" || row.TextbackError() != "30003: Unreachable destination handset" {
			t.Errorf("undelivered text-back reads %s (error %q)", row.TextbackStatus.String, row.TextbackError())
		}

		logs := h.logRows("kind = ?", "sms.status")
		if len(logs) != 11 {
			t.Fatalf("%d sms.status evidence rows, want 11", len(logs))
		}
		var processed, duplicates int
		for _, l := range logs {
			switch l.Status {
			case "processed":
				processed++
			case "duplicate":
				duplicates++
			}
			if l.HTTPStatus != 204 || !l.OrgID.Valid || l.Signature != "valid" {
				t.Errorf("evidence %+v", l)
			}
			if l.CallSID != delivered.sid && l.CallSID != undelivered.sid {
				t.Errorf("status evidence not tied to its call: %q", l.CallSID)
			}
		}
		if processed != 7 || duplicates != 4 {
			t.Errorf("%d processed and %d duplicates, want 7 and 4", processed, duplicates)
		}

		// A status for a message we never sent is kept, unmatched, and answered 204.
		h.expect(204)(h.messageStatus(newSID("SM"), callerPhone, "delivered", ""))
		if n := h.count("webhook_log", "kind = ? AND status = ?", "sms.status", "unmatched"); n != 1 {
			t.Errorf("%d unmatched status callbacks, want 1", n)
		}
		// A forged one changes nothing.
		p := twilio.Params{"AccountSid": testAccount, "MessageSid": usid, "MessageStatus": "delivered", "From": trackedNum, "To": undelivered.from}
		h.expect(403)(h.postWith("/api/twilio/sms/status", p, map[string]string{twilio.SignatureHeader: "Zm9yZ2Vk"}))
		if row := h.callRow(undelivered); row.TextbackStatus.String != "undelivered" {
			t.Errorf("a forged callback moved the text-back to %s", row.TextbackStatus.String)
		}
	})
}

func TestOptedOutAtTwilioIsOptedOutHere(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		h.fake.OptOut(callerPhone)
		c := h.missedCall(callerPhone)
		msg := h.textback(c)
		if msg.Status != "failed" {
			t.Fatalf("text-back %s (%s), want failed", msg.Status, msg.Reason)
		}
		if row := h.callRow(c); row.TextbackError() != "21610: Attempt to send to unsubscribed recipient" {
			t.Errorf("textback error %q", row.TextbackError())
		}
		leads, err := h.svc.Store.Leads(context.Background(), h.org.ID, callerPhone)
		if err != nil || len(leads) != 1 || !leads[0].OptedOut {
			t.Fatalf("the lead should be opted out: %+v, %v", leads, err)
		}
		if n := h.count("opt_outs", "phone = ? AND opted_out = ? AND keyword = ?", callerPhone, true, "twilio:21610"); n != 1 {
			t.Errorf("%d opt-out records naming Twilio's refusal, want 1", n)
		}
		requests := h.fake.Requests()

		// The next missed call is suppressed without a send attempt, and promises nothing.
		next := h.newCall(callerPhone)
		h.expect(200)(h.inbound(next))
		_, body := h.dialComplete(next, "no-answer", 0)
		if strings.Contains(body, promise) {
			t.Errorf("an opted-out caller is promised a text: %s", body)
		}
		if msg := h.textback(next); msg.Status != "suppressed" || msg.Reason != "opted_out" {
			t.Errorf("next text-back %s (%s), want suppressed (opted_out)", msg.Status, msg.Reason)
		}
		h.idle()
		if got := h.fake.Requests(); got != requests {
			t.Errorf("%d more send attempts to an opted-out caller", got-requests)
		}
	})
}

func TestMMSKeepsItsMedia(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		p := twilio.Params{"AccountSid": testAccount, "MessageSid": newSID("MM"), "From": callerPhone, "To": trackedNum,
			"Body": "", "NumMedia": "2", "SmsStatus": "received",
			"MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME0", "MediaContentType0": "image/jpeg",
			"MediaUrl1": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "MediaContentType1": "image/png"}
		h.expect(200)(h.post("/api/twilio/sms/inbound", p))
		h.expect(200)(h.post("/api/twilio/sms/inbound", p)) // a duplicate stores nothing twice
		leads, err := h.svc.Store.Leads(context.Background(), h.org.ID, callerPhone)
		if err != nil || len(leads) != 1 || len(leads[0].Messages) != 1 {
			t.Fatalf("leads %+v, %v", leads, err)
		}
		got := leads[0].Messages[0].MediaItems()
		if len(got) != 2 || got[0].URL != p["MediaUrl0"] || got[0].ContentType != "image/jpeg" || got[1].ContentType != "image/png" {
			t.Errorf("media %+v", got)
		}
	})
}

func TestOrgUpdateTakesEffectFromTheNextDelivery(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		ctx := context.Background()
		// Open all day tomorrow only, in UTC: a call now is after hours.
		tomorrow := time.Now().UTC().Add(24 * time.Hour).Weekday().String()[:3]
		hours, utc, after := tomorrow+" 00:00-24:00", "UTC", "{org} is closed now. We will call you back first thing."
		if _, err := h.svc.Store.UpdateOrg(ctx, h.org.Slug, store.OrgUpdate{Hours: &hours, Timezone: &utc, AfterHoursTemplate: &after}, time.Now()); err != nil {
			t.Fatal(err)
		}
		c := h.missedCall(callerPhone)
		if msg := h.textback(c); msg.Status != "sent" || msg.Body != "Acme Heating & Cooling is closed now. We will call you back first thing." {
			t.Errorf("after-hours text-back %s: %q", msg.Status, msg.Body)
		}

		always := ""
		if _, err := h.svc.Store.UpdateOrg(ctx, h.org.Slug, store.OrgUpdate{Hours: &always}, time.Now()); err != nil {
			t.Fatal(err)
		}
		c = h.missedCall("+15125550127")
		if msg := h.textback(c); msg.Body != "Sorry we missed your call! This is Acme Heating & Cooling. Reply here and we'll get right back to you." {
			t.Errorf("in-hours text-back: %q", msg.Body)
		}

		// No forward-to any more: the next call is missed at once.
		none, name := "", "Acme HVAC"
		if _, err := h.svc.Store.UpdateOrg(ctx, h.org.Slug, store.OrgUpdate{ForwardTo: &none, Name: &name}, time.Now()); err != nil {
			t.Fatal(err)
		}
		c = h.newCall("+15125550128")
		_, body := h.inbound(c)
		if d := parseTwiML(t, body); d.Dial != nil || d.Say != "Sorry, nobody can take your call right now. "+promise {
			t.Errorf("after removing forward-to: %s", body)
		}
		if msg := h.textback(c); !strings.Contains(msg.Body, "Acme HVAC") {
			t.Errorf("the text-back should use the new name: %q", msg.Body)
		}
	})
}

const notifyPhone = "+15125550142"

// notifications waits until every notification of the org is decided and returns them.
func (h *harness) notifications() []store.Notification {
	h.t.Helper()
	h.idle()
	ns, err := h.svc.Store.Notifications(context.Background(), h.org.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return ns
}

func TestOwnerIsToldOncePerMissedCallAndReply(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		ctx := context.Background()
		notify := notifyPhone
		if _, err := h.svc.Store.UpdateOrg(ctx, h.org.Slug, store.OrgUpdate{NotifyNumber: &notify}, time.Now()); err != nil {
			t.Fatal(err)
		}
		// A missed call whose callbacks come twice, concurrently.
		c := h.newCall(callerPhone)
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(3)
			go func() { defer wg.Done(); h.inbound(c) }()
			go func() { defer wg.Done(); h.dialComplete(c, "no-answer", 0) }()
			go func() { defer wg.Done(); h.status(c, "completed") }()
		}
		wg.Wait()
		if msg := h.textback(c); msg.Status != "sent" {
			t.Fatalf("text-back %s", msg.Status)
		}
		// A reply, delivered three times at once, and an urgent one.
		reply := twilio.Params{"AccountSid": testAccount, "MessageSid": newSID("SM"), "From": callerPhone,
			"To": trackedNum, "Body": "Yes please, can someone come Tuesday?", "NumMedia": "0"}
		for range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); h.expect(200)(h.post("/api/twilio/sms/inbound", reply)) }()
		}
		wg.Wait()
		h.expect(200)(h.sms(callerPhone, "Actually we have NO HEAT and it's 40 degrees inside"))
		// Keywords are not replies.
		h.expect(200)(h.sms(callerPhone, "HELP"))
		h.expect(200)(h.sms(callerPhone, "STOP"))

		ns := h.notifications()
		if len(ns) != 3 {
			t.Fatalf("%d notifications, want 3: %+v", len(ns), ns)
		}
		want := []struct{ kind, body string }{
			{"missed_call", "Missed call from (512) 555-0123. We texted them back."},
			{"reply", `Reply from (512) 555-0123: "Yes please, can someone come Tuesday?"`},
			{"reply", `URGENT Reply from (512) 555-0123: "Actually we have NO HEAT and it's 40 degrees inside"`},
		}
		for i, n := range ns {
			if n.Kind != want[i].kind || n.Body != want[i].body || n.Status != "sent" || n.To != notifyPhone || n.From != trackedNum {
				t.Errorf("notification %d: %s %s to %s from %s: %q", i, n.Kind, n.Status, n.To, n.From, n.Body)
			}
		}
		sent := h.fake.SentTo(notifyPhone)
		if len(sent) != 3 {
			t.Fatalf("the notify number got %d messages, want 3", len(sent))
		}
		// The queue sends side by side: the order they reach Twilio is not the order of
		// the replies.
		var urgent []string
		for _, m := range sent {
			if strings.HasPrefix(m.Body, "URGENT ") {
				urgent = append(urgent, m.Body)
			}
		}
		if len(urgent) != 1 || urgent[0] != want[2].body {
			t.Errorf("urgent notifications sent: %q, want the NO HEAT reply's alone", urgent)
		}
		if got := h.fake.SentTo(callerPhone); len(got) != 1 {
			t.Errorf("the caller got %d messages, want the one text-back", len(got))
		}
		if row := h.callRow(c); row.NotifyStatus.String != "sent" || row.NotifyReason.String != "" {
			t.Errorf("call notify %s (%s)", row.NotifyStatus.String, row.NotifyReason.String)
		}
	})
}

func TestOwnerNotToldIsRecorded(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		ctx := context.Background()
		c := h.missedCall(callerPhone) // no notify number yet
		if row := h.callRow(c); row.NotifyStatus.String != "suppressed" || row.NotifyReason.String != "no_notify_number" {
			t.Errorf("without a notify number: %s (%s)", row.NotifyStatus.String, row.NotifyReason.String)
		}
		// The notify number calling in is never notified about itself.
		notify := notifyPhone
		if _, err := h.svc.Store.UpdateOrg(ctx, h.org.Slug, store.OrgUpdate{NotifyNumber: &notify}, time.Now()); err != nil {
			t.Fatal(err)
		}
		own := h.missedCall(notifyPhone)
		if row := h.callRow(own); row.NotifyStatus.String != "suppressed" || row.NotifyReason.String != "notify_is_caller" {
			t.Errorf("the notify number's own call: %s (%s)", row.NotifyStatus.String, row.NotifyReason.String)
		}
		h.notifications()
		for _, m := range h.fake.SentTo(notifyPhone) {
			if strings.HasPrefix(m.Body, "Missed call") {
				t.Errorf("notification sent to its own caller: %q", m.Body)
			}
		}
	})
}

func TestConversationTellsTheWholeLife(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		ctx := context.Background()
		notify := notifyPhone
		if _, err := h.svc.Store.UpdateOrg(ctx, h.org.Slug, store.OrgUpdate{NotifyNumber: &notify}, time.Now()); err != nil {
			t.Fatal(err)
		}
		c := h.missedCall(callerPhone)
		sid := h.textback(c).SID.String
		h.expect(204)(h.messageStatus(sid, callerPhone, "undelivered", "30007"))
		mms := twilio.Params{"AccountSid": testAccount, "MessageSid": newSID("MM"), "From": callerPhone, "To": trackedNum,
			"Body": "the leak", "NumMedia": "1", "MediaUrl0": "https://api.twilio.com/m/ME0", "MediaContentType0": "image/jpeg"}
		h.expect(200)(h.post("/api/twilio/sms/inbound", mms))
		h.notifications()

		conv, err := logquery.New(h.svc.Store).Conversation(ctx, logquery.ConversationQuery{CallSID: c.sid, OrgID: h.org.ID, Phone: callerPhone})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for i, it := range conv.Items {
			if i > 0 && it.At.Before(conv.Items[i-1].At) {
				t.Errorf("item %d out of time order", i)
			}
			switch {
			case it.Delivery != nil:
				kinds = append(kinds, it.Delivery.Kind)
			case it.Message != nil && it.Message.Direction == "outbound":
				kinds = append(kinds, "textback:"+it.Message.Status+":"+it.Message.ErrorText())
			case it.Message != nil:
				kinds = append(kinds, fmt.Sprintf("reply:%d media", len(it.Message.MediaItems())))
			case it.Notification != nil:
				kinds = append(kinds, "notify:"+it.Notification.Kind+":"+it.Notification.Status)
			}
		}
		got := strings.Join(kinds, " ")
		for _, want := range []string{"sms.status", "textback:undelivered:30007: Message filtered", "reply:1 media",
			"notify:missed_call:sent", "notify:reply:sent", "sms.inbound", "voice.dial_complete"} {
			if !strings.Contains(got, want) {
				t.Errorf("conversation lacks %q: %s", want, got)
			}
		}
	})
}
