package replay_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/replay"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

func run(t *testing.T, r *replay.Replay) (replay.Summary, string, error) {
	t.Helper()
	var out bytes.Buffer
	r.Out = &out
	sum, err := r.Run(context.Background())
	return sum, out.String(), err
}

func TestReplayIntoEmptyServerReproducesState(t *testing.T) {
	forEachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		src := newRig(t, newDSN(t))
		src.recordRun()
		dst := newRig(t, newDSN(t))
		// The replay keeps the recorded pace, in windows cut where the recording had
		// decided its text-backs: the target decides them there too, however slow the
		// machine, instead of within the recorded gap.
		var sent, selected int
		bounds := append(append([]time.Time{{}}, src.decided...), time.Time{})
		for i := range len(bounds) - 1 {
			sum, out, err := run(t, &replay.Replay{DSN: src.dsn, Target: dst.url, Secrets: secrets,
				Filter: replay.Filter{Since: bounds[i], Until: bounds[i+1]}, Pacing: replay.Pacing{OriginalTiming: true, Speed: 1}})
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, out)
			}
			sent, selected = sent+sum.Sent, selected+sum.Selected
			for _, res := range sum.Results {
				if res.HTTPStatus >= 300 || res.LogStatusFrom != replay.FromResponse || res.LogStatus != "accepted" {
					t.Errorf("delivery %d (%s): HTTP %d, %s from the %s", res.ID, res.Kind, res.HTTPStatus, res.LogStatus, res.LogStatusFrom)
				}
			}
			dst.settled()
		}
		if sent != selected || selected != src.count("webhook_log", "") {
			t.Fatalf("sent %d of %d, log has %d", sent, selected, src.count("webhook_log", ""))
		}
		if diff := replay.Diff(src.snapshot(), dst.snapshot()); len(diff) > 0 {
			t.Fatalf("the replayed server decided differently:\n%v", diff)
		}
		if a, b := len(src.fake.Messages()), len(dst.fake.Messages()); a != b || a == 0 {
			t.Errorf("text-backs sent: source %d, replay %d", a, b)
		}
		if n := dst.count("webhook_log", "replay_of IS NULL"); n != 0 {
			t.Errorf("%d deliveries on the target do not name the delivery they replay", n)
		}
	})
}

func TestReplayIntoSameServerIsDuplicate(t *testing.T) {
	forEachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		src := newRig(t, newDSN(t))
		src.recordRun()
		before, sent := src.snapshot(), len(src.fake.Messages())
		logged := src.count("webhook_log", "")
		sum, out, err := run(t, &replay.Replay{DSN: src.dsn, Target: src.url, Secrets: secrets, Pacing: replay.Pacing{Concurrency: 4}})
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, out)
		}
		if sum.Sent != logged {
			t.Fatalf("sent %d, log had %d", sum.Sent, logged)
		}
		for _, res := range sum.Results {
			if res.LogStatus != store.StatusDuplicate || res.LogStatusFrom != replay.FromLog || res.ReplayLogID <= int64(logged) {
				t.Errorf("delivery %d (%s): %s from the %s (row %d)", res.ID, res.Kind, res.LogStatus, res.LogStatusFrom, res.ReplayLogID)
			}
		}
		src.idle() // a wrong second text-back would be sent by now
		if n := len(src.fake.Messages()); n != sent {
			t.Errorf("fake Twilio got %d messages after the replay, %d before", n, sent)
		}
		if diff := replay.Diff(before, src.snapshot()); len(diff) > 0 {
			t.Errorf("replay changed the state: %v", diff)
		}
		if !strings.Contains(out, "duplicate") {
			t.Errorf("output does not show the log status:\n%s", out)
		}
	})
}

