package cli

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (a *app) orgCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "org", Short: "Provision and inspect orgs"}
	cmd.AddCommand(a.orgAddCmd(), a.orgUpdateCmd(), a.orgListCmd(), a.orgShowCmd())
	return cmd
}

type orgAddOptions struct {
	name, forwardTo, stripeCustomer, timezone, template, region string
	numbers                                                     []string
	minAnswer                                                   int
	noTextback                                                  bool
	owner                                                       ownerOptions
	twilioAccount                                               string
}

func (a *app) orgAddCmd() *cobra.Command {
	var o orgAddOptions
	cmd := &cobra.Command{
		Use:   "add SLUG --name NAME --number E164 [--number E164...] [--forward-to E164] [flags]",
		Short: "Add an org with its tracked numbers",
		Example: `  callsnare org add acme-hvac --name "Acme Heating & Cooling" \
    --number +15125550100 --forward-to "(512) 555-0199" --timezone America/Chicago`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			in, err := o.validate(argv[0])
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			org, err := st.CreateOrg(cmd.Context(), in, time.Now())
			if errors.Is(err, store.ErrDuplicate) {
				return usageErr(fmt.Sprintf("org %s: slug, number or Stripe customer already in use (%v)", in.Slug, err))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added org %s (%s) with %s\n", org.Slug, org.Name, strings.Join(org.Numbers, ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "business name, used in the text-back (required)")
	f.StringArrayVar(&o.numbers, "number", nil, "tracked Twilio number; repeat for several (required)")
	f.StringVar(&o.forwardTo, "forward-to", "", "the owner's phone calls are forwarded to")
	f.StringVar(&o.stripeCustomer, "stripe-customer", "", "Stripe customer id (cus_...) of the org")
	f.StringVar(&o.timezone, "timezone", "America/New_York", "IANA time zone of the business")
	f.StringVar(&o.template, "textback-template", "", "text-back message; {org} is the business name")
	f.StringVar(&o.region, "region", "US", "country for numbers written without +country code")
	f.IntVar(&o.minAnswer, "min-answer-seconds", 0, "a forwarded call shorter than this counts as missed (voicemail)")
	f.BoolVar(&o.noTextback, "no-textback", false, "forward calls but never text back")
	o.owner.flags(f)
	f.StringVar(&o.twilioAccount, "twilio-account", "", "Twilio account (AC...) that owns the numbers (default: the main account, twilio.account_sid)")
	return cmd
}

func (o orgAddOptions) validate(slug string) (store.NewOrg, error) {
	var errs []string
	if !slugPattern.MatchString(slug) {
		errs = append(errs, fmt.Sprintf("slug %q: use lowercase letters, digits and hyphens", slug))
	}
	if strings.TrimSpace(o.name) == "" {
		errs = append(errs, "--name is required")
	}
	if len(o.numbers) == 0 {
		errs = append(errs, "at least one --number is required")
	}
	in := store.NewOrg{Slug: slug, Name: strings.TrimSpace(o.name), Timezone: o.timezone,
		TextbackTemplate: o.template, MinAnswerSeconds: o.minAnswer, TextbackDisabled: o.noTextback}
	for _, n := range o.numbers {
		e, err := callflow.NormalizePhone(n, o.region)
		if err != nil {
			errs = append(errs, "--number: "+err.Error())
			continue
		}
		in.Numbers = append(in.Numbers, e)
	}
	if o.forwardTo != "" {
		e, err := callflow.NormalizePhone(o.forwardTo, o.region)
		if err != nil {
			errs = append(errs, "--forward-to: "+err.Error())
		}
		in.ForwardTo = e
	}
	if _, err := time.LoadLocation(o.timezone); err != nil || o.timezone == "" {
		errs = append(errs, fmt.Sprintf("--timezone %q: not an IANA time zone", o.timezone))
	}
	if o.stripeCustomer != "" && !strings.HasPrefix(o.stripeCustomer, "cus_") {
		errs = append(errs, fmt.Sprintf("--stripe-customer %q: want cus_...", o.stripeCustomer))
	}
	in.StripeCustomerID = o.stripeCustomer
	if o.twilioAccount != "" && !twilio.ValidSID(o.twilioAccount, "AC") {
		errs = append(errs, fmt.Sprintf("--twilio-account %q: want AC and 32 hex digits", o.twilioAccount))
	}
	in.TwilioAccount = o.twilioAccount
	if o.minAnswer < 0 {
		errs = append(errs, "--min-answer-seconds must not be negative")
	}
	errs = append(errs, o.owner.validate(o.region)...)
	in.NotifyNumber, in.Hours, in.AfterHoursTemplate, in.UrgentKeywords = o.owner.notify, o.owner.hours, o.owner.afterHours, o.owner.urgent
	if len(errs) > 0 {
		return in, usageErr(strings.Join(errs, "\n"))
	}
	return in, nil
}

// orgView is the JSON shape of an org.
type orgView struct {
	Slug      string   `json:"slug"`
	Name      string   `json:"name"`
	Timezone  string   `json:"timezone"`
	Numbers   []string `json:"numbers"`
	ForwardTo string   `json:"forward_to"`
	Textback  bool     `json:"textback_enabled"`
	orgSettingsView
	Billing   billingView `json:"billing"`
	CreatedAt string      `json:"created_at"`
}

type billingView struct {
	Status            string `json:"status"`
	CustomerID        string `json:"customer_id"`
	SubscriptionID    string `json:"subscription_id"`
	CurrentPeriodEnd  string `json:"current_period_end"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`
	LastInvoiceStatus string `json:"last_invoice_status"`
	// LastInvoice is the invoice Stripe told us of last; nil when none.
	LastInvoice *invoiceView `json:"last_invoice"`
	Entitled    bool         `json:"entitled"`
}

type invoiceView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	AmountDue  int64  `json:"amount_due"`
	AmountPaid int64  `json:"amount_paid"`
	Currency   string `json:"currency"`
}

// String is the invoice as a person reads it: "in_1 open 49.00 USD due, 0.00 paid".
func (v *invoiceView) String() string {
	if v == nil {
		return "-"
	}
	cur := strings.ToUpper(v.Currency)
	return fmt.Sprintf("%s %s %s %s due, %s paid", v.ID, dash(v.Status), money(v.AmountDue), cur, money(v.AmountPaid))
}

// money writes an amount in a currency's minor units (cents) as major units.
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// lastInvoice is the invoice the billing row names as the latest, else the one with the
// latest period.
func lastInvoice(invoices []store.Invoice, latestID string) *invoiceView {
	if len(invoices) == 0 {
		return nil
	}
	inv := invoices[len(invoices)-1]
	for _, i := range invoices {
		if i.ID == latestID {
			inv = i
		}
	}
	return &invoiceView{ID: inv.ID, Status: inv.Status, AmountDue: inv.AmountDue, AmountPaid: inv.AmountPaid, Currency: inv.Currency}
}

func (a *app) orgViews(cmd *cobra.Command, st *store.Store, orgs []store.Org) ([]orgView, error) {
	views := make([]orgView, 0, len(orgs))
	for _, o := range orgs {
		b, err := st.OrgBilling(cmd.Context(), o.ID)
		if err != nil {
			return nil, err
		}
		invoices, err := st.Invoices(cmd.Context(), o.ID)
		if err != nil {
			return nil, err
		}
		cust := b.CustomerID
		if cust == "" {
			cust = o.StripeCustomerID.String
		}
		views = append(views, orgView{
			Slug: o.Slug, Name: o.Name, Timezone: o.Timezone, Numbers: o.Numbers, ForwardTo: o.ForwardTo,
			Textback: o.TextbackEnabled, CreatedAt: rfc3339(o.CreatedAt.Time), orgSettingsView: settingsView(o),
			Billing: billingView{
				Status: b.Status, CustomerID: cust, SubscriptionID: b.SubscriptionID,
				CurrentPeriodEnd: rfc3339(b.CurrentPeriodEnd.Time), CancelAtPeriodEnd: b.CancelAtPeriodEnd,
				LastInvoiceStatus: b.LatestInvoiceStatus, LastInvoice: lastInvoice(invoices, b.LatestInvoiceID),
				Entitled: !a.cfg.Rules.EnforceBilling || billing.Entitled(b.Status, a.cfg.Rules.GracePastDue),
			},
		})
	}
	return views, nil
}

func (a *app) orgListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List orgs with their numbers and billing status",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			orgs, err := st.Orgs(cmd.Context())
			if err != nil {
				return err
			}
			views, err := a.orgViews(cmd, st, orgs)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSONLines(a.stdout, views)
			}
			t := newTable(a.stdout, "SLUG", "NAME", "NUMBERS", "FORWARD TO", "BILLING")
			for _, v := range views {
				t.row(v.Slug, v.Name, strings.Join(v.Numbers, " "), dash(v.ForwardTo), dash(v.Billing.Status))
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines")
	return cmd
}

