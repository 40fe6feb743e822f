package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/cleantext"
	"github.com/callsnare/callsnare/internal/failpoint"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/twilio"
)

const contentTypeXML = "text/xml; charset=utf-8"

// twilioRouteSpec is what differs between the Twilio routes.
type twilioRouteSpec struct {
	kind     string
	voice    bool     // a caller is on the line: every answer is TwiML
	required []string // params without which the delivery means nothing
	key      func(p twilio.Params) string
	// apply records the delivery's facts; it runs once per dedupe key.
	apply func(s *Server, ctx context.Context, tx *store.Tx, d *twilioDelivery) (applied, error)
	// answer is the reply to the first delivery, knowing what apply did; a duplicate gets
	// the answer its original got, byte for byte.
	answer func(s *Server, d *twilioDelivery, a applied) (answer, error)
	// unmatched is the reply when To is no tracked number.
	unmatched func() answer
	// prepare works out, before the transaction, what apply would otherwise work out in
	// the writer, given the org as this process last saw it (the zero Org when it saw
	// none); apply's store checks it against the org its transaction finds.
	prepare func(d *twilioDelivery, seen store.Org)
	// outbound: the callback is about a message we sent, so the tracked number is From
	// and the caller is To.
	outbound bool
}

// numbers returns the tracked number and the caller's number of a delivery.
func (spec twilioRouteSpec) numbers(p twilio.Params) (tracked, caller string) {
	if spec.outbound {
		return p["From"], p["To"]
	}
	return p["To"], p["From"]
}

// applied is what applying a delivery did that its answer and its evidence depend on.
type applied struct {
	call      store.Call // for call facts: the call as this transaction left it
	callSID   string     // the call the delivery turned out to be about, when its params do not say
	unmatched string     // why nothing of ours matched the delivery, when nothing did
	ignored   string     // why the delivery means nothing to us, when it does not
}

type twilioDelivery struct {
	params twilio.Params
	org    store.Org
	base   string // public scheme and host
	at     time.Time
	// callerHuman is the caller's number as the owner reads it, for notifications: worked
	// out before the transaction on SQLite when the org has a notify number, so that
	// parsing it is not the writer's work; else the store works it out if it tells the
	// owner.
	callerHuman string
	// reply is an inbound SMS read for its owner's notification (callflow.ReadReply), and
	// media the media it carries.
	reply *callflow.Reply
	media []callflow.Media
}

