package logview

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/callsnare/callsnare/internal/store"
)

const (
	// pageSize is how many deliveries one keyset page loads.
	pageSize = 100
	// keepRows bounds the rows held while following; older ones are dropped and re-read
	// by keyset if the user scrolls down to them.
	keepRows = 2000
)

// logsView is one org's log (or every org's, or no org's): newest first, loaded a page at
// a time as the cursor nears the end.
type logsView struct {
	filter  store.LogFilter
	title   string
	allOrgs bool

	rows      []store.Evidence
	cursor    int
	offset    int
	gen       int // bumps on every reload, so that late pages of an old filter are dropped
	loading   bool
	exhausted bool
	loaded    bool

	follow bool // following is on (f toggles); it pauses while the cursor is off the top
	newest int64
}

type pageMsg struct {
	gen   int
	rows  []store.Evidence
	err   error
	reset bool
}

type tailMsg struct {
	gen  int
	rows []store.Evidence
	err  error
}

func (v *logsView) move(delta, height int) {
	v.cursor = clampInt(v.cursor+delta, 0, len(v.rows)-1)
	v.offset = scrollTo(v.cursor, v.offset, height)
}

func (v *logsView) clamp(height int) {
	v.cursor = clampInt(v.cursor, 0, len(v.rows)-1)
	v.offset = scrollTo(v.cursor, min(v.offset, v.cursor), height)
}

// paused tells whether following waits for the user to come back to the top.
func (v *logsView) paused() bool { return v.follow && v.cursor > 0 }

func (m Model) logsListHeight() int { return max(1, m.bodyHeight()-2) }

// reloadLogs starts the log list over under the current filter.
func (m *Model) reloadLogs() tea.Cmd {
	m.logs.gen++
	m.logs.rows, m.logs.cursor, m.logs.offset = nil, 0, 0
	m.logs.loading, m.logs.exhausted, m.logs.loaded = true, false, false
	m.logs.newest = 0
	return m.fetchPage(0, true)
}

func (m Model) fetchPage(beforeID int64, reset bool) tea.Cmd {
	src, ctx, gen := m.deps.Source, m.ctx, m.logs.gen
	f := m.logs.filter
	f.BeforeID, f.Limit = beforeID, pageSize
	return func() tea.Msg {
		rows, err := src.LogPage(ctx, f)
		return pageMsg{gen: gen, rows: rows, err: err, reset: reset}
	}
}

// maybeMore loads the next page when the cursor is within a screen of the last row.
func (m *Model) maybeMore() tea.Cmd {
	v := &m.logs
	if v.loading || v.exhausted || !v.loaded || len(v.rows)-v.cursor > m.logsListHeight() {
		return nil
	}
	v.loading = true
	return m.fetchPage(v.rows[len(v.rows)-1].ID, false)
}

func (m Model) onPage(msg pageMsg) (tea.Model, tea.Cmd) {
	v := &m.logs
	if msg.gen != v.gen {
		return m, nil
	}
	v.loading, v.loaded = false, true
	if msg.err != nil {
		m.setFlash("log: "+msg.err.Error(), true)
		return m, nil
	}
	v.rows = append(v.rows, msg.rows...)
	v.exhausted = len(msg.rows) < pageSize
	if msg.reset && len(msg.rows) > 0 {
		v.newest = msg.rows[0].ID
	}
	v.clamp(m.logsListHeight())
	return m, m.maybeMore()
}

// following tells whether new deliveries should be read now.
func (m Model) following() bool {
	v := m.logs
	return v.follow && v.loaded && !v.paused() && v.filter.Before.IsZero() && m.deps.Poll > 0
}

func (m Model) pollLogs() tea.Cmd {
	if !m.following() {
		return nil
	}
	src, ctx, gen, after := m.deps.Source, m.ctx, m.logs.gen, m.logs.newest
	f := m.logs.filter
	f.Limit = 500
	return func() tea.Msg {
		rows, err := src.LogTail(ctx, f, after)
		return tailMsg{gen: gen, rows: rows, err: err}
	}
}

func (m Model) onTail(msg tailMsg) (tea.Model, tea.Cmd) {
	v := &m.logs
	if msg.gen != v.gen {
		return m, nil
	}
	if msg.err != nil {
		m.setFlash("follow: "+msg.err.Error(), true)
		return m, nil
	}
	if len(msg.rows) == 0 {
		return m, nil
	}
	fresh := slices.Clone(msg.rows)
	slices.Reverse(fresh)
	if v.newest != 0 && fresh[0].ID <= v.newest {
		return m, nil
	}
	v.newest = fresh[0].ID
	v.rows = append(fresh, v.rows...)
	if len(v.rows) > keepRows {
		v.rows = v.rows[:keepRows]
		v.exhausted = false
	}
	var more tea.Cmd
	if len(msg.rows) == 500 {
		more = m.pollLogs() // a burst: read the rest now rather than in a second
	}
	return m, more
}

