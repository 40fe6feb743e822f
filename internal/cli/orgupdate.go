package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

// ownerOptions are the settings about telling the owner and business hours, shared by
// org add and org update.
type ownerOptions struct {
	notify, hours, afterHours, urgent string
}

func (o *ownerOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.notify, "notify", "", "who is texted about missed calls and replies (\"\" for nobody)")
	f.StringVar(&o.hours, "hours", "", `business hours in the org's timezone, e.g. "Mon-Fri 08:00-18:00, Sat 09:00-13:00" ("" for always open)`)
	f.StringVar(&o.afterHours, "after-hours-template", "", "text-back for calls missed outside the hours; {org} is the business name")
	f.StringVar(&o.urgent, "urgent-keywords", "", `comma-separated words that make a reply URGENT ("" for the defaults: `+strings.Join(callflow.DefaultUrgentKeywords, ", ")+")")
}

// validate normalises the options in place and returns what is wrong with them.
func (o *ownerOptions) validate(region string) []string {
	var errs []string
	if o.notify != "" {
		e, err := callflow.NormalizePhone(o.notify, region)
		if err != nil {
			errs = append(errs, "--notify: "+err.Error())
		}
		o.notify = e
	}
	if _, err := callflow.ParseHours(o.hours); err != nil {
		errs = append(errs, "--hours: "+err.Error())
	}
	o.hours = strings.TrimSpace(o.hours)
	if o.urgent != "" {
		o.urgent = strings.Join(callflow.UrgentKeywords(o.urgent), ",")
	}
	return errs
}

type orgUpdateOptions struct {
	orgAddOptions
	textback             bool
	addNumbers, removeNs []string
}

