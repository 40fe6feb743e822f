package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestUpgradeKeepsSuppressedNotifications: a database of the release that kept suppressed
// notifications as rows of their own is migrated; their reasons move onto the messages
// the events left, the rows go, the queued one stays, and the org's notifications read as
// before, but for the suppressed ones' bodies, which nobody was sent.
func TestUpgradeKeepsSuppressedNotifications(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.OpenAt(t, db.DSN(t), 17)
			org := acme(t, st)
			const caller, tracked = "+15125550123", "+15125550100"
			at := func(s int) store.Time { return store.T(now.Add(time.Duration(s) * time.Second)) }
			err := st.WriteFor(ctx, store.CallerKey(caller), func(tx *store.Tx) error {
				for _, q := range []struct {
					sql  string
					args []any
				}{
					{`INSERT INTO messages (org_id, direction, call_sid, from_number, to_number, body, status, created_at, updated_at)
						VALUES (?, 'outbound', 'CAold1', ?, ?, 'Sorry we missed you', 'queued', ?, ?)`, []any{org.ID, tracked, caller, at(0), at(0)}},
					{`INSERT INTO messages (org_id, direction, sid, from_number, to_number, body, status, created_at, updated_at)
						VALUES (?, 'inbound', 'SMold1', ?, ?, 'Tuesday then', 'received', ?, ?)`, []any{org.ID, caller, tracked, at(1), at(1)}},
					{`INSERT INTO messages (org_id, direction, sid, from_number, to_number, body, status, created_at, updated_at)
						VALUES (?, 'inbound', 'SMold2', ?, ?, 'Any time', 'received', ?, ?)`, []any{org.ID, caller, tracked, at(2), at(2)}},
					{`INSERT INTO notifications (org_id, event_key, kind, call_sid, caller, from_number, body, status, reason, created_at, updated_at)
						VALUES (?, 'call:CAold1', 'missed_call', 'CAold1', ?, ?, 'Missed call', 'suppressed', 'not_entitled', ?, ?)`, []any{org.ID, caller, tracked, at(0), at(0)}},
					{`INSERT INTO notifications (org_id, event_key, kind, message_sid, caller, from_number, body, status, reason, created_at, updated_at)
						VALUES (?, 'reply:SMold1', 'reply', 'SMold1', ?, ?, 'Reply', 'suppressed', 'no_notify_number', ?, ?)`, []any{org.ID, caller, tracked, at(1), at(1)}},
					{`INSERT INTO notifications (org_id, event_key, kind, message_sid, caller, from_number, to_number, body, status, created_at, updated_at)
						VALUES (?, 'reply:SMold2', 'reply', 'SMold2', ?, ?, '+15125550177', 'Reply from (512) 555-0123', 'queued', ?, ?)`, []any{org.ID, caller, tracked, at(2), at(2)}},
				} {
					if err := tx.ExecLater(ctx, "old row", q.sql, q.args...); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("rows of the old release: %v", err)
			}
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			ns, err := st.Notifications(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			type seen struct{ key, kind, status, reason, caller, from, to, body string }
			var got []seen
			for _, n := range ns {
				got = append(got, seen{n.EventKey, n.Kind, n.Status, n.Reason, n.Caller, n.From, n.To, n.Body})
			}
			want := []seen{
				{"call:CAold1", "missed_call", "suppressed", "not_entitled", caller, tracked, "", ""},
				{"reply:SMold1", "reply", "suppressed", "no_notify_number", caller, tracked, "", ""},
				{"reply:SMold2", "reply", "queued", "", caller, tracked, "+15125550177", "Reply from (512) 555-0123"},
			}
			if !slices.Equal(got, want) {
				t.Errorf("notifications after the upgrade:\n got %+v\nwant %+v", got, want)
			}
			var rows int
			if err := st.ReadPool().Get(&rows, `SELECT COUNT(*) FROM notifications`); err != nil || rows != 1 {
				t.Errorf("%d notification rows (%v), want the queued one alone", rows, err)
			}
		})
	}
}
