// Package demo makes `serve --demo` show the whole product with no accounts: demo orgs,
// a built-in fake Twilio for text-backs, and one missed call played against the server.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/callsnare/callsnare/fixtures"
	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// The demo's Twilio account; the token signs the sample call, so the server checks real
// signatures even in the demo.
const (
	AccountSID = "AC00000000000000000000000000000de0"
	AuthToken  = "demo0auth0token0not0a0secret0000"
)

// Demo is a fake Twilio and the sample traffic.
type Demo struct {
	fake     *faketwilio.Server
	baseURL  string
	log      *slog.Logger
	token    string
	signBase string
	dsn      string // for the hint at the end; a SQLite path holds no secret
	// Program is how the closing hint names the binary: as it was started (bin/callsnare
	// under make, callsnare from the PATH), so that the hint works as printed.
	Program string
}

// New starts the fake Twilio on a loopback port.
func New(log *slog.Logger) (*Demo, error) {
	fake := faketwilio.New(faketwilio.Options{Logger: log})
	base, err := fake.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start fake twilio: %w", err)
	}
	return &Demo{fake: fake, baseURL: base, log: log, Program: os.Args[0]}, nil
}

// Configure points the service's text-backs at the fake and, when no Twilio account is
// configured, uses the demo account.
func (d *Demo) Configure(cfg *service.Config) {
	cfg.TwilioAPIBaseURL = d.baseURL
	if cfg.TwilioAccountSID == "" {
		cfg.TwilioAccountSID = AccountSID
	}
	if cfg.TwilioAuthToken == "" {
		cfg.TwilioAuthToken = AuthToken
	}
	d.token = cfg.TwilioAuthToken
	d.log.Info("demo_fake_twilio", "api_base_url", d.baseURL)
}

// Close stops the fake Twilio.
func (d *Demo) Close() error { return d.fake.Close() }

// Seed provisions the demo orgs that are not there yet.
func Seed(ctx context.Context, st *store.Store, now time.Time) ([]store.Org, error) {
	orgs, err := fixtures.DemoOrgs()
	if err != nil {
		return nil, err
	}
	var out []store.Org
	for _, o := range orgs {
		org, err := st.OrgBySlug(ctx, o.Slug)
		if errors.Is(err, store.ErrNotFound) {
			org, err = st.CreateOrg(ctx, store.NewOrg{Slug: o.Slug, Name: o.Name, Timezone: o.Timezone,
				ForwardTo: o.ForwardTo, Numbers: o.Numbers, StripeCustomerID: o.StripeCustomerID}, now)
		}
		if err != nil {
			return nil, fmt.Errorf("seed demo org %s: %w", o.Slug, err)
		}
		out = append(out, org)
	}
	return out, nil
}

// Play seeds the demo orgs and plays one missed call and the caller's reply against the
// server at target, signed for signBase (the server's public URL), logging each step and
// the text-back the fake Twilio received.
func (d *Demo) Play(ctx context.Context, target, signBase, dsn string, st *store.Store) {
	d.signBase, d.dsn = signBase, dsn
	if err := d.play(ctx, target, st); err != nil && ctx.Err() == nil {
		d.log.Error("demo_failed", "err", err)
	}
}

func (d *Demo) play(ctx context.Context, base string, st *store.Store) error {
	orgs, err := Seed(ctx, st, time.Now())
	if err != nil {
		return err
	}
	org := orgs[0]
	callSID := fmt.Sprintf("CA%032x", time.Now().UnixNano())
	// A new caller each run, so that a second demo on the same database is not held back
	// by the first one's cooldown (and if it is, the log says so).
	caller := fmt.Sprintf("+151255501%02d", 20+rand.IntN(80))
	common := twilio.Params{"AccountSid": AccountSID, "CallSid": callSID, "From": caller, "To": org.Numbers[0],
		"Caller": caller, "Called": org.Numbers[0], "Direction": "inbound", "ApiVersion": "2010-04-01"}
	steps := []struct {
		route string
		extra twilio.Params
		note  string
	}{
		{"/api/twilio/voice/inbound", twilio.Params{"CallStatus": "ringing"}, "a homeowner calls; we forward the call to the owner"},
		{"/api/twilio/voice/dial-complete", twilio.Params{"CallStatus": "in-progress", "DialCallStatus": "no-answer", "DialCallSid": fmt.Sprintf("CA%032x", time.Now().UnixNano()+1)}, "nobody picks up"},
		{"/api/twilio/voice/status", twilio.Params{"CallStatus": "completed", "CallDuration": "24"}, "the call ends"},
	}
	d.log.Info("demo_call", "org", org.Slug, "from", caller, "to", org.Numbers[0], "call_sid", callSID)
	for _, s := range steps {
		p := twilio.Params{}
		for k, v := range common {
			p[k] = v
		}
		for k, v := range s.extra {
			p[k] = v
		}
		status, body, err := d.post(ctx, base, s.route, p)
		if err != nil {
			return err
		}
		d.log.Info("demo_step", "note", s.note, "route", s.route, "status", status, "answer", body)
	}
	msg, err := waitForTextback(ctx, st, callSID, 10*time.Second)
	if err != nil {
		return err
	}
	if msg.Status != store.TextbackSent {
		d.log.Info("demo_textback_not_sent", "status", msg.Status, "reason", msg.Reason)
		return nil
	}
	for _, m := range d.fake.SentTo(caller) {
		d.log.Info("demo_textback_sent", "sid", m.SID, "from", m.From, "to", m.To, "body", m.Body)
	}
	reply := twilio.Params{"AccountSid": AccountSID, "MessageSid": fmt.Sprintf("SM%032x", time.Now().UnixNano()),
		"From": caller, "To": org.Numbers[0], "Body": "Yes please, my AC is blowing warm air", "NumMedia": "0"}
	status, _, err := d.post(ctx, base, "/api/twilio/sms/inbound", reply)
	if err != nil {
		return err
	}
	d.log.Info("demo_step", "note", "the caller replies; the message joins the lead's thread", "route", "/api/twilio/sms/inbound", "status", status)
	db := ""
	if !strings.HasPrefix(d.dsn, "postgres") && d.dsn != "callsnare.db" {
		db = " --db " + d.dsn
	}
	d.log.Info("demo_done", "see", fmt.Sprintf("%s calls --org %s%s; %s leads --org %s%s", d.Program, org.Slug, db, d.Program, org.Slug, db))
	return nil
}

func (d *Demo) post(ctx context.Context, base, route string, p twilio.Params) (int, string, error) {
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+route, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(d.token, d.signBase+route, p))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post %s: %w", route, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// waitForTextback waits until the call's text-back is decided: sent, suppressed (with its
// reason) or failed.
func waitForTextback(ctx context.Context, st *store.Store, callSID string, within time.Duration) (store.Message, error) {
	deadline := time.Now().Add(within)
	for {
		s, err := st.TextbackState(ctx, callSID, 0, time.Now())
		if err == nil {
			switch s.Message.Status {
			case store.TextbackSent, store.TextbackSuppressed, store.TextbackFailed:
				return s.Message, nil
			}
		}
		if time.Now().After(deadline) {
			return store.Message{}, fmt.Errorf("the text-back of %s was not decided within %s", callSID, within)
		}
		select {
		case <-ctx.Done():
			return store.Message{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
