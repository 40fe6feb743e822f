package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The queries replay and simulate check a run with: what an org's traffic decided, when
// calls were settled, and what a load run left behind.

// OrgRecords is everything an org's traffic decided, as stored.
type OrgRecords struct {
	Calls    []RecordedCall
	Leads    []RecordedLead
	Messages []RecordedMessage
	// Notifications are the owner's, about the org's missed calls and replies.
	Notifications []Notification
	OptOuts       []RecordedOptOut
	// Billing is nil when Stripe never told us about the org.
	Billing  *RecordedBilling
	Invoices []Invoice
}

// RecordedCall is a call's decision; LeadPhone is empty when it made no lead.
type RecordedCall struct {
	CallSID    string         `db:"call_sid"`
	From       string         `db:"from_number"`
	To         string         `db:"to_number"`
	Outcome    string         `db:"outcome"`
	Reason     string         `db:"reason"`
	DialStatus string         `db:"dial_status"`
	CallStatus string         `db:"call_status"`
	LeadPhone  sql.NullString `db:"lead_phone"`
}

// RecordedLead is a lead's state.
type RecordedLead struct {
	Phone  string `db:"phone"`
	Status string `db:"status"`
}

// RecordedMessage is a message with the phone of its lead.
type RecordedMessage struct {
	Direction string         `db:"direction"`
	CallSID   sql.NullString `db:"call_sid"`
	SID       sql.NullString `db:"sid"`
	From      string         `db:"from_number"`
	To        string         `db:"to_number"`
	Body      string         `db:"body"`
	Status    string         `db:"status"`
	Reason    string         `db:"reason"`
	ErrorCode string         `db:"error_code"`
	Media     string         `db:"media"`
	LeadPhone sql.NullString `db:"lead_phone"`
}

// RecordedOptOut is a caller's opt-out state.
type RecordedOptOut struct {
	Phone    string `db:"phone"`
	OptedOut bool   `db:"opted_out"`
	Keyword  string `db:"keyword"`
}

// RecordedBilling is an org's billing row.
type RecordedBilling struct {
	CustomerID          string `db:"customer_id"`
	SubscriptionID      string `db:"subscription_id"`
	Status              string `db:"status"`
	PriceID             string `db:"price_id"`
	CurrentPeriodEnd    Time   `db:"current_period_end"`
	CancelAtPeriodEnd   bool   `db:"cancel_at_period_end"`
	LatestInvoiceID     string `db:"latest_invoice_id"`
	LatestInvoiceStatus string `db:"latest_invoice_status"`
	Delinquent          bool   `db:"delinquent"`
	SubscriptionDeleted bool   `db:"subscription_deleted"`
}

// OrgRecords reads what an org's traffic decided: calls, leads, messages, opt-outs,
// billing and invoices.
func (s *Store) OrgRecords(ctx context.Context, orgID int64) (OrgRecords, error) {
	var r OrgRecords
	q := func(what string, dst any, query string) error {
		if err := s.db.SelectContext(ctx, dst, s.rebind(query), orgID); err != nil {
			return fmt.Errorf("records of org %d: %s: %w", orgID, what, classify(err))
		}
		return nil
	}
	if err := q("calls", &r.Calls, `SELECT c.call_sid, c.from_number, c.to_number, c.outcome, c.reason,
		c.dial_status, c.call_status, l.phone AS lead_phone
		FROM calls c LEFT JOIN leads l ON l.id = c.lead_id WHERE c.org_id = ? ORDER BY c.id`); err != nil {
		return r, err
	}
	if err := q("leads", &r.Leads, `SELECT phone, status FROM leads WHERE org_id = ? ORDER BY id`); err != nil {
		return r, err
	}
	if err := q("messages", &r.Messages, `SELECT m.direction, m.call_sid, m.sid, m.from_number, m.to_number,
		m.body, m.status, m.reason, m.error_code, m.media, l.phone AS lead_phone
		FROM messages m LEFT JOIN leads l ON l.id = m.lead_id WHERE m.org_id = ? ORDER BY m.id`); err != nil {
		return r, err
	}
	if err := q("opt-outs", &r.OptOuts, `SELECT phone, opted_out, keyword FROM opt_outs WHERE org_id = ?
		ORDER BY phone`); err != nil {
		return r, err
	}
	var bills []RecordedBilling
	if err := q("billing", &bills, `SELECT customer_id, subscription_id, status, price_id, current_period_end,
		cancel_at_period_end, latest_invoice_id, latest_invoice_status, delinquent, subscription_deleted
		FROM org_billing WHERE org_id = ?`); err != nil {
		return r, err
	}
	if len(bills) > 0 {
		r.Billing = &bills[0]
	}
	invoices, err := s.Invoices(ctx, orgID)
	if err != nil {
		return r, fmt.Errorf("records of org %d: %w", orgID, err)
	}
	r.Invoices = invoices
	if r.Notifications, err = s.Notifications(ctx, orgID); err != nil {
		return r, fmt.Errorf("records of org %d: %w", orgID, err)
	}
	return r, nil
}

// SettleFact is when a call that ended with no dial-complete was settled.
type SettleFact struct {
	CallSID string `db:"call_sid"`
	At      Time   `db:"received_at"`
}

