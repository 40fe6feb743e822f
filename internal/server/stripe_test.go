package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/stripe"
)

const (
	stripeSecret    = "whsec_test_5Zk0XbW9Lq2nRt7yVj3mPc8sDf1gHa6e"
	stripeOldSecret = "whsec_test_retired_Yh4Kd8Wn2Qx6Bv0Lm5Rs9Tf3"
	stripeRoute     = "/api/stripe/webhook"
	fxCustomer      = "cus_Q5hT3nVbL2kR9a"
)

// withStripe configures the endpoint secret the tests sign with.
func withStripe(secrets ...string) func(*service.Config) {
	if len(secrets) == 0 {
		secrets = []string{stripeSecret}
	}
	return func(c *service.Config) { c.StripeSecrets = secrets }
}

type stripeAnswer struct {
	code        int
	contentType string
	body        string
}

// postStripe sends an event signed now with the test secret, as Stripe sends it.
func (h *harness) postStripe(payload []byte) stripeAnswer {
	h.t.Helper()
	return h.postStripeWith(payload, "application/json", stripe.SignedHeader(payload, stripeSecret, time.Now()))
}

func (h *harness) postStripeWith(payload []byte, contentType, sigHeader string) stripeAnswer {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+stripeRoute, strings.NewReader(string(payload)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	if sigHeader != "" {
		req.Header.Set("Stripe-Signature", sigHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("post stripe event: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return stripeAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// received checks the acknowledgement Stripe expects.
func (h *harness) received(a stripeAnswer) {
	h.t.Helper()
	if a.code != http.StatusOK || a.contentType != "application/json" || a.body != `{"received":true}` {
		h.t.Fatalf("answer %d %q %s, want 200 application/json {\"received\":true}", a.code, a.contentType, a.body)
	}
}

type stripeFixture struct {
	name    string
	payload []byte
	event   billing.Event
}

func stripeLifecycle(t testing.TB) []stripeFixture {
	t.Helper()
	fx, err := stripe.Lifecycle()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]stripeFixture, len(fx))
	for i, f := range fx {
		out[i] = parsedFixture(t, f.Name, f.Payload)
	}
	return out
}

func loadFixture(t testing.TB, name string) stripeFixture {
	t.Helper()
	b, err := stripe.LoadFixture(name)
	if err != nil {
		t.Fatal(err)
	}
	return parsedFixture(t, name, b)
}

func parsedFixture(t testing.TB, name string, payload []byte) stripeFixture {
	t.Helper()
	e, err := stripe.ParseEvent(payload)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return stripeFixture{name, payload, e}
}

// withoutOrgMetadata drops callsnare_org from the event's object, so that only a known
// customer can map it.
func withoutOrgMetadata(t testing.TB, f stripeFixture) stripeFixture {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(f.payload, &ev); err != nil {
		t.Fatal(err)
	}
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, billing.OrgMetadataKey)
	}
	if sd, ok := obj["subscription_details"].(map[string]any); ok {
		if md, ok := sd["metadata"].(map[string]any); ok {
			delete(md, billing.OrgMetadataKey)
		}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out := parsedFixture(t, f.name, b)
	if out.event.OrgHint != "" {
		t.Fatalf("%s still names org %q", f.name, out.event.OrgHint)
	}
	return out
}

func foldEvents(fx []stripeFixture) billing.Record {
	var r billing.Record
	for _, f := range fx {
		r, _ = billing.Apply(r, f.event)
	}
	return r
}

func (h *harness) billingRecord() billing.Record {
	h.t.Helper()
	r, err := h.svc.Store.BillingRecord(context.Background(), h.org.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) expectRecord(want billing.Record) {
	h.t.Helper()
	if got := h.billingRecord(); !got.Equal(want) {
		h.t.Fatalf("billing record\n %+v\nwant\n %+v", got, want)
	}
	row, err := h.svc.Store.OrgBilling(context.Background(), h.org.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	if row.Status != want.Status || row.SubscriptionID != want.SubscriptionID || row.CustomerID != want.CustomerID {
		h.t.Fatalf("billing row %+v disagrees with the record", row)
	}
}

func TestStripeLifecycleInOrder(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe())
		fx := stripeLifecycle(t)
		for _, f := range fx {
			h.received(h.postStripe(f.payload))
		}
		want := foldEvents(fx)
		h.expectRecord(want)
		row, err := h.svc.Store.OrgBilling(context.Background(), h.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != "canceled" || !row.CancelAtPeriodEnd || row.CustomerID != fxCustomer ||
			row.SubscriptionID != "sub_1PJx4aLkdIwHu7ix0mY3bQ2e" || row.LatestInvoiceStatus != "paid" || row.Delinquent ||
			row.CurrentPeriodEnd.IsZero() || row.PriceID == "" {
			t.Errorf("final billing row %+v", row)
		}
		invs, err := h.svc.Store.Invoices(context.Background(), h.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(invs) != 3 {
			t.Fatalf("%d invoices, want 3", len(invs))
		}
		for i, wantDue := range []int64{0, 14900, 14900} {
			inv := invs[i]
			if inv.Status != "paid" || inv.AmountDue != wantDue || inv.AmountPaid != wantDue || inv.Currency != "usd" ||
				inv.SubscriptionID != row.SubscriptionID || inv.PeriodEnd.IsZero() {
				t.Errorf("invoice %d: %+v", i, inv)
			}
		}
		if invs[2].AttemptCount != 2 || invs[2].EventType != "invoice.paid" {
			t.Errorf("recovered invoice %+v", invs[2])
		}
		rows := h.logRows("provider = 'stripe'")
		if len(rows) != len(fx) {
			t.Fatalf("%d log rows, want %d", len(rows), len(fx))
		}
		for i, ev := range rows {
			e := fx[i].event
			if ev.Status != "processed" || ev.Signature != "valid" || ev.Kind != e.Type || ev.DedupeKey != "stripe:"+e.ID ||
				ev.OrgID.Int64 != h.org.ID || ev.HTTPStatus != 200 || ev.ResponseBody != `{"received":true}` ||
				string(ev.Body) != string(fx[i].payload) || !strings.Contains(ev.HeadersJSON, `"Stripe-Signature":"t=`) {
				t.Errorf("evidence of %s: status %s signature %s kind %s key %s org %v http %d headers %s",
					fx[i].name, ev.Status, ev.Signature, ev.Kind, ev.DedupeKey, ev.OrgID, ev.HTTPStatus, ev.HeadersJSON)
			}
		}
	})
}

func TestStripeLifecycleShuffled(t *testing.T) {
	fx := stripeLifecycle(t)
	want := foldEvents(fx)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			forEachDB(t, func(t *testing.T, dsn string) {
				h := newHarness(t, dsn, withStripe())
				for _, i := range rand.New(rand.NewPCG(seed, 42)).Perm(len(fx)) {
					h.received(h.postStripe(fx[i].payload))
				}
				h.expectRecord(want)
				if n := h.count("invoices", "status = 'paid'"); n != 3 {
					t.Errorf("%d paid invoices, want 3", n)
				}
			})
		})
	}
}

func TestStripeDuplicatesChangeNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe())
		fx := stripeLifecycle(t)
		for _, f := range fx {
			h.received(h.postStripe(f.payload))
			h.received(h.postStripe(f.payload)) // an immediate redelivery
		}
		before, err := h.svc.Store.OrgBilling(context.Background(), h.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fx { // and the whole lifecycle again, days later
			h.received(h.postStripe(f.payload))
		}
		after, err := h.svc.Store.OrgBilling(context.Background(), h.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if before != after {
			t.Errorf("redeliveries changed the row:\n %+v\n %+v", before, after)
		}
		h.expectRecord(foldEvents(fx))
		processed := map[string]int64{}
		for _, ev := range h.logRows("status = 'processed'") {
			processed[ev.DedupeKey] = ev.ID
		}
		if len(processed) != len(fx) {
			t.Fatalf("%d processed deliveries, want %d", len(processed), len(fx))
		}
		dups := h.logRows("status = 'duplicate'")
		if len(dups) != 2*len(fx) {
			t.Fatalf("%d duplicates, want %d", len(dups), 2*len(fx))
		}
		for _, ev := range dups {
			if ev.DuplicateOf.Int64 != processed[ev.DedupeKey] || ev.OrgID.Int64 != h.org.ID || ev.HTTPStatus != 200 {
				t.Errorf("duplicate %d of %s: duplicate_of %v org %v", ev.ID, ev.DedupeKey, ev.DuplicateOf, ev.OrgID)
			}
		}
	})
}

