package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestLookupsUseTheirIndexes: the lookups by a column whose index leaves out empty values
// (dedupe key, call SID, replay token) must say they want none, or SQLite cannot use the
// index and scans the whole delivery log, which grows without bound. PostgreSQL's
// generic plans need the same.
func TestLookupsUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "plans.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct{ q, index string }{
		"original of a claim":        {originalOf, "webhook_log_dedupe"},
		"replay result":              {replayResult, "webhook_log_replay_token"},
		"deliveries of a call":       {callDeliveries, "webhook_log_call"},
		"call with its notification": {callSelect + ` WHERE c.call_sid = ?`, "notifications_call"},
	} {
		var plan []struct {
			ID     int    `db:"id"`
			Parent int    `db:"parent"`
			NotUse int    `db:"notused"`
			Detail string `db:"detail"`
		}
		args := make([]any, strings.Count(tt.q, "?"))
		for i := range args {
			args[i] = "x"
		}
		if err := st.db.SelectContext(ctx, &plan, `EXPLAIN QUERY PLAN `+tt.q, args...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var steps []string
		for _, step := range plan {
			steps = append(steps, step.Detail)
		}
		if all := strings.Join(steps, "; "); !strings.Contains(all, "INDEX "+tt.index+" ") {
			t.Errorf("%s does not use %s: %s", name, tt.index, all)
		}
	}
}
