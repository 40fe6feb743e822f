package simulate

import (
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/twilio"
)

// replies are what callers text back when they are not sending a keyword.
var replies = []string{
	"Yes please, the AC stopped blowing cold",
	"Can someone come out today? Furnace is making a banging noise",
	"Thanks. What are your rates for a tune-up?",
	"stop by tomorrow if you can", // not a keyword: the whole body must be one
}

// onText is told of each text-back the fake Twilio accepted: the caller may answer it, and
// some answer STOP (and some of those START later).
func (s *sim) onText(sid, from, to string) {
	org := s.byNumber[from]
	if org == nil || (org.NotifyNumber != "" && to == org.NotifyNumber) {
		return // not ours, or a notification to the owner
	}
	// Its status callbacks follow the drain, so that they do not load the paced traffic the
	// thresholds judge.
	s.lateMu.Lock()
	s.late = append(s.late, lateText{org: org, sid: sid, to: to})
	s.lateMu.Unlock()
	if s.stopping.Load() {
		return
	}
	rng := s.ids.rngFor("reply", sid)
	if rng.Float64() >= s.o.ReplyRate {
		return
	}
	key := org.number + " " + to
	keyword := ""
	if rng.Float64() < s.o.StopRate {
		s.kwMu.Lock()
		if !s.kwBusy[key] {
			s.kwBusy[key], keyword = true, "stop"
		}
		s.kwMu.Unlock()
	}
	body := replies[rng.IntN(len(replies))]
	if keyword == "stop" {
		body = []string{"STOP", "stop", "Stop ", "UNSUBSCRIBE"}[rng.IntN(4)]
	}
	restart := rng.Float64() < s.o.RestartRate
	later := time.Duration(10+rng.IntN(60)) * time.Millisecond
	s.e.schedule(time.Now().Add(later), func(due time.Time) {
		s.sendSMS(org, to, body, keyword, "reply:"+sid, due, func(a answer) {
			if keyword != "stop" {
				return
			}
			if !restart || s.stopping.Load() {
				s.release(key)
				return
			}
			s.e.schedule(time.Now().Add(time.Duration(100+rng.IntN(300))*time.Millisecond), func(due time.Time) {
				s.sendSMS(org, to, "START", "start", "start:"+sid, due, func(answer) { s.release(key) })
			})
		})
	})
}

func (s *sim) release(key string) {
	s.kwMu.Lock()
	delete(s.kwBusy, key)
	s.kwMu.Unlock()
}

// sendSMS delivers an inbound SMS as Twilio does, and records it for the verdict.
func (s *sim) sendSMS(org *simOrg, phone, body, keyword, seed string, due time.Time, then func(answer)) {
	rec := &smsRec{sid: s.ids.sid("SM", "sms", seed), org: org, phone: phone, keyword: keyword, sentAt: time.Now()}
	s.led.addSMS(rec)
	p := twilio.Params{
		"AccountSid": s.account, "ApiVersion": "2010-04-01", "MessageSid": rec.sid, "SmsSid": rec.sid,
		"SmsMessageSid": rec.sid, "From": phone, "To": org.number, "Body": body, "NumMedia": "0",
		"NumSegments": "1", "SmsStatus": "received", "FromCountry": "US", "ToCountry": "US",
	}
	switch keyword {
	case "stop":
		p["OptOutType"] = "STOP"
	case "start":
		p["OptOutType"] = "START"
	}
	d := s.twilioDelivery(server.RouteSMSInbound, s.public+server.RouteSMSInbound, p, s.token)
	d.done = func(a answer) {
		s.led.acked(&rec.ackAt, a)
		if then != nil {
			then(a)
		}
	}
	rng := s.ids.rngFor("sms-faults", rec.sid)
	if s.token != "" && rng.Float64() < s.o.Faults.BadSig {
		ghost := s.ids.sid("SM", "forged", rec.sid)
		q := twilio.Params{}
		for k, v := range p {
			q[k] = v
		}
		q["MessageSid"], q["SmsSid"], q["SmsMessageSid"] = ghost, ghost, ghost
		f := s.twilioDelivery(server.RouteSMSInbound, s.public+server.RouteSMSInbound, q, s.token+"x")
		f.expect, f.maxTries = 4, 1
		s.led.ghost(&s.led.ghostSMS, ghost)
		s.e.schedule(time.Now(), func(due time.Time) { s.e.send(s.ctx, f, due, 1) })
	}
	s.deliver(d, due, rng)
}
