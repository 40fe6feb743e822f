// Package servicetest runs a whole CallSnare for tests: the real service over a real
// database, its HTTP handler on a loopback listener, and a fake Twilio that receives its
// text-backs. The server, replay and CLI tests drive it the way providers do.
package servicetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/storetest"
	"github.com/jmoiron/sqlx"
)

// The test account: webhooks are signed with AuthToken, Stripe events with StripeSecret.
const (
	AccountSID   = "AC0123456789abcdef0123456789abcdef"
	AuthToken    = "0123456789abcdef0123456789abcdef"
	StripeSecret = "whsec_test_5Zk0XbW9Lq2nRt7yVj3mPc8sDf1gHa6e"
)

// Service is a running service and what surrounds it.
type Service struct {
	*service.Service
	// URL is the loopback base URL, also the public URL signatures are checked against.
	URL string
	// Fake is the Twilio Messages API the text-backs go to, at FakeURL.
	Fake    *faketwilio.Server
	FakeURL string
	Config  service.Config

	dbOnce sync.Once
	db     *sqlx.DB
}

// Start runs a service on dsn until the test ends. tweak adjusts the configuration; the
// defaults are the production ones but for a queue that polls every 20 ms.
func Start(t testing.TB, dsn string, tweak ...func(*service.Config)) *Service {
	t.Helper()
	s := &Service{Fake: faketwilio.New(faketwilio.Options{})}
	var err error
	if s.FakeURL, err = s.Fake.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start fake twilio: %v", err)
	}
	t.Cleanup(func() { s.Fake.Close() })
	// The listener exists before the service, whose public URL is the listener's.
	var handler atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.Config = service.Config{
		DSN: dsn, PublicURL: s.URL,
		TwilioAccountSID: AccountSID, TwilioAuthToken: AuthToken, TwilioAPIBaseURL: s.FakeURL,
		StripeSecrets: []string{StripeSecret},
		Rules:         callflow.DefaultRules(),
		QueuePoll:     20 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&s.Config)
	}
	if s.Service, err = service.Start(context.Background(), s.Config, nil); err != nil {
		t.Fatalf("start service: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	handler.Store(s.Handler())
	return s
}

// DB is a plain connection to the service's database, for assertions on its tables; it
// is opened once and closed with the test that first asks for it.
func (s *Service) DB(t testing.TB) *sqlx.DB {
	t.Helper()
	s.dbOnce.Do(func() { s.db = storetest.Open(t, s.Config.DSN) })
	return s.db
}

// Count is the number of rows of table matching where (? placeholders), for assertions.
func (s *Service) Count(t testing.TB, table, where string, args ...any) int {
	t.Helper()
	db := s.DB(t)
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := db.Get(&n, db.Rebind(q), args...); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
