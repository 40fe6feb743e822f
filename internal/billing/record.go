package billing

import (
	"strings"
	"time"
)

// Record is an org's billing row. Each part (subscription, checkout, customer, latest
// invoice, payment state) keeps the event that last changed it, and a part only ever moves
// to a newer event under a fixed total order (see Apply). That makes the row a function of
// the set of events applied, whatever order they arrived in.
type Record struct {
	// What the org's billing looks like, derived from the parts below.
	CustomerID          string
	SubscriptionID      string
	Status              string
	PriceID             string
	CurrentPeriodEnd    time.Time
	TrialEnd            time.Time
	CancelAtPeriodEnd   bool
	LatestInvoiceID     string
	LatestInvoiceStatus string
	Delinquent          bool
	SubscriptionDeleted bool
	CustomerDeleted     bool

	// Subscription part: the winning snapshot's event, and what only it says.
	SubscriptionEventCreated time.Time
	SubscriptionEventID      string
	SubscriptionEventType    string
	SubscriptionCreated      time.Time // creation of the subscription shown, not of the event
	SubscriptionCustomerID   string

	// Latest invoice part.
	InvoiceEventCreated time.Time
	InvoiceEventID      string
	InvoiceEventType    string
	InvoiceCustomerID   string

	// Payment part: the newest event that settled whether money is owed.
	PaymentEventCreated time.Time
	PaymentEventID      string
	PaymentEventType    string

	// Customer part.
	CustomerEventCreated time.Time
	CustomerEventID      string
	CustomerEventType    string
	CustomerObjectID     string

	// Checkout part.
	CheckoutEventCreated   time.Time
	CheckoutEventID        string
	CheckoutEventType      string
	CheckoutSessionID      string
	CheckoutCustomerID     string
	CheckoutSubscriptionID string
}

// Entitled reports whether the record pays for text-backs.
func (r Record) Entitled(gracePastDue bool) bool {
	return !r.SubscriptionDeleted && Entitled(r.Status, gracePastDue)
}

// Equal reports whether two records hold the same state; times compare as instants.
func (r Record) Equal(o Record) bool {
	return r.normalized() == o.normalized()
}

func (r Record) normalized() Record {
	for _, t := range []*time.Time{
		&r.CurrentPeriodEnd, &r.TrialEnd, &r.SubscriptionEventCreated, &r.SubscriptionCreated,
		&r.InvoiceEventCreated, &r.PaymentEventCreated, &r.CustomerEventCreated, &r.CheckoutEventCreated,
	} {
		if t.IsZero() {
			*t = time.Time{}
		} else {
			*t = t.UTC()
		}
	}
	return r
}

// Stamp places an event within one part of a record: later Created wins; in the same
// second, the higher Rank (how far along its lifecycle the event is) wins; then the
// higher event ID, only so that the choice never depends on arrival order.
type Stamp struct {
	Created time.Time
	Rank    int
	ID      string
}

// After reports whether a is newer than b.
func (a Stamp) After(b Stamp) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	if a.Rank != b.Rank {
		return a.Rank > b.Rank
	}
	return a.ID > b.ID
}

// NewerThan is the tie rule used everywhere: a is newer than b by creation time, and by
// event ID when both were created in the same second.
func NewerThan(aCreated time.Time, aID string, bCreated time.Time, bID string) bool {
	return Stamp{Created: aCreated, ID: aID}.After(Stamp{Created: bCreated, ID: bID})
}

// Apply folds one event into a record and reports whether the record changed. It is pure,
// idempotent, and order-independent: folding the same set of events in any order gives
// the same record.
//
// Rules, per part:
//   - Subscription: among snapshots, the newest subscription (by the subscription's own
//     creation time, then id) is the org's; within one subscription a deleted snapshot is
//     terminal; otherwise the newest event wins (created, then lifecycle rank, then id).
//   - Latest invoice: the newest invoice event wins; in the same second, the further
//     invoice status (draft < open < uncollectible < paid, void) wins.
//   - Delinquent: decided by the newest payment event alone (payment_failed and
//     marked_uncollectible say owed; paid, payment_succeeded and voided say settled).
//   - Customer: customer.deleted is terminal; otherwise the newest event wins.
//   - Checkout: the newest completed session wins; its ids stand in until a subscription
//     snapshot arrives.
func Apply(r Record, e Event) (Record, bool) {
	if !Handled(e.Type) {
		return r, false
	}
	old := r
	switch {
	case e.Subscription != nil && strings.HasPrefix(e.Type, "customer.subscription."):
		r = applySubscription(r, e)
	case e.Invoice != nil && strings.HasPrefix(e.Type, "invoice."):
		r = applyInvoice(r, e)
		r = applyPayment(r, e)
	case e.Customer != nil && strings.HasPrefix(e.Type, "customer."):
		r = applyCustomer(r, e)
	case e.Checkout != nil && e.Type == TypeCheckoutCompleted:
		r = applyCheckout(r, e)
	default:
		return r, false
	}
	r = derive(r)
	return r, !r.Equal(old)
}

// subKey orders subscription snapshots. It is a total order over events with distinct ids,
// which is what makes the subscription part order-independent.
type subKey struct {
	subCreated time.Time
	subID      string
	deleted    bool
	stamp      Stamp
}

func (a subKey) after(b subKey) bool {
	if !a.subCreated.Equal(b.subCreated) {
		return a.subCreated.After(b.subCreated)
	}
	if a.subID != b.subID {
		return a.subID > b.subID
	}
	if a.deleted != b.deleted {
		return a.deleted
	}
	return a.stamp.After(b.stamp)
}

func subscriptionRank(eventType string) int {
	switch eventType {
	case TypeSubscriptionCreated:
		return 0
	case TypeSubscriptionDeleted:
		return 2
	}
	return 1
}

