package logview

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
)

// convView is the whole story of a call or a lead (or an org's billing): every delivery
// and message in time order, with what it came to at the top.
type convView struct {
	title  string
	query  logquery.ConversationQuery
	conv   logquery.Conversation
	loaded bool
	cursor int
	offset int
}

type convMsg struct {
	query logquery.ConversationQuery
	conv  logquery.Conversation
	err   error
}

func (m Model) openConv(e store.Evidence) (tea.Model, tea.Cmd) {
	q := logquery.ConversationFor(e)
	title := "conversation"
	switch {
	case q.Billing:
		title = "billing"
	case q.CallSID != "":
		title = "call " + q.CallSID
	case q.Phone != "":
		title = "lead " + m.pii.text(q.Phone)
	default:
		m.setFlash("this delivery belongs to no call, lead or billing story", true)
		return m, nil
	}
	m.conv = convView{title: escape(title), query: q}
	m.push(screenConv)
	m.flash = ""
	src, ctx := m.deps.Source, m.ctx
	return m, func() tea.Msg {
		c, err := src.Conversation(ctx, q)
		return convMsg{query: q, conv: c, err: err}
	}
}

func (m Model) onConv(msg convMsg) (tea.Model, tea.Cmd) {
	if msg.query != m.conv.query {
		return m, nil
	}
	if msg.err != nil {
		m.setFlash("conversation: "+msg.err.Error(), true)
		return m, nil
	}
	m.conv.conv, m.conv.loaded = msg.conv, true
	m.conv.cursor = 0
	return m, nil
}

func (m Model) onConvKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Open):
		if it, ok := m.conv.selected(); ok && it.Delivery != nil {
			return m.openDetail(*it.Delivery)
		}
	case key.Matches(msg, m.keys.Export):
		if it, ok := m.conv.selected(); ok && it.Delivery != nil {
			return m, m.exportBundle(*it.Delivery)
		}
	}
	return m, nil
}

func (v *convView) selected() (logquery.ConversationItem, bool) {
	if v.cursor < 0 || v.cursor >= len(v.conv.Items) {
		return logquery.ConversationItem{}, false
	}
	return v.conv.Items[v.cursor], true
}

func (v *convView) move(delta, height int) {
	v.cursor = clampInt(v.cursor+delta, 0, len(v.conv.Items)-1)
	v.offset = scrollTo(v.cursor, v.offset, height)
}

func (v *convView) clamp(height int) {
	v.cursor = clampInt(v.cursor, 0, len(v.conv.Items)-1)
	v.offset = scrollTo(v.cursor, min(v.offset, v.cursor), height)
}

