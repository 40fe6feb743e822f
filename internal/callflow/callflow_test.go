package callflow

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)

func inbound() Fact { return Fact{Kind: FactInbound, CallStatus: "ringing", Sequence: -1, At: t0} }
func dial(status string, dur int) Fact {
	return Fact{Kind: FactDialComplete, DialStatus: status, DialDuration: dur, Sequence: -1, At: t0.Add(20 * time.Second)}
}
func status(s string, seq int) Fact {
	return Fact{Kind: FactStatus, CallStatus: s, Sequence: seq, At: t0.Add(25 * time.Second)}
}
func settled() Fact { return Fact{Kind: FactSettled, At: t0.Add(time.Minute)} }

func TestDecide(t *testing.T) {
	owner := CallPolicy{ForwardTo: "+15125550199"}
	tests := []struct {
		name       string
		facts      []Fact
		policy     CallPolicy
		want       Outcome
		reason     string
		wantSettle bool
	}{
		{"ringing only", []Fact{inbound()}, owner, OutcomeForwarded, "", false},
		{"owner answered", []Fact{inbound(), dial("completed", 40)}, owner, OutcomeAnswered, "answered", false},
		{"conference answered", []Fact{inbound(), dial("answered", 40)}, owner, OutcomeAnswered, "answered", false},
		{"no answer", []Fact{inbound(), dial("no-answer", 0)}, owner, OutcomeMissed, "dial_no-answer", false},
		{"busy", []Fact{dial("busy", 0)}, owner, OutcomeMissed, "dial_busy", false},
		{"failed", []Fact{dial("failed", 0)}, owner, OutcomeMissed, "dial_failed", false},
		{"caller hung up while ringing", []Fact{dial("canceled", 0)}, owner, OutcomeMissed, "dial_canceled", false},
		{"voicemail picked up", []Fact{dial("completed", 8)}, CallPolicy{ForwardTo: "+15125550199", MinAnswerSeconds: 15}, OutcomeMissed, "answered_too_short", false},
		{"long enough", []Fact{dial("completed", 30)}, CallPolicy{ForwardTo: "+15125550199", MinAnswerSeconds: 15}, OutcomeAnswered, "answered", false},
		{"no forward-to", []Fact{inbound()}, CallPolicy{}, OutcomeMissed, "no_forward_to", false},
		{"ended without dial-complete waits", []Fact{inbound(), status("completed", 3)}, owner, OutcomeForwarded, "", true},
		{"settled without dial-complete", []Fact{inbound(), status("completed", 3), settled()}, owner, OutcomeMissed, "hung_up", false},
		{"dial-complete after settle wins", []Fact{inbound(), status("completed", 3), settled(), dial("completed", 30)}, owner, OutcomeAnswered, "answered", false},
		{"in-progress status is not terminal", []Fact{inbound(), status("in-progress", 1)}, owner, OutcomeForwarded, "", false},
		{"answered beats a stray missed", []Fact{dial("no-answer", 0), dial("completed", 30)}, owner, OutcomeAnswered, "answered", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.facts, tt.policy)
			if d.Outcome != tt.want || d.Reason != tt.reason {
				t.Errorf("Decide = %s (%s), want %s (%s)", d.Outcome, d.Reason, tt.want, tt.reason)
			}
			if got := !d.SettleFrom.IsZero(); got != tt.wantSettle {
				t.Errorf("needs settle = %v, want %v", got, tt.wantSettle)
			}
		})
	}
}

// TestDecideIgnoresOrderAndRepetition is the reproducibility promise: any order, any
// number of copies, the same decision.
func TestDecideIgnoresOrderAndRepetition(t *testing.T) {
	sets := [][]Fact{
		{inbound(), dial("no-answer", 0), status("ringing", 0), status("in-progress", 1), status("completed", 2)},
		{inbound(), dial("completed", 33), status("completed", 2)},
		{inbound(), status("completed", 2), settled()},
		{inbound(), status("busy", 1), status("completed", 2), dial("busy", 0)},
	}
	policy := CallPolicy{ForwardTo: "+15125550199", MinAnswerSeconds: 10}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, facts := range sets {
		want := Decide(facts, policy)
		for range 200 {
			shuffled := append([]Fact(nil), facts...)
			for range rng.IntN(4) { // duplicates
				shuffled = append(shuffled, facts[rng.IntN(len(facts))])
			}
			rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			if got := Decide(shuffled, policy); got != want {
				t.Fatalf("set %d: order %v gave %+v, in order %+v", i, shuffled, got, want)
			}
		}
	}
}

