package callflow

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultUrgentKeywords make a reply urgent when an org has set none of its own.
var DefaultUrgentKeywords = []string{"no heat", "no ac", "no a/c", "gas", "carbon monoxide", "smoke", "flood", "leak", "emergency"}

// UrgentKeywords splits an org's comma-separated list; "" gives the defaults.
func UrgentKeywords(list string) []string {
	var out []string
	for _, k := range strings.Split(list, ",") {
		if k = folded(k); k != "" {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return DefaultUrgentKeywords
	}
	return out
}

// Urgent reports whether body names one of the keywords as words of its own ("gas" in
// "I smell gas", not in "gasket"), allowing the usual endings ("leaking", "floods").
func Urgent(body string, keywords []string) bool {
	text := folded(body)
	for _, k := range keywords {
		for i := 0; i < len(text); {
			j := strings.Index(text[i:], k)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(k)
			if (start == 0 || !isWordRune(rune(text[start-1]))) && wordEnds(text[end:]) {
				return true
			}
			i = start + 1
		}
	}
	return false
}

// folded is s in lower case with its runs of spaces made one space and its ends trimmed
// (strings.Fields, joined), in one pass: it runs on every reply's body.
func folded(s string) string { return fold(s, true) }

// fold is folded, lowering the case only when lower says so (bytes that are not UTF-8
// are then kept as they are, as strings.Fields keeps them).
func fold(s string, lower bool) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		word := s[i : i+size]
		i += size
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		switch {
		case !lower:
			b.WriteString(word)
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// wordEnds reports whether rest (what follows a keyword) ends the word, or ends it after
// a common suffix.
func wordEnds(rest string) bool {
	n := strings.IndexFunc(rest, func(r rune) bool { return !isWordRune(r) })
	if n < 0 {
		n = len(rest)
	}
	switch rest[:n] {
	case "", "s", "es", "ing", "ed", "y":
		return true
	}
	return false
}

// HumanPhone writes an E.164 number the way people read it: national format for a number
// of the org's own country ("(512) 555-0123"), international otherwise.
func HumanPhone(e164, orgNumber string) string {
	n := factsOf(e164)
	if n.number == nil {
		return e164
	}
	org := factsOf(orgNumber)
	return written(e164, n, org.number != nil && org.country == n.country)
}

// Notification reasons: why the owner was not told.
const (
	NotifyNoNumber    = "no_notify_number"
	NotifyNotEntitled = "not_entitled"
	NotifyIsCaller    = "notify_is_caller"
)

// DecideNotify says whether the org's notify number is told of an event from caller, and
// if not, why.
func DecideNotify(notifyNumber, caller string, entitled bool) string {
	switch {
	case notifyNumber == "":
		return NotifyNoNumber
	case !entitled:
		return NotifyNotEntitled
	case notifyNumber == caller:
		return NotifyIsCaller
	}
	return ""
}

// maxQuote bounds the part of a reply quoted to the owner, so the notification stays one
// or two SMS segments.
const maxQuote = 120

// MissedCallNotice is the owner's SMS about a missed call.
func MissedCallNotice(callerHuman string, textedBack bool) string {
	msg := "Missed call from " + callerHuman + "."
	if textedBack {
		return msg + " We texted them back."
	}
	return msg + " They were not texted back."
}

// Reply is what the owner's notification of a reply takes from its words, worked out
// once: whether the org's urgent keywords (Keywords, as the org set them) make it urgent,
// and the quote, shortened.
type Reply struct {
	Keywords string
	Urgent   bool
	Quote    string
}

// ReadReply reads a reply for its owner's notification: body, or when it has no words and
// carries media, how many; keywords is the org's comma-separated list ("" for the defaults).
func ReadReply(body string, media int, keywords string) Reply {
	if body == "" && media > 0 {
		body = fmt.Sprintf("[%d media]", media)
	}
	r := Reply{Keywords: keywords, Urgent: Urgent(body, UrgentKeywords(keywords))}
	r.Quote = fold(body, false)
	if utf8.RuneCountInString(r.Quote) > maxQuote {
		n := 0
		for i := range r.Quote {
			if n == maxQuote-1 {
				r.Quote = strings.TrimSpace(r.Quote[:i]) + "…"
				break
			}
			n++
		}
	}
	return r
}

// Notice is the owner's SMS about the reply, naming the caller as given; URGENT first when
// the reply is.
func (r Reply) Notice(callerHuman string) string {
	msg := "Reply from " + callerHuman + `: "` + r.Quote + `"`
	if r.Quote == "" {
		msg = "Reply from " + callerHuman + " (no text)"
	}
	if r.Urgent {
		return "URGENT " + msg
	}
	return msg
}
