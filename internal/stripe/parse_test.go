package stripe

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	stripefixtures "github.com/callsnare/callsnare/fixtures/stripe"
	"github.com/callsnare/callsnare/internal/billing"
)

const (
	fxOrg = "acme-hvac"
	fxCus = "cus_Q5hT3nVbL2kR9a"
	fxSub = "sub_1PJx4aLkdIwHu7ix0mY3bQ2e"
)

func TestEveryFixtureParses(t *testing.T) {
	names, err := fs.Glob(stripefixtures.FS, "*.json")
	if err != nil || len(names) < 17 {
		t.Fatalf("fixtures: %v %v", names, err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, _ := fs.ReadFile(stripefixtures.FS, name)
			e, err := ParseEvent(b)
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if e.ID == "" || e.Created.IsZero() || e.APIVersion == "" {
				t.Errorf("envelope: %+v", e)
			}
			if e.Livemode {
				t.Error("fixture is live mode")
			}
			if !billing.Handled(e.Type) {
				return
			}
			if e.CustomerID != fxCus {
				t.Errorf("customer %q", e.CustomerID)
			}
			if e.OrgHint != fxOrg {
				t.Errorf("org hint %q", e.OrgHint)
			}
		})
	}
}

func TestParseEventFields(t *testing.T) {
	unix := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, e billing.Event)
	}{
		{"02_checkout.session.completed.json", func(t *testing.T, e billing.Event) {
			c := e.Checkout
			if c == nil || c.ClientReferenceID != fxOrg || c.CustomerID != fxCus || c.SubscriptionID != fxSub || e.SubscriptionID != fxSub {
				t.Errorf("checkout %+v", c)
			}
		}},
		{"03_customer.subscription.created.json", func(t *testing.T, e billing.Event) {
			s := e.Subscription
			if s == nil || s.ID != fxSub || s.Status != "trialing" || s.PriceID != "price_1PJwzqLkdIwHu7ixS3tq8Jp1" ||
				!s.TrialEnd.Equal(unix(1717430400+14*86400)) || !s.CurrentPeriodEnd.Equal(s.TrialEnd) ||
				!s.Created.Equal(unix(1717430402)) || s.CancelAtPeriodEnd {
				t.Errorf("subscription %+v", s)
			}
		}},
		{"09_invoice.payment_failed.json", func(t *testing.T, e billing.Event) {
			i := e.Invoice
			if i == nil || i.Status != "open" || i.Paid || i.AmountDue != 14900 || i.AmountPaid != 0 ||
				i.AttemptCount != 1 || i.SubscriptionID != fxSub || i.Currency != "usd" || i.HostedURL == "" ||
				i.PeriodEnd.IsZero() || i.Metadata[billing.OrgMetadataKey] != fxOrg {
				t.Errorf("invoice %+v", i)
			}
		}},
		{"11_invoice.paid.json", func(t *testing.T, e billing.Event) {
			if i := e.Invoice; i == nil || !i.Paid || i.AmountPaid != 14900 || i.AttemptCount != 2 {
				t.Errorf("invoice %+v", i)
			}
		}},
		{"13_customer.subscription.updated.json", func(t *testing.T, e billing.Event) {
			if s := e.Subscription; s == nil || !s.CancelAtPeriodEnd || s.Status != "active" {
				t.Errorf("subscription %+v", s)
			}
		}},
		{"01_customer.created.json", func(t *testing.T, e billing.Event) {
			if c := e.Customer; c == nil || c.ID != fxCus || c.Deleted || c.Email != "owner@acmehvac.example" || c.Name == "" {
				t.Errorf("customer %+v", c)
			}
		}},
		{"invoice.upcoming.json", func(t *testing.T, e billing.Event) {
			if i := e.Invoice; i == nil || i.ID != "" || i.CustomerID != fxCus || billing.Handled(e.Type) {
				t.Errorf("upcoming %+v", i)
			}
		}},
		{"unknown.type.json", func(t *testing.T, e billing.Event) {
			if e.Type != "payment_intent.created" || billing.Handled(e.Type) ||
				e.Subscription != nil || e.Invoice != nil || e.Customer != nil || e.Checkout != nil {
				t.Errorf("unknown %+v", e)
			}
		}},
		{"api_2024-06-20.customer.subscription.updated.json", func(t *testing.T, e billing.Event) {
			if e.APIVersion != "2024-06-20" || e.Subscription == nil || e.Subscription.Status != "active" {
				t.Errorf("other version %+v", e)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := LoadFixture(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ParseEvent(b)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, e)
		})
	}
}

