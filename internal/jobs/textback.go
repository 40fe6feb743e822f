package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/failpoint"
	"github.com/callsnare/callsnare/internal/metrics"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// Sender sends SMS and finds a message whose send result was unknown.
type Sender interface {
	Send(ctx context.Context, from, to, body string) (twilio.SendResult, error)
	Lookup(ctx context.Context, from, to, body string, since time.Time) (sid string, found bool, err error)
}

// Job kinds.
const (
	KindTextback = "textback" // key: the call's CallSid
	KindSettle   = "settle"   // key: the call's CallSid
)

// A text-back whose caller is being texted by another waits snoozeStep at a time, for at
// most snoozeFor; then it gives up as if the other had been sent.
const (
	snoozeStep = 200 * time.Millisecond
	snoozeFor  = 5 * time.Minute
)

type textbackWorker struct {
	q       *Queue
	store   *store.Store
	sender  Sender
	metrics *metrics.Metrics
	log     *slog.Logger
}

// Work re-checks the rules as of now and sends, at most once: the attempt is recorded
// before the request, and an attempt whose result is unknown is looked up at Twilio before
// anything is sent again.
func (w *textbackWorker) Work(ctx context.Context, job store.Job) error {
	sid := job.Key
	now := w.q.now()
	// A queued text-back the rules let go is claimed as it is read, where that saves a write.
	take, err := w.store.TakeTextback(ctx, sid, job.Args, w.q.cfg.Cooldown, now, func(st store.TextbackState) bool {
		return st.Message.Status == store.TextbackQueued && w.decide(st) == callflow.SendTextback
	})
	if errors.Is(err, store.ErrNotFound) {
		return Cancel(err)
	}
	if err != nil {
		return err
	}
	st := take.State
	msg := st.Message
	if msg.Status != store.TextbackQueued && msg.Status != store.TextbackSending {
		return nil // already decided
	}
	open := []string{store.TextbackQueued, store.TextbackSending}
	reason := w.decide(st)
	sendCtx, cancel := context.WithTimeout(ctx, w.q.cfg.SendTimeout)
	defer cancel()
	if msg.Status == store.TextbackSending {
		// The last attempt may have reached Twilio: look before deciding anything else.
		found, ok, err := w.sender.Lookup(sendCtx, msg.From, msg.To, msg.Body, msg.AttemptedAt.Time)
		if err != nil {
			err = fmt.Errorf("look up earlier attempt: %w", err)
			if job.Attempts < w.q.cfg.MaxAttempts {
				return err
			}
			// Out of tries with the result still unknown: say so instead of leaving the
			// text-back "sending" for good, and never send blind.
			w.metrics.Send("failed")
			w.log.Warn("textback_failed", "call_sid", sid, "err", err)
			_, uerr := w.store.UpdateTextback(ctx, msg, []string{store.TextbackSending},
				store.TextbackUpdate{Status: store.TextbackFailed, Error: "result unknown: " + err.Error()}, w.q.now())
			return uerr
		}
		if ok {
			w.metrics.Send("sent")
			_, err := w.store.UpdateTextback(ctx, msg, []string{store.TextbackSending}, store.TextbackUpdate{Status: store.TextbackSent, SID: found}, w.q.now())
			return err
		}
	}
	if reason != callflow.SendTextback {
		w.metrics.Send("suppressed")
		w.log.Info("textback_suppressed", "call_sid", sid, "reason", reason)
		_, err := w.store.UpdateTextback(ctx, msg, open, store.TextbackUpdate{Status: store.TextbackSuppressed, Reason: string(reason)}, now)
		return err
	}
	claimed := take.Claimed
	if !take.Tried {
		if claimed, err = w.store.ClaimTextbackSend(ctx, msg, w.q.cfg.Cooldown, now); err != nil {
			return err
		}
	}
	if !claimed {
		// Another text-back to this caller went out or is going out. While it is being
		// sent, wait for its result: if it fails, this one goes instead.
		again, err := w.store.TextbackState(ctx, sid, w.q.cfg.Cooldown, w.q.now())
		if err != nil {
			return err
		}
		if s := again.Message.Status; s != store.TextbackQueued && s != store.TextbackSending {
			return nil // a STOP decided it meanwhile
		}
		if !again.RecentlyTexted && time.Since(job.CreatedAt.Time) < snoozeFor {
			return Snooze(snoozeStep, "another text-back to the caller is being sent")
		}
		// It went out within the cooldown: this one is suppressed if it still waits.
		changed, err := w.store.UpdateTextback(ctx, msg, []string{store.TextbackQueued},
			store.TextbackUpdate{Status: store.TextbackSuppressed, Reason: string(callflow.SuppressCooldown)}, now)
		if changed {
			w.metrics.Send("suppressed")
		}
		return err
	}
	failpoint.Hit(failpoint.TextbackBeforeSend)
	res, err := w.sender.Send(sendCtx, msg.From, msg.To, msg.Body)
	if err == nil {
		failpoint.Hit(failpoint.TextbackAfterSend)
		w.metrics.Send("sent")
		w.log.Info("textback_sent", "call_sid", sid, "sid", res.SID)
		_, err = w.store.UpdateTextback(ctx, msg, []string{store.TextbackSending}, store.TextbackUpdate{Status: store.TextbackSent, SID: res.SID}, w.q.now())
		return err
	}
	var se *twilio.SendError
	last := job.Attempts >= w.q.cfg.MaxAttempts
	switch {
	case errors.As(err, &se) && se.Kind == twilio.ErrKindPermanent, last:
		w.metrics.Send("failed")
		w.log.Warn("textback_failed", "call_sid", sid, "err", err)
		u := store.TextbackUpdate{Status: store.TextbackFailed, Error: err.Error()}
		if se != nil && se.Code != 0 {
			u.ErrorCode = strconv.Itoa(se.Code)
			u.ErrorMessage = cmp.Or(twilio.DescribeErrorCode(u.ErrorCode), se.Message)
			if u.ErrorCode == twilio.ErrorCodeOptedOut {
				// The caller texted STOP at Twilio: they are opted out here too.
				u.OptOut = "twilio:" + u.ErrorCode
				w.log.Info("lead_opted_out", "call_sid", sid, "source", u.OptOut)
			}
		}
		_, uerr := w.store.UpdateTextback(ctx, msg, []string{store.TextbackSending}, u, w.q.now())
		return uerr
	case errors.As(err, &se) && se.Kind == twilio.ErrKindRetrySafe:
		// Not processed by Twilio: back to queued, so the retry sends without a lookup.
		w.metrics.Send("retry")
		if _, uerr := w.store.UpdateTextback(ctx, msg, []string{store.TextbackSending}, store.TextbackUpdate{Status: store.TextbackQueued, Error: err.Error()}, w.q.now()); uerr != nil {
			return uerr
		}
		return err
	default:
		// Unknown: it stays "sending", and the retry looks it up first.
		w.metrics.Send("unknown")
		if _, uerr := w.store.UpdateTextback(ctx, msg, []string{store.TextbackSending}, store.TextbackUpdate{Status: store.TextbackSending, Error: err.Error()}, w.q.now()); uerr != nil {
			return uerr
		}
		return err
	}
}

// decide is what the rules say of a text-back in state st.
func (w *textbackWorker) decide(st store.TextbackState) callflow.Suppression {
	return callflow.DecideTextback(callflow.TextbackCheck{
		Outcome:        callflow.Outcome(st.Outcome),
		Textable:       callflow.Textable(st.Message.To),
		Enabled:        st.TextbackEnabled,
		OptedOut:       st.OptedOut,
		Entitled:       !w.q.cfg.EnforceBilling || billing.Entitled(st.BillingStatus, w.q.cfg.GracePastDue),
		RecentlyTexted: st.RecentlyTexted,
	})
}

type settleWorker struct {
	q     *Queue
	store *store.Store
}

// Work records that the call's settle window has passed; if no dial-complete came, the
// call is missed and its text-back is created.
func (w *settleWorker) Work(ctx context.Context, job store.Job) error {
	_, err := w.store.Settle(ctx, job.Key, w.q.cfg.Rules, w.q.now(), w.q.EnqueueCallJobs)
	if errors.Is(err, store.ErrNotFound) {
		return Cancel(err)
	}
	return err
}
