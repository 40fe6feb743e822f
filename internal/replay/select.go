package replay

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

// Filter selects the deliveries to replay from the webhook log.
type Filter struct {
	Org       string // slug
	Providers []string
	Routes    []string
	Kinds     []string
	Statuses  []string
	// Since and Until bound received_at: Since <= received_at < Until (zero: unbounded).
	Since, Until time.Time
	CallSID      string
	// IDs names deliveries one by one; the other filters still apply to them.
	IDs []int64
	// Limit caps the selection, oldest first (0: all).
	Limit int
}

// selectPage is how many log rows one query reads while selecting.
const selectPage = 500

// Selection is what a filter chose, in receive order.
type Selection struct {
	Events []store.Evidence
	// SkippedForged counts deliveries left out by default because their signature was
	// invalid or missing: re-signing them would vouch for requests nobody signed.
	SkippedForged int
}

// selectEvidence reads the deliveries a filter names, oldest first. Deliveries refused for
// their signature are only taken when asked for by status or id.
func selectEvidence(ctx context.Context, st *store.Store, f Filter) (Selection, error) {
	var sel Selection
	lf := store.LogFilter{
		OrgSlug: f.Org, Providers: f.Providers, Kinds: f.Kinds, Statuses: f.Statuses,
		After: f.Since, Before: f.Until, Search: f.CallSID, Limit: selectPage,
	}
	explicit := len(f.Statuses) > 0 || len(f.IDs) > 0
	keep := func(e store.Evidence) bool {
		if len(f.Routes) > 0 && !slices.Contains(f.Routes, e.Route) {
			return false
		}
		if f.CallSID != "" && callSID(e) != f.CallSID {
			return false
		}
		if !explicit && e.Status == store.StatusRejected && (e.Signature == "invalid" || e.Signature == "missing") {
			sel.SkippedForged++
			return false
		}
		return true
	}
	if len(f.IDs) > 0 {
		var orgID int64
		if f.Org != "" {
			org, err := st.OrgBySlug(ctx, f.Org)
			if err != nil {
				return sel, fmt.Errorf("select deliveries: %w", err)
			}
			orgID = org.ID
		}
		ids := slices.Clone(f.IDs)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			e, err := st.LogByID(ctx, id)
			if err != nil {
				return sel, fmt.Errorf("select delivery: %w", err)
			}
			if (orgID == 0 || e.OrgID.Int64 == orgID) && matches(e, f) && keep(e) {
				sel.Events = append(sel.Events, e)
			}
		}
	} else {
		var after int64
		for {
			page, err := st.LogTail(ctx, lf, after)
			if err != nil {
				return sel, fmt.Errorf("select deliveries: %w", err)
			}
			for _, e := range page {
				if keep(e) {
					sel.Events = append(sel.Events, e)
				}
			}
			if len(page) < selectPage {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	sortByReceipt(sel.Events)
	if f.Limit > 0 && len(sel.Events) > f.Limit {
		sel.Events = sel.Events[:f.Limit]
	}
	return sel, nil
}

// matches applies the store-side filters to a delivery named by id.
func matches(e store.Evidence, f Filter) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(f.Providers, e.Provider) || !in(f.Kinds, e.Kind) || !in(f.Statuses, e.Status) {
		return false
	}
	at := e.ReceivedAt.Time
	if (!f.Since.IsZero() && at.Before(f.Since)) || (!f.Until.IsZero() && !at.Before(f.Until)) {
		return false
	}
	return true
}

// sortByReceipt puts deliveries in the order they were received; ids break ties (and are
// the commit order, which differs from receipt under group commit).
func sortByReceipt(evs []store.Evidence) {
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i].ReceivedAt.Time, evs[j].ReceivedAt.Time
		if !a.Equal(b) {
			return a.Before(b)
		}
		return evs[i].ID < evs[j].ID
	})
}

// callSID is the call a delivery is about; a delivery refused before it was read has it
// only in its body.
func callSID(e store.Evidence) string {
	if e.CallSID != "" {
		return e.CallSID
	}
	if form, err := url.ParseQuery(string(e.Body)); err == nil {
		return form.Get("CallSid")
	}
	return ""
}
