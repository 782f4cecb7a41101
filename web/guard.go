package web

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Exposure of the public API (issue 16, point 5, in part): CORS for the
// customer's web site and a rate limit per client address. TLS and "TLS
// only" are not built yet.

// corsAllowed reports whether origin may call the API from a browser.
func (h *Handler) corsAllowed(origin string) bool {
	for _, o := range h.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// guard wraps an API route: the rate limit of the client's address, then
// the CORS headers of an allowed origin.
func (h *Handler) guard(op string, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		feature := FeatureCallback
		if strings.HasPrefix(op, "chat") {
			feature = FeatureChat
		}
		if h.plainRefused(w, r, feature, false) {
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && h.corsAllowed(origin) {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Add("Vary", "Origin")
			hd.Set("Access-Control-Expose-Headers", "Location, Idempotent-Replayed, Retry-After")
		}
		if !h.limiter().allow(clientAddr(r), time.Now()) {
			w.Header().Set("Retry-After", "1")
			h.fail(w, op, newErr(CodeCallbackServer, "", "too many requests from this address; retry in a second").withStatus(http.StatusTooManyRequests))
			return
		}
		fn(w, r)
	}
}

// preflight answers a browser's CORS preflight of an API route.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !h.corsAllowed(origin) {
		h.fail(w, "preflight", newErr(CodeGeneral, "", "this origin may not call the API").withStatus(http.StatusForbidden))
		return
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
	hd.Set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key")
	hd.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// clientAddr is the request's peer address (no forwarding header is
// trusted: a proxy in front would make every client one).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimiter is a token bucket per client address: rate requests a
// second, burst at once. Rate 0 lets everything through.
type rateLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the addresses remembered; idle ones are swept first.
const maxBuckets = 100_000

func (h *Handler) limiter() *rateLimiter {
	h.limitOnce.Do(func() {
		burst := float64(h.RateBurst)
		if burst < 1 {
			burst = math.Max(1, 2*h.RateLimit)
		}
		h.rl = &rateLimiter{rate: h.RateLimit, burst: burst, buckets: map[string]*bucket{}}
	})
	return h.rl
}

func (l *rateLimiter) allow(addr string, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) >= maxBuckets || now.Sub(l.swept) > time.Minute {
		full := time.Duration(l.burst / l.rate * float64(time.Second))
		for a, b := range l.buckets {
			if now.Sub(b.last) > full {
				delete(l.buckets, a) // refilled: the same as forgotten
			}
		}
		l.swept = now
		if len(l.buckets) >= maxBuckets {
			return false // a flood of addresses: refuse new ones until they idle
		}
	}
	b, ok := l.buckets[addr]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
