package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/demo"
	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/service"
)

type serveOptions struct {
	requireSignatures bool
	demo              bool
	shutdownTimeout   time.Duration
	// addrSet says the address was chosen (flag, environment or config file), so that
	// --demo keeps it instead of its loopback default.
	addrSet bool
}

// demoAddr is where --demo listens unless told otherwise: loopback only, since the demo
// takes any signature made with its published token.
const demoAddr = "127.0.0.1:8080"

func (a *app) serveCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the webhook server",
		Long: `Run the webhook server: the Twilio voice and SMS routes, the Stripe route, /healthz,
/readyz and /metrics, and the workers that send text-backs.

Secrets have no flags, so that they never show in ps or a shell's history. Set them in the
environment (the CALLSNARE_ name wins over the provider's) or in the config file (--config):

  Twilio auth token     CALLSNARE_TWILIO_AUTH_TOKEN or TWILIO_AUTH_TOKEN     twilio.auth_token
  Twilio account SID    CALLSNARE_TWILIO_ACCOUNT_SID or TWILIO_ACCOUNT_SID   twilio.account_sid
  subaccount tokens     CALLSNARE_TWILIO_SUBACCOUNT_TOKENS (ACsid=token,...) twilio.subaccount_tokens
  Stripe signing secret CALLSNARE_STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET
                        (whsec_..., comma-separated while rotating)          stripe.webhook_secret

Without the Twilio token or the Stripe secret, that provider's signatures are not checked
(a warning says so); --require-signatures refuses to start instead.

With --demo it provisions demo orgs, sends text-backs to a built-in fake Twilio, and plays
one missed call against itself so that the whole flow shows in the log. It listens on
` + demoAddr + ` unless --addr (or CALLSNARE_ADDR, or addr in the config) says otherwise.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.addrSet = cmd.Flags().Changed("addr") || os.Getenv("CALLSNARE_ADDR") != "" || a.v.InConfig("addr")
			return a.runServe(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.String("addr", ":8080", "address to listen on (with --demo: "+demoAddr+")")
	f.String("debug-addr", "", "serve Go's runtime profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	f.String("public-url", "", "scheme and host providers call (https://hooks.example.com); signatures cover it")
	f.BoolVar(&o.requireSignatures, "require-signatures", false, "refuse to start without Twilio and Stripe secrets")
	f.BoolVar(&o.demo, "demo", false, "seed demo orgs, use a built-in fake Twilio, and play a sample missed call")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for in-flight requests and jobs")
	bindFlags(a.v, f, map[string]string{"addr": "addr", "debug-addr": "debug_addr", "public-url": "public_url"})
	return cmd
}

func (a *app) serviceConfig() service.Config {
	c := a.cfg
	return service.Config{
		DSN: c.DB, PublicURL: c.PublicURL,
		TwilioAccountSID: c.Twilio.AccountSID, TwilioAuthToken: c.Twilio.AuthToken,
		TwilioSubaccountTokens: c.Twilio.SubaccountTokens, TwilioAPIBaseURL: c.Twilio.APIBaseURL,
		StripeSecrets: c.Stripe.WebhookSecrets, StripeTolerance: c.Stripe.Tolerance,
		Rules: c.Rules, Deadline: c.Deadline,
	}
}

// serveGCPercent is the garbage collector's target for serve unless GOGC says otherwise.
// A delivery allocates little that outlives it and the live heap is a few MiB, so Go's
// default (100) collects often for nothing: under load that was a sixth of serve's CPU.
// 400 trades a few tens of MiB for it.
const serveGCPercent = 400

// listenAddr is where serve listens: the configured address, except that --demo stays on
// loopback unless an address was chosen (flag, environment or config file).
func listenAddr(configured string, demo, chosen bool) string {
	if demo && !chosen {
		return demoAddr
	}
	return configured
}

func (a *app) runServe(ctx context.Context, o serveOptions) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	cfg := a.serviceConfig()
	var d *demo.Demo
	if o.demo {
		var err error
		if d, err = demo.New(a.log); err != nil {
			return err
		}
		defer d.Close()
		d.Configure(&cfg)
	}
	if o.requireSignatures && (cfg.TwilioAuthToken == "" || len(cfg.StripeSecrets) == 0) {
		return usageErr("--require-signatures: set twilio.auth_token and stripe.webhook_secret (or CALLSNARE_TWILIO_AUTH_TOKEN, CALLSNARE_STRIPE_WEBHOOK_SECRET)")
	}
	if cfg.TwilioAuthToken == "" {
		a.log.Warn("SIGNATURES NOT CHECKED: twilio.auth_token is not set, so anyone can post Twilio callbacks; set it or use --require-signatures")
	}
	if len(cfg.StripeSecrets) == 0 {
		a.log.Warn("SIGNATURES NOT CHECKED: stripe.webhook_secret is not set, so anyone can post Stripe events; set it or use --require-signatures")
	}
	if cfg.PublicURL == "" {
		a.log.Warn("public_url is not set: signatures are checked against the request's Host header, which is wrong behind a proxy")
	}
	svc, err := service.Start(ctx, cfg, a.log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listenAddr(a.cfg.Addr, o.demo, o.addrSet))
	if err != nil {
		_ = svc.Close(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	srv := service.HTTPServer(svc.Handler(), cfg.Deadline)
	if a.cfg.DebugAddr != "" {
		stop, err := serveProfiles(a.cfg.DebugAddr, a.log)
		if err != nil {
			_ = ln.Close()
			_ = svc.Close(context.Background())
			return err
		}
		defer stop()
	}
	a.log.Info("serving", "addr", ln.Addr().String(), "db_driver", svc.Store.Driver(), "public_url", cfg.PublicURL)
	if base := cfg.PublicURL; base != "" {
		// What to paste into the Twilio console and the Stripe dashboard.
		a.log.Info("provider_urls",
			"twilio_voice", base+server.RouteVoiceInbound, "twilio_status", base+server.RouteVoiceStatus,
			"twilio_sms", base+server.RouteSMSInbound, "stripe", base+server.RouteStripe)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if d != nil {
		target := fmt.Sprintf("http://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
		signBase := cfg.PublicURL
		if signBase == "" {
			signBase = target
		}
		go d.Play(ctx, target, signBase, cfg.DSN, svc.Store)
	}
	select {
	case err := <-errc:
		_ = svc.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting_down", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	// In-flight requests finish first, then running jobs, then the database closes.
	err = srv.Shutdown(sctx)
	if cerr := svc.Close(sctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("stopped")
	return nil
}
