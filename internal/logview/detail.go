package logview

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/callsnare/callsnare/internal/store"
)

// detailView is one delivery in full: what came, what we decided, what we answered.
type detailView struct {
	ev       store.Evidence
	call     *store.Call
	collapse bool
	offset   int
	wrapped  []string // the content wrapped to the screen width
}

type detailMsg struct {
	ev   store.Evidence
	call *store.Call
	err  error
}

func (m Model) openDetail(e store.Evidence) (tea.Model, tea.Cmd) {
	m.detail = detailView{ev: e}
	m.push(screenDetail)
	m.flash = ""
	m.detail.layout(m)
	src, ctx := m.deps.Source, m.ctx
	return m, func() tea.Msg {
		ev, err := src.LogByID(ctx, e.ID)
		if err != nil {
			return detailMsg{ev: e, err: err}
		}
		var call *store.Call
		if ev.CallSID != "" {
			c, err := src.CallBySID(ctx, ev.CallSID)
			switch {
			case err == nil:
				call = &c
			case !errors.Is(err, store.ErrNotFound):
				return detailMsg{ev: ev, err: err}
			}
		}
		return detailMsg{ev: ev, call: call}
	}
}

func (m Model) onDetail(msg detailMsg) (tea.Model, tea.Cmd) {
	if msg.ev.ID != m.detail.ev.ID {
		return m, nil
	}
	if msg.err != nil {
		m.setFlash("delivery: "+msg.err.Error(), true)
	}
	m.detail.ev, m.detail.call = msg.ev, msg.call
	m.detail.layout(m)
	return m, nil
}

func (m Model) onDetailKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Conversation):
		return m.openConv(m.detail.ev)
	case key.Matches(msg, k.Collapse):
		m.detail.collapse = !m.detail.collapse
		m.detail.layout(m)
	case key.Matches(msg, k.Export):
		return m, m.exportBundle(m.detail.ev)
	case key.Matches(msg, k.Curl):
		if m.deps.Replayer == nil {
			m.setFlash("curl is not available in this build", true)
			return m, nil
		}
		return m, m.exportCurl(m.detail.ev.ID)
	case key.Matches(msg, k.Replay):
		if m.deps.Replayer == nil {
			m.setFlash("replay is not available in this build", true)
			return m, nil
		}
		m.prompt = promptReplay
	}
	return m, nil
}

func (m Model) replay(id int64) tea.Cmd {
	r, ctx := m.deps.Replayer, m.ctx
	return func() tea.Msg {
		res, err := r.Replay(ctx, id)
		if err != nil {
			return flashMsg{fmt.Sprintf("replay of #%d: %v", id, err), true}
		}
		return flashMsg{fmt.Sprintf("replayed #%d: %s", id, res), false}
	}
}

func (d *detailView) scroll(delta, height int) {
	d.offset = clampInt(d.offset+delta, 0, len(d.wrapped)-height)
}

// layout rebuilds the content for the current size and PII setting.
func (d *detailView) layout(m Model) {
	if d.ev.ID == 0 {
		d.wrapped = nil
		return
	}
	var out []string
	for _, l := range detailContent(d.ev, d.call, m.slugs, m.pii, d.collapse, m.st) {
		out = append(out, wrapLine(l, m.width-1)...)
	}
	d.wrapped = out
	d.offset = clampInt(d.offset, 0, max(0, len(out)-m.bodyHeight()))
}

// wrapLine breaks a line to the width, continuation lines indented.
func wrapLine(l string, w int) []string {
	if w < 10 || ansi.StringWidth(l) <= w {
		return []string{l}
	}
	parts := strings.Split(ansi.Hardwrap(l, w, true), "\n")
	for i := 1; i < len(parts); i++ {
		parts[i] = "  " + parts[i]
	}
	// Rewrap continuations that the indent pushed past the width.
	var out []string
	for _, p := range parts {
		if ansi.StringWidth(p) > w {
			out = append(out, ansi.Truncate(p, w, "…"))
			continue
		}
		out = append(out, p)
	}
	return out
}

func (d detailView) lines(m Model) []string {
	h := m.bodyHeight()
	end := min(len(d.wrapped), d.offset+h)
	lines := make([]string, 0, h)
	for _, l := range d.wrapped[d.offset:end] {
		lines = append(lines, " "+l)
	}
	return lines
}

