package jobs

import (
	"testing"
	"time"
)

// TestNextRetryBacksOff: one second after the first failure, doubling, never more than
// about two minutes, with at most a quarter of jitter.
func TestNextRetryBacksOff(t *testing.T) {
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
			if got := nextRetry(tt.attempt); got < tt.min || got > tt.max {
				t.Fatalf("attempt %d: retry in %v, want %v to %v", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
}
