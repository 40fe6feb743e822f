package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestOrgChangesReachTheNextDelivery: a delivery finds its org in its own transaction
// (mostly in memory), so a change to an org or its numbers made by another process
// (a second Store on the same database here, as `callsnare org update` is) or by the
// serve itself reaches the very next delivery.
func TestOrgChangesReachTheNextDelivery(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := db.DSN(t)
			serve, other := open(t, dsn), open(t, dsn)
			acme(t, serve)
			name := func(number string) string {
				t.Helper()
				var org store.Org
				err := serve.WriteFor(ctx, store.CallerKey("+15125550123"), func(tx *store.Tx) error {
					var err error
					org, err = tx.AskOrgByNumber(ctx, number)()
					return err
				})
				if errors.Is(err, store.ErrNotFound) {
					return "(none)"
				}
				if err != nil {
					t.Fatalf("org of %s: %v", number, err)
				}
				return org.Name
			}
			rename := func(st *store.Store, to string) {
				t.Helper()
				if _, err := st.UpdateOrg(ctx, "acme", store.OrgUpdate{Name: &to}, time.Now()); err != nil {
					t.Fatalf("update org: %v", err)
				}
			}
			check := func(number, want, after string) {
				t.Helper()
				if got := name(number); got != want {
					t.Errorf("after %s: org of %s is %q, want %q", after, number, got, want)
				}
			}

			check("+15125550100", "Acme", "creating it")
			{
				// The org is kept: a change that leaves the token as it was goes unseen,
				// and a new token has it read again.
				raw := other.ReadPool()
				var token int64
				if err := raw.GetContext(ctx, &token, `SELECT token FROM org_changes`); err != nil {
					t.Fatal(err)
				}
				if _, err := raw.ExecContext(ctx, `UPDATE orgs SET name = 'Unannounced' WHERE slug = 'acme'`); err != nil {
					t.Fatal(err)
				}
				if _, err := raw.ExecContext(ctx, raw.Rebind(`UPDATE org_changes SET token = ?`), token); err != nil {
					t.Fatal(err)
				}
				check("+15125550100", "Acme", "a change that kept the token")
				if _, err := raw.ExecContext(ctx, `UPDATE org_changes SET token = token + 1`); err != nil {
					t.Fatal(err)
				}
				check("+15125550100", "Unannounced", "a new token")
			}
			rename(other, "Acme Two")
			check("+15125550100", "Acme Two", "another process renamed it")
			rename(serve, "Acme Three")
			check("+15125550100", "Acme Three", "the serve renamed it")

			check("+15125550101", "(none)", "nothing")
			if _, err := other.UpdateOrg(ctx, "acme", store.OrgUpdate{AddNumbers: []string{"+15125550101"}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			check("+15125550101", "Acme Three", "another process added the number")
			if _, err := other.UpdateOrg(ctx, "acme", store.OrgUpdate{RemoveNumbers: []string{"+15125550101"}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			check("+15125550101", "(none)", "another process removed the number")
		})
	}
}
