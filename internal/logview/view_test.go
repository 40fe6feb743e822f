package logview

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/charmbracelet/x/ansi"

	"github.com/callsnare/callsnare/internal/store"
)

// updating tells whether -update was given: the flag is defined by teatest's golden package,
// which this test binary links, so it is looked up rather than defined again.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares a screen, ANSI stripped, with testdata/NAME.golden.
func golden(t *testing.T, name string, m Model) {
	t.Helper()
	got := ansi.Strip(m.View())
	lines := strings.Split(got, "\n")
	if len(lines) != 30 {
		t.Errorf("%s: %d lines, want 30", name, len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 120 {
			t.Errorf("%s: line %d is %d cells wide: %q", name, i+1, w, l)
		}
	}
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update to accept):\n%s", name, path, got)
	}
}

func TestViews(t *testing.T) {
	s := seed(t)
	start := func(d Deps) Model {
		m := newTestModel(t, s, d)
		return drive(m, m.Init())
	}
	m := start(Deps{})
	golden(t, "orgs", m)

	m = press(m, "down", "enter") // acme
	golden(t, "logs_acme", m)

	m = press(m, "S", "down", "down", "down", "down", "down", "enter") // status: rejected
	if !slices.Equal(m.logs.filter.Statuses, []string{"rejected"}) {
		t.Fatalf("status facet: %v", m.logs.filter.Statuses)
	}
	golden(t, "logs_acme_rejected", m)

	m = press(m, "x", "/", "SMaaaa0000bbbb1111cccc2222dddd3333", "enter", "enter")
	if m.screen != screenDetail || m.detail.ev.ID != s.ids["reply"] {
		t.Fatalf("search and open: screen %v delivery %d, want the reply #%d", m.screen, m.detail.ev.ID, s.ids["reply"])
	}
	golden(t, "detail_sms", m)

	m = press(m, "c")
	golden(t, "conversation", m)

	m = press(m, "esc", "esc", "x")
	m = press(m, "/", "evt_1PaidAcme", "enter", "G", "enter")
	if m.detail.ev.ID != s.ids["stripe"] {
		t.Fatalf("stripe detail: %d, want %d", m.detail.ev.ID, s.ids["stripe"])
	}
	golden(t, "detail_stripe", m)
	m = press(m, "z")
	golden(t, "detail_stripe_folded", m)
	m = press(m, "c")
	golden(t, "conversation_billing", m)

	m = press(m, "?")
	golden(t, "help", m)

	// Straight to an org, PII shown, on the first delivery of the call.
	m = start(Deps{Org: "acme", ShowPII: true})
	if m.screen != screenLogs || m.logs.title != "acme" {
		t.Fatalf("--org acme: screen %v title %q", m.screen, m.logs.title)
	}
	m = press(m, "G", "enter")
	golden(t, "detail_voice_pii", m)
	m = press(m, "G")
	golden(t, "detail_voice_answer", m)
	m = press(m, "esc", "S", "down", "down", "down", "down", "down", "enter", "enter", "c")
	if m.screen != screenConv || m.conv.conv.Call == nil || len(m.conv.conv.Items) == 0 {
		t.Fatalf("conversation of the rejected delivery: screen %v %+v", m.screen, m.conv.conv)
	}
	golden(t, "conversation_rejected", m)

	// Every delivery, including those with no org.
	m = start(Deps{})
	m = press(m, "enter")
	golden(t, "logs_all", m)
}

func TestViewsNeverEmitRawControls(t *testing.T) {
	s := seed(t)
	m := newTestModel(t, s, Deps{ShowPII: true})
	m = drive(m, m.Init())
	m = press(m, "enter", "/", "SMx", "enter", "enter") // the rejected SMS with bytes \xff\xfe and ESC
	if m.detail.ev.ID != s.ids["nosig"] {
		t.Fatalf("opened %d, want %d", m.detail.ev.ID, s.ids["nosig"])
	}
	for _, view := range []string{m.View(), press(m, "c").View()} {
		plain := ansi.Strip(view) // the Ascii profile adds no sequences of its own
		if plain != view {
			t.Fatalf("colourless view carries escape sequences")
		}
		for _, c := range []byte{0x1b, 0x07, 0xff, 0xfe} {
			if bytes.IndexByte([]byte(view), c) >= 0 {
				t.Fatalf("view carries raw byte %#x", c)
			}
		}
	}
	if !strings.Contains(m.View(), `\xff\xfe\x1b[1mhi`) {
		t.Fatalf("escaped body not shown:\n%s", m.View())
	}
}