// Newer API versions (2025-03-31 on) moved the period to subscription items and the
// subscription of an invoice under parent; both still parse.
func TestParseEventMovedFields(t *testing.T) {
	sub := `{"id":"evt_s","object":"event","api_version":"2025-03-31.basil","created":1717430400,
	  "type":"customer.subscription.updated","livemode":false,"data":{"object":{
	  "id":"sub_9","object":"subscription","customer":"cus_9","status":"active","created":1717430000,
	  "cancel_at_period_end":false,"metadata":{"callsnare_org":"acme-hvac"},
	  "items":{"object":"list","data":[{"id":"si_9","object":"subscription_item",
	    "current_period_start":1717430000,"current_period_end":1720022000,
	    "price":{"id":"price_9","object":"price"}}]}}}}`
	e, err := ParseEvent([]byte(sub))
	if err != nil {
		t.Fatal(err)
	}
	if s := e.Subscription; s.CurrentPeriodEnd.Unix() != 1720022000 || s.PriceID != "price_9" || e.OrgHint != "acme-hvac" {
		t.Errorf("subscription %+v", s)
	}

	inv := `{"id":"evt_i","object":"event","api_version":"2025-03-31.basil","created":1717430400,
	  "type":"invoice.paid","livemode":false,"data":{"object":{
	  "id":"in_9","object":"invoice","customer":"cus_9","status":"paid","amount_paid":14900,
	  "parent":{"type":"subscription_details","subscription_details":{
	    "subscription":"sub_9","metadata":{"callsnare_org":"acme-hvac"}}}}}}`
	e, err = ParseEvent([]byte(inv))
	if err != nil {
		t.Fatal(err)
	}
	if i := e.Invoice; i.SubscriptionID != "sub_9" || !i.Paid || e.OrgHint != "acme-hvac" || e.SubscriptionID != "sub_9" {
		t.Errorf("invoice %+v", i)
	}
}

func TestParseEventMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"empty", ``},
		{"not json", `not json`},
		{"truncated", `{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1"`},
		{"array", `[]`},
		{"no type", `{"id":"evt_1","object":"event","data":{"object":{"object":"invoice"}}}`},
		{"not an event", `{"id":"in_1","object":"invoice","type":"x","data":{"object":{}}}`},
		{"no data", `{"id":"evt_1","object":"event","type":"invoice.paid"}`},
		{"null object", `{"id":"evt_1","object":"event","type":"invoice.paid","data":{"object":null}}`},
		{"object is a string", `{"id":"evt_1","object":"event","type":"invoice.paid","data":{"object":"in_1"}}`},
		{"wrong object for type", `{"id":"evt_1","object":"event","type":"invoice.paid","data":{"object":{"id":"cus_1","object":"customer"}}}`},
		{"bad field type", `{"id":"evt_1","object":"event","type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice","amount_due":"lots"}}}`},
		{"bad created", `{"id":"evt_1","object":"event","created":"yesterday","type":"invoice.paid","data":{"object":{"object":"invoice"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEvent([]byte(tc.body)); !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	names, _ := fs.Glob(stripefixtures.FS, "*.json")
	for _, n := range names {
		b, _ := fs.ReadFile(stripefixtures.FS, n)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"customer.deleted","data":{"object":{"object":"customer","id":"cus_1","deleted":true}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		billing.Apply(billing.Record{}, e) // must not panic
	})
}
