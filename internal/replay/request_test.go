package replay

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
	"github.com/callsnare/callsnare/internal/twilio"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		raw      string
		ok       bool
		loopback bool
		base     string
	}{
		{"http://127.0.0.1:8080", true, true, "http://127.0.0.1:8080"},
		{"http://localhost:8080/", true, true, "http://localhost:8080"},
		{"http://[::1]:8080", true, true, "http://[::1]:8080"},
		{"https://hooks.example.com/prefix/", true, false, "https://hooks.example.com/prefix"},
		{"https://10.0.0.5", true, false, "https://10.0.0.5"},
		{"ftp://127.0.0.1", false, false, ""},
		{"file:///etc/passwd", false, false, ""},
		{"127.0.0.1:8080", false, false, ""},
		{"http://127.0.0.1/?x=1", false, false, ""},
		{"", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := parseTarget(tt.raw)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if _, usage := err.(*UsageError); !usage {
					t.Errorf("err %T is not a usage error", err)
				}
				return
			}
			if isLoopback(u) != tt.loopback || baseString(u) != tt.base {
				t.Errorf("loopback %v base %q", isLoopback(u), baseString(u))
			}
		})
	}
}

func TestParseSpeed(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{{"10x", 10, true}, {"2", 2, true}, {"0.5x", 0.5, true}, {"0x", 0, false}, {"-1", 0, false}, {"fast", 0, false}}
	for _, tt := range tests {
		got, err := ParseSpeed(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSpeed(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestPacingOffset(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := store.Evidence{ReceivedAt: store.T(t0)}
	at := store.Evidence{ReceivedAt: store.T(t0.Add(10 * time.Second))}
	tests := []struct {
		name string
		p    Pacing
		i    int
		want time.Duration
	}{
		{"as fast as possible", Pacing{}, 5, 0},
		{"rate", Pacing{Rate: 2}, 5, 2500 * time.Millisecond},
		{"original timing", Pacing{OriginalTiming: true}, 1, 10 * time.Second},
		{"original timing sped up", Pacing{OriginalTiming: true, Speed: 10}, 1, time.Second},
		{"the slower of both", Pacing{OriginalTiming: true, Speed: 10, Rate: 0.1}, 1, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.p.offset(tt.i, at, first); got != tt.want {
			t.Errorf("%s: offset %v, want %v", tt.name, got, tt.want)
		}
	}
}

const (
	mainAccount = "AC11111111111111111111111111111111"
	subAccount  = "AC22222222222222222222222222222222"
	mainToken   = "11111111111111111111111111111111"
	subToken    = "22222222222222222222222222222222"
	whsec       = "whsec_first"
)

// TestSignerSignsForTheTarget checks re-signed requests with the verifiers the server
// uses: Twilio over the target's URL with the stored path and query, by account; Stripe
// fresh, with the first secret.
func TestSignerSignsForTheTarget(t *testing.T) {
	now := time.Now()
	s := signer{
		target: "http://127.0.0.1:9000", signBase: "https://hooks.example.com",
		secrets: Secrets{TwilioAuthToken: mainToken, TwilioSubaccountTokens: map[string]string{subAccount: subToken},
			StripeSecrets: []string{whsec, "whsec_second"}},
		now: func() time.Time { return now },
	}
	verifier := twilio.NewVerifier(mainToken, map[string]string{subAccount: subToken})
	form := func(account string) []byte {
		return []byte(url.Values{"AccountSid": {account}, "CallSid": {"CA1"}, "From": {"+15125550123"}, "Empty": {""}}.Encode())
	}
	tests := []struct {
		name    string
		ev      store.Evidence
		wantURL string
	}{
		{"main account", store.Evidence{ID: 7, Provider: "twilio", Route: "/api/twilio/voice/inbound",
			URL: "https://old.example.com/api/twilio/voice/inbound", ContentType: "application/x-www-form-urlencoded", Body: form(mainAccount)},
			"http://127.0.0.1:9000/api/twilio/voice/inbound"},
		{"subaccount, query kept raw", store.Evidence{ID: 8, Provider: "twilio", Route: "/api/twilio/sms/inbound",
			URL: "https://old.example.com/api/twilio/sms/inbound?b=2&a=%2B1", ContentType: "application/x-www-form-urlencoded", Body: form(subAccount)},
			"http://127.0.0.1:9000/api/twilio/sms/inbound?b=2&a=%2B1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := s.request(context.Background(), tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.wantURL || req.Header.Get(server.ReplayHeader) != strconv.FormatInt(tt.ev.ID, 10) {
				t.Fatalf("request %s, replay header %q", req.URL, req.Header.Get(server.ReplayHeader))
			}
			params, _ := twilio.ParseForm(tt.ev.Body)
			signed := "https://hooks.example.com" + requestURI(tt.ev)
			if v := verifier.Verify(signed, params, req.Header.Values(twilio.SignatureHeader)); v != twilio.VerdictValid {
				t.Errorf("signature over %s: %s", signed, v)
			}
			if req.Header.Get("Content-Type") != tt.ev.ContentType {
				t.Errorf("content type %q", req.Header.Get("Content-Type"))
			}
		})
	}
	t.Run("stripe", func(t *testing.T) {
		body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
		req, err := s.request(context.Background(), store.Evidence{ID: 9, Provider: "stripe", Route: "/api/stripe/webhook",
			ContentType: "application/json", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		v := stripe.NewVerifier([]string{whsec}, 0, nil)
		if verdict, err := v.Verify(body, req.Header.Values("Stripe-Signature")); verdict != stripe.VerdictValid {
			t.Errorf("stripe signature: %s %v", verdict, err)
		}
	})
	t.Run("as recorded", func(t *testing.T) {
		rec := s
		rec.asRecorded = true
		req, err := rec.request(context.Background(), store.Evidence{ID: 10, Provider: "twilio", Route: "/api/twilio/voice/inbound",
			Headers: map[string]string{"X-Twilio-Signature": "recorded", "Content-Type": "application/x-www-form-urlencoded",
				server.ReplayHeader: "3"}, Body: form(mainAccount)})
		if err != nil {
			t.Fatal(err)
		}
		if req.Header.Get(twilio.SignatureHeader) != "recorded" || req.Header.Get(server.ReplayHeader) != "10" {
			t.Errorf("headers %v", req.Header)
		}
	})
}
