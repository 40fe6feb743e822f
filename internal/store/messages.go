package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
)

// Message is an SMS in a lead's thread: inbound from a caller, or a text-back we sent.
type Message struct {
	ID          int64          `db:"id"`
	OrgID       int64          `db:"org_id"`
	LeadID      sql.NullInt64  `db:"lead_id"`
	Direction   string         `db:"direction"`
	CallSID     sql.NullString `db:"call_sid"`
	SID         sql.NullString `db:"sid"`
	From        string         `db:"from_number"`
	To          string         `db:"to_number"`
	Body        string         `db:"body"`
	Status      string         `db:"status"`
	Reason      string         `db:"reason"`
	Error       string         `db:"error"`
	Attempts    int            `db:"attempts"`
	CreatedAt   Time           `db:"created_at"`
	UpdatedAt   Time           `db:"updated_at"`
	AttemptedAt Time           `db:"attempted_at"`
	SentAt      Time           `db:"sent_at"`
	// ErrorCode and ErrorMessage are Twilio's, from a refused send or a failed delivery.
	ErrorCode    string `db:"error_code"`
	ErrorMessage string `db:"error_message"`
	// Media is an inbound MMS's media, as JSON: [{"url": ..., "content_type": ...}].
	Media string `db:"media"`
}

// MediaItems returns the message's media; empty, never nil, when it has none.
func (m Message) MediaItems() []callflow.Media {
	out := []callflow.Media{}
	if m.Media != "" {
		_ = json.Unmarshal([]byte(m.Media), &out) // written by ApplyInboundSMS alone
	}
	return out
}

// ErrorText says plainly what went wrong with a message we sent, "" when nothing did.
func (m Message) ErrorText() string {
	switch {
	case m.ErrorCode != "" && m.ErrorMessage != "":
		return m.ErrorCode + ": " + m.ErrorMessage
	case m.ErrorCode != "":
		return m.ErrorCode
	case m.Status == TextbackFailed:
		return m.Error
	}
	return ""
}

// Text-back statuses.
const (
	TextbackQueued     = "queued"     // waiting for its job
	TextbackSending    = "sending"    // an attempt is recorded; its result may be unknown
	TextbackSent       = "sent"       // Twilio accepted it; its status callbacks move it on
	TextbackFailed     = "failed"     // a permanent error, or retries ran out
	TextbackSuppressed = "suppressed" // a rule said no; see reason
)

const messageColumns = `id, org_id, lead_id, direction, call_sid, sid, from_number, to_number, body,
	status, reason, error, attempts, created_at, updated_at, attempted_at, sent_at, error_code, error_message, media`

// InboundSMS is an SMS a caller sent to a tracked number.
type InboundSMS struct {
	Org        Org
	MessageSID string
	From, To   string
	// FromHuman is From as the owner reads it (callflow.HumanPhone), when the caller
	// worked it out outside the transaction; empty, the store does if it tells the owner.
	FromHuman string
	Body      string
	Media     []callflow.Media
	// Reply is Body read for the owner (callflow.ReadReply), when the caller read it
	// outside the transaction; the store reads it again if it was read with other urgent
	// keywords than the org's.
	Reply *callflow.Reply
	At    time.Time
	// Rules decide whether the org's owner may be told of a reply (billing).
	Rules callflow.Rules
}

// SMSChange is what an inbound SMS did: the keyword it carried, and the owner's
// notification it queued, whose job the caller enqueues in the same transaction.
type SMSChange struct {
	Keyword   callflow.Keyword
	NotifyKey string
}

