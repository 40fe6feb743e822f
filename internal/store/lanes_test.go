package store

import (
	"runtime"
	"sync"
	"testing"
)

// TestLaneWorkersAreKept: the goroutines of one batch's lanes run the next batch's, and
// end with the writer.
func TestLaneWorkersAreKept(t *testing.T) {
	var p laneWorkers
	batch := func(lanes int) {
		var wg sync.WaitGroup
		// Every lane waits for all of them, so each runs on a worker of its own.
		var all sync.WaitGroup
		all.Add(lanes)
		for range lanes {
			wg.Add(1)
			p.run(func() {
				defer wg.Done()
				all.Done()
				all.Wait()
			})
		}
		wg.Wait()
	}
	idle := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.idle)
	}
	waitIdle := func(n int) {
		t.Helper()
		// A worker goes back to idle just after its lane's last statement: wait for it.
		for idle() != n {
			runtime.Gosched()
		}
	}
	batch(3)
	waitIdle(3)
	batch(3)
	waitIdle(3) // the same three, not three more
	batch(5)
	waitIdle(5)
	p.close()
	if n := idle(); n != 0 {
		t.Errorf("%d workers idle after close", n)
	}
	p.run(func() {}) // a lane after close still runs, on a worker that then ends
}
