package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/callflow"
)

// Notification kinds.
const (
	NotifyMissedCall = "missed_call"
	NotifyReply      = "reply"
)

// Notification is an SMS to an org's notify number about one event: a missed call or a
// caller's reply. event_key (call:CallSid, reply:MessageSid) makes it one per event.
type Notification struct {
	ID          int64          `db:"id"`
	OrgID       int64          `db:"org_id"`
	EventKey    string         `db:"event_key"`
	Kind        string         `db:"kind"`
	CallSID     string         `db:"call_sid"`
	MessageSID  string         `db:"message_sid"`
	Caller      string         `db:"caller"`
	From        string         `db:"from_number"`
	To          string         `db:"to_number"`
	Body        string         `db:"body"`
	Urgent      bool           `db:"urgent"`
	Status      string         `db:"status"`
	Reason      string         `db:"reason"`
	SID         sql.NullString `db:"sid"`
	Error       string         `db:"error"`
	Attempts    int            `db:"attempts"`
	CreatedAt   Time           `db:"created_at"`
	UpdatedAt   Time           `db:"updated_at"`
	AttemptedAt Time           `db:"attempted_at"`
	SentAt      Time           `db:"sent_at"`
}

const notificationColumns = `id, org_id, event_key, kind, call_sid, message_sid, caller, from_number,
	to_number, body, urgent, status, reason, sid, error, attempts, created_at, updated_at, attempted_at, sent_at`

// notifyEvent is what createNotification needs of the event.
type notifyEvent struct {
	org                       Org
	key, kind, callSID, msgID string
	caller, from              string // from: the tracked number the notification goes out from
	// human is the caller's number as the owner reads it, if worked out already.
	human string
	// notice writes the notification given the caller's number. A notification the owner
	// is not sent names the caller as Twilio did, and costs no parsing of the number.
	notice func(caller string) string
	urgent bool
}

// createNotification queues the owner's notification of an event, once per event, and
// returns its key when this transaction queued it: only that transaction enqueues its job.
// It is made only when the owner is to be told: a suppressed one is its reason on the
// event's message (see replyUnnotified and decideCall). fresh says the transaction knows no notification of
// the event exists (it asked, under the subject's lock): the insert then goes without
// waiting.
func (tx *Tx) createNotification(ctx context.Context, e notifyEvent, fresh bool, now time.Time) (string, error) {
	body := e.notice(humanOr(e.human, e.caller, e.from))
	const q = `INSERT INTO notifications (org_id, event_key, kind, call_sid, message_sid, caller,
		from_number, to_number, body, urgent, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (event_key) DO NOTHING`
	args := []any{e.org.ID, e.key, e.kind, e.callSID, e.msgID, e.caller, e.from, e.org.NotifyNumber, body, e.urgent,
		T(now), T(now)}
	if fresh {
		// Whether this transaction inserts it is known: it goes with the unit's next round.
		if err := tx.execLater(ctx, "insert notification", q, args...); err != nil {
			return "", err
		}
		return e.key, nil
	}
	res, err := tx.exec(ctx, q, args...)
	if err != nil {
		return "", fmt.Errorf("insert notification: %w", classify(err))
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return e.key, nil
	}
	return "", nil
}

// replyUnnotified says why the owner is not told of a caller's reply, or "" when they are
// to be; billing is asked only when it decides.
func (tx *Tx) replyUnnotified(ctx context.Context, m InboundSMS) (string, error) {
	if m.Org.NotifyNumber == "" {
		return callflow.DecideNotify("", m.From, true), nil
	}
	entitled, err := tx.entitled(ctx, m.Org.ID, m.Rules)
	if err != nil {
		return "", err
	}
	return callflow.DecideNotify(m.Org.NotifyNumber, m.From, entitled), nil
}

// entitled says whether an org's billing lets its owner be told of events.
func (tx *Tx) entitled(ctx context.Context, orgID int64, rules callflow.Rules) (bool, error) {
	if !rules.EnforceBilling {
		return true, nil
	}
	var status string
	if err := tx.get(ctx, &status, `SELECT COALESCE((SELECT status FROM org_billing WHERE org_id = ?), '')`, orgID); err != nil {
		return false, fmt.Errorf("notification rules: %w", classify(err))
	}
	return billing.Entitled(status, rules.GracePastDue), nil
}

// missedCallKey is the event key of the owner's notification of a missed call.
func missedCallKey(callSID string) string { return "call:" + callSID }

// notifyMissedCall tells the owner of a call that just became missed; its caller knows
// that no notification of the call exists and that the owner is to be told.
// human is the caller's number as the owner reads it, when the caller worked it out.
func (tx *Tx) notifyMissedCall(ctx context.Context, call *Call, org Org, now time.Time, human string) (string, error) {
	return tx.createNotification(ctx, notifyEvent{
		org: org, key: missedCallKey(call.CallSID), kind: NotifyMissedCall, callSID: call.CallSID,
		caller: call.From, from: call.To, human: human,
		notice: func(caller string) string { return callflow.MissedCallNotice(caller, call.TextbackQueued) },
	}, true, now)
}

