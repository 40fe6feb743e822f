package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	twilioclient "github.com/twilio/twilio-go/client"
)

type vectorFile struct {
	Token   string `json:"token"`
	Params  Params `json:"params"`
	Vectors []struct {
		Name      string `json:"name"`
		URL       string `json:"url"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "twilio-go-request-validator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

// TestSignMatchesTwilioVectors proves our signer reproduces the signatures
// twilio-go's own tests expect, so simulate/replay sign as Twilio does.
func TestSignMatchesTwilioVectors(t *testing.T) {
	vf := loadVectors(t)
	v := NewVerifier(vf.Token, nil)
	for _, vec := range vf.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			headers := []string{vec.Signature}
			if vec.Body != "" {
				if got := Sign(vf.Token, vec.URL, nil); got != vec.Signature {
					t.Fatalf("Sign = %q, want %q", got, vec.Signature)
				}
				if got := v.VerifyBody(vec.URL, []byte(vec.Body), headers, ""); got != VerdictValid {
					t.Fatalf("VerifyBody = %s", got)
				}
				if got := v.VerifyBody(vec.URL, []byte(vec.Body+" "), headers, ""); got != VerdictInvalid {
					t.Fatalf("VerifyBody of altered body = %s", got)
				}
				return
			}
			if got := Sign(vf.Token, vec.URL, vf.Params); got != vec.Signature {
				t.Fatalf("Sign = %q, want %q", got, vec.Signature)
			}
			if got := v.Verify(vec.URL, vf.Params, headers); got != VerdictValid {
				t.Fatalf("Verify = %s", got)
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	const token = "f00dfeedf00dfeedf00dfeedf00dfeed"
	tests := []struct {
		name   string
		url    string
		params Params
	}{
		{name: "no params", url: "https://hooks.example.com/twilio/voice", params: Params{}},
		{name: "nil params", url: "https://hooks.example.com/twilio/voice"},
		{name: "incoming call", url: "https://hooks.example.com/twilio/voice", params: Params{
			"CallSid": "CA0123456789abcdef0123456789abcdef", "AccountSid": "AC0123456789abcdef0123456789abcdef",
			"From": "+15005550006", "To": "+15005550001", "CallStatus": "ringing", "Direction": "inbound",
			"ApiVersion": "2010-04-01",
		}},
		{name: "empty values", url: "https://hooks.example.com/twilio/voice", params: Params{
			"FromCity": "", "FromState": "", "ToZip": "", "From": "+15005550006",
		}},
		{name: "unicode", url: "https://hooks.example.com/twilio/sms", params: Params{
			"Body": "Café ✓ 日本語 🙂", "From": "+15005550006",
		}},
		{name: "url with query", url: "https://hooks.example.com/twilio/dial?lead=42&src=a%20b", params: Params{
			"DialCallStatus": "no-answer",
		}},
		{name: "url with port", url: "https://hooks.example.com:8443/twilio/voice", params: Params{"A": "1"}},
		{name: "keys whose order depends on sorting", url: "https://hooks.example.com/x", params: Params{
			"Reason": "Participant", "ReasonConferenceEnded": "test", "a": "lower", "B": "upper",
		}},
		{name: "anonymous caller", url: "https://hooks.example.com/twilio/voice", params: Params{"From": "anonymous", "Caller": "client:alice"}},
	}
	v := NewVerifier(token, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := Sign(token, tt.url, tt.params)
			if got := v.Verify(tt.url, tt.params, []string{sig}); got != VerdictValid {
				t.Fatalf("Verify = %s, want valid", got)
			}
			if got := v.Verify(tt.url+"x", tt.params, []string{sig}); got != VerdictInvalid {
				t.Fatalf("Verify with another url = %s, want invalid", got)
			}
			altered := Params{"Extra": ""}
			for k, val := range tt.params {
				altered[k] = val
			}
			if got := v.Verify(tt.url, altered, []string{sig}); got != VerdictInvalid {
				t.Fatalf("Verify with an added empty param = %s, want invalid", got)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	const (
		mainToken = "maintoken0000000000000000000000"
		subToken  = "subtoken11111111111111111111111"
		subSID    = "AC11111111111111111111111111111111"
		otherSID  = "AC22222222222222222222222222222222"
		hookURL   = "https://hooks.example.com/twilio/voice"
	)
	sub := Params{"AccountSid": subSID, "CallSid": "CA1"}
	other := Params{"AccountSid": otherSID, "CallSid": "CA1"}
	noAccount := Params{"CallSid": "CA1"}

	tests := []struct {
		name     string
		verifier *Verifier
		url      string
		params   Params
		headers  []string
		want     Verdict
	}{
		{name: "not configured", verifier: NewVerifier("", nil), url: hookURL, params: sub,
			headers: []string{"anything"}, want: VerdictUnchecked},
		{name: "empty subaccount token is not configured", verifier: NewVerifier("", map[string]string{subSID: ""}), url: hookURL,
			params: sub, headers: []string{"anything"}, want: VerdictUnchecked},
		{name: "nil verifier", verifier: nil, url: hookURL, params: sub, headers: []string{"x"}, want: VerdictUnchecked},
		{name: "no header", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub, want: VerdictMissing},
		{name: "empty header", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub, headers: []string{""}, want: VerdictMissing},
		{name: "default token", verifier: NewVerifier(mainToken, nil), url: hookURL, params: other,
			headers: []string{Sign(mainToken, hookURL, other)}, want: VerdictValid},
		{name: "no AccountSid uses default token", verifier: NewVerifier(mainToken, map[string]string{subSID: subToken}), url: hookURL,
			params: noAccount, headers: []string{Sign(mainToken, hookURL, noAccount)}, want: VerdictValid},
		{name: "subaccount token", verifier: NewVerifier(mainToken, map[string]string{subSID: subToken}), url: hookURL,
			params: sub, headers: []string{Sign(subToken, hookURL, sub)}, want: VerdictValid},
		{name: "subaccount signed with main token", verifier: NewVerifier(mainToken, map[string]string{subSID: subToken}), url: hookURL,
			params: sub, headers: []string{Sign(mainToken, hookURL, sub)}, want: VerdictInvalid},
		{name: "other account falls back to default", verifier: NewVerifier(mainToken, map[string]string{subSID: subToken}), url: hookURL,
			params: other, headers: []string{Sign(mainToken, hookURL, other)}, want: VerdictValid},
		{name: "unknown account with only subaccount tokens", verifier: NewVerifier("", map[string]string{subSID: subToken}), url: hookURL,
			params: other, headers: []string{Sign("", hookURL, other)}, want: VerdictInvalid},
		{name: "duplicated header", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub,
			headers: []string{Sign(mainToken, hookURL, sub), Sign(mainToken, hookURL, sub)}, want: VerdictInvalid},
		{name: "duplicated header one wrong", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub,
			headers: []string{"bogus", Sign(mainToken, hookURL, sub)}, want: VerdictInvalid},
		{name: "wrong url", verifier: NewVerifier(mainToken, nil), url: "https://hooks.example.com/twilio/sms", params: sub,
			headers: []string{Sign(mainToken, hookURL, sub)}, want: VerdictInvalid},
		{name: "http instead of https", verifier: NewVerifier(mainToken, nil), url: "http://hooks.example.com/twilio/voice", params: sub,
			headers: []string{Sign(mainToken, hookURL, sub)}, want: VerdictInvalid},
		{name: "signed with the default port, called without", verifier: NewVerifier(mainToken, nil), url: hookURL,
			params: sub, headers: []string{Sign(mainToken, "https://hooks.example.com:443/twilio/voice", sub)}, want: VerdictValid},
		{name: "signed over other parameters", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub,
			headers: []string{Sign(mainToken, hookURL, other)}, want: VerdictInvalid},
		{name: "explicit default port still validates", verifier: NewVerifier(mainToken, nil), url: "https://hooks.example.com:443/twilio/voice",
			params: sub, headers: []string{Sign(mainToken, hookURL, sub)}, want: VerdictValid},
		{name: "wrong token", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub,
			headers: []string{Sign("not-the-token", hookURL, sub)}, want: VerdictInvalid},
		{name: "garbage signature", verifier: NewVerifier(mainToken, nil), url: hookURL, params: sub,
			headers: []string{"!!!"}, want: VerdictInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.verifier.Verify(tt.url, tt.params, tt.headers); got != tt.want {
				t.Fatalf("Verify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestVerifyBodySubaccount(t *testing.T) {
	const subSID = "AC11111111111111111111111111111111"
	body := []byte(`{"event":"x"}`)
	sum := sha256.Sum256(body)
	u := "https://hooks.example.com/twilio/events?bodySHA256=" + hex.EncodeToString(sum[:])
	v := NewVerifier("main", map[string]string{subSID: "sub"})
	sig := Sign("sub", u, nil)
	if got := v.VerifyBody(u, body, []string{sig}, subSID); got != VerdictValid {
		t.Fatalf("VerifyBody = %s, want valid", got)
	}
	if got := v.VerifyBody(u, body, []string{sig}, ""); got != VerdictInvalid {
		t.Fatalf("VerifyBody with default token = %s, want invalid", got)
	}
	if got := v.VerifyBody(u, body, []string{sig, sig}, subSID); got != VerdictInvalid {
		t.Fatalf("VerifyBody with duplicated header = %s, want invalid", got)
	}
	if got := v.VerifyBody(u, body, nil, subSID); got != VerdictMissing {
		t.Fatalf("VerifyBody without header = %s, want missing", got)
	}
}

// BenchmarkVerify checks an inbound SMS's signature as serve does, and, for comparison,
// with twilio-go's validator (two signatures, with and without the port), given the
// parameters concatenated as one (see signedParams) or as they are.
func BenchmarkVerify(b *testing.B) {
	const token, hookURL = "maintoken0000000000000000000000", "https://hooks.example.com/api/twilio/sms/inbound"
	params := Params{"AccountSid": "AC0123456789abcdef0123456789abcdef", "MessageSid": "SM0123456789abcdef0123456789abcdef",
		"From": "+14155550123", "To": "+14155550100", "Body": "Can you come Tuesday? The AC is out", "NumMedia": "0",
		"ToCountry": "US", "ToState": "CA", "FromCountry": "US", "FromState": "CA", "SmsStatus": "received",
		"ApiVersion": "2010-04-01", "NumSegments": "1"}
	sig := Sign(token, hookURL, params)
	v := NewVerifier(token, nil)
	b.Run("serve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v.Verify(hookURL, params, []string{sig}) != VerdictValid {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("twilio-go, parameters as one", func(b *testing.B) {
		b.ReportAllocs()
		rv := twilioclient.NewRequestValidator(token)
		for b.Loop() {
			if !rv.Validate(hookURL, signedParams(canonical(params)), sig) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("twilio-go", func(b *testing.B) {
		b.ReportAllocs()
		rv := twilioclient.NewRequestValidator(token)
		for b.Loop() {
			if !rv.Validate(hookURL, params, sig) {
				b.Fatal("invalid")
			}
		}
	})
}
