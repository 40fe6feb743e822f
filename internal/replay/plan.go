package replay

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Plan is what a replay would send, shown before anything is sent.
type Plan struct {
	Target     string      `json:"target"` // redacted
	Count      int         `json:"count"`
	First      time.Time   `json:"first"`
	Last       time.Time   `json:"last"`
	Groups     []PlanGroup `json:"groups"`
	AsRecorded bool        `json:"as_recorded"`
	// Unsigned lists providers whose deliveries go out unsigned: no secret is configured.
	Unsigned      []string `json:"unsigned,omitempty"`
	SkippedForged int      `json:"skipped_forged"`
}

// PlanGroup counts the deliveries of one route and original status.
type PlanGroup struct {
	Route  string `json:"route"`
	Status string `json:"status"`
	Count  int    `json:"count"`
}

func newPlan(target string, sel Selection, s signer) Plan {
	p := Plan{Target: target, Count: len(sel.Events), AsRecorded: s.asRecorded, SkippedForged: sel.SkippedForged}
	counts := map[PlanGroup]int{}
	providers := map[string]bool{}
	for i, e := range sel.Events {
		if i == 0 {
			p.First = e.ReceivedAt.Time
		}
		p.Last = e.ReceivedAt.Time
		counts[PlanGroup{Route: e.Route, Status: e.Status}]++
		providers[e.Provider] = true
	}
	for g, n := range counts {
		g.Count = n
		p.Groups = append(p.Groups, g)
	}
	sort.Slice(p.Groups, func(i, j int) bool {
		a, b := p.Groups[i], p.Groups[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		return a.Status < b.Status
	})
	if !s.asRecorded {
		for _, pr := range []string{"twilio", "stripe"} {
			if providers[pr] && !s.signsFor(pr) {
				p.Unsigned = append(p.Unsigned, pr)
			}
		}
	}
	return p
}

// write prints the plan for people.
func (p Plan) write(w io.Writer) error {
	how := "re-signed for the target"
	if p.AsRecorded {
		how = "with the recorded headers"
	}
	fmt.Fprintf(w, "plan: %d deliveries to %s, %s\n", p.Count, p.Target, how)
	if p.Count > 0 {
		fmt.Fprintf(w, "  received from %s to %s\n", p.First.UTC().Format(time.RFC3339), p.Last.UTC().Format(time.RFC3339))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROUTE\tSTATUS\tCOUNT")
		for _, g := range p.Groups {
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", g.Route, g.Status, g.Count)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(p.Unsigned) > 0 {
		fmt.Fprintf(w, "  unsigned: no secret configured for %s\n", strings.Join(p.Unsigned, ", "))
	}
	if p.SkippedForged > 0 {
		fmt.Fprintf(w, "  skipped: %d deliveries refused for their signature (name them with --status rejected or --id)\n", p.SkippedForged)
	}
	return nil
}
