package faultsuite_test

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/storetest"
)

// TestSQLiteLockHeldPastDeadline has another connection hold SQLite's write lock for
// longer than the delivery deadline while calls come in: deliveries that cannot commit in
// time are refused with 503 and Retry-After within the deadline (never late, never a 2xx
// without a commit, never a connection closed without an answer), and once the lock is
// released the retries get every call applied once and every missed call one text. The
// lock is taken before the calls start, so every delivery meets it however fast the
// machine is.
func TestSQLiteLockHeldPastDeadline(t *testing.T) {
	path := storetest.SQLite(t)
	e := newEnv(t, path, 1)
	p := e.serve(0, "")
	release := holdWriteLock(t, path)
	held := time.Now()
	calls := newCalls(callsPerScenario)
	l := e.client.start(calls, callers)
	waitUntil(t, "deliveries answered 503 while the write lock is held", func() bool {
		return e.client.count(http.StatusServiceUnavailable) >= callers
	})
	if n := e.client.count(http.StatusOK) + e.client.count(http.StatusNoContent); n != 0 {
		t.Fatalf("%d deliveries acknowledged while another connection held the write lock", n)
	}
	// The fault is the lock held past the deadline: hold it that long.
	if d := deadline + 2*time.Second - time.Since(held); d > 0 {
		time.Sleep(d)
	}
	release()
	released := time.Now()
	l.wait(t)
	e.check(calls, p, released, expect{})
}

// holdWriteLock takes SQLite's write lock on the database file from a connection of its
// own (BEGIN IMMEDIATE) and returns the function that gives it back.
func holdWriteLock(t testing.TB, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	done := false
	release := func() {
		if done {
			return
		}
		done = true
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Errorf("release the write lock: %v", err)
		}
		conn.Close()
		db.Close()
	}
	t.Cleanup(release)
	return release
}
