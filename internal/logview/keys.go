package logview

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
)

// keyMap is every key the viewer knows; the help screen lists them all from here.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom, Open, Back, Quit, Help, Refresh key.Binding

	Provider, Kind, Status, Signature, Clear, Search, Jump, Follow key.Binding

	Conversation, Collapse, Export, ExportFilter, Replay, Curl key.Binding
}

func newKeyMap(canReplay bool) keyMap {
	b := func(help string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(strings.Join(keys, "/"), help))
	}
	k := keyMap{
		Up:       b("up", "up", "k"),
		Down:     b("down", "down", "j"),
		PageUp:   b("page up", "pgup", "ctrl+u"),
		PageDown: b("page down", "pgdown", "ctrl+d", " "),
		Top:      b("newest / top", "home", "g"),
		Bottom:   b("oldest loaded / bottom", "end", "G"),
		Open:     b("open", "enter"),
		Back:     b("back", "esc", "backspace", "h"),
		Quit:     b("quit", "q", "ctrl+c"),
		Help:     b("this help", "?"),
		Refresh:  b("refresh", "R"),

		Provider:  b("filter by provider", "P"),
		Kind:      b("filter by kind", "K"),
		Status:    b("filter by status", "S"),
		Signature: b("filter by signature verdict", "V"),
		Clear:     b("clear filters, search and time", "x"),
		Search:    b("search CallSid, phone, body", "/"),
		Jump:      b("jump to a time", "t"),
		Follow:    b("follow new deliveries on/off", "f"),

		Conversation: b("conversation of the call / lead", "c"),
		Collapse:     b("collapse / expand JSON", "z"),
		Export:       b("export delivery as a JSON bundle", "e"),
		ExportFilter: b("export current filter as NDJSON", "E"),
		Replay:       b("replay delivery (asks first)", "r"),
		Curl:         b("write delivery as a signed curl command", "C"),
	}
	if !canReplay {
		k.Replay.SetHelp("r", "replay delivery (disabled: no replayer)")
		k.Curl.SetHelp("C", "signed curl command (disabled: no replayer)")
	}
	return k
}

// helpGroups are the help screen's sections.
func (k keyMap) helpGroups() []struct {
	title string
	keys  []key.Binding
} {
	return []struct {
		title string
		keys  []key.Binding
	}{
		{"everywhere", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Open, k.Back, k.Help, k.Quit}},
		{"org list", []key.Binding{k.Open, k.Refresh}},
		{"log list", []key.Binding{k.Provider, k.Kind, k.Status, k.Signature, k.Clear, k.Search, k.Jump, k.Follow, k.Conversation, k.Export, k.ExportFilter}},
		{"delivery", []key.Binding{k.Conversation, k.Collapse, k.Export, k.Curl, k.Replay}},
		{"conversation", []key.Binding{k.Open, k.Export}},
		{"filter pickers", []key.Binding{
			key.NewBinding(key.WithHelp("space", "toggle a value")),
			key.NewBinding(key.WithHelp("enter", "apply")),
			key.NewBinding(key.WithHelp("esc", "cancel")),
		}},
		{"mouse", []key.Binding{key.NewBinding(key.WithHelp("wheel", "scroll"))}},
	}
}

func (m Model) helpLines() []string {
	var lines []string
	for _, g := range m.keys.helpGroups() {
		lines = append(lines, m.st.header.Render(g.title))
		for _, b := range g.keys {
			h := b.Help()
			lines = append(lines, fmt.Sprintf("  %-22s %s", h.Key, h.Desc))
		}
	}
	// Two columns when the screen is short.
	h := m.bodyHeight()
	if len(lines) <= h {
		return lines
	}
	half := (len(lines) + 1) / 2
	left, right := lines[:half], lines[half:]
	w := m.width / 2
	out := make([]string, half)
	for i := range out {
		r := ""
		if i < len(right) {
			r = right[i]
		}
		out[i] = fit(left[i], w) + fit(r, m.width-w)
	}
	return out
}

// hints is the footer: the keys that matter on this screen.
func (m Model) hints() string {
	if m.help {
		return " ?/esc close help"
	}
	if m.picker != nil {
		return " space toggle · enter apply · esc cancel"
	}
	switch m.screen {
	case screenOrgs:
		return " enter open · R refresh · ? keys · q quit"
	case screenLogs:
		return " enter open · c conversation · P K S V facets · / search · t time · f follow · x clear · E export · ? keys"
	case screenDetail:
		return " c conversation · e export · C curl · z collapse JSON · r replay · esc back · ? keys"
	case screenConv:
		return " enter open delivery · e export · esc back · ? keys"
	}
	return ""
}

// styles are the viewer's looks, from one renderer so that NO_COLOR and tests apply.
type styles struct {
	title, header, selected, dim, err, ok, warn lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title:    r.NewStyle().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("24")),
		header:   r.NewStyle().Bold(true).Foreground(lipgloss.Color("110")),
		selected: r.NewStyle().Reverse(true),
		dim:      r.NewStyle().Foreground(lipgloss.Color("244")),
		err:      r.NewStyle().Foreground(lipgloss.Color("203")),
		ok:       r.NewStyle().Foreground(lipgloss.Color("114")),
		warn:     r.NewStyle().Foreground(lipgloss.Color("221")),
	}
}
