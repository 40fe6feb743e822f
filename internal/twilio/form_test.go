package twilio

import (
	"errors"
	"maps"
	"net/url"
	"strings"
	"testing"
)

func TestParseForm(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Params
		wantErr error
	}{
		{name: "empty body", body: "", want: Params{}},
		{name: "simple", body: "CallSid=CA1&From=%2B15551234567", want: Params{"CallSid": "CA1", "From": "+15551234567"}},
		{name: "empty values kept", body: "FromCity=&ToState=&To=%2B1", want: Params{"FromCity": "", "ToState": "", "To": "+1"}},
		{name: "key without equals", body: "Flag&A=1", want: Params{"Flag": "", "A": "1"}},
		{name: "plus is space", body: "Body=hello+there", want: Params{"Body": "hello there"}},
		{name: "unicode", body: "Body=%E2%9C%93+caf%C3%A9", want: Params{"Body": "✓ café"}},
		{name: "empty pairs skipped", body: "A=1&&B=2", want: Params{"A": "1", "B": "2"}},
		{name: "repeated key", body: "A=1&A=2", wantErr: ErrRepeatedKey},
		{name: "repeated key same value", body: "A=1&B=2&A=1", wantErr: ErrRepeatedKey},
		{name: "empty key repeated", body: "=&=", wantErr: ErrRepeatedKey},
		{name: "repeated key once escaped", body: "A=1&%41=2", wantErr: ErrRepeatedKey},
		{name: "bad escape", body: "A=%zz", wantErr: ErrMalformedForm},
		{name: "bad escape after good pairs", body: "A=1&B=%", wantErr: ErrMalformedForm},
		{name: "semicolon", body: "A=1;B=2", wantErr: ErrMalformedForm},
		{name: "repeated key, then a bad escape", body: "A=1&A=2&B=%zz", wantErr: ErrMalformedForm},
		{name: "more pairs than url.ParseQuery takes", body: strings.Repeat("A&", maxPairs), wantErr: ErrMalformedForm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseForm([]byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("got partial result %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkParseForm parses an inbound SMS webhook's body as Twilio sends it.
func BenchmarkParseForm(b *testing.B) {
	v := url.Values{}
	for k, val := range map[string]string{
		"ToCountry": "US", "ToState": "CA", "SmsMessageSid": "SM0123456789abcdef0123456789abcdef",
		"NumMedia": "0", "ToCity": "SAN FRANCISCO", "FromZip": "94105", "SmsSid": "SM0123456789abcdef0123456789abcdef",
		"FromState": "CA", "SmsStatus": "received", "FromCity": "SAN FRANCISCO", "Body": "Can you come Tuesday? The AC is out",
		"FromCountry": "US", "To": "+14155550100", "ToZip": "94105", "NumSegments": "1",
		"MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": "AC0123456789abcdef0123456789abcdef",
		"From": "+14155550123", "ApiVersion": "2010-04-01",
	} {
		v.Set(k, val)
	}
	body := []byte(v.Encode())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseForm(body); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseForm(f *testing.F) {
	for _, seed := range []string{
		"", "A=1", "A=1&A=2", "A=%zz", "A=1;B=2", "Body=%E2%9C%93&From=",
		"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseForm(body)
		want, qerr := url.ParseQuery(string(body))
		if err != nil {
			if got != nil {
				t.Fatalf("partial result %v with error %v", got, err)
			}
			if !errors.Is(err, ErrMalformedForm) && !errors.Is(err, ErrRepeatedKey) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if errors.Is(err, ErrMalformedForm) != (qerr != nil) {
				t.Fatalf("malformed = %v, but url.ParseQuery error = %v", err, qerr)
			}
			return
		}
		if qerr != nil {
			t.Fatalf("accepted a body url.ParseQuery rejects: %v", qerr)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d keys, url.ParseQuery %d", len(got), len(want))
		}
		for k, vs := range want {
			if len(vs) != 1 || got[k] != vs[0] {
				t.Fatalf("key %q: got %q, url.ParseQuery %q", k, got[k], vs)
			}
		}
	})
}

func TestCheckParams(t *testing.T) {
	sid := func(prefix string) string { return prefix + strings.Repeat("0a", 16) }
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"a real call", Params{"AccountSid": sid("AC"), "CallSid": sid("CA"), "From": "+15125550123", "To": "+15125550100", "CallStatus": "ringing", "SequenceNumber": "0"}, true},
		{"an MMS", Params{"MessageSid": sid("MM"), "From": "sip:alice@example.com"}, true},
		{"upper-case hex", Params{"CallSid": "CA" + strings.Repeat("AB", 16)}, true},
		{"nothing to check", Params{}, true},
		{"long call sid", Params{"CallSid": "CA" + strings.Repeat("a", 9998)}, false},
		{"short call sid", Params{"CallSid": "CA123"}, false},
		{"wrong prefix", Params{"CallSid": sid("SM")}, false},
		{"not hex", Params{"MessageSid": "SM" + strings.Repeat("g", 32)}, false},
		{"empty account", Params{"AccountSid": ""}, false},
		{"dial sid", Params{"DialCallSid": sid("CA") + "0"}, false},
		{"long from", Params{"From": strings.Repeat("1", 257)}, false},
		{"long status", Params{"DialCallStatus": strings.Repeat("x", 33)}, false},
		{"sequence not a number", Params{"SequenceNumber": "1; DROP"}, false},
		{"long sequence", Params{"SequenceNumber": strings.Repeat("9", 11)}, false},
	}
	for _, tt := range tests {
		err := CheckParams(tt.p)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadParam)) {
			t.Errorf("%s: CheckParams = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
