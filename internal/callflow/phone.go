package callflow

import (
	"errors"
	"fmt"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
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
// Landlines, toll-free and other numbers that cannot take an SMS are not textable.
func Textable(from string) bool {
	if !strings.HasPrefix(from, "+") {
		return false
	}
	f := factsOf(from)
	if f.number == nil || f.typed {
		return f.textable
	}
	// The number's type is worked out the first time a rule asks: most deliveries only
	// need the number written for the owner.
	n := f.number
	f.typed = true
	f.textable = phonenumbers.IsValidNumber(n) && phonenumbers.Format(n, phonenumbers.E164) == from
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.UAN, phonenumbers.VOICEMAIL, phonenumbers.PAGER:
		f.textable = false
	}
	phones.Add(from, f)
	return f.textable
}

// phoneFacts is what the rules need to know of an E.164 number; parsing one takes tens of
// microseconds of regular expressions, and a business hears from the same numbers (its
// own above all) again and again.
type phoneFacts struct {
	number        *phonenumbers.PhoneNumber // nil when it does not parse
	country       int32
	national      string // "" until written
	international string // "" until written
	typed         bool   // textable is known
	textable      bool
}

// written returns e164 as the owner reads it: in the national format when national, else
// the international one, each worked out the first time it is asked for.
func written(e164 string, f phoneFacts, national bool) string {
	s, format := &f.international, phonenumbers.INTERNATIONAL
	if national {
		s, format = &f.national, phonenumbers.NATIONAL
	}
	if *s == "" {
		*s = phonenumbers.Format(f.number, format)
		phones.Add(e164, f)
	}
	return *s
}

// phones remembers the facts of recently seen numbers: a pure function's results,
// bounded, so that a flood of distinct numbers costs memory of a fixed size.
var phones = func() *lru.Cache[string, phoneFacts] {
	c, err := lru.New[string, phoneFacts](8192)
	if err != nil {
		panic(err)
	}
	return c
}()

func factsOf(e164 string) phoneFacts {
	if f, ok := phones.Get(e164); ok {
		return f
	}
	var f phoneFacts
	if n, err := phonenumbers.Parse(e164, ""); err == nil {
		f = phoneFacts{number: n, country: n.GetCountryCode()}
	}
	phones.Add(e164, f)
	return f
}
