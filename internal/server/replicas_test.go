package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestTwoReplicasOnePostgres runs two services on one PostgreSQL database, as production
// runs replicas behind a load balancer, and sends every callback of each call to both at
// once: still one call, one lead and one text-back per call.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := storetest.Postgres(t)
	a := newHarness(t, dsn)
	b := newHarness(t, dsn, func(c *service.Config) { c.TwilioAPIBaseURL = a.fakeURL() })
	b.org = a.org
	const calls = 20
	var wg sync.WaitGroup
	cs := make([]call, calls)
	for i := range cs {
		cs[i] = a.newCall(fmt.Sprintf("+1512555%04d", 2000+i))
	}
	for _, c := range cs {
		for _, h := range []*harness{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, step := range []func() (int, string){
					func() (int, string) { return h.inbound(c) },
					func() (int, string) { return h.dialComplete(c, "no-answer", 0) },
					func() (int, string) { return h.status(c, "completed") },
				} {
					if code, body := step(); code >= 300 {
						t.Errorf("status %d: %s", code, body)
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, c := range cs {
		if msg := a.textback(c); msg.Status != "sent" {
			t.Errorf("%s: text-back %s (%s)", c.sid, msg.Status, msg.Reason)
		}
	}
	a.idle() // both replicas share the queue: a second text-back would be sent by now
	if n := a.count("calls", ""); n != calls {
		t.Errorf("%d calls, want %d", n, calls)
	}
	if n := a.count("leads", ""); n != calls {
		t.Errorf("%d leads, want %d", n, calls)
	}
	if n := a.count("messages", "direction = 'outbound'"); n != calls {
		t.Errorf("%d text-backs, want %d", n, calls)
	}
	for name, h := range map[string]*harness{"a": a, "b": b} {
		if st := h.svc.Store.WriteStats(); st.Deadlocks != 0 || st.Serialization != 0 {
			t.Errorf("replica %s: %d deadlocks, %d serialization failures; want none", name, st.Deadlocks, st.Serialization)
		}
	}
	if n := a.fake.Count(); n != calls {
		t.Errorf("fake Twilio got %d messages, want %d", n, calls)
	}
	if n := a.count("webhook_log", "status = 'processed'"); n != 3*calls {
		t.Errorf("%d processed deliveries, want %d", n, 3*calls)
	}
	if n := a.count("webhook_log", "status = 'duplicate'"); n != 9*calls {
		t.Errorf("%d duplicate deliveries, want %d", n, 9*calls)
	}
}

// TestDatabaseDownAnswers503 takes PostgreSQL away under a running service: deliveries get
// 503 (never a 2xx, so Twilio retries), and once it is back the same delivery succeeds.
func TestDatabaseDownAnswers503(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn, proxy := storetest.PostgresBehindProxy(t)
		h := newHarness(t, dsn)
		c := h.newCall(callerPhone)
		proxy.Down()
		for range 3 {
			code, body := h.inbound(c)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("with the database down: %d %s", code, body)
			}
			parseTwiML(t, body)
		}
		if code, _ := h.raw(http.MethodGet, "/readyz", "", "", nil); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d with the database down", code)
		}
		proxy.Up()
		h.expect(200)(h.inbound(c))
		if n := h.count("calls", ""); n != 1 {
			t.Errorf("%d calls after recovery", n)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		c := h.newCall(callerPhone)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.svc.Close(ctx) // the database goes away under the running server
		code, body := h.inbound(c)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("with the database closed: %d %s", code, body)
		}
	})
}