func (m Model) onLogsKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	v := &m.logs
	switch {
	case key.Matches(msg, k.Open):
		if e, ok := v.selected(); ok {
			return m.openDetail(e)
		}
	case key.Matches(msg, k.Conversation):
		if e, ok := v.selected(); ok {
			return m.openConv(e)
		}
	case key.Matches(msg, k.Search):
		return m, m.ask(promptSearch, v.filter.Search)
	case key.Matches(msg, k.Jump):
		v := ""
		if !m.logs.filter.Before.IsZero() {
			v = m.logs.filter.Before.UTC().Format("2006-01-02 15:04:05")
		}
		return m, m.ask(promptTime, v)
	case key.Matches(msg, k.Follow):
		v.follow = !v.follow && m.deps.Poll > 0
		if m.deps.Poll <= 0 {
			m.setFlash("following is off in this mode", true)
		}
		return m, nil
	case key.Matches(msg, k.Clear):
		f := store.LogFilter{OrgID: v.filter.OrgID, NoOrg: v.filter.NoOrg}
		v.filter = f
		m.flash = ""
		return m, m.reloadLogs()
	case key.Matches(msg, k.Refresh):
		return m, m.reloadLogs()
	case key.Matches(msg, k.Provider):
		m.picker = newPicker("provider", facetProvider, providerValues, v.filter.Providers)
	case key.Matches(msg, k.Kind):
		m.picker = newPicker("kind", facetKind, kindValues, v.filter.Kinds)
	case key.Matches(msg, k.Status):
		m.picker = newPicker("status", facetStatus, statusValues, v.filter.Statuses)
	case key.Matches(msg, k.Signature):
		m.picker = newPicker("signature", facetSignature, signatureValues, v.filter.Signatures)
	case key.Matches(msg, k.Export):
		if e, ok := v.selected(); ok {
			return m, m.exportBundle(e)
		}
	case key.Matches(msg, k.ExportFilter):
		return m, m.exportFilter()
	}
	return m, nil
}

func (v *logsView) selected() (store.Evidence, bool) {
	if v.cursor < 0 || v.cursor >= len(v.rows) {
		return store.Evidence{}, false
	}
	return v.rows[v.cursor], true
}

// filterText describes the filter in force, for the line above the list.
func (m Model) filterText() string {
	f := m.logs.filter
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+" "+strings.Join(vals, ","))
		}
	}
	add("provider", f.Providers)
	add("kind", f.Kinds)
	add("status", f.Statuses)
	add("signature", f.Signatures)
	if f.Search != "" {
		parts = append(parts, fmt.Sprintf("search %q", f.Search))
	}
	if !f.Before.IsZero() {
		parts = append(parts, "before "+f.Before.UTC().Format("2006-01-02 15:04:05"))
	}
	if len(parts) == 0 {
		parts = append(parts, "no filter")
	}
	var state string
	switch {
	case m.logs.loading && !m.logs.loaded:
		state = "loading…"
	case m.deps.Poll <= 0 || !f.Before.IsZero():
		state = ""
	case !m.logs.follow:
		state = "follow off"
	case m.logs.paused():
		state = "follow paused (scrolled)"
	default:
		state = "following"
	}
	s := " " + strings.Join(parts, " · ")
	n := fmt.Sprintf("%d loaded", len(m.logs.rows))
	if !m.logs.exhausted {
		n += "+"
	}
	s += " · " + n
	if state != "" {
		s += " · " + state
	}
	return s
}

func (m Model) logsLines() []string {
	v := m.logs
	w := m.width
	orgW := 0
	if v.allOrgs {
		orgW = 12
	}
	// time 14, provider 6, kind 22, sig 9, status 10, http 4, latency 7, separators.
	fixed := 1 + 14 + 1 + 6 + 1 + 22 + 1 + 9 + 1 + 10 + 1 + 4 + 1 + 7
	if orgW > 0 {
		fixed += orgW + 1
	}
	keyW := max(8, w-fixed-1)
	row := func(cols ...string) string {
		var b strings.Builder
		b.WriteString(" ")
		b.WriteString(fit(cols[0], 14))
		i := 1
		if orgW > 0 {
			b.WriteString(" " + fit(cols[1], orgW))
			i = 2
		}
		widths := []int{6, 22, keyW, 9, 10}
		for j, wd := range widths {
			b.WriteString(" " + fit(cols[i+j], wd))
		}
		b.WriteString(" " + fmt.Sprintf("%4s", cols[i+5]))
		b.WriteString(" " + fmt.Sprintf("%7s", cols[i+6]))
		return fit(b.String(), w)
	}
	head := []string{"TIME (UTC)"}
	if orgW > 0 {
		head = append(head, "ORG")
	}
	head = append(head, "PROV", "KIND", "KEY", "SIGNATURE", "STATUS", "HTTP", "LATENCY")
	lines := []string{m.st.dim.Render(fit(escape(m.filterText()), w)), m.st.header.Render(row(head...))}
	if v.loaded && len(v.rows) == 0 {
		return append(lines, " no deliveries match")
	}
	h := m.logsListHeight()
	end := min(len(v.rows), v.offset+h)
	for i := v.offset; i < end; i++ {
		e := v.rows[i]
		cols := []string{e.ReceivedAt.UTC().Format(listTime)}
		if orgW > 0 {
			org := "-"
			if e.OrgID.Valid {
				org = m.slugs[e.OrgID.Int64]
				if org == "" {
					org = fmt.Sprint(e.OrgID.Int64)
				}
			}
			cols = append(cols, escape(org))
		}
		cols = append(cols, escape(e.Provider), escape(e.Kind), escape(m.pii.text(deliveryKey(e))),
			escape(e.Signature), escape(e.Status), fmt.Sprint(e.HTTPStatus), latency(e.LatencyUS))
		line := row(cols...)
		switch {
		case i == v.cursor:
			line = m.st.selected.Render(line)
		case e.Status == store.StatusRejected || e.Status == store.StatusFailed:
			line = m.st.err.Render(line)
		case e.Status == store.StatusDuplicate || e.Status == store.StatusUnmatched:
			line = m.st.warn.Render(line)
		}
		lines = append(lines, line)
	}
	if v.loading && v.loaded {
		lines = append(lines, m.st.dim.Render(" loading older deliveries…"))
	}
	return lines
}

