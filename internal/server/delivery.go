package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

// ReplayHeader marks a delivery re-driven by `callsnare replay`, with the log id it came
// from, and ReplayTokenHeader carries the token replay finds its result by. Both are
// recorded only when the delivery's signature verified (anyone can send a header), and
// bypass neither verification nor dedupe.
const (
	ReplayHeader      = "X-Callsnare-Replay-Of"
	ReplayTokenHeader = "X-Callsnare-Replay-Token"
)

// maxReplayToken bounds the replay token kept (replay sends 32 hex digits).
const maxReplayToken = 64

// markReplay records a verified delivery's replay marks.
func markReplay(r *http.Request, ev *store.Evidence) {
	if id, err := strconv.ParseInt(r.Header.Get(ReplayHeader), 10, 64); err == nil && id > 0 {
		ev.ReplayOf = store.NullID(id)
	}
	if tok := r.Header.Get(ReplayTokenHeader); len(tok) <= maxReplayToken {
		ev.ReplayToken = tok
	}
}

// keptHeaders are the request headers the evidence keeps. None of them is a secret: a
// signature proves possession of a key without revealing it.
var keptHeaders = []string{
	"Content-Type", "User-Agent", "X-Twilio-Signature", "I-Twilio-Idempotency-Token",
	"Stripe-Signature", "X-Request-Id", "X-Forwarded-For", ReplayHeader,
}

// answer is what we reply to a delivery.
type answer struct {
	status      int
	contentType string
	body        string
}

// retryAfter is what a 503 tells the provider to wait, in seconds.
const retryAfter = "2"

func (a answer) write(w http.ResponseWriter) {
	if a.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	if a.contentType != "" {
		w.Header().Set("Content-Type", a.contentType)
	}
	w.WriteHeader(a.status)
	if a.body != "" {
		_, _ = io.WriteString(w, a.body)
	}
}

// badRequest is a delivery refused before it could be applied, with its status code.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func refuse(status int, format string, args ...any) error {
	return &badRequest{status: status, msg: fmt.Sprintf(format, args...)}
}

// errorStatus is the one place a delivery's failure becomes an HTTP status and a message
// safe to send back: a refusal says what was wrong with the request; a failed signature
// past its allowance is 429; anything else is ours, 503, so that the provider retries,
// and its detail stays in our log.
func errorStatus(err error) (int, string) {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		return br.status, br.msg
	case errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests, err.Error()
	default:
		return http.StatusServiceUnavailable, "temporarily unavailable"
	}
}

// refuseWith answers a delivery that will not be applied, in the provider's form
// (render): a refusal is logged as rejected with its evidence, a rate-limited one is not
// stored, and a failure of ours is logged as failed and answered 503.
func (s *Server) refuseWith(w http.ResponseWriter, r *http.Request, ev *store.Evidence, err error, render func(error) answer, unchecked string) {
	a := render(err)
	var br *badRequest
	switch {
	case errors.Is(err, errRateLimited):
		s.rateLimited(w, r, a)
	case errors.As(err, &br):
		if ev.Signature == "" { // refused before the signature was looked at
			ev.Signature = unchecked
		}
		ev.Status, ev.Error = store.StatusRejected, br.msg
		s.finish(w, r, ev, a, ev.ReceivedAt.Time)
	default:
		s.failWith(w, r, ev, a, err, ev.ReceivedAt.Time)
	}
}

// newEvidence starts the log row of a request with what is known before reading its body.
func (s *Server) newEvidence(r *http.Request, provider string, start time.Time) *store.Evidence {
	ev := &store.Evidence{
		ReceivedAt:  store.T(start),
		Provider:    provider,
		Route:       r.URL.Path,
		RemoteAddr:  r.RemoteAddr,
		URL:         s.publicBase(r) + r.RequestURI,
		ContentType: r.Header.Get("Content-Type"),
		Headers:     make(map[string]string, 4),
	}
	for _, h := range keptHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			ev.Headers[h] = strings.Join(v, ", ")
		}
	}
	return ev
}

// readDelivery checks method, size and content type and reads the raw body. The body is
// stored on the evidence even when refused (cut short past the size cap).
func (s *Server) readDelivery(w http.ResponseWriter, r *http.Request, ev *store.Evidence, wantType string) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		ev.SetBody(nil, false)
		return refuse(http.StatusMethodNotAllowed, "method %s not allowed: provider callbacks are POST", r.Method)
	}
	// Read into one buffer sized by Content-Length when it is given and allowed, not
	// grown from 512 bytes by doubling.
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= s.cfg.MaxBody {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	body := buf.Bytes()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			// The store keeps a prefix of a refused body; length and digest are of what
			// was read up to the cap.
			ev.SetBody(body, true)
			return refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", s.cfg.MaxBody)
		}
		ev.SetBody(body, true)
		return refuse(http.StatusBadRequest, "read body: %v", err)
	}
	ev.SetBody(body, false)
	if !isMediaType(r.Header.Get("Content-Type"), wantType) {
		return refuse(http.StatusUnsupportedMediaType, "content type %q: want %s", r.Header.Get("Content-Type"), wantType)
	}
	return nil
}

// isMediaType reports whether a Content-Type header names the media type want (its
// parameters, such as charset, may be anything well-formed).
func isMediaType(header, want string) bool {
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && mt == want
}