func TestClassifyKeyword(t *testing.T) {
	tests := map[string]Keyword{
		"STOP": KeywordOptOut, " stop ": KeywordOptOut, "Stop": KeywordOptOut, "STOP ALL": KeywordOptOut,
		"stopall": KeywordOptOut, "unsubscribe": KeywordOptOut, "cancel": KeywordOptOut, "END": KeywordOptOut,
		"quit": KeywordOptOut, "OPTOUT": KeywordOptOut, "revoke": KeywordOptOut,
		"START": KeywordOptIn, "yes": KeywordOptIn, "Unstop": KeywordOptIn,
		"HELP": KeywordHelp, "info": KeywordHelp,
		"STOP please": KeywordNone, "please stop": KeywordNone, "": KeywordNone, "my AC is broken": KeywordNone,
		"stop\t\n   all": KeywordOptOut, "ſtop": KeywordOptOut, "ſſſſſſſſſſſ": KeywordNone,
		"unſubſcribe" + strings.Repeat(" ", 100): KeywordOptOut,
		strings.Repeat("no heat upstairs ", 40):  KeywordNone,
	}
	for body, want := range tests {
		if got := ClassifyKeyword(body); got != want {
			t.Errorf("ClassifyKeyword(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestDecideTextback(t *testing.T) {
	ok := TextbackCheck{Outcome: OutcomeMissed, Textable: true, Enabled: true, Entitled: true}
	tests := []struct {
		name   string
		change func(*TextbackCheck)
		want   Suppression
	}{
		{"send", func(*TextbackCheck) {}, SendTextback},
		{"answered after all", func(c *TextbackCheck) { c.Outcome = OutcomeAnswered }, SuppressAnswered},
		{"still ringing", func(c *TextbackCheck) { c.Outcome = OutcomeForwarded }, SuppressAnswered},
		{"anonymous caller", func(c *TextbackCheck) { c.Textable = false }, SuppressNotText},
		{"disabled", func(c *TextbackCheck) { c.Enabled = false }, SuppressDisabled},
		{"opted out", func(c *TextbackCheck) { c.OptedOut = true }, SuppressOptedOut},
		{"not entitled", func(c *TextbackCheck) { c.Entitled = false }, SuppressEntitled},
		{"cooldown", func(c *TextbackCheck) { c.RecentlyTexted = true }, SuppressCooldown},
		{"opt-out outranks cooldown", func(c *TextbackCheck) { c.RecentlyTexted, c.OptedOut = true, true }, SuppressOptedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			if got := DecideTextback(c); got != tt.want {
				t.Errorf("DecideTextback = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPhones(t *testing.T) {
	norm := []struct{ in, want string }{
		{"(512) 555-0100", "+15125550100"},
		{"+1 512 555 0100", "+15125550100"},
		{"512.555.0100", "+15125550100"},
		{"+44 20 7946 0958", "+442079460958"},
	}
	for _, tt := range norm {
		got, err := NormalizePhone(tt.in, "US")
		if err != nil || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "hello", "555", "+1 000 000 0000", "+266696687"} {
		if got, err := NormalizePhone(bad, "US"); err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want an error", bad, got)
		}
	}
	textable := map[string]bool{
		"+15125550123": true, "anonymous": false, "+266696687": false, "client:alice": false,
		"sip:bob@example.com": false, "": false, "5125550123": false, "+1 512 555 0123": false,
		"+442079460958": false, // a London landline cannot take a text
	}
	for from, want := range textable {
		if got := Textable(from); got != want {
			t.Errorf("Textable(%q) = %v, want %v", from, got, want)
		}
	}
}

// A number's facts are shared by every delivery that meets it: written for the owner
// first, its type worked out when a rule first asks, from many goroutines at once (the
// race detector runs this).
func TestPhoneFactsConcurrently(t *testing.T) {
	numbers := map[string]struct {
		human    string
		textable bool
	}{
		"+15125550187":  {"(512) 555-0187", true},
		"+442079460959": {"+44 20 7946 0959", false},
	}
	var wg sync.WaitGroup
	for range 8 {
		for from, want := range numbers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := HumanPhone(from, "+15125550100"); got != want.human {
					t.Errorf("HumanPhone(%q) = %q, want %q", from, got, want.human)
				}
				if got := Textable(from); got != want.textable {
					t.Errorf("Textable(%q) = %v, want %v", from, got, want.textable)
				}
			}()
		}
	}
	wg.Wait()
}

func TestRenderTextback(t *testing.T) {
	if got := RenderTextback("", "Acme"); got != "Sorry we missed your call! This is Acme. Reply here and we'll get right back to you." {
		t.Errorf("default template: %q", got)
	}
	if got := RenderTextback("Hi from {org}!", "Acme"); got != "Hi from Acme!" {
		t.Errorf("custom template: %q", got)
	}
}

func TestMissedCallMessagePromisesOnlyAQueuedText(t *testing.T) {
	tests := []struct {
		reason string
		queued bool
		want   string
	}{
		{"dial_no-answer", true, "Sorry we missed you. We will text you back shortly."},
		{"dial_no-answer", false, "Sorry we missed you. Goodbye."},
		{"hung_up", false, "Sorry we missed you. Goodbye."},
		{"no_forward_to", true, "Sorry, nobody can take your call right now. We will text you back shortly."},
		{"no_forward_to", false, "Sorry, nobody can take your call right now. Goodbye."},
	}
	for _, tt := range tests {
		if got := MissedCallMessage(tt.reason, tt.queued); got != tt.want {
			t.Errorf("MissedCallMessage(%q, %v) = %q, want %q", tt.reason, tt.queued, got, tt.want)
		}
	}
}

func TestDeliveryStatusMovesForwardOnly(t *testing.T) {
	// Folding callbacks in any order gives the furthest status reached.
	fold := func(seq ...string) string {
		cur := StatusSent
		for _, tw := range seq {
			s, ok := DeliveryStatus(tw)
			if !ok {
				continue
			}
			for _, b := range StatusesBelow(s) {
				if b == cur {
					cur = s
					break
				}
			}
		}
		return cur
	}
	tests := []struct {
		name string
		seq  []string
		want string
	}{
		{"in order", []string{"queued", "sending", "sent", "delivered"}, StatusDelivered},
		{"late sent", []string{"delivered", "sent", "sending"}, StatusDelivered},
		{"undelivered then duplicate sent", []string{"undelivered", "sent", "undelivered"}, StatusUndelivered},
		{"queued after sent is ignored", []string{"queued"}, StatusSent},
		{"inbound statuses mean nothing", []string{"received", "receiving", "bogus"}, StatusSent},
		{"read counts as delivered", []string{"read"}, StatusDelivered},
		{"first final status stays", []string{"failed", "delivered"}, StatusFailed},
	}
	for _, tt := range tests {
		if got := fold(tt.seq...); got != tt.want {
			t.Errorf("%s: %v folds to %s, want %s", tt.name, tt.seq, got, tt.want)
		}
	}
}

func TestHours(t *testing.T) {
	h, err := ParseHours("Mon-Fri 08:00-18:00, Sat 09:00-13:00")
	if err != nil {
		t.Fatal(err)
	}
	chicago := "America/Chicago"
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		at   string
		open bool
	}{
		{"2026-12-01T14:00:00Z", true},  // Tue 08:00 in Chicago
		{"2026-12-01T13:59:00Z", false}, // Tue 07:59
		{"2026-12-02T00:00:00Z", false}, // Tue 18:00, closed from then
		{"2026-12-05T18:59:00Z", true},  // Sat 12:59
		{"2026-12-05T19:00:00Z", false}, // Sat 13:00
		{"2026-12-06T17:00:00Z", false}, // Sun
	}
	for _, tt := range tests {
		if got := h.OpenAt(at(tt.at), chicago); got != tt.open {
			t.Errorf("open at %s = %v, want %v", tt.at, got, tt.open)
		}
	}
	if always, _ := ParseHours(""); !always.AlwaysOpen() || !always.OpenAt(at("2026-12-06T03:00:00Z"), chicago) {
		t.Error("empty hours should be always open")
	}
	if wrap, err := ParseHours("Sat-Sun 10:00-24:00"); err != nil || !wrap.OpenAt(at("2026-12-07T05:59:00Z"), chicago) {
		t.Errorf("Sat-Sun until midnight: %v", err)
	}
	for _, bad := range []string{"Mon", "Mon 8-18", "Funday 08:00-18:00", "Mon 18:00-08:00", "Mon 08:00-25:00", "Mon-Fri 08:00-18:00,", "Mon 08:60-09:00"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) should fail", bad)
		}
	}
}

func TestUrgent(t *testing.T) {
	kw := UrgentKeywords("")
	for body, want := range map[string]bool{
		"We have NO HEAT and a baby":        true,
		"I smell gas in the basement":       true,
		"the water heater is leaking":       true,
		"No A/C since noon":                 true,
		"need a new gasket for the furnace": false,
		"can you come tuesday?":             false,
		"Emergency!":                        true,
		"":                                  false,
		"  no \t\n  HEAT upstairs ":         true,
		"no\u00a0heat":                      true,
		"nó heat":                           false,
	} {
		if got := Urgent(body, kw); got != want {
			t.Errorf("Urgent(%q) = %v, want %v", body, got, want)
		}
	}
	if !Urgent("water everywhere", UrgentKeywords("Water, burst pipe")) || Urgent("no heat", UrgentKeywords("water")) {
		t.Error("an org's own keywords replace the defaults")
	}
}

func TestFoldedIsFieldsOfLowerJoined(t *testing.T) {
	for _, in := range []string{"", " ", "No Heat", "  a\t\tb \n", "ÀÉÎ ñ", "\u00a0x\u2003Y\u00a0", "bad \xff\xfe BYTES", "İSTANBUL", "ΣΑΣ"} {
		if got, want := folded(in), strings.Join(strings.Fields(strings.ToLower(in)), " "); got != want {
			t.Errorf("folded(%q) = %q, want %q", in, got, want)
		}
		if got, want := fold(in, false), strings.Join(strings.Fields(in), " "); got != want {
			t.Errorf("fold(%q, false) = %q, want %q", in, got, want)
		}
	}
}

func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		body     string
		media    int
		keywords string
		want     string
	}{
		{"We have NO HEAT", 0, "", `URGENT Reply from X: "We have NO HEAT"`},
		{"We have NO HEAT", 0, "water", `Reply from X: "We have NO HEAT"`},
		{"water  everywhere\n", 0, "Water, burst pipe", `URGENT Reply from X: "water everywhere"`},
		{"", 2, "", `Reply from X: "[2 media]"`},
		{"", 0, "", `Reply from X (no text)`},
	} {
		r := ReadReply(c.body, c.media, c.keywords)
		if got := r.Notice("X"); got != c.want || r.Keywords != c.keywords {
			t.Errorf("ReadReply(%q, %d, %q) = %+v, notice %q, want %q", c.body, c.media, c.keywords, r, got, c.want)
		}
	}
}

