package simulate

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/stripe"
)

// planStripe retargets the lifecycle fixtures (checkout, trial, active, payment failed,
// past due, recovered, canceled) to each billed org and schedules them over span, in
// Stripe's order except where the reorder fault swaps two events.
func (s *sim) planStripe(t0 time.Time, span time.Duration) error {
	fx, err := stripe.Lifecycle()
	if err != nil {
		return fmt.Errorf("load stripe fixtures: %w", err)
	}
	first, err := stripe.ParseEvent(fx[0].Payload)
	if err != nil {
		return fmt.Errorf("parse stripe fixture %s: %w", fx[0].Name, err)
	}
	shift := t0.Add(-30 * 24 * time.Hour).Truncate(time.Second).Sub(first.Created)
	for oi, org := range s.orgs {
		if !org.lifecycle {
			continue
		}
		rng := s.ids.rngFor("stripe", oi)
		sub := "sub_" + s.ids.hex(24, "sub", oi)
		n := len(fx)
		at := make([]time.Duration, n)
		for k := range at {
			at[k] = span * time.Duration(k+1) / time.Duration(n+1)
			at[k] += time.Duration(rng.Int64N(int64(span/time.Duration(4*(n+1))) + 1))
		}
		for k := range at {
			if rng.Float64() < s.o.Faults.Reorder {
				j := rng.IntN(n)
				at[k], at[j] = at[j], at[k]
			}
		}
		for k, f := range fx {
			orig, err := stripe.ParseEvent(f.Payload)
			if err != nil {
				return fmt.Errorf("parse stripe fixture %s: %w", f.Name, err)
			}
			id := "evt_" + s.ids.hex(24, "evt", oi, k)
			body, err := stripe.Retarget(f.Payload, id, org.Slug, org.customer, sub, orig.Created.Add(shift))
			if err != nil {
				return fmt.Errorf("retarget %s: %w", f.Name, err)
			}
			ev, err := stripe.ParseEvent(body)
			if err != nil {
				return fmt.Errorf("parse retargeted %s: %w", f.Name, err)
			}
			rec := &eventRec{org: org, event: ev}
			s.led.mu.Lock()
			s.led.events = append(s.led.events, rec)
			s.led.mu.Unlock()
			faults := s.ids.rngFor("stripe-faults", id)
			s.e.schedule(t0.Add(at[k]), func(due time.Time) { s.sendEvent(rec, body, faults, due) })
		}
	}
	return nil
}

// stripeDelivery is an event as Stripe posts it, signed when it leaves with every secret.
func (s *sim) stripeDelivery(body []byte, secrets []string) *delivery {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	d := &delivery{route: server.RouteStripe, url: s.target + server.RouteStripe, body: body, header: h,
		expect: 2, stripe: true, maxTries: 1 + s.o.Faults.MaxRetries}
	if len(secrets) > 0 {
		d.resign = func(at time.Time) string { return stripe.SignedHeaderAll(body, secrets, at) }
	}
	return d
}

// sendEvent delivers one event with its faults: a first attempt signed too long ago
// (refused, then retried fresh as Stripe retries), a forged or broken copy under another
// id, redeliveries.
func (s *sim) sendEvent(rec *eventRec, body []byte, rng interface{ Float64() float64 }, due time.Time) {
	s.led.mu.Lock()
	rec.sent = time.Now()
	s.led.mu.Unlock()
	signed := len(s.secrets) > 0
	if signed && rng.Float64() < s.o.Faults.BadSig {
		s.forgeEvent(rec, body, "bad-sig")
	}
	if rng.Float64() < s.o.Faults.Malformed {
		s.forgeEvent(rec, body, "malformed")
	}
	d := s.stripeDelivery(body, s.secrets)
	d.done = func(a answer) { s.led.acked(&rec.ackAt, a) }
	if signed && rng.Float64() < s.o.Faults.Stale {
		stale := s.stripeDelivery(body, nil)
		stale.expect, stale.maxTries = 4, 1
		stale.header.Set("Stripe-Signature", stripe.SignedHeaderAll(body, s.secrets, time.Now().Add(-s.o.StripeTolerance-time.Minute)))
		stale.done = func(answer) {
			s.e.schedule(time.Now().Add(retryBackoff(true, 1)), func(due time.Time) { s.e.send(s.ctx, d, due, 2) })
		}
		s.e.send(s.ctx, stale, due, 1)
		return
	}
	s.deliver(d, due, s.ids.rngFor("stripe-dup", rec.event.ID))
}

// forgeEvent sends a copy of an event under a new id that must be refused: signed with a
// secret the target does not have, or cut short.
func (s *sim) forgeEvent(rec *eventRec, body []byte, kind string) {
	id := "evt_" + s.ids.hex(24, "forged", rec.event.ID, kind)
	forged := []byte(string(body))
	if i := bytes.Index(forged, []byte(rec.event.ID)); i >= 0 {
		copy(forged[i:], id)
	}
	secrets := s.secrets
	if kind == "bad-sig" {
		secrets = []string{"whsec_not" + s.ids.hex(24, "wrong")}
	} else {
		forged = forged[:len(forged)/2]
	}
	d := s.stripeDelivery(forged, secrets)
	d.expect, d.maxTries = 4, 1
	s.led.ghost(&s.led.ghostEvents, id)
	s.e.schedule(time.Now(), func(due time.Time) { s.e.send(s.ctx, d, due, 1) })
}
