package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/callsnare/callsnare/internal/cleantext"
)

// Delivery statuses, as stored in the webhook log.
const (
	StatusProcessed = "processed"
	StatusDuplicate = "duplicate"
	StatusIgnored   = "ignored"
	StatusUnmatched = "unmatched"
	StatusRejected  = "rejected"
	StatusFailed    = "failed"
)

// Evidence is one delivery as the webhook log keeps it.
type Evidence struct {
	ID            int64             `db:"id" json:"id"`
	ReceivedAt    Time              `db:"received_at" json:"received_at"`
	Provider      string            `db:"provider" json:"provider"`
	Route         string            `db:"route" json:"route"`
	OrgID         sql.NullInt64     `db:"org_id" json:"-"`
	RemoteAddr    string            `db:"remote_addr" json:"remote_addr"`
	URL           string            `db:"url" json:"url"`
	HeadersJSON   string            `db:"headers" json:"-"`
	Headers       map[string]string `db:"-" json:"headers"`
	ContentType   string            `db:"content_type" json:"content_type"`
	Body          []byte            `db:"body" json:"-"`
	BodySHA256    string            `db:"body_sha256" json:"body_sha256"`
	BodyTruncated bool              `db:"body_truncated" json:"body_truncated"`
	Signature     string            `db:"signature" json:"signature"`
	DedupeKey     string            `db:"dedupe_key" json:"dedupe_key"`
	DuplicateOf   sql.NullInt64     `db:"duplicate_of" json:"-"`
	Kind          string            `db:"kind" json:"kind"`
	CallSID       string            `db:"call_sid" json:"call_sid,omitempty"`
	Caller        string            `db:"caller" json:"caller,omitempty"`
	Status        string            `db:"status" json:"status"`
	Error         string            `db:"error" json:"error"`
	HTTPStatus    int               `db:"http_status" json:"http_status"`
	ResponseBody  string            `db:"response_body" json:"response_body"`
	LatencyUS     int64             `db:"latency_us" json:"latency_us"`
	ReplayOf      sql.NullInt64     `db:"replay_of" json:"-"`
	// ReplayToken is the token `callsnare replay` sent with the delivery, when verified.
	ReplayToken string `db:"replay_token" json:"-"`
	// BodyLength is the length of the whole body; Body may hold only a prefix of it.
	BodyLength int64 `db:"body_length" json:"body_length"`
	// Cleaned says a text column holds the input made valid UTF-8 without NUL, or cut to
	// what an index can hold; the raw body keeps the bytes as they came.
	Cleaned bool `db:"cleaned" json:"cleaned"`

	prepared bool // Prepare ran
}

// RefusedBodyKeep bounds what a refused delivery's row keeps of its body: a forged flood
// must cost little disk. Its length and SHA-256 are of the whole body.
const RefusedBodyKeep = 8 << 10

// Bounds of the indexed text columns: far below what a PostgreSQL B-tree entry can hold
// (about 2.7 kB), far above any real provider id.
const (
	maxCallSID   = 64
	maxDedupeKey = 512
	maxCaller    = 256
)

// SetBody stores the raw body, its length and its digest. truncated says b is not all the
// request carried (it was cut at the size cap).
func (e *Evidence) SetBody(b []byte, truncated bool) {
	sum := sha256.Sum256(b)
	e.Body, e.BodySHA256, e.BodyTruncated = b, hex.EncodeToString(sum[:]), truncated
	e.BodyLength = int64(len(b))
}

// keepPrefix cuts the stored body to its first n bytes; length and digest stay those of
// the whole.
func (e *Evidence) keepPrefix(n int) {
	if len(e.Body) > n {
		e.Body, e.BodyTruncated = e.Body[:n:n], true
	}
}

// Prepare readies the columns a delivery's request decides (headers, address, URL,
// signature verdict) for its row, once, so that a handler can do it before the
// transaction rather than in the writer that every unit of a batch waits on. The row
// prepares them itself when nobody did.
func (e *Evidence) Prepare() {
	c := cleantext.Map(e.Headers)
	for _, f := range []*string{&e.Provider, &e.Route, &e.RemoteAddr, &e.URL, &e.ContentType, &e.Signature, &e.ReplayToken} {
		var changed bool
		*f, changed = cleantext.String(*f)
		c = c || changed
	}
	var cut bool
	e.ReplayToken, cut = cleantext.Truncate(e.ReplayToken, maxCallSID)
	e.Cleaned = e.Cleaned || c || cut
	if e.Headers != nil {
		// A map of strings always encodes.
		if b, err := json.Marshal(e.Headers); err == nil {
			e.HeadersJSON = string(b)
		}
	}
	if e.HeadersJSON == "" {
		e.HeadersJSON = "{}"
	}
	e.prepared = true
}

