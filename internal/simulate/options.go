package simulate

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/service"
)

// Options are everything a run takes. The zero value of a field means its default.
type Options struct {
	// Target is the base URL of a running server; with Embedded it is left empty.
	Target string
	// DSN is the target's database: orgs are provisioned there and the verdict reads it.
	DSN string
	// Embedded starts an in-process server on a temporary SQLite file with a fake Twilio.
	Embedded bool
	// Embed adjusts the embedded server (tests build broken servers with it).
	Embed EmbedHooks
	// PublicURL is what the target's signatures cover; default Target.
	PublicURL string

	TwilioAccountSID string
	TwilioAuthToken  string
	StripeSecrets    []string
	StripeTolerance  time.Duration

	// FakeTwilioAddr runs the fake Twilio Messages API there, for a separate serve pointed
	// at it (twilio.api_base_url); the verdict then also counts what it really "sent".
	FakeTwilioAddr string
	TwilioFailRate float64
	TwilioLatency  time.Duration

	// Rules are the target's call and text-back rules, which the verdict mirrors; the
	// embedded server runs under them.
	Rules callflow.Rules

	Rate        float64 // requests per second; 0 sends as fast as Concurrency allows
	Ramp        Ramp    // when set, replaces Rate
	Duration    time.Duration
	Calls       int
	Concurrency int
	Seed        uint64
	// RunID namespaces the run's orgs and ids in a shared database; default from Seed
	// and the clock. The same Seed and RunID send the same bytes.
	RunID string

	Orgs        int     // default 4; the last has no Stripe lifecycle
	Callers     int     // distinct callers; default a quarter of the calls, at least 20
	AnswerRate  float64 // share of forwarded calls the owner picks up
	Untextable  float64 // share of calls from anonymous or untextable callers
	ReplyRate   float64 // share of text-backs the caller answers
	StopRate    float64 // share of replies that are STOP
	RestartRate float64 // share of STOPs later undone with START

	Faults Faults

	Timeout      time.Duration // per request, as Twilio's 15 s budget
	DrainTimeout time.Duration // how long the verdict waits for text-backs
	Thresholds   Thresholds

	// Progress, when set, gets a live status line (a terminal).
	Progress io.Writer
	Logger   *slog.Logger
	Client   *http.Client
}

// Faults are the delivery faults, each a rate in [0, 1].
type Faults struct {
	Dup           float64 // the same delivery again, a little later
	ConcurrentDup float64 // the same delivery twice at once
	Reorder       float64 // status before dial-complete; Stripe events swapped
	Stale         float64 // Stripe signature older than the tolerance (then retried fresh)
	BadSig        float64 // a delivery signed with the wrong key
	WrongURL      float64 // a Twilio delivery signed for another URL
	Malformed     float64 // a body that does not parse
	MaxRetries    int     // retries of a 5xx or unanswered delivery; default 3
}

// Thresholds fail the run when crossed; zero values are not checked.
type Thresholds struct {
	MaxP99       time.Duration
	MaxErrorRate float64
	MinRate      float64
}

// EmbedHooks let a test change the embedded server.
type EmbedHooks struct {
	Config func(*service.Config)
	Wrap   func(h http.Handler, cfg service.Config) http.Handler
}

// Ramp is a rate that changes linearly over stages.
type Ramp []RampStage

// RampStage goes from one rate to another over a duration.
type RampStage struct {
	From, To float64
	Over     time.Duration
}

// ParseRamp reads "0:2000/30s" or several stages "0:500/10s,500:500/20s".
func ParseRamp(s string) (Ramp, error) {
	var r Ramp
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		rates, over, ok := strings.Cut(part, "/")
		from, to, ok2 := strings.Cut(rates, ":")
		if !ok || !ok2 {
			return nil, fmt.Errorf("ramp %q: want FROM:TO/DURATION, e.g. 0:2000/30s", part)
		}
		f, err1 := strconv.ParseFloat(from, 64)
		t, err2 := strconv.ParseFloat(to, 64)
		d, err3 := time.ParseDuration(over)
		if err1 != nil || err2 != nil || err3 != nil || f < 0 || t < 0 || d <= 0 || (f == 0 && t == 0) {
			return nil, fmt.Errorf("ramp %q: want FROM:TO/DURATION with rates >= 0, e.g. 0:2000/30s", part)
		}
		r = append(r, RampStage{From: f, To: t, Over: d})
	}
	return r, nil
}

// Total is how long the ramp lasts.
func (r Ramp) Total() time.Duration {
	var d time.Duration
	for _, s := range r {
		d += s.Over
	}
	return d
}

// At is the rate at elapsed time e; past the end it holds the last rate.
func (r Ramp) At(e time.Duration) float64 {
	for _, s := range r {
		if e < s.Over {
			return s.From + (s.To-s.From)*float64(e)/float64(s.Over)
		}
		e -= s.Over
	}
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1].To
}

// Requests is how many requests the ramp sends over its whole length.
func (r Ramp) Requests() float64 {
	var n float64
	for _, s := range r {
		n += (s.From + s.To) / 2 * s.Over.Seconds()
	}
	return n
}

// ErrUsage marks options that cannot run; the command exits 2 on it.
var ErrUsage = errors.New("bad usage")

func usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// withDefaults checks the options and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Embedded == (o.Target != "") {
		return o, usage("give exactly one of --target URL or --embedded")
	}
	if o.Target != "" && o.DSN == "" {
		return o, usage("--target needs --db, the target's database, to provision orgs and verify")
	}
	if o.Calls <= 0 && o.Duration <= 0 && len(o.Ramp) == 0 {
		o.Calls = 200
	}
	if o.Rate < 0 {
		return o, usage("--rate must be >= 0")
	}
	for name, r := range map[string]float64{
		"--dup-rate": o.Faults.Dup, "--concurrent-dup-rate": o.Faults.ConcurrentDup, "--reorder-rate": o.Faults.Reorder,
		"--stale-rate": o.Faults.Stale, "--bad-sig-rate": o.Faults.BadSig, "--wrong-url-rate": o.Faults.WrongURL,
		"--malformed-rate": o.Faults.Malformed, "--answer-rate": o.AnswerRate, "--untextable-rate": o.Untextable,
		"--reply-rate": o.ReplyRate, "--stop-rate": o.StopRate, "--twilio-fail-rate": o.TwilioFailRate,
		"--max-error-rate": o.Thresholds.MaxErrorRate,
	} {
		if r < 0 || r > 1 {
			return o, usage("%s must be between 0 and 1", name)
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.Orgs <= 0 {
		o.Orgs = 4
	}
	if o.Callers <= 0 {
		calls := float64(o.Calls)
		switch {
		case calls > 0:
		case len(o.Ramp) > 0 && o.Duration <= 0:
			calls = o.Ramp.Requests() / 3.3
		default:
			calls = o.Rate * o.Duration.Seconds() / 3.3
		}
		o.Callers = max(20, int(calls)/4)
	}
	if o.Faults.MaxRetries <= 0 {
		o.Faults.MaxRetries = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.StripeTolerance <= 0 {
		o.StripeTolerance = 5 * time.Minute
	}
	if o.RunID == "" {
		o.RunID = strconv.FormatUint((o.Seed*0x9e3779b97f4a7c15)^uint64(time.Now().UnixNano()), 36)
		if len(o.RunID) > 8 {
			o.RunID = o.RunID[:8]
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
