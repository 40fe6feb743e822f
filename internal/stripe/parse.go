package stripe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/callsnare/callsnare/internal/billing"
)

// ParseEvent turns a verified event body into billing facts. It reads only fields that
// are stable across API versions, falling back to where newer versions moved them, so an
// event for another API version parses too. Event types billing does not handle still
// parse (their snapshot, if any, is filled in); a handled type whose data.object is not
// the object that type carries is malformed.
func ParseEvent(payload []byte) (billing.Event, error) {
	var se stripego.Event
	if err := json.Unmarshal(payload, &se); err != nil {
		return billing.Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if se.Object != "" && se.Object != "event" {
		return billing.Event{}, fmt.Errorf("%w: object is %q, not an event", ErrMalformed, se.Object)
	}
	if se.Type == "" {
		return billing.Event{}, fmt.Errorf("%w: no type", ErrMalformed)
	}
	if se.Data == nil || len(bytes.TrimSpace(se.Data.Raw)) == 0 || se.Data.Object == nil {
		return billing.Event{}, fmt.Errorf("%w: no data.object", ErrMalformed)
	}

	e := billing.Event{
		ID:         se.ID,
		Type:       string(se.Type),
		Created:    unixTime(se.Created),
		APIVersion: se.APIVersion,
		Livemode:   se.Livemode,
	}
	objType, _ := se.Data.Object["object"].(string)
	raw := se.Data.Raw
	var err error
	switch objType {
	case "subscription":
		e.Subscription, err = parseSubscription(raw)
		if e.Subscription != nil {
			e.SubscriptionID, e.CustomerID = e.Subscription.ID, e.Subscription.CustomerID
		}
	case "invoice":
		e.Invoice, err = parseInvoice(raw)
		if e.Invoice != nil {
			e.SubscriptionID, e.CustomerID = e.Invoice.SubscriptionID, e.Invoice.CustomerID
		}
	case "customer":
		e.Customer, err = parseCustomer(raw, e.Type == billing.TypeCustomerDeleted)
		if e.Customer != nil {
			e.CustomerID = e.Customer.ID
		}
	case "checkout.session":
		e.Checkout, err = parseCheckout(raw)
		if e.Checkout != nil {
			e.SubscriptionID, e.CustomerID = e.Checkout.SubscriptionID, e.Checkout.CustomerID
		}
	}
	if err != nil {
		return billing.Event{}, fmt.Errorf("%w: %s data.object: %w", ErrMalformed, objType, err)
	}
	if want := objectFor(e.Type); want != "" && want != objType {
		return billing.Event{}, fmt.Errorf("%w: %s carries a %q object, want %q", ErrMalformed, e.Type, objType, want)
	}
	e.OrgHint = billing.OrgRef(e)
	return e, nil
}

// objectFor names the object a handled event type carries, "" for other types.
func objectFor(eventType string) string {
	if !billing.Handled(eventType) {
		return ""
	}
	switch {
	case strings.HasPrefix(eventType, "customer.subscription."):
		return "subscription"
	case strings.HasPrefix(eventType, "invoice."):
		return "invoice"
	case strings.HasPrefix(eventType, "customer."):
		return "customer"
	case strings.HasPrefix(eventType, "checkout.session."):
		return "checkout.session"
	}
	return ""
}

// moved holds fields that newer API versions (2025-03-31 on) moved away from where
// stripe-go v76 looks for them.
type moved struct {
	Items struct {
		Data []struct {
			CurrentPeriodEnd int64 `json:"current_period_end"`
		} `json:"data"`
	} `json:"items"`
	Parent *struct {
		SubscriptionDetails *struct {
			Subscription json.RawMessage   `json:"subscription"`
			Metadata     map[string]string `json:"metadata"`
		} `json:"subscription_details"`
	} `json:"parent"`
}

func parseSubscription(raw []byte) (*billing.Subscription, error) {
	var s stripego.Subscription
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	var m moved
	_ = json.Unmarshal(raw, &m) // best effort: absent in the versions stripe-go knows
	out := &billing.Subscription{
		ID:                s.ID,
		Status:            string(s.Status),
		Created:           unixTime(s.Created),
		CurrentPeriodEnd:  unixTime(s.CurrentPeriodEnd),
		TrialEnd:          unixTime(s.TrialEnd),
		CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		Metadata:          s.Metadata,
	}
	if s.Customer != nil {
		out.CustomerID = s.Customer.ID
	}
	if s.Items != nil && len(s.Items.Data) > 0 && s.Items.Data[0] != nil {
		if p := s.Items.Data[0].Price; p != nil {
			out.PriceID = p.ID
		}
	}
	if out.CurrentPeriodEnd.IsZero() && len(m.Items.Data) > 0 {
		out.CurrentPeriodEnd = unixTime(m.Items.Data[0].CurrentPeriodEnd)
	}
	return out, nil
}

func parseInvoice(raw []byte) (*billing.Invoice, error) {
	var inv stripego.Invoice
	if err := json.Unmarshal(raw, &inv); err != nil {
		return nil, err
	}
	var m moved
	_ = json.Unmarshal(raw, &m)
	out := &billing.Invoice{
		ID:           inv.ID,
		Status:       string(inv.Status),
		Currency:     string(inv.Currency),
		HostedURL:    inv.HostedInvoiceURL,
		AmountDue:    inv.AmountDue,
		AmountPaid:   inv.AmountPaid,
		AttemptCount: inv.AttemptCount,
		PeriodStart:  unixTime(inv.PeriodStart),
		PeriodEnd:    unixTime(inv.PeriodEnd),
		// Newer versions drop paid; the status says the same.
		Paid: inv.Paid || inv.Status == stripego.InvoiceStatusPaid,
	}
	if inv.Customer != nil {
		out.CustomerID = inv.Customer.ID
	}
	if inv.Subscription != nil {
		out.SubscriptionID = inv.Subscription.ID
	}
	if inv.SubscriptionDetails != nil {
		out.Metadata = inv.SubscriptionDetails.Metadata
	}
	if m.Parent != nil && m.Parent.SubscriptionDetails != nil {
		d := m.Parent.SubscriptionDetails
		if out.SubscriptionID == "" {
			out.SubscriptionID = expandableID(d.Subscription)
		}
		if out.Metadata == nil {
			out.Metadata = d.Metadata
		}
	}
	return out, nil
}

func parseCustomer(raw []byte, deletedEvent bool) (*billing.Customer, error) {
	var c stripego.Customer
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &billing.Customer{
		ID:       c.ID,
		Deleted:  c.Deleted || deletedEvent,
		Email:    c.Email,
		Name:     c.Name,
		Metadata: c.Metadata,
	}, nil
}

func parseCheckout(raw []byte) (*billing.Checkout, error) {
	var cs stripego.CheckoutSession
	if err := json.Unmarshal(raw, &cs); err != nil {
		return nil, err
	}
	out := &billing.Checkout{
		ID:                cs.ID,
		ClientReferenceID: cs.ClientReferenceID,
		Metadata:          cs.Metadata,
	}
	if cs.Customer != nil {
		out.CustomerID = cs.Customer.ID
	}
	if cs.Subscription != nil {
		out.SubscriptionID = cs.Subscription.ID
	}
	return out, nil
}

// expandableID reads an expandable field: an id string, or an expanded object's id.
func expandableID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// MaxIDLength bounds every Stripe id an event carries (Stripe documents ids of up to 255
// characters): ids become keys, and a key must stay within what an index can hold.
const MaxIDLength = 255

// CheckIDs refuses an event whose ids, type or org reference exceed MaxIDLength.
func CheckIDs(e billing.Event) error {
	ids := []struct{ name, v string }{
		{"id", e.ID}, {"type", e.Type}, {"customer", e.CustomerID}, {"subscription", e.SubscriptionID}, {"org reference", e.OrgHint},
	}
	if s := e.Subscription; s != nil {
		ids = append(ids, struct{ name, v string }{"subscription id", s.ID}, struct{ name, v string }{"price", s.PriceID})
	}
	if i := e.Invoice; i != nil {
		ids = append(ids, struct{ name, v string }{"invoice id", i.ID})
	}
	if c := e.Customer; c != nil {
		ids = append(ids, struct{ name, v string }{"customer id", c.ID})
	}
	if c := e.Checkout; c != nil {
		ids = append(ids, struct{ name, v string }{"checkout id", c.ID})
	}
	for _, id := range ids {
		if len(id.v) > MaxIDLength {
			return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformed, id.name, MaxIDLength)
		}
	}
	return nil
}
