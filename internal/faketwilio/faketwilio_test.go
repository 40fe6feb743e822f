package faketwilio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/twilio"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "0123456789abcdef0123456789abcdef"
	from       = "+15005550006"
	to         = "+15005550001"
)

// start serves a fake on loopback and returns it with a Sender pointed at it.
func start(t *testing.T, opts faketwilio.Options, sid, token string) (*faketwilio.Server, *twilio.Sender, string) {
	t.Helper()
	fake := faketwilio.New(opts)
	base, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	sender, err := twilio.NewSender(twilio.SenderConfig{AccountSID: sid, AuthToken: token, APIBaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	return fake, sender, base
}

func TestSendThroughFake(t *testing.T) {
	tests := []struct {
		name         string
		opts         faketwilio.Options
		script       []faketwilio.Response
		optOut       bool
		senderSID    string
		senderToken  string
		timeout      time.Duration
		wantKind     twilio.SendErrorKind // empty: success
		wantCode     int
		wantStatus   int
		wantRecorded int
		wantLookup   bool // Lookup finds the recorded message
	}{
		{name: "accepted", wantRecorded: 1, wantLookup: true},
		{name: "accepted with auth", opts: faketwilio.Options{AccountSID: accountSID, AuthToken: authToken},
			wantRecorded: 1, wantLookup: true},
		{name: "too many requests", script: []faketwilio.Response{faketwilio.TooManyRequests},
			wantKind: twilio.ErrKindRetrySafe, wantCode: 20429, wantStatus: 429},
		{name: "server error", script: []faketwilio.Response{faketwilio.ServerError},
			wantKind: twilio.ErrKindUnknown, wantCode: 20500, wantStatus: 500},
		{name: "accepted then server error", script: []faketwilio.Response{faketwilio.AcceptThenServerError},
			wantKind: twilio.ErrKindUnknown, wantCode: 20500, wantStatus: 500, wantRecorded: 1, wantLookup: true},
		{name: "scripted opt-out", script: []faketwilio.Response{faketwilio.OptedOut},
			wantKind: twilio.ErrKindPermanent, wantCode: 21610, wantStatus: 400},
		{name: "opted-out number", optOut: true,
			wantKind: twilio.ErrKindPermanent, wantCode: 21610, wantStatus: 400},
		{name: "script wins over opt-out", optOut: true, script: []faketwilio.Response{faketwilio.Accept},
			wantRecorded: 1, wantLookup: true},
		{name: "hang past the deadline", script: []faketwilio.Response{faketwilio.Hang}, timeout: 200 * time.Millisecond,
			wantKind: twilio.ErrKindUnknown},
		{name: "latency past the deadline", opts: faketwilio.Options{Latency: 5 * time.Second}, timeout: 200 * time.Millisecond,
			wantKind: twilio.ErrKindUnknown},
		{name: "wrong auth token", opts: faketwilio.Options{AccountSID: accountSID, AuthToken: authToken},
			senderToken: "wrongtoken", wantKind: twilio.ErrKindPermanent, wantCode: 20003, wantStatus: 401},
		{name: "other account", opts: faketwilio.Options{AccountSID: accountSID},
			senderSID: "AC99999999999999999999999999999999", wantKind: twilio.ErrKindPermanent, wantCode: 20404, wantStatus: 404},
		{name: "always failing", opts: faketwilio.Options{FailRate: 1},
			wantKind: twilio.ErrKindUnknown, wantCode: 20500, wantStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid, token := accountSID, authToken
			if tt.senderSID != "" {
				sid = tt.senderSID
			}
			if tt.senderToken != "" {
				token = tt.senderToken
			}
			fake, sender, _ := start(t, tt.opts, sid, token)
			fake.Script(tt.script...)
			if tt.optOut {
				fake.OptOut(to)
			}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			since := time.Now()
			begin := time.Now()
			res, err := sender.Send(ctx, from, to, "Sorry we missed your call.")
			if tt.timeout > 0 && time.Since(begin) > tt.timeout+time.Second {
				t.Errorf("Send took %s with a %s deadline", time.Since(begin), tt.timeout)
			}

			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if !strings.HasPrefix(res.SID, "SM") || len(res.SID) != 34 || res.Status != "queued" {
					t.Fatalf("result %+v", res)
				}
			} else {
				var se *twilio.SendError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want *SendError", err)
				}
				if se.Kind != tt.wantKind || se.Code != tt.wantCode || se.HTTPStatus != tt.wantStatus {
					t.Fatalf("got kind %s code %d status %d, want %s %d %d (%v)",
						se.Kind, se.Code, se.HTTPStatus, tt.wantKind, tt.wantCode, tt.wantStatus, err)
				}
			}

			msgs := fake.Messages()
			if len(msgs) != tt.wantRecorded || fake.Count() != tt.wantRecorded {
				t.Fatalf("recorded %d messages, want %d", len(msgs), tt.wantRecorded)
			}
			if fake.Requests() != 1 {
				t.Fatalf("Requests() = %d, want 1", fake.Requests())
			}
			if tt.wantRecorded == 0 {
				return
			}
			m := msgs[0]
			if m.From != from || m.To != to || m.Body != "Sorry we missed your call." || m.AccountSID != accountSID {
				t.Fatalf("recorded %+v", m)
			}
			if err == nil && m.SID != res.SID {
				t.Fatalf("recorded sid %s, answered %s", m.SID, res.SID)
			}
			got, found, lerr := sender.Lookup(context.Background(), from, to, "Sorry we missed your call.", since)
			if lerr != nil {
				t.Fatalf("Lookup: %v", lerr)
			}
			if found != tt.wantLookup || (found && got != m.SID) {
				t.Fatalf("Lookup = %q, %v; want %q, %v", got, found, m.SID, tt.wantLookup)
			}
		})
	}
}

