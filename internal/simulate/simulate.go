package simulate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

// Simulator is one run: traffic, drain, verdict.
type Simulator struct {
	Options Options
}

// sim is the state of a run.
type sim struct {
	o        Options
	ctx      context.Context
	e        *engine
	ids      ider
	target   string // where requests go
	public   string // what signatures cover
	account  string
	token    string
	secrets  []string
	orgs     []*simOrg
	byNumber map[string]*simOrg
	led      ledger
	stopping atomic.Bool
	kwMu     sync.Mutex
	kwBusy   map[string]bool
	lateMu   sync.Mutex
	late     []lateText
	started  atomic.Int64
}

// Run plays the traffic, waits for the text-backs it caused, and checks the invariants
// and thresholds. The error is for a run that could not be made (bad options, a target
// that cannot be reached); a run whose verdict fails returns a Report with Passed false.
func (r *Simulator) Run(ctx context.Context) (Report, error) {
	o, err := r.Options.withDefaults()
	if err != nil {
		return Report{}, err
	}
	s := &sim{o: o, ctx: ctx, ids: ider{ns: fmt.Sprintf("%d/%s", o.Seed, o.RunID)}, kwBusy: map[string]bool{},
		byNumber: map[string]*simOrg{}}
	s.account = o.TwilioAccountSID
	if s.account == "" {
		s.account = s.ids.sid("AC", "account")
	}
	t, err := s.open(ctx)
	if err != nil {
		return Report{}, err
	}
	defer t.close()
	s.target, s.token, s.secrets = strings.TrimRight(t.url, "/"), t.token, t.secrets
	s.public = strings.TrimRight(o.PublicURL, "/")
	if s.public == "" || o.Embedded {
		s.public = s.target
	}
	if t.account != "" {
		s.account = t.account
	}
	if err := s.provision(ctx, t.store); err != nil {
		return Report{}, err
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			MaxIdleConns: o.Concurrency * 2, MaxIdleConnsPerHost: o.Concurrency * 2, IdleConnTimeout: 30 * time.Second,
			DisableCompression: true,
		}}
	}
	s.e = newEngine(o, client)

	t0 := time.Now()
	if err := s.planStripe(t0, s.span()); err != nil {
		return Report{}, err
	}
	if t.observe != nil {
		t.observe(ctx, s.onText)
	}
	stopProgress := s.progress(t0)
	runCtx, cancel := context.WithTimeout(ctx, s.hardLimit())
	s.ctx = runCtx
	s.e.dispatch(runCtx, func(now time.Time) bool { return s.startCall(now, t0) })
	s.stopping.Store(true)
	s.e.inflight.Wait()
	cancel()
	elapsed := time.Since(t0)
	stopProgress()
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("simulate: %w", err)
	}

	drainStart := time.Now()
	drained, err := s.drain(ctx, t.store)
	if err != nil {
		return Report{}, err
	}
	rep := s.report(t0, elapsed, time.Since(drainStart))
	s.playLate(ctx) // after the report: its callbacks are not the paced traffic the thresholds judge
	checks, err := s.verify(ctx, t.store, t.fake, t0, drained)
	if err != nil {
		return Report{}, err
	}
	if t.fake != nil {
		rep.FakeTwilio = &FakeTwilioReport{Requests: t.fake.Requests(), Accepted: t.fake.Count()}
	}
	rep.Checks = append(checks, s.thresholds(rep)...)
	rep.Passed = true
	for _, c := range rep.Checks {
		rep.Passed = rep.Passed && c.Passed
	}
	return rep, nil
}

// startCall begins call flows until the run's count or time is up.
func (s *sim) startCall(now, t0 time.Time) bool {
	o := s.o
	switch {
	case o.Calls > 0 && s.started.Load() >= int64(o.Calls),
		o.Duration > 0 && now.Sub(t0) >= o.Duration,
		o.Calls <= 0 && o.Duration <= 0 && now.Sub(t0) >= o.Ramp.Total():
		s.stopping.Store(true)
		return false
	}
	c, rng := s.newCall(int(s.started.Add(1) - 1))
	s.led.addCall(c)
	s.e.schedule(time.Time{}, func(due time.Time) { s.runCall(c, rng, due) })
	return true
}

