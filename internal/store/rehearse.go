package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
)

// rehearsalKey marks a context whose writes run in a rehearsal's transaction.
type rehearsalKey struct{}

// Rehearse plays the write path once on each connection the writers use, before the first
// delivery: a missed call's three callbacks, a duplicate, a reply, the text-back's send
// and its status, the queue's claim of the jobs, each through the statements a real
// delivery runs, for an org and caller made up for it, in a transaction that is rolled
// back. Nothing of it stays (PostgreSQL's sequences advance).
//
// What it pays ahead is what the first deliveries would otherwise pay while they wait:
// every statement is prepared once per connection (on PostgreSQL a round trip more, and
// the server's first use of each table on a connection loads its catalog entries). Under
// load those first transactions took 6-15 ms a round instead of under one, and the
// backlog they left took most of a second to drain.
func (s *Store) Rehearse(ctx context.Context, rules callflow.Rules) error {
	if s.w == nil {
		return fmt.Errorf("rehearse: %w", ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, rehearsalTimeout)
	defer cancel()
	n := len(s.w.shards) // one connection per writer
	// Every rehearsal holds its connection until all have one, so that each warms its
	// own.
	var arrived sync.WaitGroup
	arrived.Add(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(arrived.Done)
			defer once()
			r, err := newRehearsal(rules)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.w.rehearse(ctx, []int32{lockNumber(CallerKey(r.caller))}, func(tx *Tx) error {
				once()
				if n > 1 {
					arrived.Wait()
				}
				return r.play(context.WithValue(ctx, rehearsalKey{}, tx), s, tx)
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rehearse the write path: %w", err)
	}
	return nil
}

// rehearsalTimeout bounds a rehearsal, which takes milliseconds: a database that cannot
// run it in this long fails the deliveries after it anyway.
const rehearsalTimeout = 10 * time.Second

// rehearsal is one made-up org's missed call, reply and text-back.
type rehearsal struct {
	rules                   callflow.Rules
	id                      string // makes its keys and numbers its own
	tracked, caller, notify string
	callSID, textSID        string
	now                     time.Time
}

func newRehearsal(rules callflow.Rules) (*rehearsal, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("rehearse: %w", err)
	}
	id := hex.EncodeToString(b)
	digits := fmt.Sprintf("%020d", binary.BigEndian.Uint64(b))
	// +990 is an unassigned country code: no real org tracks it. The caller is a number of
	// Twilio's test range (+1 500 555 0000-9999), so that it is written as a real one.
	return &rehearsal{
		rules: rules, id: id, now: time.Now(),
		tracked: "+990" + digits[:9], notify: "+990" + digits[9:18],
		caller:  "+1500555" + digits[16:],
		callSID: "CArehearsal" + id, textSID: "SMrehearsal" + id,
	}, nil
}

// play runs the rehearsal's deliveries and jobs, each as its route or worker would, in tx.
func (r *rehearsal) play(ctx context.Context, s *Store, tx *Tx) error {
	// The org is made for the rehearsal; it tells its owner, so the notifications' path
	// runs too.
	if err := tx.createOrg(ctx, NewOrg{Slug: "rehearsal-" + r.id, Name: "Rehearsal", ForwardTo: r.notify,
		NotifyNumber: r.notify, Numbers: []string{r.tracked}}, r.now); err != nil {
		return err
	}
	facts := []callflow.Fact{
		{Kind: callflow.FactInbound, CallStatus: "ringing", Sequence: -1},
		{Kind: callflow.FactDialComplete, CallStatus: "in-progress", DialStatus: "no-answer", Sequence: -1},
		{Kind: callflow.FactStatus, CallStatus: "completed", CallDuration: 21, Sequence: 0},
	}
	for i, f := range facts {
		f.At = r.now
		err := r.deliver(ctx, tx, fmt.Sprintf("rehearsal:%s:call:%d", r.id, i), func(org Org) (string, error) {
			c, err := tx.ApplyCallFact(ctx, CallFact{Org: org, CallSID: r.callSID, From: r.caller, To: r.tracked, Fact: f}, r.rules)
			if err != nil {
				return "", err
			}
			var jobs []NewJob
			if c.TextbackJob {
				jobs = append(jobs, NewJob{Kind: "rehearsal.textback", Key: r.callSID, Args: r.caller, RunAt: r.now})
			}
			if c.NotifyKey != "" {
				jobs = append(jobs, NewJob{Kind: "rehearsal.notify", Key: c.NotifyKey, RunAt: r.now})
			}
			return r.callSID, tx.InsertJobs(ctx, jobs, r.now)
		})
		if err != nil {
			return err
		}
	}
	// The last callback again: a duplicate.
	if err := r.deliver(ctx, tx, fmt.Sprintf("rehearsal:%s:call:%d", r.id, len(facts)-1), nil); err != nil {
		return err
	}
	err := r.deliver(ctx, tx, "rehearsal:"+r.id+":sms", func(org Org) (string, error) {
		c, err := tx.ApplyInboundSMS(ctx, InboundSMS{Org: org, MessageSID: "SMreply" + r.id, From: r.caller, To: r.tracked,
			Body: "no heat since this morning", At: r.now, Rules: r.rules})
		if err != nil || c.NotifyKey == "" {
			return "", err
		}
		return "", tx.InsertJobs(ctx, []NewJob{{Kind: "rehearsal.notify", Key: c.NotifyKey, RunAt: r.now}}, r.now)
	})
	if err != nil {
		return err
	}
	// The text-back's worker: its state and claim (one write where reads ride the
	// writes; on SQLite the state is read beside the writer, which only claims), the send
	// recorded, Twilio's status.
	var take TextbackTake
	if s.ReadsInWrites() {
		take, err = s.TakeTextback(ctx, r.callSID, r.caller, 0, r.now, func(TextbackState) bool { return true })
	} else if take, err = s.takeTextback(ctx, "", r.callSID, 0, r.now, nil); err == nil {
		take.Claimed, err = s.ClaimTextbackSend(ctx, take.State.Message, 0, r.now)
	}
	if err != nil {
		return err
	}
	if take.Claimed { // unless the rules hold text-backs back
		if _, err := s.UpdateTextback(ctx, take.State.Message, []string{TextbackSending}, TextbackUpdate{Status: TextbackSent, SID: r.textSID}, r.now); err != nil {
			return err
		}
	}
	err = r.deliver(ctx, tx, "rehearsal:"+r.id+":status", func(Org) (string, error) {
		callSID, _, err := tx.ApplyMessageStatus(ctx, MessageStatus{SID: r.textSID, Status: "delivered", At: r.now})
		return callSID, err
	})
	if err != nil {
		return err
	}
	// The queue's claim, then its removal of the claimed jobs.
	jobs, err := s.ClaimJobs(ctx, nil, 4, time.Minute, r.now)
	if err != nil {
		return err
	}
	_, err = s.ClaimJobs(ctx, jobs, 0, time.Minute, r.now)
	return err
}

// deliver runs one made-up callback as a Twilio route does: the org and the claim asked
// together, then apply (nil for a duplicate), then the evidence.
func (r *rehearsal) deliver(ctx context.Context, tx *Tx, key string, apply func(Org) (string, error)) error {
	asked := tx.AskOrgByNumber(ctx, r.tracked)
	claim := tx.AskClaim(ctx, key, r.now)
	org, err := asked()
	if err != nil {
		return err
	}
	claimed, dupOf, err := claim.Result()
	if err != nil {
		return err
	}
	ev := &Evidence{ReceivedAt: T(r.now), Provider: "twilio", Route: "/rehearsal", URL: "http://rehearsal.invalid/",
		ContentType: "application/x-www-form-urlencoded", Headers: map[string]string{"User-Agent": "rehearsal"},
		Kind: "rehearsal", Caller: r.caller, OrgID: NullID(org.ID), DedupeKey: key, Status: StatusProcessed, HTTPStatus: 200}
	ev.SetBody([]byte("rehearsal="+r.id), false)
	switch {
	case !claimed:
		ev.Status, ev.DuplicateOf = StatusDuplicate, NullID(dupOf)
		if _, _, err := tx.EvidenceAnswer(ctx, dupOf); err != nil {
			return err
		}
	case apply != nil:
		if ev.CallSID, err = apply(org); err != nil {
			return err
		}
	}
	return tx.AddEvidence(ctx, ev)
}