var (
	voiceInbound = twilioRouteSpec{
		kind:     "voice.inbound",
		voice:    true,
		required: []string{"CallSid", "To", "From"},
		key:      func(p twilio.Params) string { return "twilio:voice.inbound:" + p["CallSid"] },
		apply: func(s *Server, ctx context.Context, tx *store.Tx, d *twilioDelivery) (applied, error) {
			return s.applyCallFact(ctx, tx, d, callflow.Fact{Kind: callflow.FactInbound, CallStatus: d.params["CallStatus"], Sequence: -1})
		},
		answer: func(s *Server, d *twilioDelivery, a applied) (answer, error) {
			if d.org.ForwardTo == "" {
				return missedAnswer(a.call)
			}
			return twiml(twilio.DialTwiML(d.base+RouteDialComplete, int(s.cfg.Rules.DialTimeout/time.Second), d.org.ForwardTo))
		},
		unmatched: politeHangup,
	}
	dialComplete = twilioRouteSpec{
		kind:     "voice.dial_complete",
		voice:    true,
		required: []string{"CallSid", "To", "From", "DialCallStatus"},
		key: func(p twilio.Params) string {
			return "twilio:voice.dial_complete:" + p["CallSid"] + ":" + p["DialCallSid"] + ":" + p["DialCallStatus"]
		},
		apply: func(s *Server, ctx context.Context, tx *store.Tx, d *twilioDelivery) (applied, error) {
			return s.applyCallFact(ctx, tx, d, callflow.Fact{
				Kind: callflow.FactDialComplete, DialStatus: d.params["DialCallStatus"], DialCallSID: d.params["DialCallSid"],
				DialDuration: atoi(d.params["DialCallDuration"], 0), Sequence: -1,
			})
		},
		answer: func(s *Server, d *twilioDelivery, a applied) (answer, error) {
			switch d.params["DialCallStatus"] {
			case "completed", "answered":
				if a.call.Outcome != string(callflow.OutcomeMissed) {
					return twiml(twilio.HangupTwiML())
				}
			}
			return missedAnswer(a.call)
		},
		unmatched: politeHangup,
	}
	voiceStatus = twilioRouteSpec{
		kind:     "voice.status",
		required: []string{"CallSid", "To", "From", "CallStatus"},
		key: func(p twilio.Params) string {
			k := "twilio:voice.status:" + p["CallSid"] + ":" + p["CallStatus"]
			if seq, ok := p["SequenceNumber"]; ok {
				k += ":" + seq
			}
			return k
		},
		apply: func(s *Server, ctx context.Context, tx *store.Tx, d *twilioDelivery) (applied, error) {
			return s.applyCallFact(ctx, tx, d, callflow.Fact{
				Kind: callflow.FactStatus, CallStatus: d.params["CallStatus"],
				CallDuration: atoi(d.params["CallDuration"], 0), Sequence: atoi(d.params["SequenceNumber"], -1),
			})
		},
		answer:    noContent,
		unmatched: func() answer { return answer{status: http.StatusNoContent} },
	}
	smsInbound = twilioRouteSpec{
		kind:     "sms.inbound",
		required: []string{"MessageSid", "To", "From"},
		key:      func(p twilio.Params) string { return "twilio:sms.inbound:" + p["MessageSid"] },
		apply: func(s *Server, ctx context.Context, tx *store.Tx, d *twilioDelivery) (applied, error) {
			c, err := tx.ApplyInboundSMS(ctx, store.InboundSMS{
				Org: d.org, MessageSID: d.params["MessageSid"], From: d.params["From"], To: d.params["To"],
				FromHuman: d.callerHuman, Body: d.params["Body"], Media: d.media, Reply: d.reply,
				At: d.at, Rules: s.cfg.Rules,
			})
			if err == nil && c.NotifyKey != "" {
				err = s.queue.EnqueueNotify(ctx, tx, c.NotifyKey)
			}
			return applied{}, err
		},
		answer:    func(*Server, *twilioDelivery, applied) (answer, error) { return emptyTwiML(), nil },
		unmatched: emptyTwiML,
		// A reply that is no keyword is quoted to its owner, urgent by the org's words
		// (the defaults when the org is not known yet, as most orgs keep them); not read
		// for an org seen to have nobody to tell.
		prepare: func(d *twilioDelivery, seen store.Org) {
			d.media = twilio.Media(d.params)
			if (seen.ID != 0 && seen.NotifyNumber == "") || callflow.ClassifyKeyword(d.params["Body"]) != callflow.KeywordNone {
				return
			}
			r := callflow.ReadReply(d.params["Body"], len(d.media), seen.UrgentKeywords)
			d.reply = &r
		},
	}
	smsStatus = twilioRouteSpec{
		kind:     "sms.status",
		outbound: true,
		required: []string{"MessageSid", "MessageStatus", "To", "From"},
		key: func(p twilio.Params) string {
			return "twilio:sms.status:" + p["MessageSid"] + ":" + p["MessageStatus"]
		},
		apply: func(s *Server, ctx context.Context, tx *store.Tx, d *twilioDelivery) (applied, error) {
			status, ok := callflow.DeliveryStatus(d.params["MessageStatus"])
			if !ok {
				return applied{ignored: "status " + d.params["MessageStatus"] + " is not about a message we sent"}, nil
			}
			code := d.params["ErrorCode"]
			if code == "0" {
				code = ""
			}
			msg := d.params["ErrorMessage"]
			if code != "" && msg == "" {
				msg = twilio.DescribeErrorCode(code)
			}
			callSID, matched, err := tx.ApplyMessageStatus(ctx, store.MessageStatus{
				SID: d.params["MessageSid"], Status: status, ErrorCode: code, ErrorMessage: msg, At: d.at,
			})
			if err != nil || matched {
				return applied{callSID: callSID}, err
			}
			return applied{unmatched: "no message we sent has sid " + d.params["MessageSid"]}, nil
		},
		answer:    noContent,
		unmatched: func() answer { return answer{status: http.StatusNoContent} },
	}
)

// missedAnswer apologises to a caller whose call was missed, promising a text only when
// this delivery queued one.
func missedAnswer(c store.Call) (answer, error) {
	return twiml(twilio.SayHangupTwiML(callflow.MissedCallMessage(c.Reason, c.TextbackQueued)))
}