// ApplyInboundSMS stores an inbound message in the lead of (org, From), creating the lead
// if needed, and applies STOP/START keywords. A STOP also suppresses that org's text-backs
// still waiting to go to the phone. A first reply that is no keyword gets the owner's
// notification.
func (tx *Tx) ApplyInboundSMS(ctx context.Context, m InboundSMS) (SMSChange, error) {
	var c SMSChange
	// The lead is touched without waiting and the message finds it by its key: one round
	// trip on PostgreSQL.
	if err := tx.touchLead(ctx, m.Org.ID, m.From, m.At); err != nil {
		return c, err
	}
	media := ""
	if len(m.Media) > 0 {
		b, err := json.Marshal(m.Media)
		if err != nil {
			return c, fmt.Errorf("media: %w", err)
		}
		media = string(b)
	}
	// Whether the owner is told of the reply is decided before the message is stored: a
	// suppressed notification is its reason on the message.
	kw := callflow.ClassifyKeyword(m.Body)
	c.Keyword = kw
	unnotified := ""
	if kw == callflow.KeywordNone {
		var err error
		if unnotified, err = tx.replyUnnotified(ctx, m); err != nil {
			return c, err
		}
	}
	if err := tx.execLater(ctx, "insert message", `INSERT INTO messages (org_id, lead_id, direction, sid,
		from_number, to_number, body, media, status, notify_reason, created_at, updated_at)
		VALUES (?, (SELECT id FROM leads WHERE org_id = ? AND phone = ?), 'inbound', ?, ?, ?, ?, ?, 'received', ?, ?, ?)
		ON CONFLICT (sid) DO NOTHING`,
		m.Org.ID, m.Org.ID, m.From, m.MessageSID, m.From, m.To, m.Body, media, unnotified, T(m.At), T(m.At)); err != nil {
		return c, err
	}
	if kw == callflow.KeywordNone && unnotified == "" {
		// The notification is keyed by the message: a message stored before is not told
		// of again, and the message's insert need not be waited for.
		var err error
		if c.NotifyKey, err = tx.notifyReply(ctx, m, m.At); err != nil {
			return c, err
		}
	}
	switch kw {
	case callflow.KeywordOptOut, callflow.KeywordOptIn:
		if err := tx.recordOptOut(ctx, m.Org.ID, m.From, kw == callflow.KeywordOptOut, m.Body, m.At); err != nil {
			return c, err
		}
	}
	return c, nil
}

// recordOptOut records that a phone opted out of (or back into) an org's texts, and the
// keyword that said so: what the caller texted, or Twilio's error code when Twilio
// refused a send because the caller had opted out there. An opt-out also suppresses that
// org's text-backs still waiting to go to the phone.
func (tx *Tx) recordOptOut(ctx context.Context, orgID int64, phone string, optedOut bool, keyword string, at time.Time) error {
	if err := tx.execLater(ctx, "record opt-out", `INSERT INTO opt_outs (org_id, phone, opted_out, keyword, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_id, phone) DO UPDATE SET opted_out = excluded.opted_out,
		keyword = excluded.keyword, updated_at = excluded.updated_at`,
		orgID, phone, optedOut, keyword, T(at)); err != nil {
		return err
	}
	if !optedOut {
		return nil
	}
	return tx.execLater(ctx, "cancel text-backs", `UPDATE messages SET status = 'suppressed', reason = ?, updated_at = ?
		WHERE org_id = ? AND to_number = ? AND direction = 'outbound' AND status = 'queued'`,
		string(callflow.SuppressOptedOut), T(at), orgID, phone)
}

// TextbackState is everything the text-back job decides with.
type TextbackState struct {
	Message         Message
	TextbackEnabled bool // the org's switch
	Outcome         string
	OptedOut        bool
	RecentlyTexted  bool
	BillingStatus   string
}

// textbackRow is what textbackQuery reads.
type textbackRow struct {
	Message
	Outcome         string `db:"outcome"`
	OptedOut        bool   `db:"opted_out"`
	RecentlyTexted  int    `db:"recently_texted"`
	BillingStatus   string `db:"billing_status"`
	TextbackEnabled bool   `db:"textback_enabled"`
}

func (r textbackRow) state() TextbackState {
	return TextbackState{Message: r.Message, TextbackEnabled: r.TextbackEnabled, Outcome: r.Outcome,
		OptedOut: r.OptedOut, RecentlyTexted: r.RecentlyTexted > 0, BillingStatus: r.BillingStatus}
}

