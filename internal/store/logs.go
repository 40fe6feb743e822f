package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// The queries of the log viewer (`callsnare logs`): pages of the webhook log under a filter,
// one delivery, a summary per org, the story of one call or lead, and pruning. Pages are
// cut by id (keyset), never by OFFSET, so that the millionth row costs what the first does.

// LogFilter narrows the webhook log. The zero value lists every delivery, those with no org
// included.
type LogFilter struct {
	// OrgID keeps one org's deliveries; nil keeps all (NoOrg keeps only those with none).
	OrgID *int64
	// OrgSlug is resolved to OrgID when OrgID is nil.
	OrgSlug string
	// NoOrg keeps only the deliveries tied to no org (unmatched, rejected, ...).
	NoOrg bool

	Providers, Kinds, Statuses, Signatures []string

	// Search matches call_sid, caller, dedupe_key (case-insensitive) and the raw body
	// (byte for byte, so case-sensitive; a phone number is also looked for form-encoded).
	Search string

	// After and Before bound received_at: After <= received_at < Before.
	After, Before time.Time
	// BeforeID is the keyset cursor: only ids below it (the last id of the previous page).
	BeforeID int64
	// AfterID keeps only ids above it (new deliveries, for following).
	AfterID int64
	// Limit caps a page; 0 means 100.
	Limit int
}

// DefaultLogLimit is the page size when a filter sets none.
const DefaultLogLimit = 100

const logSelect = `SELECT id, ` + evidenceColumns + ` FROM webhook_log`