// clock is a settable clock for the fake's message dates.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func TestLookup(t *testing.T) {
	now := time.Now().UTC()
	clk := &clock{now: now.Add(-3 * time.Hour)}
	fake, sender, _ := start(t, faketwilio.Options{Now: clk.Now}, accountSID, authToken)
	send := func(to, body string) string {
		t.Helper()
		res, err := sender.Send(context.Background(), from, to, body)
		if err != nil {
			t.Fatal(err)
		}
		return res.SID
	}
	// Same text long ago: must not count as this attempt.
	send(to, "Sorry we missed your call.")
	clk.Set(now)
	want := send(to, "Sorry we missed your call.")
	// Sixty newer messages push the target onto the second page.
	for i := range 60 {
		send(to, fmt.Sprintf("filler %d", i))
	}
	send("+15005550002", "Only to someone else")

	tests := []struct {
		name      string
		to, body  string
		since     time.Time
		wantSID   string
		wantFound bool
	}{
		{name: "found on a later page", to: to, body: "Sorry we missed your call.", since: now, wantSID: want, wantFound: true},
		{name: "since within the slack", to: to, body: "Sorry we missed your call.", since: now.Add(50 * time.Second), wantSID: want, wantFound: true},
		{name: "since after the send", to: to, body: "Sorry we missed your call.", since: now.Add(5 * time.Minute)},
		{name: "other body", to: to, body: "Sorry we missed your call!", since: now},
		{name: "other recipient", to: "+15005550002", body: "Sorry we missed your call.", since: now},
		{name: "other recipient's message", to: "+15005550002", body: "Only to someone else", since: now, wantFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid, found, err := sender.Lookup(context.Background(), from, tt.to, tt.body, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.wantFound || (tt.wantSID != "" && sid != tt.wantSID) {
				t.Fatalf("Lookup = %q, %v; want %q, %v", sid, found, tt.wantSID, tt.wantFound)
			}
		})
	}
	if fake.Count() != 63 {
		t.Fatalf("Count() = %d", fake.Count())
	}
}

func TestLookupReportsErrors(t *testing.T) {
	_, sender, _ := start(t, faketwilio.Options{AccountSID: accountSID, AuthToken: authToken}, accountSID, "wrongtoken")
	_, _, err := sender.Lookup(context.Background(), from, to, "x", time.Now())
	if twilio.KindOf(err) != twilio.ErrKindPermanent {
		t.Fatalf("err = %v, want a permanent *SendError", err)
	}
}

