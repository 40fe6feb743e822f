package simulate

import (
	"sync"
	"time"

	"github.com/callsnare/callsnare/internal/billing"
	"github.com/callsnare/callsnare/internal/store"
)

// simOrg is an org the run provisioned.
type simOrg struct {
	store.Org
	number    string // its tracked number
	lifecycle bool   // plays a Stripe lifecycle
	// afterHours: the org's hours exclude the whole run, so its missed calls get the
	// after-hours text.
	afterHours bool
	customer   string
}

// callRec is one simulated call: what was planned and what the target acknowledged.
type callRec struct {
	sid        string
	org        *simOrg
	from       string
	textable   bool
	dialStatus string // drawn from the mix
	reorder    bool

	mu        sync.Mutex
	inboundOK bool
	noDial    bool // the answer had no <Dial>: the org forwards nowhere
	dialSent  bool
	dialOK    bool
	statusOK  bool
	flowErr   string
}

// smsRec is one inbound SMS a caller sent.
type smsRec struct {
	sid     string
	org     *simOrg
	phone   string
	keyword string // "stop", "start" or ""
	sentAt  time.Time
	ackAt   time.Time // first 2xx; zero when never acknowledged
}

// eventRec is one Stripe event of an org's lifecycle.
type eventRec struct {
	org   *simOrg
	event billing.Event
	sent  time.Time
	ackAt time.Time
}

// ledger is everything sent that the verdict checks against.
type ledger struct {
	mu       sync.Mutex
	calls    []*callRec
	sms      []*smsRec
	events   []*eventRec
	statuses []*statusRec
	// ghosts are the ids only forged or broken deliveries carried: the target must not
	// know them.
	ghostCalls  []string
	ghostSMS    []string
	ghostEvents []string
	forged      int
}

func (l *ledger) addCall(c *callRec) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

func (l *ledger) addSMS(m *smsRec) {
	l.mu.Lock()
	l.sms = append(l.sms, m)
	l.mu.Unlock()
}

func (l *ledger) ghost(list *[]string, id string) {
	l.mu.Lock()
	*list = append(*list, id)
	l.forged++
	l.mu.Unlock()
}

// acked stamps the first acknowledgement of a record.
func (l *ledger) acked(t *time.Time, a answer) {
	if !a.ok() {
		return
	}
	l.mu.Lock()
	if t.IsZero() {
		*t = a.at
	}
	l.mu.Unlock()
}
