package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/store"
)

// Replay re-drives selected deliveries from a database's webhook log against a target.
type Replay struct {
	// DSN is the database whose webhook log is replayed; it is opened read-only.
	DSN    string
	Filter Filter
	// Target is the base URL deliveries are sent to (scheme, host, optional path prefix).
	Target string
	// SignBase is the base URL the target checks Twilio signatures against (its
	// public_url); empty means Target.
	SignBase   string
	Secrets    Secrets
	AsRecorded bool
	Pacing     Pacing
	DryRun     bool
	// Yes skips the confirmation a non-loopback target needs.
	Yes bool
	// Confirm asks the operator on a terminal; nil means there is none, and a
	// non-loopback target without Yes is refused.
	Confirm func(prompt string) (bool, error)
	// JSON prints results (and a dry run's plan) as JSON Lines on Out.
	JSON bool
	// Out receives per-delivery results; nil prints none.
	Out io.Writer
	// Info receives the plan and the summary for people; nil means Out.
	Info io.Writer
	// Progress, when set (a terminal's stderr), shows a progress bar.
	Progress io.Writer
	// Client sends the requests; nil means one that follows no redirects.
	Client *http.Client
	// Now is the clock Stripe signatures are stamped with; nil means time.Now.
	Now func() time.Time
}

// Run selects, plans, asks when it must, sends, and reports. It returns the summary with
// ErrDeliveriesFailed when any delivery failed, ErrInterrupted when ctx ended first, and a
// *UsageError for bad options or a refused target.
func (r *Replay) Run(ctx context.Context) (Summary, error) {
	var sum Summary
	if err := r.Pacing.validate(); err != nil {
		return sum, err
	}
	target, err := parseTarget(r.Target)
	if err != nil {
		return sum, err
	}
	signBase := target
	if r.SignBase != "" {
		if signBase, err = parseTarget(r.SignBase); err != nil {
			return sum, usagef("sign base: %v", err)
		}
	}
	info := r.Info
	if info == nil {
		info = r.Out
	}
	if info == nil {
		info = io.Discard
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	s := signer{target: baseString(target), signBase: baseString(signBase), secrets: r.Secrets, asRecorded: r.AsRecorded, now: now}
	sum.Target, sum.DryRun = target.Redacted(), r.DryRun

	st, err := store.Open(ctx, r.DSN, store.Options{ReadOnly: true})
	if err != nil {
		return sum, fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	sel, err := selectEvidence(ctx, st, r.Filter)
	if err != nil {
		return sum, err
	}
	sum.Selected = len(sel.Events)
	sum.Plan = newPlan(sum.Target, sel, s)
	if r.DryRun && r.JSON && r.Out != nil {
		return sum, json.NewEncoder(r.Out).Encode(sum.Plan)
	}
	if err := sum.Plan.write(info); err != nil {
		return sum, err
	}
	if r.DryRun {
		sum.write(info)
		return sum, nil
	}
	if len(sel.Events) == 0 {
		fmt.Fprintln(info, "nothing to replay")
		return sum, nil
	}
	if !isLoopback(target) && !r.Yes {
		if r.Confirm == nil {
			return sum, usagef("target %s is not on this machine: confirm on a terminal or pass --yes", sum.Target)
		}
		ok, err := r.Confirm(fmt.Sprintf("Replay %d deliveries to %s?", len(sel.Events), sum.Target))
		if err != nil {
			return sum, fmt.Errorf("confirm: %w", err)
		}
		if !ok {
			return sum, usagef("replay to %s not confirmed", sum.Target)
		}
	}
	client := r.Client
	if client == nil {
		client = newClient()
	}
	d := &dispatch{st: st, signer: s, client: client}
	started := time.Now()
	r.send(ctx, d, sel.Events, &sum, printer{w: r.Out, json: r.JSON})
	sum.Elapsed = time.Since(started)
	sum.write(info)
	switch {
	case sum.Interrupted:
		return sum, ErrInterrupted
	case sum.Failed > 0:
		return sum, ErrDeliveriesFailed
	}
	return sum, nil
}

// dispatch sends one delivery and reads what the target made of it.
type dispatch struct {
	st     *store.Store
	signer signer
	client *http.Client
}

// send paces the deliveries onto the workers and gathers their results. When ctx ends no
// new delivery starts; those in flight finish, so that every result is known.
func (r *Replay) send(ctx context.Context, d *dispatch, events []store.Evidence, sum *Summary, out printer) {
	workers := max(r.Pacing.Concurrency, 1)
	type item struct {
		i int
		e store.Evidence
	}
	type done struct {
		i   int
		res Result
	}
	items := make(chan item)
	results := make(chan done)
	go func() {
		defer close(items)
		start := time.Now()
		for i, e := range events {
			if !sleepUntil(ctx, start.Add(r.Pacing.offset(i, e, events[0]))) {
				return
			}
			select {
			case items <- item{i, e}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				// In flight, a delivery finishes even after Ctrl-C: its result must be known.
				results <- done{it.i, d.one(context.WithoutCancel(ctx), it.e)}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	bar := &progress{w: r.Progress, total: len(events)}
	finished := make([]bool, len(events))
	prefix := 0 // events[:prefix] are all finished
	bar.draw(0, 0)
	for dn := range results {
		sum.add(dn.res)
		finished[dn.i] = true
		for prefix < len(events) && finished[prefix] {
			prefix++
		}
		bar.clear()
		_ = out.result(dn.res)
		bar.draw(sum.Sent, sum.Failed)
	}
	bar.clear()
	if sum.Sent < len(events) && ctx.Err() != nil {
		sum.Interrupted = true
		if prefix > 0 {
			sum.LastID = events[prefix-1].ID
		}
	}
}

func (d *dispatch) one(ctx context.Context, e store.Evidence) Result {
	res := newResult(e)
	res.LogStatusFrom = FromResponse
	req, err := d.signer.request(ctx, e)
	if err != nil {
		res.Error, res.LogStatus = err.Error(), inferStatus(0)
		return res
	}
	t0 := time.Now()
	resp, err := d.client.Do(req)
	res.LatencyMS = float64(time.Since(t0).Microseconds()) / 1000
	if err != nil {
		res.Error, res.LogStatus = err.Error(), inferStatus(0)
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.HTTPStatus = resp.StatusCode
	res.LogStatus = inferStatus(resp.StatusCode)
	row, err := d.st.ReplayResult(ctx, req.Header.Get(server.ReplayTokenHeader))
	switch {
	case err == nil:
		res.LogStatus, res.LogStatusFrom, res.ReplayLogID, res.LogError = row.Status, FromLog, row.ID, row.Error
	case !errors.Is(err, store.ErrNotFound):
		res.LogError = "read the replay's log row: " + err.Error()
	}
	return res
}
