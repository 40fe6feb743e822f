package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The webhook log's queries: pages under a filter, one delivery, the deliveries of a call,
// a lead or an org's billing, counts per hour, and pruning. The log viewer's read model
// (internal/logquery) is built from them. Pages are cut by id (keyset), never by OFFSET,
// so that the millionth row costs what the first does.

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

// DeliveryCount is how many deliveries an org (0: none) received in one hour, and how many
// of them were errors (rejected or failed).
type DeliveryCount struct {
	OrgID  int64
	Hour   time.Time
	N      int
	Errors int
}

// hourBucket is the received hour of a row as text, per driver: SQLite stores fixed-width
// RFC 3339 text, PostgreSQL a timestamptz.
func (s *Store) hourBucket() string {
	if s.driver == Postgres {
		return `to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')`
	}
	return "substr(received_at, 1, 13)"
}

// DeliveryCounts counts deliveries per org and hour with start <= received_at < end. One
// grouped query over the window reads only an index (org_id, received_at, status).
func (s *Store) DeliveryCounts(ctx context.Context, start, end time.Time) ([]DeliveryCount, error) {
	var rows []struct {
		OrgID  sql.NullInt64 `db:"org_id"`
		Hour   string        `db:"hour"`
		N      int           `db:"n"`
		Errors int           `db:"errors"`
	}
	q := `SELECT org_id, ` + s.hourBucket() + ` AS hour, COUNT(*) AS n,
		SUM(CASE WHEN status IN ('rejected', 'failed') THEN 1 ELSE 0 END) AS errors
		FROM webhook_log WHERE received_at >= ? AND received_at < ?
		GROUP BY org_id, ` + s.hourBucket()
	if err := s.db.SelectContext(ctx, &rows, s.rebind(q), T(start), T(end)); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", classify(err))
	}
	out := make([]DeliveryCount, 0, len(rows))
	for _, r := range rows {
		h, err := time.Parse("2006-01-02T15", r.Hour)
		if err != nil {
			return nil, fmt.Errorf("count deliveries: hour %q: %w", r.Hour, err)
		}
		out = append(out, DeliveryCount{OrgID: r.OrgID.Int64, Hour: h, N: r.N, Errors: r.Errors})
	}
	return out, nil
}

// BillingStatuses maps org ids to their subscription status, for the orgs Stripe told us
// about.
func (s *Store) BillingStatuses(ctx context.Context) (map[int64]string, error) {
	var rows []struct {
		OrgID  int64  `db:"org_id"`
		Status string `db:"status"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT org_id, status FROM org_billing`); err != nil {
		return nil, fmt.Errorf("list billing: %w", classify(err))
	}
	m := make(map[int64]string, len(rows))
	for _, r := range rows {
		m[r.OrgID] = r.Status
	}
	return m, nil
}

// callDeliveries says it wants no empty call SID, or the partial index on call_sid cannot
// serve it.
const callDeliveries = logSelect + ` WHERE call_sid = ? AND call_sid <> '' ORDER BY id LIMIT ?`

// CallDeliveries lists the deliveries about one call, oldest first, at most limit.
func (s *Store) CallDeliveries(ctx context.Context, callSID string, limit int) ([]Evidence, error) {
	return s.selectEvidence(ctx, callDeliveries, callSID, limit)
}

// InboundSMSDeliveries lists the inbound SMS a caller sent an org, newest first, at most
// limit.
func (s *Store) InboundSMSDeliveries(ctx context.Context, orgID int64, phone string, limit int) ([]Evidence, error) {
	return s.selectEvidence(ctx, logSelect+` WHERE org_id = ? AND caller = ? AND kind = 'sms.inbound'
		ORDER BY id DESC LIMIT ?`, orgID, phone, limit)
}

// StripeDeliveries lists an org's Stripe deliveries (orgID 0: those tied to no org),
// newest first, at most limit.
func (s *Store) StripeDeliveries(ctx context.Context, orgID int64, limit int) ([]Evidence, error) {
	if orgID == 0 {
		return s.selectEvidence(ctx, logSelect+` WHERE provider = 'stripe' AND org_id IS NULL ORDER BY id DESC LIMIT ?`, limit)
	}
	return s.selectEvidence(ctx, logSelect+` WHERE provider = 'stripe' AND org_id = ? ORDER BY id DESC LIMIT ?`, orgID, limit)
}

// CallsOfLead lists a lead's calls, oldest first.
func (s *Store) CallsOfLead(ctx context.Context, leadID int64) ([]Call, error) {
	var calls []Call
	if err := s.db.SelectContext(ctx, &calls, s.rebind(callSelect+` WHERE c.lead_id = ?
		ORDER BY c.started_at, c.id`), leadID); err != nil {
		return nil, fmt.Errorf("calls of lead %d: %w", leadID, classify(err))
	}
	return calls, nil
}

// MessagesOfCall lists the messages a call caused (its text-back), oldest first.
func (s *Store) MessagesOfCall(ctx context.Context, callSID string) ([]Message, error) {
	var msgs []Message
	if err := s.db.SelectContext(ctx, &msgs, s.rebind(`SELECT `+messageColumns+` FROM messages WHERE call_sid = ?
		ORDER BY created_at, id`), callSID); err != nil {
		return nil, fmt.Errorf("messages of call %s: %w", callSID, classify(err))
	}
	return msgs, nil
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
			res, err := tx.exec(ctx, `DELETE FROM webhook_log WHERE id IN
				(SELECT id FROM webhook_log WHERE received_at < ? ORDER BY id LIMIT ?)`, T(olderThan), pruneBatch)
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