// textbackQuery reads a call's text-back and the facts its rules need; its arguments are
// the start of the cooldown and the call's SID.
const textbackQuery = `SELECT m.id, m.org_id, m.lead_id, m.direction, m.call_sid, m.sid,
	m.from_number, m.to_number, m.body, m.status, m.reason, m.error, m.attempts, m.created_at, m.updated_at,
	m.attempted_at, m.sent_at, m.error_code, m.error_message, m.media,
	COALESCE(c.outcome, '') AS outcome,
	COALESCE(oo.opted_out, FALSE) AS opted_out,
	(SELECT COUNT(*) FROM messages p WHERE p.org_id = m.org_id AND p.to_number = m.to_number
		AND p.direction = 'outbound' AND p.sent_at > ? AND p.id <> m.id) AS recently_texted,
	COALESCE(b.status, '') AS billing_status,
	o.textback_enabled
	FROM messages m
	JOIN orgs o ON o.id = m.org_id
	LEFT JOIN calls c ON c.call_sid = m.call_sid
	LEFT JOIN opt_outs oo ON oo.org_id = m.org_id AND oo.phone = m.to_number
	LEFT JOIN org_billing b ON b.org_id = m.org_id
	WHERE m.call_sid = ?`

// TextbackState loads a call's text-back and the facts its rules need, as of now, in one
// query: the job runs once per missed call and should cost one round trip, not seven.
func (s *Store) TextbackState(ctx context.Context, callSID string, cooldown time.Duration, now time.Time) (TextbackState, error) {
	if s.ReadsInWrites() {
		// On PostgreSQL the read rides a write batch's round instead of a round trip of
		// its own on the read pool.
		take, err := s.takeTextback(ctx, "", callSID, cooldown, now, nil)
		return take.State, err
	}
	var row textbackRow
	if err := s.db.GetContext(ctx, &row, s.rebind(textbackQuery), T(now.Add(-cooldown)), callSID); err != nil {
		return TextbackState{}, fmt.Errorf("text-back %s: %w", callSID, classify(err))
	}
	return row.state(), nil
}

// TextbackTake is what TakeTextback read and did.
type TextbackTake struct {
	State   TextbackState
	Tried   bool // the send was to be claimed in the same transaction
	Claimed bool // and it was (see ClaimTextbackSend)
}

// TakeTextback is TextbackState followed by ClaimTextbackSend when send says the
// text-back goes now, in one transaction under the caller's lock where reads ride the
// writes (PostgreSQL): a text-back's job then costs one write fewer. caller is the phone
// the text-back goes to, as its job recorded it; when it is unknown, or where reads do not
// ride the writes (SQLite, whose reads stay out of the one writer), nothing is claimed and
// the job claims the send itself.
func (s *Store) TakeTextback(ctx context.Context, callSID, caller string, cooldown time.Duration, now time.Time, send func(TextbackState) bool) (TextbackTake, error) {
	if caller == "" || !s.ReadsInWrites() {
		st, err := s.TextbackState(ctx, callSID, cooldown, now)
		return TextbackTake{State: st}, err
	}
	// The lock held is the caller's the job named: claim only a text-back to them.
	return s.takeTextback(ctx, CallerKey(caller), callSID, cooldown, now, func(st TextbackState) bool {
		return st.Message.To == caller && send(st)
	})
}

// takeTextback reads a text-back's state in a write unit of subject and, when send (if
// any) says so, claims its send there.
func (s *Store) takeTextback(ctx context.Context, subject, callSID string, cooldown time.Duration, now time.Time, send func(TextbackState) bool) (TextbackTake, error) {
	var take TextbackTake
	var read error
	err := s.WriteFor(ctx, subject, func(tx *Tx) error {
		var row textbackRow
		take = TextbackTake{}
		// No row is an answer, not a failure of the batch.
		if read = tx.get(ctx, &row, textbackQuery, T(now.Add(-cooldown)), callSID); errors.Is(read, sql.ErrNoRows) {
			return nil
		} else if read != nil {
			return read
		}
		take.State = row.state()
		if send == nil || !send(take.State) {
			return nil
		}
		take.Tried = true
		var err error
		take.Claimed, err = tx.claimTextbackSend(ctx, row.Message, cooldown, now)
		return err
	})
	if err = cmp.Or(err, read); err != nil {
		return TextbackTake{}, fmt.Errorf("text-back %s: %w", callSID, classify(err))
	}
	return take, nil
}

