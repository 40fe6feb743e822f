// Package faketwilio is a local stand-in for Twilio's Messages REST API,
// used by tests, serve --demo and the simulator.
//
// It speaks just enough of the API for twilio-go's CreateMessage,
// ListMessage and FetchMessage, and can be scripted to fail in the ways
// that matter for retrying: not processed (429, 500), processed but
// answered with an error (the unknown case), refused (21610), or no answer.
package faketwilio

import (
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Response is a scripted answer to the next message POST.
type Response int

const (
	// Accept records the message and answers 201.
	Accept Response = iota + 1
	// TooManyRequests answers 429 (code 20429) without recording.
	TooManyRequests
	// ServerError answers 500 without recording.
	ServerError
	// AcceptThenServerError records the message but answers 500: the
	// sender cannot know the message went out.
	AcceptThenServerError
	// OptedOut answers 400 with code 21610 without recording.
	OptedOut
	// Hang answers nothing until the request's context ends or the server
	// closes, and records nothing.
	Hang
)

func (r Response) String() string {
	switch r {
	case Accept:
		return "accept"
	case TooManyRequests:
		return "too_many_requests"
	case ServerError:
		return "server_error"
	case AcceptThenServerError:
		return "accept_then_server_error"
	case OptedOut:
		return "opted_out"
	case Hang:
		return "hang"
	default:
		return fmt.Sprintf("response(%d)", int(r))
	}
}

// Options configure a Server. The zero value accepts every well-formed
// message from anyone.
type Options struct {
	// AccountSID, when set, is the only account served; other accounts in
	// the path get 404.
	AccountSID string
	// AuthToken, when set, is required as the basic-auth password (with the
	// account SID as user).
	AuthToken string
	// FailRate is the fraction of unscripted POSTs answered 500 without
	// recording.
	FailRate float64
	// Latency is added to every request.
	Latency time.Duration
	// Seed makes failures repeatable. SIDs are random whatever the seed: like Twilio's,
	// they must not repeat across runs that share a database.
	Seed int64
	// Logger receives a debug line per request; nil discards.
	Logger *slog.Logger
	// Now is the clock for message dates; nil means time.Now.
	Now func() time.Time
	// OnAccept, when set, is called with each message the fake accepts, after it is
	// recorded, so that a simulator can have the handset answer as soon as the text lands.
	OnAccept func(Message)
}

// Message is a message the fake accepted.
type Message struct {
	SID                 string
	AccountSID          string
	From                string
	To                  string
	Body                string
	Status              string
	MessagingServiceSID string
	StatusCallback      string
	Created             time.Time
	// Accepted is when the fake recorded the message, at full precision (Created is cut to
	// the second, as Twilio's date fields are).
	Accepted time.Time
}

// Server is the fake API. It is an http.Handler, and Start serves it on a
// listener of its own. It is safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	rng      *rand.Rand
	script   []Response
	optedOut map[string]bool
	msgs     []Message
	requests int
	srv      *http.Server
}

// New returns a Server with opts.
func New(opts Options) *Server {
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		closed:   make(chan struct{}),
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		optedOut: make(map[string]bool),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.routes()
	return s
}

// Script queues answers for the next message POSTs, in order. Once they are
// used up, answers fall back to opt-outs and FailRate.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, rs...)
}

// OptOut makes sends to number answer 21610, as Twilio does after the
// handset texted STOP.
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

// SentTo returns the accepted messages to number in arrival order.
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

// Count returns how many messages were accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Requests returns how many message POSTs arrived, whatever their answer.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Reset forgets messages, request counts, the script and opt-outs.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
	s.requests = 0
	s.script = nil
	s.optedOut = make(map[string]bool)
}

// Start serves on addr (such as 127.0.0.1:0) and returns the base URL to
// give the sender, such as http://127.0.0.1:41234.
func (s *Server) Start(addr string) (baseURL string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return "", errors.New("start fake twilio: server closed")
	default:
	}
	if s.srv != nil {
		return "", errors.New("start fake twilio: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("start fake twilio: %w", err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("fake_twilio_serve_failed", "err", err)
		}
	}(s.srv)
	return "http://" + ln.Addr().String(), nil
}

// Close releases hanging requests and stops the listener started by Start.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// ServeHTTP serves the Messages API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	s.log.Debug("fake_twilio_request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
}

// decide picks the answer to a valid POST to number.
func (s *Server) decide(to string) Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(s.script) > 0:
		r := s.script[0]
		s.script = s.script[1:]
		return r
	case s.optedOut[to]:
		return OptedOut
	case s.opts.FailRate > 0 && s.rng.Float64() < s.opts.FailRate:
		return ServerError
	default:
		return Accept
	}
}

func (s *Server) record(m Message) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.SID = newSID()
	m.Status = "queued"
	m.Accepted = s.now().UTC()
	m.Created = m.Accepted.Truncate(time.Second)
	s.msgs = append(s.msgs, m)
	return m
}

func (s *Server) find(accountSID, sid string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.SID == sid && m.AccountSID == accountSID {
			return m, true
		}
	}
	return Message{}, false
}

// wait adds the configured latency; it reports false when the request or
// the server ended first.
func (s *Server) wait(r *http.Request) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

// authorize checks basic auth and the account in the path, answering the
// way Twilio does when they are wrong.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	account := r.PathValue("AccountSid")
	if s.opts.AuthToken != "" {
		wantUser := s.opts.AccountSID
		if wantUser == "" {
			wantUser = account
		}
		user, pass, ok := r.BasicAuth()
		if !ok || user != wantUser || subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.AuthToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return false
		}
	}
	if s.opts.AccountSID != "" && account != s.opts.AccountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return false
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// accepted tells the OnAccept hook, outside the lock, about a recorded message.
func (s *Server) accepted(m Message) {
	if s.opts.OnAccept != nil {
		s.opts.OnAccept(m)
	}
}

// newSID mints a message SID as Twilio writes them: SM and 32 hex digits.
func newSID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on Linux (and panics if it could)
	return "SM" + hex.EncodeToString(b[:])
}