// humanOr is human, the caller's number as the owner reads it when the caller worked it
// out before the transaction, or else works it out: not both, since the writer's time
// is what limits SQLite.
func humanOr(human, caller, orgNumber string) string {
	if human != "" {
		return human
	}
	return callflow.HumanPhone(caller, orgNumber)
}

// notifyReply tells the owner of a caller's reply, URGENT when it names an urgent keyword;
// its caller knows the owner is to be told.
func (tx *Tx) notifyReply(ctx context.Context, m InboundSMS, now time.Time) (string, error) {
	r := m.Reply
	if r == nil || r.Keywords != m.Org.UrgentKeywords {
		read := callflow.ReadReply(m.Body, len(m.Media), m.Org.UrgentKeywords)
		r = &read
	}
	return tx.createNotification(ctx, notifyEvent{
		org: m.Org, key: "reply:" + m.MessageSID, kind: NotifyReply, msgID: m.MessageSID,
		caller: m.From, from: m.To, urgent: r.Urgent, human: m.FromHuman,
		notice: r.Notice,
	}, false, now)
}

// NotificationByKey finds the notification of an event.
func (s *Store) NotificationByKey(ctx context.Context, key string) (Notification, error) {
	var n Notification
	if err := s.db.GetContext(ctx, &n, s.rebind(`SELECT `+notificationColumns+` FROM notifications WHERE event_key = ?`), key); err != nil {
		return n, fmt.Errorf("notification %s: %w", key, classify(err))
	}
	return n, nil
}

// suppressedSelect reads the notifications the owner was not sent from the messages that
// keep their reasons (see createNotification), as notifications with no body and no
// recipient: a reply's on the reply, a missed call's on its text-back. Their id is 0: they
// are no rows of their own.
const suppressedSelect = `SELECT 0 AS id, org_id,
	CASE WHEN direction = 'inbound' THEN 'reply:' || sid ELSE 'call:' || call_sid END AS event_key,
	CASE WHEN direction = 'inbound' THEN 'reply' ELSE 'missed_call' END AS kind,
	CASE WHEN direction = 'inbound' THEN '' ELSE call_sid END AS call_sid,
	CASE WHEN direction = 'inbound' THEN sid ELSE '' END AS message_sid,
	CASE WHEN direction = 'inbound' THEN from_number ELSE to_number END AS caller,
	CASE WHEN direction = 'inbound' THEN to_number ELSE from_number END AS from_number,
	'' AS to_number, '' AS body, FALSE AS urgent, 'suppressed' AS status, notify_reason AS reason,
	NULL AS sid, '' AS error, 0 AS attempts, created_at, created_at AS updated_at,
	NULL AS attempted_at, NULL AS sent_at
	FROM messages WHERE notify_reason <> ''`

// Notifications lists an org's notifications, oldest first, the suppressed ones with them.
func (s *Store) Notifications(ctx context.Context, orgID int64) ([]Notification, error) {
	var ns []Notification
	if err := s.db.SelectContext(ctx, &ns, s.rebind(`SELECT `+notificationColumns+` FROM notifications
		WHERE org_id = ? UNION ALL `+suppressedSelect+` AND org_id = ?
		ORDER BY created_at, id`), orgID, orgID); err != nil {
		return nil, fmt.Errorf("list notifications: %w", classify(err))
	}
	return ns, nil
}

// NotificationsOfCaller lists the notifications an org's caller caused, oldest first: the
// owner's side of that caller's story.
func (s *Store) NotificationsOfCaller(ctx context.Context, orgID int64, caller string) ([]Notification, error) {
	var ns []Notification
	// The caller's replies are found through their lead, the text-backs by the number
	// they went to: each by its index.
	if err := s.db.SelectContext(ctx, &ns, s.rebind(`SELECT `+notificationColumns+` FROM notifications
		WHERE org_id = ? AND caller = ?
		UNION ALL `+suppressedSelect+` AND direction = 'inbound'
			AND lead_id = (SELECT id FROM leads WHERE org_id = ? AND phone = ?)
		UNION ALL `+suppressedSelect+` AND direction = 'outbound' AND org_id = ? AND to_number = ?
		ORDER BY created_at, id`), orgID, caller, orgID, caller, orgID, caller); err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", caller, classify(err))
	}
	return ns, nil
}

// NotificationUpdate is a change of a notification's send state.
type NotificationUpdate struct {
	Status  string
	SID     string
	Error   string
	Attempt bool // count an attempt and stamp attempted_at
}

// UpdateNotification moves a notification to a new state, but only from one of the states
// given, and reports whether it changed.
func (s *Store) UpdateNotification(ctx context.Context, key string, from []string, u NotificationUpdate, now time.Time) (bool, error) {
	var changed bool
	err := s.Write(ctx, func(tx *Tx) error {
		q := `UPDATE notifications SET status = ?, error = ?, updated_at = ?`
		args := []any{u.Status, u.Error, T(now)}
		q, args = sendUpdate(q, args, u.SID, u.Status == TextbackSent, u.Attempt, now, "event_key", key, from)
		res, err := tx.exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("update notification %s: %w", key, classify(err))
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		return nil
	})
	return changed, err
}
