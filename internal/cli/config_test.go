package cli

import (
	"strings"
	"testing"
)

// TestSplitList reads comma-separated settings (rotated Stripe secrets, subaccount
// tokens) the way an operator writes them, blanks and spaces included.
func TestSplitList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"whsec_a", []string{"whsec_a"}},
		{" whsec_a , whsec_b,,", []string{"whsec_a", "whsec_b"}},
	} {
		got := splitList(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
