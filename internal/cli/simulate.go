package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/simulate"
)

type simulateOptions struct {
	simulate.Options
	ramp, jsonFile, junitFile string
	maxP99                    string
}

func (a *app) simulateCmd() *cobra.Command {
	o := simulateOptions{Options: simulate.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "simulate (--embedded | --target URL --db DSN)",
		Short: "Play signed provider traffic at a rate, with faults, then check latency and invariants",
		Long: `Play whole provider flows against a server: calls as Twilio plays them (inbound, the
<Dial action> of the answer, dial-complete, status), callers answering text-backs (some with
STOP, then START), and a Stripe billing lifecycle per org, all signed as the providers sign.
Faults are drawn at the rates given; requests leave open loop at --rate (or --ramp).

When the traffic has drained, the verdict checks the database (and the fake Twilio): every
answered delivery has its evidence, each call its row and outcome, exactly one text-back
per eligible missed call and none otherwise, nothing sent after STOP, billing equal to its
events folded, forged deliveries without effect; then the thresholds.

--embedded runs an in-process server on a temporary SQLite file with a fake Twilio. With
--target, --db is the server's database (orgs are provisioned there) and the secrets come
from twilio.auth_token and stripe.webhook_secret; --fake-twilio ADDR serves the fake
Twilio the server is pointed at (twilio.api_base_url).

Exit status: 0 when everything holds, 1 when an invariant or threshold fails, 2 on bad usage.`,
		Example: `  callsnare simulate --embedded --calls 2000 --dup-rate 0.2 --reorder-rate 0.2
  callsnare simulate --target http://127.0.0.1:8080 --db postgres://... --fake-twilio 127.0.0.1:9099 \
      --rate 500 --duration 30s --max-p99 50ms --json report.json --junit report.xml`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runSimulate(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Embedded, "embedded", false, "run an in-process server on a temporary SQLite database")
	f.StringVar(&o.Target, "target", "", "base URL of a running serve")
	f.StringVar(&o.FakeTwilioAddr, "fake-twilio", "", "serve the fake Twilio Messages API on this address")
	f.Float64Var(&o.TwilioFailRate, "twilio-fail-rate", 0, "share of fake Twilio sends answered 500")
	f.DurationVar(&o.TwilioLatency, "twilio-latency", 0, "latency the fake Twilio adds")
	f.Float64Var(&o.Rate, "rate", o.Rate, "requests per second, open loop (0: as fast as --concurrency allows)")
	f.StringVar(&o.ramp, "ramp", "", "rate ramp FROM:TO/DURATION[,...], e.g. 0:2000/30s (replaces --rate)")
	f.DurationVar(&o.Duration, "duration", 0, "stop starting calls after this long")
	f.IntVar(&o.Calls, "calls", 0, "number of calls to play (default 200 without --duration or --ramp)")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "most requests in flight")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "the same seed plays the same traffic")
	f.StringVar(&o.RunID, "run-id", "", "namespace of the run's orgs and ids (default: random)")
	f.IntVar(&o.Orgs, "orgs", o.Orgs, "orgs to provision; all but the last play a Stripe lifecycle")
	f.IntVar(&o.Callers, "callers", 0, "distinct callers (default a quarter of the calls, at least 20)")
	f.Float64Var(&o.AnswerRate, "answer-rate", o.AnswerRate, "share of forwarded calls the owner answers; the rest are busy, no-answer, failed or canceled")
	f.Float64Var(&o.Untextable, "untextable-rate", o.Untextable, "share of callers that are anonymous or cannot get a text")
	f.Float64Var(&o.ReplyRate, "reply-rate", o.ReplyRate, "share of text-backs the caller answers")
	f.Float64Var(&o.StopRate, "stop-rate", o.StopRate, "share of replies that are STOP")
	f.Float64Var(&o.RestartRate, "start-rate", o.RestartRate, "share of STOPs later undone with START")
	f.Float64Var(&o.Faults.Dup, "dup-rate", 0, "share of deliveries sent again a little later")
	f.Float64Var(&o.Faults.ConcurrentDup, "concurrent-dup-rate", 0, "share of deliveries sent twice at once")
	f.Float64Var(&o.Faults.Reorder, "reorder-rate", 0, "share of calls whose status comes before dial-complete, and of Stripe events swapped")
	f.Float64Var(&o.Faults.Stale, "stale-rate", 0, "share of Stripe events first signed beyond the tolerance")
	f.Float64Var(&o.Faults.BadSig, "bad-sig-rate", 0, "share of deliveries with a forged copy signed with the wrong key")
	f.Float64Var(&o.Faults.WrongURL, "wrong-url-rate", 0, "share of calls with a forged copy signed for another URL")
	f.Float64Var(&o.Faults.Malformed, "malformed-rate", 0, "share of deliveries with a broken copy that does not parse")
	f.IntVar(&o.Faults.MaxRetries, "max-retries", 3, "retries of a delivery answered 5xx or not at all")
	f.DurationVar(&o.Timeout, "timeout", 0, "per-request timeout (default 15s, Twilio's budget)")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "how long to wait for text-backs before the verdict")
	f.StringVar(&o.maxP99, "max-p99", "", "fail when the overall p99 latency is above this, e.g. 50ms")
	f.Float64Var(&o.Thresholds.MaxErrorRate, "max-error-rate", 0, "fail when errors/requests is above this")
	f.Float64Var(&o.Thresholds.MinRate, "min-rate", 0, "fail when the achieved requests/s is below this")
	f.StringVar(&o.jsonFile, "json", "", "write the report as JSON to this file")
	f.StringVar(&o.junitFile, "junit", "", "write the checks as JUnit XML to this file")
	return cmd
}

