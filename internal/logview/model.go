package logview

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
)

// Source is what the viewer reads; *logquery.Reader is one.
type Source interface {
	pageSource
	LogByID(ctx context.Context, id int64) (store.Evidence, error)
	OrgSummaries(ctx context.Context, now time.Time) ([]logquery.OrgSummary, error)
	Conversation(ctx context.Context, q logquery.ConversationQuery) (logquery.Conversation, error)
	CallBySID(ctx context.Context, callSID string) (store.Call, error)
}

// Replayer re-drives a stored delivery against a server, re-signed; it says what happened.
// Curl renders the same request as a shell command. The viewer works without one and shows
// both actions as unavailable.
type Replayer interface {
	Replay(ctx context.Context, id int64) (string, error)
	Curl(ctx context.Context, id int64) (string, error)
}

// Deps is what the viewer model needs.
type Deps struct {
	Source   Source
	Replayer Replayer // optional
	// Now is the clock (the org list's 24 hours end now); nil means time.Now.
	Now     func() time.Time
	ShowPII bool
	// Org opens the viewer straight on this org's log (a slug).
	Org string
	// Filter is the initial filter of the log list (facets, search); its org is ignored.
	Filter store.LogFilter
	// ExportDir is where exports are written; "" means the current directory.
	ExportDir string
	// Poll is how often the log list looks for new deliveries; 0 turns following off.
	Poll time.Duration
	// Renderer draws the styles; nil means lipgloss's default (which honours NO_COLOR).
	Renderer *lipgloss.Renderer
}

type screen int

const (
	screenOrgs screen = iota
	screenLogs
	screenDetail
	screenConv
)

// prompt is what the one-line input at the bottom is asking for.
type prompt int

const (
	promptNone prompt = iota
	promptSearch
	promptTime
	promptReplay
)

// Model is the viewer: a stack of screens (orgs → log → detail → conversation).
type Model struct {
	deps   Deps
	ctx    context.Context
	st     styles
	keys   keyMap
	pii    pii
	width  int
	height int

	screen screen
	back   []screen
	help   bool

	orgs   orgsView
	logs   logsView
	detail detailView
	conv   convView

	prompt prompt
	input  textinput.Model
	picker *picker

	flash    string
	flashErr bool
	slugs    map[int64]string
	quitting bool
}

// New builds the viewer model.
func New(ctx context.Context, d Deps) Model {
	if d.Now == nil {
		d.Now = time.Now
	}
	r := d.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = 200
	m := Model{deps: d, ctx: ctx, st: newStyles(r), keys: newKeyMap(d.Replayer != nil), pii: pii{d.ShowPII},
		width: 120, height: 30, input: ti, slugs: map[int64]string{}}
	m.logs.filter = d.Filter
	m.logs.filter.OrgID, m.logs.filter.OrgSlug, m.logs.filter.NoOrg = nil, "", false
	m.logs.follow = d.Poll > 0
	return m
}

// Init loads the org list (or the org asked for) and starts polling.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.loadOrgs(), m.loadSlugs(), m.tick()}
	return tea.Batch(cmds...)
}

type (
	orgsMsg struct {
		sums []logquery.OrgSummary
		err  error
	}
	slugsMsg map[int64]string
	pollMsg  struct{}
	flashMsg struct {
		text string
		err  bool
	}
)

func (m Model) loadOrgs() tea.Cmd {
	src, ctx, now := m.deps.Source, m.ctx, m.deps.Now()
	return func() tea.Msg {
		sums, err := src.OrgSummaries(ctx, now)
		return orgsMsg{sums, err}
	}
}

func (m Model) loadSlugs() tea.Cmd {
	src, ctx := m.deps.Source, m.ctx
	return func() tea.Msg {
		s, err := src.OrgSlugs(ctx)
		if err != nil {
			return flashMsg{"org names: " + err.Error(), true}
		}
		return slugsMsg(s)
	}
}

func (m Model) tick() tea.Cmd {
	if m.deps.Poll <= 0 {
		return nil
	}
	return tea.Tick(m.deps.Poll, func(time.Time) tea.Msg { return pollMsg{} })
}

func (m *Model) setFlash(s string, isErr bool) { m.flash, m.flashErr = s, isErr }

