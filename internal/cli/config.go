package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/callsnare/callsnare/internal/callflow"
)

// Config is every setting, resolved with the precedence flag > environment > config file >
// default. It is built once, here, and commands read only this struct.
type Config struct {
	DB   string
	Addr string
	// DebugAddr, when set, serves Go's profiles (net/http/pprof) there; keep it on loopback.
	DebugAddr string
	PublicURL string
	LogLevel  string
	LogFormat string
	Twilio    TwilioConfig
	Stripe    StripeConfig
	// Rules are the call and text-back rules (voice.*, textback.*, billing.*): one value,
	// handed to serve, replay and simulate alike.
	Rules callflow.Rules
	// Deadline bounds every delivery from receipt to answer (webhook.deadline).
	Deadline time.Duration
}

// TwilioConfig holds the Twilio account and API settings.
type TwilioConfig struct {
	AccountSID string
	AuthToken  string
	// SubaccountTokens maps subaccount SIDs to their auth tokens; their webhooks are signed
	// with their own token.
	SubaccountTokens map[string]string
	APIBaseURL       string
}

// StripeConfig holds the Stripe webhook settings.
type StripeConfig struct {
	WebhookSecrets []string
	Tolerance      time.Duration
}

// defaults are the documented defaults of every key.
var defaults = map[string]any{
	"db":                       "callsnare.db",
	"addr":                     ":8080",
	"debug_addr":               "",
	"public_url":               "",
	"log_level":                "info",
	"log_format":               "text",
	"twilio.account_sid":       "",
	"twilio.auth_token":        "",
	"twilio.subaccount_tokens": "",
	"twilio.api_base_url":      "",
	"stripe.webhook_secret":    "",
	"stripe.tolerance":         "5m",
	"textback.delay":           "0s",
	"textback.cooldown":        "24h",
	"textback.template":        "",
	"voice.dial_timeout":       "20s",
	"voice.settle":             "30s",
	"billing.enforce":          false,
	"billing.grace_past_due":   false,
	"webhook.deadline":         "5s",
}

// conventionalEnv are the provider-standard variable names also read for a key, after
// the CALLSNARE_ one.
var conventionalEnv = map[string]string{
	"twilio.auth_token":     "TWILIO_AUTH_TOKEN",
	"twilio.account_sid":    "TWILIO_ACCOUNT_SID",
	"stripe.webhook_secret": "STRIPE_WEBHOOK_SECRET",
}

// newViper sets defaults and environment bindings: CALLSNARE_ + the key upper-cased with
// dots as underscores.
func newViper() *viper.Viper {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
		env := "CALLSNARE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k))
		if alt, ok := conventionalEnv[k]; ok {
			_ = v.BindEnv(k, env, alt)
		} else {
			_ = v.BindEnv(k, env)
		}
	}
	return v
}

// bindFlags ties a command's flags to config keys; a flag set on the command line wins
// over everything else.
func bindFlags(v *viper.Viper, fs *pflag.FlagSet, keys map[string]string) {
	for flag, key := range keys {
		if f := fs.Lookup(flag); f != nil {
			_ = v.BindPFlag(key, f)
		}
	}
}

// load reads the config file, if any, and resolves the Config.
func load(v *viper.Viper, file string) (Config, error) {
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", file, err)
		}
	}
	var errs []string
	dur := func(key string) time.Duration {
		s := v.GetString(key)
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Sprintf("%s: %q is not a duration like 30s or 24h", key, s))
		}
		return d
	}
	c := Config{
		DB:        v.GetString("db"),
		Addr:      v.GetString("addr"),
		DebugAddr: v.GetString("debug_addr"),
		PublicURL: strings.TrimRight(v.GetString("public_url"), "/"),
		LogLevel:  v.GetString("log_level"),
		LogFormat: v.GetString("log_format"),
		Twilio: TwilioConfig{
			AccountSID: v.GetString("twilio.account_sid"),
			AuthToken:  v.GetString("twilio.auth_token"),
			APIBaseURL: v.GetString("twilio.api_base_url"),
		},
		Stripe: StripeConfig{WebhookSecrets: splitList(v.GetString("stripe.webhook_secret")), Tolerance: dur("stripe.tolerance")},
		Rules: callflow.Rules{
			DialTimeout: dur("voice.dial_timeout"), Settle: dur("voice.settle"),
			TextbackDelay: dur("textback.delay"), Cooldown: dur("textback.cooldown"), Template: v.GetString("textback.template"),
			EnforceBilling: v.GetBool("billing.enforce"), GracePastDue: v.GetBool("billing.grace_past_due"),
		},
		Deadline: dur("webhook.deadline"),
	}
	subs := splitList(v.GetString("twilio.subaccount_tokens"))
	if len(subs) > 0 {
		c.Twilio.SubaccountTokens = make(map[string]string, len(subs))
		for _, kv := range subs {
			sid, tok, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(sid, "AC") || tok == "" {
				errs = append(errs, "twilio.subaccount_tokens: want ACsid=token,ACsid=token")
				break
			}
			c.Twilio.SubaccountTokens[sid] = tok
		}
	}
	if c.Rules.DialTimeout > 0 && (c.Rules.DialTimeout < 5*time.Second || c.Rules.DialTimeout > 600*time.Second) {
		errs = append(errs, "voice.dial_timeout: must be between 5s and 600s")
	}
	if c.Deadline < 100*time.Millisecond || c.Deadline > 14*time.Second {
		// Twilio gives up after 15 s: an answer later than that is no answer.
		errs = append(errs, "webhook.deadline: must be between 100ms and 14s")
	}
	if len(errs) > 0 {
		return c, usageErr(strings.Join(errs, "; "))
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newLogger builds the one logger every component gets.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr(fmt.Sprintf("--log-level %q: want debug, info, warn or error", level))
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErr(fmt.Sprintf("--log-format %q: want text or json", format))
}
