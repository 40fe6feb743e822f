package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
)

// ApplyStripeEvent maps a verified, handled Stripe event to its org and folds it into the
// org's billing record and invoices, inside the caller's transaction (the one that claims
// the event and writes its evidence). It returns StatusProcessed and the org, or
// StatusUnmatched when no org is known for the event yet: the event is then held under
// its customer and applied, in event.created order, by the first later event that maps
// that customer to an org. Types billing does not handle return StatusIgnored.
//
// The org is found, in order, by the org slug the event names (metadata callsnare_org,
// checkout client_reference_id), a customer id set on the org, or a customer id learnt
// from an earlier event. Row locks keep replicas apart: the customer's row first, then the
// org's billing row, so that events of one org are folded one at a time.
func (tx *Tx) ApplyStripeEvent(ctx context.Context, e billing.Event, now time.Time) (status string, orgID int64, err error) {
	if !billing.Handled(e.Type) {
		return StatusIgnored, 0, nil
	}
	if e.ID == "" {
		return "", 0, errors.New("apply stripe event: no event id")
	}
	orgID, err = tx.stripeOrg(ctx, e, now)
	if err != nil {
		return "", 0, err
	}
	if orgID == 0 {
		if err := tx.holdStripeEvent(ctx, e, now); err != nil {
			return "", 0, err
		}
		return StatusUnmatched, 0, nil
	}

	events := []billing.Event{e}
	held, err := tx.takeHeldEvents(ctx, e.CustomerID, orgID, now)
	if err != nil {
		return "", 0, err
	}
	events = append(events, held...)
	// The fold does not depend on order; applying in created order keeps the stored
	// history readable and is what operators expect.
	sort.Slice(events, func(i, j int) bool {
		return billing.NewerThan(events[j].Created, events[j].ID, events[i].Created, events[i].ID)
	})

	rec, err := tx.lockBilling(ctx, orgID, now)
	if err != nil {
		return "", 0, err
	}
	changed := false
	for _, ev := range events {
		var c bool
		rec, c = billing.Apply(rec, ev)
		changed = changed || c
		if err := tx.applyInvoiceEvent(ctx, orgID, ev, now); err != nil {
			return "", 0, err
		}
	}
	if changed {
		if err := tx.saveBilling(ctx, orgID, rec, now); err != nil {
			return "", 0, err
		}
	}
	return StatusProcessed, orgID, nil
}

// stripeOrg finds the org of an event (0 when none is known) and, when the event carries
// a customer id, records that customer's org. It locks the customer's row whatever the
// outcome, which is what orders an unmatched event against the one that maps it.
func (tx *Tx) stripeOrg(ctx context.Context, e billing.Event, now time.Time) (int64, error) {
	var orgID int64
	if e.OrgHint != "" {
		err := tx.get(ctx, &orgID, `SELECT id FROM orgs WHERE slug = ?`, e.OrgHint)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("org of stripe event %s: %w", e.ID, classify(err))
		}
	}
	if e.CustomerID == "" {
		return orgID, nil
	}
	if orgID == 0 {
		err := tx.get(ctx, &orgID, `SELECT id FROM orgs WHERE stripe_customer_id = ?`, e.CustomerID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("org of customer %s: %w", e.CustomerID, classify(err))
		}
	}
	// The upsert locks the customer's row; a mapping learnt earlier is kept (first wins),
	// and it is what maps the event when nothing above did.
	var learnt sql.NullInt64
	err := tx.get(ctx, &learnt, `INSERT INTO stripe_customers (customer_id, org_id, learnt_from, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (customer_id) DO UPDATE SET
			org_id = COALESCE(stripe_customers.org_id, excluded.org_id),
			learnt_from = CASE WHEN stripe_customers.org_id IS NULL AND excluded.org_id IS NOT NULL
				THEN excluded.learnt_from ELSE stripe_customers.learnt_from END,
			updated_at = CASE WHEN stripe_customers.org_id IS NULL AND excluded.org_id IS NOT NULL
				THEN excluded.updated_at ELSE stripe_customers.updated_at END
		RETURNING org_id`, e.CustomerID, NullID(orgID), learntFrom(orgID, e.ID), T(now))
	if err != nil {
		return 0, fmt.Errorf("map customer %s: %w", e.CustomerID, classify(err))
	}
	if orgID == 0 && learnt.Valid {
		orgID = learnt.Int64
	}
	return orgID, nil
}

func learntFrom(orgID int64, eventID string) string {
	if orgID == 0 {
		return ""
	}
	return eventID
}

