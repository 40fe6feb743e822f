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
			st := storetest.OpenAt(t, db.DSN(t), 12)
			org, err := st.CreateOrg(ctx, store.NewOrg{Slug: "acme", Name: "Acme HVAC", Timezone: "America/Chicago",
				ForwardTo: "+14155550199", Numbers: []string{tracked}}, time.Now())
			if err != nil {
				t.Fatalf("create org: %v", err)
			}
			// The calls as that release stored them, with no job enqueued: written as its
			// statements wrote them, since this release's write to the newer schema.
			ended := time.Now().Add(-time.Hour)
			const missedSID, missedCaller = "CAupgr0001", "+12025550111"
			const hungSID, hungCaller = "CAupgr0002", "+12025550112"
			at := store.T(ended)
			err = st.WriteFor(ctx, store.CallerKey(missedCaller), func(tx *store.Tx) error {
				for _, r := range []struct {
					q    string
					args []any
				}{
					{`INSERT INTO leads (org_id, phone, status, created_at, updated_at) VALUES (?, ?, 'open', ?, ?)`,
						[]any{org.ID, missedCaller, at, at}},
					{`INSERT INTO calls (call_sid, org_id, from_number, to_number, started_at, outcome, reason,
						dial_status, call_status, lead_id, updated_at, fact_count)
						VALUES (?, ?, ?, ?, ?, 'missed', 'dial_no-answer', 'no-answer', 'in-progress',
						(SELECT id FROM leads WHERE phone = ?), ?, 2)`,
						[]any{missedSID, org.ID, missedCaller, tracked, at, missedCaller, at}},
					{`INSERT INTO call_facts (call_sid, kind, sequence_number, received_at) VALUES (?, 'inbound', -1, ?)`,
						[]any{missedSID, at}},
					{`INSERT INTO call_facts (call_sid, kind, dial_status, dial_call_sid, received_at)
						VALUES (?, 'dial_complete', 'no-answer', 'CAdial1', ?)`, []any{missedSID, at}},
					{`INSERT INTO messages (org_id, lead_id, direction, call_sid, from_number, to_number, body,
						status, created_at, updated_at)
						VALUES (?, (SELECT id FROM leads WHERE phone = ?), 'outbound', ?, ?, ?, 'Sorry we missed you',
						'queued', ?, ?)`, []any{org.ID, missedCaller, missedSID, tracked, missedCaller, at, at}},
					{`INSERT INTO calls (call_sid, org_id, from_number, to_number, started_at, outcome,
						call_status, updated_at, fact_count) VALUES (?, ?, ?, ?, ?, 'forwarded', 'completed', ?, 2)`,
						[]any{hungSID, org.ID, hungCaller, tracked, at, at}},
					{`INSERT INTO call_facts (call_sid, kind, sequence_number, received_at) VALUES (?, 'inbound', -1, ?)`,
						[]any{hungSID, at}},
					{`INSERT INTO call_facts (call_sid, kind, call_status, sequence_number, received_at)
						VALUES (?, 'status', 'completed', 3, ?)`, []any{hungSID, at}},
				} {
					if _, err := tx.Exec(ctx, r.q, r.args...); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("rows of the release before: %v", err)
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
