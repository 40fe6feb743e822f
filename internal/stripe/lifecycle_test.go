package stripe

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
)

func lifecycleEvents(t *testing.T) ([]Fixture, []billing.Event) {
	t.Helper()
	fx, err := Lifecycle()
	if err != nil {
		t.Fatal(err)
	}
	if len(fx) != 14 {
		t.Fatalf("lifecycle has %d fixtures, want 14", len(fx))
	}
	events := make([]billing.Event, len(fx))
	for i, f := range fx {
		if events[i], err = ParseEvent(f.Payload); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if i > 0 && events[i].Created.Before(events[i-1].Created) {
			t.Errorf("%s: created goes backwards", f.Name)
		}
	}
	return fx, events
}

// TestLifecycleInOrder folds the lifecycle as delivered and checks the record after
// each event.
func TestLifecycleInOrder(t *testing.T) {
	fx, events := lifecycleEvents(t)
	want := []struct {
		status     string
		invoice    string
		delinquent bool
		entitled   bool
	}{
		{"", "", false, false},             // 01 customer
		{"", "", false, false},             // 02 checkout
		{"trialing", "", false, true},      // 03
		{"trialing", "open", false, true},  // 04
		{"trialing", "paid", false, true},  // 05
		{"trialing", "paid", false, true},  // 06
		{"active", "paid", false, true},    // 07
		{"active", "paid", false, true},    // 08
		{"active", "open", true, true},     // 09
		{"past_due", "open", true, false},  // 10
		{"past_due", "paid", false, false}, // 11
		{"active", "paid", false, true},    // 12
		{"active", "paid", false, true},    // 13
		{"canceled", "paid", false, false}, // 14
	}
	var r billing.Record
	for i, e := range events {
		var changed bool
		r, changed = billing.Apply(r, e)
		w := want[i]
		if !changed || r.Status != w.status || r.LatestInvoiceStatus != w.invoice || r.Delinquent != w.delinquent || r.Entitled(false) != w.entitled {
			t.Errorf("after %s: changed=%v status=%q invoice=%q delinquent=%v entitled=%v, want %+v",
				fx[i].Name, changed, r.Status, r.LatestInvoiceStatus, r.Delinquent, r.Entitled(false), w)
		}
		if r.CustomerID != fxCus {
			t.Errorf("after %s: customer %q", fx[i].Name, r.CustomerID)
		}
		if i >= 1 && r.SubscriptionID != fxSub {
			t.Errorf("after %s: subscription %q", fx[i].Name, r.SubscriptionID)
		}
	}
	if !r.SubscriptionDeleted || !r.CancelAtPeriodEnd || r.SubscriptionEventID != events[13].ID {
		t.Errorf("final %+v", r)
	}
}

// TestLifecycleAnyOrder folds the lifecycle in 500 seeded random orders, with
// redeliveries, and expects the in-order record every time.
func TestLifecycleAnyOrder(t *testing.T) {
	fx, events := lifecycleEvents(t)
	var want billing.Record
	for _, e := range events {
		want, _ = billing.Apply(want, e)
	}
	rng := rand.New(rand.NewPCG(16, 10))
	for p := 0; p < 500; p++ {
		order := rng.Perm(len(events))
		for i := 0; i < 3; i++ {
			order = append(order, rng.IntN(len(events)))
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var got billing.Record
		for _, i := range order {
			got, _ = billing.Apply(got, events[i])
		}
		if !got.Equal(want) {
			names := make([]string, len(order))
			for k, i := range order {
				names[k] = fx[i].Name[:2]
			}
			t.Fatalf("order %v gives\n %+v\nwant\n %+v", names, got, want)
		}
	}

	// Every invoice row is order-independent too.
	rows := map[string]billing.InvoiceRecord{}
	for _, i := range rng.Perm(len(events)) {
		if inv := events[i].Invoice; inv != nil {
			rows[inv.ID], _ = billing.ApplyInvoice(rows[inv.ID], events[i])
		}
	}
	if len(rows) != 3 {
		t.Fatalf("%d invoice rows, want 3", len(rows))
	}
	for id, row := range rows {
		if row.Status != "paid" {
			t.Errorf("invoice %s ends %q", id, row.Status)
		}
	}
}

func TestRetarget(t *testing.T) {
	fx, events := lifecycleEvents(t)
	base := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	shift := base.Sub(events[0].Created)
	const org, cus, sub = "frosty-air", "cus_SimFrostyAir0001", "sub_SimFrostyAir0001"
	var r billing.Record
	for i, f := range fx {
		id := fmt.Sprintf("evt_sim_frosty_%02d", i)
		out, err := Retarget(f.Payload, id, org, cus, sub, events[i].Created.Add(shift))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		s := string(out)
		for _, old := range []string{fxCus, fxSub, fxOrg, "in_1PJx0", "il_1PJx", "si_Q5hT", "cs_test_b1Xq"} {
			if strings.Contains(s, old) {
				t.Errorf("%s: %q left in the output", f.Name, old)
			}
		}
		if !json.Valid(out) {
			t.Fatalf("%s: invalid JSON", f.Name)
		}
		e, err := ParseEvent(out)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if e.ID != id || e.OrgHint != org || e.CustomerID != cus || !e.Created.Equal(events[i].Created.Add(shift)) {
			t.Errorf("%s: %+v", f.Name, e)
		}
		if e.SubscriptionID != "" && e.SubscriptionID != sub {
			t.Errorf("%s: subscription %q", f.Name, e.SubscriptionID)
		}
		if s := e.Subscription; s != nil && (!s.TrialEnd.Equal(events[i].Subscription.TrialEnd.Add(shift)) ||
			!s.Created.Equal(events[i].Subscription.Created.Add(shift))) {
			t.Errorf("%s: timestamps not shifted: %+v", f.Name, s)
		}
		r, _ = billing.Apply(r, e)
	}
	if r.Status != "canceled" || r.CustomerID != cus || r.SubscriptionID != sub || !strings.HasPrefix(r.LatestInvoiceID, "in_") {
		t.Errorf("retargeted lifecycle ends %+v", r)
	}

	// Two customers never share an invoice id; the same customer always gets the same one.
	inv, _ := LoadFixture("09_invoice.payment_failed.json")
	a1, _ := Retarget(inv, "evt_a1", "a", "cus_A", "sub_A", base)
	a2, _ := Retarget(inv, "evt_a2", "a", "cus_A", "sub_A", base)
	b1, _ := Retarget(inv, "evt_b1", "b", "cus_B", "sub_B", base)
	ea1, _ := ParseEvent(a1)
	ea2, _ := ParseEvent(a2)
	eb1, _ := ParseEvent(b1)
	if ea1.Invoice.ID != ea2.Invoice.ID || ea1.Invoice.ID == eb1.Invoice.ID {
		t.Errorf("invoice ids: %q %q %q", ea1.Invoice.ID, ea2.Invoice.ID, eb1.Invoice.ID)
	}

	if _, err := Retarget([]byte("{"), "e", "o", "c", "s", base); err == nil {
		t.Error("Retarget accepted broken JSON")
	}
}