// holdStripeEvent keeps an unmatched event until its customer is mapped. An event with no
// customer can never be mapped later; it stays in the webhook log only.
func (tx *Tx) holdStripeEvent(ctx context.Context, e billing.Event, now time.Time) error {
	if e.CustomerID == "" {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode stripe event %s: %w", e.ID, err)
	}
	_, err = tx.exec(ctx, `INSERT INTO stripe_held_events (event_id, customer_id, event_type,
		created, event, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		e.ID, e.CustomerID, e.Type, T(e.Created), string(b), T(now))
	if err != nil {
		return fmt.Errorf("hold stripe event %s: %w", e.ID, classify(err))
	}
	return nil
}

// takeHeldEvents marks the customer's held events applied to the org and returns them.
// Each is taken by an UPDATE that only one transaction can win.
func (tx *Tx) takeHeldEvents(ctx context.Context, customerID string, orgID int64, now time.Time) ([]billing.Event, error) {
	if customerID == "" {
		return nil, nil
	}
	var rows []struct {
		EventID string `db:"event_id"`
		Event   string `db:"event"`
	}
	if err := tx.sel(ctx, &rows, `SELECT event_id, event FROM stripe_held_events
		WHERE customer_id = ? AND applied_at IS NULL ORDER BY created, event_id`, customerID); err != nil {
		return nil, fmt.Errorf("held events of %s: %w", customerID, classify(err))
	}
	var out []billing.Event
	for _, r := range rows {
		res, err := tx.exec(ctx, `UPDATE stripe_held_events SET applied_at = ?, org_id = ?
			WHERE event_id = ? AND applied_at IS NULL`, T(now), orgID, r.EventID)
		if err != nil {
			return nil, fmt.Errorf("take held event %s: %w", r.EventID, classify(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		var e billing.Event
		if err := json.Unmarshal([]byte(r.Event), &e); err != nil {
			return nil, fmt.Errorf("decode held event %s: %w", r.EventID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// lockBilling takes the org's billing row lock (creating the row if needed) and returns
// its record. The no-op update is what makes two replicas fold one org's events in turn.
func (tx *Tx) lockBilling(ctx context.Context, orgID int64, now time.Time) (billing.Record, error) {
	var raw string
	err := tx.get(ctx, &raw, `INSERT INTO org_billing (org_id, updated_at) VALUES (?, ?)
		ON CONFLICT (org_id) DO UPDATE SET record = org_billing.record RETURNING record`, orgID, T(now))
	if err != nil {
		return billing.Record{}, fmt.Errorf("lock billing of org %d: %w", orgID, classify(err))
	}
	var rec billing.Record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return rec, fmt.Errorf("decode billing of org %d: %w", orgID, err)
	}
	return rec, nil
}

func (tx *Tx) saveBilling(ctx context.Context, orgID int64, r billing.Record, now time.Time) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode billing of org %d: %w", orgID, err)
	}
	_, err = tx.exec(ctx, `UPDATE org_billing SET customer_id = ?, subscription_id = ?, status = ?,
		price_id = ?, current_period_end = ?, trial_end = ?, cancel_at_period_end = ?, latest_invoice_id = ?,
		latest_invoice_status = ?, delinquent = ?, subscription_deleted = ?, customer_deleted = ?,
		subscription_event_created = ?, subscription_event_id = ?, invoice_event_created = ?, invoice_event_id = ?,
		customer_event_created = ?, customer_event_id = ?, payment_event_created = ?, payment_event_id = ?,
		checkout_event_created = ?, checkout_event_id = ?, record = ?, updated_at = ? WHERE org_id = ?`,
		r.CustomerID, r.SubscriptionID, r.Status, r.PriceID, T(r.CurrentPeriodEnd), T(r.TrialEnd), r.CancelAtPeriodEnd,
		r.LatestInvoiceID, r.LatestInvoiceStatus, r.Delinquent, r.SubscriptionDeleted, r.CustomerDeleted,
		T(r.SubscriptionEventCreated), r.SubscriptionEventID, T(r.InvoiceEventCreated), r.InvoiceEventID,
		T(r.CustomerEventCreated), r.CustomerEventID, T(r.PaymentEventCreated), r.PaymentEventID,
		T(r.CheckoutEventCreated), r.CheckoutEventID, string(b), T(now), orgID)
	if err != nil {
		return fmt.Errorf("save billing of org %d: %w", orgID, classify(err))
	}
	return nil
}

// invoiceRow is an invoices row; it holds everything billing.ApplyInvoice compares.
type invoiceRow struct {
	ID             string `db:"id"`
	OrgID          int64  `db:"org_id"`
	CustomerID     string `db:"customer_id"`
	SubscriptionID string `db:"subscription_id"`
	Status         string `db:"status"`
	AmountDue      int64  `db:"amount_due"`
	AmountPaid     int64  `db:"amount_paid"`
	Currency       string `db:"currency"`
	AttemptCount   int64  `db:"attempt_count"`
	HostedURL      string `db:"hosted_invoice_url"`
	Paid           bool   `db:"paid"`
	PeriodStart    Time   `db:"period_start"`
	PeriodEnd      Time   `db:"period_end"`
	EventCreated   Time   `db:"event_created"`
	EventID        string `db:"event_id"`
	EventType      string `db:"event_type"`
}

const invoiceColumns = `id, org_id, customer_id, subscription_id, status, amount_due, amount_paid, currency,
	attempt_count, hosted_invoice_url, paid, period_start, period_end, event_created, event_id, event_type`

// applyInvoiceEvent folds an invoice event into that invoice's row; the row's own lock
// orders concurrent events of one invoice.
func (tx *Tx) applyInvoiceEvent(ctx context.Context, orgID int64, e billing.Event, now time.Time) error {
	inv := e.Invoice
	if inv == nil || inv.ID == "" {
		return nil
	}
	var rows []invoiceRow
	if err := tx.sel(ctx, &rows, `SELECT `+invoiceColumns+` FROM invoices WHERE id = ?`, inv.ID); err != nil {
		return fmt.Errorf("load invoice %s: %w", inv.ID, classify(err))
	}
	var cur billing.InvoiceRecord
	if len(rows) == 1 {
		r := rows[0]
		cur = billing.InvoiceRecord{
			Invoice: billing.Invoice{ID: r.ID, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID, Status: r.Status,
				Currency: r.Currency, HostedURL: r.HostedURL, AmountDue: r.AmountDue, AmountPaid: r.AmountPaid,
				AttemptCount: r.AttemptCount, PeriodStart: r.PeriodStart.Time, PeriodEnd: r.PeriodEnd.Time, Paid: r.Paid},
			EventCreated: r.EventCreated.Time, EventID: r.EventID, EventType: r.EventType,
		}
	}
	next, changed := billing.ApplyInvoice(cur, e)
	if !changed {
		return nil
	}
	_, err := tx.exec(ctx, `INSERT INTO invoices (`+invoiceColumns+`, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, customer_id = excluded.customer_id,
			subscription_id = excluded.subscription_id, status = excluded.status, amount_due = excluded.amount_due,
			amount_paid = excluded.amount_paid, currency = excluded.currency, attempt_count = excluded.attempt_count,
			hosted_invoice_url = excluded.hosted_invoice_url, paid = excluded.paid, period_start = excluded.period_start,
			period_end = excluded.period_end, event_created = excluded.event_created, event_id = excluded.event_id,
			event_type = excluded.event_type, updated_at = excluded.updated_at`,
		next.ID, orgID, next.CustomerID, next.SubscriptionID, next.Status, next.AmountDue, next.AmountPaid,
		next.Currency, next.AttemptCount, next.HostedURL, next.Paid, T(next.PeriodStart), T(next.PeriodEnd),
		T(next.EventCreated), next.EventID, next.EventType, T(now))
	if err != nil {
		return fmt.Errorf("save invoice %s: %w", inv.ID, classify(err))
	}
	return nil
}

// Invoice is one invoice as the invoices table keeps it.
type Invoice struct {
	ID             string `db:"id" json:"id"`
	OrgID          int64  `db:"org_id" json:"org_id"`
	CustomerID     string `db:"customer_id" json:"customer_id"`
	SubscriptionID string `db:"subscription_id" json:"subscription_id"`
	Status         string `db:"status" json:"status"`
	AmountDue      int64  `db:"amount_due" json:"amount_due"`
	AmountPaid     int64  `db:"amount_paid" json:"amount_paid"`
	Currency       string `db:"currency" json:"currency"`
	AttemptCount   int64  `db:"attempt_count" json:"attempt_count"`
	HostedURL      string `db:"hosted_invoice_url" json:"hosted_invoice_url"`
	Paid           bool   `db:"paid" json:"paid"`
	PeriodStart    Time   `db:"period_start" json:"period_start"`
	PeriodEnd      Time   `db:"period_end" json:"period_end"`
	EventCreated   Time   `db:"event_created" json:"event_created"`
	EventID        string `db:"event_id" json:"event_id"`
	EventType      string `db:"event_type" json:"event_type"`
}

// Invoices lists an org's invoices, oldest period first.
func (s *Store) Invoices(ctx context.Context, orgID int64) ([]Invoice, error) {
	var out []Invoice
	if err := s.db.SelectContext(ctx, &out, s.rebind(`SELECT `+invoiceColumns+` FROM invoices WHERE org_id = ?
		ORDER BY period_start, id`), orgID); err != nil {
		return nil, fmt.Errorf("list invoices: %w", classify(err))
	}
	return out, nil
}

// BillingRecord returns the org's whole billing record as the events folded it; the zero
// record when Stripe never told us about the org.
func (s *Store) BillingRecord(ctx context.Context, orgID int64) (billing.Record, error) {
	var raw []string
	if err := s.db.SelectContext(ctx, &raw, s.rebind(`SELECT record FROM org_billing WHERE org_id = ?`), orgID); err != nil {
		return billing.Record{}, fmt.Errorf("billing record of org %d: %w", orgID, classify(err))
	}
	var rec billing.Record
	if len(raw) == 1 {
		if err := json.Unmarshal([]byte(raw[0]), &rec); err != nil {
			return rec, fmt.Errorf("decode billing of org %d: %w", orgID, err)
		}
	}
	return rec, nil
}

// HeldStripeEvents counts the events held for a customer and not applied yet.
func (s *Store) HeldStripeEvents(ctx context.Context, customerID string) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM stripe_held_events
		WHERE customer_id = ? AND applied_at IS NULL`), customerID); err != nil {
		return 0, fmt.Errorf("count held events: %w", classify(err))
	}
	return n, nil
}