// push opens a screen, remembering where to go back to.
func (m *Model) push(s screen) {
	m.back = append(m.back, m.screen)
	m.screen = s
}

func (m *Model) pop() bool {
	if len(m.back) == 0 {
		return false
	}
	m.screen = m.back[len(m.back)-1]
	m.back = m.back[:len(m.back)-1]
	return true
}

// bodyHeight is the number of lines between the title bar and the two footer lines.
func (m Model) bodyHeight() int { return max(1, m.height-3) }

// Update handles a message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.detail.layout(m)
		m.conv.clamp(m.convListHeight())
		m.logs.clamp(m.logsListHeight())
		return m, nil
	case orgsMsg:
		if msg.err != nil {
			m.setFlash("org list: "+msg.err.Error(), true)
			return m, nil
		}
		m.orgs.set(msg.sums)
		if m.deps.Org != "" {
			slug := m.deps.Org
			m.deps.Org = ""
			for i, s := range m.orgs.rows {
				if s.Slug == slug && s.OrgID != 0 {
					m.orgs.cursor = i
					return m.openOrg(s)
				}
			}
			m.setFlash(fmt.Sprintf("no org %q", slug), true)
		}
		return m, nil
	case slugsMsg:
		m.slugs = msg
		return m, nil
	case flashMsg:
		m.setFlash(msg.text, msg.err)
		return m, nil
	case pollMsg:
		return m, tea.Batch(m.tick(), m.pollLogs())
	case pageMsg:
		return m.onPage(msg)
	case tailMsg:
		return m.onTail(msg)
	case detailMsg:
		return m.onDetail(msg)
	case convMsg:
		return m.onConv(msg)
	case tea.MouseMsg:
		return m.onMouse(msg)
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	return m, nil
}

func (m Model) onMouse(msg tea.MouseMsg) (tea.Model, tea.Cmd) {
	if msg.Action != tea.MouseActionPress {
		return m, nil
	}
	delta := 0
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		delta = -3
	case tea.MouseButtonWheelDown:
		delta = 3
	default:
		return m, nil
	}
	return m.move(delta)
}

// move shifts the cursor (lists) or the scroll (detail) of the current screen.
func (m Model) move(delta int) (tea.Model, tea.Cmd) {
	switch m.screen {
	case screenOrgs:
		m.orgs.move(delta, m.bodyHeight()-1)
	case screenLogs:
		m.logs.move(delta, m.logsListHeight())
		return m, m.maybeMore()
	case screenDetail:
		m.detail.scroll(delta, m.bodyHeight())
	case screenConv:
		m.conv.move(delta, m.convListHeight())
	}
	return m, nil
}

func (m Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type == tea.KeyCtrlC {
		m.quitting = true
		return m, tea.Quit
	}
	if m.picker != nil {
		return m.onPickerKey(msg)
	}
	if m.prompt != promptNone {
		return m.onPromptKey(msg)
	}
	if m.help {
		if key.Matches(msg, m.keys.Help, m.keys.Back, m.keys.Quit) {
			m.help = false
		}
		return m, nil
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Help):
		m.help = true
		return m, nil
	case key.Matches(msg, k.Quit):
		m.quitting = true
		return m, tea.Quit
	case key.Matches(msg, k.Back):
		if m.screen == screenOrgs {
			return m, nil
		}
		m.pop()
		m.flash = ""
		if m.screen == screenOrgs {
			return m, m.loadOrgs()
		}
		return m, nil
	case key.Matches(msg, k.Up):
		return m.move(-1)
	case key.Matches(msg, k.Down):
		return m.move(1)
	case key.Matches(msg, k.PageUp):
		return m.move(-m.bodyHeight() + 2)
	case key.Matches(msg, k.PageDown):
		return m.move(m.bodyHeight() - 2)
	case key.Matches(msg, k.Top):
		return m.move(-1 << 30)
	case key.Matches(msg, k.Bottom):
		return m.move(1 << 30)
	}
	switch m.screen {
	case screenOrgs:
		return m.onOrgsKey(msg)
	case screenLogs:
		return m.onLogsKey(msg)
	case screenDetail:
		return m.onDetailKey(msg)
	case screenConv:
		return m.onConvKey(msg)
	}
	return m, nil
}