func TestRawAPI(t *testing.T) {
	fake, sender, base := start(t, faketwilio.Options{}, accountSID, authToken)
	res, err := sender.Send(context.Background(), from, to, "hello")
	if err != nil {
		t.Fatal(err)
	}
	messages := base + "/2010-04-01/Accounts/" + accountSID + "/Messages"

	tests := []struct {
		name       string
		method     string
		url        string
		form       url.Values
		wantStatus int
		wantCode   int
		check      func(t *testing.T, body map[string]any)
	}{
		{name: "fetch", method: http.MethodGet, url: messages + "/" + res.SID + ".json", wantStatus: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["sid"] != res.SID || b["body"] != "hello" || b["direction"] != "outbound-api" || b["num_segments"] != "1" {
					t.Errorf("resource %v", b)
				}
				if _, err := time.Parse(time.RFC1123Z, b["date_created"].(string)); err != nil {
					t.Errorf("date_created: %v", err)
				}
			}},
		{name: "fetch unknown", method: http.MethodGet, url: messages + "/SMnope.json", wantStatus: 404, wantCode: 20404},
		{name: "fetch other account", method: http.MethodGet,
			url: base + "/2010-04-01/Accounts/AC1/Messages/" + res.SID + ".json", wantStatus: 404, wantCode: 20404},
		{name: "list by date", method: http.MethodGet,
			url: messages + ".json?" + url.Values{"To": {to}, "DateSent>": {time.Now().UTC().Format(time.DateOnly)}}.Encode(), wantStatus: 200,
			check: func(t *testing.T, b map[string]any) {
				if ms := b["messages"].([]any); len(ms) != 1 || b["next_page_uri"] != nil || b["page_size"] != float64(50) {
					t.Errorf("page %v", b)
				}
			}},
		{name: "list before the message", method: http.MethodGet,
			url: messages + ".json?" + url.Values{"DateSent<": {"2001-01-01T00:00:00Z"}}.Encode(), wantStatus: 200,
			check: func(t *testing.T, b map[string]any) {
				if ms, _ := b["messages"].([]any); len(ms) != 0 {
					t.Errorf("page %v", b)
				}
			}},
		{name: "list with bad date", method: http.MethodGet, url: messages + ".json?DateSent%3E=yesterday", wantStatus: 400, wantCode: 20001},
		{name: "create without To", method: http.MethodPost, url: messages + ".json",
			form: url.Values{"From": {from}, "Body": {"x"}}, wantStatus: 400, wantCode: 21604},
		{name: "create without From", method: http.MethodPost, url: messages + ".json",
			form: url.Values{"To": {to}, "Body": {"x"}}, wantStatus: 400, wantCode: 21603},
		{name: "create with a messaging service", method: http.MethodPost, url: messages + ".json",
			form:       url.Values{"To": {to}, "MessagingServiceSid": {"MG1"}, "Body": {"✓"}, "StatusCallback": {"https://hooks.example.com/s"}},
			wantStatus: 201, check: func(t *testing.T, b map[string]any) {
				if b["messaging_service_sid"] != "MG1" || b["status"] != "queued" {
					t.Errorf("resource %v", b)
				}
			}},
		{name: "unknown route", method: http.MethodGet, url: base + "/2010-04-01/Accounts/" + accountSID + "/Calls.json",
			wantStatus: 404, wantCode: 20404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var err error
			if tt.method == http.MethodPost {
				resp, err = http.PostForm(tt.url, tt.form)
			} else {
				resp, err = http.Get(tt.url)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode != 0 && (body["code"] != float64(tt.wantCode) || body["status"] != float64(tt.wantStatus)) {
				t.Fatalf("error body %v, want code %d", body, tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
	if got := len(fake.SentTo(to)); got != 2 {
		t.Fatalf("SentTo = %d messages, want 2", got)
	}
}

func TestCloseReleasesHang(t *testing.T) {
	fake, sender, _ := start(t, faketwilio.Options{}, accountSID, authToken)
	fake.Script(faketwilio.Hang)
	done := make(chan error, 1)
	go func() {
		_, err := sender.Send(context.Background(), from, to, "x")
		done <- err
	}()
	for fake.Requests() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := fake.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if twilio.KindOf(err) != twilio.ErrKindUnknown {
			t.Fatalf("err = %v, want unknown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send still blocked after Close")
	}
	if fake.Count() != 0 {
		t.Fatal("a hung request was recorded")
	}
}

func TestFailRateIsSeededAndConsistent(t *testing.T) {
	run := func() (accepted, failed int) {
		fake, sender, _ := start(t, faketwilio.Options{FailRate: 0.5, Seed: 7}, accountSID, authToken)
		for range 40 {
			if _, err := sender.Send(context.Background(), from, to, "x"); err != nil {
				if twilio.KindOf(err) != twilio.ErrKindUnknown {
					t.Fatalf("err = %v", err)
				}
				failed++
			}
		}
		if fake.Count() != 40-failed || fake.Requests() != 40 {
			t.Fatalf("count %d requests %d failed %d", fake.Count(), fake.Requests(), failed)
		}
		return fake.Count(), failed
	}
	a1, f1 := run()
	a2, f2 := run()
	if a1 != a2 || f1 != f2 || f1 == 0 || a1 == 0 {
		t.Fatalf("runs differ or degenerate: %d/%d vs %d/%d", a1, f1, a2, f2)
	}
}

func TestConcurrentSendsAndReset(t *testing.T) {
	fake, sender, _ := start(t, faketwilio.Options{}, accountSID, authToken)
	fake.Script(faketwilio.TooManyRequests, faketwilio.TooManyRequests)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := sender.Send(context.Background(), from, fmt.Sprintf("+1500555%04d", i), "x")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	retrySafe := 0
	for err := range errs {
		if err != nil {
			if twilio.KindOf(err) != twilio.ErrKindRetrySafe {
				t.Fatalf("err = %v", err)
			}
			retrySafe++
		}
	}
	if retrySafe != 2 || fake.Count() != 18 || fake.Requests() != 20 {
		t.Fatalf("retry-safe %d, count %d, requests %d", retrySafe, fake.Count(), fake.Requests())
	}
	fake.OptOut(to)
	fake.Reset()
	if fake.Count() != 0 || fake.Requests() != 0 || len(fake.Messages()) != 0 {
		t.Fatal("Reset left state behind")
	}
	if _, err := sender.Send(context.Background(), from, to, "x"); err != nil {
		t.Fatalf("opt-out survived Reset: %v", err)
	}
}
