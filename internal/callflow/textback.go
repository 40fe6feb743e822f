package callflow

import "strings"

// Suppression is why a text-back was not sent; empty means send it.
type Suppression string

const (
	SendTextback     Suppression = ""
	SuppressAnswered Suppression = "answered"
	SuppressNotText  Suppression = "not_textable"
	SuppressDisabled Suppression = "disabled"
	SuppressOptedOut Suppression = "opted_out"
	SuppressEntitled Suppression = "not_entitled"
	SuppressCooldown Suppression = "cooldown"
)

// TextbackCheck gathers what the text-back rules need to know when the job runs.
type TextbackCheck struct {
	Outcome        Outcome
	Textable       bool
	Enabled        bool
	OptedOut       bool
	Entitled       bool
	RecentlyTexted bool // the org texted this phone within the cooldown
}

// DecideTextback applies the text-back rules at send time, in a fixed order so that the
// recorded reason is the same however the facts arrived.
func DecideTextback(c TextbackCheck) Suppression {
	switch {
	case c.Outcome != OutcomeMissed:
		return SuppressAnswered
	case !c.Textable:
		return SuppressNotText
	case !c.Enabled:
		return SuppressDisabled
	case c.OptedOut:
		return SuppressOptedOut
	case !c.Entitled:
		return SuppressEntitled
	case c.RecentlyTexted:
		return SuppressCooldown
	}
	return SendTextback
}

// DefaultTemplate is the text-back an org gets unless it sets its own.
const DefaultTemplate = "Sorry we missed your call! This is {org}. Reply here and we'll get right back to you."

// RenderTextback fills a template: {org} is the org's name.
func RenderTextback(template, orgName string) string {
	if strings.TrimSpace(template) == "" {
		template = DefaultTemplate
	}
	return strings.ReplaceAll(template, "{org}", orgName)
}
