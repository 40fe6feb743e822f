package replay

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCurlCommandSurvivesTheShell runs the rendered command through sh with curl replaced
// by a script that prints what it was given: quotes, newlines and binary bodies come out
// byte for byte.
func TestCurlCommandSurvivesTheShell(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on this machine")
	}
	tests := []struct {
		name string
		body string
	}{
		{"form", "Body=it%27s+broken&From=%2B15125550123"},
		{"quotes and newlines", "{\"a\":\"it's\",\n\"b\":\"$(rm -rf /)\"}"},
		{"binary", "\x00\xff\xfe bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := curlCommand("POST", "http://127.0.0.1:8080/api/twilio/sms/inbound?x=1&y='2'",
				map[string][]string{"X-Twilio-Signature": {"abc='+/="}}, []byte(tt.body))
			// A stand-in curl prints its arguments and the body it would read.
			script := `curl() { for a in "$@"; do printf '[%s]' "$a"; done; if [ "$9" = "@-" ] || [ "${10}" = "@-" ]; then printf '{'; cat; printf '}'; fi; }; ` + cmd
			out, err := exec.Command("sh", "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("sh: %v\n%s\n%s", err, cmd, out)
			}
			got := string(out)
			if !strings.Contains(got, "[http://127.0.0.1:8080/api/twilio/sms/inbound?x=1&y='2']") ||
				!strings.Contains(got, "[X-Twilio-Signature: abc='+/=]") {
				t.Errorf("arguments mangled:\n%s", got)
			}
			if !strings.Contains(got, "["+tt.body+"]") && !strings.Contains(got, "{"+tt.body+"}") {
				t.Errorf("body mangled: want %q in\n%q", tt.body, got)
			}
		})
	}
}
