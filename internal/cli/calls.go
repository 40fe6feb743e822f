package cli

import "github.com/spf13/cobra"

// callView is the JSON shape of a call.
type callView struct {
	CallSID        string `json:"call_sid"`
	Org            string `json:"org"`
	From           string `json:"from"`
	To             string `json:"to"`
	Outcome        string `json:"outcome"`
	Reason         string `json:"reason"`
	DialStatus     string `json:"dial_status"`
	CallStatus     string `json:"call_status"`
	StartedAt      string `json:"started_at"`
	LeadID         *int64 `json:"lead_id"`
	TextbackStatus string `json:"textback_status"`
	TextbackReason string `json:"textback_reason"`
	TextbackError  string `json:"textback_error"`
	NotifyStatus   string `json:"notify_status"`
	NotifyReason   string `json:"notify_reason"`
}

func (a *app) callsCmd() *cobra.Command {
	var (
		org    string
		asJSON bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "calls --org SLUG",
		Short: "List an org's calls with their outcomes and text-backs",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, o, err := a.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer st.Close()
			calls, err := st.Calls(cmd.Context(), o.ID, limit)
			if err != nil {
				return err
			}
			views := make([]callView, len(calls))
			for i, c := range calls {
				views[i] = callView{CallSID: c.CallSID, Org: c.OrgSlug, From: c.From, To: c.To, Outcome: c.Outcome,
					Reason: c.Reason, DialStatus: c.DialStatus, CallStatus: c.CallStatus, StartedAt: rfc3339(c.StartedAt.Time),
					TextbackStatus: c.TextbackStatus.String, TextbackReason: c.TextbackReason.String,
					TextbackError: c.TextbackError(), NotifyStatus: c.NotifyStatus.String, NotifyReason: c.NotifyReason.String}
				if c.LeadID.Valid {
					id := c.LeadID.Int64
					views[i].LeadID = &id
				}
			}
			if asJSON {
				return printJSONLines(a.stdout, views)
			}
			t := newTable(a.stdout, "STARTED", "CALL SID", "FROM", "OUTCOME", "DIAL", "TEXT-BACK", "REASON")
			for _, v := range views {
				why := v.TextbackReason
				if v.TextbackError != "" {
					why = v.TextbackError
				}
				t.row(v.StartedAt, v.CallSID, v.From, v.Outcome, dash(v.DialStatus), dash(v.TextbackStatus), dash(why))
			}
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "org slug (required)")
	f.BoolVar(&asJSON, "json", false, "print JSON Lines")
	f.IntVar(&limit, "limit", 1000, "at most this many calls, newest first")
	return cmd
}
