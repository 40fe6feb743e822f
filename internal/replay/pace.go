package replay

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

// Pacing says when each delivery may start.
type Pacing struct {
	// Rate caps deliveries started per second (0: as fast as the workers go).
	Rate float64
	// Concurrency is how many deliveries are in flight at once (0 or 1: one at a time).
	Concurrency int
	// OriginalTiming keeps the recorded gaps between deliveries, divided by Speed.
	OriginalTiming bool
	Speed          float64
}

// ParseSpeed reads a speed-up factor: "10x", "10" or "0.5x".
func ParseSpeed(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "x"), 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("speed %q: want a positive factor like 10x", s)
	}
	return f, nil
}

func (p Pacing) validate() error {
	switch {
	case p.Rate < 0:
		return usagef("--rate must not be negative")
	case p.Concurrency < 0:
		return usagef("--concurrency must not be negative")
	case p.Speed < 0:
		return usagef("--speed must be positive")
	case p.Speed > 0 && !p.OriginalTiming:
		return usagef("--speed only applies with --original-timing")
	}
	return nil
}

// offset is when the i-th delivery may start, after the run's start.
func (p Pacing) offset(i int, e, first store.Evidence) time.Duration {
	var d time.Duration
	if p.OriginalTiming {
		speed := p.Speed
		if speed <= 0 {
			speed = 1
		}
		d = time.Duration(float64(e.ReceivedAt.Time.Sub(first.ReceivedAt.Time)) / speed)
	}
	if p.Rate > 0 {
		d = max(d, time.Duration(float64(i)/p.Rate*float64(time.Second)))
	}
	return d
}

// sleepUntil waits until t or the end of ctx; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
