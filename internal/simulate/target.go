package simulate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/store"
)

// target is the server the run talks to, its database, and the fake Twilio, if any.
type target struct {
	url     string
	account string
	token   string
	secrets []string
	store   *store.Store
	fake    *faketwilio.Server
	fakeURL string
	// observe arranges for seen to hear of each text-back that went out, so that callers can answer it.
	observe func(ctx context.Context, seen func(sid, from, to string))
	closers []func()
}

func (t *target) close() {
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// open starts or connects to the target.
func (s *sim) open(ctx context.Context) (*target, error) {
	t := &target{}
	var texts func(sid, from, to string)
	onText := func(sid, from, to string) {
		if texts != nil {
			texts(sid, from, to)
		}
	}
	if s.o.Embedded || s.o.FakeTwilioAddr != "" {
		t.fake = faketwilio.New(faketwilio.Options{
			FailRate: s.o.TwilioFailRate, Latency: s.o.TwilioLatency, Seed: int64(s.o.Seed),
			OnAccept: func(m faketwilio.Message) { onText(m.SID, m.From, m.To) },
		})
		addr := s.o.FakeTwilioAddr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		u, err := t.fake.Start(addr)
		if err != nil {
			return nil, err
		}
		t.fakeURL = u
		t.closers = append(t.closers, func() { _ = t.fake.Close() })
		t.observe = func(ctx context.Context, seen func(sid, from, to string)) { texts = seen }
	}
	var err error
	if s.o.Embedded {
		err = s.openEmbedded(ctx, t)
	} else {
		err = s.openTarget(ctx, t)
	}
	if err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// openEmbedded starts the whole service in process on a temporary SQLite database, with
// signatures on (fresh secrets) and text-backs going to the fake Twilio.
func (s *sim) openEmbedded(ctx context.Context, t *target) error {
	dir, err := os.MkdirTemp("", "callsnare-simulate-")
	if err != nil {
		return fmt.Errorf("embedded server: %w", err)
	}
	t.closers = append(t.closers, func() { _ = os.RemoveAll(dir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("embedded server: %w", err)
	}
	t.url = "http://" + ln.Addr().String()
	cfg := service.Config{
		DSN: filepath.Join(dir, "callsnare.db"), PublicURL: t.url,
		TwilioAccountSID: s.ids.sid("AC", "account"), TwilioAuthToken: randomHex(32), TwilioAPIBaseURL: t.fakeURL,
		StripeSecrets: []string{"whsec_" + randomHex(32)}, StripeTolerance: s.o.StripeTolerance,
		Rules: s.o.Rules, QueuePoll: 20 * time.Millisecond,
	}
	if s.o.Embed.Config != nil {
		s.o.Embed.Config(&cfg)
	}
	// The embedded server logs warnings only: its per-delivery lines would bury the report.
	svc, err := service.Start(ctx, cfg, slog.New(warnOnly{s.o.Logger.Handler()}))
	if err != nil {
		ln.Close()
		return fmt.Errorf("embedded server: %w", err)
	}
	var h http.Handler = svc.Handler()
	if s.o.Embed.Wrap != nil {
		h = s.o.Embed.Wrap(h, cfg)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.closers = append(t.closers, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(cctx)
		_ = svc.Close(cctx)
	})
	t.store, t.account, t.token, t.secrets = svc.Store, cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.StripeSecrets
	return nil
}

// openTarget connects to a running server's database to provision and verify. Without a
// fake Twilio of our own, text-backs are seen in the database as they are marked sent.
func (s *sim) openTarget(ctx context.Context, t *target) error {
	st, err := store.Open(ctx, s.o.DSN, store.Options{Logger: s.o.Logger})
	if err != nil {
		return fmt.Errorf("open target database: %w", err)
	}
	t.closers = append(t.closers, func() { _ = st.Close() })
	t.url, t.store, t.token, t.secrets = s.o.Target, st, s.o.TwilioAuthToken, s.o.StripeSecrets
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("target database: %w", err)
	}
	resp, err := http.Get(s.o.Target + "/healthz")
	if err != nil {
		return fmt.Errorf("target %s: %w", s.o.Target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("target %s: /healthz answered %d", s.o.Target, resp.StatusCode)
	}
	if t.fake == nil {
		t.observe = func(ctx context.Context, seen func(sid, from, to string)) { go s.pollSent(ctx, st, seen) }
	}
	return nil
}

// pollSent reports text-backs of the run's orgs as the database marks them sent.
func (s *sim) pollSent(ctx context.Context, st *store.Store, seen func(sid, from, to string)) {
	known := map[string]bool{}
	ids := make([]int64, len(s.orgs))
	for i, o := range s.orgs {
		ids[i] = o.ID
	}
	for ctx.Err() == nil && !s.stopping.Load() {
		rows, err := st.Textbacks(ctx, ids, store.TextbackSent)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.o.Logger.Warn("simulate_poll_failed", "err", err)
		}
		for _, r := range rows {
			if !known[r.SID.String] {
				known[r.SID.String] = true
				seen(r.SID.String, r.From, r.To)
			}
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// warnOnly passes on warnings and errors.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }
func (h warnOnly) WithGroup(name string) slog.Handler    { return warnOnly{h.Handler.WithGroup(name)} }
