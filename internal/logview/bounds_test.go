package logview

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/callsnare/callsnare/internal/store"
)

// worstCases are stored deliveries at the body cap shaped to be as costly as possible
// for the detail view. Answers are ours, but one case stores a hostile one anyway.
func worstCases() []struct {
	name string
	ev   store.Evidence
} {
	const size = 1 << 20
	wide := `{"k0":1` + strings.Repeat(`,"k":1`, (size-10)/6) + "}"
	params := strings.Repeat("P=1&", size/4)
	longLine := strings.Repeat("a", size)
	deep := strings.Repeat("[", size)
	deepObj := strings.Repeat(`{"a":`, size/5)
	stripeEv := func(body string) store.Evidence {
		return store.Evidence{ID: 1, Provider: "stripe", Route: "/api/stripe/webhook", ContentType: "application/json", Body: []byte(body),
			ResponseBody: `{"received":true}`, Headers: map[string]string{}}
	}
	return []struct {
		name string
		ev   store.Evidence
	}{
		{"deep JSON", stripeEv(deep)},
		{"deep JSON objects", stripeEv(deepObj)},
		{"wide JSON", stripeEv(wide)},
		{"long line", stripeEv(longLine)},
		{"long JSON string", stripeEv(`{"a":"` + longLine + `"}`)},
		{"deep XML answer", store.Evidence{ID: 1, Provider: "twilio", ContentType: "application/x-www-form-urlencoded",
			Body: []byte("CallSid=CA1"), ResponseBody: strings.Repeat("<a>", size/3)}},
		{"many params", store.Evidence{ID: 1, Provider: "twilio", ContentType: "application/x-www-form-urlencoded", Body: []byte(params)}},
		{"control characters", stripeEv(strings.Repeat("\x1b[2J\u009b31m\n", size/8))},
	}
}

// openDetail is what opening a delivery costs: its content, wrapped to the screen.
func openDetail(e store.Evidence, st styles) []string {
	var out []string
	for _, l := range detailContent(e, nil, map[int64]string{}, pii{}, false, st) {
		out = append(out, wrapLine(l, 119)...)
	}
	return out
}

// Every worst case opens to a bounded number of lines, none of them raw control bytes.
func TestDetailBounds(t *testing.T) {
	st := newStyles(lipgloss.NewRenderer(io.Discard))
	for _, tc := range worstCases() {
		lines := openDetail(tc.ev, st)
		// Three sections of at most maxLines each, each line at most maxLineBytes escaped
		// (4 bytes per byte at worst) and wrapped to 119 columns.
		if limit := 3 * (maxLines + 1) * (4*maxLineBytes/117 + 2); len(lines) > limit {
			t.Errorf("%s: %d lines, want at most %d", tc.name, len(lines), limit)
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\x00\u009b") || strings.Contains(l, "\x1b[2J") {
				t.Errorf("%s: a control character reached the screen: %q", tc.name, l)
				break
			}
		}
	}
	if _, err := parseJSON([]byte(strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2))); err != errTooComplex {
		t.Errorf("JSON deeper than %d: %v, want errTooComplex", maxDepth, err)
	}
	if _, err := parseJSON([]byte(strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth))); err != nil {
		t.Errorf("JSON %d deep: %v, want parsed", maxDepth, err)
	}
}

// BenchmarkDetailWorstCases measures opening each worst case (the viewer's bound: well
// under 100 ms).
func BenchmarkDetailWorstCases(b *testing.B) {
	st := newStyles(lipgloss.NewRenderer(io.Discard))
	for _, tc := range worstCases() {
		b.Run(strings.ReplaceAll(tc.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				openDetail(tc.ev, st)
			}
		})
	}
}
