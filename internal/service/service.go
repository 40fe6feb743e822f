// Package service assembles a running CallSnare: the store, the job queue with its SMS
// sender, the metrics and the HTTP server. `serve` runs it on a port; `simulate
// --embedded` and `replay --verify` run it in process.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/jobs"
	"github.com/callsnare/callsnare/internal/metrics"
	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
	"github.com/callsnare/callsnare/internal/twilio"
)

// Config is what a running service needs.
type Config struct {
	DSN       string
	PublicURL string

	TwilioAccountSID       string
	TwilioAuthToken        string
	TwilioSubaccountTokens map[string]string
	TwilioAPIBaseURL       string

	StripeSecrets   []string
	StripeTolerance time.Duration

	// Rules are the call and text-back rules, built once from the configuration.
	Rules callflow.Rules
	// Deadline bounds every delivery from receipt to answer (default 5s); SQLite's busy
	// timeout is bounded by it too.
	Deadline time.Duration

	// QueuePoll is how often idle workers look for jobs (default 100ms).
	QueuePoll time.Duration
	// NoWorkers builds a service that enqueues but never sends (tests of the HTTP layer).
	NoWorkers bool
	// Now is the clock of the routes and the jobs; nil means time.Now. `replay --verify`
	// runs a scratch service on the recorded clock, so that time-dependent rules (the
	// text-back cooldown) decide as they did when the evidence arrived.
	Now func() time.Time
}

// Service is a running CallSnare.
type Service struct {
	Store   *store.Store
	Queue   *jobs.Queue
	Metrics *metrics.Metrics
	Server  *server.Server
	log     *slog.Logger
}

// Start opens and migrates the database, starts the queue's workers and builds the
// server. Close stops it all.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = store.DefaultWriteDeadline
	}
	st, err := store.Open(ctx, cfg.DSN, store.Options{Logger: log, BusyTimeout: cfg.Deadline})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.Warm(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.Rehearse(ctx, cfg.Rules); err != nil {
		// Only the first deliveries' speed depends on it.
		log.Warn("rehearsal_failed", "err", err)
	}
	if !cfg.NoWorkers && (cfg.TwilioAccountSID == "" || cfg.TwilioAuthToken == "") {
		// A server without Twilio credentials still takes every callback and records every
		// decision; the text-backs wait in the queue for a server that can send them.
		log.Warn("TEXT-BACKS NOT SENT: set twilio.account_sid and twilio.auth_token; until then missed calls are recorded and their text-backs wait in the queue")
		cfg.NoWorkers = true
	}
	var sender jobs.Sender
	if !cfg.NoWorkers {
		s, err := twilio.NewSender(twilio.SenderConfig{
			AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, APIBaseURL: cfg.TwilioAPIBaseURL,
			StatusCallback: statusCallback(cfg.PublicURL),
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("twilio sender: %w", err)
		}
		sender = s
	}
	svc := &Service{Store: st, log: log}
	svc.Metrics = metrics.New(func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := svc.Queue.Pending(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	svc.Metrics.WatchWrites(func() metrics.WriteStats {
		w := st.WriteStats()
		return metrics.WriteStats{Deadlocks: w.Deadlocks, Serialization: w.Serialization, Expired: w.Expired,
			Units: w.Units, Commits: w.Commits, RoundTrips: w.RoundTrips}
	})
	svc.Queue, err = jobs.New(jobs.Config{Rules: cfg.Rules, PollInterval: cfg.QueuePoll}, jobs.Deps{Store: st, Sender: sender, Metrics: svc.Metrics, Logger: log, Now: cfg.Now})
	if err != nil {
		st.Close()
		return nil, err
	}
	if sender != nil {
		if err := svc.Queue.Start(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	svc.Server = server.New(server.Config{
		PublicURL:        cfg.PublicURL,
		Rules:            cfg.Rules,
		Deadline:         cfg.Deadline,
		Twilio:           twilio.NewVerifier(cfg.TwilioAuthToken, cfg.TwilioSubaccountTokens),
		TwilioAccountSID: cfg.TwilioAccountSID,
		Stripe:           stripe.NewVerifier(cfg.StripeSecrets, cfg.StripeTolerance, nil),
	}, server.Deps{Store: st, Queue: svc.Queue, Metrics: svc.Metrics, Logger: log, Now: cfg.Now})
	return svc, nil
}

// HTTPServer wraps a handler in the server `serve` runs: providers send small bodies at
// once, so a client that dribbles its headers or body, or never reads the answer, is cut
// off instead of holding a connection. The write timeout sits well above the delivery
// deadline, so that an answer decided by the deadline always goes out: a connection is
// never closed without an answer after a commit.
func HTTPServer(h http.Handler, deadline time.Duration) *http.Server {
	if deadline <= 0 {
		deadline = store.DefaultWriteDeadline
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       deadline,
		WriteTimeout:      deadline + 10*time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Handler is the service's HTTP surface.
func (s *Service) Handler() http.Handler { return s.Server.Handler() }

// Close lets running jobs finish until ctx ends, then closes the database.
func (s *Service) Close(ctx context.Context) error {
	return errors.Join(s.Queue.Stop(ctx), s.Store.Close())
}

// statusCallback is where Twilio reports the delivery of our text-backs; without a public
// URL Twilio has nowhere to call, and text-backs stay "sent".
func statusCallback(publicURL string) string {
	if publicURL == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + server.RouteSMSStatus
}
