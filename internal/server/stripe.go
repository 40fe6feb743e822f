package server

import (
	"encoding/json"
	"net/http"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/cleantext"
	"github.com/callsnare/callsnare/internal/failpoint"
	"github.com/callsnare/callsnare/internal/store"
	"github.com/callsnare/callsnare/internal/stripe"
)

const (
	contentTypeJSON = "application/json"
	// stripeSignatureHeader carries t=...,v1=...; it proves possession of the secret
	// without revealing it, so the evidence keeps it.
	stripeSignatureHeader = "Stripe-Signature"
	// typeInvoiceUpcoming announces an invoice that does not exist yet (its object has no
	// id): there is nothing to apply.
	typeInvoiceUpcoming = "invoice.upcoming"
)

// stripeReceived is Stripe's customary acknowledgement.
var stripeReceived = answer{status: http.StatusOK, contentType: contentTypeJSON, body: `{"received":true}`}

// jsonError explains a refusal the way Stripe's own libraries do: a JSON error, which the
// Stripe dashboard shows next to the failed delivery.
func jsonError(status int, msg string) answer {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return answer{status: status, contentType: contentTypeJSON, body: string(b)}
}

// handleStripe is POST /api/stripe/webhook. It verifies the signature on the raw body,
// parses the event, and then, in one transaction, claims the event id, applies it to the
// org's billing and writes the evidence, so that a duplicate or a concurrent delivery on
// another replica finds the claim taken and changes nothing. A delivery that fails is
// answered 503 and leaves no claim, so Stripe's retry applies it.
func (s *Server) handleStripe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ev := s.newEvidence(r, "stripe", start)
		e, err := s.readStripe(w, r, ev)
		if err != nil {
			s.refuseStripe(w, r, ev, err)
			return
		}
		ev.Kind = e.Type
		ev.DedupeKey = "stripe:" + e.ID
		a := stripeReceived
		// A client that leaves must not cancel the evidence; the deadline does.
		ctx, cancel := s.commitContext(r)
		defer cancel()
		// Keyed by customer: a customer's billing is written under the customer's lock.
		subject := ""
		if e.CustomerID != "" {
			subject = store.CustomerKey(e.CustomerID)
		}
		ev.Prepare()
		err = s.store.WriteFor(ctx, subject, func(tx *store.Tx) error {
			// The unit may run again alone if its batch fails: set every field it decides.
			ev.ID, ev.OrgID, ev.DuplicateOf, ev.Error = 0, store.NullID(0), store.NullID(0), ""
			claimed, dupOf, err := tx.Claim(ctx, ev.DedupeKey, start)
			if err != nil {
				return err
			}
			switch {
			case !claimed:
				ev.Status, ev.DuplicateOf = store.StatusDuplicate, store.NullID(dupOf)
				orgID, err := tx.EvidenceOrg(ctx, dupOf)
				if err != nil {
					return err
				}
				ev.OrgID = store.NullID(orgID)
			case e.Type == typeInvoiceUpcoming:
				ev.Status, ev.Error = store.StatusIgnored, "invoice.upcoming: no invoice exists yet"
			case !billing.Handled(e.Type):
				ev.Status, ev.Error = store.StatusIgnored, "event type not used by billing"
			default:
				status, orgID, err := tx.ApplyStripeEvent(ctx, e, start)
				if err != nil {
					return err
				}
				ev.Status, ev.OrgID = status, store.NullID(orgID)
				if status == store.StatusUnmatched {
					ev.Error = unmatchedReason(e)
				}
			}
			ev.HTTPStatus, ev.ResponseBody = a.status, a.body
			ev.SetLatency(s.now().Sub(start))
			return tx.AddEvidence(ctx, ev)
		})
		if err != nil {
			s.failWith(w, r, ev, stripeError(err), err, start)
			return
		}
		failpoint.Hit(failpoint.ServerBeforeAnswer)
		s.metrics.Delivery(r.URL.Path, ev.Status)
		a.write(w)
	})
}

func unmatchedReason(e billing.Event) string {
	if e.CustomerID == "" {
		return "no org for the event and no customer to map it by"
	}
	return "no org known for customer " + e.CustomerID + ": held until an event maps it"
}

// readStripe reads, verifies and parses a Stripe delivery.
func (s *Server) readStripe(w http.ResponseWriter, r *http.Request, ev *store.Evidence) (billing.Event, error) {
	if err := s.readDelivery(w, r, ev, contentTypeJSON); err != nil {
		return billing.Event{}, err
	}
	verdict, err := s.cfg.Stripe.Verify(ev.Body, r.Header.Values(stripeSignatureHeader))
	ev.Signature = string(verdict)
	if err != nil {
		s.metrics.Rejection(r.URL.Path, string(verdict))
		if !s.limit.fail(r.RemoteAddr, s.now()) {
			return billing.Event{}, errRateLimited
		}
		return billing.Event{}, refuse(http.StatusBadRequest, "signature %s: %v", verdict, err)
	}
	if verdict == stripe.VerdictValid {
		markReplay(r, ev)
	}
	e, err := stripe.ParseEvent(ev.Body)
	if err != nil {
		return billing.Event{}, refuse(http.StatusBadRequest, "%v", err)
	}
	if err := stripe.CheckIDs(e); err != nil {
		return billing.Event{}, refuse(http.StatusBadRequest, "%v", err)
	}
	// Every field of the event may reach a text column or be looked up by.
	if cleantext.Strings(&e) {
		ev.Cleaned = true
	}
	ev.Kind = e.Type
	if e.ID == "" {
		return billing.Event{}, refuse(http.StatusBadRequest, "%v: no event id", stripe.ErrMalformed)
	}
	return e, nil
}

// refuseStripe answers a delivery refused before it could be applied, logged as rejected.
func (s *Server) refuseStripe(w http.ResponseWriter, r *http.Request, ev *store.Evidence, err error) {
	s.refuseWith(w, r, ev, err, stripeError, string(stripe.VerdictUnchecked))
}

// stripeError is the answer Stripe gets for a delivery that failed or was refused.
func stripeError(err error) answer {
	status, msg := errorStatus(err)
	return jsonError(status, msg)
}