// clean makes every text column of the row storable on both databases: valid UTF-8
// without NUL, indexed columns within their bounds. It flags the row when anything
// changed.
func (e *Evidence) clean() {
	if !e.prepared {
		e.Prepare()
	}
	var c bool
	for _, f := range []*string{&e.DedupeKey, &e.Kind, &e.CallSID, &e.Caller, &e.Status, &e.Error, &e.ResponseBody} {
		var changed bool
		*f, changed = cleantext.String(*f)
		c = c || changed
	}
	for _, b := range []struct {
		f *string
		n int
	}{{&e.CallSID, maxCallSID}, {&e.DedupeKey, maxDedupeKey}, {&e.Caller, maxCaller}} {
		var cut bool
		*b.f, cut = cleantext.Truncate(*b.f, b.n)
		c = c || cut
	}
	e.Cleaned = e.Cleaned || c
}

// SetLatency records how long the delivery took to decide.
func (e *Evidence) SetLatency(d time.Duration) { e.LatencyUS = d.Microseconds() }

// NullID turns 0 into SQL NULL.
func NullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

const evidenceColumns = `received_at, provider, route, org_id, remote_addr, url, headers,
	content_type, body, body_sha256, body_truncated, signature, dedupe_key, duplicate_of, kind,
	call_sid, caller, status, error, http_status, response_body, latency_us, replay_of,
	replay_token, body_length, cleaned`

var insertEvidence = `INSERT INTO webhook_log (` + evidenceColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// InsertEvidence writes a delivery's log row and sets its ID. Text is cleaned first (see
// Cleaned), and a refused delivery keeps only a prefix of its body.
func (tx *Tx) InsertEvidence(ctx context.Context, e *Evidence) error {
	if err := tx.get(ctx, &e.ID, insertEvidence+` RETURNING id`, e.row()...); err != nil {
		return fmt.Errorf("insert evidence: %w", classify(err))
	}
	return nil
}

// AddEvidence is InsertEvidence for a unit that does not need the row's ID (it leaves
// e.ID as it is): on PostgreSQL the row goes with the unit's next statement or the
// commit, without a round trip of its own.
func (tx *Tx) AddEvidence(ctx context.Context, e *Evidence) error {
	return tx.execLater(ctx, "insert evidence", insertEvidence, e.row()...)
}

// row readies e for its insert and returns the values of evidenceColumns.
func (e *Evidence) row() []any {
	e.clean()
	if e.Status == StatusRejected {
		e.keepPrefix(RefusedBodyKeep)
	}
	if e.Body == nil {
		e.Body = []byte{}
	}
	if e.BodyLength == 0 {
		e.BodyLength = int64(len(e.Body))
	}
	return []any{e.ReceivedAt, e.Provider, e.Route, e.OrgID, e.RemoteAddr, e.URL, e.HeadersJSON,
		e.ContentType, e.Body, e.BodySHA256, e.BodyTruncated, e.Signature, e.DedupeKey, e.DuplicateOf, e.Kind,
		e.CallSID, e.Caller, e.Status, e.Error, e.HTTPStatus, e.ResponseBody, e.LatencyUS, e.ReplayOf,
		e.ReplayToken, e.BodyLength, e.Cleaned}
}

// RecordEvidence writes a log row on its own: for deliveries that change nothing else
// (rejected, unmatched, malformed) and for failures, after the transaction that would have
// applied them rolled back.
func (s *Store) RecordEvidence(ctx context.Context, e *Evidence) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.InsertEvidence(ctx, e) })
}