func TestMaskingAndEscaping(t *testing.T) {
	p := pii{}
	cases := []struct{ in, want string }{
		{"+15125550100", "+1512•••0100"},
		{"From=%2B15125550100&To=%2b447700900123", "From=%2B1512•••0100&To=%2b4477•••0123"},
		{"created 1773144000", "created 1773144000"},
	}
	for _, c := range cases {
		if got := p.text(c.in); got != c.want {
			t.Errorf("mask %q = %q, want %q", c.in, got, c.want)
		}
	}
	if got := escape("a\x1b[2Jb\x07\tc\xff\u202ed\u0085"); got != `a\x1b[2Jb\x07\tc\xff\u202ed\x85` {
		t.Errorf("escape: %q", got)
	}
	raw := p.maskRaw([]byte("Body=Call+me+at+%2B15125550100&From=%2B15125550177"), "application/x-www-form-urlencoded")
	if string(raw) != "Body=•••&From=%2B1512•••0177" {
		t.Errorf("maskRaw: %q", raw)
	}
}

func TestFacetsAndJump(t *testing.T) {
	s := seed(t)
	m := newTestModel(t, s, Deps{})
	m = drive(m, m.Init())
	m = press(m, "enter") // all deliveries
	total := len(m.logs.rows)
	m = press(m, "P", "down", "down", "enter")
	if !slices.Equal(m.logs.filter.Providers, []string{"stripe"}) || len(m.logs.rows) != 2 {
		t.Fatalf("provider stripe: %v, %d rows", m.logs.filter.Providers, len(m.logs.rows))
	}
	m = press(m, "V", "down", "space", "down", "down", "space", "enter", "P", "enter")
	if !slices.Equal(m.logs.filter.Signatures, []string{"valid", "missing"}) || m.logs.filter.Providers != nil {
		t.Fatalf("signatures: %v providers: %v", m.logs.filter.Signatures, m.logs.filter.Providers)
	}
	m = press(m, "x", "t", "12:06", "enter")
	for _, e := range m.logs.rows {
		if !e.ReceivedAt.Before(m.logs.filter.Before) {
			t.Fatalf("row %d at %v is not before the jump", e.ID, e.ReceivedAt)
		}
	}
	if len(m.logs.rows) == 0 || len(m.logs.rows) >= total {
		t.Fatalf("jump kept %d of %d rows", len(m.logs.rows), total)
	}
	m = press(m, "t", "yesterday", "enter")
	if !m.flashErr {
		t.Fatalf("a bad time should say so")
	}
}

