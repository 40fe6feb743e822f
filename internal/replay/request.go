package replay

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
	"github.com/callsnare/callsnare/internal/twilio"
)

// userAgent names replayed requests in the target's logs.
const userAgent = "callsnare-replay"

// signer rebuilds stored deliveries as requests to a target.
type signer struct {
	target   string // base URL requests go to
	signBase string // base URL the target verifies Twilio signatures against
	secrets  Secrets
	// asRecorded sends the stored headers (signatures included) unchanged.
	asRecorded bool
	now        func() time.Time
}

// requestURI is the stored path and query the provider called, kept raw: the Twilio
// signature covers it byte for byte.
func requestURI(e store.Evidence) string {
	if u, err := url.Parse(e.URL); err == nil && u.Path != "" {
		return u.RequestURI()
	}
	return e.Route
}

// request rebuilds one delivery from its raw body and content type, signed for the target
// (or with its recorded headers), and marked with the log id it replays.
func (s signer) request(ctx context.Context, e store.Evidence) (*http.Request, error) {
	uri := requestURI(e)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target+uri, bytes.NewReader(e.Body))
	if err != nil {
		return nil, fmt.Errorf("build request for delivery %d: %w", e.ID, err)
	}
	req.Header.Set("User-Agent", userAgent)
	if s.asRecorded {
		for k, v := range e.Headers {
			if ck := http.CanonicalHeaderKey(k); ck != server.ReplayHeader && ck != server.ReplayTokenHeader {
				req.Header.Set(k, v)
			}
		}
	} else {
		if e.ContentType != "" {
			req.Header.Set("Content-Type", e.ContentType)
		}
		s.sign(req, e, uri)
	}
	req.Header.Set(server.ReplayHeader, strconv.FormatInt(e.ID, 10))
	// The target records the token only if the signature verified; replay then reads its
	// result by it, which no outsider can forge or guess.
	req.Header.Set(server.ReplayTokenHeader, rand.Text())
	return req, nil
}

// sign adds the provider's signature for the target. A body that cannot be parsed (it was
// refused as malformed) or a missing secret leaves the request unsigned: the target then
// judges it as it judged the original.
func (s signer) sign(req *http.Request, e store.Evidence, uri string) {
	switch e.Provider {
	case "twilio":
		params, err := twilio.ParseForm(e.Body)
		if err != nil {
			return
		}
		if token := s.secrets.twilioToken(params["AccountSid"]); token != "" {
			req.Header.Set(twilio.SignatureHeader, twilio.Sign(token, s.signBase+uri, params))
		}
	case "stripe":
		if len(s.secrets.StripeSecrets) > 0 {
			req.Header.Set("Stripe-Signature", stripe.SignedHeader(e.Body, s.secrets.StripeSecrets[0], s.now()))
		}
	}
}

// signsFor says whether deliveries of a provider will carry a fresh signature.
func (s signer) signsFor(provider string) bool {
	switch provider {
	case "twilio":
		return s.secrets.TwilioAuthToken != "" || len(s.secrets.TwilioSubaccountTokens) > 0
	case "stripe":
		return len(s.secrets.StripeSecrets) > 0
	}
	return false
}
