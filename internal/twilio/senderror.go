package twilio

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	twilioclient "github.com/twilio/twilio-go/client"
)

// SendErrorKind says what a failed send means for a resend.
type SendErrorKind string

const (
	// ErrKindRetrySafe: Twilio did not process the message (429, or the
	// connection was never made); resending is safe, with backoff.
	ErrKindRetrySafe SendErrorKind = "retry_safe"
	// ErrKindUnknown: the message may have been accepted (5xx, timeout,
	// network error after connecting). The Messages API has no idempotency
	// key, so look the message up before any resend.
	ErrKindUnknown SendErrorKind = "unknown"
	// ErrKindPermanent: Twilio refused the message (other 4xx, e.g. 21610
	// opted out, 21211 invalid number); do not resend.
	ErrKindPermanent SendErrorKind = "permanent"
)

// SendError is a failed send, classified for retrying.
type SendError struct {
	Kind       SendErrorKind
	Code       int // Twilio error code, 0 when none
	HTTPStatus int // 0 when no answer arrived
	Message    string
	Err        error
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "send sms (%s)", e.Kind)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": status %d", e.HTTPStatus)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": code %d", e.Code)
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case e.Err != nil:
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// KindOf returns the kind of a *SendError in err's chain, and
// ErrKindUnknown for any other error: not knowing is the cautious answer.
func KindOf(err error) SendErrorKind {
	var se *SendError
	if errors.As(err, &se) {
		return se.Kind
	}
	return ErrKindUnknown
}

// classify turns a twilio-go error into a *SendError. lastStatus is the
// status of the last HTTP answer, 0 if none arrived.
func classify(err error, lastStatus int) *SendError {
	var rest *twilioclient.TwilioRestError
	if errors.As(err, &rest) {
		status := rest.Status
		if status == 0 {
			status = lastStatus
		}
		return &SendError{Kind: kindForStatus(status), Code: rest.Code, HTTPStatus: status, Message: rest.Message, Err: err}
	}
	var restV1 *twilioclient.RestErrorV1
	if errors.As(err, &restV1) {
		status := restV1.HttpStatusCode
		if status == 0 {
			status = lastStatus
		}
		return &SendError{Kind: kindForStatus(status), Code: restV1.Code, HTTPStatus: status, Message: restV1.Message, Err: err}
	}
	if lastStatus >= http.StatusBadRequest {
		// An error answer whose body twilio-go could not decode.
		return &SendError{Kind: kindForStatus(lastStatus), HTTPStatus: lastStatus, Err: err}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		// No connection, so no request reached Twilio.
		return &SendError{Kind: ErrKindRetrySafe, Err: err}
	}
	return &SendError{Kind: ErrKindUnknown, HTTPStatus: lastStatus, Err: err}
}

func kindForStatus(status int) SendErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return ErrKindRetrySafe
	case status >= 400 && status < 500:
		return ErrKindPermanent
	default:
		return ErrKindUnknown
	}
}
