package faultsuite_test

import (
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/storetest"
)

const (
	callsPerScenario = 60
	callers          = 8 // concurrent calls in flight
)

// TestSIGTERMUnderLoad stops serve gracefully under load: requests in flight are answered
// (none cut after its commit), running jobs finish, the process exits 0; once started
// again, nothing is lost or doubled.
func TestSIGTERMUnderLoad(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnv(t, db.DSN(t), 1)
			p := e.serve(0, "")
			calls := newCalls(callsPerScenario)
			l := e.client.start(calls, callers)
			l.waitFor(t, callsPerScenario/3)
			p.terminate()
			p = e.serve(0, "")
			restarted := time.Now()
			l.wait(t)
			e.check(calls, p, restarted, expect{stopped: true})
		})
	}
}
