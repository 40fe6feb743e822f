package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"

	twilioclient "github.com/twilio/twilio-go/client"
)

// SignatureHeader is the header Twilio signs its webhooks with.
const SignatureHeader = "X-Twilio-Signature"

// Verdict is the outcome of checking a webhook's signature.
type Verdict string

// Verdicts, recorded with each request so that an unchecked or failed
// signature is visible later rather than silently dropped.
const (
	VerdictValid     Verdict = "valid"
	VerdictInvalid   Verdict = "invalid"
	VerdictMissing   Verdict = "missing"
	VerdictUnchecked Verdict = "unchecked"
)

// Verifier checks X-Twilio-Signature headers against the auth token of the
// account that sent the webhook.
type Verifier struct {
	defaultToken string
	byAccount    map[string]string
}

// NewVerifier returns a Verifier that uses byAccount (AccountSid to auth
// token) for subaccounts, whose webhooks are signed with their own token,
// and defaultToken for every other account.
func NewVerifier(defaultToken string, byAccount map[string]string) *Verifier {
	v := &Verifier{defaultToken: defaultToken, byAccount: make(map[string]string, len(byAccount))}
	for sid, token := range byAccount {
		if token != "" {
			v.byAccount[sid] = token
		}
	}
	return v
}

// Configured reports whether any token is set. Without one, nothing can be
// verified and every verdict is VerdictUnchecked.
func (v *Verifier) Configured() bool {
	return v != nil && (v.defaultToken != "" || len(v.byAccount) > 0)
}

// Verify checks a form-encoded webhook. fullURL must be the URL Twilio
// called, exactly (public base plus the raw request URI); sigHeaders are all
// values of the X-Twilio-Signature header.
//
// twilio-go's validator always computes two signatures, over the URL with its
// default port and without it, each after parsing the URL twice; one of the
// two is the URL as called. A signature over that URL (Sign, held to
// twilio-go's own vectors) is accepted on one HMAC, compared in constant
// time; any other goes to the validator, which decides. The check cost a
// delivery as much as reading its form, in CPU and allocations.
func (v *Verifier) Verify(fullURL string, params Params, sigHeaders []string) Verdict {
	return v.check(sigHeaders, params["AccountSid"], func(rv twilioclient.RequestValidator, token, sig string) bool {
		signed := canonical(params)
		return hmac.Equal([]byte(sign(token, fullURL, signed)), []byte(sig)) ||
			rv.Validate(fullURL, signedParams(signed), sig)
	})
}

// signedParams hands the validator what it signs after the URL, every key followed by its
// value, keys sorted, as the one key of a one-entry map. The signature is the same (it is
// computed over the concatenation, however it is split), and the validator, which appends
// one parameter at a time to a growing string, copies the URL and the parameters once
// instead of once per parameter: a webhook's twenty-odd parameters cost twenty copies of
// an ever longer string per signature checked, the largest allocation of a delivery.
func signedParams(signed string) map[string]string {
	return map[string]string{signed: ""}
}

// canonical is what Twilio signs after the URL: every key followed by its value, keys
// sorted.
func canonical(params Params) string {
	keys := make([]string, 0, len(params))
	n := 0
	for k, v := range params {
		keys = append(keys, k)
		n += len(k) + len(v)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(params[k])
	}
	return b.String()
}

// VerifyBody checks a webhook with a JSON body, whose URL carries
// bodySHA256 and whose signature covers the URL alone. accountSID selects
// the token, as the body is not form parameters.
func (v *Verifier) VerifyBody(fullURL string, body []byte, sigHeaders []string, accountSID string) Verdict {
	return v.check(sigHeaders, accountSID, func(rv twilioclient.RequestValidator, _, sig string) bool {
		return rv.ValidateBody(fullURL, body, sig)
	})
}

func (v *Verifier) check(sigHeaders []string, accountSID string, validate func(rv twilioclient.RequestValidator, token, sig string) bool) Verdict {
	if !v.Configured() {
		return VerdictUnchecked
	}
	switch {
	case len(sigHeaders) == 0 || (len(sigHeaders) == 1 && sigHeaders[0] == ""):
		return VerdictMissing
	case len(sigHeaders) > 1:
		// Twilio sends one signature; a second one is someone else's doing,
		// and choosing between them would let an attacker pick.
		return VerdictInvalid
	}
	token := v.tokenFor(accountSID)
	if token == "" {
		// Only subaccount tokens are configured and this account is not
		// one of them: nothing can vouch for the request.
		return VerdictInvalid
	}
	if validate(twilioclient.NewRequestValidator(token), token, sigHeaders[0]) {
		return VerdictValid
	}
	return VerdictInvalid
}

func (v *Verifier) tokenFor(accountSID string) string {
	if token, ok := v.byAccount[accountSID]; ok && accountSID != "" {
		return token
	}
	return v.defaultToken
}

// Sign returns the X-Twilio-Signature Twilio would send for a request to
// fullURL with params: base64(HMAC-SHA1(token, fullURL followed by each key
// and its value, keys sorted)). For a JSON body, put bodySHA256 in fullURL
// and pass no params. The URL is signed exactly as given.
func Sign(token, fullURL string, params Params) string {
	return sign(token, fullURL, canonical(params))
}

// sign is Sign given the parameters' canonical string.
func sign(token, fullURL, signed string) string {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(fullURL))
	mac.Write([]byte(signed))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
