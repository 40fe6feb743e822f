package simulate

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/storetest"
)

// targetOnPostgres starts a service on PostgreSQL behind a real listener and returns the
// options that drive it through --target/--db with --fake-twilio, at a fixed rate, with
// faults.
func targetOnPostgres(tb testing.TB) Options {
	dsn := storetest.Postgres(tb)
	fakeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fakeAddr := fakeLn.Addr().String()
	fakeLn.Close() // simulate serves the fake Twilio there
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	cfg := service.Config{
		DSN: dsn, PublicURL: url, TwilioAccountSID: "AC" + randomHex(32), TwilioAuthToken: randomHex(32),
		TwilioAPIBaseURL: "http://" + fakeAddr, StripeSecrets: []string{"whsec_" + randomHex(32)},
		Rules:     callflow.DefaultRules(),
		QueuePoll: 20 * time.Millisecond,
	}
	svc, err := service.Start(context.Background(), cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: svc.Handler()}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = svc.Close(ctx)
	})

	o := DefaultOptions()
	o.Target, o.DSN, o.PublicURL, o.FakeTwilioAddr = url, dsn, url, fakeAddr
	o.TwilioAccountSID, o.TwilioAuthToken, o.StripeSecrets = cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.StripeSecrets
	o.Rate, o.Duration = 200, 8*time.Second
	if testing.Short() {
		o.Duration = 3 * time.Second
	}
	o.Faults = Faults{Dup: 0.1, ConcurrentDup: 0.05, Reorder: 0.1, Stale: 0.1, BadSig: 0.02, WrongURL: 0.02, Malformed: 0.02}
	o.Thresholds.MaxErrorRate = 0
	return o
}

// TestTargetOnPostgres is the CI load test: every invariant must hold and every delivery
// be answered. It sets no latency or rate threshold: the machine is shared with the rest
// of the suite, so speed is measured by BenchmarkTargetOnPostgres, and the threshold logic
// by TestThresholds on given figures.
func TestTargetOnPostgres(t *testing.T) {
	o := targetOnPostgres(t)
	rep, err := (&Simulator{Options: o}).Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	logReport(t, rep)
	if !rep.Passed {
		t.Fatalf("verdict failed: %+v", rep.Failed())
	}
	if rep.FakeTwilio == nil || rep.FakeTwilio.Accepted == 0 {
		t.Errorf("the fake Twilio sent nothing: %+v", rep.FakeTwilio)
	}
}

// BenchmarkTargetOnPostgres measures what TestTargetOnPostgres checks: the p99 latency and
// the achieved rate of one run at 200 requests/s with faults.
//
//	go test ./internal/simulate/ -run '^$' -bench TargetOnPostgres -count 5
func BenchmarkTargetOnPostgres(b *testing.B) {
	o := targetOnPostgres(b)
	var p99, rate []float64
	for b.Loop() {
		rep, err := (&Simulator{Options: o}).Run(context.Background())
		if err != nil {
			b.Fatalf("run: %v", err)
		}
		if !rep.Passed {
			b.Fatalf("verdict failed: %+v", rep.Failed())
		}
		p99, rate = append(p99, rep.Overall.Latency.P99), append(rate, rep.Overall.Rate)
	}
	b.ReportMetric(median(p99), "p99-ms")
	b.ReportMetric(median(rate), "req/s")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestThresholds checks the verdict on given figures: a limit fails only when crossed,
// and a zero limit is not checked.
func TestThresholds(t *testing.T) {
	fig := func(p99 float64, rate float64, errs, reqs int) Report {
		return Report{Overall: RouteReport{Requests: reqs, Errors: errs, Rate: rate, Latency: Latency{P99: p99}}}
	}
	cases := []struct {
		name   string
		limits Thresholds
		report Report
		failed []string
	}{
		{"within every limit", Thresholds{MaxP99: 100 * time.Millisecond, MinRate: 180}, fig(99.9, 180, 0, 1000), nil},
		{"p99 over", Thresholds{MaxP99: 100 * time.Millisecond}, fig(100.1, 10, 0, 1000), []string{"p99 latency <= 100ms"}},
		{"rate under", Thresholds{MinRate: 180}, fig(1, 179.9, 0, 1000), []string{"achieved rate >= 180/s"}},
		{"errors over", Thresholds{MaxErrorRate: 0.01}, fig(1, 1, 11, 1000), []string{"error rate <= 0.01"}},
		{"errors at the limit", Thresholds{MaxErrorRate: 0.01}, fig(1, 1, 10, 1000), nil},
		{"no limits but errors", Thresholds{}, fig(5000, 1, 1, 1000), []string{"error rate <= 0"}},
		{"no requests", Thresholds{}, fig(0, 0, 0, 0), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &sim{o: Options{Thresholds: c.limits}}
			var failed []string
			for _, ch := range s.thresholds(c.report) {
				if !ch.Passed {
					failed = append(failed, ch.Name)
				}
			}
			if !slices.Equal(failed, c.failed) {
				t.Fatalf("failed %v, want %v", failed, c.failed)
			}
		})
	}
}
