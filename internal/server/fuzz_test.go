package server

import (
	"strings"
	"testing"
)

// The media-type check accepts exactly the wanted type, in any case, with any
// well-formed parameters, and never panics on a hostile header.
func FuzzIsMediaType(f *testing.F) {
	for _, s := range []string{"application/json", "application/x-www-form-urlencoded; charset=utf-8",
		"APPLICATION/JSON; charset=\"utf-8\"", "application/json; charset=\xff\xc0\xaf", "text/xml", "", ";;;", "application/json\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		for _, want := range []string{"application/json", "application/x-www-form-urlencoded"} {
			if isMediaType(header, want) {
				mt, _, _ := strings.Cut(header, ";")
				if !strings.EqualFold(strings.TrimSpace(mt), want) {
					t.Fatalf("%q accepted as %s", header, want)
				}
			}
		}
	})
}
