// Package callflow is the domain of missed-call recovery: call facts and the outcome they
// decide, text-back rules, SMS keywords, and phone numbers. It knows nothing of HTTP or SQL.
package callflow

import "time"

// Outcome is what a call came to, derived from its facts.
type Outcome string

const (
	OutcomeForwarded Outcome = "forwarded" // dial issued, not decided yet
	OutcomeAnswered  Outcome = "answered"
	OutcomeMissed    Outcome = "missed"
)

// FactKind names the callback a fact came from.
type FactKind string

const (
	FactInbound      FactKind = "inbound"
	FactDialComplete FactKind = "dial_complete"
	FactStatus       FactKind = "status"
	// FactSettled records that the settle window passed after a terminal status with no
	// dial-complete; it is written by the settle job, so that the outcome stays a function
	// of stored facts alone.
	FactSettled FactKind = "settled"
)

// Fact is one thing a provider callback told us about a call.
type Fact struct {
	Kind         FactKind
	DialStatus   string // DialCallStatus
	DialCallSID  string
	DialDuration int // DialCallDuration, seconds
	CallStatus   string
	CallDuration int
	Sequence     int // SequenceNumber, -1 when absent
	At           time.Time
}

// CallPolicy is the part of an org's settings that the outcome depends on.
type CallPolicy struct {
	ForwardTo        string
	MinAnswerSeconds int
}

// Decision is the derived state of a call.
type Decision struct {
	Outcome Outcome
	Reason  string // why, in a word: "dial_no-answer", "no_forward_to", "hung_up", ...
	// DialStatus and CallStatus summarise the facts for display.
	DialStatus string
	CallStatus string
	// SettleFrom is set when the call ended without a dial-complete: the outcome becomes
	// missed once the settle window after this instant has passed.
	SettleFrom time.Time
}

// terminalCallStatuses are the parent call statuses after which nothing rings any more.
var terminalCallStatuses = map[string]bool{
	"completed": true, "busy": true, "no-answer": true, "failed": true, "canceled": true,
}

// IsTerminalCallStatus reports whether a parent CallStatus ends the call.
func IsTerminalCallStatus(s string) bool { return terminalCallStatuses[s] }

// Decide derives a call's outcome from its facts. The facts may come in any order and any
// number of times: Decide looks only at which facts exist, never at their arrival order.
func Decide(facts []Fact, p CallPolicy) Decision {
	var (
		d                      Decision
		answerStatus, missedBy string // the deciding dial status of each kind
		settled, terminal      bool
		terminalAt             time.Time
		bestRank               = -2
	)
	first := func(cur, s string) string { // order-free choice between two candidates
		if cur == "" || s < cur {
			return s
		}
		return cur
	}
	for _, f := range facts {
		switch f.Kind {
		case FactDialComplete:
			switch f.DialStatus {
			case "completed", "answered":
				if f.DialDuration >= p.MinAnswerSeconds {
					answerStatus = first(answerStatus, f.DialStatus)
				} else {
					// The owner's voicemail picked up: it looks answered but is not.
					missedBy = first(missedBy, "answered_too_short")
				}
			case "no-answer", "busy", "failed", "canceled":
				missedBy = first(missedBy, f.DialStatus)
			}
		case FactStatus:
			// The latest status (highest sequence, terminal above all) summarises the call;
			// ties resolve alphabetically so that arrival order never matters.
			rank := f.Sequence
			if IsTerminalCallStatus(f.CallStatus) {
				rank += 1 << 20
				if !terminal || f.At.Before(terminalAt) {
					terminalAt = f.At
				}
				terminal = true
			}
			if rank > bestRank || (rank == bestRank && f.CallStatus < d.CallStatus) {
				bestRank, d.CallStatus = rank, f.CallStatus
			}
		case FactSettled:
			settled = true
		}
	}
	switch {
	case answerStatus != "":
		d.Outcome, d.Reason, d.DialStatus = OutcomeAnswered, "answered", answerStatus
	case missedBy != "":
		d.Outcome, d.Reason, d.DialStatus = OutcomeMissed, "dial_"+missedBy, missedBy
		if missedBy == "answered_too_short" {
			d.Reason, d.DialStatus = missedBy, "completed"
		}
	case p.ForwardTo == "":
		d.Outcome, d.Reason = OutcomeMissed, "no_forward_to"
	case terminal && settled:
		d.Outcome, d.Reason = OutcomeMissed, "hung_up"
	case terminal:
		d.Outcome, d.SettleFrom = OutcomeForwarded, terminalAt
	default:
		d.Outcome = OutcomeForwarded
	}
	return d
}
