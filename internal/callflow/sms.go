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

// ClassifyKeyword reads a message body the way carriers do: the whole trimmed body, case
// insensitive, one keyword ("STOP please" is not STOP).
func ClassifyKeyword(body string) Keyword {
	b := strings.ToUpper(strings.TrimSpace(body))
	b = strings.Join(strings.Fields(b), " ")
	return keywords[b]
}
