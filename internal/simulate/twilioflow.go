package simulate

import (
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/twilio"
)

// dialStatuses is the mix a missed forward draws from (a completed dial is an answer).
var dialStatuses = []string{"no-answer", "no-answer", "no-answer", "busy", "failed", "canceled"}

// newCall plans call i from its own generator.
func (s *sim) newCall(i int) (*callRec, *rand.Rand) {
	rng := s.ids.rngFor("call", i)
	c := &callRec{sid: s.ids.sid("CA", "call", i), org: s.orgs[rng.IntN(len(s.orgs))]}
	if rng.Float64() < s.o.Untextable {
		c.from = untextableCallers[rng.IntN(len(untextableCallers))]
	} else {
		c.from = callerNumber(rng.IntN(s.o.Callers))
	}
	c.textable = isTextable(c.from)
	c.dialStatus = "completed"
	if rng.Float64() >= s.o.AnswerRate {
		c.dialStatus = dialStatuses[rng.IntN(len(dialStatuses))]
	}
	c.reorder = rng.Float64() < s.o.Faults.Reorder
	return c, rng
}

// params are the parameters Twilio sends with every callback of the call.
func (s *sim) callParams(c *callRec, extra ...string) twilio.Params {
	p := twilio.Params{
		"AccountSid": s.account, "ApiVersion": "2010-04-01", "CallSid": c.sid, "Direction": "inbound",
		"From": c.from, "Caller": c.from, "To": c.org.number, "Called": c.org.number,
		"FromCity": "", "FromState": "", "FromZip": "", "FromCountry": "US",
		"ToCity": "AUSTIN", "ToState": "TX", "ToZip": "", "ToCountry": "US",
		"CallerCity": "", "CallerState": "", "CallerZip": "", "CallerCountry": "US",
		"CalledCity": "AUSTIN", "CalledState": "TX", "CalledZip": "", "CalledCountry": "US",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// twilioDelivery signs params as Twilio does for a request to signURL.
func (s *sim) twilioDelivery(route, signURL string, p twilio.Params, token string) *delivery {
	h := make(http.Header, 5)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("User-Agent", "TwilioProxy/1.1")
	h.Set("I-Twilio-Idempotency-Token", s.ids.hex(36, "idem", signURL, p["CallSid"], p["MessageSid"], p["DialCallStatus"], p["CallStatus"], p["MessageStatus"]))
	if token != "" {
		h.Set(twilio.SignatureHeader, twilio.Sign(token, signURL, p))
	}
	return &delivery{route: route, url: s.transport(signURL), body: encodeForm(p), header: h, expect: 2,
		maxTries: 1 + s.o.Faults.MaxRetries}
}

// transport turns a public URL (what is signed) into where the target listens.
func (s *sim) transport(u string) string {
	if rest, ok := strings.CutPrefix(u, s.public); ok {
		return s.target + rest
	}
	return u
}

// deliver sends d at due with the duplicate faults drawn from rng: the same delivery again
// a little later, or twice at once.
func (s *sim) deliver(d *delivery, due time.Time, rng *rand.Rand) {
	dup := rng.Float64() < s.o.Faults.Dup
	cdup := rng.Float64() < s.o.Faults.ConcurrentDup
	delay := time.Duration(5+rng.IntN(60)) * time.Millisecond
	if dup {
		cp := *d
		cp.done = nil
		s.e.schedule(time.Now().Add(delay), func(due time.Time) { s.e.send(s.ctx, &cp, due, 1) })
	}
	if cdup {
		cp := *d
		cp.done = nil
		s.e.inflight.Add(1)
		go func() { defer s.e.inflight.Done(); s.e.send(s.ctx, &cp, due, 1) }()
	}
	s.e.send(s.ctx, d, due, 1)
}

// runCall plays one call as Twilio does: the inbound webhook, then the dial's action URL
// from the TwiML answer, then the status callback; reordered calls send the status first.
func (s *sim) runCall(c *callRec, rng *rand.Rand, due time.Time) {
	s.forgeCall(c, rng)
	d := s.twilioDelivery(server.RouteVoiceInbound, s.public+server.RouteVoiceInbound,
		s.callParams(c, "CallStatus", "ringing", "CallToken", s.ids.hex(40, "token", c.sid)), s.token)
	d.done = func(a answer) {
		ring := time.Duration(10+rng.IntN(50)) * time.Millisecond
		c.mu.Lock()
		c.inboundOK = a.ok()
		c.mu.Unlock()
		if !a.ok() {
			s.setFlowErr(c, fmt.Sprintf("inbound answered %s", describe(a)))
			s.e.schedule(time.Now().Add(ring), func(due time.Time) { s.sendStatus(c, rng, due, nil) })
			return
		}
		action, err := dialAction(a.body)
		if err != nil {
			s.setFlowErr(c, err.Error())
		}
		if action == "" {
			c.mu.Lock()
			c.noDial = true
			c.mu.Unlock()
			s.e.schedule(time.Now().Add(ring), func(due time.Time) { s.sendStatus(c, rng, due, nil) })
			return
		}
		if c.reorder {
			s.e.schedule(time.Now().Add(ring), func(due time.Time) {
				s.sendStatus(c, rng, due, func() {
					s.e.schedule(time.Now().Add(time.Millisecond), func(due time.Time) { s.sendDial(c, rng, action, due, nil) })
				})
			})
			return
		}
		s.e.schedule(time.Now().Add(ring), func(due time.Time) {
			s.sendDial(c, rng, action, due, func() {
				s.e.schedule(time.Now().Add(time.Duration(2+rng.IntN(10))*time.Millisecond), func(due time.Time) { s.sendStatus(c, rng, due, nil) })
			})
		})
	}
	s.deliver(d, due, rng)
}

func (s *sim) setFlowErr(c *callRec, msg string) {
	c.mu.Lock()
	if c.flowErr == "" {
		c.flowErr = msg
	}
	c.mu.Unlock()
}

func describe(a answer) string {
	if a.err != nil {
		return "no answer: " + a.err.Error()
	}
	return strconv.Itoa(a.status)
}

// sendDial requests the <Dial action> URL with the dial's outcome.
func (s *sim) sendDial(c *callRec, rng *rand.Rand, action string, due time.Time, then func()) {
	extra := []string{"CallStatus", "in-progress", "DialCallStatus", c.dialStatus, "DialCallSid", s.ids.sid("CA", "dial", c.sid),
		"DialBridged", strconv.FormatBool(c.dialStatus == "completed")}
	if c.dialStatus == "completed" {
		extra = append(extra, "DialCallDuration", strconv.Itoa(5+rng.IntN(300)))
	}
	route := action
	if u, err := url.Parse(action); err == nil {
		route = u.Path
	}
	d := s.twilioDelivery(route, action, s.callParams(c, extra...), s.token)
	c.mu.Lock()
	c.dialSent = true
	c.mu.Unlock()
	d.done = func(a answer) {
		c.mu.Lock()
		c.dialOK = a.ok()
		c.mu.Unlock()
		if !a.ok() {
			s.setFlowErr(c, "dial-complete answered "+describe(a))
		}
		if then != nil {
			then()
		}
	}
	s.deliver(d, due, rng)
}

// sendStatus sends the call's final status callback.
func (s *sim) sendStatus(c *callRec, rng *rand.Rand, due time.Time, then func()) {
	d := s.twilioDelivery(server.RouteVoiceStatus, s.public+server.RouteVoiceStatus, s.callParams(c,
		"CallStatus", "completed", "CallDuration", strconv.Itoa(20+rng.IntN(200)), "SequenceNumber", "3",
		"CallbackSource", "call-progress-events", "Timestamp", time.Now().UTC().Format(time.RFC1123Z)), s.token)
	d.done = func(a answer) {
		c.mu.Lock()
		c.statusOK = a.ok()
		c.mu.Unlock()
		if !a.ok() {
			s.setFlowErr(c, "status answered "+describe(a))
		}
		if then != nil {
			then()
		}
	}
	s.deliver(d, due, rng)
}

// forgeCall sends, with the fault rates, deliveries that must be refused: a copy of the
// call's inbound webhook under a new CallSid, signed with the wrong token, signed for
// another URL, or cut into a body that does not parse.
func (s *sim) forgeCall(c *callRec, rng *rand.Rand) {
	type forged struct {
		rate          float64
		token, signAt string
		broken        bool
	}
	in := s.public + server.RouteVoiceInbound
	var kinds []forged
	if s.token != "" {
		kinds = append(kinds,
			forged{rate: s.o.Faults.BadSig, token: "0" + s.token[1:] + "x", signAt: in},
			forged{rate: s.o.Faults.WrongURL, token: s.token, signAt: s.public + server.RouteVoiceStatus})
	}
	kinds = append(kinds, forged{rate: s.o.Faults.Malformed, token: s.token, signAt: in, broken: true})
	for i, k := range kinds {
		if rng.Float64() >= k.rate {
			continue
		}
		ghost := &callRec{sid: s.ids.sid("CA", "forged", c.sid, i), org: c.org, from: c.from}
		p := s.callParams(ghost, "CallStatus", "ringing")
		d := s.twilioDelivery(server.RouteVoiceInbound, k.signAt, p, k.token)
		d.url, d.expect, d.maxTries = s.target+server.RouteVoiceInbound, 4, 1
		if k.broken {
			d.body = append(d.body[:len(d.body)/2:len(d.body)/2], "%zz&From"...)
		}
		s.led.ghost(&s.led.ghostCalls, ghost.sid)
		s.e.schedule(time.Now().Add(time.Duration(rng.IntN(20))*time.Millisecond), func(due time.Time) { s.e.send(s.ctx, d, due, 1) })
	}
}

// dialAction reads the TwiML answer as Twilio does and returns the <Dial action> URL, or
// "" when the answer does not dial.
func dialAction(body []byte) (string, error) {
	var r struct {
		XMLName xml.Name `xml:"Response"`
		Dial    *struct {
			Action string `xml:"action,attr"`
		} `xml:"Dial"`
	}
	if err := xml.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("inbound answer is not TwiML: %w", err)
	}
	if r.Dial == nil {
		return "", nil
	}
	if r.Dial.Action == "" {
		return "", fmt.Errorf("inbound answer dials without an action URL")
	}
	return r.Dial.Action, nil
}

// encodeForm writes params as a form body, keys sorted as url.Values.Encode does, without
// its intermediate maps of slices.
func encodeForm(p twilio.Params) []byte {
	keys := make([]string, 0, len(p))
	n := 0
	for k, v := range p {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	b := make([]byte, 0, n+n/4)
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, url.QueryEscape(k)...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(p[k])...)
	}
	return b
}
