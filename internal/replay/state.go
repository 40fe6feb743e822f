package replay

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

// State is an org's business state as replay compares it: what was decided, without the
// ids, SIDs we were given by Twilio, and timestamps that differ between any two runs.
// Each entity ("call CA...", "lead +1512...") maps field names to values.
type State map[string]map[string]string

// Snapshot reads an org's decided state: calls (outcome, statuses, reason), leads,
// messages (direction, status, reason), opt-outs, billing and invoices.
func Snapshot(ctx context.Context, st *store.Store, slug string) (State, error) {
	org, err := st.OrgBySlug(ctx, slug)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s := State{}
	db := st.DB()
	q := func(dst any, query string) error {
		if err := db.SelectContext(ctx, dst, db.Rebind(query), org.ID); err != nil {
			return fmt.Errorf("snapshot of %s: %w", slug, err)
		}
		return nil
	}
	var calls []struct {
		SID        string         `db:"call_sid"`
		From       string         `db:"from_number"`
		To         string         `db:"to_number"`
		Outcome    string         `db:"outcome"`
		Reason     string         `db:"reason"`
		DialStatus string         `db:"dial_status"`
		CallStatus string         `db:"call_status"`
		Lead       sql.NullString `db:"lead_phone"`
	}
	if err := q(&calls, `SELECT c.call_sid, c.from_number, c.to_number, c.outcome, c.reason, c.dial_status,
		c.call_status, l.phone AS lead_phone FROM calls c LEFT JOIN leads l ON l.id = c.lead_id WHERE c.org_id = ?`); err != nil {
		return nil, err
	}
	for _, c := range calls {
		s["call "+c.SID] = map[string]string{"from": c.From, "to": c.To, "outcome": c.Outcome, "reason": c.Reason,
			"dial_status": c.DialStatus, "call_status": c.CallStatus, "lead": c.Lead.String}
	}
	var leads []struct {
		Phone  string `db:"phone"`
		Status string `db:"status"`
	}
	if err := q(&leads, `SELECT phone, status FROM leads WHERE org_id = ?`); err != nil {
		return nil, err
	}
	for _, l := range leads {
		s["lead "+l.Phone] = map[string]string{"status": l.Status}
	}
	var msgs []struct {
		Direction string         `db:"direction"`
		CallSID   sql.NullString `db:"call_sid"`
		SID       sql.NullString `db:"sid"`
		From      string         `db:"from_number"`
		To        string         `db:"to_number"`
		Body      string         `db:"body"`
		Status    string         `db:"status"`
		Reason    string         `db:"reason"`
		Lead      sql.NullString `db:"lead_phone"`
	}
	if err := q(&msgs, `SELECT m.direction, m.call_sid, m.sid, m.from_number, m.to_number, m.body, m.status,
		m.reason, l.phone AS lead_phone FROM messages m LEFT JOIN leads l ON l.id = m.lead_id WHERE m.org_id = ?`); err != nil {
		return nil, err
	}
	for _, m := range msgs {
		// A text-back is known by its call; an inbound message by the MessageSid the
		// caller's carrier gave it, which the evidence carries. The SID Twilio gave our
		// own send differs on every run and is not compared.
		key := "text-back of " + m.CallSID.String
		if m.Direction != "outbound" {
			key = "message " + m.SID.String
		}
		s[key] = map[string]string{"direction": m.Direction, "from": m.From, "to": m.To, "body": m.Body,
			"status": m.Status, "reason": m.Reason, "lead": m.Lead.String}
	}
	var opts []struct {
		Phone    string `db:"phone"`
		OptedOut bool   `db:"opted_out"`
		Keyword  string `db:"keyword"`
	}
	if err := q(&opts, `SELECT phone, opted_out, keyword FROM opt_outs WHERE org_id = ?`); err != nil {
		return nil, err
	}
	for _, o := range opts {
		s["opt-out "+o.Phone] = map[string]string{"opted_out": strconv.FormatBool(o.OptedOut), "keyword": o.Keyword}
	}
	var bills []struct {
		Customer      string     `db:"customer_id"`
		Subscription  string     `db:"subscription_id"`
		Status        string     `db:"status"`
		Price         string     `db:"price_id"`
		PeriodEnd     store.Time `db:"current_period_end"`
		CancelAtEnd   bool       `db:"cancel_at_period_end"`
		Invoice       string     `db:"latest_invoice_id"`
		InvoiceStatus string     `db:"latest_invoice_status"`
		Delinquent    bool       `db:"delinquent"`
		Deleted       bool       `db:"subscription_deleted"`
	}
	if err := q(&bills, `SELECT customer_id, subscription_id, status, price_id, current_period_end,
		cancel_at_period_end, latest_invoice_id, latest_invoice_status, delinquent, subscription_deleted
		FROM org_billing WHERE org_id = ?`); err != nil {
		return nil, err
	}
	for _, b := range bills {
		s["billing"] = map[string]string{"customer": b.Customer, "subscription": b.Subscription, "status": b.Status,
			"price": b.Price, "period_end": timeString(b.PeriodEnd.Time), "cancel_at_period_end": strconv.FormatBool(b.CancelAtEnd),
			"latest_invoice": b.Invoice, "latest_invoice_status": b.InvoiceStatus,
			"delinquent": strconv.FormatBool(b.Delinquent), "subscription_deleted": strconv.FormatBool(b.Deleted)}
	}
	var invs []struct {
		ID     string `db:"id"`
		Status string `db:"status"`
		Due    int64  `db:"amount_due"`
		Paid   int64  `db:"amount_paid"`
	}
	if err := q(&invs, `SELECT id, status, amount_due, amount_paid FROM invoices WHERE org_id = ?`); err != nil {
		return nil, err
	}
	for _, i := range invs {
		s["invoice "+i.ID] = map[string]string{"status": i.Status, "amount_due": strconv.FormatInt(i.Due, 10),
			"amount_paid": strconv.FormatInt(i.Paid, 10)}
	}
	return s, nil
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Difference is one field that differs between the source and the replayed state. An
// entity only one side has is reported with Field "exists".
type Difference struct {
	Entity string `json:"entity"`
	Field  string `json:"field"`
	Source string `json:"source"`
	Replay string `json:"replay"`
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: %s: source %q, replay %q", d.Entity, d.Field, d.Source, d.Replay)
}

// Diff lists the differences between two states, sorted by entity and field.
func Diff(source, replay State) []Difference {
	var out []Difference
	keys := map[string]bool{}
	for k := range source {
		keys[k] = true
	}
	for k := range replay {
		keys[k] = true
	}
	for k := range keys {
		a, inA := source[k]
		b, inB := replay[k]
		if inA != inB {
			out = append(out, Difference{Entity: k, Field: "exists", Source: strconv.FormatBool(inA), Replay: strconv.FormatBool(inB)})
			continue
		}
		for f, v := range a {
			if b[f] != v {
				out = append(out, Difference{Entity: k, Field: f, Source: v, Replay: b[f]})
			}
		}
		for f, v := range b {
			if _, ok := a[f]; !ok {
				out = append(out, Difference{Entity: k, Field: f, Replay: v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entity != out[j].Entity {
			return out[i].Entity < out[j].Entity
		}
		return out[i].Field < out[j].Field
	})
	return out
}
