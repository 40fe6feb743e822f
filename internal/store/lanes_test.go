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
	started := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.started
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
	if n := started(); n != 3 {
		t.Fatalf("%d workers started for two batches of three lanes; want the same three", n)
	}
	waitIdle(3)
	batch(5)
	waitIdle(5)
	if n := started(); n != 5 {
		t.Fatalf("%d workers started; want 5 (three kept, two more)", n)
	}
	p.close()
	if n := idle(); n != 0 {
		t.Errorf("%d workers idle after close", n)
	}
	p.run(func() {}) // a lane after close still runs, on a worker that then ends
}