// detailContent is the delivery as lines, all untrusted text escaped and PII masked.
func detailContent(e store.Evidence, call *store.Call, slugs map[int64]string, p pii, collapse bool, st styles) []string {
	section := func(s string) string { return st.header.Render("── " + s + " ──") }
	field := func(name, v string) string { return fmt.Sprintf("%-11s %s", name, v) }
	lines := []string{
		st.header.Render(fmt.Sprintf("Delivery #%d", e.ID)) + fmt.Sprintf("  %s %s · %s · HTTP %d · %s",
			escape(e.Provider), escape(e.Kind), escape(e.Status), e.HTTPStatus, latency(e.LatencyUS)),
		field("Received", e.ReceivedAt.UTC().Format(time.RFC3339Nano)),
	}
	org := "(none)"
	if e.OrgID.Valid {
		org = slugs[e.OrgID.Int64]
		if org == "" {
			org = fmt.Sprintf("#%d", e.OrgID.Int64)
		}
	}
	lines = append(lines,
		field("Org", escape(org)),
		field("Route", "POST "+escape(e.Route)),
		field("URL", escape(p.text(e.URL))),
		field("From", escape(e.RemoteAddr)),
		field("Signature", escape(e.Signature)),
	)
	// The dedupe decision.
	dedupe := "no key (not claimed)"
	if e.DedupeKey != "" {
		dedupe = "key " + escape(p.text(e.DedupeKey))
		switch {
		case e.Status == store.StatusDuplicate && e.DuplicateOf.Valid:
			dedupe += fmt.Sprintf(" → duplicate of #%d, not applied again", e.DuplicateOf.Int64)
		case e.Status == store.StatusDuplicate:
			dedupe += " → duplicate, not applied again"
		case e.Status == store.StatusProcessed:
			dedupe += " → first delivery, applied"
		default:
			dedupe += " → " + escape(e.Status)
		}
	}
	lines = append(lines, field("Dedupe", dedupe))
	if e.ReplayOf.Valid {
		lines = append(lines, field("Replay of", fmt.Sprintf("#%d", e.ReplayOf.Int64)))
	}
	if e.Error != "" {
		lines = append(lines, st.err.Render(field("Error", escape(p.text(e.Error)))))
	}
	if call != nil {
		lines = append(lines, field("Call", callSummary(*call, p)))
	} else if e.CallSID != "" {
		lines = append(lines, field("Call", escape(e.CallSID)+" (no call recorded)"))
	}
	sha := e.BodySHA256
	if len(sha) > 16 {
		sha = sha[:16] + "…"
	}
	body := fmt.Sprintf("%d bytes · sha256 %s", len(e.Body), escape(sha))
	if e.BodyTruncated {
		body += " · truncated"
	}
	lines = append(lines, field("Body", body), "", section("Request headers"))
	keys := make([]string, 0, len(e.Headers))
	w := 0
	for k := range e.Headers {
		keys = append(keys, k)
		w = max(w, len(escape(k)))
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		lines = append(lines, "(none kept)")
	}
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%-*s  %s", w, escape(k), escape(p.text(e.Headers[k]))))
	}
	lines = append(lines, "")
	lines = append(lines, payloadLines(e, p, collapse, section)...)
	lines = append(lines, "", section(fmt.Sprintf("Our answer (HTTP %d)", e.HTTPStatus)))
	lines = append(lines, answerLines(e.ResponseBody, p)...)
	return lines
}

func callSummary(c store.Call, p pii) string {
	s := fmt.Sprintf("%s · %s → %s · outcome %s", escape(c.CallSID), escape(p.text(c.From)), escape(p.text(c.To)), escape(c.Outcome))
	if c.Reason != "" {
		s += " (" + escape(c.Reason) + ")"
	}
	if c.TextbackStatus.Valid {
		s += " · text-back " + escape(c.TextbackStatus.String)
		if c.TextbackReason.Valid && c.TextbackReason.String != "" {
			s += " (" + escape(c.TextbackReason.String) + ")"
		}
	}
	if c.LeadID.Valid {
		s += fmt.Sprintf(" · lead #%d", c.LeadID.Int64)
	}
	return s
}

// payloadLines pretty-prints the body: a form as an aligned table, JSON indented (folded
// below the second level when collapsed), anything else escaped line by line.
func payloadLines(e store.Evidence, p pii, collapse bool, section func(string) string) []string {
	ct := strings.ToLower(e.ContentType)
	body := e.Body
	if len(body) == 0 {
		return []string{section("Payload"), "(empty)"}
	}
	if strings.Contains(ct, "form-urlencoded") || (e.Provider == "twilio" && !strings.Contains(ct, "json")) {
		if params, ok := parseFormOrdered(body); ok && len(params) > 0 {
			out := []string{section(fmt.Sprintf("Payload (form, %d parameters)", len(params)))}
			return append(out, boundLines(formTable(p.maskForm(params)))...)
		}
	}
	if n, err := parseJSON(body); err == nil {
		title := "Payload (JSON)"
		depth := 0
		if collapse {
			title, depth = "Payload (JSON, folded below level 2; z expands)", 2
		}
		out := []string{section(title)}
		for _, l := range boundLines(prettyJSON(n, depth)) {
			out = append(out, escape(p.text(l)))
		}
		return out
	}
	out := []string{section("Payload (raw)")}
	shown, more := rawPrefix(body)
	for _, l := range boundLines(strings.Split(string(p.maskRaw(shown, e.ContentType)), "\n")) {
		out = append(out, escape(l))
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("… %d more bytes not shown", more))
	}
	return out
}

// answerLines shows what we answered: TwiML re-indented, JSON indented, text escaped.
func answerLines(body string, p pii) []string {
	if strings.TrimSpace(body) == "" {
		return []string{"(empty body)"}
	}
	var raw []string
	switch t := strings.TrimSpace(body); {
	case strings.HasPrefix(t, "<"):
		if l, err := prettyXML(t); err == nil {
			raw = l
		}
	case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
		if n, err := parseJSON([]byte(t)); err == nil {
			raw = prettyJSON(n, 0)
		}
	}
	if raw == nil {
		shown, more := rawPrefix([]byte(body))
		raw = strings.Split(strings.TrimRight(string(shown), "\n"), "\n")
		if more > 0 {
			raw = append(raw, fmt.Sprintf("… %d more bytes not shown", more))
		}
	}
	raw = boundLines(raw)
	out := make([]string, len(raw))
	for i, l := range raw {
		out[i] = escape(p.text(l))
	}
	return out
}
