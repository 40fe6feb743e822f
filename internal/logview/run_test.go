package logview

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

var baseKeys = []string{"dedupe_key", "error", "http_status", "id", "kind", "org", "provider", "received_at", "replay_of", "route", "signature", "status"}

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestRunJSON(t *testing.T) {
	s := seed(t)
	ctx := context.Background()
	var buf bytes.Buffer
	// Not a terminal: JSON Lines without asking; every delivery, those with no org too.
	if err := Run(ctx, Options{DSN: s.path, Stdout: &buf}); err != nil {
		t.Fatal(err)
	}
	rows := jsonLines(t, buf.String())
	if len(rows) != 95 {
		t.Fatalf("%d rows, want 95", len(rows))
	}
	noOrg := 0
	for i, r := range rows {
		if got := slices.Sorted(maps.Keys(r)); !slices.Equal(got, baseKeys) {
			t.Fatalf("row %d keys %v", i, got)
		}
		if i > 0 && r["id"].(float64) >= rows[i-1]["id"].(float64) {
			t.Fatalf("not newest first at %d", i)
		}
		if r["org"] == nil {
			noOrg++
		}
	}
	if noOrg != 2 {
		t.Fatalf("%d rows with no org, want 2", noOrg)
	}
	if rows[0]["replay_of"].(float64) != float64(s.ids["stripe"]) {
		t.Fatalf("replay_of: %v", rows[0]["replay_of"])
	}

	// Filters, --full, masking, and a body that is not UTF-8.
	buf.Reset()
	err := Run(ctx, Options{DSN: s.path, JSON: true, IsTTY: true, Full: true, Statuses: []string{"rejected", "unmatched"}, Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	rows = jsonLines(t, buf.String())
	if len(rows) != 3 {
		t.Fatalf("rejected+unmatched: %d rows", len(rows))
	}
	nosig := rows[0]
	if nosig["id"].(float64) != float64(s.ids["nosig"]) || nosig["body"] != "MessageSid=SMx&Body=•••&From=%2B1512•••0111" {
		t.Fatalf("first row, masked: %v", nosig)
	}
	unmatched := rows[1]
	if unmatched["error"] != "no org tracks +1999•••0000" || !strings.Contains(unmatched["body"].(string), "%2B1999•••0000") {
		t.Fatalf("unmatched not masked: %v", unmatched)
	}
	if h := unmatched["headers"].(map[string]any); h == nil {
		t.Fatalf("headers missing")
	}
	buf.Reset()
	if err := Run(ctx, Options{DSN: s.path, JSON: true, Full: true, ShowPII: true, Limit: 1, Stdout: &buf, NoOrg: true}); err != nil {
		t.Fatal(err)
	}
	nosig = jsonLines(t, buf.String())[0]
	raw, err := base64.StdEncoding.DecodeString(nosig["body_base64"].(string))
	if err != nil || string(raw) != "MessageSid=SMx&Body=\xff\xfe%1B[1mhi&From=%2B15125550111" || nosig["body"] != nil {
		t.Fatalf("body_base64 of a body that is not UTF-8: %q %v (%v)", raw, err, nosig)
	}
	buf.Reset()
	if err := Run(ctx, Options{DSN: s.path, JSON: true, Org: "acme", Search: "evt_1PaidAcme", ShowPII: true, Stdout: &buf}); err != nil {
		t.Fatal(err)
	}
	if rows = jsonLines(t, buf.String()); len(rows) != 2 || rows[0]["org"] != "acme" {
		t.Fatalf("org+search: %v", rows)
	}
	if err := Run(ctx, Options{DSN: s.path, JSON: true, Org: "nope", Stdout: &buf}); err == nil {
		t.Fatal("unknown org: want an error")
	}
	buf.Reset()
	if err := Run(ctx, Options{DSN: s.path, Plain: true, Org: "acme", Limit: 3, Stdout: &buf}); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("plain:\n%s", buf.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestFollowJSON(t *testing.T) {
	s := seed(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- WriteJSON(ctx, s.st, store.LogFilter{OrgID: &s.acme.ID, Limit: 2}, &out, JSONOptions{Follow: true, Poll: 10 * time.Millisecond})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	e := store.Evidence{ReceivedAt: store.T(testNow), Provider: "twilio", Route: "/x", OrgID: store.NullID(s.acme.ID),
		Kind: "voice.status", Signature: "valid", Status: "processed"}
	if err := s.st.RecordEvidence(ctx, &e); err != nil {
		t.Fatal(err)
	}
	for strings.Count(out.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows := jsonLines(t, out.String())
	got := []float64{}
	for _, r := range rows {
		got = append(got, r["id"].(float64))
	}
	want := []float64{float64(s.ids["stripe"]), float64(s.ids["replayed"]), float64(e.ID)}
	if !slices.Equal(got, want) {
		t.Fatalf("follow printed %v, want %v (oldest first, then new)", got, want)
	}
}

func TestPrune(t *testing.T) {
	s := seed(t)
	s.st.Close() // Prune opens its own
	// Everything was received in the 24 hours before testNow, so in the past.
	n, err := Prune(context.Background(), s.path, time.Since(testNow.Add(-12*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n >= 95 {
		t.Fatalf("pruned %d of 95", n)
	}
	if _, err := Prune(context.Background(), s.path, 0); err == nil {
		t.Fatal("zero --older-than: want an error")
	}
}
