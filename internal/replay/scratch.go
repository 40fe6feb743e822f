package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// neverSettle is the scratch service's own settle window: it never settles a call by
// itself. Verify applies the settle facts the source recorded, at their place in the
// timeline, so that a call settles in the scratch exactly where it did in the source.
const neverSettle = 100 * 365 * 24 * time.Hour

// scratchAccount is the account the scratch service sends its text-backs from, to a fake.
const scratchAccount = "AC00000000000000000000000000000000"

// clock is the recorded time a scratch service runs on, moved by Verify.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// scratch is an in-process service over a fresh database, on loopback, sending its
// text-backs to a fake Twilio.
type scratch struct {
	svc     *service.Service
	http    *httptest.Server
	fake    *faketwilio.Server
	secrets Secrets
	clock   *clock
	rules   callflow.Rules // what the scratch service decides with
}

// startScratch starts the scratch service with the rules of the source's configuration and
// the secrets a replay signs with (random ones where none are configured: the scratch is
// verified like any server, but nothing outside it needs to know them).
func startScratch(ctx context.Context, dsn string, rules callflow.Rules, secrets Secrets, log *slog.Logger) (*scratch, error) {
	if secrets.TwilioAuthToken == "" {
		secrets.TwilioAuthToken = randomToken()
	}
	if len(secrets.StripeSecrets) == 0 {
		secrets.StripeSecrets = []string{"whsec_" + randomToken()}
	}
	// Text-backs are decided right after their call (see Verify), and calls settle where
	// the source's timeline says.
	rules.TextbackDelay, rules.Settle = 0, neverSettle
	sc := &scratch{secrets: secrets, clock: &clock{t: time.Now()}, rules: rules}
	sc.fake = faketwilio.New(faketwilio.Options{})
	fakeURL, err := sc.fake.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start fake twilio: %w", err)
	}
	sc.http = httptest.NewUnstartedServer(nil)
	base := "http://" + sc.http.Listener.Addr().String()
	sc.svc, err = service.Start(ctx, service.Config{
		DSN: dsn, PublicURL: base,
		TwilioAccountSID: scratchAccount, TwilioAuthToken: secrets.TwilioAuthToken,
		TwilioSubaccountTokens: secrets.TwilioSubaccountTokens, TwilioAPIBaseURL: fakeURL,
		StripeSecrets: secrets.StripeSecrets,
		Rules:         rules,
		QueuePoll:     10 * time.Millisecond, Now: sc.clock.now,
	}, log)
	if err != nil {
		sc.http.Close()
		sc.fake.Close()
		return nil, fmt.Errorf("start scratch service: %w", err)
	}
	sc.http.Config.Handler = sc.svc.Handler()
	sc.http.Start()
	return sc, nil
}

func (sc *scratch) url() string { return sc.http.URL }

// sourceAccount is the Twilio account an org's numbers belong to at the source. An org of
// the source's main account names none; the scratch has a main account of its own, so the
// copy is bound to the account the org's verified deliveries came from.
func sourceAccount(ctx context.Context, src *store.Store, o store.Org) (string, error) {
	if o.TwilioAccount != "" {
		return o.TwilioAccount, nil
	}
	body, err := src.LatestAcceptedTwilioBody(ctx, o.ID)
	if err != nil {
		return "", fmt.Errorf("account of org %s: %w", o.Slug, err)
	}
	if p, err := twilio.ParseForm(body); err == nil {
		return p["AccountSid"], nil
	}
	return "", nil
}

func (sc *scratch) close() error {
	sc.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(sc.svc.Close(ctx), sc.fake.Close())
}

// copyOrgs provisions the source's orgs in the scratch database as they are: slug, name,
// numbers, forward-to, settings and Stripe customer.
func (sc *scratch) copyOrgs(ctx context.Context, src *store.Store) error {
	orgs, err := src.Orgs(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		account, err := sourceAccount(ctx, src, o)
		if err != nil {
			return err
		}
		_, err = sc.svc.Store.CreateOrg(ctx, store.NewOrg{
			Slug: o.Slug, Name: o.Name, Timezone: o.Timezone, ForwardTo: o.ForwardTo,
			TextbackTemplate: o.TextbackTemplate, StripeCustomerID: o.StripeCustomerID.String,
			Numbers: o.Numbers, MinAnswerSeconds: o.MinAnswerSeconds, TextbackDisabled: !o.TextbackEnabled,
			NotifyNumber: o.NotifyNumber, Hours: o.Hours, AfterHoursTemplate: o.AfterHoursTemplate,
			UrgentKeywords: o.UrgentKeywords,
			TwilioAccount:  account,
		}, o.CreatedAt.Time)
		if err != nil {
			return fmt.Errorf("copy org %s: %w", o.Slug, err)
		}
	}
	return nil
}

// drainTimeout bounds the wait for the scratch's due jobs after one delivery.
const drainTimeout = 30 * time.Second

// drain waits until the scratch's queue is idle: text-backs are decided before the next
// delivery, as they are within a poll interval in production (textback.delay 0). Settle
// jobs scheduled for later do not count.
func (sc *scratch) drain(ctx context.Context) error {
	deadline := time.Now().Add(drainTimeout)
	for {
		idle, err := sc.svc.Queue.Idle(ctx)
		if err != nil {
			return fmt.Errorf("scratch queue: %w", err)
		}
		if idle {
			return nil
		}
		if time.Now().After(deadline) {
			n, _ := sc.svc.Queue.Pending(ctx)
			return fmt.Errorf("scratch jobs not done after %s: %d left", drainTimeout, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ownMessageSID points a message status callback at the scratch's own send of the same
// text-back: Twilio gave the source's send a SID of its own, which the scratch never saw.
// A callback the source could not tie to a text-back is replayed as it was.
func (sc *scratch) ownMessageSID(ctx context.Context, e store.Evidence) (store.Evidence, error) {
	if e.CallSID == "" {
		return e, nil
	}
	msgs, err := sc.svc.Store.MessagesOfCall(ctx, e.CallSID)
	if err != nil {
		return e, fmt.Errorf("text-back of %s: %w", e.CallSID, err)
	}
	params, err := twilio.ParseForm(e.Body)
	if err != nil || len(msgs) == 0 || !msgs[0].SID.Valid {
		return e, nil
	}
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	for _, k := range []string{"MessageSid", "SmsSid"} {
		if form.Has(k) {
			form.Set(k, msgs[0].SID.String)
		}
	}
	e.Body = []byte(form.Encode())
	return e, nil
}