// span is how long the traffic is expected to last; Stripe lifecycles spread over it.
func (s *sim) span() time.Duration {
	o := s.o
	if o.Duration > 0 {
		return o.Duration
	}
	if o.Calls <= 0 {
		return o.Ramp.Total()
	}
	reqs := float64(o.Calls) * 3.3
	rate := o.Rate
	if len(o.Ramp) > 0 {
		rate = o.Ramp.Requests() / o.Ramp.Total().Seconds()
	}
	if rate <= 0 {
		rate = 3000
	}
	return time.Duration(reqs / rate * float64(time.Second))
}

// hardLimit bounds a run whatever the target does.
func (s *sim) hardLimit() time.Duration {
	return 3*s.span() + 2*s.o.Timeout + time.Minute
}

const (
	orgTimezone = "America/Chicago"
	// afterHoursText is the after-hours org's text-back of a call missed while closed.
	afterHoursText = "Sim Heating & Air is closed right now. We will call you back first thing when we open."
)

var dayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// notifyNumber is org i's owner's phone, never one of the callers' numbers.
func notifyNumber(i int) string { return fmt.Sprintf("+15125550%03d", 300+i) }

// provision creates the run's orgs in the target's database.
func (s *sim) provision(ctx context.Context, st *store.Store) error {
	chicago, err := time.LoadLocation(orgTimezone)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	// The after-hours org is open only on the day three days from now: closed for the run.
	closed := dayNames[(int(time.Now().In(chicago).Weekday())+3)%7] + " 00:00-24:00"
	for i := range s.o.Orgs {
		slug := fmt.Sprintf("sim-%s-%d", s.o.RunID, i)
		in := store.NewOrg{
			Slug: slug, Name: fmt.Sprintf("Sim Heating & Air %d", i), Timezone: orgTimezone, ForwardTo: "+15125550199",
		}
		if i%2 == 0 { // every other org has its owner told of missed calls and replies
			in.NotifyNumber = notifyNumber(i)
		}
		afterHours := i == 1
		if afterHours {
			in.Hours, in.AfterHoursTemplate = closed, afterHoursText
		}
		var org store.Org
		var err error
		for attempt := range 5 {
			in.Numbers = []string{s.ids.trackedNumber(i, attempt)}
			org, err = st.CreateOrg(ctx, in, time.Now())
			if !errors.Is(err, store.ErrDuplicate) {
				break
			}
			if _, e := st.OrgBySlug(ctx, slug); e == nil {
				return fmt.Errorf("provision %s: the org exists already; use another --run-id", slug)
			}
		}
		if err != nil {
			return fmt.Errorf("provision %s: %w", slug, err)
		}
		so := &simOrg{Org: org, number: org.Numbers[0], lifecycle: i < s.o.Orgs-1 || s.o.Orgs == 1,
			customer: "cus_" + s.ids.hex(14, "cus", i), afterHours: afterHours}
		s.orgs = append(s.orgs, so)
		s.byNumber[so.number] = so
	}
	return nil
}

// drain waits until no text-back of the run is queued or being sent, or the timeout.
func (s *sim) drain(ctx context.Context, st *store.Store) (bool, error) {
	ids := make([]int64, len(s.orgs))
	for i, o := range s.orgs {
		ids[i] = o.ID
	}
	deadline := time.Now().Add(s.o.DrainTimeout)
	for {
		n, err := st.UnfinishedTextbacks(ctx, ids)
		if err != nil {
			return false, fmt.Errorf("drain text-backs: %w", err)
		}
		if n == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		sleep(ctx, 50*time.Millisecond)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
	}
}

// progress prints a live status line until stopped.
func (s *sim) progress(t0 time.Time) func() {
	if s.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(s.o.Progress)
				return
			case <-tick.C:
				n, errs, p99 := s.e.stats.snapshot()
				el := time.Since(t0)
				fmt.Fprintf(s.o.Progress, "\r%6.1fs  %d requests  %.0f/s  p99 %s  errors %d  in flight %d  calls %d   ",
					el.Seconds(), n, float64(n)/el.Seconds(), p99, errs, s.e.running.Load(), s.started.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// FakeTwilioReport is what the fake Twilio saw.
type FakeTwilioReport struct {
	Requests int `json:"requests"`
	Accepted int `json:"accepted"`
}
