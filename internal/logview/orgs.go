package logview

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/callsnare/callsnare/internal/logquery"
)

// orgsView is the first screen: every org with its last day of traffic. Its first line is
// every delivery at once; the last gathers those tied to no org.
type orgsView struct {
	rows   []logquery.OrgSummary
	cursor int
	offset int
	loaded bool
}

func (v *orgsView) set(sums []logquery.OrgSummary) {
	all := logquery.OrgSummary{OrgID: -1, Name: "(all deliveries)"}
	for _, s := range sums {
		all.Deliveries += s.Deliveries
		all.Errors += s.Errors
		for i, n := range s.Hourly {
			all.Hourly[i] += n
		}
	}
	v.rows = append([]logquery.OrgSummary{all}, sums...)
	v.cursor = min(v.cursor, len(v.rows)-1)
	v.loaded = true
}

func (v *orgsView) selected() (logquery.OrgSummary, bool) {
	if v.cursor < 0 || v.cursor >= len(v.rows) {
		return logquery.OrgSummary{}, false
	}
	return v.rows[v.cursor], true
}

func (v *orgsView) move(delta, height int) {
	v.cursor = clampInt(v.cursor+delta, 0, len(v.rows)-1)
	v.offset = scrollTo(v.cursor, v.offset, height)
}

func clampInt(n, lo, hi int) int {
	if hi < lo {
		return lo
	}
	return max(lo, min(n, hi))
}

// scrollTo keeps the cursor inside a window of height rows starting at offset.
func scrollTo(cursor, offset, height int) int {
	if height <= 0 {
		return 0
	}
	if cursor < offset {
		return cursor
	}
	if cursor >= offset+height {
		return cursor - height + 1
	}
	return offset
}

func (m Model) openOrg(s logquery.OrgSummary) (tea.Model, tea.Cmd) {
	f := m.logs.filter
	f.OrgID, f.NoOrg, f.OrgSlug = nil, false, ""
	title := "all deliveries"
	switch {
	case s.OrgID > 0:
		id := s.OrgID
		f.OrgID = &id
		title = s.Slug
	case s.OrgID == 0:
		f.NoOrg = true
		title = "no org"
	}
	m.logs.filter = f
	m.logs.title = title
	m.logs.allOrgs = s.OrgID < 0
	m.logs.cursor, m.logs.offset = 0, 0
	m.push(screenLogs)
	m.flash = ""
	return m, m.reloadLogs()
}

func (m Model) orgsLines() []string {
	v := m.orgs
	if !v.loaded {
		return []string{" loading orgs…"}
	}
	head := fmt.Sprintf(" %-16s %-24s %-18s %-10s %8s %7s  %s", "ORG", "NAME", "NUMBERS", "BILLING", "24H", "ERRORS", "TRAFFIC (24 h, hourly)")
	lines := []string{m.st.header.Render(fit(head, m.width))}
	h := m.bodyHeight() - 1
	end := min(len(v.rows), v.offset+h)
	for i := v.offset; i < end; i++ {
		s := v.rows[i]
		nums := "-"
		switch {
		case s.OrgID <= 0:
			nums = ""
		case len(s.Numbers) == 1:
			nums = m.pii.text(s.Numbers[0])
		case len(s.Numbers) > 1:
			nums = fmt.Sprintf("%s +%d", m.pii.text(s.Numbers[0]), len(s.Numbers)-1)
		}
		billing := s.BillingStatus
		if billing == "" && s.OrgID > 0 {
			billing = "none"
		}
		slug := s.Slug
		if s.OrgID <= 0 {
			slug = "*"
		}
		errs := fmt.Sprint(s.Errors)
		line := fmt.Sprintf(" %-16s %-24s %-18s %-10s %8d %7s  %s", fit(escape(slug), 16), fit(escape(s.Name), 24),
			fit(nums, 18), fit(escape(billing), 10), s.Deliveries, errs, sparkline(s.Hourly[:]))
		line = fit(line, m.width)
		switch {
		case i == v.cursor:
			line = m.st.selected.Render(line)
		case s.Errors > 0:
			line = m.st.warn.Render(line)
		}
		lines = append(lines, line)
	}
	return lines
}
