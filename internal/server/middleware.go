package server

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// instrument counts requests by route and status code and observes their latency.
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	if s.metrics == nil {
		return next
	}
	lat := s.metrics.Latency.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		lat.Observe(time.Since(start).Seconds())
		s.metrics.Requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
	})
}

// bounded gives a delivery its deadline, counted from receipt: the request's context ends
// then, and the work of the delivery is bounded by commitContext and answerContext.
func (s *Server) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Deadline)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// reserve is the part of a delivery's deadline kept for recording a failure and
// answering it: a fifth, at most a second.
func (s *Server) reserve() time.Duration { return min(s.cfg.Deadline/5, time.Second) }

// commitContext is the context of the transaction that applies a delivery: it is not
// canceled when the client goes away (the evidence is kept all the same), and it ends in
// time to answer 503 within the deadline when the commit cannot happen.
func (s *Server) commitContext(r *http.Request) (context.Context, context.CancelFunc) {
	return s.within(r, s.reserve())
}

// answerContext is the context of what remains to do once the commit failed: record the
// failure, if the database still takes it, just before the deadline.
func (s *Server) answerContext(r *http.Request) (context.Context, context.CancelFunc) {
	return s.within(r, s.reserve()/4)
}

func (s *Server) within(r *http.Request, before time.Duration) (context.Context, context.CancelFunc) {
	d, ok := r.Context().Deadline()
	if !ok {
		d = time.Now().Add(s.cfg.Deadline)
	}
	return context.WithDeadline(context.WithoutCancel(r.Context()), d.Add(-before))
}