// convHeader is the outcome at the top of the story.
func (m Model) convHeader() []string {
	c := m.conv.conv
	p := m.pii
	var lines []string
	call := c.Call
	if call == nil && len(c.Calls) > 0 {
		call = &c.Calls[len(c.Calls)-1] // the lead's latest call
	}
	if call != nil {
		lines = append(lines, "Outcome  "+m.st.header.Render(strings.ToUpper(escape(call.Outcome)))+"  "+callSummary(*call, p))
	} else if m.conv.query.CallSID != "" {
		lines = append(lines, "Outcome  no call recorded for "+escape(m.conv.query.CallSID)+" (unmatched or rejected deliveries only)")
	}
	if c.Lead != nil {
		l := c.Lead
		s := fmt.Sprintf("Lead     #%d · %s · %s · %d messages · %d calls", l.ID, escape(p.text(l.Phone)), escape(l.Status), len(l.Messages), len(c.Calls))
		if l.OptedOut {
			s += " · " + m.st.err.Render("OPTED OUT")
		}
		lines = append(lines, s)
	}
	if b := c.Billing; b != nil {
		s := fmt.Sprintf("Billing  %s · customer %s · subscription %s · latest invoice %s",
			escape(orDash(b.Status)), escape(orDash(b.CustomerID)), escape(orDash(b.SubscriptionID)), escape(orDash(b.LatestInvoiceStatus)))
		if b.CancelAtPeriodEnd {
			s += " · cancels at period end"
		}
		if !b.CurrentPeriodEnd.IsZero() {
			s += " · period ends " + b.CurrentPeriodEnd.UTC().Format("2006-01-02")
		}
		lines = append(lines, s)
	} else if m.conv.query.Billing {
		lines = append(lines, "Billing  no billing state for this org")
	}
	if len(lines) == 0 {
		lines = append(lines, "Lead     none")
	}
	return lines
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (m Model) convListHeight() int { return max(1, m.bodyHeight()-len(m.convHeader())-2) }

func (m Model) convLines() []string {
	v := m.conv
	if !v.loaded {
		return []string{" loading…"}
	}
	var lines []string
	for _, l := range m.convHeader() {
		lines = append(lines, " "+fit(l, m.width-1))
	}
	lines = append(lines, "", m.st.header.Render(fit(fmt.Sprintf(" %-14s  %-3s %s", "TIME (UTC)", "", "EVENT"), m.width)))
	if len(v.conv.Items) == 0 {
		return append(lines, " nothing recorded")
	}
	h := m.convListHeight()
	end := min(len(v.conv.Items), v.offset+h)
	for i := v.offset; i < end; i++ {
		it := v.conv.Items[i]
		arrow, text := m.itemText(it)
		line := fit(fmt.Sprintf(" %-14s  %-3s %s", it.At.UTC().Format(listTime), arrow, text), m.width)
		switch {
		case i == v.cursor:
			line = m.st.selected.Render(line)
		case it.Delivery != nil && (it.Delivery.Status == store.StatusRejected || it.Delivery.Status == store.StatusFailed):
			line = m.st.err.Render(line)
		case it.Message != nil:
			line = m.st.ok.Render(line)
		}
		lines = append(lines, line)
	}
	return lines
}

// itemText describes one event of a story: the arrow says who spoke (⇢ a provider
// callback, → we texted, ← the caller texted, ↗ we told the owner).
func (m Model) itemText(it logquery.ConversationItem) (string, string) {
	p := m.pii
	if e := it.Delivery; e != nil {
		s := fmt.Sprintf("#%-6d %s %-20s %-10s HTTP %d", e.ID, escape(e.Provider), escape(e.Kind), escape(e.Status), e.HTTPStatus)
		if params, ok := parseFormOrdered(e.Body); ok && e.Provider == "twilio" {
			get := func(k string) string {
				for _, kv := range params {
					if kv.Key == k {
						return kv.Value
					}
				}
				return ""
			}
			switch e.Kind {
			case "voice.dial_complete":
				s += " · dial " + escape(get("DialCallStatus"))
				if d := get("DialCallDuration"); d != "" {
					s += " " + escape(d) + "s"
				}
			case "voice.status":
				s += " · call " + escape(get("CallStatus"))
			case "sms.inbound":
				s += fmt.Sprintf(" · %q", p.body(get("Body")))
				if n := get("NumMedia"); n != "" && n != "0" {
					s += " · " + escape(n) + " media"
				}
			case "sms.status":
				s += " · message " + escape(get("MessageStatus"))
				if code := get("ErrorCode"); code != "" {
					s += " " + escape(code)
				}
			}
		}
		if e.Provider == "stripe" {
			s += " · " + escape(deliveryKey(*e))
		}
		return "⇢", s
	}
	if n := it.Notification; n != nil {
		s := "owner " + escape(n.Status)
		if n.Reason != "" {
			s += " (" + escape(n.Reason) + ")"
		}
		if n.Error != "" {
			s += " error " + escape(p.text(n.Error))
		}
		if n.To != "" {
			s += " to " + escape(p.text(n.To))
		}
		if n.Body == "" {
			// A suppressed notification: nothing was written to anyone.
			return "↗", s
		}
		return "↗", s + ": " + escape(fmt.Sprintf("%q", p.body(n.Body)))
	}
	msg := it.Message
	if msg.Direction == "inbound" {
		s := fmt.Sprintf("sms from %s: %s", escape(p.text(msg.From)), escape(fmt.Sprintf("%q", p.body(msg.Body))))
		for _, md := range msg.MediaItems() {
			s += " [" + escape(md.ContentType) + " " + escape(p.text(md.URL)) + "]"
		}
		return "←", s
	}
	s := "text-back " + escape(msg.Status)
	if msg.Reason != "" {
		s += " (" + escape(msg.Reason) + ")"
	}
	if msg.ErrorCode != "" {
		s += " error " + escape(msg.ErrorText())
	} else if msg.Error != "" {
		s += " error " + escape(p.text(msg.Error))
	}
	if msg.SID.Valid {
		s += " " + escape(msg.SID.String)
	}
	s += fmt.Sprintf(" to %s: %s", escape(p.text(msg.To)), escape(fmt.Sprintf("%q", p.body(msg.Body))))
	return "→", s
}