func TestStripeSubscriptionBeforeCheckout(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe())
		fx := stripeLifecycle(t)
		checkout, subCreated := fx[1], withoutOrgMetadata(t, fx[2])
		trialEnds := withoutOrgMetadata(t, fx[5])

		// The subscription arrives first, naming no org, for a customer nobody knows.
		h.received(h.postStripe(trialEnds.payload))
		h.received(h.postStripe(subCreated.payload))
		rows := h.logRows("provider = 'stripe'")
		for _, ev := range rows {
			if ev.Status != "unmatched" || ev.OrgID.Valid || !strings.Contains(ev.Error, fxCustomer) {
				t.Errorf("early event: status %s org %v error %q", ev.Status, ev.OrgID, ev.Error)
			}
		}
		if held, _ := h.svc.Store.HeldStripeEvents(context.Background(), fxCustomer); held != 2 {
			t.Fatalf("%d events held, want 2", held)
		}
		if r := h.billingRecord(); r.Status != "" {
			t.Fatalf("billing applied before the org was known: %+v", r)
		}
		// A redelivery of an unmatched event is a duplicate of it, not a second hold.
		h.received(h.postStripe(subCreated.payload))
		if dup := h.logRows("status = 'duplicate'"); len(dup) != 1 || dup[0].DuplicateOf.Int64 != rows[1].ID {
			t.Fatalf("redelivery of the held event: %+v", dup)
		}

		// The checkout names the org: the held events apply with it.
		h.received(h.postStripe(checkout.payload))
		if held, _ := h.svc.Store.HeldStripeEvents(context.Background(), fxCustomer); held != 0 {
			t.Fatalf("%d events still held", held)
		}
		h.expectRecord(foldEvents([]stripeFixture{trialEnds, subCreated, checkout}))
		if r := h.billingRecord(); r.Status != "trialing" || r.SubscriptionEventID != trialEnds.event.ID {
			t.Errorf("record after the checkout: %+v", r)
		}

		// The customer is known now: a later event without metadata maps by it.
		active := withoutOrgMetadata(t, fx[6])
		h.received(h.postStripe(active.payload))
		if r := h.billingRecord(); r.Status != "active" {
			t.Errorf("status %s after the update, want active", r.Status)
		}
		if last := h.logRows("provider = 'stripe'"); last[len(last)-1].Status != "processed" || last[len(last)-1].OrgID.Int64 != h.org.ID {
			t.Errorf("mapped by customer: %+v", last[len(last)-1])
		}
	})
}

func TestStripeRefusals(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe())
		good := stripeLifecycle(t)[2].payload
		now := time.Now()
		notEvent := []byte(`{"id":"evt_x","object":"charge"}`)
		tests := []struct {
			name        string
			method      string
			contentType string
			body        []byte
			sig         string
			want        int
			verdict     string
		}{
			{"stale timestamp", "POST", "application/json", good, stripe.SignedHeader(good, stripeSecret, now.Add(-10*time.Minute)), 400, "invalid"},
			{"future timestamp", "POST", "application/json", good, stripe.SignedHeader(good, stripeSecret, now.Add(10*time.Minute)), 400, "invalid"},
			{"wrong secret", "POST", "application/json", good, stripe.SignedHeader(good, "whsec_someone_else", now), 400, "invalid"},
			{"missing signature", "POST", "application/json", good, "", 400, "missing"},
			{"garbage signature", "POST", "application/json", good, "t=abc,v1=zz", 400, "invalid"},
			{"signed for another body", "POST", "application/json", good, stripe.SignedHeader([]byte(`{}`), stripeSecret, now), 400, "invalid"},
			{"signed, not an event", "POST", "application/json", notEvent, stripe.SignedHeader(notEvent, stripeSecret, now), 400, "valid"},
			{"signed, not JSON", "POST", "application/json", []byte("hello"), stripe.SignedHeader([]byte("hello"), stripeSecret, now), 400, "valid"},
			{"form content type", "POST", "application/x-www-form-urlencoded", good, stripe.SignedHeader(good, stripeSecret, now), 415, "unchecked"},
			{"wrong method", "GET", "", nil, "", 405, "unchecked"},
			{"oversized body", "POST", "application/json", []byte(`{"x":"` + strings.Repeat("x", 2<<20) + `"}`), "t=1,v1=00", 413, "unchecked"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(h.logRows(""))
				req, _ := http.NewRequest(tt.method, h.url+stripeRoute, strings.NewReader(string(tt.body)))
				if tt.contentType != "" {
					req.Header.Set("Content-Type", tt.contentType)
				}
				if tt.sig != "" {
					req.Header.Set("Stripe-Signature", tt.sig)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.want, body)
				}
				var answer struct{ Error string }
				if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &answer) != nil || answer.Error == "" {
					t.Errorf("answer %q %s, want a JSON error", resp.Header.Get("Content-Type"), body)
				}
				rows := h.logRows("")
				if len(rows) != before+1 {
					t.Fatalf("%d new log rows, want 1", len(rows)-before)
				}
				ev := rows[len(rows)-1]
				if ev.Status != "rejected" || ev.HTTPStatus != tt.want || ev.Error == "" || ev.Signature != tt.verdict ||
					ev.Provider != "stripe" || ev.DedupeKey != "" {
					t.Errorf("evidence: status %s http %d signature %s key %q error %q", ev.Status, ev.HTTPStatus, ev.Signature, ev.DedupeKey, ev.Error)
				}
				if strings.Contains(ev.Error, stripeSecret) || strings.Contains(ev.ResponseBody, stripeSecret) {
					t.Errorf("the secret leaked into the evidence")
				}
			})
		}
		if n := h.count("org_billing", ""); n != 0 {
			t.Errorf("rejected deliveries wrote %d billing rows", n)
		}
		if n := h.count("webhook_claims", ""); n != 0 {
			t.Errorf("rejected deliveries made %d claims", n)
		}
		// A charset parameter is fine, and the refused event still goes through: nothing
		// was claimed.
		h.received(h.postStripeWith(good, "application/json; charset=utf-8", stripe.SignedHeader(good, stripeSecret, time.Now())))
		if r := h.billingRecord(); r.Status != "trialing" {
			t.Errorf("status %q after the good delivery", r.Status)
		}
	})
}

