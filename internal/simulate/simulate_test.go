package simulate

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// runEmbedded plays a run against the in-process server and returns its report.
func runEmbedded(t *testing.T, tweak func(*Options)) Report {
	t.Helper()
	o := DefaultOptions()
	o.Embedded = true
	o.Calls = 2000
	if testing.Short() {
		o.Calls = 300
	}
	o.Rate = 1500
	if raceDetector {
		o.Calls, o.Rate = 300, 150
	}
	o.DrainTimeout = 20 * time.Second
	if tweak != nil {
		tweak(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := (&Simulator{Options: o}).Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	logReport(t, rep)
	return rep
}

func logReport(t *testing.T, rep Report) {
	t.Helper()
	var b bytes.Buffer
	rep.Print(&b)
	t.Log("\n" + b.String())
}

// TestEmbeddedWithFaults is `callsnare simulate --embedded --calls 2000 --dup-rate 0.2
// --reorder-rate 0.2`: the real service must pass every invariant.
func TestEmbeddedWithFaults(t *testing.T) {
	rep := runEmbedded(t, func(o *Options) {
		o.Faults.Dup, o.Faults.Reorder = 0.2, 0.2
	})
	if !rep.Passed {
		t.Fatalf("verdict failed: %+v", rep.Failed())
	}
}
