package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/callflow"
)

// Enqueuer puts jobs on the durable queue inside the caller's transaction, so that a job
// exists if and only if the state that asked for it was committed.
type Enqueuer interface {
	EnqueueTextback(ctx context.Context, tx *Tx, callSID string) error
	EnqueueSettle(ctx context.Context, tx *Tx, callSID string, at time.Time) error
}

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
	Fact     callflow.Fact
	LogID    int64
}

// CallRules are the service-wide settings the outcome and the text-back depend on.
type CallRules struct {
	Settle         time.Duration
	Template       string // used when the org has none
	EnforceBilling bool   // text-backs need an entitled billing status
	GracePastDue   bool   // past_due still counts as entitled
}

// ApplyCallFact records a fact and re-derives the call's outcome from all its facts. On a
// first transition to missed it creates the text-back (and its job) in the same
// transaction; on a terminal status with no dial-complete yet it schedules the settle check.
func (tx *Tx) ApplyCallFact(ctx context.Context, f CallFact, rules CallRules, jobs Enqueuer) (Call, error) {
	at := T(f.Fact.At)
	// The upsert takes the call's row lock, so facts of one call are decided one at a time
	// even across replicas; each then sees all facts committed before it.
	var call Call
	err := tx.row(ctx, `INSERT INTO calls (call_sid, org_id, from_number, to_number,
		started_at, outcome, updated_at, fact_count) VALUES (?, ?, ?, ?, ?, 'forwarded', ?, 1)
		ON CONFLICT (call_sid) DO UPDATE SET updated_at = excluded.updated_at, fact_count = calls.fact_count + 1,
		started_at = CASE WHEN excluded.started_at < calls.started_at THEN excluded.started_at ELSE calls.started_at END
		RETURNING `+callColumns, f.CallSID, f.Org.ID, f.From, f.To, at, at).StructScan(&call)
	if err != nil {
		return Call{}, fmt.Errorf("upsert call: %w", classify(err))
	}
	ff := f.Fact
	_, err = tx.exec(ctx, `INSERT INTO call_facts (call_sid, kind, dial_status,
		dial_call_sid, dial_duration, call_status, call_duration, sequence_number, received_at, log_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.CallSID, string(ff.Kind), ff.DialStatus, ff.DialCallSID, ff.DialDuration, ff.CallStatus,
		ff.CallDuration, ff.Sequence, at, NullID(f.LogID))
	if err != nil {
		return Call{}, fmt.Errorf("insert call fact: %w", classify(err))
	}
	var known []callflow.Fact
	if call.FactCount == 1 { // the call's first fact: it is all there is to decide on
		known = []callflow.Fact{f.Fact}
	}
	return call, tx.decideCall(ctx, &call, known, f.Org, rules, jobs, f.Fact.At)
}

const callColumns = `id, call_sid, org_id, from_number, to_number, started_at, outcome, reason,
	dial_status, call_status, fact_count, lead_id, updated_at`

// Settle records that the settle window of a call has passed and re-derives its outcome.
func (s *Store) Settle(ctx context.Context, callSID string, rules CallRules, jobs Enqueuer, now time.Time) (Call, error) {
	var call Call
	err := s.Write(ctx, func(tx *Tx) error {
		if err := tx.row(ctx, `SELECT `+callColumns+` FROM calls WHERE call_sid = ?`, callSID).StructScan(&call); err != nil {
			return fmt.Errorf("settle %s: %w", callSID, classify(err))
		}
		var org Org
		if err := tx.get(ctx, &org, `SELECT `+orgColumns+` FROM orgs WHERE id = ?`, call.OrgID); err != nil {
			return fmt.Errorf("settle %s: org: %w", callSID, classify(err))
		}
		var n int
		if err := tx.get(ctx, &n, `SELECT COUNT(*) FROM call_facts WHERE call_sid = ? AND kind = 'settled'`, callSID); err != nil {
			return fmt.Errorf("settle %s: %w", callSID, classify(err))
		}
		if n == 0 {
			if _, err := tx.exec(ctx, `INSERT INTO call_facts (call_sid, kind, received_at)
				VALUES (?, 'settled', ?)`, callSID, T(now)); err != nil {
				return fmt.Errorf("settle %s: %w", callSID, classify(err))
			}
		}
		return tx.decideCall(ctx, &call, nil, org, rules, jobs, now)
	})
	return call, err
}

// decideCall re-derives a call's outcome from all its facts (read back unless known is
// them all) and stores it if it changed. Entering missed creates the text-back, in this
// transaction; a call that ended with no dial-complete gets its settle check scheduled.
func (tx *Tx) decideCall(ctx context.Context, call *Call, known []callflow.Fact, org Org, rules CallRules, jobs Enqueuer, now time.Time) error {
	facts := known
	if facts == nil {
		var err error
		if facts, err = tx.callFacts(ctx, call.CallSID); err != nil {
			return err
		}
	}
	d := callflow.Decide(facts, callflow.CallPolicy{ForwardTo: org.ForwardTo, MinAnswerSeconds: org.MinAnswerSeconds})
	call.OrgSlug = org.Slug
	// Entering missed opens the caller's lead (a textable caller's) in the same update.
	entering := d.Outcome == callflow.OutcomeMissed && call.Outcome != string(callflow.OutcomeMissed)
	if entering && callflow.Textable(call.From) {
		id, err := tx.upsertLead(ctx, org.ID, call.From, now)
		if err != nil {
			return err
		}
		call.LeadID = NullID(id)
	}
	if entering || string(d.Outcome) != call.Outcome || d.Reason != call.Reason || d.DialStatus != call.DialStatus || d.CallStatus != call.CallStatus {
		if _, err := tx.exec(ctx, `UPDATE calls SET outcome = ?, reason = ?, dial_status = ?, call_status = ?, lead_id = ?
			WHERE call_sid = ?`, string(d.Outcome), d.Reason, d.DialStatus, d.CallStatus, call.LeadID, call.CallSID); err != nil {
			return fmt.Errorf("update call outcome: %w", classify(err))
		}
		call.Outcome, call.Reason, call.DialStatus, call.CallStatus = string(d.Outcome), d.Reason, d.DialStatus, d.CallStatus
	}
	switch {
	case entering:
		// The text-back and the owner's notification are created with the transition, so
		// a call stored as missed already has them.
		if err := tx.createTextback(ctx, call, org, rules, jobs, now); err != nil {
			return err
		}
		return tx.notifyMissedCall(ctx, call, org, rules, jobs, now)
	case !d.SettleFrom.IsZero():
		if err := jobs.EnqueueSettle(ctx, tx, call.CallSID, d.SettleFrom.Add(rules.Settle)); err != nil {
			return fmt.Errorf("enqueue settle: %w", err)
		}
	}
	return nil
}

// callFacts reads back every fact stored for a call.
func (tx *Tx) callFacts(ctx context.Context, callSID string) ([]callflow.Fact, error) {
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
	if err := tx.sel(ctx, &rows, `SELECT kind, dial_status, dial_call_sid, dial_duration,
		call_status, call_duration, sequence_number, received_at FROM call_facts WHERE call_sid = ?`, callSID); err != nil {
		return nil, fmt.Errorf("load call facts: %w", classify(err))
	}
	facts := make([]callflow.Fact, len(rows))
	for i, r := range rows {
		facts[i] = callflow.Fact{Kind: callflow.FactKind(r.Kind), DialStatus: r.DialStatus, DialCallSID: r.DialCallSID,
			DialDuration: r.DialDuration, CallStatus: r.CallStatus, CallDuration: r.CallDuration, Sequence: r.Sequence, At: r.At.Time}
	}
	return facts, nil
}

// createTextback creates the text-back of a missed call, once per call: the text-back's
// unique call_sid decides, and only the transaction that inserts it enqueues the job. A
// text-back the rules already refuse (an untextable or opted-out caller, text-backs off,
// an org not entitled) is created suppressed, with no job, so that nobody promises the
// caller a text that will not come. The job checks everything again when it runs.
func (tx *Tx) createTextback(ctx context.Context, call *Call, org Org, rules CallRules, jobs Enqueuer, now time.Time) error {
	var st struct {
		OptedOut bool   `db:"opted_out"`
		Billing  string `db:"billing_status"`
	}
	if err := tx.get(ctx, &st, `SELECT
		COALESCE((SELECT opted_out FROM opt_outs WHERE org_id = ? AND phone = ?), FALSE) AS opted_out,
		COALESCE((SELECT status FROM org_billing WHERE org_id = ?), '') AS billing_status`,
		org.ID, call.From, org.ID); err != nil {
		return fmt.Errorf("text-back rules: %w", classify(err))
	}
	status, reason := "queued", callflow.DecideTextback(callflow.TextbackCheck{
		Outcome:  callflow.OutcomeMissed,
		Textable: callflow.Textable(call.From),
		Enabled:  org.TextbackEnabled,
		OptedOut: st.OptedOut,
		Entitled: !rules.EnforceBilling || billing.Entitled(st.Billing, rules.GracePastDue),
	})
	if reason != callflow.SendTextback {
		status = "suppressed"
	}
	template := org.TextbackTemplate
	if template == "" {
		template = rules.Template
	}
	// A call missed while the business is closed gets the after-hours text-back; decided
	// on the call's start, so that replaying the call decides the same. Hours are checked
	// when set, so a spec that no longer parses counts as always open.
	hours, _ := callflow.ParseHours(org.Hours)
	template = callflow.ChooseTemplate(hours.OpenAt(call.StartedAt.Time, org.Timezone), template, org.AfterHoursTemplate)
	body := callflow.RenderTextback(template, org.Name)
	res, err := tx.exec(ctx, `INSERT INTO messages (org_id, lead_id, direction, call_sid,
		from_number, to_number, body, status, reason, created_at, updated_at)
		VALUES (?, ?, 'outbound', ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_sid) DO NOTHING`,
		org.ID, call.LeadID, call.CallSID, call.To, call.From, body, status, string(reason), T(now), T(now))
	if err != nil {
		return fmt.Errorf("insert text-back: %w", classify(err))
	}
	if n, _ := res.RowsAffected(); n == 1 && status == "queued" {
		if err := jobs.EnqueueTextback(ctx, tx, call.CallSID); err != nil {
			return fmt.Errorf("enqueue text-back: %w", err)
		}
		call.TextbackQueued = true
	}
	return nil
}

func (tx *Tx) upsertLead(ctx context.Context, orgID int64, phone string, now time.Time) (int64, error) {
	var id int64
	err := tx.get(ctx, &id, `INSERT INTO leads (org_id, phone, status, created_at, updated_at)
		VALUES (?, ?, 'open', ?, ?) ON CONFLICT (org_id, phone) DO UPDATE SET updated_at = excluded.updated_at
		RETURNING id`, orgID, phone, T(now), T(now))
	if err != nil {
		return 0, fmt.Errorf("upsert lead: %w", classify(err))
	}
	return id, nil
}

const callSelect = `SELECT c.id, c.call_sid, c.org_id, o.slug AS org_slug, c.from_number, c.to_number,
	c.started_at, c.outcome, c.reason, c.dial_status, c.call_status, c.lead_id, c.updated_at,
	m.status AS textback_status, m.reason AS textback_reason, m.error_code AS textback_error_code,
	m.error_message AS textback_error_message, m.error AS textback_failure,
	n.status AS notify_status, n.reason AS notify_reason
	FROM calls c JOIN orgs o ON o.id = c.org_id LEFT JOIN messages m ON m.call_sid = c.call_sid
	LEFT JOIN notifications n ON n.call_sid = c.call_sid AND n.kind = 'missed_call'`

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
