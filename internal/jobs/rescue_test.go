package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/jobs"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "0123456789abcdef0123456789abcdef"
	tracked     = "+14155550100"
)

// world is a store with one org, a fake Twilio and a Twilio sender pointed at it.
type world struct {
	st     *store.Store
	org    store.Org
	fake   *faketwilio.Server
	sender *twilio.Sender
}

func newWorld(t *testing.T, dsn string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{}
	w.st, _ = openQueue(t, dsn)
	var err error
	w.org, err = w.st.CreateOrg(ctx, store.NewOrg{Slug: "acme", Name: "Acme HVAC", Timezone: "America/Chicago",
		ForwardTo: "+14155550199", Numbers: []string{tracked}}, time.Now())
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	w.fake = faketwilio.New(faketwilio.Options{AccountSID: testAccount})
	base, err := w.fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start fake twilio: %v", err)
	}
	t.Cleanup(func() { w.fake.Close() })
	w.sender, err = twilio.NewSender(twilio.SenderConfig{AccountSID: testAccount, AuthToken: testToken, APIBaseURL: base})
	if err != nil {
		t.Fatalf("sender: %v", err)
	}
	return w
}

// queue starts a working queue on the world's store, as a freshly started process would.
func (w *world) queue(t *testing.T, cfg jobs.Config) *jobs.Queue {
	t.Helper()
	cfg.Cooldown = 24 * time.Hour
	cfg.PollInterval = 20 * time.Millisecond
	q, err := jobs.New(cfg, jobs.Deps{Store: w.st, Sender: w.sender})
	if err != nil {
		t.Fatalf("new queue: %v", err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatalf("start queue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}

// missedCall records a call from caller that rang out, through the store as the routes
// do, with its text-back job enqueued on q (a queue of a process that enqueues only).
func (w *world) missedCall(t *testing.T, q *jobs.Queue, callSID, caller string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	for _, f := range []callflow.Fact{
		{Kind: callflow.FactInbound, Sequence: -1, At: now},
		{Kind: callflow.FactDialComplete, DialStatus: "no-answer", DialCallSID: "CAdial" + callSID, At: now},
	} {
		err := w.st.WriteFor(ctx, store.CallerKey(caller), func(tx *store.Tx) error {
			c, err := tx.ApplyCallFact(ctx, store.CallFact{Org: w.org, CallSID: callSID, From: caller, To: tracked, Fact: f}, callflow.Rules{})
			if err != nil {
				return err
			}
			return q.EnqueueCallJobs(ctx, tx, c)
		})
		if err != nil {
			t.Fatalf("apply %s: %v", f.Kind, err)
		}
	}
}

// waitSent waits until the call's text-back is no longer queued or sending.
func (w *world) waitSent(t *testing.T, callSID string) store.Message {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		// A text-back a settle job decides does not exist until that job has run.
		st, err := w.st.TextbackState(context.Background(), callSID, time.Hour, time.Now())
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			t.Fatalf("text-back state: %v", err)
		case st.Message.Status != store.TextbackQueued && st.Message.Status != store.TextbackSending:
			return st.Message
		}
		if time.Now().After(deadline) {
			t.Fatalf("text-back of %s still %s after a minute", callSID, st.Message.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitIdle(t *testing.T, q *jobs.Queue) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		idle, err := q.Idle(context.Background())
		if err != nil {
			t.Fatalf("idle: %v", err)
		}
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("queue not idle after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := q.Pending(context.Background()); err != nil || n != 0 {
		t.Fatalf("pending after idle = %d, %v; want 0", n, err)
	}
}

// TestJobOfDeadWorkerIsTakenUp: a job claimed by a process that then died is left alone
// while its lease holds and is worked by the next process once the lease has run out: the
// caller gets exactly one text and the queue drains.
func TestJobOfDeadWorkerIsTakenUp(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, db.DSN(t))
			_, enq := openQueueOn(t, w.st)
			const callSID, caller = "CAdead0001", "+12025550101"
			w.missedCall(t, enq, callSID, caller)

			// The dead process: it claimed the job and never came back.
			lease := 500 * time.Millisecond
			claimed, err := w.st.ClaimJobs(ctx, nil, 10, lease, time.Now())
			if err != nil || len(claimed) != 1 || claimed[0].Key != callSID {
				t.Fatalf("dead claim = %+v, %v; want the text-back job", claimed, err)
			}
			leaseEnd := time.Now().Add(lease)

			q := w.queue(t, jobs.Config{})
			msg := w.waitSent(t, callSID)
			if msg.Status != store.TextbackSent {
				t.Fatalf("status = %s (%s %s), want sent", msg.Status, msg.Reason, msg.Error)
			}
			sent := w.fake.SentTo(caller)
			if len(sent) != 1 {
				t.Fatalf("texts to the caller = %d, want 1", len(sent))
			}
			if !sent[0].Accepted.After(leaseEnd.Add(-50 * time.Millisecond)) {
				t.Fatalf("text accepted at %v while the dead worker's lease held (until %v)", sent[0].Accepted, leaseEnd)
			}
			waitIdle(t, q)
		})
	}
}

// TestSendingTextbackIsReconciled: a text-back a dead process left "sending" (the attempt
// recorded, its result unknown) is looked up at Twilio before anything is sent: one that
// Twilio had accepted is recorded sent with its SID and not sent again; one that never
// reached Twilio is sent once.
func TestSendingTextbackIsReconciled(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			for _, tt := range []struct {
				name     string
				accepted bool
			}{
				{"accepted before the crash", true},
				{"never reached Twilio", false},
			} {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					w := newWorld(t, db.DSN(t))
					_, enq := openQueueOn(t, w.st)
					const callSID, caller = "CAsend0001", "+12025550102"
					w.missedCall(t, enq, callSID, caller)

					// The dead process claimed the job, recorded its attempt and maybe sent.
					if _, err := w.st.ClaimJobs(ctx, nil, 10, 200*time.Millisecond, time.Now()); err != nil {
						t.Fatalf("dead claim: %v", err)
					}
					st, err := w.st.TextbackState(ctx, callSID, time.Hour, time.Now())
					if err != nil {
						t.Fatalf("state: %v", err)
					}
					ok, err := w.st.ClaimTextbackSend(ctx, st.Message, time.Hour, time.Now())
					if err != nil || !ok {
						t.Fatalf("claim send = %v, %v", ok, err)
					}
					wantSID := ""
					if tt.accepted {
						res, err := w.sender.Send(ctx, st.Message.From, st.Message.To, st.Message.Body)
						if err != nil {
							t.Fatalf("send before the crash: %v", err)
						}
						wantSID = res.SID
					}

					q := w.queue(t, jobs.Config{})
					msg := w.waitSent(t, callSID)
					sent := w.fake.SentTo(caller)
					if msg.Status != store.TextbackSent || len(sent) != 1 {
						t.Fatalf("status %s (%s), texts at Twilio %d; want sent and 1", msg.Status, msg.Error, len(sent))
					}
					if msg.SID.String != sent[0].SID || (wantSID != "" && msg.SID.String != wantSID) {
						t.Fatalf("recorded SID %q, Twilio has %q (accepted before the crash: %q)", msg.SID.String, sent[0].SID, wantSID)
					}
					waitIdle(t, q)
				})
			}
		})
	}
}
