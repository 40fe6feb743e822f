package twilio

import (
	"net/url"
	"testing"

	twilioclient "github.com/twilio/twilio-go/client"
)

// Our signer (used by simulate and replay) and twilio-go's validator agree on the
// canonical string for any URL and parameters, and the verifier picks the token of the
// account that sent the webhook.
func FuzzSignature(f *testing.F) {
	f.Add("https://mycompany.com/myapp.php?foo=1&bar=2", "CallSid", "CA1234567890ABCDE", "Digits", "1234", "AC"+"0123456789abcdef0123456789abcdef")
	f.Add("https://h/x?a=%ff", "Body", "\x00\xff", "", "", "")
	f.Add("http://h:80/p", "From", "+1 512", "To", "", "ACsub")
	f.Fuzz(func(t *testing.T, fullURL, k1, v1, k2, v2, account string) {
		p := Params{k1: v1, k2: v2, "AccountSid": account}
		const mainToken, subToken = "main0token", "sub0token"
		v := NewVerifier(mainToken, map[string]string{"AC" + "5ab0000000000000000000000000005a": subToken})
		token := v.tokenFor(account)
		sig := Sign(token, fullURL, p)
		if got := v.Verify(fullURL, p, []string{sig}); got != VerdictValid {
			t.Fatalf("own signature for account %q: %s", account, got)
		}
		rv := twilioclient.NewRequestValidator(token)
		if !rv.Validate(fullURL, p, sig) {
			t.Fatalf("twilio-go rejects our signature of %q", fullURL)
		}
		// The verifier hands twilio-go the parameters as one concatenation: its verdict is
		// twilio-go's over the parameters themselves, for any signature.
		tampered := Params{k1: v1 + "x", k2: v2, "AccountSid": account}
		for _, s := range []string{sig, Sign(token, fullURL, tampered), Sign(token, fullURL+"/", p), Sign(token, removePortOf(fullURL), p)} {
			if got, want := v.Verify(fullURL, p, []string{s}) == VerdictValid, rv.Validate(fullURL, p, s); got != want {
				t.Fatalf("verifier says %v, twilio-go %v, for %q", got, want, fullURL)
			}
		}
		other := mainToken
		if token == mainToken {
			other = subToken
		}
		if v.Verify(fullURL, p, []string{Sign(other, fullURL, p)}) == VerdictValid {
			t.Fatalf("a signature with another account's token verified for account %q", account)
		}
		if v.Verify(fullURL, p, []string{sig, sig}) != VerdictInvalid {
			t.Fatal("two signature headers verified")
		}
	})
}

// removePortOf is fullURL without its port, a variant twilio-go also accepts.
func removePortOf(fullURL string) string {
	u, err := url.Parse(fullURL)
	if err != nil || u.Port() == "" {
		return fullURL
	}
	u.Host = u.Hostname()
	return u.String()
}

// CheckParams never panics on any parsed form, and what it lets through has SIDs of
// Twilio's shape.
func FuzzCheckParams(f *testing.F) {
	f.Add([]byte("CallSid=CA0123456789abcdef0123456789abcdef&From=%2B15125550123&Empty="))
	f.Add([]byte("a=1&a=2"))
	f.Add([]byte("%zz=1;x"))
	f.Add([]byte("CallSid=CA" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseForm(body)
		if err != nil {
			if p != nil {
				t.Fatalf("error %v with a partial result", err)
			}
			return
		}
		values, _ := url.ParseQuery(string(body))
		for k, v := range values {
			if p[k] != v[0] {
				t.Fatalf("%q = %q, want %q", k, p[k], v[0])
			}
		}
		if err := CheckParams(p); err == nil {
			if s, ok := p["CallSid"]; ok && !ValidSID(s, "CA") {
				t.Fatalf("CallSid %q passed", s)
			}
		}
	})
}
