package logview

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	tea "github.com/charmbracelet/bubbletea"
)

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func waitFor(t *testing.T, tm *teatest.TestModel, text string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(text)) },
		teatest.WithDuration(30*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// TestDriveKeys runs the viewer as a program: open an org, filter to rejected, open the
// delivery, open its conversation, export it; then checks the final model.
func TestDriveKeys(t *testing.T) {
	s := seed(t)
	dir := t.TempDir()
	m := newTestModel(t, s, Deps{Poll: time.Hour, ExportDir: dir})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 30))
	waitFor(t, tm, "Acme Heating")
	tm.Send(keyMsg("down"))
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "9 loaded")
	for _, k := range []string{"S", "down", "down", "down", "down", "down", "enter"} {
		tm.Send(keyMsg(k))
	}
	// The filtered list, loaded: an enter pressed while it loads finds no row to open.
	waitFor(t, tm, "status rejected · 1 loaded")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "signature invalid for")
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "OPTED OUT")
	tm.Send(keyMsg("e"))
	waitFor(t, tm, "exported to")
	tm.Send(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	tm.Send(tea.WindowSizeMsg{Width: 100, Height: 24})
	tm.Send(keyMsg("q"))
	fm, ok := tm.FinalModel(t, teatest.WithFinalTimeout(30*time.Second)).(Model)
	if !ok {
		t.Fatal("final model is not a Model")
	}
	if fm.screen != screenConv || !slices.Equal(fm.back, []screen{screenOrgs, screenLogs, screenDetail}) {
		t.Fatalf("screen %v, back %v", fm.screen, fm.back)
	}
	if !slices.Equal(fm.logs.filter.Statuses, []string{"rejected"}) || *fm.logs.filter.OrgID != s.acme.ID {
		t.Fatalf("filter %+v", fm.logs.filter)
	}
	if fm.detail.ev.ID != s.ids["rejected"] || fm.conv.conv.Call == nil || fm.conv.conv.Call.Outcome != "missed" {
		t.Fatalf("detail %d conversation %+v", fm.detail.ev.ID, fm.conv.conv.Call)
	}
	if fm.conv.cursor != 3 || fm.width != 100 || fm.height != 24 {
		t.Fatalf("wheel/resize: cursor %d size %dx%d", fm.conv.cursor, fm.width, fm.height)
	}
	// The export is the delivery under the cursor when e was pressed: the first of the story.
	b, err := os.ReadFile(filepath.Join(dir, "callsnare-delivery-"+itoa(fm.conv.conv.Items[0].Delivery.ID)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var bundle Bundle
	if err := json.Unmarshal(b, &bundle); err != nil || !bundle.PIIMasked || bundle.Delivery.Body == nil ||
		strings.Contains(*bundle.Delivery.Body, "5550177") {
		t.Fatalf("bundle: %v %s", err, b)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestNoColor checks that the renderer the TUI builds honours NO_COLOR.
func TestNoColor(t *testing.T) {
	draw := func() string {
		var buf bytes.Buffer
		// As runTUI builds it: the renderer finds the profile from the environment.
		r := lipgloss.NewRenderer(&buf, termenv.WithTTY(true))
		return newStyles(r).err.Render("rejected")
	}
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("CLICOLOR_FORCE", "1")
	t.Setenv("NO_COLOR", "")
	if colored := draw(); !strings.Contains(colored, "\x1b[") {
		t.Skipf("this environment gives no colour even when forced: %q", colored)
	}
	t.Setenv("NO_COLOR", "1")
	if plain := draw(); strings.Contains(plain, "\x1b[") {
		t.Fatalf("NO_COLOR still colours: %q", plain)
	}
}
