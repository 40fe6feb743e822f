package callflow

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidPhone is returned for input that is not a valid phone number.
var ErrInvalidPhone = errors.New("invalid phone number")

// NormalizePhone parses a number written any usual way ("(512) 555-0100", "+1 512...")
// and returns it in E.164. Numbers without a country code are read in defaultRegion.
func NormalizePhone(s, defaultRegion string) (string, error) {
	if defaultRegion == "" {
		defaultRegion = "US"
	}
	n, err := phonenumbers.Parse(strings.TrimSpace(s), defaultRegion)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("%w: %q", ErrInvalidPhone, s)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// Textable reports whether a caller ID can receive a text: a valid E.164 number, not
// "anonymous", "client:..." or "sip:...", nor the placeholders carriers use for hidden IDs.
func Textable(from string) bool {
	if !strings.HasPrefix(from, "+") {
		return false
	}
	n, err := phonenumbers.Parse(from, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return false
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.UAN, phonenumbers.VOICEMAIL, phonenumbers.PAGER:
		return false
	}
	return phonenumbers.Format(n, phonenumbers.E164) == from
}
