package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/callsnare/callsnare/internal/store"
)

// TestUnitsOfOneSubjectRunInOrder: many units of a few callers, written at once, so that
// batches mix callers (on PostgreSQL their units run side by side in pipelined rounds).
// Each unit counts its caller's rows, then adds the next: had two units of one caller
// overlapped, both would count the same and the second would add nothing. A lookup
// that finds no row in the middle of a unit must not fail the batch.
func TestUnitsOfOneSubjectRunInOrder(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const callers, each = 5, 40
		var wg sync.WaitGroup
		errs := make(chan error, callers*each)
		for i := range callers * each {
			caller := fmt.Sprintf("+1512555%04d", i%callers)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- st.WriteFor(ctx, store.CallerKey(caller), func(tx *store.Tx) error {
					if org, err := tx.EvidenceOrg(ctx, 1<<40); err != nil || org != 0 {
						return fmt.Errorf("missing row: org %d, %v", org, err)
					}
					n, err := tx.CountClaims(ctx, caller+":")
					if err != nil {
						return err
					}
					_, err = tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
						fmt.Sprintf("%s:%d", caller, n), store.T(now))
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range callers {
			caller := fmt.Sprintf("+1512555%04d", i)
			var n int
			if err := st.ReadPool().Get(&n, st.ReadPool().Rebind(`SELECT COUNT(*) FROM webhook_claims WHERE dedupe_key LIKE ?`), caller+":%"); err != nil || n != each {
				t.Errorf("%s: %d claims, want %d (%v)", caller, n, each, err)
			}
		}
	})
}

// TestStatementsShareRoundTrips: on PostgreSQL, what a unit does not wait for goes with
// what it waits for next. BEGIN, two inserts queued without waiting and two queries asked
// together make one round trip; a query waited on alone, a second; the last insert rides
// with the commit, a third. Everything is committed, in order: the queries see the
// inserts queued before them. SQLite counts no round trips and runs the same unit.
func TestStatementsShareRoundTrips(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		insert := `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`
		before := st.WriteStats()
		var a, b, all int
		err := st.Write(ctx, func(tx *store.Tx) error {
			for _, key := range []string{"trip:a", "trip:b"} {
				if err := tx.ExecLater(ctx, "insert "+key, insert, key, store.T(now)); err != nil {
					return err
				}
			}
			count := `SELECT COUNT(*) FROM webhook_claims WHERE dedupe_key = ?`
			askedA, askedB := tx.Ask(ctx, &a, count, "trip:a"), tx.Ask(ctx, &b, count, "trip:b")
			if err := errors.Join(askedA(), askedB()); err != nil {
				return err
			}
			n, err := tx.CountClaims(ctx, "trip:")
			all = n
			if err != nil {
				return err
			}
			return tx.ExecLater(ctx, "insert trip:c", insert, "trip:c", store.T(now))
		})
		if err != nil {
			t.Fatal(err)
		}
		if a != 1 || b != 1 || all != 2 {
			t.Errorf("inside the unit: a=%d b=%d all=%d, want 1 1 2", a, b, all)
		}
		var n int
		if err := st.ReadPool().Get(&n, `SELECT COUNT(*) FROM webhook_claims WHERE dedupe_key LIKE 'trip:%'`); err != nil || n != 3 {
			t.Errorf("%d rows committed, want 3 (%v)", n, err)
		}
		after := st.WriteStats()
		want := uint64(3)
		if st.Driver() == store.SQLite {
			want = 0
		}
		if trips := after.RoundTrips - before.RoundTrips; trips != want {
			t.Errorf("%d round trips, want %d", trips, want)
		}
		if units, commits := after.Units-before.Units, after.Commits-before.Commits; units != 1 || commits != 1 {
			t.Errorf("%d units in %d transactions, want 1 in 1", units, commits)
		}
	})
}
