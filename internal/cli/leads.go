package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/callflow"
)

type messageView struct {
	Direction string           `json:"direction"`
	Body      string           `json:"body"`
	Media     []callflow.Media `json:"media"`
	Status    string           `json:"status"`
	Reason    string           `json:"reason,omitempty"`
	ErrorCode string           `json:"error_code"`
	Error     string           `json:"error,omitempty"`
	SID       string           `json:"sid"`
	CreatedAt string           `json:"created_at"`
}

type leadView struct {
	ID        int64         `json:"id"`
	Org       string        `json:"org"`
	Phone     string        `json:"phone"`
	Status    string        `json:"status"`
	OptedOut  bool          `json:"opted_out"`
	CreatedAt string        `json:"created_at"`
	Messages  []messageView `json:"messages"`
}

func (a *app) leadsCmd() *cobra.Command {
	var (
		org, phone string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "leads --org SLUG [--phone E164]",
		Short: "List an org's leads with their SMS threads",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if phone != "" {
				e, err := callflow.NormalizePhone(phone, "US")
				if err != nil {
					return usageErr("--phone: " + err.Error())
				}
				phone = e
			}
			st, o, err := a.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer st.Close()
			leads, err := st.Leads(cmd.Context(), o.ID, phone)
			if err != nil {
				return err
			}
			views := make([]leadView, len(leads))
			for i, l := range leads {
				views[i] = leadView{ID: l.ID, Org: l.OrgSlug, Phone: l.Phone, Status: l.Status, OptedOut: l.OptedOut,
					CreatedAt: rfc3339(l.CreatedAt.Time), Messages: make([]messageView, len(l.Messages))}
				for j, m := range l.Messages {
					views[i].Messages[j] = messageView{Direction: m.Direction, Body: m.Body, Media: m.MediaItems(),
						Status: m.Status, Reason: m.Reason, ErrorCode: m.ErrorCode, Error: m.ErrorText(),
						SID: m.SID.String, CreatedAt: rfc3339(m.CreatedAt.Time)}
				}
			}
			if asJSON {
				return printJSONLines(a.stdout, views)
			}
			t := newTable(a.stdout, "ID", "PHONE", "STATUS", "OPTED OUT", "CREATED", "MESSAGES", "LAST")
			for _, v := range views {
				last := ""
				if n := len(v.Messages); n > 0 {
					m := v.Messages[n-1]
					last = fmt.Sprintf("%s %s: %s", m.Direction, m.Status, m.Body)
					if len(m.Media) > 0 {
						last += fmt.Sprintf(" [%d media]", len(m.Media))
					}
					if r := []rune(last); len(r) > 60 {
						last = string(r[:57]) + "..."
					}
				}
				t.row(fmt.Sprint(v.ID), v.Phone, v.Status, fmt.Sprint(v.OptedOut), v.CreatedAt, fmt.Sprint(len(v.Messages)), last)
			}
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "org slug (required)")
	f.StringVar(&phone, "phone", "", "only the lead of this phone")
	f.BoolVar(&asJSON, "json", false, "print JSON Lines")
	return cmd
}
