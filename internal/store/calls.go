package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/callflow"
)

// Call is one inbound call and its derived outcome.
type Call struct {
	ID             int64          `db:"id"`
	CallSID        string         `db:"call_sid"`
	OrgID          int64          `db:"org_id"`
	OrgSlug        string         `db:"org_slug"`
	From           string         `db:"from_number"`
	To             string         `db:"to_number"`
	StartedAt      Time           `db:"started_at"`
	Outcome        string         `db:"outcome"`
	Reason         string         `db:"reason"`
	DialStatus     string         `db:"dial_status"`
	CallStatus     string         `db:"call_status"`
	FactCount      int            `db:"fact_count"`
	LeadID         sql.NullInt64  `db:"lead_id"`
	UpdatedAt      Time           `db:"updated_at"`
	TextbackStatus sql.NullString `db:"textback_status"`
	TextbackReason sql.NullString `db:"textback_reason"`
	// What went wrong with the text-back: Twilio's code and its description, or the
	// failure itself when Twilio gave no code.
	TextbackErrorCode    sql.NullString `db:"textback_error_code"`
	TextbackErrorMessage sql.NullString `db:"textback_error_message"`
	TextbackFailure      sql.NullString `db:"textback_failure"`
	// The owner's notification of the missed call: its status and, when suppressed, why.
	NotifyStatus sql.NullString `db:"notify_status"`
	NotifyReason sql.NullString `db:"notify_reason"`
	// TextbackQueued: this transaction queued the call's text-back, so the caller may be
	// promised a text.
	TextbackQueued bool `db:"-"`
}

// TextbackError says plainly why the text-back failed or was not delivered, as
// "30003: Unreachable destination handset"; "" when nothing went wrong.
func (c Call) TextbackError() string {
	switch {
	case c.TextbackErrorCode.String != "" && c.TextbackErrorMessage.String != "":
		return c.TextbackErrorCode.String + ": " + c.TextbackErrorMessage.String
	case c.TextbackErrorCode.String != "":
		return c.TextbackErrorCode.String
	case c.TextbackStatus.String == callflow.StatusFailed:
		return c.TextbackFailure.String
	}
	return ""
}

// CallFact is a fact about a call from one callback, with what is needed to place it.
type CallFact struct {
	Org      Org
	CallSID  string
	From, To string
	// FromHuman is From as the owner reads it (callflow.HumanPhone), when the caller
	// worked it out outside the transaction; empty, the store does if it tells the owner.
	FromHuman string
	Fact      callflow.Fact
	LogID     int64
}

// CallChange is what a fact did to its call: the call as now stored, and the jobs its
// transition asks for, which the caller enqueues in the same transaction.
type CallChange struct {
	// Call is the call as decided. A lead the transition opened is written without
	// waiting for its id, so LeadID is the lead's only when the call had it before.
	Call Call
	// TextbackJob is set when this transaction created the call's queued text-back: its
	// job is to be enqueued, once per call.
	TextbackJob bool
	// SettleAt, when set, is when the call's settle check is due.
	SettleAt time.Time
	// NotifyKey, when set, is the event of the owner's notification this transaction
	// queued: its job is to be enqueued.
	NotifyKey string
}

