// Package replay re-drives stored evidence (webhook log rows) against a server, re-signed as
// the provider would sign it for that server, and checks that replaying an org's evidence
// into an empty database reproduces the same business state (Verify).
//
// Twilio cannot resend voice webhooks, and Stripe's resends are signed for Stripe's idea of
// the endpoint; our own evidence is the only complete record, so replay is how an incident
// is recovered and how a fix is tested on real traffic. A replay carries the
// X-Callsnare-Replay-Of header for the audit only: the server verifies and dedupes it like
// any other delivery.
package replay

import (
	"errors"
	"fmt"
)

// UsageError is a bad option or a refused target: the command line exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

var (
	// ErrDeliveriesFailed reports that at least one replayed delivery failed (5xx or a
	// network error); the results and summary are already printed.
	ErrDeliveriesFailed = errors.New("some replayed deliveries failed")
	// ErrInterrupted reports a run stopped by its context (Ctrl-C) before it was done; the
	// summary says how far it got.
	ErrInterrupted = errors.New("replay interrupted")
	// ErrDifferences reports that Verify found the replayed state differs from the source.
	ErrDifferences = errors.New("replayed state differs from the source")
)

// Secrets are what a replay signs with, as the target server verifies: never printed.
type Secrets struct {
	TwilioAuthToken string
	// TwilioSubaccountTokens maps AccountSid to its token: a subaccount's webhooks are
	// signed with its own token.
	TwilioSubaccountTokens map[string]string
	// StripeSecrets are the endpoint's secrets; the first one signs.
	StripeSecrets []string
}

// twilioToken is the token Twilio would sign a webhook of accountSID with.
func (s Secrets) twilioToken(accountSID string) string {
	if t, ok := s.TwilioSubaccountTokens[accountSID]; ok && accountSID != "" && t != "" {
		return t
	}
	return s.TwilioAuthToken
}