// TextbackUpdate is a change of a text-back's state.
type TextbackUpdate struct {
	Status       string
	Reason       string
	SID          string
	Error        string
	ErrorCode    string // Twilio's, for a refused send
	ErrorMessage string
	Attempt      bool // count an attempt and stamp attempted_at
	// OptOut: Twilio refused the send because the caller opted out there (21610), so the
	// caller is opted out here too, as if they had texted STOP; OptOut is the keyword kept.
	OptOut string
}

// UpdateTextback moves a text-back (m, as loaded by TextbackState) to a new state, but only
// from one of the states given: a text-back already sent or suppressed by a STOP is never
// overwritten. It reports whether the row changed. The write is keyed by the caller, like
// every other write to the caller's rows.
func (s *Store) UpdateTextback(ctx context.Context, m Message, from []string, u TextbackUpdate, now time.Time) (bool, error) {
	var changed bool
	callSID := m.CallSID.String
	err := s.WriteFor(ctx, CallerKey(m.To), func(tx *Tx) error {
		// Twilio may have reported on the message before its SID was recorded here: those
		// callbacks are asked for with the update (one round), and folded in if it took.
		var fold func() error
		if u.SID != "" {
			fold = tx.askStatusEvents(ctx, u.SID, now)
		}
		q := `UPDATE messages SET status = ?, reason = ?, error = ?, error_code = ?, error_message = ?, updated_at = ?`
		args := []any{u.Status, u.Reason, u.Error, u.ErrorCode, u.ErrorMessage, T(now)}
		q, args = sendUpdate(q, args, u.SID, u.Status == TextbackSent, u.Attempt, now, "call_sid", callSID, from)
		res, err := tx.exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("update text-back %s: %w", callSID, classify(err))
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		if changed && u.OptOut != "" {
			var m struct {
				OrgID int64  `db:"org_id"`
				To    string `db:"to_number"`
			}
			if err := tx.get(ctx, &m, `SELECT org_id, to_number FROM messages WHERE call_sid = ?`, callSID); err != nil {
				return fmt.Errorf("text-back %s: %w", callSID, classify(err))
			}
			if err := tx.recordOptOut(ctx, m.OrgID, m.To, true, u.OptOut, now); err != nil {
				return err
			}
		}
		if changed && fold != nil {
			return fold()
		}
		return nil
	})
	return changed, err
}

// MessageStatus is one message status callback.
type MessageStatus struct {
	SID          string // MessageSid
	Status       string // a text-back status (callflow.DeliveryStatus of MessageStatus)
	ErrorCode    string
	ErrorMessage string
	At           time.Time
}

// ApplyMessageStatus records a status callback and moves the message it names forward,
// never back. It returns the message's call (empty for a message that is no text-back)
// and whether any message of ours has that SID; a callback for a SID not recorded yet is
// kept and folded in once the send records it.
func (tx *Tx) ApplyMessageStatus(ctx context.Context, m MessageStatus) (callSID string, matched bool, err error) {
	if err := tx.execLater(ctx, "record message status", `INSERT INTO message_status_events (message_sid, status,
		error_code, error_message, received_at) VALUES (?, ?, ?, ?, ?)`,
		m.SID, m.Status, m.ErrorCode, m.ErrorMessage, T(m.At)); err != nil {
		return "", false, err
	}
	var found []sql.NullString
	if err := tx.sel(ctx, &found, `SELECT call_sid FROM messages WHERE sid = ? AND direction = 'outbound'`, m.SID); err != nil {
		return "", false, fmt.Errorf("find message %s: %w", m.SID, classify(err))
	}
	if len(found) == 0 {
		return "", false, nil
	}
	return found[0].String, true, tx.moveStatus(ctx, m)
}

