// Package logview is the support TUI for webhook logs (`callsnare logs`): orgs, then an
// org's deliveries, one delivery in full, and the whole story of its call or lead; without
// a terminal it prints the same filters as JSON Lines.
package logview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
)

// Options are the flags of `callsnare logs`.
type Options struct {
	DSN string
	// Org opens on (TUI) or keeps to (JSON) one org, by slug.
	Org string
	// NoOrg keeps (JSON) only the deliveries tied to no org.
	NoOrg bool

	ShowPII bool // reveal phone numbers and message text
	JSON    bool // JSON Lines, whatever stdout is
	Plain   bool // a plain text table, whatever stdout is
	Full    bool // JSON: add headers and body
	Follow  bool // JSON/plain: keep printing new deliveries until ctx ends

	Providers, Kinds, Statuses, Signatures []string
	Search                                 string
	// Since and Until bound received_at (zero: unbounded).
	Since, Until time.Time
	// Limit caps the deliveries printed (JSON/plain; 0: all).
	Limit int

	Stdout io.Writer
	// Stdin feeds the TUI its keys; nil means os.Stdin.
	Stdin io.Reader
	// IsTTY says stdout is a terminal: only then does Run start the TUI.
	IsTTY bool

	// Replayer wires replay into the TUI; nil shows it as unavailable.
	Replayer Replayer
	// ExportDir is where the TUI writes exports; "" is the current directory.
	ExportDir string
}

// Filter is the store filter the options describe.
func (o Options) Filter() store.LogFilter {
	return store.LogFilter{
		OrgSlug: o.Org, NoOrg: o.NoOrg && o.Org == "", Providers: o.Providers, Kinds: o.Kinds, Statuses: o.Statuses, Signatures: o.Signatures,
		Search: o.Search, After: o.Since, Before: o.Until, Limit: o.Limit,
	}
}

// Run opens the database read-only and shows the logs: the TUI on a terminal, JSON Lines
// otherwise (or with JSON), a plain table with Plain.
func Run(ctx context.Context, opts Options) error {
	st, err := store.Open(ctx, opts.DSN, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Org != "" {
		if _, err := st.OrgBySlug(ctx, opts.Org); err != nil {
			return err
		}
	}
	jo := JSONOptions{Full: opts.Full, Follow: opts.Follow, ShowPII: opts.ShowPII}
	switch {
	case opts.Plain:
		return WritePlain(ctx, st, opts.Filter(), opts.Stdout, jo)
	case opts.JSON || !opts.IsTTY:
		return WriteJSON(ctx, st, opts.Filter(), opts.Stdout, jo)
	}
	return runTUI(ctx, st, opts)
}

func runTUI(ctx context.Context, st *store.Store, opts Options) error {
	f := opts.Filter()
	f.Limit = 0
	// The renderer reads NO_COLOR (and the terminal's abilities) from the environment.
	r := lipgloss.NewRenderer(opts.Stdout)
	m := New(ctx, Deps{
		Source: logquery.New(st), Replayer: opts.Replayer, ShowPII: opts.ShowPII, Org: opts.Org, Filter: f,
		ExportDir: opts.ExportDir, Poll: time.Second, Renderer: r,
	})
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithOutput(opts.Stdout)}
	if opts.Stdin != nil {
		popts = append(popts, tea.WithInput(opts.Stdin))
	}
	_, err := tea.NewProgram(m, popts...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logs tui: %w", err)
	}
	return nil
}

// Prune deletes the deliveries received more than olderThan ago (`callsnare logs prune
// --older-than`) and says how many went.
func Prune(ctx context.Context, dsn string, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("prune: --older-than must be positive, got %s", olderThan)
	}
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return 0, fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	return st.Prune(ctx, time.Now().Add(-olderThan))
}
