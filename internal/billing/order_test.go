package billing

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// eventTypes is every handled type plus ones that must be ignored.
var eventTypes = []string{
	TypeCheckoutCompleted,
	TypeSubscriptionCreated, TypeSubscriptionUpdated, TypeSubscriptionDeleted,
	TypeSubscriptionPaused, TypeSubscriptionResumed, TypeSubscriptionTrialWillEnd,
	TypeInvoicePaid, TypeInvoicePaymentSucceeded, TypeInvoicePaymentFailed,
	TypeInvoiceFinalized, TypeInvoiceVoided, TypeInvoiceMarkedUncollectible,
	TypeCustomerCreated, TypeCustomerUpdated, TypeCustomerDeleted,
	"invoice.upcoming", "payment_intent.created",
}

var (
	subStatuses = []string{StatusIncomplete, StatusTrialing, StatusActive, StatusPastDue, StatusUnpaid, StatusCanceled, StatusPaused}
	invStatuses = []string{"draft", "open", "paid", "void", "uncollectible"}
)

// genEvents decodes bytes into a set of events with distinct ids, drawn from a small
// universe (two customers, three subscriptions, three invoices, four seconds) so that
// ties and collisions are common.
func genEvents(data []byte) []Event {
	var out []Event
	for i := 0; len(data) >= 4 && len(out) < 40; i, data = i+1, data[4:] {
		b0, b1, b2, b3 := data[0], data[1], data[2], data[3]
		typ := eventTypes[int(b0)%len(eventTypes)]
		e := Event{
			// The first letter varies so that id order is not arrival order.
			ID:      fmt.Sprintf("evt_%c%03d", 'a'+b3%7, i),
			Type:    typ,
			Created: at(int(b1 % 4)),
		}
		cus := fmt.Sprintf("cus_%d", b2%2)
		sub := fmt.Sprintf("sub_%d", b2%3)
		switch {
		case typ == TypeCheckoutCompleted:
			e.Checkout = &Checkout{ID: fmt.Sprintf("cs_%d", b3%3), CustomerID: cus, SubscriptionID: sub}
		case typ[:len("customer.sub")] == "customer.sub":
			e.Subscription = &Subscription{ID: sub, CustomerID: cus,
				Status: subStatuses[int(b3)%len(subStatuses)], PriceID: fmt.Sprintf("price_%d", b3%2),
				Created: at(int(b2 % 3)), CurrentPeriodEnd: at(int(b3)), CancelAtPeriodEnd: b3&1 == 1}
		case typ[:len("invoice")] == "invoice":
			e.Invoice = &Invoice{ID: fmt.Sprintf("in_%d", b3%3), CustomerID: cus, SubscriptionID: sub,
				Status: invStatuses[int(b2)%len(invStatuses)]}
			if typ == "invoice.upcoming" {
				e.Invoice.ID = ""
			}
		case typ[:len("customer")] == "customer":
			e.Customer = &Customer{ID: cus, Deleted: typ == TypeCustomerDeleted}
		}
		out = append(out, e)
	}
	return out
}

// checkOrderIndependent folds events in order and in perms random orders (with some
// events delivered twice) and fails on any difference.
func checkOrderIndependent(t *testing.T, events []Event, rng *rand.Rand, perms int) {
	t.Helper()
	want := fold(events...)
	if again := fold(append(append([]Event{}, events...), events...)...); !again.Equal(want) {
		t.Fatalf("folding twice differs:\n once  %+v\n twice %+v", want, again)
	}
	for p := 0; p < perms; p++ {
		shuffled := append([]Event{}, events...)
		for i := 0; i < len(events)/3; i++ { // redeliveries
			shuffled = append(shuffled, events[rng.IntN(len(events))])
		}
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := fold(shuffled...); !got.Equal(want) {
			t.Fatalf("order matters (permutation %d):\n in order %+v\n shuffled %+v\n events %v", p, want, got, ids(shuffled))
		}
	}
}

func ids(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestApplyOrderIndependentProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(2024, 6))
	for n := 0; n < 300; n++ {
		data := make([]byte, 4*(1+rng.IntN(30)))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		checkOrderIndependent(t, genEvents(data), rng, 20)
	}
}

func FuzzApplyOrderIndependent(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, uint64(1))
	f.Add([]byte("customer.subscription.deleted then updated, invoices tied"), uint64(7))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		events := genEvents(data)
		if len(events) == 0 {
			return
		}
		checkOrderIndependent(t, events, rand.New(rand.NewPCG(seed, 1)), 8)
	})
}
