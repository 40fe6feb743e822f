package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/jobs"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// openQueue opens a migrated store on dsn and a queue over it that only enqueues.
func openQueue(t *testing.T, dsn string) (*store.Store, *jobs.Queue) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return openQueueOn(t, st)
}

// openQueueOn builds a queue that only enqueues, over st.
func openQueueOn(t *testing.T, st *store.Store) (*store.Store, *jobs.Queue) {
	t.Helper()
	q, err := jobs.New(jobs.Config{}, jobs.Deps{Store: st})
	if err != nil {
		t.Fatalf("new queue: %v", err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	return st, q
}

// TestPendingAndIdle: a queue counts what it has not finished, and is idle only while
// nothing is due; a job scheduled for later is pending but leaves the queue idle.
func TestPendingAndIdle(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			st, q := openQueue(t, db.DSN(t))
			check := func(step string, wantPending int, wantIdle bool) {
				t.Helper()
				n, err := q.Pending(ctx)
				if err != nil || n != wantPending {
					t.Fatalf("%s: Pending = %d, %v; want %d", step, n, err, wantPending)
				}
				idle, err := q.Idle(ctx)
				if err != nil || idle != wantIdle {
					t.Fatalf("%s: Idle = %v, %v; want %v", step, idle, err, wantIdle)
				}
			}
			check("empty", 0, true)
			err := st.Write(ctx, func(tx *store.Tx) error {
				return q.EnqueueSettle(ctx, tx, "CA-later", time.Now().Add(time.Hour))
			})
			if err != nil {
				t.Fatalf("enqueue settle: %v", err)
			}
			check("settle in an hour", 1, true)
			err = st.Write(ctx, func(tx *store.Tx) error {
				return q.EnqueueTextback(ctx, tx, "CA-now")
			})
			if err != nil {
				t.Fatalf("enqueue text-back: %v", err)
			}
			check("text-back due", 2, false)
		})
	}
}
