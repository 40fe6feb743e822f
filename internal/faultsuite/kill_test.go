package faultsuite_test

import (
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/failpoint"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestKillAtFailpoints kills serve (as kill -9 does) at each point where a crash could lose
// or double work, under load, then starts it again: every delivery Twilio retries is
// applied once, and every missed call gets exactly one text within the bound.
func TestKillAtFailpoints(t *testing.T) {
	points := []struct {
		name, point, at string
	}{
		// The hit counts put each death in the middle of the load.
		{"before commit", failpoint.StoreBeforeCommit, "kill@40"},
		{"after commit before the answer", failpoint.ServerBeforeAnswer, "kill@40"},
		{"in the middle of a batch", failpoint.StoreMidBatch, "kill@2"},
		{"after claiming the send before Twilio", failpoint.TextbackBeforeSend, "kill@5"},
		{"after Twilio accepted before it was recorded", failpoint.TextbackAfterSend, "kill@5"},
	}
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			for _, fp := range points {
				t.Run(fp.name, func(t *testing.T) {
					// Most of a scenario is waiting for the dead process's leases to run
					// out: the points of one database wait together.
					t.Parallel()
					e := newEnv(t, db.DSN(t), 1)
					p := e.serve(0, fp.point+"="+fp.at)
					calls := newCalls(callsPerScenario)
					l := e.client.start(calls, callers)
					p.waitDeath(fp.point, 60*time.Second)
					p = e.serve(0, "")
					restarted := time.Now()
					l.wait(t)
					e.check(calls, p, restarted, expect{killed: true})
				})
			}
		})
	}
}

// TestKillUnderLoad is a plain kill -9 from outside at a moment the process does not choose.
func TestKillUnderLoad(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnv(t, db.DSN(t), 1)
			p := e.serve(0, "")
			calls := newCalls(callsPerScenario)
			l := e.client.start(calls, callers)
			l.waitFor(t, callsPerScenario/3)
			p.kill()
			p = e.serve(0, "")
			restarted := time.Now()
			l.wait(t)
			e.check(calls, p, restarted, expect{killed: true})
		})
	}
}

// TestKillOneReplica kills one of two replicas on one PostgreSQL just after Twilio accepted
// a text it had not recorded yet; the load balancer sends its traffic to the other, and
// the survivor alone takes up the dead one's jobs (reconciling the unrecorded send) and
// drains the queue, with no restart.
func TestKillOneReplica(t *testing.T) {
	e := newEnv(t, storetest.Postgres(t), 2)
	a := e.serve(0, failpoint.TextbackAfterSend+"=kill@3")
	b := e.serve(1, "")
	calls := newCalls(callsPerScenario)
	for i := range calls {
		calls[i].replica = i % 2
	}
	l := e.client.start(calls, callers)
	a.waitDeath(failpoint.TextbackAfterSend, 60*time.Second)
	e.client.point(0, b.url)
	died := time.Now()
	l.wait(t)
	e.check(calls, b, died, expect{killed: true})
}
