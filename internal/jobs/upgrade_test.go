package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/jobs"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

// TestUpgradeEnqueuesPendingWork: a database of the release before the jobs' own
// migration holds a text-back still queued and a call still waiting for its settle check,
// neither with a job (their work sat in River). Once migrated, a started queue texts each
// caller exactly once (the settled call's text-back is decided by its settle job) and
// becomes idle.
func TestUpgradeEnqueuesPendingWork(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, db.DSN(t), store.Options{})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.MigrateUpTo(ctx, 12); err != nil {
				t.Fatalf("migrate up to 12: %v", err)
			}
			org, err := st.CreateOrg(ctx, store.NewOrg{Slug: "acme", Name: "Acme HVAC", Timezone: "America/Chicago",
				ForwardTo: "+14155550199", Numbers: []string{tracked}}, time.Now())
			if err != nil {
				t.Fatalf("create org: %v", err)
			}
			// The calls as the routes record them, with no job enqueued.
			ended := time.Now().Add(-time.Hour)
			const missedSID, missedCaller = "CAupgr0001", "+12025550111"
			const hungSID, hungCaller = "CAupgr0002", "+12025550112"
			for _, c := range []struct {
				sid, caller string
				fact        callflow.Fact
			}{
				{missedSID, missedCaller, callflow.Fact{Kind: callflow.FactInbound, Sequence: -1, At: ended}},
				{missedSID, missedCaller, callflow.Fact{Kind: callflow.FactDialComplete, DialStatus: "no-answer", DialCallSID: "CAdial1", At: ended}},
				{hungSID, hungCaller, callflow.Fact{Kind: callflow.FactInbound, Sequence: -1, At: ended}},
				{hungSID, hungCaller, callflow.Fact{Kind: callflow.FactStatus, CallStatus: "completed", Sequence: 3, At: ended}},
			} {
				err := st.WriteFor(ctx, store.CallerKey(c.caller), func(tx *store.Tx) error {
					_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: c.sid, From: c.caller, To: tracked, Fact: c.fact},
						callflow.Rules{Settle: 30 * time.Second})
					return err
				})
				if err != nil {
					t.Fatalf("apply %s of %s: %v", c.fact.Kind, c.sid, err)
				}
			}
			if s, err := st.TextbackState(ctx, missedSID, time.Hour, time.Now()); err != nil || s.Message.Status != store.TextbackQueued {
				t.Fatalf("text-back before the upgrade = %q, %v; want queued", s.Message.Status, err)
			}
			if c, err := st.CallBySID(ctx, hungSID); err != nil || c.Outcome != string(callflow.OutcomeForwarded) {
				t.Fatalf("hung-up call before the upgrade = %q, %v; want forwarded", c.Outcome, err)
			}

			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			if c, err := st.CountJobs(ctx, time.Now()); err != nil || c.Pending != 2 || c.Busy != 2 {
				t.Fatalf("jobs after the upgrade = %+v, %v; want the text-back and the settle check, both due", c, err)
			}

			fake := faketwilio.New(faketwilio.Options{AccountSID: testAccount})
			base, err := fake.Start("127.0.0.1:0")
			if err != nil {
				t.Fatalf("start fake twilio: %v", err)
			}
			t.Cleanup(func() { fake.Close() })
			sender, err := twilio.NewSender(twilio.SenderConfig{AccountSID: testAccount, AuthToken: testToken, APIBaseURL: base})
			if err != nil {
				t.Fatalf("sender: %v", err)
			}
			w := &world{st: st, org: org, fake: fake, sender: sender}
			q := w.queue(t, jobs.Config{Rules: callflow.Rules{Settle: 30 * time.Second}})
			for _, sid := range []string{missedSID, hungSID} {
				if msg := w.waitSent(t, sid); msg.Status != store.TextbackSent {
					t.Fatalf("text-back of %s = %s (%s %s), want sent", sid, msg.Status, msg.Reason, msg.Error)
				}
			}
			waitIdle(t, q)
			for _, caller := range []string{missedCaller, hungCaller} {
				if n := len(fake.SentTo(caller)); n != 1 {
					t.Fatalf("texts to %s = %d, want 1", caller, n)
				}
			}
			if c, err := st.CallBySID(ctx, hungSID); err != nil || c.Outcome != string(callflow.OutcomeMissed) || c.Reason != "hung_up" {
				t.Fatalf("hung-up call after the upgrade = %q %q, %v; want missed hung_up", c.Outcome, c.Reason, err)
			}
		})
	}
}
