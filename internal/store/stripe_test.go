package store_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
)

const fxCustomer = "cus_Q5hT3nVbL2kR9a"

// lifecycle parses the fixture lifecycle, retargeted from acme-hvac to the org "acme".
func lifecycle(t *testing.T) []billing.Event {
	t.Helper()
	fx, err := stripe.Lifecycle()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]billing.Event, len(fx))
	for i, f := range fx {
		e, err := stripe.ParseEvent(f.Payload)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[i] = withOrg(e, "acme")
	}
	return out
}

// withOrg rewrites the org the event names in its metadata ("" names none).
func withOrg(e billing.Event, slug string) billing.Event {
	set := func(m map[string]string) map[string]string {
		c := map[string]string{}
		for k, v := range m {
			c[k] = v
		}
		if slug == "" {
			delete(c, billing.OrgMetadataKey)
		} else {
			c[billing.OrgMetadataKey] = slug
		}
		return c
	}
	switch {
	case e.Subscription != nil:
		s := *e.Subscription
		s.Metadata = set(s.Metadata)
		e.Subscription = &s
	case e.Invoice != nil:
		inv := *e.Invoice
		inv.Metadata = set(inv.Metadata)
		e.Invoice = &inv
	case e.Customer != nil:
		c := *e.Customer
		c.Metadata = set(c.Metadata)
		e.Customer = &c
	case e.Checkout != nil:
		c := *e.Checkout
		c.Metadata = set(c.Metadata)
		c.ClientReferenceID = slug
		e.Checkout = &c
	}
	e.OrgHint = billing.OrgRef(e)
	return e
}

func fold(events []billing.Event) billing.Record {
	var r billing.Record
	for _, e := range events {
		r, _ = billing.Apply(r, e)
	}
	return r
}

// applyEvent claims and applies one event in its own write, as the webhook does.
func applyEvent(t *testing.T, st *store.Store, e billing.Event) (string, int64) {
	t.Helper()
	var status string
	var orgID int64
	err := st.WriteFor(context.Background(), store.CustomerKey(e.CustomerID), func(tx *store.Tx) error {
		claimed, _, err := tx.Claim(context.Background(), "stripe:"+e.ID, now)
		if err != nil || !claimed {
			status, orgID = store.StatusDuplicate, 0
			return err
		}
		status, orgID, err = tx.ApplyStripeEvent(context.Background(), e, now)
		return err
	})
	if err != nil {
		t.Fatalf("apply %s %s: %v", e.Type, e.ID, err)
	}
	return status, orgID
}

func checkRecord(t *testing.T, st *store.Store, orgID int64, want billing.Record) {
	t.Helper()
	got, err := st.BillingRecord(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Fatalf("record\n %+v\nwant\n %+v", got, want)
	}
	row, err := st.OrgBilling(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != want.Status || row.CustomerID != want.CustomerID || row.SubscriptionID != want.SubscriptionID ||
		row.LatestInvoiceStatus != want.LatestInvoiceStatus || row.CancelAtPeriodEnd != want.CancelAtPeriodEnd ||
		!row.CurrentPeriodEnd.Equal(want.CurrentPeriodEnd) || row.Delinquent != want.Delinquent {
		t.Fatalf("view columns %+v disagree with the record %+v", row, want)
	}
}

func TestApplyStripeEventAnyOrder(t *testing.T) {
	events := lifecycle(t)
	want := fold(events)
	if want.Status != billing.StatusCanceled {
		t.Fatalf("lifecycle ends %q", want.Status)
	}
	orders := map[string][]int{"in order": nil, "reversed": nil, "shuffled": nil, "duplicated": nil}
	for i := range events {
		orders["in order"] = append(orders["in order"], i)
		orders["reversed"] = append([]int{i}, orders["reversed"]...)
		orders["duplicated"] = append(orders["duplicated"], i, i)
	}
	orders["shuffled"] = rand.New(rand.NewPCG(3, 0)).Perm(len(events))
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, st *store.Store) {
				org := acme(t, st)
				seen := map[string]bool{}
				for _, i := range order {
					status, orgID := applyEvent(t, st, events[i])
					wantStatus := store.StatusProcessed
					if seen[events[i].ID] {
						wantStatus = store.StatusDuplicate
					} else if orgID != org.ID {
						t.Errorf("%s mapped to org %d, want %d", events[i].ID, orgID, org.ID)
					}
					if status != wantStatus {
						t.Errorf("%s: status %s, want %s", events[i].ID, status, wantStatus)
					}
					seen[events[i].ID] = true
				}
				checkRecord(t, st, org.ID, want)
				invs, err := st.Invoices(context.Background(), org.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(invs) != 3 {
					t.Fatalf("%d invoices, want 3", len(invs))
				}
				for _, inv := range invs {
					if inv.Status != "paid" || !inv.Paid || inv.CustomerID != fxCustomer || inv.EventID == "" || inv.Currency != "usd" {
						t.Errorf("invoice %+v", inv)
					}
				}
				if last := invs[2]; last.AttemptCount != 2 || last.AmountPaid != last.AmountDue || last.HostedURL == "" {
					t.Errorf("recovered invoice %+v", last)
				}
			})
		})
	}
}

