package simulate

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/faketwilio"
	"github.com/callsnare/callsnare/internal/store"
)

// The invariants the verdict checks, by name.
const (
	CheckEvidence   = "every answered delivery has its evidence row"
	CheckCallRows   = "one call row per CallSid with the expected outcome"
	CheckTextbackOK = "exactly one text-back per eligible missed call"
	CheckTextbackNo = "no text-back for answered, opted-out, cooldown, untextable or unentitled calls"
	CheckStop       = "no message to an opted-out number after its STOP"
	CheckBilling    = "billing per org equals its events folded by billing.Apply"
	CheckRejected   = "rejected deliveries changed nothing"
	CheckDrained    = "text-backs decided before the drain timeout"
	CheckDelivery   = "a text-back's delivery status never goes back and keeps its error code"
	CheckNotify     = "exactly one notification per missed call and per reply, never to the caller"
	CheckAfterHours = "a call missed after hours gets the after-hours text"
)

// Check is one invariant or threshold and whether it held.
type Check struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"` // invariant or threshold
	Passed   bool     `json:"passed"`
	Failures int      `json:"failures,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	Examples []string `json:"examples,omitempty"`
}

// checker collects one invariant's failures, keeping a few examples.
type checker struct {
	Check
}

func newCheck(name, kind string) *checker { return &checker{Check{Name: name, Kind: kind}} }

func (c *checker) fail(format string, args ...any) {
	c.Failures++
	if len(c.Examples) < 5 {
		c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
	}
}

func (c *checker) done() Check {
	c.Passed = c.Failures == 0
	return c.Check
}

// tri is a rule's answer when the moment it was evaluated at is known only within a
// window: yes, no, or either.
type tri int

const (
	no tri = iota
	yes
	maybe
)

// clockSlack bounds how far the target's stamps (when a job decided, when a row was
// committed) may be from the instants they describe.
const clockSlack = time.Second

// dbMessage is a text-back row.
type dbMessage store.TextbackRow

// decidedAt is when the job applied the rules: the attempt, or the suppression.
func (m dbMessage) decidedAt() time.Time {
	if !m.AttemptedAt.IsZero() {
		return m.AttemptedAt.Time
	}
	return m.UpdatedAt.Time
}

// verifier holds what the verdict reads once.
type verifier struct {
	s        *sim
	st       *store.Store
	since    time.Time
	orgIDs   []int64
	orgByID  map[int64]*simOrg
	msgs     map[string]dbMessage   // by CallSid
	sentTo   map[string][]dbMessage // sent rows by org number + phone
	fake     []faketwilio.Message   // text-backs at the fake Twilio; nil without one
	notes    []faketwilio.Message   // notifications at the fake Twilio
	hasFake  bool
	evidence map[string]string // request id -> status
}

func (s *sim) verify(ctx context.Context, st *store.Store, fake *faketwilio.Server, since time.Time, drained bool) ([]Check, error) {
	v := &verifier{s: s, st: st, since: since, orgByID: map[int64]*simOrg{}, msgs: map[string]dbMessage{},
		sentTo: map[string][]dbMessage{}}
	for _, o := range s.orgs {
		v.orgIDs = append(v.orgIDs, o.ID)
		v.orgByID[o.ID] = o
	}
	if fake != nil {
		v.hasFake = true
		for _, m := range fake.Messages() {
			switch org := s.byNumber[m.From]; {
			case org == nil:
			case org.NotifyNumber != "" && m.To == org.NotifyNumber:
				v.notes = append(v.notes, m)
			default:
				v.fake = append(v.fake, m)
			}
		}
	}
	if err := v.load(ctx); err != nil {
		return nil, err
	}
	d := newCheck(CheckDrained, "invariant")
	if !drained {
		for _, m := range v.msgs {
			if m.Status == store.TextbackQueued || m.Status == store.TextbackSending {
				d.fail("%s: text-back still %s", m.CallSID.String, m.Status)
			}
		}
	}
	checks := []Check{v.evidenceCheck(), v.callsCheck(ctx)}
	ok, none := v.textbackChecks()
	checks = append(checks, ok, none, v.stopCheck(), v.deliveryCheck())
	n, err := v.notifyCheck(ctx)
	if err != nil {
		return nil, err
	}
	checks = append(checks, n)
	if v.hasFake {
		checks = append(checks, v.afterHoursCheck())
	}
	b, err := v.billingCheck(ctx)
	if err != nil {
		return nil, err
	}
	r, err := v.rejectedCheck(ctx)
	if err != nil {
		return nil, err
	}
	return append(checks, b, r, d.done()), nil
}

func (v *verifier) load(ctx context.Context) error {
	rows, err := v.st.Textbacks(ctx, v.orgIDs, "")
	if err != nil {
		return fmt.Errorf("read text-backs: %w", err)
	}
	for _, r := range rows {
		m := dbMessage(r)
		v.msgs[m.CallSID.String] = m
		if wentOut(m.Status) {
			k := v.orgByID[m.OrgID].number + " " + m.To
			v.sentTo[k] = append(v.sentTo[k], m)
		}
	}
	logs, err := v.st.DeliveryStatuses(ctx, v.since.Add(-clockSlack))
	if err != nil {
		return fmt.Errorf("read webhook log: %w", err)
	}
	v.evidence = make(map[string]string, len(logs))
	prefix := "sim-" + v.s.o.RunID + "-"
	for _, l := range logs {
		if strings.HasPrefix(l.RequestID, prefix) {
			v.evidence[l.RequestID] = l.Status
		}
	}
	return nil
}

// evidenceCheck: every delivery answered (2xx, or a refusal) left its log row, and forged
// ones were logged as rejected.
func (v *verifier) evidenceCheck() Check {
	c := newCheck(CheckEvidence, "invariant")
	v.s.e.attMu.Lock()
	defer v.s.e.attMu.Unlock()
	for _, a := range v.s.e.attempts {
		status, ok := v.evidence[a.requestID]
		switch {
		case !ok && a.expect == 4 && a.status == http.StatusTooManyRequests:
			// A forged flood past the server's failed-signature limit is answered 429
			// and deliberately not stored.
		case !ok:
			c.fail("%s answered %d has no webhook_log row (X-Request-Id %s)", a.route, a.status, a.requestID)
		case a.expect == 4 && status != store.StatusRejected:
			c.fail("forged delivery %s to %s logged %q, want rejected", a.requestID, a.route, status)
		}
	}
	return c.done()
}

// callsCheck: one row per acknowledged call, with the outcome its dial-complete decides.
func (v *verifier) callsCheck(ctx context.Context) Check {
	c := newCheck(CheckCallRows, "invariant")
	rows, err := v.st.CallOutcomes(ctx, v.orgIDs)
	if err != nil {
		c.fail("read calls: %v", err)
		return c.done()
	}
	n := map[string]int{}
	outcome := map[string]string{}
	for _, r := range rows {
		n[r.CallSID]++
		outcome[r.CallSID] = r.Outcome
	}
	for _, call := range v.s.led.calls {
		if !call.inboundOK {
			continue
		}
		if n[call.sid] != 1 {
			c.fail("%s: %d call rows", call.sid, n[call.sid])
			continue
		}
		if want := call.expectedOutcome(); want != "" && outcome[call.sid] != want {
			c.fail("%s: outcome %s, want %s (dial %s)", call.sid, outcome[call.sid], want, call.dialStatus)
		}
	}
	return c.done()
}

// expectedOutcome is what the call's acknowledged callbacks decide; "" when a callback
// that decides it was never acknowledged.
func (c *callRec) expectedOutcome() string {
	switch {
	case c.noDial:
		return "missed"
	case !c.dialOK:
		return ""
	case c.dialStatus == "completed":
		return "answered"
	}
	return "missed"
}

// textbackChecks mirror the text-back rules for every call, evaluated at the instant the
// target's job decided, against what was sent and acknowledged by then.
func (v *verifier) textbackChecks() (Check, Check) {
	okc, noc := newCheck(CheckTextbackOK, "invariant"), newCheck(CheckTextbackNo, "invariant")
	callsOf := map[string][]string{} // org number + phone -> CallSids
	for _, call := range v.s.led.calls {
		callsOf[call.org.number+" "+call.from] = append(callsOf[call.org.number+" "+call.from], call.sid)
		want := call.expectedOutcome()
		m, has := v.msgs[call.sid]
		sent := has && wentOut(m.Status)
		switch {
		case want == "answered":
			if sent {
				noc.fail("%s: answered call texted (%s)", call.sid, m.SID.String)
			}
		case want == "missed" && !call.textable:
			if sent {
				noc.fail("%s: untextable caller %q texted", call.sid, call.from)
			}
		case want == "missed":
			if !has {
				okc.fail("%s: missed call has no text-back", call.sid)
				continue
			}
			if m.Status == store.TextbackQueued || m.Status == store.TextbackSending {
				okc.fail("%s: text-back still %s", call.sid, m.Status)
				continue
			}
			why, expect := v.eligible(call, m)
			switch {
			case expect == yes && !sent:
				okc.fail("%s: eligible missed call not texted (%s %s)", call.sid, m.Status, m.Reason)
			case expect == no && sent:
				noc.fail("%s: texted although %s", call.sid, why)
			}
		}
	}
	if v.hasFake {
		inDB := map[string]bool{}
		for _, list := range v.sentTo {
			for _, m := range list {
				inDB[m.SID.String] = true
			}
		}
		seen := map[string]int{}
		for _, m := range v.fake {
			seen[m.SID]++
			if !inDB[m.SID] {
				okc.fail("extra text %s to %s; that caller's calls: %s", m.SID, m.To, strings.Join(first(callsOf[m.From+" "+m.To], 3), " "))
			}
		}
		for _, list := range v.sentTo {
			for _, m := range list {
				if seen[m.SID.String] != 1 {
					okc.fail("%s: text-back %s recorded sent, the fake Twilio got it %d times", m.CallSID.String, m.SID.String, seen[m.SID.String])
				}
			}
		}
	}
	return okc.done(), noc.done()
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// eligible evaluates the send-time rules (opted out, entitled, cooldown) at the moment the
// job decided; it says why not when the answer is no.
func (v *verifier) eligible(call *callRec, m dbMessage) (string, tri) {
	t := m.decidedAt()
	opt := v.optedOut(call.org, call.from, t)
	ent := v.entitled(call.org, t)
	cool := v.cooldown(call.org.number+" "+call.from, call.sid, t)
	switch {
	case opt == yes:
		return "opted out", no
	case ent == no:
		return "not entitled", no
	case cool == yes:
		return "within the cooldown", no
	case opt == maybe || ent == maybe || cool == maybe:
		return "", maybe
	}
	return "", yes
}

// optedOut replays the caller's STOP and START messages: the last one acknowledged before t
// certainly counted; any sent by then but acknowledged later (or never) may have.
func (v *verifier) optedOut(org *simOrg, phone string, t time.Time) tri {
	sure, sureAt := false, time.Time{}
	var inFlight []bool
	for _, m := range v.s.led.sms {
		if m.org != org || m.phone != phone || m.keyword == "" {
			continue
		}
		switch {
		case !m.ackAt.IsZero() && m.ackAt.Before(t):
			if !m.ackAt.Before(sureAt) {
				sure, sureAt = m.keyword == "stop", m.ackAt
			}
		case m.sentAt.Before(t.Add(clockSlack)):
			inFlight = append(inFlight, m.keyword == "stop")
		}
	}
	for _, s := range inFlight {
		if s != sure {
			return maybe
		}
	}
	if sure {
		return yes
	}
	return no
}

// entitled folds the org's events acknowledged before t, and those sent by then, and
// compares the answers.
func (v *verifier) entitled(org *simOrg, t time.Time) tri {
	if !v.s.o.Rules.EnforceBilling {
		return yes
	}
	var sure, possible billing.Record
	for _, e := range v.s.led.events {
		if e.org != org {
			continue
		}
		if !e.ackAt.IsZero() && e.ackAt.Before(t.Add(-clockSlack)) {
			sure, _ = billing.Apply(sure, e.event)
		}
		if !e.sent.IsZero() && e.sent.Before(t.Add(clockSlack)) {
			possible, _ = billing.Apply(possible, e.event)
		}
	}
	a, b := billing.Entitled(sure.Status, v.s.o.Rules.GracePastDue), billing.Entitled(possible.Status, v.s.o.Rules.GracePastDue)
	switch {
	case a && b:
		return yes
	case !a && !b:
		return no
	}
	return maybe
}

// cooldown looks for another text-back to the same caller from the same org sent within
// the cooldown before t.
func (v *verifier) cooldown(key, self string, t time.Time) tri {
	out := no
	for _, m := range v.sentTo[key] {
		if m.CallSID.String == self {
			continue
		}
		at := m.SentAt.Time
		lo, hi := t.Add(-v.s.o.Rules.Cooldown), t
		switch {
		case at.After(lo.Add(clockSlack)) && !at.After(hi.Add(-clockSlack)):
			return yes
		case at.After(lo.Add(-clockSlack)) && !at.After(hi.Add(clockSlack)):
			out = maybe
		}
	}
	return out
}

// stopCheck: after a STOP was acknowledged, nothing decided later may reach the phone
// until it sends START.
func (v *verifier) stopCheck() Check {
	c := newCheck(CheckStop, "invariant")
	type text struct {
		sid, callSID string
		at           time.Time // when the target decided to send it
	}
	texts := map[string][]text{}
	bySID := map[string]dbMessage{}
	for _, list := range v.sentTo {
		for _, m := range list {
			bySID[m.SID.String] = m
		}
	}
	if v.hasFake {
		for _, m := range v.fake {
			tx := text{sid: m.SID, at: m.Accepted}
			if row, ok := bySID[m.SID]; ok {
				tx.callSID, tx.at = row.CallSID.String, row.decidedAt()
			}
			texts[m.From+" "+m.To] = append(texts[m.From+" "+m.To], tx)
		}
	} else {
		for k, list := range v.sentTo {
			for _, m := range list {
				texts[k] = append(texts[k], text{sid: m.SID.String, callSID: m.CallSID.String, at: m.decidedAt()})
			}
		}
	}
	for _, stop := range v.s.led.sms {
		if stop.keyword != "stop" || stop.ackAt.IsZero() {
			continue
		}
		until := time.Time{}
		for _, m := range v.s.led.sms {
			if m.org == stop.org && m.phone == stop.phone && m.keyword == "start" && m.sentAt.After(stop.ackAt) &&
				(until.IsZero() || m.sentAt.Before(until)) {
				until = m.sentAt
			}
		}
		for _, tx := range texts[stop.org.number+" "+stop.phone] {
			if tx.at.After(stop.ackAt) && (until.IsZero() || tx.at.Before(until)) {
				c.fail("%s: text %s to %s decided %s after its STOP %s was acknowledged", tx.callSID, tx.sid, stop.phone,
					tx.at.Sub(stop.ackAt).Round(time.Millisecond), stop.sid)
			}
		}
	}
	return c.done()
}

// billingCheck: each org's stored record is what folding its acknowledged events gives,
// in any order (billing.Apply's order makes that one record).
func (v *verifier) billingCheck(ctx context.Context) (Check, error) {
	c := newCheck(CheckBilling, "invariant")
	for _, org := range v.s.orgs {
		var want billing.Record
		complete := true
		for _, e := range v.s.led.events {
			if e.org != org {
				continue
			}
			if e.ackAt.IsZero() {
				complete = false
			}
			want, _ = billing.Apply(want, e.event)
		}
		got, err := v.st.BillingRecord(ctx, org.ID)
		if err != nil {
			return c.done(), fmt.Errorf("verify billing: %w", err)
		}
		if complete && !got.Equal(want) {
			c.fail("%s: status %q (event %s), want %q (event %s)", org.Slug, got.Status, got.SubscriptionEventID, want.Status, want.SubscriptionEventID)
		}
	}
	return c.done(), nil
}

// rejectedCheck: the ids only forged or broken deliveries carried left no trace but
// their rejected log rows.
func (v *verifier) rejectedCheck(ctx context.Context) (Check, error) {
	c := newCheck(CheckRejected, "invariant")
	look := func(what string, kind store.IDKind, ids []string) error {
		found, err := v.st.ExistingIDs(ctx, kind, ids)
		if err != nil {
			return fmt.Errorf("verify rejected %s: %w", what, err)
		}
		for _, f := range found {
			c.fail("forged %s %s was applied", what, f)
		}
		return nil
	}
	keys := make([]string, len(v.s.led.ghostEvents))
	for i, id := range v.s.led.ghostEvents {
		keys[i] = "stripe:" + id
	}
	if err := look("call", store.CallSIDs, v.s.led.ghostCalls); err != nil {
		return c.done(), err
	}
	if err := look("message", store.MessageSIDs, v.s.led.ghostSMS); err != nil {
		return c.done(), err
	}
	if err := look("event", store.DedupeKeys, keys); err != nil {
		return c.done(), err
	}
	return c.done(), nil
}

// wentOut says a text-back left: Twilio accepted it, and its callbacks may have moved it on.
func wentOut(status string) bool {
	switch status {
	case store.TextbackSent, callflow.StatusDelivered, callflow.StatusUndelivered:
		return true
	}
	return false
}

// deliveryCheck: a text-back whose final status callback was acknowledged holds that
// status and its error code, whatever came after it (a late sent, a duplicate).
func (v *verifier) deliveryCheck() Check {
	c := newCheck(CheckDelivery, "invariant")
	bySID := map[string]dbMessage{}
	for _, m := range v.msgs {
		if m.SID.Valid {
			bySID[m.SID.String] = m
		}
	}
	v.s.led.mu.Lock()
	defer v.s.led.mu.Unlock()
	for _, r := range v.s.led.statuses {
		m, ok := bySID[r.sid]
		if !ok || r.ackAt.IsZero() {
			continue
		}
		if m.Status != r.final || m.ErrorCode != r.code {
			c.fail("%s: text-back %s is %s (error %q), its callbacks ended %s (error %q)", m.CallSID.String, r.sid, m.Status, m.ErrorCode, r.final, r.code)
		}
	}
	return c.done()
}

// notifyCheck: each acknowledged missed call and each acknowledged reply (not a keyword)
// has exactly one notification; the fake Twilio got each sent one once; none went to the
// caller it is about.
func (v *verifier) notifyCheck(ctx context.Context) (Check, error) {
	c := newCheck(CheckNotify, "invariant")
	byKey := map[string]store.Notification{}
	for _, org := range v.s.orgs {
		ns, err := v.st.Notifications(ctx, org.ID)
		if err != nil {
			return c.done(), fmt.Errorf("verify notifications: %w", err)
		}
		for _, n := range ns {
			if _, dup := byKey[n.EventKey]; dup {
				c.fail("%s: two notifications of one event", n.EventKey)
			}
			byKey[n.EventKey] = n
			if n.Status == "sent" && n.To == n.Caller {
				c.fail("%s%s: notification %s sent to the caller %s", n.CallSID, n.MessageSID, n.SID.String, n.Caller)
			}
		}
	}
	for _, call := range v.s.led.calls {
		n, has := byKey["call:"+call.sid]
		switch want := call.expectedOutcome(); {
		case !call.inboundOK || want == "":
		case want == "missed" && !has:
			c.fail("%s: missed call has no notification", call.sid)
		case want == "answered" && has:
			c.fail("%s: answered call notified (%s)", call.sid, n.Status)
		}
	}
	v.s.led.mu.Lock()
	for _, m := range v.s.led.sms {
		if m.keyword == "" && !m.ackAt.IsZero() {
			if _, has := byKey["reply:"+m.sid]; !has {
				c.fail("%s: reply from %s has no notification", m.sid, m.phone)
			}
		}
	}
	v.s.led.mu.Unlock()
	if v.hasFake {
		seen := map[string]int{}
		for _, m := range v.notes {
			seen[m.SID]++
		}
		for _, n := range byKey {
			if n.Status == "sent" && seen[n.SID.String] != 1 {
				c.fail("%s%s: notification %s recorded sent, the fake Twilio got it %d times", n.CallSID, n.MessageSID, n.SID.String, seen[n.SID.String])
			}
			delete(seen, n.SID.String)
		}
		for sid, k := range seen {
			c.fail("notification %s to the owner (%d times) has no sent notification row", sid, k)
		}
	}
	return c.done(), nil
}

// afterHoursCheck: every text-back of the org closed for the run is its after-hours text,
// and no other org's is.
func (v *verifier) afterHoursCheck() Check {
	c := newCheck(CheckAfterHours, "invariant")
	callOf := map[string]string{}
	for _, m := range v.msgs {
		callOf[m.SID.String] = m.CallSID.String
	}
	for _, m := range v.fake {
		org := v.s.byNumber[m.From]
		if after := strings.Contains(m.Body, afterHoursText); after != org.afterHours {
			c.fail("%s: text-back %s of %s (after hours %v) reads %q", callOf[m.SID], m.SID, org.Slug, org.afterHours, m.Body)
		}
	}
	return c.done()
}