func (a *app) runSimulate(cmd *cobra.Command, o simulateOptions) error {
	var err error
	if o.ramp != "" {
		if o.Ramp, err = simulate.ParseRamp(o.ramp); err != nil {
			return usageErr("--ramp: " + err.Error())
		}
	}
	if o.maxP99 != "" {
		if o.Thresholds.MaxP99, err = time.ParseDuration(o.maxP99); err != nil {
			return usageErr("--max-p99: " + err.Error())
		}
	}
	c := a.cfg
	if o.Target != "" {
		// The target's database must be named: the default file is nobody's server.
		if cmd.Flags().Changed("db") || os.Getenv("CALLSNARE_DB") != "" || a.v.InConfig("db") {
			o.DSN = c.DB
		}
		o.PublicURL = c.PublicURL
		o.TwilioAccountSID, o.TwilioAuthToken = c.Twilio.AccountSID, c.Twilio.AuthToken
		o.StripeSecrets, o.StripeTolerance = c.Stripe.WebhookSecrets, c.Stripe.Tolerance
	}
	if cmd.Flags().Changed("db") && o.Embedded {
		return usageErr("--db goes with --target; --embedded makes its own database")
	}
	o.Rules = c.Rules
	o.Logger = a.log
	if f, ok := a.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		o.Progress = a.stderr
	}
	rep, err := (&simulate.Simulator{Options: o.Options}).Run(cmd.Context())
	if errors.Is(err, simulate.ErrUsage) {
		return usageErr(err.Error())
	}
	if err != nil {
		return err
	}
	rep.Print(a.stdout)
	if o.jsonFile != "" {
		if err := rep.WriteJSON(o.jsonFile); err != nil {
			return err
		}
	}
	if o.junitFile != "" {
		if err := rep.WriteJUnit(o.junitFile); err != nil {
			return err
		}
	}
	if !rep.Passed {
		for _, c := range rep.Failed() {
			fmt.Fprintf(a.stderr, "simulate: %s %q failed\n", c.Kind, c.Name)
		}
		return errFailed
	}
	return nil
}
