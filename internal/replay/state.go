package replay

import (
	"context"
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
// messages (direction, delivery status, reason, error code, media), the owner's
// notifications, opt-outs, billing and invoices.
func Snapshot(ctx context.Context, st *store.Store, slug string) (State, error) {
	org, err := st.OrgBySlug(ctx, slug)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	r, err := st.OrgRecords(ctx, org.ID)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", slug, err)
	}
	s := State{}
	for _, c := range r.Calls {
		s["call "+c.CallSID] = map[string]string{"from": c.From, "to": c.To, "outcome": c.Outcome, "reason": c.Reason,
			"dial_status": c.DialStatus, "call_status": c.CallStatus, "lead": c.LeadPhone.String}
	}
	for _, l := range r.Leads {
		s["lead "+l.Phone] = map[string]string{"status": l.Status}
	}
	for _, m := range r.Messages {
		// A text-back is known by its call; an inbound message by the MessageSid the
		// caller's carrier gave it, which the evidence carries. The SID Twilio gave our
		// own send differs on every run and is not compared.
		key := "text-back of " + m.CallSID.String
		if m.Direction != "outbound" {
			key = "message " + m.SID.String
		}
		s[key] = map[string]string{"direction": m.Direction, "from": m.From, "to": m.To, "body": m.Body,
			"status": m.Status, "reason": m.Reason, "error_code": m.ErrorCode, "media": m.Media, "lead": m.LeadPhone.String}
	}
	for _, n := range r.Notifications {
		s["notification "+n.EventKey] = map[string]string{"kind": n.Kind, "to": n.To, "from": n.From, "body": n.Body,
			"urgent": strconv.FormatBool(n.Urgent), "status": n.Status, "reason": n.Reason}
	}
	for _, o := range r.OptOuts {
		s["opt-out "+o.Phone] = map[string]string{"opted_out": strconv.FormatBool(o.OptedOut), "keyword": o.Keyword}
	}
	if b := r.Billing; b != nil {
		s["billing"] = map[string]string{"customer": b.CustomerID, "subscription": b.SubscriptionID, "status": b.Status,
			"price": b.PriceID, "period_end": timeString(b.CurrentPeriodEnd.Time), "cancel_at_period_end": strconv.FormatBool(b.CancelAtPeriodEnd),
			"latest_invoice": b.LatestInvoiceID, "latest_invoice_status": b.LatestInvoiceStatus,
			"delinquent": strconv.FormatBool(b.Delinquent), "subscription_deleted": strconv.FormatBool(b.SubscriptionDeleted)}
	}
	for _, i := range r.Invoices {
		s["invoice "+i.ID] = map[string]string{"status": i.Status, "amount_due": strconv.FormatInt(i.AmountDue, 10),
			"amount_paid": strconv.FormatInt(i.AmountPaid, 10)}
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
