package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/callsnare/callsnare/internal/twilio"
)

// TestDeadlineWithSQLiteLockHeld holds SQLite's write lock from another connection for
// longer than the delivery deadline: every delivery is answered 503 with Retry-After while
// the lock is still held (never a 2xx, nothing of it stored), /readyz says the database is
// not taking writes, and once the lock is released the same deliveries are applied.
func TestDeadlineWithSQLiteLockHeld(t *testing.T) {
	dsn := storetest.SQLite(t)
	h := newHarness(t, dsn, func(c *service.Config) { c.Deadline = time.Second })

	other, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(1000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
				t.Fatalf("release the write lock: %v", err)
			}
		}
	}
	defer release()

	calls := make([]call, 6)
	for i := range calls {
		calls[i] = h.newCall("+1512555" + string(rune('0'+i)) + "123")
	}
	type result struct {
		code       int
		retryAfter string
		err        error
	}
	results := make([]result, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, hdr, err := postSigned(h, RouteInbound, c.params("CallStatus", "ringing"))
			results[i] = result{code, hdr.Get("Retry-After"), err}
		}()
	}
	wg.Wait() // every answer is in, and the lock was never released meanwhile
	for i, r := range results {
		if r.err != nil || r.code != http.StatusServiceUnavailable || r.retryAfter == "" {
			t.Errorf("delivery %d: status %d, Retry-After %q, err %v; want 503 with Retry-After while the lock is held",
				i, r.code, r.retryAfter, r.err)
		}
	}
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the write lock held elsewhere: %d, want 503", resp.StatusCode)
	}

	release()
	if n := h.count("calls", ""); n != 0 {
		t.Errorf("%d calls stored from deliveries answered 503", n)
	}
	if n := h.count("webhook_log", "status = 'processed'"); n != 0 {
		t.Errorf("%d deliveries logged processed although answered 503", n)
	}
	for _, c := range calls { // Twilio's retry, once the database takes writes again
		h.expect(200)(h.inbound(c))
	}
	if n := h.count("calls", ""); n != len(calls) {
		t.Errorf("%d calls after the retries, want %d", n, len(calls))
	}
	resp, err = http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after the lock was released: %d, want 200", resp.StatusCode)
	}
}

// RouteInbound is the voice route the deadline tests post to.
const RouteInbound = "/api/twilio/voice/inbound"

// postSigned posts a signed callback and returns the status and headers of the answer.
func postSigned(h *harness, route string, p twilio.Params) (int, http.Header, error) {
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	req, err := http.NewRequest(http.MethodPost, h.url+route, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(testToken, h.url+route, p))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}
