package cli

import (
	"testing"

	"github.com/callsnare/callsnare/internal/store"
)

func TestLastInvoice(t *testing.T) {
	older := store.Invoice{ID: "in_1", Status: "paid", AmountDue: 4900, AmountPaid: 4900, Currency: "usd"}
	newer := store.Invoice{ID: "in_2", Status: "open", AmountDue: 12345, AmountPaid: 0, Currency: "usd"}
	cases := []struct {
		name     string
		invoices []store.Invoice
		latestID string
		want     string
	}{
		{"none", nil, "", "-"},
		{"the one billing names", []store.Invoice{older, newer}, "in_1", "in_1 paid 49.00 USD due, 49.00 paid"},
		{"else the latest period", []store.Invoice{older, newer}, "", "in_2 open 123.45 USD due, 0.00 paid"},
		{"a credit", []store.Invoice{{ID: "in_3", Status: "paid", AmountDue: -250, Currency: "eur"}}, "in_3", "in_3 paid -2.50 EUR due, 0.00 paid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := lastInvoice(c.invoices, c.latestID).String(); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
