package logview

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// noControl reports whether escaped text is safe for a terminal.
func noControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidi(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func boundedLines(t *testing.T, what string, lines []string) {
	t.Helper()
	if len(lines) > maxLines+1 {
		t.Fatalf("%s: %d lines", what, len(lines))
	}
	for _, l := range lines {
		if len(l) > maxLineBytes+64 {
			t.Fatalf("%s: a line of %d bytes", what, len(l))
		}
	}
}

// Every printer of untrusted payloads stays within its bounds and escapes what reaches
// the screen, whatever the bytes.
func FuzzPayloadPrinters(f *testing.F) {
	for _, s := range []string{
		`{"id":"evt_1","data":{"object":{"metadata":{"callsnare_org":"acme\u0000"}}}}`,
		strings.Repeat("[", 200), strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
		"CallSid=CA1&Body=%1b%5b2J%c2%9b&From=%2B15125550123", "<Response><Say>\x1b]0;x\x07</Say></Response>",
		strings.Repeat("<a>", 100), "\xff\xfe\x00", "a=%zz&&=",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseJSON(b); err == nil {
			boundedLines(t, "json", boundLines(prettyJSON(n, 0)))
			boundedLines(t, "folded json", boundLines(prettyJSON(n, 2)))
		}
		if params, ok := parseFormOrdered(b); ok {
			if len(params) > maxNodes {
				t.Fatalf("%d form parameters", len(params))
			}
			for _, l := range boundLines(formTable(pii{}.maskForm(params))) {
				if !noControl(l) {
					t.Fatalf("form line %q reaches the screen unescaped", l)
				}
			}
		}
		if lines, err := prettyXML(string(b)); err == nil {
			boundedLines(t, "xml", boundLines(lines))
		}
		if e := escape(string(b)); !noControl(e) {
			t.Fatalf("escape(%q) = %q", b, e)
		}
	})
}
