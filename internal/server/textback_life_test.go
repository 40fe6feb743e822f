package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/store"
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
