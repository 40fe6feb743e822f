package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/store"
)

// Verify replays one org's evidence, in receive order, into a fresh scratch database
// through an in-process service, and compares the business state it decides with the
// source's.
//
// "Decides the same" is judged on the recorded clock: the scratch service runs at the
// time each delivery was received, so that rules that depend on time (the text-back
// cooldown, between two missed calls days apart) decide as they did. Between deliveries
// the scratch's text-back jobs run to completion, as they do within a poll interval in
// production with textback.delay 0 (with a delay, a text-back is decided here right after
// its call, which can differ from a source where a later STOP arrived within the delay).
// Calls settle (hung up before the dial completed) where the source recorded their
// settle fact in the timeline, not by the scratch's own timer: the settle fact is part of
// the evidence of the outcome. Deliveries the source rejected or failed are not replayed:
// they changed nothing there (a retry that succeeded is its own delivery, and is).
type Verify struct {
	DSN     string
	Org     string
	Secrets Secrets
	// Rules are the source's call and text-back rules, so that verify answers "would the
	// system decide the same today".
	Rules callflow.Rules
	// ScratchDir holds the scratch SQLite database; empty means a temporary directory,
	// removed afterwards.
	ScratchDir string
	// Out receives the differences (JSON Lines with JSON) and the summary.
	Out  io.Writer
	JSON bool
	// Progress, when set (a terminal's stderr), shows a progress bar.
	Progress io.Writer
	Logger   *slog.Logger
}

// Report is what Verify found.
type Report struct {
	Org         string       `json:"org"`
	Replayed    int          `json:"replayed"`
	Differences []Difference `json:"differences"`
	// Failed are the deliveries the scratch service did not take (5xx, no answer).
	Failed []Result `json:"failed,omitempty"`
}

// Run replays and compares. It returns ErrDifferences when the states differ or a
// delivery failed in the scratch service.
func (v *Verify) Run(ctx context.Context) (rep Report, err error) {
	rep.Org = v.Org
	out := v.Out
	if out == nil {
		out = io.Discard
	}
	defer func() {
		// Ctrl-C: whatever step it cut short, say how far the replay got.
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
			fmt.Fprintf(out, "interrupted: %d deliveries replayed into the scratch database\n", rep.Replayed)
			err = ErrInterrupted
		}
	}()
	if v.Org == "" {
		return rep, usagef("--verify needs --org SLUG")
	}
	src, err := store.Open(ctx, v.DSN, store.Options{ReadOnly: true})
	if err != nil {
		return rep, fmt.Errorf("open database: %w", err)
	}
	defer src.Close()
	org, err := src.OrgBySlug(ctx, v.Org)
	if err != nil {
		return rep, usagef("--org: %v", err)
	}
	events, err := verifyEvidence(ctx, src, org.ID)
	if err != nil {
		return rep, err
	}
	settles, err := src.SettleFacts(ctx, org.ID)
	if err != nil {
		return rep, err
	}
	want, err := Snapshot(ctx, src, v.Org)
	if err != nil {
		return rep, err
	}

	dir := v.ScratchDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "callsnare-verify-"); err != nil {
			return rep, fmt.Errorf("scratch directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	log := slog.New(slog.DiscardHandler)
	if v.Logger != nil {
		log = slog.New(warnOnly{v.Logger.Handler()})
	}
	sc, err := startScratch(ctx, filepath.Join(dir, "verify.db"), v.Rules, v.Secrets, log)
	if err != nil {
		return rep, err
	}
	defer sc.close()
	if err := sc.copyOrgs(ctx, src); err != nil {
		return rep, err
	}
	s := signer{target: sc.url(), signBase: sc.url(), secrets: sc.secrets, now: time.Now}
	d := &dispatch{st: sc.svc.Store, signer: s, client: newClient()}
	bar := &progress{w: v.Progress, total: len(events)}
	settle := func(before time.Time) error {
		for len(settles) > 0 && (before.IsZero() || settles[0].At.Time.Before(before)) {
			f := settles[0]
			settles = settles[1:]
			sc.clock.set(f.At.Time)
			_, err := sc.svc.Store.Settle(ctx, f.CallSID, sc.rules, f.At.Time, sc.svc.Queue.EnqueueCallJobs)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("settle %s: %w", f.CallSID, err)
			}
			if err := sc.drain(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range events {
		if ctx.Err() != nil {
			bar.clear()
			fmt.Fprintf(out, "interrupted: %d of %d deliveries replayed into the scratch database\n", rep.Replayed, len(events))
			return rep, ErrInterrupted
		}
		if err := settle(e.ReceivedAt.Time); err != nil {
			return rep, err
		}
		sc.clock.set(e.ReceivedAt.Time)
		if e.Kind == "sms.status" {
			if e, err = sc.ownMessageSID(ctx, e); err != nil {
				return rep, err
			}
		}
		res := d.one(ctx, e)
		rep.Replayed++
		if res.Failed() {
			rep.Failed = append(rep.Failed, res)
		}
		if err := sc.drain(ctx); err != nil {
			return rep, err
		}
		bar.draw(rep.Replayed, len(rep.Failed))
	}
	bar.clear()
	if err := settle(time.Time{}); err != nil {
		return rep, err
	}
	got, err := Snapshot(ctx, sc.svc.Store, v.Org)
	if err != nil {
		return rep, err
	}
	rep.Differences = Diff(want, got)
	if err := rep.write(out, v.JSON); err != nil {
		return rep, err
	}
	if len(rep.Differences) > 0 || len(rep.Failed) > 0 {
		return rep, ErrDifferences
	}
	return rep, nil
}

func (r Report) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, d := range r.Differences {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		for _, f := range r.Failed {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "failed in the scratch service: %s\n", f.line())
	}
	for _, d := range r.Differences {
		fmt.Fprintln(w, d.String())
	}
	verdict := "same state"
	if n := len(r.Differences); n > 0 {
		verdict = fmt.Sprintf("%d differences", n)
	}
	_, err := fmt.Fprintf(w, "verify %s: replayed %d deliveries into a scratch database: %s\n", r.Org, r.Replayed, verdict)
	return err
}

// verifyEvidence is what decided the org's state: its deliveries that were applied (or
// found duplicate, ignored, held), and Stripe events held as unmatched before any org was
// known for their customer, which a later event may have applied to this org.
func verifyEvidence(ctx context.Context, st *store.Store, orgID int64) ([]store.Evidence, error) {
	applied := []string{store.StatusProcessed, store.StatusDuplicate, store.StatusIgnored, store.StatusUnmatched}
	var out []store.Evidence
	for _, f := range []store.LogFilter{
		{OrgID: &orgID, Statuses: applied},
		{NoOrg: true, Providers: []string{"stripe"}, Statuses: []string{store.StatusUnmatched}},
	} {
		f.Limit = selectPage
		var after int64
		for {
			page, err := st.LogTail(ctx, f, after)
			if err != nil {
				return nil, fmt.Errorf("select evidence: %w", err)
			}
			out = append(out, page...)
			if len(page) < selectPage {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	sortByReceipt(out)
	return out, nil
}