func noContent(*Server, *twilioDelivery, applied) (answer, error) {
	return answer{status: http.StatusNoContent}, nil
}

func twiml(body string, err error) (answer, error) {
	return answer{status: http.StatusOK, contentType: contentTypeXML, body: body}, err
}

func emptyTwiML() answer {
	return answer{status: http.StatusOK, contentType: contentTypeXML, body: twilio.EmptyTwiML()}
}

func politeHangup() answer {
	a, _ := twiml(twilio.SayHangupTwiML("Sorry, this number is not in service. Goodbye."))
	return a
}

func atoi(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// applyCallFact stores a call fact and what it implies, and enqueues the jobs the call's
// change asks for, all in the delivery's transaction.
func (s *Server) applyCallFact(ctx context.Context, tx *store.Tx, d *twilioDelivery, f callflow.Fact) (applied, error) {
	f.At = d.at
	c, err := tx.ApplyCallFact(ctx, store.CallFact{
		Org: d.org, CallSID: d.params["CallSid"], From: d.params["From"], To: d.params["To"],
		FromHuman: d.callerHuman, Fact: f,
	}, s.cfg.Rules)
	if err != nil {
		return applied{}, err
	}
	if err := s.queue.EnqueueCallJobs(ctx, tx, c); err != nil {
		return applied{}, err
	}
	return applied{call: c.Call}, nil
}

// duplicateAnswer is the answer a duplicate gets: the bytes its original was answered,
// or, when no original is logged, the answer to a delivery that changed nothing. The
// duplicate is tied to its original's call.
func (s *Server) duplicateAnswer(ctx context.Context, tx *store.Tx, spec twilioRouteSpec, d *twilioDelivery, ev *store.Evidence, original int64) (answer, error) {
	if original != 0 {
		orig, found, err := tx.EvidenceAnswer(ctx, original)
		if err != nil {
			return answer{}, err
		}
		if found && ev.CallSID == "" {
			ev.CallSID = orig.CallSID
		}
		if found && orig.HTTPStatus != 0 {
			a := answer{status: orig.HTTPStatus, body: orig.ResponseBody}
			if a.body != "" {
				a.contentType = contentTypeXML
			}
			return a, nil
		}
	}
	return spec.answer(s, d, applied{})
}

// twilioRoute is the pipeline every Twilio callback goes through: read, verify, find the
// org, then claim the dedupe key, apply and log in one transaction, then answer.
func (s *Server) twilioRoute(spec twilioRouteSpec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ev := s.newEvidence(r, "twilio", start)
		ev.Kind = spec.kind
		d, err := s.readTwilio(w, r, ev, spec)
		if err != nil {
			s.refuseDelivery(w, r, ev, spec, d, err)
			return
		}
		d.at = start
		tracked, caller := spec.numbers(d.params)
		callSID := d.params["CallSid"]
		if spec.voice {
			// Whether the caller can take a text is asked in the transaction that decides a
			// missed call; worked out here first (and remembered per number), the parsing of
			// the number stays out of the writers: it was 5% of serve's CPU on whole calls,
			// on the path every unit of a batch waits on.
			callflow.Textable(caller)
		}
		// A caller who hangs up must not cancel the transaction that keeps the evidence;
		// the deadline does.
		ctx, cancel := s.commitContext(r)
		defer cancel()
		// The org is found in the transaction that applies the delivery: on PostgreSQL with
		// the claim in the batch's pipelined round, on SQLite mostly in memory (checked
		// against the transaction's view of the orgs' last change).
		orgOf := func(tx *store.Tx) func() (store.Org, error) { return tx.AskOrgByNumber(ctx, tracked) }
		seen, ok := s.store.SeenOrg(tracked)
		if ok && !spec.outbound && seen.NotifyNumber != "" {
			// The owner may be told of this caller: the number is written for them here,
			// not in the one writer (the store writes it itself when this guessed wrong).
			d.callerHuman = callflow.HumanPhone(caller, tracked)
		}
		if spec.prepare != nil {
			spec.prepare(d, seen)
		}
		key := spec.key(d.params)
		// Keyed by caller: a caller's calls, lead, messages and opt-out are written under
		// the caller's lock. The answer is decided inside the transaction: what a caller
		// is promised depends on what this delivery applied. The unit may run again alone
		// if its batch fails: it sets every field it decides.
		var a answer
		ev.Prepare()
		err = s.store.WriteFor(ctx, store.CallerKey(caller), func(tx *store.Tx) error {
			ev.CallSID, ev.Caller, ev.OrgID, ev.DedupeKey, ev.Error = callSID, caller, store.NullID(0), "", ""
			ev.DuplicateOf = store.NullID(0)
			// The org and the claim are asked for together; a delivery refused for its org
			// gives the claim back.
			asked := orgOf(tx)
			claim := tx.AskClaim(ctx, key, start)
			org, err := asked()
			switch {
			case errors.Is(err, store.ErrNotFound):
				if err := claim.Withdraw(ctx); err != nil {
					return err
				}
				a = spec.unmatched()
				ev.Status, ev.Error = store.StatusUnmatched, "no org tracks "+tracked
				return s.logAnswer(ctx, tx, ev, a, start)
			case err != nil:
				return err
			}
			d.org = org
			ev.OrgID = store.NullID(org.ID)
			// A delivery touches only an org of the account that sent it, whoever signed
			// it: a subaccount's token must not reach another account's org.
			if owner := s.accountOf(org); owner != "" && d.params["AccountSid"] != owner {
				if err := claim.Withdraw(ctx); err != nil {
					return err
				}
				refusal := refuse(http.StatusForbidden, "account %s does not own %s", d.params["AccountSid"], d.params["To"])
				a = twilioError(refusal, spec.voice)
				ev.Status, ev.Error = store.StatusRejected, refusal.Error()
				return s.logAnswer(ctx, tx, ev, a, start)
			}
			ev.DedupeKey = key
			claimed, dupOf, err := claim.Result()
			if err != nil {
				return err
			}
			ev.Status, ev.DuplicateOf = store.StatusProcessed, store.NullID(dupOf)
			if !claimed {
				ev.Status = store.StatusDuplicate
				if a, err = s.duplicateAnswer(ctx, tx, spec, d, ev, dupOf); err != nil {
					return err
				}
			} else {
				done, err := spec.apply(s, ctx, tx, d)
				if err != nil {
					return err
				}
				switch {
				case done.unmatched != "":
					ev.Status, ev.Error = store.StatusUnmatched, done.unmatched
				case done.ignored != "":
					ev.Status, ev.Error = store.StatusIgnored, done.ignored
				}
				if done.callSID != "" {
					ev.CallSID = done.callSID
				}
				if a, err = spec.answer(s, d, done); err != nil {
					return err
				}
			}
			return s.logAnswer(ctx, tx, ev, a, start)
		})
		if err != nil {
			s.failWith(w, r, ev, twilioError(err, spec.voice), err, start)
			return
		}
		failpoint.Hit(failpoint.ServerBeforeAnswer)
		s.metrics.Delivery(r.URL.Path, ev.Status)
		a.write(w)
	})
}

