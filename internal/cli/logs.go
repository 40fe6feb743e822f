package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/logview"
	"github.com/callsnare/callsnare/internal/replay"
)

type logsOptions struct {
	logview.Options
	since, until string
	replayTo     string
}

func (a *app) logsCmd() *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [--org SLUG]",
		Short: "Browse the webhook log: a terminal UI, or JSON Lines when piped",
		Long: `Browse the webhook log by org, down to one call's whole story.

On a terminal this opens the viewer (press ? for its keys). With --json, or when stdout is
not a terminal, it prints the same filters as JSON Lines; --plain prints a table. Phone
numbers and message bodies are masked unless --show-pii. The database is opened read-only.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Since, err = parseWhen(o.since, time.Now()); err != nil {
				return usageErr("--since: " + err.Error())
			}
			if o.Until, err = parseWhen(o.until, time.Now()); err != nil {
				return usageErr("--until: " + err.Error())
			}
			o.DSN = a.cfg.DB
			o.Stdout, o.Stdin = a.stdout, a.stdin
			if target := o.replayTo; target != "" || a.cfg.PublicURL != "" {
				if target == "" {
					target = a.cfg.PublicURL
				}
				// The viewer asks before each replay, so the replayer does not ask again.
				o.Replayer = replay.Single{DSN: a.cfg.DB, Target: target, Secrets: replay.Secrets{
					TwilioAuthToken: a.cfg.Twilio.AuthToken, TwilioSubaccountTokens: a.cfg.Twilio.SubaccountTokens,
					StripeSecrets: a.cfg.Stripe.WebhookSecrets,
				}}
			}
			if f, ok := a.stdout.(*os.File); ok {
				o.IsTTY = isatty.IsTerminal(f.Fd())
			}
			return logview.Run(cmd.Context(), o.Options)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Org, "org", "", "only this org (the viewer opens on it)")
	f.BoolVar(&o.NoOrg, "no-org", false, "only deliveries tied to no org (unmatched, rejected)")
	f.BoolVar(&o.JSON, "json", false, "print JSON Lines")
	f.BoolVar(&o.Plain, "plain", false, "print a plain table")
	f.BoolVar(&o.Full, "full", false, "with --json: add headers and body")
	f.BoolVar(&o.Follow, "follow", false, "keep printing new deliveries")
	f.BoolVar(&o.ShowPII, "show-pii", false, "show phone numbers and message bodies")
	f.StringSliceVar(&o.Providers, "provider", nil, "twilio, stripe")
	f.StringSliceVar(&o.Kinds, "kind", nil, "voice.inbound, sms.inbound, invoice.paid, ...")
	f.StringSliceVar(&o.Statuses, "status", nil, "processed, duplicate, ignored, unmatched, rejected, failed")
	f.StringSliceVar(&o.Signatures, "signature", nil, "valid, invalid, missing, unchecked")
	f.StringVar(&o.Search, "search", "", "CallSid, phone number, event id or body text")
	f.StringVar(&o.since, "since", "", "a duration back (24h) or an RFC 3339 time")
	f.StringVar(&o.until, "until", "", "a duration back (1h) or an RFC 3339 time")
	f.IntVar(&o.Limit, "limit", 0, "at most this many deliveries (0: all)")
	f.StringVar(&o.replayTo, "replay-to", "", "server the viewer's replay action sends to, re-signed (default: public_url; none: replay unavailable)")
	cmd.AddCommand(a.logsPruneCmd())
	return cmd
}

func (a *app) logsPruneCmd() *cobra.Command {
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete webhook log rows older than a duration (dedupe claims are kept)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan <= 0 {
				return usageErr("--older-than is required, e.g. 720h")
			}
			n, err := logview.Prune(cmd.Context(), a.cfg.DB, olderThan)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "pruned %d deliveries older than %s\n", n, olderThan)
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "age of the rows to delete, e.g. 720h")
	return cmd
}

// parseWhen reads a time flag: empty, a duration back from now, or RFC 3339.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor an RFC 3339 time", s)
	}
	return t, nil
}
