package store_test

import (
	"context"
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

// TestARefusedStatementFailsOnlyItsUnit: units of different callers (side by side on
// PostgreSQL, their statements in the same rounds), every third of which makes the
// database refuse a statement, which aborts the whole transaction there: the others are
// committed all the same, and nothing of the refused ones is.
func TestARefusedStatementFailsOnlyItsUnit(t *testing.T) {
	forEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES ('taken', ?)`, store.T(now))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 30)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				caller := fmt.Sprintf("+1512556%04d", i)
				errs[i] = st.WriteFor(ctx, store.CallerKey(caller), func(tx *store.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`, caller, store.T(now)); err != nil {
						return err
					}
					if i%3 == 0 { // the key is taken: the database refuses the insert
						_, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES ('taken', ?)`, store.T(now))
						return err
					}
					_, err := tx.Exec(ctx, `INSERT INTO webhook_claims (dedupe_key, created_at) VALUES (?, ?)`, caller+":second", store.T(now))
					return err
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if (err != nil) != (i%3 == 0) {
				t.Errorf("unit %d: %v", i, err)
			}
		}
		var n int
		if err := st.ReadPool().Get(&n, `SELECT COUNT(*) FROM webhook_claims WHERE dedupe_key LIKE '+1512556%'`); err != nil || n != 40 {
			t.Errorf("%d claims of the units, want 40: two of each unit that was not refused (%v)", n, err)
		}
	})
}
