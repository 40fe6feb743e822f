package stripe

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

const (
	secretOld = "whsec_old_3f9a1c7e5b2d4a6c8e0f"
	secretNew = "whsec_new_7b2e4d6f8a0c1e3f5a7b"
)

func TestVerify(t *testing.T) {
	now := time.Date(2024, 6, 3, 16, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	body, err := LoadFixture("07_customer.subscription.updated.json")
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadFixture("api_2024-06-20.customer.subscription.updated.json")
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Replace(string(body), `"status": "active"`, `"status": "trialing"`, 1))
	if string(tampered) == string(body) {
		t.Fatal("tampering changed nothing")
	}
	signed := SignedHeader(body, secretOld, now)

	for _, tc := range []struct {
		name    string
		secrets []string
		payload []byte
		headers []string
		want    Verdict
		wantErr error
	}{
		{"valid", []string{secretOld}, body, []string{signed}, VerdictValid, nil},
		{"valid at the edge of tolerance", []string{secretOld}, body,
			[]string{SignedHeader(body, secretOld, now.Add(-5*time.Minute))}, VerdictValid, nil},
		{"stale", []string{secretOld}, body,
			[]string{SignedHeader(body, secretOld, now.Add(-5*time.Minute-time.Second))}, VerdictInvalid, ErrStale},
		{"future", []string{secretOld}, body,
			[]string{SignedHeader(body, secretOld, now.Add(5*time.Minute+time.Second))}, VerdictInvalid, ErrFuture},
		{"slightly ahead is fine", []string{secretOld}, body,
			[]string{SignedHeader(body, secretOld, now.Add(30*time.Second))}, VerdictValid, nil},
		{"rotated: second of two secrets", []string{secretNew, secretOld}, body, []string{signed}, VerdictValid, nil},
		{"rotated: header with two v1", []string{secretNew}, body,
			[]string{SignedHeaderAll(body, []string{secretOld, secretNew}, now)}, VerdictValid, nil},
		{"wrong secret", []string{secretNew}, body, []string{signed}, VerdictInvalid, ErrBadSignature},
		{"missing", []string{secretOld}, body, nil, VerdictMissing, ErrNoSignature},
		{"blank", []string{secretOld}, body, []string{" "}, VerdictMissing, ErrNoSignature},
		{"duplicated header", []string{secretOld}, body, []string{signed, signed}, VerdictInvalid, ErrBadSignature},
		{"two timestamps", []string{secretOld}, body,
			[]string{"t=1," + signed}, VerdictInvalid, ErrBadSignature},
		{"no v1", []string{secretOld}, body,
			[]string{strings.Replace(signed, "v1=", "v0=", 1)}, VerdictInvalid, ErrBadSignature},
		{"garbage header", []string{secretOld}, body, []string{"nonsense"}, VerdictInvalid, ErrBadSignature},
		{"other API version is valid", []string{secretOld}, other,
			[]string{SignedHeader(other, secretOld, now)}, VerdictValid, nil},
		{"tampered body", []string{secretOld}, tampered, []string{signed}, VerdictInvalid, ErrBadSignature},
		{"signed non-event is left to ParseEvent", []string{secretOld}, []byte("not json"),
			[]string{SignedHeader([]byte("not json"), secretOld, now)}, VerdictValid, nil},
		{"unconfigured", nil, body, nil, VerdictUnchecked, nil},
		{"blank secrets are unconfigured", []string{"", " "}, body, []string{signed}, VerdictUnchecked, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier(tc.secrets, 0, clock)
			got, err := v.Verify(tc.payload, tc.headers)
			if got != tc.want {
				t.Errorf("verdict %q, want %q (err %v)", got, tc.want, err)
			}
			if tc.wantErr == nil && err != nil {
				t.Errorf("err %v, want nil", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyStaleSaysSo(t *testing.T) {
	now := time.Unix(1717430400, 0)
	v := NewVerifier([]string{secretOld}, time.Minute, func() time.Time { return now })
	_, err := v.Verify([]byte("{}"), []string{SignedHeader([]byte("{}"), secretOld, now.Add(-2*time.Minute))})
	if !errors.Is(err, ErrStale) || !errors.Is(err, webhook.ErrTooOld) || !strings.Contains(err.Error(), "older") {
		t.Errorf("err = %v", err)
	}
}

func TestSignedHeaderMatchesStripeGo(t *testing.T) {
	at := time.Unix(1717430400, 0)
	body := []byte(`{"id":"evt_1","object":"event"}`)
	h := SignedHeader(body, secretOld, at)
	if !strings.HasPrefix(h, "t=1717430400,v1=") {
		t.Fatalf("header %q", h)
	}
	if err := webhook.ValidatePayloadIgnoringTolerance(body, h, secretOld); err != nil {
		t.Errorf("stripe-go rejects our header: %v", err)
	}
	if all := SignedHeaderAll(body, []string{secretOld}, at); all != h {
		t.Errorf("SignedHeaderAll = %q, want %q", all, h)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1717430400, 0)
	body := []byte(`{"id":"evt_1"}`)
	signed := SignedHeader(body, secretOld, now)
	f.Add(body, signed)
	// Hex is hex in either case: stripe-go decodes a signature before comparing.
	stamp, sig, _ := strings.Cut(signed, "v1=")
	f.Add(body, stamp+"v1="+strings.ToUpper(sig))
	f.Add(body, "t=abc,v1=zz")
	f.Add([]byte{}, "")
	v := NewVerifier([]string{secretOld, secretNew}, 0, func() time.Time { return now })
	f.Fuzz(func(t *testing.T, payload []byte, header string) {
		verdict, err := v.Verify(payload, []string{header})
		if (verdict == VerdictValid) != (err == nil) {
			t.Fatalf("verdict %q with err %v", verdict, err)
		}
		if verdict != VerdictValid {
			return
		}
		// A valid header must carry a real signature for its own timestamp,
		// its hex digits in either case.
		ts, err := signedAt(header)
		if err != nil {
			t.Fatalf("accepted %q without a timestamp: %v", header, err)
		}
		for _, s := range []string{secretOld, secretNew} {
			if strings.Contains(strings.ToLower(header), "v1="+hex.EncodeToString(webhook.ComputeSignature(ts, payload, s))) {
				return
			}
		}
		t.Fatalf("accepted forged header %q", header)
	})
}