func (m Model) onOrgsKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Open):
		if s, ok := m.orgs.selected(); ok {
			return m.openOrg(s)
		}
	case key.Matches(msg, m.keys.Refresh):
		return m, m.loadOrgs()
	}
	return m, nil
}

func (m Model) onPromptKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.prompt
	if p == promptReplay {
		m.prompt = promptNone
		if msg.String() == "y" {
			return m, m.replay(m.detail.ev.ID)
		}
		m.setFlash("replay cancelled", false)
		return m, nil
	}
	switch msg.Type {
	case tea.KeyEsc:
		m.prompt = promptNone
		m.input.Blur()
		return m, nil
	case tea.KeyEnter:
		m.prompt = promptNone
		m.input.Blur()
		v := strings.TrimSpace(m.input.Value())
		switch p {
		case promptSearch:
			m.logs.filter.Search = v
		case promptTime:
			if v == "" {
				m.logs.filter.Before = time.Time{}
				break
			}
			t, err := parseJump(v, m.deps.Now())
			if err != nil {
				m.setFlash(err.Error(), true)
				return m, nil
			}
			m.logs.filter.Before = t
		}
		return m, m.reloadLogs()
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m *Model) ask(p prompt, value string) tea.Cmd {
	m.prompt = p
	m.input.SetValue(value)
	m.input.CursorEnd()
	return m.input.Focus()
}

// parseJump reads the time to jump to: RFC 3339, "2006-01-02 15:04[:05]", "2006-01-02",
// "15:04" (today, UTC) or a duration back from now ("90m", "2h").
func parseJump(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			if layout == "2006-01-02" {
				t = t.Add(24 * time.Hour) // the whole day
			}
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			n := now.UTC()
			return time.Date(n.Year(), n.Month(), n.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC), nil
		}
	}
	return time.Time{}, fmt.Errorf("jump: cannot read %q as a time (try 2026-03-10 14:00, 14:00 or 2h)", s)
}

// View draws the screen.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	var body []string
	switch {
	case m.help:
		body = m.helpLines()
	case m.screen == screenOrgs:
		body = m.orgsLines()
	case m.screen == screenLogs && m.picker != nil:
		body = append(m.pickerLines(), "")
		body = append(body, m.logsLines()...)
	case m.screen == screenLogs:
		body = m.logsLines()
	case m.screen == screenDetail:
		body = m.detail.lines(m)
	case m.screen == screenConv:
		body = m.convLines()
	}
	h := m.bodyHeight()
	if len(body) > h {
		body = body[:h]
	}
	for len(body) < h {
		body = append(body, "")
	}
	out := make([]string, 0, m.height)
	out = append(out, m.st.title.Render(fit(m.titleText(), m.width)))
	out = append(out, body...)
	out = append(out, m.statusLine(), m.st.dim.Render(fit(m.hints(), m.width)))
	return strings.Join(out, "\n")
}

func (m Model) titleText() string {
	parts := []string{"CallSnare logs"}
	if m.screen >= screenLogs {
		parts = append(parts, m.logs.title)
	}
	if m.screen == screenDetail {
		parts = append(parts, fmt.Sprintf("delivery #%d", m.detail.ev.ID))
	}
	if m.screen == screenConv {
		parts = append(parts, m.conv.title)
	}
	if m.help {
		parts = append(parts, "keys")
	}
	return " " + strings.Join(parts, " › ")
}

func (m Model) statusLine() string {
	switch m.prompt {
	case promptSearch:
		return fit("search (CallSid, phone, body): "+m.input.View(), m.width)
	case promptTime:
		return fit("jump to time (2026-03-10 14:00, 14:00, 2h; empty for now): "+m.input.View(), m.width)
	case promptReplay:
		return m.st.warn.Render(fit(fmt.Sprintf("replay delivery #%d, re-signed, against the server? y/n", m.detail.ev.ID), m.width))
	}
	if m.flash != "" {
		st := m.st.ok
		if m.flashErr {
			st = m.st.err
		}
		return st.Render(fit(escape(m.flash), m.width))
	}
	return ""
}