// moveStatus moves a message to m.Status if that is further than where it is.
func (tx *Tx) moveStatus(ctx context.Context, m MessageStatus) error {
	below := callflow.StatusesBelow(m.Status)
	if len(below) == 0 {
		return nil
	}
	q := `UPDATE messages SET status = ?, updated_at = ?`
	args := []any{m.Status, T(m.At)}
	if m.ErrorCode != "" {
		q += `, error_code = ?, error_message = ?`
		args = append(args, m.ErrorCode, m.ErrorMessage)
	}
	q += ` WHERE sid = ? AND direction = 'outbound' AND status IN (?` + strings.Repeat(", ?", len(below)-1) + `)`
	args = append(args, m.SID)
	for _, b := range below {
		args = append(args, b)
	}
	return tx.execLater(ctx, fmt.Sprintf("move message %s to %s", m.SID, m.Status), q, args...)
}

// askStatusEvents asks for the callbacks stored for a SID (see ask); the function it
// returns applies them, in arrival order.
func (tx *Tx) askStatusEvents(ctx context.Context, sid string, now time.Time) func() error {
	var events []struct {
		Status       string `db:"status"`
		ErrorCode    string `db:"error_code"`
		ErrorMessage string `db:"error_message"`
	}
	loaded := tx.askAll(ctx, &events, `SELECT status, error_code, error_message FROM message_status_events
		WHERE message_sid = ? ORDER BY id`, sid)
	return func() error {
		if err := loaded(); err != nil {
			return fmt.Errorf("load status events of %s: %w", sid, classify(err))
		}
		for _, e := range events {
			if err := tx.moveStatus(ctx, MessageStatus{SID: sid, Status: e.Status, ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage, At: now}); err != nil {
				return err
			}
		}
		return nil
	}
}

// ClaimTextbackSend records an attempt to send a call's text-back, unless another
// text-back of the org to the same phone is being sent or was sent within the cooldown:
// two missed calls from one caller must not both be texted because their jobs ran at the
// same moment. The caller's lead row is locked first (the upsert takes its row lock), so
// on PostgreSQL the second of two such transactions waits and then sees the first.
// It reports whether the attempt is claimed; when it is not and the text-back is still
// waiting, the cooldown is why.
func (s *Store) ClaimTextbackSend(ctx context.Context, m Message, cooldown time.Duration, now time.Time) (bool, error) {
	var claimed bool
	err := s.WriteFor(ctx, CallerKey(m.To), func(tx *Tx) error {
		var err error
		claimed, err = tx.claimTextbackSend(ctx, m, cooldown, now)
		return err
	})
	return claimed, err
}

func (tx *Tx) claimTextbackSend(ctx context.Context, m Message, cooldown time.Duration, now time.Time) (bool, error) {
	if err := tx.touchLead(ctx, m.OrgID, m.To, now); err != nil {
		return false, err
	}
	res, err := tx.exec(ctx, `UPDATE messages SET status = 'sending', attempts = attempts + 1,
		attempted_at = ?, updated_at = ? WHERE call_sid = ? AND status IN ('queued', 'sending')
		AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.org_id = ? AND p.to_number = ?
			AND p.direction = 'outbound' AND p.id <> ?
			AND (p.status = 'sending' OR p.sent_at > ?))`,
		T(now), T(now), m.CallSID.String, m.OrgID, m.To, m.ID, T(now.Add(-cooldown)))
	if err != nil {
		return false, fmt.Errorf("claim text-back %s: %w", m.CallSID.String, classify(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// sendUpdate completes the UPDATE of an outbound send (a text-back or an owner's
// notification): the SID Twilio gave it, when it went out, one more attempt, and the row
// named by keyCol = key, changed only from one of the statuses in from.
func sendUpdate(q string, args []any, sid string, sent, attempt bool, now time.Time, keyCol, key string, from []string) (string, []any) {
	if sid != "" {
		q += `, sid = ?`
		args = append(args, sid)
	}
	if sent {
		q += `, sent_at = ?`
		args = append(args, T(now))
	}
	if attempt {
		q += `, attempts = attempts + 1, attempted_at = ?`
		args = append(args, T(now))
	}
	q += ` WHERE ` + keyCol + ` = ? AND status IN (?` + strings.Repeat(", ?", len(from)-1) + `)`
	args = append(args, key)
	for _, f := range from {
		args = append(args, f)
	}
	return q, args
}