// logAnswer writes a delivery's evidence with the answer it gets, in its transaction.
func (s *Server) logAnswer(ctx context.Context, tx *store.Tx, ev *store.Evidence, a answer, start time.Time) error {
	ev.HTTPStatus, ev.ResponseBody = a.status, a.body
	ev.SetLatency(s.now().Sub(start))
	return tx.AddEvidence(ctx, ev)
}

// accountOf is the Twilio account that owns an org's numbers, "" when unknown (no main
// account configured).
func (s *Server) accountOf(org store.Org) string {
	if org.TwilioAccount != "" {
		return org.TwilioAccount
	}
	return s.cfg.TwilioAccountSID
}

// readTwilio reads, parses and verifies a Twilio callback. Once the form is parsed, a
// refusal still returns the delivery, so that its evidence is labelled from it.
func (s *Server) readTwilio(w http.ResponseWriter, r *http.Request, ev *store.Evidence, spec twilioRouteSpec) (*twilioDelivery, error) {
	if err := s.readDelivery(w, r, ev, "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	params, err := twilio.ParseForm(ev.Body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	d := &twilioDelivery{params: params, base: s.publicBase(r)}
	verdict := s.cfg.Twilio.Verify(ev.URL, params, r.Header.Values(twilio.SignatureHeader))
	ev.Signature = string(verdict)
	// Verified over the bytes as sent; from here on the values reach text columns.
	if cleantext.Map(params) {
		ev.Cleaned = true
	}
	if verdict != twilio.VerdictValid && verdict != twilio.VerdictUnchecked {
		s.metrics.Rejection(r.URL.Path, string(verdict))
		if !s.limit.fail(r.RemoteAddr, s.now()) {
			return d, errRateLimited
		}
		return d, refuse(http.StatusForbidden, "signature %s for %s", verdict, ev.URL)
	}
	if verdict == twilio.VerdictValid {
		markReplay(r, ev)
	}
	for _, k := range spec.required {
		if params[k] == "" {
			return d, refuse(http.StatusBadRequest, "missing parameter %s", k)
		}
	}
	if err := twilio.CheckParams(params); err != nil {
		return d, refuse(http.StatusBadRequest, "%v", err)
	}
	return d, nil
}

// refuseDelivery answers a delivery that will not be applied (see refuseWith). A refusal
// is filed under the org its To names, when it names one, so that support sees an org's
// refused deliveries beside its others (a wrong token shows up there); the label is for
// the log only: nothing of a refused delivery is applied. d is nil when the form did not
// parse.
func (s *Server) refuseDelivery(w http.ResponseWriter, r *http.Request, ev *store.Evidence, spec twilioRouteSpec, d *twilioDelivery, err error) {
	var br *badRequest
	if d != nil && errors.As(err, &br) && !ev.OrgID.Valid {
		tracked, caller := spec.numbers(d.params)
		if tracked != "" {
			if org, oerr := s.store.OrgByNumber(r.Context(), tracked); oerr == nil {
				ev.OrgID = store.NullID(org.ID)
			}
		}
		ev.CallSID, ev.Caller = d.params["CallSid"], caller
	}
	s.refuseWith(w, r, ev, err, func(err error) answer { return twilioError(err, spec.voice) }, string(twilio.VerdictUnchecked))
}

// twilioError is the answer Twilio gets for a delivery that failed or was refused.
func twilioError(err error, voice bool) answer {
	status, msg := errorStatus(err)
	return errorAnswer(status, msg, voice)
}

// errorAnswer explains a refusal: in TwiML where a caller may be listening (Twilio reads a
// non-XML answer as an application error), as plain text elsewhere.
func errorAnswer(status int, msg string, voice bool) answer {
	if voice {
		body, err := twilio.SayHangupTwiML("Sorry, we cannot take your call right now. Goodbye.")
		if err == nil {
			return answer{status: status, contentType: contentTypeXML, body: body}
		}
	}
	return answer{status: status, contentType: "text/plain; charset=utf-8", body: msg + "\n"}
}

// finish logs a delivery that changes nothing else, then answers it.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, ev *store.Evidence, a answer, start time.Time) {
	ev.HTTPStatus, ev.ResponseBody = a.status, a.body
	ev.SetLatency(s.now().Sub(start))
	ctx, cancel := s.commitContext(r)
	defer cancel()
	if err := s.store.RecordEvidence(ctx, ev); err != nil {
		s.log.Error("record_evidence_failed", "route", ev.Route, "err", err)
		errorAnswer(http.StatusServiceUnavailable, "evidence could not be stored", false).write(w)
		return
	}
	s.metrics.Delivery(r.URL.Path, ev.Status)
	a.write(w)
}

// failWith answers a delivery whose processing failed with a, the provider's form of
// a 5xx (see errorStatus), so that the provider retries, and never a 2xx. The failure is
// logged as evidence when the database still takes writes.
func (s *Server) failWith(w http.ResponseWriter, r *http.Request, ev *store.Evidence, a answer, err error, start time.Time) {
	s.log.Error("delivery_failed", "route", ev.Route, "kind", ev.Kind, "dedupe_key", ev.DedupeKey, "err", err)
	ev.ID, ev.Status, ev.Error, ev.DuplicateOf = 0, store.StatusFailed, err.Error(), store.NullID(0)
	ev.HTTPStatus, ev.ResponseBody = a.status, a.body
	ev.SetLatency(s.now().Sub(start))
	// The failure is recorded if the database takes it before the deadline; the answer
	// goes out either way.
	ctx, cancel := s.answerContext(r)
	defer cancel()
	if rerr := s.store.RecordEvidence(ctx, ev); rerr != nil {
		s.log.Error("record_evidence_failed", "route", ev.Route, "err", rerr)
	}
	s.metrics.Delivery(r.URL.Path, store.StatusFailed)
	a.write(w)
}
