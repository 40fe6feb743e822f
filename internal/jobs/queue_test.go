package jobs_test

import (
	"context"
	"fmt"
	"sync"
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
				return q.EnqueueTextback(ctx, tx, "CA-now", "+15125550123")
			})
			if err != nil {
				t.Fatalf("enqueue text-back: %v", err)
			}
			check("text-back due", 2, false)
		})
	}
}

func enqueueN(t *testing.T, st *store.Store, q *jobs.Queue, kind string, n int) {
	t.Helper()
	ctx := context.Background()
	err := st.Write(ctx, func(tx *store.Tx) error {
		for i := range n {
			if err := q.Enqueue(ctx, tx, store.NewJob{Kind: kind, Key: fmt.Sprintf("k%03d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

// TestClaimsNeverOverlap: claimers racing for the same due jobs each get their own; every
// job is claimed exactly once.
func TestClaimsNeverOverlap(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			st, q := openQueue(t, db.DSN(t))
			enqueueN(t, st, q, "test", 60)
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						got, err := st.ClaimJobs(ctx, nil, 7, time.Minute, time.Now())
						if err != nil {
							t.Errorf("claim: %v", err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, j := range got {
							seen[j.Key]++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(seen) != 60 {
				t.Fatalf("claimed %d distinct jobs, want 60", len(seen))
			}
			for k, n := range seen {
				if n != 1 {
					t.Fatalf("job %s claimed %d times while its lease held", k, n)
				}
			}
		})
	}
}

// TestLeaseTakenOverFencesTheOldWorker: once a job's lease has run out and it was claimed
// again, its first worker can no longer finish it; the second can.
func TestLeaseTakenOverFencesTheOldWorker(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			st, q := openQueue(t, db.DSN(t))
			enqueueN(t, st, q, "test", 1)
			now := time.Now()
			first, err := st.ClaimJobs(ctx, nil, 10, time.Minute, now)
			if err != nil || len(first) != 1 {
				t.Fatalf("first claim = %v, %v", first, err)
			}
			if again, err := st.ClaimJobs(ctx, nil, 10, time.Minute, now.Add(30*time.Second)); err != nil || len(again) != 0 {
				t.Fatalf("claim while the lease holds = %v, %v; want none", again, err)
			}
			second, err := st.ClaimJobs(ctx, nil, 10, time.Minute, now.Add(61*time.Second))
			if err != nil || len(second) != 1 || second[0].Attempts != 2 {
				t.Fatalf("claim after the lease = %+v, %v; want the job at attempt 2", second, err)
			}
			if _, err := st.ClaimJobs(ctx, first, 0, time.Minute, now); err != nil {
				t.Fatalf("finish by the first worker: %v", err)
			}
			if n, _ := q.Pending(ctx); n != 1 {
				t.Fatalf("pending after the old worker finished = %d, want 1 (fenced)", n)
			}
			if _, err := st.ClaimJobs(ctx, second, 0, time.Minute, now); err != nil {
				t.Fatalf("finish by the second worker: %v", err)
			}
			if n, _ := q.Pending(ctx); n != 0 {
				t.Fatalf("pending after the new worker finished = %d, want 0", n)
			}
		})
	}
}
