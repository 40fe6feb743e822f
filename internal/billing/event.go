// Package billing is the billing domain: Stripe-derived facts about an org's subscription,
// how out-of-order events fold into one record, and entitlement. It imports nothing but the
// standard library, so the server, the store and the simulator can all share it.
package billing

import (
	"strings"
	"time"
)

// OrgMetadataKey is the metadata key that names an org's slug on Stripe objects.
const OrgMetadataKey = "callsnare_org"

// Event types that change billing state.
const (
	TypeCheckoutCompleted          = "checkout.session.completed"
	TypeSubscriptionCreated        = "customer.subscription.created"
	TypeSubscriptionUpdated        = "customer.subscription.updated"
	TypeSubscriptionDeleted        = "customer.subscription.deleted"
	TypeSubscriptionPaused         = "customer.subscription.paused"
	TypeSubscriptionResumed        = "customer.subscription.resumed"
	TypeSubscriptionTrialWillEnd   = "customer.subscription.trial_will_end"
	TypeInvoicePaid                = "invoice.paid"
	TypeInvoicePaymentSucceeded    = "invoice.payment_succeeded"
	TypeInvoicePaymentFailed       = "invoice.payment_failed"
	TypeInvoiceFinalized           = "invoice.finalized"
	TypeInvoiceVoided              = "invoice.voided"
	TypeInvoiceMarkedUncollectible = "invoice.marked_uncollectible"
	TypeCustomerCreated            = "customer.created"
	TypeCustomerUpdated            = "customer.updated"
	TypeCustomerDeleted            = "customer.deleted"
)

// Subscription statuses as Stripe names them.
const (
	StatusIncomplete        = "incomplete"
	StatusIncompleteExpired = "incomplete_expired"
	StatusTrialing          = "trialing"
	StatusActive            = "active"
	StatusPastDue           = "past_due"
	StatusUnpaid            = "unpaid"
	StatusCanceled          = "canceled"
	StatusPaused            = "paused"
)

// Event is one Stripe event reduced to the facts billing needs. At most one of the
// snapshots is set, matching the kind of object the event carries.
type Event struct {
	ID             string
	Type           string
	Created        time.Time
	APIVersion     string
	Livemode       bool
	OrgHint        string // metadata callsnare_org, else checkout client_reference_id
	CustomerID     string
	SubscriptionID string

	Subscription *Subscription
	Invoice      *Invoice
	Customer     *Customer
	Checkout     *Checkout
}

// Subscription is a subscription object as an event saw it.
type Subscription struct {
	ID                string
	CustomerID        string
	Status            string
	PriceID           string
	Created           time.Time // when the subscription itself was created; never changes
	CurrentPeriodEnd  time.Time
	TrialEnd          time.Time
	CancelAtPeriodEnd bool
	Metadata          map[string]string
}

// Invoice is an invoice object as an event saw it.
type Invoice struct {
	ID             string
	CustomerID     string
	SubscriptionID string
	Status         string
	Currency       string
	HostedURL      string
	AmountDue      int64
	AmountPaid     int64
	AttemptCount   int64
	PeriodStart    time.Time
	PeriodEnd      time.Time
	Paid           bool
	Metadata       map[string]string // subscription_details.metadata
}

// Customer is a customer object as an event saw it.
type Customer struct {
	ID       string
	Deleted  bool
	Email    string
	Name     string
	Metadata map[string]string
}

// Checkout is a completed checkout session.
type Checkout struct {
	ID                string
	CustomerID        string
	SubscriptionID    string
	ClientReferenceID string
	Metadata          map[string]string
}

var handled = map[string]bool{
	TypeCheckoutCompleted:          true,
	TypeSubscriptionCreated:        true,
	TypeSubscriptionUpdated:        true,
	TypeSubscriptionDeleted:        true,
	TypeSubscriptionPaused:         true,
	TypeSubscriptionResumed:        true,
	TypeSubscriptionTrialWillEnd:   true,
	TypeInvoicePaid:                true,
	TypeInvoicePaymentSucceeded:    true,
	TypeInvoicePaymentFailed:       true,
	TypeInvoiceFinalized:           true,
	TypeInvoiceVoided:              true,
	TypeInvoiceMarkedUncollectible: true,
	TypeCustomerCreated:            true,
	TypeCustomerUpdated:            true,
	TypeCustomerDeleted:            true,
}

// Handled reports whether events of this type change billing state; the rest are stored
// as ignored.
func Handled(eventType string) bool { return handled[eventType] }

// OrgRef returns the org slug the event names, or "" when it names none and the caller
// must map it by a known customer id. Metadata on the object wins over the checkout's
// client_reference_id.
func OrgRef(e Event) string {
	var metas []map[string]string
	if e.Checkout != nil {
		metas = append(metas, e.Checkout.Metadata)
	}
	if e.Subscription != nil {
		metas = append(metas, e.Subscription.Metadata)
	}
	if e.Customer != nil {
		metas = append(metas, e.Customer.Metadata)
	}
	if e.Invoice != nil {
		metas = append(metas, e.Invoice.Metadata)
	}
	for _, m := range metas {
		if s := strings.TrimSpace(m[OrgMetadataKey]); s != "" {
			return s
		}
	}
	if e.Checkout != nil {
		return strings.TrimSpace(e.Checkout.ClientReferenceID)
	}
	return ""
}

// Entitled reports whether a subscription status pays for text-backs. Calls are forwarded
// whatever this says.
func Entitled(status string, gracePastDue bool) bool {
	switch status {
	case StatusActive, StatusTrialing:
		return true
	case StatusPastDue:
		return gracePastDue
	}
	return false
}