func (a *app) orgUpdateCmd() *cobra.Command {
	var o orgUpdateOptions
	cmd := &cobra.Command{
		Use:   "update SLUG [--name NAME] [--forward-to E164] [--notify E164] [--hours SPEC] ...",
		Short: "Change an org's settings or numbers",
		Long: `Change any setting given to 'org add'; settings not given stay as they are. Bad
input changes nothing. A running serve acts on the change from the next delivery.`,
		Example: `  callsnare org update acme-hvac --notify "(512) 555-0142" --hours "Mon-Fri 08:00-18:00, Sat 09:00-13:00" \
    --after-hours-template "{org} is closed now; we'll call you back first thing in the morning."
  callsnare org update acme-hvac --add-number +15125550101 --remove-number +15125550100
  callsnare org update acme-hvac --hours "" --textback=false`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			u, err := o.validate(cmd.Flags())
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			org, err := st.UpdateOrg(cmd.Context(), argv[0], u, time.Now())
			switch {
			case errors.Is(err, store.ErrNotFound):
				return usageErr(fmt.Sprintf("no org %q (see 'callsnare org list')", argv[0]))
			case errors.Is(err, store.ErrDuplicate):
				return usageErr(fmt.Sprintf("org %s: number already in use (%v)", argv[0], err))
			case errors.Is(err, store.ErrNotOwned):
				return usageErr(fmt.Sprintf("org %s: %v", argv[0], err))
			case err != nil:
				return err
			}
			fmt.Fprintf(a.stdout, "updated org %s (%s) with %s\n", org.Slug, org.Name, strings.Join(org.Numbers, ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "business name, used in the text-back")
	f.StringVar(&o.forwardTo, "forward-to", "", `the owner's phone calls are forwarded to ("" for none: every call is missed)`)
	f.StringVar(&o.timezone, "timezone", "", "IANA time zone of the business")
	f.StringVar(&o.template, "textback-template", "", `text-back message; {org} is the business name ("" for the default)`)
	f.StringVar(&o.region, "region", "US", "country for numbers written without +country code")
	f.IntVar(&o.minAnswer, "min-answer-seconds", 0, "a forwarded call shorter than this counts as missed (voicemail)")
	f.BoolVar(&o.textback, "textback", true, "text back missed calls (--textback=false to stop)")
	f.StringVar(&o.twilioAccount, "twilio-account", "", `Twilio account (AC...) that owns the numbers ("" for the main account, twilio.account_sid)`)
	f.StringArrayVar(&o.addNumbers, "add-number", nil, "track one more Twilio number; repeat for several")
	f.StringArrayVar(&o.removeNs, "remove-number", nil, "stop tracking a number of this org; repeat for several")
	o.owner.flags(f)
	return cmd
}

// validate turns the flags given into an update, or says everything wrong with them.
func (o *orgUpdateOptions) validate(f *pflag.FlagSet) (store.OrgUpdate, error) {
	var (
		u    store.OrgUpdate
		errs []string
	)
	given := func(name string) bool { return f.Changed(name) }
	phone := func(flag, v string) string {
		if v == "" {
			return ""
		}
		e, err := callflow.NormalizePhone(v, o.region)
		if err != nil {
			errs = append(errs, "--"+flag+": "+err.Error())
		}
		return e
	}
	if given("name") {
		name := strings.TrimSpace(o.name)
		if name == "" {
			errs = append(errs, "--name must not be empty")
		}
		u.Name = &name
	}
	if given("forward-to") {
		v := phone("forward-to", o.forwardTo)
		u.ForwardTo = &v
	}
	if given("timezone") {
		if _, err := time.LoadLocation(o.timezone); err != nil || o.timezone == "" {
			errs = append(errs, fmt.Sprintf("--timezone %q: not an IANA time zone", o.timezone))
		}
		u.Timezone = &o.timezone
	}
	if given("textback-template") {
		u.TextbackTemplate = &o.template
	}
	if given("min-answer-seconds") {
		if o.minAnswer < 0 {
			errs = append(errs, "--min-answer-seconds must not be negative")
		}
		u.MinAnswerSeconds = &o.minAnswer
	}
	if given("textback") {
		u.TextbackEnabled = &o.textback
	}
	if given("twilio-account") {
		if o.twilioAccount != "" && !twilio.ValidSID(o.twilioAccount, "AC") {
			errs = append(errs, fmt.Sprintf("--twilio-account %q: want AC and 32 hex digits", o.twilioAccount))
		}
		u.TwilioAccount = &o.twilioAccount
	}
	errs = append(errs, o.owner.validate(o.region)...)
	if given("notify") {
		u.NotifyNumber = &o.owner.notify
	}
	if given("hours") {
		u.Hours = &o.owner.hours
	}
	if given("after-hours-template") {
		u.AfterHoursTemplate = &o.owner.afterHours
	}
	if given("urgent-keywords") {
		u.UrgentKeywords = &o.owner.urgent
	}
	for _, n := range o.addNumbers {
		if e := phone("add-number", n); e != "" {
			u.AddNumbers = append(u.AddNumbers, e)
		} else if n == "" {
			errs = append(errs, "--add-number must not be empty")
		}
	}
	for _, n := range o.removeNs {
		if e := phone("remove-number", n); e != "" {
			u.RemoveNumbers = append(u.RemoveNumbers, e)
		} else if n == "" {
			errs = append(errs, "--remove-number must not be empty")
		}
	}
	if f.NFlag() == 0 || (f.NFlag() == 1 && given("region")) {
		errs = append(errs, "nothing to change: give at least one setting (see --help)")
	}
	if len(errs) > 0 {
		return u, usageErr(strings.Join(errs, "\n"))
	}
	return u, nil
}

// orgSettingsView is the part of an org's JSON its settings make.
type orgSettingsView struct {
	TwilioAccount      string   `json:"twilio_account"` // "": the main account
	Notify             string   `json:"notify"`
	Hours              string   `json:"hours"`
	TextbackTemplate   string   `json:"textback_template"`
	AfterHoursTemplate string   `json:"after_hours_template"`
	UrgentKeywords     []string `json:"urgent_keywords"`
	MinAnswerSeconds   int      `json:"min_answer_seconds"`
}

func settingsView(o store.Org) orgSettingsView {
	return orgSettingsView{TwilioAccount: o.TwilioAccount, Notify: o.NotifyNumber, Hours: o.Hours, TextbackTemplate: o.TextbackTemplate,
		AfterHoursTemplate: o.AfterHoursTemplate, UrgentKeywords: callflow.UrgentKeywords(o.UrgentKeywords),
		MinAnswerSeconds: o.MinAnswerSeconds}
}
