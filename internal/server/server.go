// Package server is CallSnare's HTTP surface: the provider webhook routes, health and
// metrics. Each delivery is verified by its provider adapter, turned into domain facts,
// committed with its evidence in one transaction, and only then answered.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/metrics"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
	"github.com/callsnare/callsnare/internal/twilio"
)

// Queue is what the handlers need of the job queue: enqueueing inside the transaction
// that decided the job, so that a job exists if and only if its decision was committed.
type Queue interface {
	EnqueueCallJobs(ctx context.Context, tx *store.Tx, c store.CallChange) error
	EnqueueNotify(ctx context.Context, tx *store.Tx, eventKey string) error
}

// Config holds the settings the routes read.
type Config struct {
	// PublicURL is the scheme and host Twilio calls us at (https://hooks.example.com); the
	// signature covers it. Empty means the request's own Host, fine only without a proxy.
	PublicURL string
	// Rules are the call rules: the dial timeout the answers carry, the settle window, the
	// text-back template.
	Rules callflow.Rules
	// Deadline bounds every delivery from receipt to answer (default 5s): past it the
	// answer is 503 with Retry-After, and nothing of the delivery is committed.
	Deadline time.Duration
	// MaxBody caps request bodies; larger ones get 413.
	MaxBody int64
	Twilio  *twilio.Verifier
	// TwilioAccountSID is the main Twilio account: the owner of every org not bound to a
	// subaccount of its own.
	TwilioAccountSID string
	// Stripe checks Stripe-Signature; without secrets, deliveries are accepted unchecked.
	Stripe *stripe.Verifier
	// FailedSignatureRate and FailedSignatureBurst limit failed signatures per remote
	// address: past the burst, refilled at the rate per second, such deliveries are
	// answered 429 and not stored. Zero means 1 per second with a burst of 20; a negative
	// burst turns the limit off.
	FailedSignatureRate  float64
	FailedSignatureBurst int
}

// Server carries the handlers' dependencies.
type Server struct {
	cfg     Config
	store   *store.Store
	queue   Queue
	metrics *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
	limit   *failLimiter
}

// Deps are the collaborators of the server.
type Deps struct {
	Store   *store.Store
	Queue   Queue
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// New builds the server; Handler gives its routes.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Rules.DialTimeout <= 0 {
		cfg.Rules.DialTimeout = 20 * time.Second
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = store.DefaultWriteDeadline
	}
	if cfg.Twilio == nil {
		cfg.Twilio = twilio.NewVerifier("", nil)
	}
	if cfg.Stripe == nil {
		cfg.Stripe = stripe.NewVerifier(nil, 0, nil)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.FailedSignatureBurst == 0 {
		cfg.FailedSignatureRate, cfg.FailedSignatureBurst = 1, 20
	}
	return &Server{cfg: cfg, store: d.Store, queue: d.Queue, metrics: d.Metrics, log: d.Logger, now: d.Now,
		limit: newFailLimiter(cfg.FailedSignatureRate, cfg.FailedSignatureBurst, 10000)}
}

// publicBase is the scheme and host a request was sent to, as the provider saw it.
func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// handleReadyz is GET /readyz: ready when the database answers and takes writes (a
// SQLite lock held elsewhere, or a read-only PostgreSQL, is not ready), within two seconds.
func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("database unavailable\n"))
			return
		}
		if err := s.store.Ready(ctx); err != nil {
			s.log.Warn("not_ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("database not taking writes\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