// where builds the WHERE clause of a filter (without the keyset bounds' ORDER BY).
func (s *Store) logWhere(ctx context.Context, f LogFilter) (string, []any, error) {
	var conds []string
	var args []any
	if f.OrgID == nil && f.OrgSlug != "" {
		org, err := s.OrgBySlug(ctx, f.OrgSlug)
		if err != nil {
			return "", nil, err
		}
		f.OrgID = &org.ID
	}
	switch {
	case f.NoOrg:
		conds = append(conds, "org_id IS NULL")
	case f.OrgID != nil:
		conds = append(conds, "org_id = ?")
		args = append(args, *f.OrgID)
	}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		conds = append(conds, col+" IN (?"+strings.Repeat(", ?", len(vals)-1)+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("provider", f.Providers)
	in("kind", f.Kinds)
	in("status", f.Statuses)
	in("signature", f.Signatures)
	if !f.After.IsZero() {
		conds = append(conds, "received_at >= ?")
		args = append(args, T(f.After))
	}
	if !f.Before.IsZero() {
		conds = append(conds, "received_at < ?")
		args = append(args, T(f.Before))
	}
	if f.BeforeID > 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.BeforeID)
	}
	if f.AfterID > 0 {
		conds = append(conds, "id > ?")
		args = append(args, f.AfterID)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		like := "%" + escapeLike(strings.ToLower(q)) + "%"
		alts := []string{
			`LOWER(call_sid) LIKE ? ESCAPE '\'`,
			`LOWER(caller) LIKE ? ESCAPE '\'`,
			`LOWER(dedupe_key) LIKE ? ESCAPE '\'`,
			s.bodyContains(),
		}
		args = append(args, like, like, like, []byte(q))
		// Twilio bodies are form-encoded: "+1512..." is stored as "%2B1512...".
		if enc := url.QueryEscape(q); enc != q {
			alts = append(alts, s.bodyContains())
			args = append(args, []byte(enc))
		}
		conds = append(conds, "("+strings.Join(alts, " OR ")+")")
	}
	if len(conds) == 0 {
		return "", args, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// bodyContains is the one fragment that differs by driver: a byte-wise substring test on
// the raw body. Bodies are bytes and may not be valid UTF-8, so PostgreSQL must not decode
// them (convert_from fails on invalid UTF-8); both sides compare bytes.
func (s *Store) bodyContains() string {
	if s.driver == Postgres {
		return "position(?::bytea in body) > 0"
	}
	return "instr(body, ?) > 0"
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// LogPage lists deliveries under a filter, newest first. The next page is the same filter
// with BeforeID set to the last id of this one.
func (s *Store) LogPage(ctx context.Context, f LogFilter) ([]Evidence, error) {
	where, args, err := s.logWhere(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("log page: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	return s.selectEvidence(ctx, logSelect+where+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
}

// LogTail lists deliveries with ids above afterID under a filter, oldest first: what
// arrived since the last look, for following.
func (s *Store) LogTail(ctx context.Context, f LogFilter, afterID int64) ([]Evidence, error) {
	f.AfterID, f.BeforeID = afterID, 0
	where, args, err := s.logWhere(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("log tail: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	return s.selectEvidence(ctx, logSelect+where+" ORDER BY id LIMIT ?", append(args, limit)...)
}

// LatestLogID is the highest id in the log under a filter (0 when empty): where following
// starts.
func (s *Store) LatestLogID(ctx context.Context, f LogFilter) (int64, error) {
	f.Limit = 1
	page, err := s.LogPage(ctx, f)
	if err != nil || len(page) == 0 {
		return 0, err
	}
	return page[0].ID, nil
}

// LogByID finds one delivery.
func (s *Store) LogByID(ctx context.Context, id int64) (Evidence, error) {
	rows, err := s.selectEvidence(ctx, logSelect+" WHERE id = ?", id)
	if err != nil {
		return Evidence{}, err
	}
	if len(rows) == 0 {
		return Evidence{}, fmt.Errorf("delivery %d: %w", id, ErrNotFound)
	}
	return rows[0], nil
}

func (s *Store) selectEvidence(ctx context.Context, q string, args ...any) ([]Evidence, error) {
	var rows []Evidence
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", classify(err))
	}
	for i := range rows {
		rows[i].Headers = map[string]string{}
		if rows[i].HeadersJSON != "" {
			_ = json.Unmarshal([]byte(rows[i].HeadersJSON), &rows[i].Headers)
		}
	}
	return rows, nil
}

// OrgSlugs maps org ids to slugs, for labelling deliveries.
func (s *Store) OrgSlugs(ctx context.Context) (map[int64]string, error) {
	var rows []struct {
		ID   int64  `db:"id"`
		Slug string `db:"slug"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, slug FROM orgs`); err != nil {
		return nil, fmt.Errorf("list org slugs: %w", classify(err))
	}
	m := make(map[int64]string, len(rows))
	for _, r := range rows {
		m[r.ID] = r.Slug
	}
	return m, nil
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

// hourBucket is the received hour of a row as text, per driver: SQLite stores fixed-width
// RFC 3339 text, PostgreSQL a timestamptz.
func (s *Store) hourBucket() string {
	if s.driver == Postgres {
		return `to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')`
	}
	return "substr(received_at, 1, 13)"
}

// OrgSummaries lists every org, by slug, with its traffic over the last 24 hours, then the
// line of deliveries tied to no org. One grouped query over the window reads only an
// index (org_id, received_at, status).
func (s *Store) OrgSummaries(ctx context.Context, now time.Time) ([]OrgSummary, error) {
	orgs, err := s.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	var billing []struct {
		OrgID  int64  `db:"org_id"`
		Status string `db:"status"`
	}
	if err := s.db.SelectContext(ctx, &billing, `SELECT org_id, status FROM org_billing`); err != nil {
		return nil, fmt.Errorf("list billing: %w", classify(err))
	}
	now = now.UTC()
	end := now.Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-SummaryHours * time.Hour)
	var counts []struct {
		OrgID  sql.NullInt64 `db:"org_id"`
		Hour   string        `db:"hour"`
		N      int           `db:"n"`
		Errors int           `db:"errors"`
	}
	q := `SELECT org_id, ` + s.hourBucket() + ` AS hour, COUNT(*) AS n,
		SUM(CASE WHEN status IN ('rejected', 'failed') THEN 1 ELSE 0 END) AS errors
		FROM webhook_log WHERE received_at >= ? AND received_at < ?
		GROUP BY org_id, ` + s.hourBucket()
	if err := s.db.SelectContext(ctx, &counts, s.rebind(q), T(start), T(end)); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", classify(err))
	}
	out := make([]OrgSummary, 0, len(orgs)+1)
	idx := make(map[int64]int, len(orgs)+1)
	for _, o := range orgs {
		idx[o.ID] = len(out)
		out = append(out, OrgSummary{OrgID: o.ID, Slug: o.Slug, Name: o.Name, Numbers: o.Numbers})
	}
	idx[0] = len(out)
	out = append(out, OrgSummary{Name: "(no org)", Numbers: []string{}})
	for _, b := range billing {
		if i, ok := idx[b.OrgID]; ok {
			out[i].BillingStatus = b.Status
		}
	}
	for _, c := range counts {
		i, ok := idx[c.OrgID.Int64]
		if !ok {
			continue // an org created since the list was read
		}
		h, err := time.Parse("2006-01-02T15", c.Hour)
		if err != nil {
			return nil, fmt.Errorf("count deliveries: hour %q: %w", c.Hour, err)
		}
		slot := int(h.Sub(start) / time.Hour)
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
// has no CallSid or caller in its row: they are taken from its body.
func ConversationFor(e Evidence) ConversationQuery {
	if e.Provider == "stripe" {
		return ConversationQuery{OrgID: e.OrgID.Int64, Billing: true, DeliveryID: e.ID}
	}
	q := ConversationQuery{CallSID: e.CallSID, OrgID: e.OrgID.Int64, Phone: e.Caller, DeliveryID: e.ID}
	if form, err := url.ParseQuery(string(e.Body)); err == nil {
		if q.CallSID == "" {
			q.CallSID = form.Get("CallSid")
		}
		if q.Phone == "" {
			q.Phone = form.Get("From")
		}
		q.To = form.Get("To")
	}
	return q
}

// ConversationItem is one event of a story: a delivery or a message.
type ConversationItem struct {
	At       time.Time
	Delivery *Evidence
	Message  *Message
}

// Conversation is the whole story of a call or a lead, in time order, with what it came to.
type Conversation struct {
	Call    *Call
	Lead    *Lead // with its messages
	Calls   []Call
	Billing *BillingSummary
	Items   []ConversationItem
}

// BillingSummary is the org's Stripe state, at the top of a billing story.
type BillingSummary struct {
	CustomerID     string `db:"customer_id"`
	SubscriptionID string `db:"subscription_id"`
	Status         string `db:"status"`
	InvoiceStatus  string `db:"latest_invoice_status"`
	CancelAtEnd    bool   `db:"cancel_at_period_end"`
	PeriodEnd      Time   `db:"current_period_end"`
}

// conversationCap bounds how many deliveries a story loads.
const conversationCap = 500

// Conversation gathers a story: the deliveries of the call (by CallSid) and of every other
// call and inbound SMS of its lead, the lead's messages (text-backs, replies, STOP), and
// the call's outcome; for billing, the org's Stripe deliveries and its billing state.
func (s *Store) Conversation(ctx context.Context, q ConversationQuery) (Conversation, error) {
	var c Conversation
	if q.Billing {
		return s.billingConversation(ctx, q)
	}
	seen := map[int64]bool{}
	addDeliveries := func(rows []Evidence) {
		for i := range rows {
			if !seen[rows[i].ID] {
				seen[rows[i].ID] = true
				c.Items = append(c.Items, ConversationItem{At: rows[i].ReceivedAt.Time, Delivery: &rows[i]})
			}
		}
	}
	if q.OrgID == 0 && q.To != "" {
		org, err := s.OrgByNumber(ctx, q.To)
		switch {
		case err == nil:
			q.OrgID = org.ID
		case !errors.Is(err, ErrNotFound):
			return c, fmt.Errorf("conversation: %w", err)
		}
	}
	callSIDs := []string{}
	if q.CallSID != "" {
		call, err := s.CallBySID(ctx, q.CallSID)
		switch {
		case err == nil:
			c.Call = &call
			if q.OrgID == 0 {
				q.OrgID = call.OrgID
			}
			if q.Phone == "" {
				q.Phone = call.From
			}
		case !errors.Is(err, ErrNotFound):
			return c, fmt.Errorf("conversation: %w", err)
		}
		callSIDs = append(callSIDs, q.CallSID)
	}
	if q.OrgID != 0 && q.Phone != "" {
		leads, err := s.Leads(ctx, q.OrgID, q.Phone)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		if len(leads) > 0 {
			c.Lead = &leads[0]
			var calls []Call
			if err := s.db.SelectContext(ctx, &calls, s.rebind(callSelect+` WHERE c.lead_id = ?
				ORDER BY c.started_at, c.id`), c.Lead.ID); err != nil {
				return c, fmt.Errorf("conversation: calls: %w", classify(err))
			}
			c.Calls = calls
			for _, cl := range calls {
				if !slices.Contains(callSIDs, cl.CallSID) {
					callSIDs = append(callSIDs, cl.CallSID)
				}
			}
		}
		sms, err := s.selectEvidence(ctx, logSelect+` WHERE org_id = ? AND caller = ? AND kind = 'sms.inbound'
			ORDER BY id DESC LIMIT ?`, q.OrgID, q.Phone, conversationCap)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		addDeliveries(sms)
	}
	for _, sid := range callSIDs {
		rows, err := s.selectEvidence(ctx, logSelect+` WHERE call_sid = ? ORDER BY id LIMIT ?`, sid, conversationCap)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		addDeliveries(rows)
	}
	if q.DeliveryID != 0 && !seen[q.DeliveryID] {
		e, err := s.LogByID(ctx, q.DeliveryID)
		if err != nil {
			return c, fmt.Errorf("conversation: %w", err)
		}
		addDeliveries([]Evidence{e})
	}
	if c.Lead != nil {
		for i := range c.Lead.Messages {
			m := &c.Lead.Messages[i]
			c.Items = append(c.Items, ConversationItem{At: m.CreatedAt.Time, Message: m})
		}
	} else if c.Call != nil {
		// A call with no lead (an untextable caller) may still have a suppressed text-back.
		var msgs []Message
		if err := s.db.SelectContext(ctx, &msgs, s.rebind(`SELECT `+messageColumns+` FROM messages WHERE call_sid = ?`), q.CallSID); err != nil {
			return c, fmt.Errorf("conversation: messages: %w", classify(err))
		}
		for i := range msgs {
			c.Items = append(c.Items, ConversationItem{At: msgs[i].CreatedAt.Time, Message: &msgs[i]})
		}
	}
	sortItems(c.Items)
	return c, nil
}

func (s *Store) billingConversation(ctx context.Context, query ConversationQuery) (Conversation, error) {
	var c Conversation
	orgID := query.OrgID
	if orgID != 0 {
		var b BillingSummary
		err := s.db.GetContext(ctx, &b, s.rebind(`SELECT customer_id, subscription_id, status,
			latest_invoice_status, cancel_at_period_end, current_period_end FROM org_billing WHERE org_id = ?`), orgID)
		switch {
		case err == nil:
			c.Billing = &b
		case !errors.Is(err, sql.ErrNoRows):
			return c, fmt.Errorf("conversation: billing: %w", classify(err))
		}
	}
	q := logSelect + ` WHERE provider = 'stripe' AND org_id = ? ORDER BY id DESC LIMIT ?`
	args := []any{orgID, conversationCap}
	if orgID == 0 {
		q = logSelect + ` WHERE provider = 'stripe' AND org_id IS NULL ORDER BY id DESC LIMIT ?`
		args = args[1:]
	}
	rows, err := s.selectEvidence(ctx, q, args...)
	if err != nil {
		return c, fmt.Errorf("conversation: %w", err)
	}
	if id := query.DeliveryID; id != 0 && !slices.ContainsFunc(rows, func(e Evidence) bool { return e.ID == id }) {
		e, err := s.LogByID(ctx, id)
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
		return a.Message.ID < b.Message.ID
	})
}

// pruneBatch bounds one delete, so that pruning a large log never holds the write lock
// for long.
const pruneBatch = 5000

// Prune deletes the deliveries received before olderThan, in batches, and says how many
// went. Dedupe claims are kept: forgetting them would let an old delivery apply twice.
func (s *Store) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int64
		err := s.Write(ctx, func(tx *Tx) error {
			res, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM webhook_log WHERE id IN
				(SELECT id FROM webhook_log WHERE received_at < ? ORDER BY id LIMIT ?)`), T(olderThan), pruneBatch)
			if err != nil {
				return classify(err)
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune log: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// ReplayOf finds the newest delivery above afterID that a replay of the delivery
// originalID produced (its replay_of), so that `callsnare replay` can report what the
// server decided when it writes to the same database.
func (s *Store) ReplayOf(ctx context.Context, originalID, afterID int64) (Evidence, error) {
	rows, err := s.selectEvidence(ctx, logSelect+" WHERE id > ? AND replay_of = ? ORDER BY id DESC LIMIT 1", afterID, originalID)
	if err != nil {
		return Evidence{}, err
	}
	if len(rows) == 0 {
		return Evidence{}, fmt.Errorf("replay of delivery %d: %w", originalID, ErrNotFound)
	}
	return rows[0], nil
}