func TestNotices(t *testing.T) {
	if got := HumanPhone("+15125550123", "+15125550100"); got != "(512) 555-0123" {
		t.Errorf("HumanPhone US = %q", got)
	}
	if got := HumanPhone("+442079460958", "+15125550100"); got != "+44 20 7946 0958" {
		t.Errorf("HumanPhone UK = %q", got)
	}
	if got := MissedCallNotice("(512) 555-0123", true); got != "Missed call from (512) 555-0123. We texted them back." {
		t.Errorf("MissedCallNotice = %q", got)
	}
	for _, c := range []struct{ body, quote string }{
		{strings.Repeat("é", maxQuote), strings.Repeat("é", maxQuote)},
		{strings.Repeat("é", maxQuote+1), strings.Repeat("é", maxQuote-1) + "…"},
		{"  two\n\tlines  ", "two lines"},
		{strings.Repeat("a", maxQuote-3) + " 🔥🔥", strings.Repeat("a", maxQuote-3) + " 🔥🔥"},
		{strings.Repeat("a", maxQuote-3) + " 🔥🔥🔥", strings.Repeat("a", maxQuote-3) + " 🔥…"},
		{strings.Repeat("a", maxQuote-2) + " 🔥🔥", strings.Repeat("a", maxQuote-2) + "…"},
	} {
		if got, want := ReadReply(c.body, 0, "").Notice("(512) 555-0123"), `Reply from (512) 555-0123: "`+c.quote+`"`; got != want {
			t.Errorf("notice of %q = %q, want %q", c.body, got, want)
		}
	}
	long := strings.Repeat("furnace ", 40)
	r := ReadReply(long, 0, "")
	r.Urgent = true
	got := r.Notice("(512) 555-0123")
	if !strings.HasPrefix(got, `URGENT Reply from (512) 555-0123: "furnace`) || len([]rune(got)) > 170 || !strings.HasSuffix(got, `…"`) {
		t.Errorf("notice = %q", got)
	}
	for _, tt := range []struct {
		notify, caller string
		entitled       bool
		want           string
	}{
		{"", "+15125550123", true, NotifyNoNumber},
		{"+15125550199", "+15125550123", false, NotifyNotEntitled},
		{"+15125550199", "+15125550199", true, NotifyIsCaller},
		{"+15125550199", "+15125550123", true, ""},
	} {
		if got := DecideNotify(tt.notify, tt.caller, tt.entitled); got != tt.want {
			t.Errorf("DecideNotify(%q, %q, %v) = %q, want %q", tt.notify, tt.caller, tt.entitled, got, tt.want)
		}
	}
}
