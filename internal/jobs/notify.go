package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// KindNotify sends the owner's notification of one event; key: the event key
// (call:CallSid, reply:MessageSid).
const KindNotify = "notify"

// EnqueueNotify schedules the owner's notification of an event, in the transaction that
// records the event: the notification exists if and only if the event does.
func (q *Queue) EnqueueNotify(ctx context.Context, tx *store.Tx, eventKey string) error {
	return q.Enqueue(ctx, tx, store.NewJob{Kind: KindNotify, Key: eventKey})
}

type notifyWorker struct {
	q      *Queue
	store  *store.Store
	sender Sender
	log    *slog.Logger
}

// Work sends a notification at most once, as a text-back is sent: the attempt is recorded
// first, and an attempt whose result is unknown is looked up at Twilio before any resend.
func (w *notifyWorker) Work(ctx context.Context, job store.Job) error {
	key := job.Key
	n, err := w.store.NotificationByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Cancel(err)
	}
	if err != nil {
		return err
	}
	if n.Status != store.TextbackQueued && n.Status != store.TextbackSending {
		return nil // already decided
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.q.cfg.SendTimeout)
	defer cancel()
	sending := []string{store.TextbackSending}
	if n.Status == store.TextbackSending {
		sid, found, err := w.sender.Lookup(sendCtx, n.From, n.To, n.Body, n.AttemptedAt.Time)
		if err != nil {
			return fmt.Errorf("look up earlier notification: %w", err)
		}
		if found {
			_, err := w.store.UpdateNotification(ctx, key, sending, store.NotificationUpdate{Status: store.TextbackSent, SID: sid}, w.q.now())
			return err
		}
	}
	claimed, err := w.store.UpdateNotification(ctx, key, []string{store.TextbackQueued, store.TextbackSending},
		store.NotificationUpdate{Status: store.TextbackSending, Attempt: true}, w.q.now())
	if err != nil || !claimed {
		return err
	}
	res, err := w.sender.Send(sendCtx, n.From, n.To, n.Body)
	if err == nil {
		w.log.Info("notification_sent", "event", key, "sid", res.SID, "urgent", n.Urgent)
		_, err = w.store.UpdateNotification(ctx, key, sending, store.NotificationUpdate{Status: store.TextbackSent, SID: res.SID}, w.q.now())
		return err
	}
	var se *twilio.SendError
	switch {
	case errors.As(err, &se) && se.Kind == twilio.ErrKindPermanent, job.Attempts >= w.q.cfg.MaxAttempts:
		w.log.Warn("notification_failed", "event", key, "err", err)
		_, uerr := w.store.UpdateNotification(ctx, key, sending, store.NotificationUpdate{Status: store.TextbackFailed, Error: err.Error()}, w.q.now())
		return uerr
	case errors.As(err, &se) && se.Kind == twilio.ErrKindRetrySafe:
		if _, uerr := w.store.UpdateNotification(ctx, key, sending, store.NotificationUpdate{Status: store.TextbackQueued, Error: err.Error()}, w.q.now()); uerr != nil {
			return uerr
		}
		return err
	default:
		// Unknown: it stays "sending", and the retry looks it up first.
		return err
	}
}
