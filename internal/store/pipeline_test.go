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