func TestPagingAndFollow(t *testing.T) {
	s := seed(t)
	m := newTestModel(t, s, Deps{Org: "bolt", Poll: time.Hour})
	m = drive(m, tea.Batch(m.loadOrgs(), m.loadSlugs())) // Init without its hour-long tick
	if len(m.logs.rows) != 84 || !m.logs.exhausted {
		t.Fatalf("bolt: %d rows exhausted=%v", len(m.logs.rows), m.logs.exhausted)
	}
	first := m.logs.rows[0].ID
	bolt := m.logs.rows[0].OrgID
	add := func() int64 {
		e := store.Evidence{ReceivedAt: store.T(testNow), Provider: "twilio", Route: "/x", OrgID: bolt, Kind: "voice.status",
			Signature: "valid", Status: "processed"}
		if err := s.st.RecordEvidence(t.Context(), &e); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	id := add()
	m = drive(m, m.pollLogs())
	if m.logs.rows[0].ID != id || m.logs.rows[1].ID != first {
		t.Fatalf("follow did not prepend %d", id)
	}
	m = press(m, "down")
	if !m.logs.paused() || m.pollLogs() != nil {
		t.Fatal("following should pause off the top")
	}
	id2 := add()
	m = press(m, "g")
	m = drive(m, m.pollLogs())
	if m.logs.rows[0].ID != id2 {
		t.Fatalf("resumed follow: top %d want %d", m.logs.rows[0].ID, id2)
	}
}

func TestPagesLoadAsYouScroll(t *testing.T) {
	s := seed(t)
	for i := range 250 {
		e := store.Evidence{ReceivedAt: store.T(testNow.Add(-48 * 3600 * 1e9)), Provider: "twilio", Route: "/x", OrgID: store.NullID(s.acme.ID),
			Kind: "voice.status", Signature: "valid", Status: "processed", DedupeKey: string(rune('a' + i%26))}
		if err := s.st.RecordEvidence(t.Context(), &e); err != nil {
			t.Fatal(err)
		}
	}
	m := newTestModel(t, s, Deps{Org: "acme"})
	m = drive(m, m.Init())
	if len(m.logs.rows) != pageSize {
		t.Fatalf("first page: %d rows", len(m.logs.rows))
	}
	m = press(m, "G")
	m = press(m, "G")
	m = press(m, "G")
	if len(m.logs.rows) != 259 || !m.logs.exhausted {
		t.Fatalf("after scrolling: %d rows exhausted=%v", len(m.logs.rows), m.logs.exhausted)
	}
	for i := 1; i < len(m.logs.rows); i++ {
		if m.logs.rows[i].ID >= m.logs.rows[i-1].ID {
			t.Fatalf("rows out of order at %d", i)
		}
	}
}

type fakeReplayer struct{ ids []int64 }

func (f *fakeReplayer) Replay(_ context.Context, id int64) (string, error) {
	f.ids = append(f.ids, id)
	return "HTTP 200, duplicate", nil
}

func (f *fakeReplayer) Curl(_ context.Context, id int64) (string, error) {
	return fmt.Sprintf("curl -X POST 'http://127.0.0.1:8080/delivery/%d'\n", id), nil
}

func TestReplayHook(t *testing.T) {
	s := seed(t)
	m := newTestModel(t, s, Deps{Org: "acme"})
	m = drive(m, tea.Batch(m.loadOrgs(), m.loadSlugs()))
	m = press(m, "enter", "r")
	if m.prompt != promptNone || !m.flashErr || !strings.Contains(m.flash, "not available") {
		t.Fatalf("replay without a replayer: prompt %v flash %q", m.prompt, m.flash)
	}
	r := &fakeReplayer{}
	m = newTestModel(t, s, Deps{Org: "acme", Replayer: r})
	m = drive(m, tea.Batch(m.loadOrgs(), m.loadSlugs()))
	m = press(m, "enter", "r")
	if m.prompt != promptReplay || len(r.ids) != 0 {
		t.Fatalf("replay must ask first: prompt %v replayed %v", m.prompt, r.ids)
	}
	m = press(m, "n", "r", "y")
	if !slices.Equal(r.ids, []int64{m.detail.ev.ID}) || !strings.Contains(m.flash, "replayed #") {
		t.Fatalf("replayed %v, flash %q", r.ids, m.flash)
	}
}

func TestCurlExport(t *testing.T) {
	s := seed(t)
	dir := t.TempDir()
	m := newTestModel(t, s, Deps{Org: "acme", Replayer: &fakeReplayer{}, ExportDir: dir})
	m = drive(m, tea.Batch(m.loadOrgs(), m.loadSlugs()))
	m = press(m, "enter", "C")
	path := filepath.Join(dir, fmt.Sprintf("callsnare-delivery-%d.curl.sh", m.detail.ev.ID))
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 || !strings.Contains(m.flash, path) {
		t.Fatalf("curl file %s: %v, mode %v, flash %q", path, err, info, m.flash)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "#!/bin/sh\n") || !strings.Contains(string(b), fmt.Sprintf("/delivery/%d", m.detail.ev.ID)) {
		t.Errorf("curl file:\n%s", b)
	}
}
