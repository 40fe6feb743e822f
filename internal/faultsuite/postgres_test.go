package faultsuite_test

import (
	"net/http"
	"testing"
	"time"
)

// TestPostgresRestartAndStop restarts, then stops and starts again, a private PostgreSQL
// under load: while it is away deliveries are refused with 503 (never a 2xx without a
// commit, never a connection closed without an answer) and /readyz says so; once it is
// back, Twilio's retries get every call applied once and every missed call one text.
func TestPostgresRestartAndStop(t *testing.T) {
	pg := startCluster(t)
	t.Run("restart", func(t *testing.T) {
		e := newEnv(t, pg.createDB("restart"), 1)
		p := e.serve(0, "")
		calls := newCalls(callsPerScenario)
		l := e.client.start(calls, callers)
		l.waitFor(t, callsPerScenario/3)
		pg.restart()
		back := time.Now()
		l.wait(t)
		e.check(calls, p, back, expect{})
	})
	t.Run("stop", func(t *testing.T) {
		e := newEnv(t, pg.createDB("stop"), 1)
		p := e.serve(0, "")
		calls := newCalls(callsPerScenario)
		l := e.client.start(calls, callers)
		l.waitFor(t, callsPerScenario/3)
		pg.stop()
		// Down until the server has refused deliveries and said it is not ready.
		waitUntil(t, "deliveries answered 503 with PostgreSQL stopped", func() bool {
			return e.client.count(http.StatusServiceUnavailable) >= 5
		})
		waitUntil(t, "/readyz answering 503 with PostgreSQL stopped", func() bool {
			return p.get("/readyz") == http.StatusServiceUnavailable
		})
		pg.start()
		back := time.Now()
		l.wait(t)
		e.check(calls, p, back, expect{})
	})
}

// waitUntil polls cond until it holds, for at most a minute.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
