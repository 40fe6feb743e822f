package billing

import "time"

// InvoiceRecord is the stored row for one invoice: the newest snapshot of it, and the
// event that carried that snapshot.
type InvoiceRecord struct {
	Invoice
	EventCreated time.Time
	EventID      string
	EventType    string
}

// ApplyInvoice folds an invoice event into that invoice's row and reports whether the row
// changed. The newest event wins under the same order as the record's latest invoice
// (created, then invoice status rank, then event ID), so arrival order does not matter.
// Events about another invoice, or with no invoice, change nothing.
func ApplyInvoice(r InvoiceRecord, e Event) (InvoiceRecord, bool) {
	inv := e.Invoice
	if inv == nil || inv.ID == "" || (r.ID != "" && r.ID != inv.ID) {
		return r, false
	}
	if r.EventType != "" {
		next := Stamp{e.Created, InvoiceStatusRank(inv.Status), e.ID}
		cur := Stamp{r.EventCreated, InvoiceStatusRank(r.Status), r.EventID}
		if !next.After(cur) {
			return r, false
		}
	}
	return InvoiceRecord{Invoice: *inv, EventCreated: e.Created, EventID: e.ID, EventType: e.Type}, true
}