func TestApplyStripeEventMapping(t *testing.T) {
	events := lifecycle(t)
	customer, checkout, subCreated := events[0], events[1], events[2]
	noOrg := func(e billing.Event) billing.Event { return withOrg(e, "") }
	tests := []struct {
		name        string
		stripeCus   string // set on the org when provisioned
		steps       []billing.Event
		wantStatus  []string
		wantHeld    int
		wantBilling string // final status
	}{
		{
			name:        "metadata names the org",
			steps:       []billing.Event{subCreated},
			wantStatus:  []string{store.StatusProcessed},
			wantBilling: billing.StatusTrialing,
		},
		{
			name:        "customer set on the org",
			stripeCus:   fxCustomer,
			steps:       []billing.Event{noOrg(subCreated)},
			wantStatus:  []string{store.StatusProcessed},
			wantBilling: billing.StatusTrialing,
		},
		{
			name:        "customer learnt from an earlier event",
			steps:       []billing.Event{customer, noOrg(subCreated)},
			wantStatus:  []string{store.StatusProcessed, store.StatusProcessed},
			wantBilling: billing.StatusTrialing,
		},
		{
			name:        "unknown customer is held",
			steps:       []billing.Event{noOrg(subCreated)},
			wantStatus:  []string{store.StatusUnmatched},
			wantHeld:    1,
			wantBilling: "",
		},
		{
			name:        "held events apply when the checkout maps the customer",
			steps:       []billing.Event{noOrg(events[6]), noOrg(subCreated), noOrg(events[3]), checkout},
			wantStatus:  []string{store.StatusUnmatched, store.StatusUnmatched, store.StatusUnmatched, store.StatusProcessed},
			wantBilling: billing.StatusActive,
		},
		{
			name:        "metadata naming no known org is held",
			steps:       []billing.Event{withOrg(subCreated, "nobody")},
			wantStatus:  []string{store.StatusUnmatched},
			wantHeld:    1,
			wantBilling: "",
		},
		{
			name: "unhandled type is ignored",
			steps: []billing.Event{{ID: "evt_unknown", Type: "payment_intent.created", CustomerID: fxCustomer,
				Created: subCreated.Created}},
			wantStatus:  []string{store.StatusIgnored},
			wantBilling: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, st *store.Store) {
				org, err := st.CreateOrg(context.Background(), store.NewOrg{Slug: "acme", Name: "Acme",
					Numbers: []string{"+15125550100"}, StripeCustomerID: tt.stripeCus}, now)
				if err != nil {
					t.Fatal(err)
				}
				for i, e := range tt.steps {
					status, orgID := applyEvent(t, st, e)
					if status != tt.wantStatus[i] {
						t.Errorf("step %d (%s): status %s, want %s", i, e.Type, status, tt.wantStatus[i])
					}
					if (status == store.StatusProcessed) != (orgID == org.ID) {
						t.Errorf("step %d (%s): org %d", i, e.Type, orgID)
					}
				}
				held, err := st.HeldStripeEvents(context.Background(), fxCustomer)
				if err != nil {
					t.Fatal(err)
				}
				if held != tt.wantHeld {
					t.Errorf("%d events held, want %d", held, tt.wantHeld)
				}
				applied := []billing.Event{}
				for i, e := range tt.steps {
					if tt.wantStatus[i] != store.StatusIgnored && tt.wantHeld == 0 {
						applied = append(applied, e)
					}
				}
				want := fold(applied)
				if want.Status != tt.wantBilling {
					t.Fatalf("test case expects %q but the fold says %q", tt.wantBilling, want.Status)
				}
				checkRecord(t, st, org.ID, want)
			})
		})
	}
}

// TestApplyStripeEventConcurrently applies every lifecycle event from its own goroutine,
// some twice, with the subscription events unmapped until the checkout arrives: whatever
// interleaving the database allows, each event is applied once and the row is the fold.
func TestApplyStripeEventConcurrently(t *testing.T) {
	events := lifecycle(t)
	for i, e := range events {
		if e.Subscription != nil {
			events[i] = withOrg(e, "")
		}
	}
	want := fold(events)
	forEachDB(t, func(t *testing.T, st *store.Store) {
		org := acme(t, st)
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[string]int{}
		for range 2 {
			for _, e := range events {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, _ := applyEvent(t, st, e)
					mu.Lock()
					counts[status]++
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		if counts[store.StatusDuplicate] != len(events) {
			t.Errorf("statuses %v: want %d duplicates", counts, len(events))
		}
		held, err := st.HeldStripeEvents(context.Background(), fxCustomer)
		if err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			t.Fatalf("%d events still held (statuses %v)", held, counts)
		}
		checkRecord(t, st, org.ID, want)
	})
}