// ApplyCallFact records a fact and re-derives the call's outcome from all its facts, then
// persists what the transition implies (callflow.Next): the outcome, the caller's lead, the
// text-back. The jobs are the caller's to enqueue, from the returned change.
func (tx *Tx) ApplyCallFact(ctx context.Context, f CallFact, rules callflow.Rules) (CallChange, error) {
	at := T(f.Fact.At)
	// The upsert takes the call's row lock, so facts of one call are decided one at a time
	// even across replicas; each then sees all facts committed before it, and its own.
	var call Call
	upserted := tx.ask(ctx, &call, `INSERT INTO calls (call_sid, org_id, from_number, to_number,
		started_at, outcome, updated_at, fact_count) VALUES (?, ?, ?, ?, ?, 'forwarded', ?, 1)
		ON CONFLICT (call_sid) DO UPDATE SET updated_at = excluded.updated_at, fact_count = calls.fact_count + 1,
		started_at = CASE WHEN excluded.started_at < calls.started_at THEN excluded.started_at ELSE calls.started_at END
		RETURNING `+callColumns, f.CallSID, f.Org.ID, f.From, f.To, at, at)
	ff := f.Fact
	if err := tx.execLater(ctx, "insert call fact", `INSERT INTO call_facts (call_sid, kind, dial_status,
		dial_call_sid, dial_duration, call_status, call_duration, sequence_number, received_at, log_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.CallSID, string(ff.Kind), ff.DialStatus, ff.DialCallSID, ff.DialDuration, ff.CallStatus,
		ff.CallDuration, ff.Sequence, at, NullID(f.LogID)); err != nil {
		return CallChange{}, err
	}
	facts := tx.askFacts(ctx, f.CallSID)
	prior := tx.askPrior(ctx, f.Org.ID, f.From, f.CallSID)
	if err := upserted(); err != nil {
		return CallChange{}, fmt.Errorf("upsert call: %w", classify(err))
	}
	known, err := facts()
	if err != nil {
		return CallChange{}, err
	}
	return tx.decideCall(ctx, call, known, prior, f.Org, rules, f.Fact.At, f.FromHuman)
}

const callColumns = `id, call_sid, org_id, from_number, to_number, started_at, outcome, reason,
	dial_status, call_status, fact_count, lead_id, updated_at`

// CallSubject returns the subject key of a call's writes (its caller), for WriteFor.
func (s *Store) CallSubject(ctx context.Context, callSID string) (string, error) {
	var from string
	if err := s.db.GetContext(ctx, &from, s.rebind(`SELECT from_number FROM calls WHERE call_sid = ?`), callSID); err != nil {
		return "", fmt.Errorf("call %s: %w", callSID, classify(err))
	}
	return CallerKey(from), nil
}

// SettleCall records that the settle window of a call has passed and re-derives its
// outcome. The unit it runs in must be keyed by CallSubject.
func (tx *Tx) SettleCall(ctx context.Context, callSID string, rules callflow.Rules, now time.Time) (CallChange, error) {
	var call Call
	var org Org
	var n int
	loaded := tx.ask(ctx, &call, `SELECT `+callColumns+` FROM calls WHERE call_sid = ?`, callSID)
	orgLoaded := tx.ask(ctx, &org, `SELECT `+orgColumns+` FROM orgs WHERE id = (SELECT org_id FROM calls WHERE call_sid = ?)`, callSID)
	counted := tx.ask(ctx, &n, `SELECT COUNT(*) FROM call_facts WHERE call_sid = ? AND kind = 'settled'`, callSID)
	facts := tx.askFacts(ctx, callSID)
	if err := loaded(); err != nil {
		return CallChange{}, fmt.Errorf("settle %s: %w", callSID, classify(err))
	}
	if err := orgLoaded(); err != nil {
		return CallChange{}, fmt.Errorf("settle %s: org: %w", callSID, classify(err))
	}
	if err := counted(); err != nil {
		return CallChange{}, fmt.Errorf("settle %s: %w", callSID, classify(err))
	}
	known, err := facts()
	if err != nil {
		return CallChange{}, err
	}
	prior := tx.askPrior(ctx, org.ID, call.From, callSID)
	if n == 0 {
		if err := tx.execLater(ctx, "settle "+callSID, `INSERT INTO call_facts (call_sid, kind, received_at)
			VALUES (?, 'settled', ?)`, callSID, T(now)); err != nil {
			return CallChange{}, err
		}
		known = append(known, callflow.Fact{Kind: callflow.FactSettled, Sequence: -1, At: now})
	}
	return tx.decideCall(ctx, call, known, prior, org, rules, now, "")
}

// Settle runs SettleCall in a unit of its own, keyed by the call's caller; jobs enqueues
// what the change asks for, in the same transaction.
func (s *Store) Settle(ctx context.Context, callSID string, rules callflow.Rules, now time.Time,
	jobs func(ctx context.Context, tx *Tx, c CallChange) error) (Call, error) {
	subject, err := s.CallSubject(ctx, callSID)
	if err != nil {
		return Call{}, fmt.Errorf("settle: %w", err)
	}
	var c CallChange
	err = s.WriteFor(ctx, subject, func(tx *Tx) error {
		var err error
		if c, err = tx.SettleCall(ctx, callSID, rules, now); err != nil {
			return err
		}
		return jobs(ctx, tx, c)
	})
	return c.Call, err
}

// decideCall re-derives a call's outcome from all its facts and persists what the
// transition implies. prior is what was asked of the caller and the call with its facts.
// human is the caller's number as the owner reads it, if known. Nothing it writes is
// waited for: a missed call costs no round trip beyond its facts' on PostgreSQL.
func (tx *Tx) decideCall(ctx context.Context, call Call, facts []callflow.Fact, prior func() (priorState, error), org Org, rules callflow.Rules, now time.Time, human string) (CallChange, error) {
	// Hours that no longer parse count as always open.
	hours, _ := callflow.ParseHours(org.Hours)
	t := callflow.Next(callflow.CallState{
		From: call.From, StartedAt: call.StartedAt.Time, Outcome: callflow.Outcome(call.Outcome), Reason: call.Reason,
		DialStatus: call.DialStatus, CallStatus: call.CallStatus,
	}, facts, callflow.Org{
		Name: org.Name, ForwardTo: org.ForwardTo, MinAnswerSeconds: org.MinAnswerSeconds,
		TextbackTemplate: org.TextbackTemplate, AfterHoursTemplate: org.AfterHoursTemplate,
		Hours: hours, Timezone: org.Timezone, TextbackEnabled: org.TextbackEnabled,
	}, rules)
	call.OrgSlug = org.Slug
	c := CallChange{SettleAt: t.SettleAt}
	// The lead is opened without waiting: the call and the text-back find it by its key.
	leadID := "?"
	leadArgs := []any{call.LeadID}
	if t.OpenLead {
		if err := tx.touchLead(ctx, org.ID, call.From, now); err != nil {
			return CallChange{}, err
		}
		leadID, leadArgs = "(SELECT id FROM leads WHERE org_id = ? AND phone = ?)", []any{org.ID, call.From}
	}
	if t.Changed {
		args := append([]any{string(t.Outcome), t.Reason, t.DialStatus, t.CallStatus}, leadArgs...)
		if err := tx.execLater(ctx, "update call outcome", `UPDATE calls SET outcome = ?, reason = ?, dial_status = ?,
			call_status = ?, lead_id = `+leadID+` WHERE call_sid = ?`, append(args, call.CallSID)...); err != nil {
			return CallChange{}, err
		}
		call.Outcome, call.Reason, call.DialStatus, call.CallStatus = string(t.Outcome), t.Reason, t.DialStatus, t.CallStatus
	}
	if tb := t.Textback; tb != nil {
		p, err := prior()
		if err != nil {
			return CallChange{}, err
		}
		if tb.Status == callflow.TextbackQueued {
			tb.Judge(p.standing(rules))
		}
		// The owner's notification is decided with the transition too, so a call stored as
		// missed already has it; a suppressed one is its reason on the text-back's row.
		unnotified := ""
		if !p.HasNotification {
			unnotified = callflow.DecideNotify(org.NotifyNumber, call.From, p.entitled(rules))
		}
		// The caller's lock is held: no other transaction creates this call's text-back
		// or notification between the question and the insert.
		args := append([]any{org.ID}, leadArgs...)
		if err := tx.execLater(ctx, "insert text-back", `INSERT INTO messages (org_id, lead_id, direction, call_sid,
			from_number, to_number, body, status, reason, notify_reason, created_at, updated_at)
			VALUES (?, `+leadID+`, 'outbound', ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_sid) DO NOTHING`,
			append(args, call.CallSID, call.To, tb.To, tb.Body, tb.Status, string(tb.Reason), unnotified, T(now), T(now))...); err != nil {
			return CallChange{}, err
		}
		c.TextbackJob = !p.HasTextback && tb.Status == callflow.TextbackQueued
		call.TextbackQueued = c.TextbackJob
		if !p.HasNotification && unnotified == "" {
			if c.NotifyKey, err = tx.notifyMissedCall(ctx, &call, org, now, human); err != nil {
				return CallChange{}, err
			}
		}
	}
	c.Call = call
	return c, nil
}

// priorState is what a call's transition may need besides the call and its facts, asked
// with them: the caller's standing for the text-back's rules, and whether the call's
// text-back and the owner's notification of it (queued, or suppressed on the text-back)
// exist already.
type priorState struct {
	OptedOut        bool   `db:"opted_out"`
	Billing         string `db:"billing_status"`
	HasTextback     bool   `db:"has_textback"`
	HasNotification bool   `db:"has_notification"`
}

func (p priorState) entitled(rules callflow.Rules) bool {
	return !rules.EnforceBilling || billing.Entitled(p.Billing, rules.GracePastDue)
}

func (p priorState) standing(rules callflow.Rules) callflow.Standing {
	return callflow.Standing{OptedOut: p.OptedOut, Entitled: p.entitled(rules)}
}

// askPrior asks for a call's priorState (see ask). On SQLite, where it would run at once
// in the one writer, it runs only if the transition needs it, when it is first called.
func (tx *Tx) askPrior(ctx context.Context, orgID int64, caller, callSID string) func() (priorState, error) {
	const q = `SELECT
		COALESCE((SELECT opted_out FROM opt_outs WHERE org_id = ? AND phone = ?), FALSE) AS opted_out,
		COALESCE((SELECT status FROM org_billing WHERE org_id = ?), '') AS billing_status,
		EXISTS (SELECT 1 FROM messages WHERE call_sid = ?) AS has_textback,
		EXISTS (SELECT 1 FROM notifications WHERE event_key = ?)
			OR EXISTS (SELECT 1 FROM messages WHERE call_sid = ? AND notify_reason <> '') AS has_notification`
	args := []any{orgID, caller, orgID, callSID, missedCallKey(callSID), callSID}
	var p priorState
	loaded := func() error { return tx.get(ctx, &p, q, args...) }
	if tx.pipe != nil {
		loaded = tx.ask(ctx, &p, q, args...)
	}
	return func() (priorState, error) {
		if err := loaded(); err != nil {
			return p, fmt.Errorf("text-back rules: %w", classify(err))
		}
		return p, nil
	}
}

// askFacts asks for every fact stored for a call (see ask).
func (tx *Tx) askFacts(ctx context.Context, callSID string) func() ([]callflow.Fact, error) {
	var rows []struct {
		Kind         string `db:"kind"`
		DialStatus   string `db:"dial_status"`
		DialCallSID  string `db:"dial_call_sid"`
		DialDuration int    `db:"dial_duration"`
		CallStatus   string `db:"call_status"`
		CallDuration int    `db:"call_duration"`
		Sequence     int    `db:"sequence_number"`
		At           Time   `db:"received_at"`
	}
	loaded := tx.askAll(ctx, &rows, `SELECT kind, dial_status, dial_call_sid, dial_duration,
		call_status, call_duration, sequence_number, received_at FROM call_facts WHERE call_sid = ?`, callSID)
	return func() ([]callflow.Fact, error) {
		if err := loaded(); err != nil {
			return nil, fmt.Errorf("load call facts: %w", classify(err))
		}
		facts := make([]callflow.Fact, len(rows))
		for i, r := range rows {
			facts[i] = callflow.Fact{Kind: callflow.FactKind(r.Kind), DialStatus: r.DialStatus, DialCallSID: r.DialCallSID,
				DialDuration: r.DialDuration, CallStatus: r.CallStatus, CallDuration: r.CallDuration, Sequence: r.Sequence, At: r.At.Time}
		}
		return facts, nil
	}
}

// touchLead opens the lead of (org, phone), or touches it, for a unit that needs the lead
// to exist and its row lock, not its id: the statement goes without waiting (see
// execLater).
func (tx *Tx) touchLead(ctx context.Context, orgID int64, phone string, now time.Time) error {
	return tx.execLater(ctx, "upsert lead", leadUpsert, orgID, phone, T(now), T(now))
}

// leadUpsert opens the lead of (org, phone), or touches it; it takes the lead's row lock.
const leadUpsert = `INSERT INTO leads (org_id, phone, status, created_at, updated_at)
	VALUES (?, ?, 'open', ?, ?) ON CONFLICT (org_id, phone) DO UPDATE SET updated_at = excluded.updated_at`

const callSelect = `SELECT c.id, c.call_sid, c.org_id, o.slug AS org_slug, c.from_number, c.to_number,
	c.started_at, c.outcome, c.reason, c.dial_status, c.call_status, c.lead_id, c.updated_at,
	m.status AS textback_status, m.reason AS textback_reason, m.error_code AS textback_error_code,
	m.error_message AS textback_error_message, m.error AS textback_failure,
	COALESCE(n.status, CASE WHEN m.notify_reason <> '' THEN 'suppressed' END) AS notify_status,
	COALESCE(n.reason, NULLIF(m.notify_reason, '')) AS notify_reason
	FROM calls c JOIN orgs o ON o.id = c.org_id LEFT JOIN messages m ON m.call_sid = c.call_sid
	LEFT JOIN notifications n ON n.call_sid = c.call_sid AND n.call_sid <> '' AND n.kind = 'missed_call'`

// Calls lists an org's calls, newest first.
func (s *Store) Calls(ctx context.Context, orgID int64, limit int) ([]Call, error) {
	if limit <= 0 {
		limit = 1000
	}
	var calls []Call
	if err := s.db.SelectContext(ctx, &calls, s.rebind(callSelect+` WHERE c.org_id = ?
		ORDER BY c.started_at DESC, c.id DESC LIMIT ?`), orgID, limit); err != nil {
		return nil, fmt.Errorf("list calls: %w", classify(err))
	}
	return calls, nil
}

// CallBySID finds one call.
func (s *Store) CallBySID(ctx context.Context, callSID string) (Call, error) {
	var c Call
	if err := s.db.GetContext(ctx, &c, s.rebind(callSelect+` WHERE c.call_sid = ?`), callSID); err != nil {
		return c, fmt.Errorf("call %s: %w", callSID, classify(err))
	}
	return c, nil
}
