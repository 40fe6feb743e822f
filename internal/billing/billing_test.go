package billing

import (
	"testing"
	"time"
)

var t0 = time.Date(2024, 6, 3, 16, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func TestHandled(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want bool
	}{
		{"checkout.session.completed", true},
		{"customer.subscription.created", true},
		{"customer.subscription.trial_will_end", true},
		{"customer.subscription.paused", true},
		{"invoice.payment_failed", true},
		{"invoice.marked_uncollectible", true},
		{"customer.deleted", true},
		{"invoice.upcoming", false},
		{"invoice.created", false},
		{"payment_intent.created", false},
		{"checkout.session.expired", false},
		{"", false},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if got := Handled(tc.typ); got != tc.want {
				t.Errorf("Handled(%q) = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

func TestEntitled(t *testing.T) {
	for _, tc := range []struct {
		status string
		grace  bool
		want   bool
	}{
		{"active", false, true},
		{"trialing", false, true},
		{"past_due", false, false},
		{"past_due", true, true},
		{"unpaid", true, false},
		{"canceled", true, false},
		{"incomplete", true, false},
		{"paused", true, false},
		{"", true, false},
	} {
		if got := Entitled(tc.status, tc.grace); got != tc.want {
			t.Errorf("Entitled(%q, %v) = %v, want %v", tc.status, tc.grace, got, tc.want)
		}
	}
}

func TestOrgRef(t *testing.T) {
	org := func(s string) map[string]string { return map[string]string{OrgMetadataKey: s} }
	for _, tc := range []struct {
		name string
		e    Event
		want string
	}{
		{"none", Event{}, ""},
		{"checkout metadata wins over client_reference_id",
			Event{Checkout: &Checkout{ClientReferenceID: "ref-org", Metadata: org("meta-org")}}, "meta-org"},
		{"client_reference_id", Event{Checkout: &Checkout{ClientReferenceID: " ref-org "}}, "ref-org"},
		{"subscription metadata", Event{Subscription: &Subscription{Metadata: org("acme-hvac")}}, "acme-hvac"},
		{"customer metadata", Event{Customer: &Customer{Metadata: org("acme-hvac")}}, "acme-hvac"},
		{"invoice subscription_details metadata", Event{Invoice: &Invoice{Metadata: org("acme-hvac")}}, "acme-hvac"},
		{"blank metadata", Event{Subscription: &Subscription{Metadata: org("  ")}}, ""},
		{"other metadata", Event{Customer: &Customer{Metadata: map[string]string{"plan": "pro"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OrgRef(tc.e); got != tc.want {
				t.Errorf("OrgRef = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStampOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Stamp
		want bool
	}{
		{"later created", Stamp{at(2), 0, "evt_a"}, Stamp{at(1), 9, "evt_z"}, true},
		{"earlier created", Stamp{at(1), 9, "evt_z"}, Stamp{at(2), 0, "evt_a"}, false},
		{"same second, higher rank", Stamp{at(1), 1, "evt_a"}, Stamp{at(1), 0, "evt_z"}, true},
		{"same second and rank, higher id", Stamp{at(1), 0, "evt_b"}, Stamp{at(1), 0, "evt_a"}, true},
		{"identical", Stamp{at(1), 0, "evt_a"}, Stamp{at(1), 0, "evt_a"}, false},
		{"created in other zone", Stamp{at(1).In(time.FixedZone("x", 3600)), 0, "evt_a"}, Stamp{at(1), 0, "evt_a"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.After(tc.b); got != tc.want {
				t.Errorf("After = %v, want %v", got, tc.want)
			}
		})
	}
	if !NewerThan(at(1), "evt_b", at(1), "evt_a") || NewerThan(at(1), "evt_a", at(1), "evt_b") {
		t.Error("NewerThan does not break ties by event id")
	}
}

// Helpers building events the way the adapter would.

func subEvent(id, typ string, created int, subID, status string) Event {
	return Event{ID: id, Type: typ, Created: at(created), CustomerID: "cus_1", SubscriptionID: subID,
		Subscription: &Subscription{ID: subID, CustomerID: "cus_1", Status: status, PriceID: "price_1",
			Created: subCreated(subID), CurrentPeriodEnd: at(created + 1000)}}
}

func subCreated(subID string) time.Time {
	if subID == "sub_2" {
		return at(500)
	}
	return at(0)
}

func invEvent(id, typ string, created int, invID, status string) Event {
	return Event{ID: id, Type: typ, Created: at(created), CustomerID: "cus_1", SubscriptionID: "sub_1",
		Invoice: &Invoice{ID: invID, CustomerID: "cus_1", SubscriptionID: "sub_1", Status: status}}
}

func fold(events ...Event) Record {
	var r Record
	for _, e := range events {
		r, _ = Apply(r, e)
	}
	return r
}

func TestApply(t *testing.T) {
	checkout := Event{ID: "evt_cs", Type: TypeCheckoutCompleted, Created: at(1),
		Checkout: &Checkout{ID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", ClientReferenceID: "acme-hvac"}}
	for _, tc := range []struct {
		name  string
		in    []Event
		check func(t *testing.T, r Record)
	}{
		{"checkout sets ids", []Event{checkout}, func(t *testing.T, r Record) {
			if r.CustomerID != "cus_1" || r.SubscriptionID != "sub_1" || r.Status != "" {
				t.Errorf("got %+v", r)
			}
		}},
		{"older snapshot never overwrites", []Event{
			subEvent("evt_b", TypeSubscriptionUpdated, 20, "sub_1", StatusPastDue),
			subEvent("evt_a", TypeSubscriptionUpdated, 10, "sub_1", StatusActive),
		}, func(t *testing.T, r Record) {
			if r.Status != StatusPastDue || r.SubscriptionEventID != "evt_b" {
				t.Errorf("status %q from %q", r.Status, r.SubscriptionEventID)
			}
		}},
		{"same second: updated beats created", []Event{
			subEvent("evt_z", TypeSubscriptionUpdated, 10, "sub_1", StatusActive),
			subEvent("evt_zz", TypeSubscriptionCreated, 10, "sub_1", StatusIncomplete),
		}, func(t *testing.T, r Record) {
			if r.Status != StatusActive {
				t.Errorf("status %q", r.Status)
			}
		}},
		{"deleted is terminal", []Event{
			subEvent("evt_d", TypeSubscriptionDeleted, 10, "sub_1", StatusCanceled),
			subEvent("evt_u", TypeSubscriptionUpdated, 20, "sub_1", StatusActive),
		}, func(t *testing.T, r Record) {
			if r.Status != StatusCanceled || !r.SubscriptionDeleted || r.Entitled(true) {
				t.Errorf("got %+v", r)
			}
		}},
		{"deleted forces canceled", []Event{
			subEvent("evt_d", TypeSubscriptionDeleted, 10, "sub_1", StatusActive),
		}, func(t *testing.T, r Record) {
			if r.Status != StatusCanceled {
				t.Errorf("status %q", r.Status)
			}
		}},
		{"a new subscription replaces a deleted one", []Event{
			subEvent("evt_d", TypeSubscriptionDeleted, 400, "sub_1", StatusCanceled),
			subEvent("evt_n", TypeSubscriptionCreated, 500, "sub_2", StatusActive),
		}, func(t *testing.T, r Record) {
			if r.SubscriptionID != "sub_2" || r.Status != StatusActive || r.SubscriptionDeleted {
				t.Errorf("got %+v", r)
			}
		}},
		{"an old subscription's late update does not displace the new one", []Event{
			subEvent("evt_n", TypeSubscriptionCreated, 500, "sub_2", StatusActive),
			subEvent("evt_o", TypeSubscriptionUpdated, 900, "sub_1", StatusPastDue),
		}, func(t *testing.T, r Record) {
			if r.SubscriptionID != "sub_2" || r.Status != StatusActive {
				t.Errorf("got %+v", r)
			}
		}},
		{"subscription snapshot overrides checkout ids", []Event{
			subEvent("evt_s", TypeSubscriptionCreated, 0, "sub_9", StatusTrialing), checkout,
		}, func(t *testing.T, r Record) {
			if r.SubscriptionID != "sub_9" || r.CheckoutSubscriptionID != "sub_1" {
				t.Errorf("got %+v", r)
			}
		}},
		{"$0 invoice finalized and paid in one second", []Event{
			invEvent("evt_paid", TypeInvoicePaid, 5, "in_1", "paid"),
			invEvent("evt_zfin", TypeInvoiceFinalized, 5, "in_1", "open"),
		}, func(t *testing.T, r Record) {
			if r.LatestInvoiceStatus != "paid" || r.Delinquent {
				t.Errorf("got %+v", r)
			}
		}},
		{"payment failed is delinquent", []Event{
			invEvent("evt_ok", TypeInvoicePaymentSucceeded, 5, "in_1", "paid"),
			invEvent("evt_f", TypeInvoicePaymentFailed, 50, "in_2", "open"),
		}, func(t *testing.T, r Record) {
			if !r.Delinquent || r.LatestInvoiceID != "in_2" {
				t.Errorf("got %+v", r)
			}
		}},
		{"a late success for an old invoice does not clear a newer failure", []Event{
			invEvent("evt_f", TypeInvoicePaymentFailed, 50, "in_2", "open"),
			invEvent("evt_ok", TypeInvoicePaymentSucceeded, 5, "in_1", "paid"),
		}, func(t *testing.T, r Record) {
			if !r.Delinquent || r.LatestInvoiceID != "in_2" {
				t.Errorf("got %+v", r)
			}
		}},
		{"finalizing the next invoice does not clear delinquency", []Event{
			invEvent("evt_f", TypeInvoicePaymentFailed, 50, "in_2", "open"),
			invEvent("evt_fin", TypeInvoiceFinalized, 60, "in_3", "open"),
		}, func(t *testing.T, r Record) {
			if !r.Delinquent || r.LatestInvoiceID != "in_3" {
				t.Errorf("got %+v", r)
			}
		}},
		{"paid recovers", []Event{
			invEvent("evt_f", TypeInvoicePaymentFailed, 50, "in_2", "open"),
			invEvent("evt_p", TypeInvoicePaid, 70, "in_2", "paid"),
		}, func(t *testing.T, r Record) {
			if r.Delinquent || r.LatestInvoiceStatus != "paid" {
				t.Errorf("got %+v", r)
			}
		}},
		{"voided settles", []Event{
			invEvent("evt_f", TypeInvoicePaymentFailed, 50, "in_2", "open"),
			invEvent("evt_v", TypeInvoiceVoided, 70, "in_2", "void"),
		}, func(t *testing.T, r Record) {
			if r.Delinquent {
				t.Errorf("got %+v", r)
			}
		}},
		{"customer deleted is terminal", []Event{
			{ID: "evt_del", Type: TypeCustomerDeleted, Created: at(10), Customer: &Customer{ID: "cus_1", Deleted: true}},
			{ID: "evt_upd", Type: TypeCustomerUpdated, Created: at(20), Customer: &Customer{ID: "cus_1"}},
		}, func(t *testing.T, r Record) {
			if !r.CustomerDeleted || r.CustomerID != "cus_1" || r.CustomerEventID != "evt_del" {
				t.Errorf("got %+v", r)
			}
		}},
		{"unhandled and empty events change nothing", []Event{
			{ID: "evt_x", Type: "invoice.upcoming", Created: at(1), Invoice: &Invoice{CustomerID: "cus_1"}},
			{ID: "evt_y", Type: TypeSubscriptionUpdated, Created: at(1)},
			{ID: "evt_z", Type: TypeSubscriptionUpdated, Created: at(1), Subscription: &Subscription{}},
		}, func(t *testing.T, r Record) {
			if !r.Equal(Record{}) {
				t.Errorf("got %+v", r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, fold(tc.in...))
			// The same set in reverse gives the same record.
			rev := make([]Event, len(tc.in))
			for i, e := range tc.in {
				rev[len(tc.in)-1-i] = e
			}
			if a, b := fold(tc.in...), fold(rev...); !a.Equal(b) {
				t.Errorf("order matters:\n in order %+v\n reversed %+v", a, b)
			}
		})
	}
}

func TestApplyReportsChange(t *testing.T) {
	e := subEvent("evt_a", TypeSubscriptionCreated, 1, "sub_1", StatusTrialing)
	r, changed := Apply(Record{}, e)
	if !changed {
		t.Fatal("first apply: changed = false")
	}
	if _, changed := Apply(r, e); changed {
		t.Error("reapplying the same event: changed = true")
	}
	old := subEvent("evt_0", TypeSubscriptionUpdated, 0, "sub_1", StatusActive)
	if _, changed := Apply(r, old); changed {
		t.Error("older snapshot: changed = true")
	}
}

func TestApplyInvoice(t *testing.T) {
	fin := invEvent("evt_zfin", TypeInvoiceFinalized, 5, "in_1", "open")
	paid := invEvent("evt_paid", TypeInvoicePaid, 5, "in_1", "paid")
	failed := invEvent("evt_f", TypeInvoicePaymentFailed, 3, "in_1", "open")
	other := invEvent("evt_o", TypeInvoicePaid, 9, "in_2", "paid")
	for _, tc := range []struct {
		name string
		in   []Event
		want string // event id kept
	}{
		{"in order", []Event{failed, fin, paid}, "evt_paid"},
		{"reversed", []Event{paid, fin, failed}, "evt_paid"},
		{"another invoice is not folded in", []Event{fin, other}, "evt_zfin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r InvoiceRecord
			for _, e := range tc.in {
				r, _ = ApplyInvoice(r, e)
			}
			if r.EventID != tc.want {
				t.Errorf("kept %q, want %q", r.EventID, tc.want)
			}
		})
	}
}
