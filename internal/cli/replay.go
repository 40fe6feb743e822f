package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/replay"
)

type replayOptions struct {
	filter              replay.Filter
	since, until, speed string
	target, signBase    string
	pacing              replay.Pacing
	dryRun, yes, json   bool
	asRecorded, verify  bool
}

func (a *app) replayCmd() *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay --target URL [filters]",
		Short: "Re-drive stored webhook deliveries against a server, re-signed as the provider would",
		Long: `Re-drive deliveries from the webhook log in --db against a server, in the order they were
received. Each request is rebuilt from the stored raw body and signed for the target: Twilio
over the target's URL with twilio.auth_token (or the subaccount's token), Stripe with a fresh
timestamp and stripe.webhook_secret. --as-recorded sends the recorded headers instead. The
target verifies and dedupes a replay like any delivery; a replay of something it already
applied is answered as a duplicate.

--dry-run prints the plan and sends nothing. A target that is not this machine needs --yes
or a confirmation on the terminal. Deliveries refused for their signature are left out
unless named with --status rejected or --id.

--verify --org SLUG replays that org's evidence into a scratch database through an
in-process server and prints where the decided state (calls, leads, messages, opt-outs,
billing) differs from --db's.

Exit status: 0 when every delivery was taken (or refused by the target, e.g. 403), 1 when
any failed (5xx, no answer), verify found differences, or Ctrl-C stopped it; 2 on bad usage.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runReplay(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.filter.Org, "org", "", "only this org's deliveries (slug)")
	f.StringSliceVar(&o.filter.Providers, "provider", nil, "twilio, stripe")
	f.StringSliceVar(&o.filter.Routes, "route", nil, "route path, e.g. /api/twilio/voice/inbound")
	f.StringSliceVar(&o.filter.Kinds, "kind", nil, "voice.inbound, sms.inbound, invoice.paid, ...")
	f.StringSliceVar(&o.filter.Statuses, "status", nil, "original status: processed, duplicate, ignored, unmatched, rejected, failed")
	f.StringVar(&o.since, "since", "", "received since: a duration back (24h) or an RFC 3339 time")
	f.StringVar(&o.until, "until", "", "received before: a duration back (1h) or an RFC 3339 time")
	f.StringVar(&o.filter.CallSID, "call-sid", "", "only the deliveries of this call")
	f.Int64SliceVar(&o.filter.IDs, "id", nil, "only this delivery (repeatable)")
	f.IntVar(&o.filter.Limit, "limit", 0, "at most this many deliveries, oldest first (0: all)")
	f.StringVar(&o.target, "target", "", "base URL to send to (default: public_url)")
	f.StringVar(&o.signBase, "sign-base", "", "base URL the target verifies Twilio signatures against, its public_url (default: --target)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and send nothing")
	f.BoolVar(&o.yes, "yes", false, "do not ask before sending to a target that is not this machine")
	f.BoolVar(&o.asRecorded, "as-recorded", false, "send the recorded headers (signatures) unchanged instead of re-signing")
	f.Float64Var(&o.pacing.Rate, "rate", 0, "at most this many deliveries per second (0: no limit)")
	f.IntVar(&o.pacing.Concurrency, "concurrency", 1, "deliveries in flight at once")
	f.BoolVar(&o.pacing.OriginalTiming, "original-timing", false, "keep the recorded gaps between deliveries")
	f.StringVar(&o.speed, "speed", "", "with --original-timing: speed the gaps up, e.g. 10x")
	f.BoolVar(&o.json, "json", false, "print one JSON object per delivery (or difference)")
	f.BoolVar(&o.verify, "verify", false, "replay --org into a scratch database and compare the decided state")
	return cmd
}

func (a *app) runReplay(cmd *cobra.Command, o replayOptions) error {
	now := time.Now()
	var err error
	if o.filter.Since, err = parseWhen(o.since, now); err != nil {
		return usageErr("--since: " + err.Error())
	}
	if o.filter.Until, err = parseWhen(o.until, now); err != nil {
		return usageErr("--until: " + err.Error())
	}
	if o.speed != "" {
		if o.pacing.Speed, err = replay.ParseSpeed(o.speed); err != nil {
			return usageErr("--speed: " + err.Error())
		}
	}
	secrets := replay.Secrets{
		TwilioAuthToken: a.cfg.Twilio.AuthToken, TwilioSubaccountTokens: a.cfg.Twilio.SubaccountTokens,
		StripeSecrets: a.cfg.Stripe.WebhookSecrets,
	}
	var progress io.Writer
	if isTerminal(a.stderr) {
		progress = a.stderr
	}
	if o.verify {
		if o.target != "" || o.dryRun || o.asRecorded {
			return usageErr("--verify replays into its own scratch server: --target, --dry-run and --as-recorded do not apply")
		}
		v := &replay.Verify{
			DSN: a.cfg.DB, Org: o.filter.Org, Secrets: secrets, Out: a.stdout, JSON: o.json, Progress: progress, Logger: a.log,
			Rules: a.cfg.Rules,
		}
		_, err := v.Run(cmd.Context())
		return replayExit(err)
	}
	target := o.target
	if target == "" {
		target = a.cfg.PublicURL
	}
	r := &replay.Replay{
		DSN: a.cfg.DB, Filter: o.filter, Target: target, SignBase: o.signBase, Secrets: secrets,
		AsRecorded: o.asRecorded, Pacing: o.pacing, DryRun: o.dryRun, Yes: o.yes, JSON: o.json,
		Out: a.stdout, Progress: progress,
	}
	if o.json {
		r.Info = a.stderr
	}
	if isTerminal(a.stderr) && isTerminal(a.stdin) {
		r.Confirm = a.confirm
	}
	_, err = r.Run(cmd.Context())
	return replayExit(err)
}

// replayExit maps the replay package's errors onto the exit code table: its results and
// summary are already printed.
func replayExit(err error) error {
	var ue *replay.UsageError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		return usageErr(ue.Msg)
	case errors.Is(err, replay.ErrDeliveriesFailed), errors.Is(err, replay.ErrInterrupted), errors.Is(err, replay.ErrDifferences):
		return errFailed
	}
	return err
}

// confirm asks a yes/no question on the terminal.
func (a *app) confirm(prompt string) (bool, error) {
	fmt.Fprintf(a.stderr, "%s [y/N] ", prompt)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
