package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/storetest"
)

// TestOrgChangesReachTheKeptOrgs: a serve keeps the orgs of tracked numbers in memory. A
// change it makes itself shows at once; one made by another process (a second Store on
// the same database here, as `callsnare org update` is) shows within a bound; a number
// the serve did not know is looked up each time, so one added elsewhere is found at once.
func TestOrgChangesReachTheKeptOrgs(t *testing.T) {
	for _, db := range storetest.All() {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := db.DSN(t)
			serve, other := open(t, dsn), open(t, dsn)
			acme(t, serve)
			name := func(number string) string {
				t.Helper()
				org, err := serve.OrgByNumber(ctx, number)
				if errors.Is(err, store.ErrNotFound) {
					return "(none)"
				}
				if err != nil {
					t.Fatalf("OrgByNumber(%s): %v", number, err)
				}
				return org.Name
			}
			rename := func(st *store.Store, to string) {
				t.Helper()
				if _, err := st.UpdateOrg(ctx, "acme", store.OrgUpdate{Name: &to}, time.Now()); err != nil {
					t.Fatalf("update org: %v", err)
				}
			}
			// eventually waits for the serve to see a change made elsewhere.
			eventually := func(number, want string) {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for got := name(number); got != want; got = name(number) {
					if time.Now().After(deadline) {
						t.Fatalf("org of %s is %q 15 s after another process changed it, want %q", number, got, want)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}

			if got := name("+15125550100"); got != "Acme" {
				t.Fatalf("org name %q", got)
			}
			rename(serve, "Acme Two")
			if got := name("+15125550100"); got != "Acme Two" {
				t.Errorf("after its own update the serve read %q, want Acme Two", got)
			}
			rename(other, "Acme Three")
			eventually("+15125550100", "Acme Three")

			if got := name("+15125550101"); got != "(none)" {
				t.Fatalf("unknown number found in %q", got)
			}
			if _, err := other.UpdateOrg(ctx, "acme", store.OrgUpdate{AddNumbers: []string{"+15125550101"}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if got := name("+15125550101"); got != "Acme Three" {
				t.Errorf("a number added by another process: org %q, want Acme Three at once", got)
			}
			if _, err := other.UpdateOrg(ctx, "acme", store.OrgUpdate{RemoveNumbers: []string{"+15125550101"}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			eventually("+15125550101", "(none)")
		})
	}
}
