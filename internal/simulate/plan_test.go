package simulate

import (
	"net/url"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/twilio"
)

func TestParseRamp(t *testing.T) {
	tests := []struct {
		in      string
		want    Ramp
		wantErr bool
	}{
		{in: "0:2000/30s", want: Ramp{{0, 2000, 30 * time.Second}}},
		{in: "0:500/10s, 500:500/20s", want: Ramp{{0, 500, 10 * time.Second}, {500, 500, 20 * time.Second}}},
		{in: "2000", wantErr: true},
		{in: "0:0/10s", wantErr: true},
		{in: "-1:5/10s", wantErr: true},
		{in: "1:5/0s", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRamp(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("stage %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
	r := Ramp{{0, 2000, 30 * time.Second}}
	if r.At(15*time.Second) != 1000 || r.At(time.Minute) != 2000 || r.Requests() != 30000 {
		t.Errorf("At(15s)=%v At(1m)=%v Requests=%v", r.At(15*time.Second), r.At(time.Minute), r.Requests())
	}
}

func TestDialAction(t *testing.T) {
	dial, _ := twilio.DialTwiML("https://hooks.example.com/api/twilio/voice/dial-complete", 20, "+15125550199")
	hangup, _ := twilio.SayHangupTwiML("Sorry")
	tests := []struct {
		name, body, want string
		wantErr          bool
	}{
		{name: "dial", body: dial, want: "https://hooks.example.com/api/twilio/voice/dial-complete"},
		{name: "hangup", body: hangup},
		{name: "not xml", body: "application error", wantErr: true},
		{name: "dial without action", body: `<Response><Dial><Number>+15125550199</Number></Dial></Response>`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dialAction([]byte(tc.body))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestCallersAreTextable: the pool's numbers are ones a text-back can reach, and the
// untextable ones are not.
func TestCallersAreTextable(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2000 {
		n := callerNumber(i)
		if !callflow.Textable(n) {
			t.Fatalf("caller %d %s is not textable", i, n)
		}
		if seen[n] {
			t.Fatalf("caller %d %s repeats", i, n)
		}
		seen[n] = true
	}
	for _, n := range untextableCallers {
		if callflow.Textable(n) {
			t.Errorf("%s is textable", n)
		}
	}
}

func TestEncodeFormMatchesURLValues(t *testing.T) {
	p := twilio.Params{"Body": "STOP please & thanks", "From": "+15125550123", "Empty": "", "ä": "ü=1"}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	if got, want := string(encodeForm(p)), form.Encode(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestSameSeedSameTraffic: a seed and run id decide every call's plan.
func TestSameSeedSameTraffic(t *testing.T) {
	plan := func(seed uint64) []string {
		s := &sim{o: Options{Callers: 50, AnswerRate: 0.4, Untextable: 0.1, Faults: Faults{Reorder: 0.2}},
			ids: ider{ns: "seed/" + string(rune('0'+seed))}}
		s.orgs = []*simOrg{{number: "+17375550100"}, {number: "+17375550101"}}
		var out []string
		for i := range 50 {
			c, rng := s.newCall(i)
			out = append(out, c.sid+c.from+c.org.number+c.dialStatus+map[bool]string{true: "r"}[c.reorder]+string(rune('a'+rng.IntN(26))))
		}
		return out
	}
	a, b, c := plan(1), plan(1), plan(2)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("call %d differs with the same seed: %s vs %s", i, a[i], b[i])
		}
	}
	if a[0] == c[0] {
		t.Error("another seed plays the same first call")
	}
}