// TestReplayFailedAfterFault fails deliveries for a window with a fault in the database
// (a trigger refuses new call facts), so that they are logged `failed` with their
// evidence, as when a deploy broke a table; then fixes it and replays exactly those. A
// database that is down altogether cannot record the failures it causes, so that fault
// would leave nothing to replay.
func TestReplayFailedAfterFault(t *testing.T) {
	forEachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		src := newRig(t, newDSN(t))
		before := src.call(callerA, "no-answer")
		src.settled()
		if src.svc.Store.Driver() == store.Postgres {
			src.exec(`CREATE FUNCTION simulated_fault() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'simulated fault'; END $$`)
			src.exec(`CREATE TRIGGER fault BEFORE INSERT ON call_facts FOR EACH ROW EXECUTE FUNCTION simulated_fault()`)
		} else {
			src.exec(`CREATE TRIGGER fault BEFORE INSERT ON call_facts BEGIN SELECT RAISE(ABORT, 'simulated fault'); END`)
		}
		var failedSIDs []string
		for _, from := range []string{callerB, callerC} {
			sid := newSID("CA")
			failedSIDs = append(failedSIDs, sid)
			src.expect(503, src.post("/api/twilio/voice/inbound", callParams(sid, from, "CallStatus", "ringing")))
			src.expect(503, src.post("/api/twilio/voice/dial-complete", callParams(sid, from, "CallStatus", "in-progress",
				"DialCallStatus", "no-answer", "DialCallSid", newSID("CA"), "DialCallDuration", "0")))
		}
		src.sms(callerA, "still there?") // SMS does not touch call facts: unharmed
		failed := src.count("webhook_log", "status = 'failed'")
		if failed != 4 {
			t.Fatalf("%d deliveries logged failed, want 4", failed)
		}
		src.exec(`DROP TRIGGER fault` + map[bool]string{true: " ON call_facts", false: ""}[src.svc.Store.Driver() == store.Postgres])

		sum, out, err := run(t, &replay.Replay{DSN: src.dsn, Target: src.url, Secrets: secrets,
			Filter: replay.Filter{Statuses: []string{store.StatusFailed}}})
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, out)
		}
		if sum.Sent != failed {
			t.Fatalf("replayed %d deliveries, want the %d failed ones", sum.Sent, failed)
		}
		for _, res := range sum.Results {
			if res.OriginalStatus != store.StatusFailed || res.LogStatus != store.StatusProcessed {
				t.Errorf("delivery %d: %s -> %s", res.ID, res.OriginalStatus, res.LogStatus)
			}
		}
		src.settled()
		for _, sid := range failedSIDs {
			c, err := src.svc.Store.CallBySID(context.Background(), sid)
			if err != nil || c.Outcome != "missed" || c.TextbackStatus.String != "sent" {
				t.Errorf("call %s after the replay: %+v, %v", sid, c, err)
			}
		}
		if n := src.count("webhook_log", "replay_of IS NOT NULL"); n != failed {
			t.Errorf("%d replays logged, want %d", n, failed)
		}
		if n := len(src.fake.Messages()); n != 3 {
			t.Errorf("%d text-backs in all, want 3 (one per missed call)", n)
		}
		if c, _ := src.svc.Store.CallBySID(context.Background(), before); c.Outcome != "missed" {
			t.Errorf("the call before the fault: %s", c.Outcome)
		}
	})
}

