package replay_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/replay"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

var rules = callflow.Rules{Cooldown: 24 * time.Hour, DialTimeout: 20 * time.Second}

func verify(t *testing.T, dsn string) (replay.Report, string, error) {
	t.Helper()
	var out bytes.Buffer
	v := &replay.Verify{DSN: dsn, Org: "acme-hvac", Secrets: secrets, Rules: rules, ScratchDir: t.TempDir(), Out: &out}
	rep, err := v.Run(context.Background())
	return rep, out.String(), err
}

func TestVerify(t *testing.T) {
	forEachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		src := newRig(t, newDSN(t), func(c *service.Config) { c.Rules.Settle = 200 * time.Millisecond })
		src.recordRun()
		// Decisions that depend on time and on the settle job: a second missed call within
		// the cooldown, and a caller who hung up before the dial completed.
		src.call(callerA, "no-answer")
		hungUp := src.call(callerD, "")
		src.settled()
		if c, _ := src.svc.Store.CallBySID(context.Background(), hungUp); c.Reason != "hung_up" || c.TextbackStatus.String != "sent" {
			t.Fatalf("settled call: %+v", c)
		}
		if n := src.count("messages", "reason = 'cooldown'"); n != 1 {
			t.Fatalf("%d text-backs suppressed for the cooldown, want 1", n)
		}

		rep, out, err := verify(t, src.dsn)
		if err != nil {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		if rep.Replayed == 0 || len(rep.Differences) != 0 || !strings.Contains(out, "same state") {
			t.Fatalf("report %+v\n%s", rep, out)
		}

		src.exec(`UPDATE calls SET outcome = 'answered' WHERE call_sid = '` + hungUp + `'`)
		rep, out, err = verify(t, src.dsn)
		if !errors.Is(err, replay.ErrDifferences) {
			t.Fatalf("verify after tampering: %v\n%s", err, out)
		}
		want := replay.Difference{Entity: "call " + hungUp, Field: "outcome", Source: "answered", Replay: "missed"}
		if len(rep.Differences) != 1 || rep.Differences[0] != want {
			t.Fatalf("differences %v, want %v", rep.Differences, want)
		}
		if !strings.Contains(out, want.String()) {
			t.Errorf("output does not print the difference:\n%s", out)
		}
	})
}

func TestVerifyNeedsAnOrg(t *testing.T) {
	src := newRig(t, storetest.SQLite(t))
	for _, org := range []string{"", "nobody"} {
		v := &replay.Verify{DSN: src.dsn, Org: org}
		var ue *replay.UsageError
		if _, err := v.Run(context.Background()); !errors.As(err, &ue) {
			t.Errorf("org %q: err = %v, want a usage error", org, err)
		}
	}
}

func TestVerifyComparesDeliveryAndNotifications(t *testing.T) {
	forEachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		src := newRig(t, newDSN(t))
		ctx := context.Background()
		notify := "+15125550142"
		if _, err := src.svc.Store.UpdateOrg(ctx, "acme-hvac", store.OrgUpdate{NotifyNumber: &notify}, time.Now()); err != nil {
			t.Fatal(err)
		}
		call := src.call(callerA, "no-answer")
		src.settled()
		msgs, err := src.svc.Store.MessagesOfCall(ctx, call)
		if err != nil || len(msgs) != 1 || !msgs[0].SID.Valid {
			t.Fatalf("text-back: %+v, %v", msgs, err)
		}
		for _, st := range []struct{ status, code string }{{"sent", ""}, {"undelivered", "30003"}, {"sent", ""}} {
			p := twilio.Params{"AccountSid": testAccount, "MessageSid": msgs[0].SID.String, "MessageStatus": st.status,
				"From": trackedNum, "To": callerA, "ApiVersion": "2010-04-01"}
			if st.code != "" {
				p["ErrorCode"] = st.code
			}
			src.expect(204, src.post("/api/twilio/sms/status", p))
		}
		src.sms(callerA, "there is a gas smell")
		deadline := time.Now().Add(15 * time.Second)
		for src.count("notifications", "status IN ('queued', 'sending')") > 0 {
			if time.Now().After(deadline) {
				t.Fatal("notifications not sent in time")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := src.count("notifications", "status = 'sent'"); n != 2 {
			t.Fatalf("%d notifications sent, want 2", n)
		}

		rep, out, err := verify(t, src.dsn)
		if err != nil || len(rep.Differences) != 0 {
			t.Fatalf("verify: %v\n%s", err, out)
		}

		src.exec(`UPDATE messages SET status = 'delivered' WHERE call_sid = '` + call + `'`)
		src.exec(`UPDATE notifications SET urgent = FALSE WHERE kind = 'reply'`)
		rep, out, err = verify(t, src.dsn)
		if !errors.Is(err, replay.ErrDifferences) {
			t.Fatalf("verify after tampering: %v\n%s", err, out)
		}
		got := map[string]replay.Difference{}
		for _, d := range rep.Differences {
			got[d.Field] = d
		}
		if d := got["status"]; d.Entity != "text-back of "+call || d.Source != "delivered" || d.Replay != "undelivered" || len(rep.Differences) != 2 {
			t.Errorf("differences %v", rep.Differences)
		}
		if d := got["urgent"]; !strings.HasPrefix(d.Entity, "notification reply:") || d.Source != "false" || d.Replay != "true" {
			t.Errorf("differences %v", rep.Differences)
		}
	})
}
