package simulate

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/twilio"
)

// undeliveredCodes are the Twilio error codes an undelivered text-back ends with:
// unreachable handset, unknown error at the carrier.
var undeliveredCodes = []string{"30003", "30007"}

// statusRec is the status callbacks played for one text-back, and what they decide.
type statusRec struct {
	sid   string
	final string // delivered or undelivered
	code  string // the undelivered's ErrorCode
	ackAt time.Time
}

// playStatus plays a text-back's status callbacks as Twilio sends them to its
// StatusCallback: queued, sent, then delivered (or undelivered with an error code). Some
// arrive out of order (the final one before sent), and the duplicate faults apply to each.
func (s *sim) playStatus(org *simOrg, sid, to string, rng *rand.Rand) {
	rec := &statusRec{sid: sid, final: "delivered"}
	if rng.Float64() < 0.2 {
		rec.final, rec.code = "undelivered", undeliveredCodes[rng.IntN(len(undeliveredCodes))]
	}
	steps := []string{"queued", "sent", rec.final}
	if rng.Float64() < max(s.o.Faults.Reorder, 0.1) {
		steps = []string{"queued", rec.final, "sent"}
	}
	s.led.mu.Lock()
	s.led.statuses = append(s.led.statuses, rec)
	s.led.mu.Unlock()
	var play func(i int)
	play = func(i int) {
		if i == len(steps) {
			return
		}
		st := steps[i]
		p := twilio.Params{
			"AccountSid": s.account, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
			"MessageStatus": st, "SmsStatus": st, "From": org.number, "To": to,
		}
		if st == "undelivered" {
			p["ErrorCode"] = rec.code
		}
		d := s.twilioDelivery(server.RouteSMSStatus, s.public+server.RouteSMSStatus, p, s.token)
		d.done = func(a answer) {
			if st == rec.final {
				s.led.acked(&rec.ackAt, a)
			}
			s.e.schedule(time.Now().Add(time.Duration(2+rng.IntN(20))*time.Millisecond), func(time.Time) { play(i + 1) })
		}
		s.e.schedule(time.Now().Add(time.Duration(2+rng.IntN(20))*time.Millisecond), func(due time.Time) { s.deliver(d, due, rng) })
	}
	play(0)
}

// lateText is a text-back whose status callbacks are still to play.
type lateText struct {
	org     *simOrg
	sid, to string
}

// playLate plays the status callbacks of the run's text-backs once the traffic has
// drained, unpaced, and waits for them to be answered.
func (s *sim) playLate(ctx context.Context) {
	s.lateMu.Lock()
	late := s.late
	s.late = nil
	s.lateMu.Unlock()
	if len(late) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, s.hardLimit())
	defer cancel()
	s.ctx = lctx
	s.e.opts.Rate, s.e.opts.Ramp = 0, nil // unpaced: the traffic is over
	for _, l := range late {
		s.playStatus(l.org, l.sid, l.to, s.ids.rngFor("status", l.sid))
	}
	s.e.dispatch(lctx, func(time.Time) bool { return false })
	s.e.inflight.Wait()
}