// SettleFacts lists when an org's calls were settled, in time order.
func (s *Store) SettleFacts(ctx context.Context, orgID int64) ([]SettleFact, error) {
	var rows []SettleFact
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT f.call_sid, f.received_at FROM call_facts f
		JOIN calls c ON c.call_sid = f.call_sid WHERE c.org_id = ? AND f.kind = 'settled'
		ORDER BY f.received_at, f.id`), orgID); err != nil {
		return nil, fmt.Errorf("settle facts of org %d: %w", orgID, classify(err))
	}
	return rows, nil
}

// placeholders is "(?, ?, ...)" for n values.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// UnfinishedTextbacks counts the text-backs of some orgs still queued or being sent.
func (s *Store) UnfinishedTextbacks(ctx context.Context, orgIDs []int64) (int, error) {
	if len(orgIDs) == 0 {
		return 0, nil
	}
	var n int
	if err := s.db.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM messages WHERE direction = 'outbound'
		AND status IN ('queued', 'sending') AND org_id IN `+placeholders(len(orgIDs))), int64Args(orgIDs)...); err != nil {
		return 0, fmt.Errorf("count unfinished text-backs: %w", classify(err))
	}
	return n, nil
}

// TextbackRow is an outbound text-back as a load run checks it.
type TextbackRow struct {
	CallSID     sql.NullString `db:"call_sid"`
	SID         sql.NullString `db:"sid"`
	OrgID       int64          `db:"org_id"`
	From        string         `db:"from_number"`
	To          string         `db:"to_number"`
	Status      string         `db:"status"`
	Reason      string         `db:"reason"`
	ErrorCode   string         `db:"error_code"` // Twilio's, from a refused send or a failed delivery
	AttemptedAt Time           `db:"attempted_at"`
	UpdatedAt   Time           `db:"updated_at"`
	SentAt      Time           `db:"sent_at"`
}

// Textbacks lists the text-backs of some orgs; status narrows to one status ("" for all).
func (s *Store) Textbacks(ctx context.Context, orgIDs []int64, status string) ([]TextbackRow, error) {
	if len(orgIDs) == 0 {
		return nil, nil
	}
	q := `SELECT call_sid, sid, org_id, from_number, to_number, status, reason, error_code, attempted_at, updated_at, sent_at
		FROM messages WHERE direction = 'outbound' AND org_id IN ` + placeholders(len(orgIDs))
	args := int64Args(orgIDs)
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	var rows []TextbackRow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q+` ORDER BY id`), args...); err != nil {
		return nil, fmt.Errorf("list text-backs: %w", classify(err))
	}
	return rows, nil
}

// CallOutcome is a call's outcome.
type CallOutcome struct {
	CallSID string `db:"call_sid"`
	Outcome string `db:"outcome"`
}

// CallOutcomes lists the calls of some orgs with their outcomes (one row per call row).
func (s *Store) CallOutcomes(ctx context.Context, orgIDs []int64) ([]CallOutcome, error) {
	if len(orgIDs) == 0 {
		return nil, nil
	}
	var rows []CallOutcome
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT call_sid, outcome FROM calls WHERE org_id IN `+
		placeholders(len(orgIDs))+` ORDER BY id`), int64Args(orgIDs)...); err != nil {
		return nil, fmt.Errorf("list call outcomes: %w", classify(err))
	}
	return rows, nil
}

// DeliveryStatus is a delivery's request id (its X-Request-Id header) and status.
type DeliveryStatus struct {
	RequestID string
	Status    string
}

// DeliveryStatuses lists the request id and status of the deliveries received since a
// time, for those that carried an X-Request-Id.
func (s *Store) DeliveryStatuses(ctx context.Context, since time.Time) ([]DeliveryStatus, error) {
	var rows []struct {
		Headers string `db:"headers"`
		Status  string `db:"status"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT headers, status FROM webhook_log
		WHERE received_at >= ? ORDER BY id`), T(since)); err != nil {
		return nil, fmt.Errorf("delivery statuses: %w", classify(err))
	}
	out := make([]DeliveryStatus, 0, len(rows))
	for _, r := range rows {
		var h map[string]string
		if json.Unmarshal([]byte(r.Headers), &h) == nil && h["X-Request-Id"] != "" {
			out = append(out, DeliveryStatus{RequestID: h["X-Request-Id"], Status: r.Status})
		}
	}
	return out, nil
}

// IDKind names a kind of id a run may look for.
type IDKind string

const (
	CallSIDs    IDKind = "call_sid"   // calls
	MessageSIDs IDKind = "sid"        // messages
	DedupeKeys  IDKind = "dedupe_key" // webhook_log
)

// ExistingIDs returns which of ids are stored, as call SIDs, message SIDs or delivery
// dedupe keys, sorted.
func (s *Store) ExistingIDs(ctx context.Context, kind IDKind, ids []string) ([]string, error) {
	table := map[IDKind]string{CallSIDs: "calls", MessageSIDs: "messages", DedupeKeys: "webhook_log"}[kind]
	if table == "" {
		return nil, fmt.Errorf("existing ids: unknown kind %q", kind)
	}
	var out []string
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		var found []string
		if err := s.db.SelectContext(ctx, &found, s.rebind(`SELECT `+string(kind)+` FROM `+table+` WHERE `+
			string(kind)+` IN `+placeholders(len(chunk))), args...); err != nil {
			return nil, fmt.Errorf("existing %s: %w", kind, classify(err))
		}
		out = append(out, found...)
	}
	slices.Sort(out)
	return out, nil
}
