package twilio

import (
	"errors"
	"fmt"
)

// ErrBadParam reports a parameter that is not what Twilio sends: a SID not of Twilio's
// published shape, or a value longer than any Twilio sends. Such values never become keys.
var ErrBadParam = errors.New("bad parameter")

// ValidSID reports whether s has the shape of a Twilio SID with one of the given
// two-letter prefixes: the prefix and 32 hexadecimal digits.
func ValidSID(s string, prefixes ...string) bool {
	if len(s) != 34 {
		return false
	}
	ok := false
	for _, p := range prefixes {
		if s[:2] == p {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// The longest value accepted for a party (a phone number, client: or sip: address) and
// for a status word.
const (
	maxParty  = 256
	maxStatus = 32
)

// sidParams are the SIDs a callback may carry and the prefixes each may have.
var sidParams = []struct {
	key      string
	prefixes []string
}{
	{"AccountSid", []string{"AC"}},
	{"CallSid", []string{"CA"}},
	{"DialCallSid", []string{"CA"}},
	{"MessageSid", []string{"SM", "MM"}},
}

// CheckParams checks the parameters that become keys or are looked up by: SIDs against
// their shape, parties, statuses and sequence numbers against their bounds. An absent
// parameter is not checked (the route's own rules say which are required).
func CheckParams(p Params) error {
	for _, sp := range sidParams {
		if v, ok := p[sp.key]; ok && !ValidSID(v, sp.prefixes...) {
			return fmt.Errorf("%w: %s is not a Twilio SID (%s and 32 hex digits)", ErrBadParam, sp.key, sp.prefixes[0])
		}
	}
	for _, k := range []string{"From", "To", "Caller", "Called"} {
		if len(p[k]) > maxParty {
			return fmt.Errorf("%w: %s longer than %d bytes", ErrBadParam, k, maxParty)
		}
	}
	for _, k := range []string{"CallStatus", "DialCallStatus", "MessageStatus", "SmsStatus"} {
		if len(p[k]) > maxStatus {
			return fmt.Errorf("%w: %s longer than %d bytes", ErrBadParam, k, maxStatus)
		}
	}
	if v, ok := p["SequenceNumber"]; ok && (len(v) > 10 || !digits(v)) {
		return fmt.Errorf("%w: SequenceNumber is not a number", ErrBadParam)
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