func (a *app) orgShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SLUG",
		Short: "Show one org",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			org, err := a.findOrg(cmd, st, argv[0])
			if err != nil {
				return err
			}
			views, err := a.orgViews(cmd, st, []store.Org{org})
			if err != nil {
				return err
			}
			v := views[0]
			if asJSON {
				return printJSONLines(a.stdout, views)
			}
			t := newTable(a.stdout, "FIELD", "VALUE")
			for _, kv := range [][2]string{
				{"slug", v.Slug}, {"name", v.Name}, {"timezone", v.Timezone}, {"numbers", strings.Join(v.Numbers, " ")},
				{"forward_to", dash(v.ForwardTo)}, {"twilio_account", cmp.Or(v.TwilioAccount, "main account")},
				{"textback_enabled", fmt.Sprint(v.Textback)},
				{"notify", dash(v.Notify)}, {"hours", cmp.Or(v.Hours, "always open")},
				{"textback_template", dash(v.TextbackTemplate)}, {"after_hours_template", dash(v.AfterHoursTemplate)},
				{"urgent_keywords", strings.Join(v.UrgentKeywords, ", ")}, {"min_answer_seconds", fmt.Sprint(v.MinAnswerSeconds)},
				{"billing.status", dash(v.Billing.Status)}, {"billing.customer_id", dash(v.Billing.CustomerID)},
				{"billing.subscription_id", dash(v.Billing.SubscriptionID)},
				{"billing.current_period_end", dash(v.Billing.CurrentPeriodEnd)},
				{"billing.cancel_at_period_end", fmt.Sprint(v.Billing.CancelAtPeriodEnd)},
				{"billing.last_invoice", v.Billing.LastInvoice.String()},
				{"billing.entitled", fmt.Sprint(v.Billing.Entitled)},
			} {
				t.row(kv[0], kv[1])
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// openStore opens the configured database and brings its schema up to date, so that
// the operators' commands work on a new database file as on an old one.
func (a *app) openStore(cmd *cobra.Command) (*store.Store, error) {
	st, err := store.Open(cmd.Context(), a.cfg.DB, store.Options{Logger: a.log})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(cmd.Context()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func (a *app) findOrg(cmd *cobra.Command, st *store.Store, slug string) (store.Org, error) {
	org, err := st.OrgBySlug(cmd.Context(), slug)
	if errors.Is(err, store.ErrNotFound) {
		return org, usageErr(fmt.Sprintf("no org %q (see 'callsnare org list')", slug))
	}
	return org, err
}

// openOrg opens the store for a command about one org (--org, required).
func (a *app) openOrg(cmd *cobra.Command, slug string) (*store.Store, store.Org, error) {
	if slug == "" {
		return nil, store.Org{}, usageErr("--org is required")
	}
	st, err := a.openStore(cmd)
	if err != nil {
		return nil, store.Org{}, err
	}
	org, err := a.findOrg(cmd, st, slug)
	if err != nil {
		st.Close()
		return nil, store.Org{}, err
	}
	return st, org, nil
}
