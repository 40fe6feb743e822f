// Package logquery is the log viewer's read model: the webhook log as pages, org
// summaries and the story of one call, lead or org's billing, built from the store's
// queries.
package logquery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// Reader answers the log viewer's questions from a store.
type Reader struct {
	st *store.Store
}

// New reads through st.
func New(st *store.Store) *Reader { return &Reader{st: st} }

// LogPage lists deliveries under a filter, newest first.
func (r *Reader) LogPage(ctx context.Context, f store.LogFilter) ([]store.Evidence, error) {
	return r.st.LogPage(ctx, f)
}

// LogTail lists deliveries with ids above afterID under a filter, oldest first.
func (r *Reader) LogTail(ctx context.Context, f store.LogFilter, afterID int64) ([]store.Evidence, error) {
	return r.st.LogTail(ctx, f, afterID)
}

// LogByID finds one delivery.
func (r *Reader) LogByID(ctx context.Context, id int64) (store.Evidence, error) {
	return r.st.LogByID(ctx, id)
}

// CallBySID finds one call.
func (r *Reader) CallBySID(ctx context.Context, callSID string) (store.Call, error) {
	return r.st.CallBySID(ctx, callSID)
}

// OrgSlugs maps org ids to slugs, for labelling deliveries.
func (r *Reader) OrgSlugs(ctx context.Context) (map[int64]string, error) {
	return r.st.OrgSlugs(ctx)
}

// SummaryHours is the window of an org summary, in hours.
const SummaryHours = 24

// OrgSummary is one line of the viewer's org list. The line with OrgID 0 gathers the
// deliveries that belong to no org.
type OrgSummary struct {
	OrgID         int64    `json:"org_id"`
	Slug          string   `json:"slug"`
	Name          string   `json:"name"`
	Numbers       []string `json:"numbers"`
	BillingStatus string   `json:"billing_status"`
	// Deliveries and Errors (rejected + failed) over the last SummaryHours hours.
	Deliveries int `json:"deliveries"`
	Errors     int `json:"errors"`
	// Hourly counts deliveries per hour, oldest first; the last is the current hour.
	Hourly [SummaryHours]int `json:"hourly"`
}

// OrgSummaries lists every org, by slug, with its traffic over the last 24 hours, then the
// line of deliveries tied to no org.
func (r *Reader) OrgSummaries(ctx context.Context, now time.Time) ([]OrgSummary, error) {
	orgs, err := r.st.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	billing, err := r.st.BillingStatuses(ctx)
	if err != nil {
		return nil, err
	}
	now = now.UTC()
	end := now.Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-SummaryHours * time.Hour)
	counts, err := r.st.DeliveryCounts(ctx, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]OrgSummary, 0, len(orgs)+1)
	idx := make(map[int64]int, len(orgs)+1)
	for _, o := range orgs {
		idx[o.ID] = len(out)
		out = append(out, OrgSummary{OrgID: o.ID, Slug: o.Slug, Name: o.Name, Numbers: o.Numbers, BillingStatus: billing[o.ID]})
	}
	idx[0] = len(out)
	out = append(out, OrgSummary{Name: "(no org)", Numbers: []string{}})
	for _, c := range counts {
		i, ok := idx[c.OrgID]
		if !ok {
			continue // an org created since the list was read
		}
		slot := int(c.Hour.Sub(start) / time.Hour)
		if slot < 0 || slot >= SummaryHours {
			continue
		}
		out[i].Hourly[slot] += c.N
		out[i].Deliveries += c.N
		out[i].Errors += c.Errors
	}
	return out, nil
}

// ConversationQuery names a story: a call, a lead (org and phone), or an org's billing.
type ConversationQuery struct {
	CallSID string
	OrgID   int64
	Phone   string
	// To (a tracked number) finds the org when OrgID is unknown.
	To string
	// DeliveryID is always part of the story, even when nothing else ties it in (a
	// rejected delivery carries its CallSid only in its body).
	DeliveryID int64
	// Billing asks for the org's Stripe deliveries instead of a call or lead.
	Billing bool
}

// ConversationFor is the story a delivery belongs to: its call, else its caller's lead,
// else (Stripe) its org's billing. A Twilio delivery refused before it was read (rejected)
// has no CallSid or caller in its row: they are taken from its body, when it parses as
// Twilio's form.
func ConversationFor(e store.Evidence) ConversationQuery {
	if e.Provider == "stripe" {
		return ConversationQuery{OrgID: e.OrgID.Int64, Billing: true, DeliveryID: e.ID}
	}
	q := ConversationQuery{CallSID: e.CallSID, OrgID: e.OrgID.Int64, Phone: e.Caller, DeliveryID: e.ID}
	if form, err := twilio.ParseForm(e.Body); err == nil {
		if q.CallSID == "" {
			q.CallSID = form["CallSid"]
		}
		if q.Phone == "" {
			q.Phone = form["From"]
		}
		q.To = form["To"]
	}
	return q
}

// ConversationItem is one event of a story: a delivery, a message, or the owner's
// notification.
type ConversationItem struct {
	At           time.Time
	Delivery     *store.Evidence
	Message      *store.Message
	Notification *store.Notification
}

// Conversation is the whole story of a call or a lead, in time order, with what it came to.
type Conversation struct {
	Call    *store.Call
	Lead    *store.Lead // with its messages
	Calls   []store.Call
	Billing *store.Billing
	Items   []ConversationItem
}

