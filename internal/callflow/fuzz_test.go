package callflow

import (
	"strings"
	"testing"
)

// The keyword classifier reads the whole trimmed message: padding never changes it, and
// it never panics on any bytes.
func FuzzClassifyKeyword(f *testing.F) {
	for _, s := range []string{"STOP", "stop all", " Start ", "STOP please", "\x00STOP", "ＳＴＯＰ", "\xff\xfe", "help"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		k := ClassifyKeyword(body)
		if got := ClassifyKeyword(" \t" + body + "\n "); got != k {
			t.Fatalf("%q is %q but padded it is %q", body, k, got)
		}
		// A keyword is one word ("STOP ALL" is the only two-word one): a sentence is none.
		if k != KeywordNone && len(strings.Fields(body)) > 2 {
			t.Fatalf("%q classified %q", body, k)
		}
	})
}

// The phone classifier gives E.164 or an error for any input, and a number it normalises
// normalises to itself again.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+15125550123", "(512) 555-0199", "anonymous", "client:alice", "sip:a@b", "+266696687", "\x00+1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := NormalizePhone(s, "US")
		_ = Textable(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(e, "+") {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", s, e)
		}
		if again, err := NormalizePhone(e, "US"); err != nil || again != e {
			t.Fatalf("NormalizePhone(%q) = %q, %v; want itself", e, again, err)
		}
	})
}
