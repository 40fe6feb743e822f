package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
)

// A status callback can reach us before the send that made the message has recorded its
// SID (Twilio calls back as soon as it accepts): it is kept, and folded in when the SID is.
func TestStatusCallbackBeforeTheSIDIsRecorded(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		const call, sid = "CA00000000000000000000000000000001", "SM00000000000000000000000000000001"
		var change store.CallChange
		err := st.Write(ctx, func(tx *store.Tx) (err error) {
			change, err = tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: call, From: "+15125550123", To: "+15125550100",
				Fact: callflow.Fact{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1, At: now}}, callflow.Rules{})
			return err
		})
		if err != nil || !change.TextbackJob {
			t.Fatalf("missed call: %v, text-back job %v", err, change.TextbackJob)
		}
		for _, s := range []store.MessageStatus{
			{SID: sid, Status: "undelivered", ErrorCode: "30003", ErrorMessage: "Unreachable destination handset", At: now},
			{SID: sid, Status: "sent", At: now},
		} {
			var matched bool
			err := st.Write(ctx, func(tx *store.Tx) (err error) {
				_, matched, err = tx.ApplyMessageStatus(ctx, s)
				return err
			})
			if err != nil || matched {
				t.Fatalf("status before the SID: matched %v, %v", matched, err)
			}
		}
		if _, err := st.ClaimTextbackSend(ctx, mustTextback(t, st, call), 0, now); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.UpdateTextback(ctx, mustTextback(t, st, call), []string{store.TextbackSending}, store.TextbackUpdate{Status: store.TextbackSent, SID: sid}, now); err != nil || !ok {
			t.Fatalf("record the send: %v, %v", ok, err)
		}
		m := mustTextback(t, st, call)
		if m.Status != "undelivered" || m.ErrorText() != "30003: Unreachable destination handset" {
			t.Errorf("after the SID is recorded: %s (%q)", m.Status, m.ErrorText())
		}
		rows, err := st.Textbacks(ctx, []int64{org.ID}, "")
		if err != nil || len(rows) != 1 || rows[0].Status != "undelivered" || rows[0].ErrorCode != "30003" || rows[0].SID.String != sid {
			t.Errorf("text-backs as a run checks them: %+v, %v", rows, err)
		}
	})
}

func mustTextback(t *testing.T, st *store.Store, call string) store.Message {
	t.Helper()
	s, err := st.TextbackState(context.Background(), call, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	return s.Message
}

// A text-back's job reads its state and, where reads ride the writes (PostgreSQL),
// claims its send in the same transaction: one write fewer per text-back. Elsewhere, or
// without the caller its job recorded, it only reads, and the job claims the send itself.
func TestTakeTextbackClaimsAsItReads(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		org := acme(t, st)
		const caller = "+15125550123"
		missed := func(call string) {
			t.Helper()
			err := st.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: call, From: caller, To: "+15125550100",
					Fact: callflow.Fact{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1, At: now}}, callflow.Rules{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		const first, second = "CA00000000000000000000000000000011", "CA00000000000000000000000000000012"
		missed(first)
		missed(second)
		send := func(st store.TextbackState) bool { return st.Message.Status == store.TextbackQueued }
		claims := st.ReadsInWrites()

		for _, caller := range []string{"", "+15125550999"} { // unknown, or not the text-back's
			before := st.WriteStats().Units
			take, err := st.TakeTextback(ctx, first, caller, time.Hour, now, send)
			if err != nil || take.Tried || take.State.Message.Status != store.TextbackQueued {
				t.Fatalf("caller %q: %+v, %v; want it read, queued, and nothing tried", caller, take, err)
			}
			if st.ReadsInWrites() && st.WriteStats().Units != before+1 {
				t.Errorf("caller %q: %d writes, want the one read", caller, st.WriteStats().Units-before)
			}
		}
		before := st.WriteStats().Units
		take, err := st.TakeTextback(ctx, first, caller, time.Hour, now, send)
		if err != nil || take.Tried != claims || take.Claimed != claims {
			t.Fatalf("take: %+v, %v; want tried and claimed = %v", take, err, claims)
		}
		if claims {
			if got := st.WriteStats().Units - before; got != 1 {
				t.Errorf("read and claim took %d writes, want 1", got)
			}
			if m := mustTextback(t, st, first); m.Status != store.TextbackSending || m.Attempts != 1 {
				t.Errorf("claimed text-back: %s after %d attempts, want sending after 1", m.Status, m.Attempts)
			}
			// The caller's other text-back waits while this one is being sent.
			take, err = st.TakeTextback(ctx, second, caller, time.Hour, now, send)
			if err != nil || !take.Tried || take.Claimed {
				t.Errorf("second text-back to the caller: %+v, %v; want tried and not claimed", take, err)
			}
		}
		if _, err := st.TakeTextback(ctx, "CA00000000000000000000000000000099", caller, time.Hour, now, send); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("no such text-back: %v, want ErrNotFound", err)
		}
	})
}
