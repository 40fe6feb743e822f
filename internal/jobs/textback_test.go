package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TestNextRetryBacksOff: one second after the first failure, doubling, never more than
// about two minutes, with at most a quarter of jitter.
func TestNextRetryBacksOff(t *testing.T) {
	w := &textbackWorker{}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, time.Second, 1250 * time.Millisecond},
		{2, 2 * time.Second, 2500 * time.Millisecond},
		{5, 16 * time.Second, 20 * time.Second},
		{8, 128 * time.Second, 160 * time.Second},
		{25, 128 * time.Second, 160 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			start := time.Now()
			got := w.NextRetry(&river.Job[TextbackArgs]{JobRow: &rivertype.JobRow{Attempt: tt.attempt}}).Sub(start)
			if got < tt.min || got > tt.max+50*time.Millisecond {
				t.Fatalf("attempt %d: retry in %v, want %v to %v", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
}
