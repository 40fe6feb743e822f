package server

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// errRateLimited answers a remote address whose failed signatures passed the threshold.
var errRateLimited = errors.New("too many failed signatures from this address")

// failLimiter limits failed signatures per remote address with a token bucket each
// (golang.org/x/time/rate: the standard library's companion, exact, allocation-free on the
// hot path). Only a failed signature spends a token, so correctly signed traffic is never
// limited; a forged flood is answered 429 without being stored past the burst.
type failLimiter struct {
	every rate.Limit
	burst int
	max   int // addresses tracked; idle ones are forgotten first

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
}

func newFailLimiter(perSecond float64, burst, maxAddrs int) *failLimiter {
	return &failLimiter{every: rate.Limit(perSecond), burst: burst, max: maxAddrs, byAddr: map[string]*rate.Limiter{}}
}

// fail spends a token of the address a request came from, and reports whether the
// address is still within its allowance.
func (l *failLimiter) fail(remoteAddr string, now time.Time) bool {
	if l == nil || l.burst <= 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.byAddr[host]
	if !ok {
		if len(l.byAddr) >= l.max {
			l.forgetIdle(now)
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.byAddr[host] = lim
	}
	return lim.AllowN(now, 1)
}

// forgetIdle drops the addresses whose bucket has refilled (they would start afresh
// anyway); if none has, it drops them all rather than grow without bound.
func (l *failLimiter) forgetIdle(now time.Time) {
	for h, lim := range l.byAddr {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.byAddr, h)
		}
	}
	if len(l.byAddr) >= l.max {
		clear(l.byAddr)
	}
}

// rateLimited answers a delivery refused for its address's failed signatures. It is not
// stored: a flood past the burst must cost no disk. /metrics counts it.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, a answer) {
	s.metrics.RateLimited(r.URL.Path)
	w.Header().Set("Retry-After", "1")
	a.write(w)
}
