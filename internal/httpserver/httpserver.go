// Package httpserver builds the HTTP servers of tandemd's listeners with
// the limits a hostile or broken client meets: a header must arrive
// within HeaderTimeout and fit in MaxHeaderBytes, a request body must
// arrive at a minimum rate, and an idle keep-alive connection is closed.
// WebSocket upgrades are exempt from the body deadline (their streams
// have their own pings). It holds no state beyond the servers it returns.
package httpserver

import (
	"net/http"
	"strings"
	"time"
)

// Limits of every listener.
const (
	// HeaderTimeout bounds reading a request's headers: a client that
	// sends one byte every two seconds is dropped.
	HeaderTimeout = 5 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
	// BodyTimeout is the time allowed for any body, plus BodyRate.
	BodyTimeout = 10 * time.Second
	// BodyRate is the slowest body accepted beyond BodyTimeout, in
	// bytes per second of the declared Content-Length.
	BodyRate = 1 << 20
	// IdleTimeout closes an idle keep-alive connection.
	IdleTimeout = 2 * time.Minute
)

// New returns a server for h with the limits above.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(h),
		ReadHeaderTimeout: HeaderTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       IdleTimeout,
	}
}

// bodyDeadline gives each request's body BodyTimeout plus its declared
// length at BodyRate; a body that arrives slower fails to read (the
// handler answers its read error) and the connection is closed.
func bodyDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			d := BodyTimeout
			if r.ContentLength > 0 {
				d += time.Duration(r.ContentLength/BodyRate) * time.Second
			}
			// Not every ResponseWriter supports deadlines (tests'
			// recorders); the listener's do.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}