func TestStripeRotatedSecret(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe(stripeOldSecret, stripeSecret))
		fx := stripeLifecycle(t)
		// Signed with the second configured secret only.
		h.received(h.postStripeWith(fx[0].payload, "application/json", stripe.SignedHeader(fx[0].payload, stripeSecret, time.Now())))
		// Signed with both, one v1 each, as Stripe does while the secret is rolled.
		h.received(h.postStripeWith(fx[2].payload, "application/json",
			stripe.SignedHeaderAll(fx[2].payload, []string{"whsec_unknown", stripeSecret}, time.Now())))
		if n := h.count("webhook_log", "status = 'processed' AND signature = 'valid'"); n != 2 {
			t.Errorf("%d processed, want 2", n)
		}
		if r := h.billingRecord(); r.Status != "trialing" {
			t.Errorf("status %q", r.Status)
		}
	})
}

func TestStripeOtherEvents(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe())
		tests := []struct {
			fixture    string
			wantStatus string
			applied    bool
		}{
			{"api_2024-06-20.customer.subscription.updated.json", "processed", true},
			{"unknown.type.json", "ignored", false},
			{"invoice.upcoming.json", "ignored", false},
		}
		for _, tt := range tests {
			t.Run(tt.fixture, func(t *testing.T) {
				f := loadFixture(t, tt.fixture)
				before := h.billingRecord()
				invoices := h.count("invoices", "")
				h.received(h.postStripe(f.payload))
				rows := h.logRows("dedupe_key = ?", "stripe:"+f.event.ID)
				if len(rows) != 1 || rows[0].Status != tt.wantStatus || rows[0].Kind != f.event.Type || len(rows[0].Body) == 0 {
					t.Fatalf("evidence %+v", rows)
				}
				after := h.billingRecord()
				if tt.applied != (after.SubscriptionEventID == f.event.ID) || (!tt.applied && !after.Equal(before)) {
					t.Errorf("applied=%v, record %+v", tt.applied, after)
				}
				if n := h.count("invoices", ""); n != invoices {
					t.Errorf("%d invoices, was %d", n, invoices)
				}
				// Still claimed: a redelivery is a duplicate of the first.
				h.received(h.postStripe(f.payload))
				dups := h.logRows("dedupe_key = ? AND status = 'duplicate'", "stripe:"+f.event.ID)
				if len(dups) != 1 || dups[0].DuplicateOf.Int64 != rows[0].ID {
					t.Errorf("redelivery: %+v", dups)
				}
			})
		}
		if r := h.billingRecord(); r.Status != "active" {
			t.Errorf("the 2024-06-20 update should leave the org active, got %q", r.Status)
		}
	})
}

