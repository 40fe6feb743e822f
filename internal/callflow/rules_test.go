package callflow

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	org := Org{Name: "Acme", ForwardTo: "+15125550199", TextbackEnabled: true}
	rules := Rules{Settle: 30 * time.Second, Template: "Hi from {org}"}
	caller := "+15125550123"
	forwarded := CallState{From: caller, Outcome: OutcomeForwarded}
	tests := []struct {
		name     string
		prev     CallState
		facts    []Fact
		org      Org
		changed  bool
		openLead bool
		textback *Textback
		settleAt time.Time
	}{
		{name: "first fact of a ringing call", prev: forwarded, facts: []Fact{inbound()}, org: org},
		{name: "missed: lead and text-back", prev: forwarded, facts: []Fact{inbound(), dial("no-answer", 0)}, org: org,
			changed: true, openLead: true, textback: &Textback{To: caller, Body: "Hi from Acme", Status: TextbackQueued}},
		{name: "already missed: nothing new", prev: CallState{From: caller, Outcome: OutcomeMissed, Reason: "dial_no-answer", DialStatus: "no-answer"},
			facts: []Fact{inbound(), dial("no-answer", 0)}, org: org},
		{name: "untextable caller: suppressed, no lead",
			prev: CallState{From: "anonymous", Outcome: OutcomeForwarded}, facts: []Fact{dial("busy", 0)}, org: org,
			changed: true, textback: &Textback{To: "anonymous", Body: "Hi from Acme", Status: TextbackSuppressed, Reason: SuppressNotText}},
		{name: "org template wins", prev: forwarded, facts: []Fact{dial("busy", 0)}, org: Org{Name: "Acme", ForwardTo: "+15125550199", TextbackTemplate: "{org} here", TextbackEnabled: true},
			changed: true, openLead: true, textback: &Textback{To: caller, Body: "Acme here", Status: TextbackQueued}},
		{name: "text-backs off: suppressed, lead still opened", prev: forwarded, facts: []Fact{dial("busy", 0)}, org: Org{Name: "Acme", ForwardTo: "+15125550199"},
			changed: true, openLead: true, textback: &Textback{To: caller, Body: "Hi from Acme", Status: TextbackSuppressed, Reason: SuppressDisabled}},
		{name: "ended without dial-complete: settle later", prev: forwarded, facts: []Fact{inbound(), status("completed", 3)}, org: org,
			changed: true, settleAt: t0.Add(25*time.Second + 30*time.Second)},
		{name: "answered after missed: no new text-back", prev: CallState{From: caller, Outcome: OutcomeMissed, Reason: "hung_up"},
			facts: []Fact{status("completed", 3), settled(), dial("completed", 30)}, org: org, changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.prev, tt.facts, tt.org, rules)
			if got.Changed != tt.changed || got.OpenLead != tt.openLead || !got.SettleAt.Equal(tt.settleAt) {
				t.Errorf("Next = changed %v, open lead %v, settle at %v; want %v, %v, %v",
					got.Changed, got.OpenLead, got.SettleAt, tt.changed, tt.openLead, tt.settleAt)
			}
			switch {
			case (got.Textback == nil) != (tt.textback == nil):
				t.Errorf("text-back %+v, want %+v", got.Textback, tt.textback)
			case got.Textback != nil && *got.Textback != *tt.textback:
				t.Errorf("text-back %+v, want %+v", *got.Textback, *tt.textback)
			}
		})
	}
}

func TestTextbackJudge(t *testing.T) {
	tests := []struct {
		name     string
		standing Standing
		status   string
		reason   Suppression
	}{
		{"in good standing", Standing{Entitled: true}, TextbackQueued, SendTextback},
		{"opted out", Standing{OptedOut: true, Entitled: true}, TextbackSuppressed, SuppressOptedOut},
		{"not entitled", Standing{}, TextbackSuppressed, SuppressEntitled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := Textback{Status: TextbackQueued}
			tb.Judge(tt.standing)
			if tb.Status != tt.status || tb.Reason != tt.reason {
				t.Errorf("judged %s (%s), want %s (%s)", tb.Status, tb.Reason, tt.status, tt.reason)
			}
		})
	}
	// An already suppressed text-back keeps its first reason.
	tb := Textback{Status: TextbackSuppressed, Reason: SuppressNotText}
	tb.Judge(Standing{OptedOut: true})
	if tb.Reason != SuppressNotText {
		t.Errorf("reason became %s", tb.Reason)
	}
}