func applySubscription(r Record, e Event) Record {
	s := e.Subscription
	if s.ID == "" {
		return r
	}
	deleted := e.Type == TypeSubscriptionDeleted
	next := subKey{s.Created, s.ID, deleted, Stamp{e.Created, subscriptionRank(e.Type), e.ID}}
	if r.SubscriptionEventType != "" {
		cur := subKey{r.SubscriptionCreated, r.SubscriptionID, r.SubscriptionDeleted,
			Stamp{r.SubscriptionEventCreated, subscriptionRank(r.SubscriptionEventType), r.SubscriptionEventID}}
		if !next.after(cur) {
			return r
		}
	}
	r.SubscriptionID = s.ID
	r.SubscriptionCustomerID = s.CustomerID
	r.Status = s.Status
	r.PriceID = s.PriceID
	r.CurrentPeriodEnd = s.CurrentPeriodEnd
	r.TrialEnd = s.TrialEnd
	r.CancelAtPeriodEnd = s.CancelAtPeriodEnd
	r.SubscriptionCreated = s.Created
	r.SubscriptionDeleted = deleted
	if deleted {
		r.Status = StatusCanceled
	}
	r.SubscriptionEventCreated = e.Created
	r.SubscriptionEventID = e.ID
	r.SubscriptionEventType = e.Type
	return r
}

// InvoiceStatusRank says how far along its lifecycle an invoice status is, for events
// created in the same second (a $0 invoice is finalized and paid at once).
func InvoiceStatusRank(status string) int {
	switch status {
	case "draft":
		return 0
	case "open":
		return 1
	case "uncollectible":
		return 2
	case "paid", "void":
		return 3
	}
	return 0
}

func applyInvoice(r Record, e Event) Record {
	inv := e.Invoice
	if inv.ID == "" {
		return r
	}
	next := Stamp{e.Created, InvoiceStatusRank(inv.Status), e.ID}
	if r.InvoiceEventType != "" {
		cur := Stamp{r.InvoiceEventCreated, InvoiceStatusRank(r.LatestInvoiceStatus), r.InvoiceEventID}
		if !next.After(cur) {
			return r
		}
	}
	r.LatestInvoiceID = inv.ID
	r.LatestInvoiceStatus = inv.Status
	r.InvoiceCustomerID = inv.CustomerID
	r.InvoiceEventCreated = e.Created
	r.InvoiceEventID = e.ID
	r.InvoiceEventType = e.Type
	return r
}

// paymentOwed says what a payment event means for delinquency, and whether it is one.
func paymentOwed(eventType string) (owed, ok bool) {
	switch eventType {
	case TypeInvoicePaymentFailed, TypeInvoiceMarkedUncollectible:
		return true, true
	case TypeInvoicePaid, TypeInvoicePaymentSucceeded, TypeInvoiceVoided:
		return false, true
	}
	return false, false
}

func paymentRank(owed bool) int {
	if owed {
		return 0
	}
	return 1 // a retry that succeeds in the same second as a failure came after it
}

func applyPayment(r Record, e Event) Record {
	owed, ok := paymentOwed(e.Type)
	if !ok {
		return r
	}
	next := Stamp{e.Created, paymentRank(owed), e.ID}
	if r.PaymentEventType != "" {
		cur := Stamp{r.PaymentEventCreated, paymentRank(r.Delinquent), r.PaymentEventID}
		if !next.After(cur) {
			return r
		}
	}
	r.Delinquent = owed
	r.PaymentEventCreated = e.Created
	r.PaymentEventID = e.ID
	r.PaymentEventType = e.Type
	return r
}

func customerRank(eventType string) int {
	switch eventType {
	case TypeCustomerCreated:
		return 0
	case TypeCustomerDeleted:
		return 2
	}
	return 1
}

func applyCustomer(r Record, e Event) Record {
	c := e.Customer
	if c.ID == "" {
		return r
	}
	deleted := e.Type == TypeCustomerDeleted || c.Deleted
	next := Stamp{e.Created, customerRank(e.Type), e.ID}
	if r.CustomerEventType != "" {
		cur := Stamp{r.CustomerEventCreated, customerRank(r.CustomerEventType), r.CustomerEventID}
		switch {
		case r.CustomerDeleted && !deleted:
			return r // deleted is terminal
		case deleted == r.CustomerDeleted && !next.After(cur):
			return r
		}
	}
	r.CustomerObjectID = c.ID
	r.CustomerDeleted = deleted
	r.CustomerEventCreated = e.Created
	r.CustomerEventID = e.ID
	r.CustomerEventType = e.Type
	return r
}

func applyCheckout(r Record, e Event) Record {
	c := e.Checkout
	next := Stamp{Created: e.Created, ID: e.ID}
	if r.CheckoutEventType != "" {
		if !next.After(Stamp{Created: r.CheckoutEventCreated, ID: r.CheckoutEventID}) {
			return r
		}
	}
	r.CheckoutSessionID = c.ID
	r.CheckoutCustomerID = c.CustomerID
	r.CheckoutSubscriptionID = c.SubscriptionID
	r.CheckoutEventCreated = e.Created
	r.CheckoutEventID = e.ID
	r.CheckoutEventType = e.Type
	return r
}

// derive recomputes the fields that several parts speak to, from the parts alone.
func derive(r Record) Record {
	if r.SubscriptionEventType == "" {
		r.SubscriptionID = r.CheckoutSubscriptionID
	}
	r.CustomerID = firstNonEmpty(r.SubscriptionCustomerID, r.CheckoutCustomerID, r.CustomerObjectID, r.InvoiceCustomerID)
	return r
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