// conversationCap bounds how many deliveries a story loads.
const conversationCap = 500

// Conversation gathers a story: the deliveries of the call (by CallSid) and of every other
// call and inbound SMS of its lead, the lead's messages (text-backs, replies, STOP), and
// the call's outcome; for billing, the org's Stripe deliveries and its billing state.
func (r *Reader) Conversation(ctx context.Context, q ConversationQuery) (Conversation, error) {
	if q.Billing {
		return r.billingConversation(ctx, q)
	}
	var c Conversation
	seen := map[int64]bool{}
	addDeliveries := func(rows []store.Evidence) {
		for i := range rows {
			if !seen[rows[i].ID] {
				seen[rows[i].ID] = true
				c.Items = append(c.Items, ConversationItem{At: rows[i].ReceivedAt.Time, Delivery: &rows[i]})
			}
		}
	}
	if q.OrgID == 0 && q.To != "" {
		org, err := r.st.OrgByNumber(ctx, q.To)
		switch {
		case err == nil:
			q.OrgID = org.ID
		case !errors.Is(err, store.ErrNotFound):
			return c, fmt.Errorf("conversation: %w", err)
		}
	}
	callSIDs := []string{}
	if q.CallSID != "" {
		call, err := r.st.CallBySID(ctx, q.CallSID)
		switch {
		case err == nil:
			c.Call = &call
			if q.OrgID == 0 {
				q.OrgID = call.OrgID
			}
			if q.Phone == "" {
				q.Phone = call.From
			}
		case !errors.Is(err, store.ErrNotFound):
			return c, fmt.Errorf("conversation: %w", err)
		}
		callSIDs = append(callSIDs, q.CallSID)
	}
	if q.OrgID != 0 && q.Phone != "" {
		leads, err := r.st.Leads(ctx, q.OrgID, q.Phone)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		if len(leads) > 0 {
			c.Lead = &leads[0]
			calls, err := r.st.CallsOfLead(ctx, c.Lead.ID)
			if err != nil {
				return c, fmt.Errorf("conversation: %w", err)
			}
			c.Calls = calls
			for _, cl := range calls {
				if !slices.Contains(callSIDs, cl.CallSID) {
					callSIDs = append(callSIDs, cl.CallSID)
				}
			}
		}
		sms, err := r.st.InboundSMSDeliveries(ctx, q.OrgID, q.Phone, conversationCap)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		addDeliveries(sms)
	}
	for _, sid := range callSIDs {
		rows, err := r.st.CallDeliveries(ctx, sid, conversationCap)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		addDeliveries(rows)
	}
	if q.DeliveryID != 0 && !seen[q.DeliveryID] {
		e, err := r.st.LogByID(ctx, q.DeliveryID)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		addDeliveries([]store.Evidence{e})
	}
	if c.Lead != nil {
		for i := range c.Lead.Messages {
			m := &c.Lead.Messages[i]
			c.Items = append(c.Items, ConversationItem{At: m.CreatedAt.Time, Message: m})
		}
	} else if c.Call != nil {
		// A call with no lead (an untextable caller) may still have a suppressed text-back.
		msgs, err := r.st.MessagesOfCall(ctx, q.CallSID)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		for i := range msgs {
			c.Items = append(c.Items, ConversationItem{At: msgs[i].CreatedAt.Time, Message: &msgs[i]})
		}
	}
	if q.OrgID != 0 && q.Phone != "" {
		ns, err := r.st.NotificationsOfCaller(ctx, q.OrgID, q.Phone)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		for i := range ns {
			c.Items = append(c.Items, ConversationItem{At: ns[i].CreatedAt.Time, Notification: &ns[i]})
		}
	}
	sortItems(c.Items)
	return c, nil
}

func (r *Reader) billingConversation(ctx context.Context, query ConversationQuery) (Conversation, error) {
	var c Conversation
	if orgID := query.OrgID; orgID != 0 {
		b, err := r.st.OrgBilling(ctx, orgID)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		if !b.UpdatedAt.IsZero() {
			c.Billing = &b
		}
	}
	rows, err := r.st.StripeDeliveries(ctx, query.OrgID, conversationCap)
	if err != nil {
		return c, fmt.Errorf("conversation: %w", err)
	}
	if id := query.DeliveryID; id != 0 && !slices.ContainsFunc(rows, func(e store.Evidence) bool { return e.ID == id }) {
		e, err := r.st.LogByID(ctx, id)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		rows = append(rows, e)
	}
	for i := range rows {
		c.Items = append(c.Items, ConversationItem{At: rows[i].ReceivedAt.Time, Delivery: &rows[i]})
	}
	sortItems(c.Items)
	return c, nil
}

// sortItems puts a story in time order; at the same instant a delivery comes before the
// message it caused.
func sortItems(items []ConversationItem) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if (a.Delivery != nil) != (b.Delivery != nil) {
			return a.Delivery != nil
		}
		if a.Delivery != nil {
			return a.Delivery.ID < b.Delivery.ID
		}
		// Then messages, then the owner's notifications they led to.
		if (a.Message != nil) != (b.Message != nil) {
			return a.Message != nil
		}
		if a.Message != nil {
			return a.Message.ID < b.Message.ID
		}
		return a.Notification.ID < b.Notification.ID
	})
}
