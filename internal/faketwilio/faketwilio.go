// Package faketwilio is a local stand-in for Twilio's Messages REST API, used by tests,
// `serve --demo` and the simulator. It records what was "sent" and can be scripted to
// fail the ways the real API does.
package faketwilio

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Response is a scripted answer to the next send.
type Response int

const (
	Accept                Response = iota // 201, recorded
	TooManyRequests                       // 429 (code 20429), not recorded: safe to resend
	ServerError                           // 500, not recorded
	AcceptThenServerError                 // recorded, but answered 500: the "unknown result" case
	OptedOut                              // 400 with code 21610, not recorded
	Hang                                  // no answer until the client gives up, nothing recorded
)

// Options configure the fake.
type Options struct {
	AccountSID string        // when set, other accounts get 404
	AuthToken  string        // when set, HTTP basic auth must match
	FailRate   float64       // fraction of sends answered 500 without recording
	Latency    time.Duration // added to every request
	Seed       uint64
	Logger     *slog.Logger
}

// Message is one message the fake accepted.
type Message struct {
	SID        string
	AccountSID string
	From, To   string
	Body       string
	Status     string
	Created    time.Time
}

// Server is the fake API; it is an http.Handler.
type Server struct {
	opts     Options
	mu       sync.Mutex
	rng      *rand.Rand
	script   []Response
	msgs     []Message
	optedOut map[string]bool
	requests int
	srv      *http.Server
	closed   chan struct{}
	once     sync.Once
	mux      *http.ServeMux
}

// New builds a fake; Start serves it on a port, or use it as a handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		optedOut: map[string]bool{}, closed: make(chan struct{})}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /2010-04-01/Accounts/{account}/Messages.json", s.create)
	s.mux.HandleFunc("GET /2010-04-01/Accounts/{account}/Messages.json", s.list)
	s.mux.HandleFunc("GET /2010-04-01/Accounts/{account}/Messages/{sid}", s.fetch)
	return s
}

// Start listens on addr (use 127.0.0.1:0) and returns the base URL to configure.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the server and releases hanging requests.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closed) })
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Script queues answers for the next sends, in order; then FailRate applies again.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, rs...)
}

// OptOut makes sends to number fail with 21610, as after the handset texted STOP.
func (s *Server) OptOut(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optedOut[number] = true
}

// Messages returns the accepted messages in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// SentTo returns the accepted messages to one number.
func (s *Server) SentTo(number string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

// Count is the number of accepted messages.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Requests is the number of send attempts, whatever their answer.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Reset forgets messages, script and counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs, s.script, s.requests = nil, nil, 0
}

// ServeHTTP checks the account and credentials, adds latency, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		select {
		case <-time.After(s.opts.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if s.opts.AuthToken != "" {
		user, pass, ok := r.BasicAuth()
		if !ok || pass != s.opts.AuthToken || (s.opts.AccountSID != "" && user != s.opts.AccountSID) {
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) accountOK(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.AccountSID != "" && r.PathValue("account") != s.opts.AccountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource was not found")
		return false
	}
	return true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	if !s.accountOK(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 21600, "malformed form: "+err.Error())
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	if from == "" {
		from = r.PostForm.Get("MessagingServiceSid")
	}
	if to == "" || from == "" {
		writeError(w, http.StatusBadRequest, 21604, "A 'To' and a 'From' phone number are required.")
		return
	}
	s.mu.Lock()
	s.requests++
	resp := Accept
	switch {
	case len(s.script) > 0:
		resp, s.script = s.script[0], s.script[1:]
	case s.opts.FailRate > 0 && s.rng.Float64() < s.opts.FailRate:
		resp = ServerError
	}
	if s.optedOut[to] && (resp == Accept || resp == AcceptThenServerError) {
		resp = OptedOut
	}
	var m Message
	if resp == Accept || resp == AcceptThenServerError {
		m = Message{SID: newSID("SM"), AccountSID: r.PathValue("account"), From: from, To: to, Body: body,
			Status: "queued", Created: time.Now().UTC()}
		s.msgs = append(s.msgs, m)
	}
	s.mu.Unlock()
	switch resp {
	case Accept:
		s.opts.Logger.Debug("fake_twilio_message", "sid", m.SID, "to", m.To)
		writeJSON(w, http.StatusCreated, resource(m))
	case TooManyRequests:
		writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
	case OptedOut:
		writeError(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
	default:
		writeError(w, http.StatusInternalServerError, 20500, "Internal Server Error")
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	if !s.accountOK(w, r) {
		return
	}
	q := r.URL.Query()
	var after time.Time
	if v := q.Get("DateSent>"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, 20001, "invalid DateSent>")
			return
		}
		after = t
	}
	out := []map[string]any{}
	for _, m := range s.Messages() {
		if (q.Get("To") != "" && m.To != q.Get("To")) || (q.Get("From") != "" && m.From != q.Get("From")) ||
			m.AccountSID != r.PathValue("account") || m.Created.Before(after.Truncate(24*time.Hour)) {
			continue // Twilio compares DateSent> by day
		}
		out = append(out, resource(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messages": out, "page": 0, "page_size": len(out), "first_page_uri": r.URL.RequestURI(),
		"next_page_uri": nil, "previous_page_uri": nil, "uri": r.URL.RequestURI(), "start": 0, "end": len(out),
	})
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request) {
	if !s.accountOK(w, r) {
		return
	}
	sid := strings.TrimSuffix(r.PathValue("sid"), ".json")
	for _, m := range s.Messages() {
		if m.SID == sid {
			writeJSON(w, http.StatusOK, resource(m))
			return
		}
	}
	writeError(w, http.StatusNotFound, 20404, "The requested resource was not found")
}

// resource is a message as Twilio's API renders it.
func resource(m Message) map[string]any {
	created := m.Created.Format(time.RFC1123Z)
	return map[string]any{
		"sid": m.SID, "account_sid": m.AccountSID, "to": m.To, "from": m.From, "body": m.Body,
		"status": m.Status, "direction": "outbound-api", "api_version": "2010-04-01",
		"date_created": created, "date_updated": created, "date_sent": created,
		"num_segments": "1", "num_media": "0", "price": nil, "price_unit": "USD",
		"error_code": nil, "error_message": nil, "messaging_service_sid": nil,
		"uri":              fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", m.AccountSID, m.SID),
		"subresource_uris": map[string]string{"media": fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s/Media.json", m.AccountSID, m.SID)},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)})
}

func newSID(prefix string) string {
	b := make([]byte, 16)
	if _, err := cryptoRead(b); err != nil {
		panic(errors.New("no randomness"))
	}
	return prefix + hex.EncodeToString(b)
}

var cryptoRead = crand.Read
