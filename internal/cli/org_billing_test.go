package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/cli"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("callsnare %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// applyLifecycle applies the fixture lifecycle's events from..to (1-based, inclusive) as
// the webhook would.
func applyLifecycle(t *testing.T, dsn string, from, to int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fx, err := stripe.Lifecycle()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fx[from-1 : to] {
		e, err := stripe.ParseEvent(f.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, _, err := tx.ApplyStripeEvent(ctx, e, time.Now())
			return err
		}); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
}

// TestOrgShowsBilling checks the billing block of `org show --json` and the status in
// `org list` as Stripe events change the org's billing.
func TestOrgShowsBilling(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "callsnare.db")
	run(t, "--db", dsn, "org", "add", "acme-hvac", "--name", "Acme", "--number", "+15125550100")
	type billingView struct {
		Status            string `json:"status"`
		CustomerID        string `json:"customer_id"`
		SubscriptionID    string `json:"subscription_id"`
		CurrentPeriodEnd  string `json:"current_period_end"`
		CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`
		LastInvoiceStatus string `json:"last_invoice_status"`
		Entitled          bool   `json:"entitled"`
	}
	const (
		cus = "cus_Q5hT3nVbL2kR9a"
		sub = "sub_1PJx4aLkdIwHu7ix0mY3bQ2e"
		end = "2024-08-16T16:00:00Z" // current_period_end in fixtures 10-14
	)
	tests := []struct {
		name     string
		from, to int // lifecycle events applied before this step
		enforce  string
		want     billingView
	}{
		{"past due, not enforced", 1, 10, "false", billingView{"past_due", cus, sub, end, false, "open", true}},
		{"past due, enforced", 0, 0, "true", billingView{"past_due", cus, sub, end, false, "open", false}},
		{"canceling at period end", 11, 13, "true", billingView{"active", cus, sub, end, true, "paid", true}},
		{"canceled", 14, 14, "true", billingView{"canceled", cus, sub, end, true, "paid", false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.from > 0 {
				applyLifecycle(t, dsn, tt.from, tt.to)
			}
			t.Setenv("CALLSNARE_BILLING_ENFORCE", tt.enforce)
			var view struct {
				Billing billingView `json:"billing"`
			}
			out := run(t, "--db", dsn, "org", "show", "acme-hvac", "--json")
			if err := json.Unmarshal([]byte(out), &view); err != nil {
				t.Fatalf("org show --json: %v\n%s", err, out)
			}
			if view.Billing != tt.want {
				t.Errorf("billing\n %+v\nwant\n %+v", view.Billing, tt.want)
			}
			if list := run(t, "--db", dsn, "org", "list"); !strings.Contains(list, tt.want.Status) {
				t.Errorf("org list does not show %s:\n%s", tt.want.Status, list)
			}
		})
	}
	// The last invoice shows whole: id, status, amounts and currency.
	out := run(t, "--db", dsn, "org", "show", "acme-hvac")
	if !regexp.MustCompile(`billing\.last_invoice +in_1PJx0\dLkdIwHu7ixQw3e paid 149\.00 USD due, 149\.00 paid`).MatchString(out) {
		t.Errorf("org show does not show the last invoice:\n%s", out)
	}
}
