package callflow

import "strings"

// Keyword is the meaning of an inbound SMS whose whole body is one carrier keyword.
type Keyword string

const (
	KeywordNone   Keyword = ""
	KeywordOptOut Keyword = "opt_out"
	KeywordOptIn  Keyword = "opt_in"
	KeywordHelp   Keyword = "help"
)

var keywords = map[string]Keyword{
	"STOP": KeywordOptOut, "STOPALL": KeywordOptOut, "STOP ALL": KeywordOptOut,
	"UNSUBSCRIBE": KeywordOptOut, "CANCEL": KeywordOptOut, "END": KeywordOptOut,
	"QUIT": KeywordOptOut, "OPTOUT": KeywordOptOut, "REVOKE": KeywordOptOut,
	"START": KeywordOptIn, "YES": KeywordOptIn, "UNSTOP": KeywordOptIn,
	"HELP": KeywordHelp, "INFO": KeywordHelp,
}

// longestKeyword is the length of the longest keyword, in bytes.
var longestKeyword = func() int {
	n := 0
	for k := range keywords {
		n = max(n, len(k))
	}
	return n
}()

// ClassifyKeyword reads a message body the way carriers do: the whole trimmed body, case
// insensitive, one keyword ("STOP please" is not STOP).
func ClassifyKeyword(body string) Keyword {
	// Most bodies are conversation, longer than any keyword: they are told apart without
	// copying them. Upper-casing can shorten a letter to a third of its bytes ("ſ" is "S").
	n := -1
	for w := range strings.FieldsSeq(body) {
		if n += 1 + len(w); n > 3*longestKeyword {
			return KeywordNone
		}
	}
	b := strings.ToUpper(strings.TrimSpace(body))
	b = strings.Join(strings.Fields(b), " ")
	return keywords[b]
}