// counter is a target that counts what reaches it.
func counter(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestReplaySafety(t *testing.T) {
	src := newRig(t, storetest.SQLite(t))
	src.call(callerA, "no-answer")
	src.settled()
	hits, n := counter(t, nil)
	landing, landed := counter(t, nil)
	redirect, _ := counter(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, landing.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	tests := []struct {
		name    string
		r       replay.Replay
		usage   bool   // a *UsageError
		wantOut string // in the output
		check   func(t *testing.T, sum replay.Summary)
	}{
		{name: "dry run sends nothing", r: replay.Replay{Target: hits.URL, DryRun: true},
			wantOut: "plan: 3 deliveries to " + hits.URL,
			check: func(t *testing.T, _ replay.Summary) {
				if n.Load() != 0 {
					t.Errorf("dry run sent %d requests", n.Load())
				}
			}},
		{name: "dry run counts per route", r: replay.Replay{Target: hits.URL, DryRun: true},
			wantOut: "/api/twilio/voice/dial-complete  processed  1"},
		{name: "non-loopback without --yes is refused", r: replay.Replay{Target: "https://hooks.example.com"}, usage: true},
		{name: "non-loopback declined", r: replay.Replay{Target: "https://hooks.example.com",
			Confirm: func(string) (bool, error) { return false, nil }}, usage: true},
		{name: "only http and https", r: replay.Replay{Target: "ftp://127.0.0.1/"}, usage: true},
		{name: "a target is needed", r: replay.Replay{}, usage: true},
		{name: "speed needs original timing", r: replay.Replay{Target: hits.URL, Pacing: replay.Pacing{Speed: 10}}, usage: true},
		{name: "redirect is not followed", r: replay.Replay{Target: redirect.URL, Secrets: secrets},
			check: func(t *testing.T, sum replay.Summary) {
				if landed.Load() != 0 {
					t.Errorf("the redirect was followed %d times", landed.Load())
				}
				for _, res := range sum.Results {
					if res.HTTPStatus != http.StatusTemporaryRedirect || res.LogStatus != "redirected" || res.Failed() {
						t.Errorf("delivery %d: HTTP %d %s", res.ID, res.HTTPStatus, res.LogStatus)
					}
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.DSN = src.dsn
			sum, out, err := run(t, &tt.r)
			var ue *replay.UsageError
			if tt.usage != errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error: %v", err, tt.usage)
			}
			if !tt.usage && err != nil {
				t.Fatalf("err = %v\n%s", err, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out)
			}
			if tt.check != nil {
				tt.check(t, sum)
			}
			if strings.Contains(out, testToken) || strings.Contains(out, stripeSecret) {
				t.Errorf("a secret was printed:\n%s", out)
			}
		})
	}
}

// TestAsRecordedToAnotherURLIsRejected sends the recorded signatures to a server at
// another URL: Twilio signed the source's URL, so the target must refuse them.
func TestAsRecordedToAnotherURLIsRejected(t *testing.T) {
	src := newRig(t, storetest.SQLite(t))
	src.call(callerA, "no-answer")
	src.settled()
	dst := newRig(t, storetest.SQLite(t))
	sum, out, err := run(t, &replay.Replay{DSN: src.dsn, Target: dst.url, AsRecorded: true})
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for _, res := range sum.Results {
		if res.HTTPStatus != http.StatusForbidden || res.LogStatus != store.StatusRejected || res.Failed() {
			t.Errorf("delivery %d: HTTP %d %s", res.ID, res.HTTPStatus, res.LogStatus)
		}
	}
	// A refused signature proves nothing of where a delivery came from: the target cannot
	// tell these from forgeries, so they are not recorded as replays.
	if n := dst.count("webhook_log", "status = 'rejected' AND signature = 'invalid' AND replay_of IS NULL"); n != sum.Sent || n == 0 {
		t.Errorf("%d rejected deliveries without replay marks on the target, want %d", n, sum.Sent)
	}
	if n := dst.count("calls", ""); n != 0 {
		t.Errorf("%d calls on the target", n)
	}
}

func TestInterruptReportsProgress(t *testing.T) {
	src := newRig(t, storetest.SQLite(t))
	for range 3 {
		src.call(callerA, "no-answer")
	}
	hits, n := counter(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	r := &replay.Replay{DSN: src.dsn, Target: hits.URL, Out: &out, Pacing: replay.Pacing{Rate: 20}}
	go func() {
		for n.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	sum, err := r.Run(ctx)
	if !errors.Is(err, replay.ErrInterrupted) {
		t.Fatalf("err = %v, want interrupted\n%s", err, out.String())
	}
	if !sum.Interrupted || sum.Sent < 3 || sum.Sent >= sum.Selected || int64(sum.Sent) != n.Load() {
		t.Fatalf("sent %d of %d (target saw %d)", sum.Sent, sum.Selected, n.Load())
	}
	if want := "interrupted: "; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "of 9 deliveries") {
		t.Errorf("output does not say how far it got:\n%s", out.String())
	}
}

// TestSingleReplaysOneDelivery is the log viewer's replay action.
func TestSingleReplaysOneDelivery(t *testing.T) {
	src := newRig(t, storetest.SQLite(t))
	src.call(callerA, "no-answer")
	src.settled()
	got, err := replay.Single{DSN: src.dsn, Target: src.url, Secrets: secrets}.Replay(context.Background(), 1)
	if err != nil || got != "HTTP 200, duplicate" {
		t.Fatalf("Replay = %q, %v", got, err)
	}
	if _, err := (replay.Single{DSN: src.dsn, Target: src.url}).Replay(context.Background(), 999); err == nil {
		t.Error("replaying an unknown delivery did not fail")
	}
}

// TestSingleCurlIsAcceptedByTheServer runs the viewer's "copy as curl" command with the
// real curl: the server verifies its signature and answers the delivery as a duplicate.
func TestSingleCurlIsAcceptedByTheServer(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	src := newRig(t, storetest.SQLite(t))
	src.call(callerA, "no-answer")
	src.settled()
	cmd, err := replay.Single{DSN: src.dsn, Target: src.url, Secrets: secrets}.Curl(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "HTTP/1.1 200") {
		t.Fatalf("answer:\n%s", out)
	}
	if n := src.count("webhook_log", "replay_of = 1 AND status = 'duplicate' AND signature = 'valid'"); n != 1 {
		t.Errorf("%d duplicate, validly signed replays of delivery 1 logged", n)
	}
	// (The test account SID happens to contain the test token's digits.)
	if strings.Contains(strings.ReplaceAll(cmd, testAccount, ""), testToken) {
		t.Error("the command holds the auth token")
	}
}
