package cleantext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		in, want string
		changed  bool
	}{
		{"plain", "plain", false},
		{"é ok", "é ok", false},
		{"a\x00b", "ab", true},
		{"bad \xff\xfe end", "bad \uFFFD end", true},
		{"overlong \xc0\xaf", "overlong \uFFFD", true},
		{"\x00\xff", "\uFFFD", true},
	}
	for _, tt := range tests {
		got, changed := String(tt.in)
		if got != tt.want || changed != tt.changed {
			t.Errorf("String(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
		}
	}
}

func TestStrings(t *testing.T) {
	type inner struct {
		S    string
		M    map[string]string
		L    []string
		hide string
	}
	v := struct {
		A string
		P *inner
	}{A: "x\x00", P: &inner{S: "\xff", M: map[string]string{"k\x00": "v\xff"}, L: []string{"ok", "\x00"}, hide: "\x00"}}
	if !Strings(&v) {
		t.Fatal("Strings reported no change")
	}
	if v.A != "x" || v.P.S != "\uFFFD" || v.P.M["k"] != "v\uFFFD" || len(v.P.M) != 1 || v.P.L[1] != "" || v.P.hide != "\x00" {
		t.Errorf("cleaned %+v %+v", v, *v.P)
	}
	if Strings(&v) {
		t.Error("cleaning clean values reported a change")
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a\x00b", "\xff\xfe", "\xc0\xaf", "é\x00\xe9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, changed := String(s)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("String(%q) = %q", s, got)
		}
		if changed == (got == s) {
			t.Fatalf("String(%q) = %q, changed %v", s, got, changed)
		}
		if again, c := String(got); c || again != got {
			t.Fatalf("not idempotent on %q", got)
		}
		if cut, _ := Truncate(got, 7); len(cut) > 7 || !utf8.ValidString(cut) {
			t.Fatalf("Truncate(%q, 7) = %q", got, cut)
		}
	})
}
