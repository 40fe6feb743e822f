package server

import (
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