// Claim takes a delivery's dedupe key in the transaction that applies it. claimed is false
// when an earlier delivery already holds the key; duplicateOf is that delivery's log id.
// Under concurrency the database decides: a second transaction claiming the same key waits
// for the first and then finds the key taken.
func (tx *Tx) Claim(ctx context.Context, key string, at time.Time) (claimed bool, duplicateOf int64, err error) {
	res, err := tx.exec(ctx, claimKey, key, T(at))
	if err != nil {
		return false, 0, fmt.Errorf("claim %s: %w", key, classify(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, 0, nil
	}
	return tx.original(ctx, key)
}

// original is Claim's answer for a key already held: the delivery that holds it. It runs
// in a statement of its own after the claim: a claim that waited for a concurrent claim of
// the key to commit must see that claim's evidence, which a query in the claim's own
// statement (its snapshot taken before the wait) would not.
func (tx *Tx) original(ctx context.Context, key string) (bool, int64, error) {
	var id int64
	if err := tx.get(ctx, &id, originalOf, key); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, 0, fmt.Errorf("find original of %s: %w", key, classify(err))
	}
	return false, id, nil
}

const claimKey = `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?) ON CONFLICT (dedupe_key) DO NOTHING`

// originalOf finds the delivery that made a claim: processed, or for Stripe events also
// ignored (an unhandled type) or unmatched (held for later). The index on dedupe_key
// leaves out empty keys; the query says it wants none, or the index cannot serve it.
const originalOf = `SELECT id FROM webhook_log WHERE dedupe_key = ? AND dedupe_key <> ''
	AND status IN ('processed', 'ignored', 'unmatched') ORDER BY id LIMIT 1`

// PendingClaim is a claim asked for (AskClaim) before its unit knows whether the delivery
// is to be applied at all. Its unit reads its Result, or Withdraws it.
type PendingClaim struct {
	tx       *Tx
	key      string
	result   func() (bool, int64, error)
	resolved bool
	claimed  bool
	dupOf    int64
	err      error
}

// AskClaim asks for Claim without waiting: on PostgreSQL the claim shares the round trip
// of the unit's next wait (its org's lookup), and a duplicate's original costs one more.
// On SQLite the claim is made when its Result is asked for.
func (tx *Tx) AskClaim(ctx context.Context, key string, at time.Time) *PendingClaim {
	c := &PendingClaim{tx: tx, key: key}
	if tx.pipe == nil {
		c.result = func() (bool, int64, error) { return tx.Claim(ctx, key, at) }
		return c
	}
	var one int
	inserted := tx.ask(ctx, &one, claimKey+` RETURNING 1`, key, T(at))
	c.result = func() (bool, int64, error) {
		switch err := inserted(); {
		case err == nil:
			return true, 0, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, 0, fmt.Errorf("claim %s: %w", key, classify(err))
		}
		return tx.original(ctx, key)
	}
	return c
}

// Result is Claim's answer.
func (c *PendingClaim) Result() (claimed bool, duplicateOf int64, err error) {
	if !c.resolved {
		c.claimed, c.dupOf, c.err = c.result()
		c.resolved = true
	}
	return c.claimed, c.dupOf, c.err
}

// Withdraw gives the key back if the claim took it: its delivery is refused after all,
// and a later delivery of the same key must not be taken for its duplicate.
func (c *PendingClaim) Withdraw(ctx context.Context) error {
	if c.tx.pipe == nil && !c.resolved {
		return nil // never made
	}
	claimed, _, err := c.Result()
	if err != nil || !claimed {
		return err
	}
	return c.tx.execLater(ctx, "withdraw claim "+c.key, `DELETE FROM webhook_claims WHERE dedupe_key = ?`, c.key)
}

// EvidenceOrg returns the org a logged delivery was tied to, 0 when none: a duplicate is
// logged under its original's org.
func (tx *Tx) EvidenceOrg(ctx context.Context, logID int64) (int64, error) {
	var org sql.NullInt64
	err := tx.get(ctx, &org, `SELECT org_id FROM webhook_log WHERE id = ?`, logID)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("org of delivery %d: %w", logID, classify(err))
	}
	return org.Int64, nil
}

// Answered is what a logged delivery was answered, and the call it was tied to.
type Answered struct {
	HTTPStatus   int    `db:"http_status"`
	ResponseBody string `db:"response_body"`
	CallSID      string `db:"call_sid"`
}

// EvidenceAnswer returns what was answered to a logged delivery, so that a duplicate gets
// the very bytes its original got. found is false when there is no such row.
func (tx *Tx) EvidenceAnswer(ctx context.Context, logID int64) (a Answered, found bool, err error) {
	err = tx.get(ctx, &a, `SELECT http_status, response_body, call_sid FROM webhook_log WHERE id = ?`, logID)
	if err == sql.ErrNoRows {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("answer of delivery %d: %w", logID, classify(err))
	}
	return a, true, nil
}

const replayResult = `SELECT id, status, error, http_status, replay_of FROM webhook_log
	WHERE replay_token = ? AND replay_token <> '' ORDER BY id DESC LIMIT 1`

// ReplayResult finds the delivery a replay sent with token, as the target logged it: only
// deliveries whose signature verified carry a token.
func (s *Store) ReplayResult(ctx context.Context, token string) (Evidence, error) {
	var e Evidence
	if token == "" {
		return e, fmt.Errorf("replay result: %w", ErrNotFound)
	}
	err := s.db.GetContext(ctx, &e, s.rebind(replayResult), token)
	if err != nil {
		return e, fmt.Errorf("replay result: %w", classify(err))
	}
	return e, nil
}

// LatestAcceptedTwilioBody is the raw body of an org's newest Twilio delivery that was not
// refused, nil when it has none: replay reads which account the org's deliveries came from.
func (s *Store) LatestAcceptedTwilioBody(ctx context.Context, orgID int64) ([]byte, error) {
	var bodies [][]byte
	err := s.db.SelectContext(ctx, &bodies, s.rebind(`SELECT body FROM webhook_log WHERE org_id = ?
		AND provider = 'twilio' AND status <> 'rejected' ORDER BY id DESC LIMIT 1`), orgID)
	if err != nil || len(bodies) == 0 {
		return nil, classify(err)
	}
	return bodies[0], nil
}
