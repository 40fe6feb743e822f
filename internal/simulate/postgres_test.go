package simulate

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestTargetOnPostgres is the CI load test: a service on PostgreSQL behind a real
// listener, driven through --target/--db with --fake-twilio, at a fixed rate, with faults,
// and held to latency, error and rate thresholds.
func TestTargetOnPostgres(t *testing.T) {
	dsn := storetest.Postgres(t)
	fakeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fakeAddr := fakeLn.Addr().String()
	fakeLn.Close() // simulate serves the fake Twilio there
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	srv := &http.Server{Handler: svc.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = svc.Close(ctx)
	})

	o := DefaultOptions()
	o.Target, o.DSN, o.PublicURL, o.FakeTwilioAddr = url, dsn, url, fakeAddr
	o.TwilioAccountSID, o.TwilioAuthToken, o.StripeSecrets = cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.StripeSecrets
	// The service, its database and the generator share the machine with whatever else
	// the test run does; the 50 ms of a dedicated CI runner would flake here.
	o.Rate, o.Duration, o.Thresholds.MaxP99 = 200, 8*time.Second, 100*time.Millisecond
	if testing.Short() {
		o.Duration, o.Thresholds.MaxP99 = 3*time.Second, 250*time.Millisecond
	}
	o.Faults = Faults{Dup: 0.1, ConcurrentDup: 0.05, Reorder: 0.1, Stale: 0.1, BadSig: 0.02, WrongURL: 0.02, Malformed: 0.02}
	o.Thresholds.MaxErrorRate, o.Thresholds.MinRate = 0, 180
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
