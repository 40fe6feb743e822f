package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestTwoStoresOnePostgresNeverDeadlock feeds two stores (two replicas, four writers
// each) on one PostgreSQL the same deliveries at once, as the routes apply them: claim,
// call fact, lead, text-back, evidence. Callers share leads across calls, and batches mix
// callers in whatever order they arrive, so without one global lock order the batches
// would wait on each other in cycles. None may deadlock, and every call still gets one
// call row, one lead per caller and one text-back.
func TestTwoStoresOnePostgresNeverDeadlock(t *testing.T) {
	a, b := twoStores(t)
	org := acme(t, a)
	const callers, callsEach, copies = 8, 6, 2
	ctx := context.Background()
	deliver := func(st *store.Store, sid, caller string, f callflow.Fact) error {
		key := fmt.Sprintf("twilio:%s:%s:%s", f.Kind, sid, f.DialStatus)
		return st.WriteFor(ctx, store.CallerKey(caller), func(tx *store.Tx) error {
			claimed, _, err := tx.Claim(ctx, key, now)
			if err != nil || !claimed {
				return err
			}
			_, err = tx.ApplyCallFact(ctx, store.CallFact{Org: org, CallSID: sid, From: caller, To: org.Numbers[0], Fact: f},
				callflow.Rules{Settle: 30 * time.Second})
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers*callsEach*copies*4)
	for c := range callers {
		caller := fmt.Sprintf("+1512555%04d", 3000+c)
		for n := range callsEach {
			sid := fmt.Sprintf("CA%030d%02d", c, n)
			for _, st := range []*store.Store{a, b, a, b}[:2*copies] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, f := range []callflow.Fact{
						{Kind: callflow.FactInbound, CallStatus: "ringing", Sequence: -1, At: now},
						{Kind: callflow.FactDialComplete, DialStatus: "no-answer", Sequence: -1, At: now.Add(20 * time.Second)},
					} {
						if err := deliver(st, sid, caller, f); err != nil {
							errs <- err
						}
					}
				}()
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("delivery: %v", err)
	}
	for name, st := range map[string]*store.Store{"a": a, "b": b} {
		if s := st.WriteStats(); s.Deadlocks != 0 || s.Serialization != 0 {
			t.Errorf("store %s: %d deadlocks, %d serialization failures; want none", name, s.Deadlocks, s.Serialization)
		}
	}
	calls, err := a.Calls(ctx, org.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != callers*callsEach {
		t.Errorf("%d calls, want %d", len(calls), callers*callsEach)
	}
	for _, c := range calls {
		if c.Outcome != "missed" || !c.TextbackStatus.Valid {
			t.Errorf("call %s: %s, text-back %v", c.CallSID, c.Outcome, c.TextbackStatus)
		}
	}
	leads, err := a.Leads(ctx, org.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(leads) != callers {
		t.Errorf("%d leads, want %d", len(leads), callers)
	}
}

// TestDuplicateWaitingOnItsOriginalFindsIt: a delivery claimed by one replica whose
// transaction is still open, delivered again to another. The second claim waits for the
// first transaction, finds the key taken when it commits, and must name the first
// delivery's evidence as its original: read after the wait, not in a snapshot taken
// before it.
func TestDuplicateWaitingOnItsOriginalFindsIt(t *testing.T) {
	a, b := twoStores(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const key = "twilio:sms.inbound:SM0123456789abcdef0123456789abcdef"
	evidence := func(status string, dupOf int64) *store.Evidence {
		ev := &store.Evidence{ReceivedAt: store.T(now), Provider: "twilio", Route: "/x", Signature: "valid",
			DedupeKey: key, Status: status, DuplicateOf: store.NullID(dupOf)}
		ev.SetBody([]byte("a=b"), false)
		return ev
	}
	release := make(chan struct{})
	claimedFirst := make(chan struct{})
	first := make(chan int64, 1)
	go func() {
		ev := evidence(store.StatusProcessed, 0)
		err := a.Write(ctx, func(tx *store.Tx) error {
			if claimed, _, err := tx.AskClaim(ctx, key, now).Result(); err != nil || !claimed {
				return fmt.Errorf("first claim: %v, %w", claimed, err)
			}
			if err := tx.InsertEvidence(ctx, ev); err != nil {
				return err
			}
			close(claimedFirst)
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		first <- ev.ID
	}()
	type result struct {
		claimed bool
		dupOf   int64
		err     error
	}
	second := make(chan result, 1)
	go func() {
		// Once the first claim is made, the second waits on its row: started before, it
		// could claim the key itself and leave the first nothing to claim.
		select {
		case <-claimedFirst:
		case <-ctx.Done():
			second <- result{err: ctx.Err()}
			return
		}
		var r result
		r.err = b.Write(ctx, func(tx *store.Tx) error {
			r.claimed, r.dupOf, r.err = tx.AskClaim(ctx, key, now).Result()
			if r.err != nil || r.claimed {
				return r.err
			}
			return tx.InsertEvidence(ctx, evidence(store.StatusDuplicate, r.dupOf))
		})
		second <- r
	}()
	// Let the first transaction go only once the second is waiting for its lock.
	waiting := 0
	for waiting == 0 {
		if err := b.ReadPool().GetContext(ctx, &waiting, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal("the second claim never waited for the first")
		}
	}
	close(release)
	id := <-first
	r := <-second
	if r.err != nil || r.claimed || r.dupOf != id {
		t.Fatalf("second delivery: claimed %v, original %d (%v); want a duplicate of %d", r.claimed, r.dupOf, r.err, id)
	}
}

// twoStores opens two stores (two replicas) on one private PostgreSQL database.
func twoStores(t *testing.T) (a, b *store.Store) {
	t.Helper()
	dsn := storetest.Postgres(t)
	a = open(t, dsn)
	b, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}
