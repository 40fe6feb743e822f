// Package stripe is the provider adapter for Stripe: webhook verification, test signing,
// and parsing events into billing facts.
package stripe

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Verdict is what signature checking concluded about a delivery.
type Verdict string

const (
	VerdictValid     Verdict = "valid"
	VerdictInvalid   Verdict = "invalid"
	VerdictMissing   Verdict = "missing"
	VerdictUnchecked Verdict = "unchecked" // no secret configured
)

// DefaultTolerance is how far a signature's timestamp may be from now, either way.
const DefaultTolerance = webhook.DefaultTolerance

// Errors returned by Verify and ParseEvent; match them with errors.Is.
var (
	ErrNoSignature  = errors.New("stripe webhook: no Stripe-Signature header")
	ErrBadSignature = errors.New("stripe webhook: signature does not match")
	ErrStale        = errors.New("stripe webhook: signature timestamp is older than the tolerance")
	ErrFuture       = errors.New("stripe webhook: signature timestamp is further in the future than the tolerance")
	ErrMalformed    = errors.New("stripe webhook: malformed event")
)

// Verifier checks Stripe-Signature headers against one or more endpoint secrets (several
// during a rotation).
type Verifier struct {
	secrets   []string
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a verifier for the given secrets; blank ones are dropped. A
// tolerance of zero or less means DefaultTolerance; a nil clock means time.Now.
func NewVerifier(secrets []string, tolerance time.Duration, now func() time.Time) *Verifier {
	v := &Verifier{tolerance: tolerance, now: now}
	for _, s := range secrets {
		if s = strings.TrimSpace(s); s != "" {
			v.secrets = append(v.secrets, s)
		}
	}
	if v.tolerance <= 0 {
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// Configured reports whether any secret is set; without one, deliveries are unchecked.
func (v *Verifier) Configured() bool { return len(v.secrets) > 0 }

// Verify checks the raw body against the Stripe-Signature header values of one request.
// It accepts events of any API version, tries every secret, and rejects a timestamp more
// than the tolerance away from now in either direction. A body that is signed correctly
// but is not an event is still "valid" here; ParseEvent rejects it.
func (v *Verifier) Verify(payload []byte, sigHeader []string) (Verdict, error) {
	if !v.Configured() {
		return VerdictUnchecked, nil
	}
	switch {
	case len(sigHeader) == 0 || (len(sigHeader) == 1 && strings.TrimSpace(sigHeader[0]) == ""):
		return VerdictMissing, ErrNoSignature
	case len(sigHeader) > 1:
		return VerdictInvalid, fmt.Errorf("%w: %d Stripe-Signature headers", ErrBadSignature, len(sigHeader))
	}
	header := sigHeader[0]
	ts, err := signedAt(header)
	if err != nil {
		return VerdictInvalid, err
	}

	matched := false
	for _, secret := range v.secrets {
		// The tolerance is checked below against our clock: stripe-go checks it with
		// time.Since, and only for the past.
		_, err := webhook.ConstructEventWithOptions(payload, header, secret, webhook.ConstructEventOptions{
			IgnoreAPIVersionMismatch: true,
			IgnoreTolerance:          true,
		})
		switch {
		case err == nil:
			matched = true
		case errors.Is(err, webhook.ErrNoValidSignature):
			continue
		case errors.Is(err, webhook.ErrNotSigned):
			return VerdictMissing, ErrNoSignature
		case errors.Is(err, webhook.ErrInvalidHeader):
			return VerdictInvalid, fmt.Errorf("%w: %w", ErrBadSignature, err)
		default:
			// The signature checked out and the body is not an event; that is for
			// ParseEvent to say.
			matched = true
		}
		if matched {
			break
		}
	}
	if !matched {
		return VerdictInvalid, ErrBadSignature
	}

	age := v.now().Sub(ts)
	switch {
	case age > v.tolerance:
		return VerdictInvalid, fmt.Errorf("%w (signed %s ago, tolerance %s): %w",
			ErrStale, age.Round(time.Second), v.tolerance, webhook.ErrTooOld)
	case -age > v.tolerance:
		return VerdictInvalid, fmt.Errorf("%w (signed %s ahead, tolerance %s)",
			ErrFuture, (-age).Round(time.Second), v.tolerance)
	}
	return VerdictValid, nil
}

// signedAt reads the header's one timestamp. stripe-go keeps the last of several t=
// values, so a header with more than one is refused rather than guessed at.
func signedAt(header string) (time.Time, error) {
	var ts time.Time
	seen := false
	for _, pair := range strings.Split(header, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || k != "t" {
			continue
		}
		if seen {
			return time.Time{}, fmt.Errorf("%w: more than one timestamp", ErrBadSignature)
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: bad timestamp %q", ErrBadSignature, val)
		}
		ts, seen = time.Unix(n, 0), true
	}
	if !seen {
		return time.Time{}, fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	return ts, nil
}

// SignedHeader returns the Stripe-Signature header Stripe would send for payload signed
// with secret at the given time.
func SignedHeader(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload:   payload,
		Secret:    secret,
		Timestamp: at,
	}).Header
}

// SignedHeaderAll signs with every secret, one v1 each, as Stripe does while an endpoint
// secret is being rolled.
func SignedHeaderAll(payload []byte, secrets []string, at time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t=%d", at.Unix())
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(webhook.ComputeSignature(at, payload, s)))
	}
	return b.String()
}
