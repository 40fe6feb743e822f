package logview

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/jmoiron/sqlx"
	"github.com/muesli/termenv"

	"github.com/callsnare/callsnare/internal/logquery"
	"github.com/callsnare/callsnare/internal/store"
)

const (
	benchRows = 1_000_000
	benchOrgs = 50
	benchDays = 30
)

var (
	benchOnce sync.Once
	benchDir  string
	benchPath string
	benchErr  error
)

// TestMain removes the million-row database (about 900 MB) once the benchmarks are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// millionDB builds, once per test binary, a SQLite log of a million deliveries over 30 days
// across 50 orgs, one of them a fifth of all traffic; 3% have no org (rejected, unmatched).
func millionDB(b *testing.B) string {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "callsnare-logview-bench-")
		if benchErr != nil {
			return
		}
		benchPath = filepath.Join(benchDir, "million.db")
		start := time.Now()
		benchErr = seedMillion(benchPath)
		b.Logf("seeded %d rows in %s", benchRows, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPath
}

func seedMillion(path string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	for i := range benchOrgs {
		n := fmt.Sprintf("+1512555%04d", i)
		if _, err := st.CreateOrg(ctx, store.NewOrg{Slug: fmt.Sprintf("org%02d", i), Name: fmt.Sprintf("Org %02d HVAC", i),
			ForwardTo: "+15125550000", Numbers: []string{n}}, benchNow); err != nil {
			return err
		}
	}
	// The rows go in through a plain connection of their own, without fsync: a fixture,
	// not traffic.
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PreparexContext(ctx, `INSERT INTO webhook_log (received_at, provider, route, org_id, headers,
		content_type, body, body_sha256, signature, dedupe_key, kind, call_sid, caller, status, http_status, latency_us)
		VALUES (?, 'twilio', '/api/twilio/voice/status', ?, '{"Content-Type":"application/x-www-form-urlencoded"}',
		'application/x-www-form-urlencoded', ?, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', ?, ?,
		'voice.status', ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	span := benchDays * 24 * time.Hour
	first := benchNow.Add(-span)
	for i := range benchRows {
		at := first.Add(time.Duration(int64(span) / benchRows * int64(i)))
		var org any
		switch r := rng.IntN(100); {
		case r < 20:
			org = int64(1) // the big one
		case r < 97:
			org = int64(2 + rng.IntN(benchOrgs-1))
		}
		status, sig, code := "processed", "valid", 204
		switch r := rng.IntN(100); {
		case org == nil && r < 66:
			status, sig, code = "rejected", "invalid", 403
		case org == nil:
			status = "unmatched"
		case r < 5:
			status = "duplicate"
		case r < 6:
			status, code = "failed", 503
		}
		sid := fmt.Sprintf("CA%032x", i)
		caller := fmt.Sprintf("+1737555%04d", rng.IntN(10000))
		body := "AccountSid=AC00000000000000000000000000000000&CallSid=" + sid + "&CallStatus=completed&From=%2B" + caller[1:] + "&To=%2B15125550001&ApiVersion=2010-04-01"
		if _, err := stmt.ExecContext(ctx, store.T(at), org, []byte(body), sig, "twilio:voice.status:"+sid+":completed",
			sid, caller, status, code, 800+rng.IntN(9000)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "ANALYZE")
	return err
}

var benchNow = time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)

// BenchmarkLogViewerMillion measures what opening the viewer costs on a million rows: the
// org list, the first page of the biggest org, a filtered page, a page deep in the log, and
// the whole TUI path from start to the first screen of an org.
//
//	go test ./internal/logview/ -run '^$' -bench LogViewerMillion -count 5
func BenchmarkLogViewerMillion(b *testing.B) {
	path := millionDB(b)
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	lq := logquery.New(st)
	big := int64(1)
	b.Run("OrgSummaries", func(b *testing.B) {
		for b.Loop() {
			sums, err := lq.OrgSummaries(ctx, benchNow)
			if err != nil || len(sums) != benchOrgs+1 || sums[0].Deliveries == 0 {
				b.Fatalf("%v %d", err, len(sums))
			}
		}
	})
	b.Run("FirstPageBigOrg", func(b *testing.B) {
		for b.Loop() {
			rows, err := st.LogPage(ctx, store.LogFilter{OrgID: &big, Limit: pageSize})
			if err != nil || len(rows) != pageSize {
				b.Fatal(err, len(rows))
			}
		}
	})
	b.Run("FirstPageBigOrgFailed", func(b *testing.B) {
		for b.Loop() {
			rows, err := st.LogPage(ctx, store.LogFilter{OrgID: &big, Statuses: []string{"failed"}, Limit: pageSize})
			if err != nil || len(rows) != pageSize {
				b.Fatal(err, len(rows))
			}
		}
	})
	b.Run("PageDeepKeyset", func(b *testing.B) {
		for b.Loop() {
			rows, err := st.LogPage(ctx, store.LogFilter{OrgID: &big, BeforeID: benchRows / 3, Limit: pageSize})
			if err != nil || len(rows) != pageSize {
				b.Fatal(err, len(rows))
			}
		}
	})
	b.Run("FirstPageNoOrgRejected", func(b *testing.B) {
		for b.Loop() {
			rows, err := st.LogPage(ctx, store.LogFilter{NoOrg: true, Statuses: []string{"rejected"}, Limit: pageSize})
			if err != nil || len(rows) != pageSize {
				b.Fatal(err, len(rows))
			}
		}
	})
	b.Run("TUIOpenOrg", func(b *testing.B) {
		r := lipgloss.NewRenderer(io.Discard)
		r.SetColorProfile(termenv.Ascii)
		for b.Loop() {
			m := New(ctx, Deps{Source: lq, Now: func() time.Time { return benchNow }, Org: "org01", Renderer: r})
			mm, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
			m = drive(mm.(Model), tea.Batch(m.loadOrgs(), m.loadSlugs()))
			if m.screen != screenLogs || len(m.logs.rows) != pageSize {
				b.Fatalf("screen %v rows %d", m.screen, len(m.logs.rows))
			}
			_ = m.View()
		}
	})
}
