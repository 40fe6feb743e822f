package faultsuite_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TestTwoReplicasIdenticalDeliveries runs two serve processes on one private PostgreSQL
// and sends every callback of every call to both at once: PostgreSQL detects no deadlock,
// and still each call is one row, each caller one lead and one text.
func TestTwoReplicasIdenticalDeliveries(t *testing.T) {
	pg := startCluster(t)
	e := newEnv(t, pg.createDB("replicas"), 2)
	a := e.serve(0, "")
	b := e.serve(1, "")
	calls := newCalls(2 * callsPerScenario)
	started := time.Now()
	l := e.client.startBoth(calls, 2*callers)
	l.wait(t)
	e.check(calls, a, started, expect{})
	// Every backend reports its deadlocks by the time it exits: stop both first.
	a.terminate()
	b.terminate()
	if n := pg.deadlocks("replicas"); n != 0 {
		t.Errorf("PostgreSQL detected %d deadlocks between the two replicas, want 0", n)
	}
}

// startBoth is start with every callback sent to both replicas at once, as when a
// provider's retry crosses the first delivery and a load balancer spreads them.
func (c *twilioClient) startBoth(calls []call, workers int) *load {
	return c.play(calls, workers, func(cl call) error {
		for _, d := range cl.steps() {
			errs := make(chan error, 2)
			for i := range 2 {
				go func() { errs <- c.deliver(i, d) }()
			}
			if err := errors.Join(<-errs, <-errs); err != nil {
				return err
			}
		}
		return nil
	})
}

// deadlocks is how many deadlocks PostgreSQL detected in database name.
func (c *pgCluster) deadlocks(name string) int64 {
	c.t.Helper()
	db, err := sql.Open("pgx", c.dsn("postgres"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The statistics collector reports with a small delay: ask for a fresh snapshot.
	_, _ = db.ExecContext(ctx, "SELECT pg_stat_clear_snapshot()")
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = $1`, name).Scan(&n); err != nil {
		c.t.Fatalf("read deadlocks: %v", err)
	}
	return n
}