// TestStripeTwoReplicasOnePostgres sends every lifecycle event twice to each of two
// services sharing one PostgreSQL, all at once: each event is applied once.
func TestStripeTwoReplicasOnePostgres(t *testing.T) {
	dsn := storetest.Postgres(t)
	a := newHarness(t, dsn, withStripe())
	b := newHarness(t, dsn, withStripe())
	b.org = a.org
	fx := stripeLifecycle(t)
	var wg sync.WaitGroup
	for _, f := range fx {
		for _, h := range []*harness{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := h.postStripe(f.payload); got.code != 200 {
					t.Errorf("%s: %d %s", f.name, got.code, got.body)
				}
			}()
		}
	}
	wg.Wait()
	a.expectRecord(foldEvents(fx))
	if n := a.count("webhook_log", "status = 'processed'"); n != len(fx) {
		t.Errorf("%d processed, want %d", n, len(fx))
	}
	if n := a.count("webhook_log", "status = 'duplicate'"); n != 3*len(fx) {
		t.Errorf("%d duplicates, want %d", n, 3*len(fx))
	}
	if n := a.count("invoices", "status = 'paid'"); n != 3 {
		t.Errorf("%d paid invoices, want 3", n)
	}
}

// TestStripeFailedDeliveryIsRetried takes PostgreSQL away while an event is delivered: the
// answer is 503 and nothing is claimed, so Stripe's retry applies the event.
func TestStripeFailedDeliveryIsRetried(t *testing.T) {
	dsn, proxy := storetest.PostgresBehindProxy(t)
	h := newHarness(t, dsn, withStripe())
	f := stripeLifecycle(t)[2]
	proxy.Down()
	got := h.postStripe(f.payload)
	if got.code != http.StatusServiceUnavailable || got.contentType != "application/json" {
		t.Fatalf("with the database down: %d %q %s", got.code, got.contentType, got.body)
	}
	proxy.Up()
	// Stripe retries with backoff; connections the outage broke may fail a retry or two.
	deadline := time.Now().Add(10 * time.Second)
	got = h.postStripe(f.payload)
	for got.code == http.StatusServiceUnavailable && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		got = h.postStripe(f.payload)
	}
	h.received(got)
	if r := h.billingRecord(); r.Status != "trialing" || r.SubscriptionEventID != f.event.ID {
		t.Errorf("record after the retry: %+v", r)
	}
	if n := h.count("webhook_log", "status = 'processed'"); n != 1 {
		t.Errorf("%d processed deliveries, want 1", n)
	}
}

// TestEntitlementGatesTextbacks runs billing end to end with enforcement on: a canceled
// org's missed calls are still forwarded but not texted, and texting resumes once a new
// subscription is active.
func TestEntitlementGatesTextbacks(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn, withStripe(), func(c *service.Config) { c.Rules.EnforceBilling = true })
		fx := stripeLifecycle(t)
		for _, f := range fx {
			h.received(h.postStripe(f.payload))
		}
		if r := h.billingRecord(); r.Status != "canceled" {
			t.Fatalf("status %q after the lifecycle", r.Status)
		}

		c := h.newCall(callerPhone)
		code, body := h.inbound(c)
		h.expect(200)(code, body)
		if doc := parseTwiML(t, body); doc.Dial == nil || doc.Dial.Number != ownerPhone {
			t.Fatalf("a canceled org's call must still be forwarded: %s", body)
		}
		h.expect(200)(h.dialComplete(c, "no-answer", 0))
		h.expect(204)(h.status(c, "completed"))
		if msg := h.textback(c); msg.Status != store.TextbackSuppressed || msg.Reason != "not_entitled" {
			t.Fatalf("text-back %s (%s), want suppressed not_entitled", msg.Status, msg.Reason)
		}
		if n := h.fake.Count(); n != 0 {
			t.Fatalf("fake Twilio got %d messages for a canceled org", n)
		}

		// The customer subscribes again: a new subscription, active.
		resub, err := stripe.Retarget(fx[6].payload, "evt_1PResubscribeA0000001", "acme-hvac", fxCustomer,
			"sub_1PResubscribed0000000001", fx[13].event.Created.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		h.received(h.postStripe(resub))
		if r := h.billingRecord(); r.Status != "active" || r.SubscriptionID != "sub_1PResubscribed0000000001" {
			t.Fatalf("after resubscribing: %+v", r)
		}

		c2 := h.missedCall("+15125550124")
		if msg := h.textback(c2); msg.Status != store.TextbackSent {
			t.Fatalf("text-back %s (%s), want sent", msg.Status, msg.Reason)
		}
		if n := h.fake.Count(); n != 1 {
			t.Errorf("fake Twilio got %d messages, want 1", n)
		}
		if n := len(h.fake.SentTo("+15125550124")); n != 1 {
			t.Errorf("%d messages to the second caller, want 1", n)
		}
	})
}
