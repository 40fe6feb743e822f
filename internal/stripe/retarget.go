package stripe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	stripefixtures "github.com/callsnare/callsnare/fixtures/stripe"
	"github.com/callsnare/callsnare/internal/billing"
)

// Fixture is one embedded event payload.
type Fixture struct {
	Name    string
	Payload []byte
}

// Lifecycle returns the numbered fixtures of one org's billing lifecycle, in the order
// Stripe sent them.
func Lifecycle() ([]Fixture, error) {
	names, err := fs.Glob(stripefixtures.FS, "[0-9][0-9]_*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Fixture, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(stripefixtures.FS, n)
		if err != nil {
			return nil, err
		}
		out = append(out, Fixture{Name: path.Base(n), Payload: b})
	}
	return out, nil
}

// LoadFixture returns one embedded fixture by file name.
func LoadFixture(name string) ([]byte, error) {
	return fs.ReadFile(stripefixtures.FS, name)
}

// timestampKeys are the fields, at any depth, that hold Unix times.
var timestampKeys = map[string]bool{
	"created": true, "current_period_start": true, "current_period_end": true,
	"trial_start": true, "trial_end": true, "billing_cycle_anchor": true,
	"start_date": true, "cancel_at": true, "canceled_at": true, "ended_at": true,
	"period_start": true, "period_end": true, "start": true, "end": true,
	"expires_at": true, "finalized_at": true, "paid_at": true, "voided_at": true,
	"marked_uncollectible_at": true, "next_payment_attempt": true, "due_date": true,
	"effective_at": true, "webhooks_delivered_at": true,
}

// perCustomerPrefixes are the ids of objects that belong to one customer and must not be
// shared between retargeted lifecycles (prices and products are shared).
var perCustomerPrefixes = []string{"in_", "il_", "si_", "cs_test_", "cs_live_", "seti_", "pi_", "ch_", "pm_"}

// Retarget rewrites a fixture for another org: the event id (left alone when empty), the
// org slug (metadata callsnare_org and client_reference_id), the customer and
// subscription ids wherever they appear (also inside URLs), and every timestamp, moved
// by the same amount as the event's created moves to the given time. Other per-customer
// ids (invoices, lines, items, sessions, payment objects) are derived from the customer,
// so retargeting a whole lifecycle with one customer keeps it consistent and different
// customers never share an invoice id. To keep a lifecycle's spacing, move every event
// by the same shift.
func Retarget(payload []byte, eventID, org, customer, subscription string, created time.Time) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	data, _ := ev["data"].(map[string]any)
	obj, _ := data["object"].(map[string]any)
	if obj == nil {
		return nil, fmt.Errorf("%w: no data.object", ErrMalformed)
	}
	oldCreated, err := jsonInt(ev["created"])
	if err != nil {
		return nil, fmt.Errorf("%w: created: %w", ErrMalformed, err)
	}
	shift := created.Unix() - oldCreated

	ids := map[string]string{} // old id -> new id, applied to every string
	oldCus, oldSub := ownerIDs(obj)
	if customer != "" && oldCus != "" {
		ids[oldCus] = customer
	}
	if subscription != "" && oldSub != "" {
		ids[oldSub] = subscription
	}
	ns := customer
	if ns == "" {
		ns = oldCus
	}
	collectIDs(data, ns, ids) // previous_attributes too

	r := retargeter{ids: ids, org: org, shift: shift}
	out := r.walk("", ev).(map[string]any)
	if eventID != "" {
		out["id"] = eventID
	}
	out["created"] = json.Number(strconv.FormatInt(created.Unix(), 10))
	return json.Marshal(out)
}

// ownerIDs finds the customer and subscription an event's object belongs to.
func ownerIDs(obj map[string]any) (customer, subscription string) {
	switch obj["object"] {
	case "customer":
		customer, _ = obj["id"].(string)
	case "subscription":
		subscription, _ = obj["id"].(string)
	}
	if customer == "" {
		customer = idOf(obj["customer"])
	}
	if subscription == "" {
		subscription = idOf(obj["subscription"])
	}
	return customer, subscription
}

func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["id"].(string)
		return s
	}
	return ""
}

// collectIDs maps every per-customer id in v to one derived from the namespace.
func collectIDs(v any, ns string, ids map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			collectIDs(c, ns, ids)
		}
	case []any:
		for _, c := range x {
			collectIDs(c, ns, ids)
		}
	case string:
		if _, done := ids[x]; done {
			return
		}
		for _, p := range perCustomerPrefixes {
			if strings.HasPrefix(x, p) && looksLikeID(x[len(p):]) {
				sum := sha256.Sum256([]byte(ns + "\x00" + x))
				h := hex.EncodeToString(sum[:])
				n := len(x) - len(p)
				if n > len(h) {
					n = len(h)
				}
				ids[x] = p + h[:n]
				return
			}
		}
	}
}

// looksLikeID reports whether s could be the random part of a Stripe id (base62 with
// digits and capitals), and not a word such as the rest of "in_progress".
func looksLikeID(s string) bool {
	if len(s) < 8 {
		return false
	}
	digit, upper := false, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return digit && upper
}

type retargeter struct {
	ids   map[string]string
	org   string
	shift int64
}

func (r retargeter) walk(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = r.walk(k, c)
		}
		return x
	case []any:
		for i, c := range x {
			x[i] = r.walk(key, c)
		}
		return x
	case string:
		if r.org != "" && (key == billing.OrgMetadataKey || key == "client_reference_id") {
			return r.org
		}
		if n, ok := r.ids[x]; ok {
			return n
		}
		for o, n := range r.ids { // URLs and secrets that embed ids
			if strings.Contains(x, o) {
				x = strings.ReplaceAll(x, o, n)
			}
		}
		return x
	case json.Number:
		if timestampKeys[key] && r.shift != 0 {
			if n, err := x.Int64(); err == nil && n > 0 {
				return json.Number(strconv.FormatInt(n+r.shift, 10))
			}
		}
		return x
	}
	return v
}

func jsonInt(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("not a number: %v", v)
	}
	return n.Int64()
}
