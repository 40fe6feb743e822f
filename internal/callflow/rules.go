package callflow

import "time"

// Rules are the service-wide settings the call and text-back rules read. One value is
// built from the configuration and handed to serve, replay and simulate alike, so that the
// three decide the same way.
type Rules struct {
	// DialTimeout is how long the owner's phone rings before the call counts as missed.
	DialTimeout time.Duration
	// Settle is how long a call may end without a dial-complete before it counts as missed.
	Settle time.Duration
	// TextbackDelay is the wait before a text-back goes out.
	TextbackDelay time.Duration
	// Cooldown allows one text-back per phone per org within it.
	Cooldown time.Duration
	// Template is the text-back of orgs that set none; empty means DefaultTemplate.
	Template string
	// EnforceBilling makes text-backs require an active or trialing subscription;
	// GracePastDue lets past_due through too.
	EnforceBilling bool
	GracePastDue   bool
}

// DefaultRules are the documented defaults.
func DefaultRules() Rules {
	return Rules{DialTimeout: 20 * time.Second, Settle: 30 * time.Second, Cooldown: 24 * time.Hour}
}

// Org is what the call rules need to know of the org a call came to.
type Org struct {
	Name             string
	ForwardTo        string
	MinAnswerSeconds int
	TextbackTemplate string // empty: the rules' template
	// AfterHoursTemplate is the text-back of a call missed outside Hours (in Timezone);
	// empty: the usual one.
	AfterHoursTemplate string
	Hours              Hours
	Timezone           string
	TextbackEnabled    bool
}

// CallState is a call as last stored: what the next decision is compared with.
type CallState struct {
	From       string    // the caller
	StartedAt  time.Time // when the call came in
	Outcome    Outcome
	Reason     string
	DialStatus string
	CallStatus string
}

// Textback is the text-back a call's transition to missed creates: queued for its job,
// or suppressed at once, with why, when the rules already refuse it, so that nobody
// promises the caller a text that will not come. The job checks everything again when it
// runs.
type Textback struct {
	To     string
	Body   string
	Status string // TextbackQueued or TextbackSuppressed
	Reason Suppression
}

// Standing is what the text-back rules need to know, beyond the call, when a text-back is
// created: whether the caller opted out of the org's texts, and whether the org is
// entitled to send them.
type Standing struct {
	OptedOut bool
	Entitled bool
}

// Judge applies the rules that need the caller's standing to a queued text-back: it
// stays queued, or is suppressed with the reason.
func (tb *Textback) Judge(s Standing) {
	if tb.Status != TextbackQueued {
		return
	}
	reason := DecideTextback(TextbackCheck{
		Outcome: OutcomeMissed, Textable: true, Enabled: true, OptedOut: s.OptedOut, Entitled: s.Entitled,
	})
	if reason != SendTextback {
		tb.Status, tb.Reason = TextbackSuppressed, reason
	}
}

// Text-back statuses a transition creates.
const (
	TextbackQueued     = "queued"
	TextbackSuppressed = "suppressed"
)

// Transition is what the facts of a call imply, given its stored state: the decision to
// store, whether it differs from the stored one, the lead to open, the text-back to
// create, and when to check again if the call ended without a dial-complete. It is the
// whole of what the store persists and the queue is asked for.
type Transition struct {
	Decision
	// Changed is set when the decision differs from the stored state.
	Changed bool
	// OpenLead asks for the caller's lead: the call just became missed and the caller
	// can take a text.
	OpenLead bool
	// Textback is the text-back to create, once per call; nil when none. A queued one is
	// to be judged on the caller's Standing before it is stored.
	Textback *Textback
	// SettleAt, when set, is when the call becomes missed unless a dial-complete comes.
	SettleAt time.Time
}

// Next decides a call from all its facts and says what the decision implies, compared
// with the call as stored. Like Decide, it does not depend on the order of the facts.
func Next(prev CallState, facts []Fact, org Org, r Rules) Transition {
	d := Decide(facts, CallPolicy{ForwardTo: org.ForwardTo, MinAnswerSeconds: org.MinAnswerSeconds})
	t := Transition{Decision: d}
	entering := d.Outcome == OutcomeMissed && prev.Outcome != OutcomeMissed
	t.Changed = entering || d.Outcome != prev.Outcome || d.Reason != prev.Reason ||
		d.DialStatus != prev.DialStatus || d.CallStatus != prev.CallStatus
	switch {
	case entering:
		// The text-back is created with the transition, so a call stored as missed
		// already has one.
		template := org.TextbackTemplate
		if template == "" {
			template = r.Template
		}
		// A call missed while the business is closed gets the after-hours text-back;
		// decided on the call's start, so that replaying the call decides the same.
		template = ChooseTemplate(org.Hours.OpenAt(prev.StartedAt, org.Timezone), template, org.AfterHoursTemplate)
		tb := &Textback{To: prev.From, Body: RenderTextback(template, org.Name), Status: TextbackQueued}
		t.OpenLead = Textable(prev.From)
		reason := DecideTextback(TextbackCheck{
			Outcome: OutcomeMissed, Textable: t.OpenLead, Enabled: org.TextbackEnabled, Entitled: true,
		})
		if reason != SendTextback {
			tb.Status, tb.Reason = TextbackSuppressed, reason
		}
		t.Textback = tb
	case !d.SettleFrom.IsZero():
		t.SettleAt = d.SettleFrom.Add(r.Settle)
	}
	return t
}
