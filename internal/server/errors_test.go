package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/callsnare/callsnare/internal/store"
)

// TestErrorAnswers: every failure a route can meet becomes its status and body in one
// place, in each provider's form; nothing of ours leaks into a 5xx.
func TestErrorAnswers(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"refusal", refuse(http.StatusBadRequest, "missing parameter %s", "CallSid"), http.StatusBadRequest, "missing parameter CallSid"},
		{"wrapped refusal", fmt.Errorf("read: %w", refuse(http.StatusForbidden, "signature invalid")), http.StatusForbidden, "signature invalid"},
		{"rate limited", errRateLimited, http.StatusTooManyRequests, errRateLimited.Error()},
		{"deadline", fmt.Errorf("write: %w", store.ErrDeadline), http.StatusServiceUnavailable, "temporarily unavailable"},
		{"database detail", errors.New("pq: relation webhook_log does not exist"), http.StatusServiceUnavailable, "temporarily unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := errorStatus(tt.err)
			if status != tt.status || msg != tt.msg {
				t.Fatalf("errorStatus = %d %q, want %d %q", status, msg, tt.status, tt.msg)
			}
			if a := stripeError(tt.err); a.status != tt.status || a.contentType != contentTypeJSON || !strings.Contains(a.body, tt.msg) {
				t.Errorf("stripe answer %+v", a)
			}
			if a := twilioError(tt.err, false); a.status != tt.status || a.body != tt.msg+"\n" {
				t.Errorf("twilio answer %+v", a)
			}
			// A caller may be listening: the voice routes answer TwiML whatever went wrong.
			if a := twilioError(tt.err, true); a.status != tt.status || a.contentType != contentTypeXML || !strings.Contains(a.body, "<Hangup") {
				t.Errorf("twilio voice answer %+v", a)
			}
		})
	}
}