// Facet values offered by the pickers.
var (
	providerValues  = []string{"twilio", "stripe"}
	statusValues    = []string{store.StatusProcessed, store.StatusDuplicate, store.StatusIgnored, store.StatusUnmatched, store.StatusRejected, store.StatusFailed}
	signatureValues = []string{"valid", "invalid", "missing", "unchecked"}
	kindValues      = []string{
		"voice.inbound", "voice.dial_complete", "voice.status", "sms.inbound",
		"checkout.session.completed",
		"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
		"customer.subscription.paused", "customer.subscription.resumed", "customer.subscription.trial_will_end",
		"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed", "invoice.finalized",
		"invoice.voided", "invoice.marked_uncollectible",
		"customer.created", "customer.updated", "customer.deleted",
	}
)

// anyValue is the picker's first line: no filter on the facet.
const anyValue = "(any)"

type facet int

const (
	facetProvider facet = iota
	facetKind
	facetStatus
	facetSignature
)

// picker chooses the values of one facet: none chosen means any.
type picker struct {
	title  string
	facet  facet
	values []string
	chosen map[string]bool
	cursor int
}

func newPicker(title string, f facet, values, current []string) *picker {
	p := &picker{title: title, facet: f, values: append([]string{anyValue}, values...), chosen: map[string]bool{}}
	for _, c := range current {
		p.chosen[c] = true
		if !slices.Contains(values, c) {
			p.values = append(p.values, c)
		}
	}
	return p
}

func (p *picker) selection() []string {
	var out []string
	for _, v := range p.values {
		if p.chosen[v] {
			out = append(out, v)
		}
	}
	return out
}

func (m Model) onPickerKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.picker
	switch {
	case msg.Type == tea.KeyEsc:
		m.picker = nil
	case msg.Type == tea.KeySpace || msg.String() == "x":
		v := p.values[p.cursor]
		if v == anyValue {
			clear(p.chosen)
			break
		}
		p.chosen[v] = !p.chosen[v]
	case key.Matches(msg, m.keys.Up):
		p.cursor = clampInt(p.cursor-1, 0, len(p.values)-1)
	case key.Matches(msg, m.keys.Down):
		p.cursor = clampInt(p.cursor+1, 0, len(p.values)-1)
	case msg.Type == tea.KeyEnter:
		// Enter on "(any)" clears the facet; elsewhere it applies the values toggled or,
		// with none toggled, the value under the cursor alone.
		sel := p.selection()
		switch {
		case p.values[p.cursor] == anyValue:
			sel = nil
		case len(sel) == 0:
			sel = []string{p.values[p.cursor]}
		}
		f := &m.logs.filter
		switch p.facet {
		case facetProvider:
			f.Providers = sel
		case facetKind:
			f.Kinds = sel
		case facetStatus:
			f.Statuses = sel
		case facetSignature:
			f.Signatures = sel
		}
		m.picker = nil
		return m, m.reloadLogs()
	}
	return m, nil
}

// pickerLines draws the picker over the top of the log list.
func (m Model) pickerLines() []string {
	p := m.picker
	lines := []string{m.st.header.Render(fmt.Sprintf(" filter by %s (none chosen = any)", p.title))}
	for i, v := range p.values {
		mark := "[ ]"
		switch {
		case v == anyValue && len(p.selection()) == 0, p.chosen[v]:
			mark = "[x]"
		}
		l := fmt.Sprintf("   %s %s", mark, v)
		if i == p.cursor {
			l = m.st.selected.Render(fit(l, 48))
		}
		lines = append(lines, l)
	}
	return lines
}
