// Package httpserver builds the HTTP servers of tandemd's listeners with
// the limits a hostile or broken client meets: a header must arrive
// within HeaderTimeout and fit in MaxHeaderBytes, a request body must
// arrive at a minimum rate, and an idle keep-alive connection is closed.
// WebSocket upgrades are exempt from the body deadline (their streams
// have their own pings). Listener makes net/http's own error replies
// (oversized headers, a malformed request) answer in the error shape of
// every surface. It holds no state beyond the servers it returns.
package httpserver

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
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

// Listener wraps l so that the answers net/http writes by itself, before
// any handler runs, carry the error shape of every Tandem surface
// (package apierr) instead of plain text: headers over MaxHeaderBytes
// (431 headers_too_large), a malformed request line or header (400
// bad_request), an unsupported transfer coding (501 not_implemented).
// Serve New's server on it. A TLS listener's connections pass
// unwrapped: net/http needs the *tls.Conn itself.
func Listener(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		// net/http must see the *tls.Conn itself (it fills Request.TLS
		// from it): over TLS its own replies stay as they are.
		return c, nil
	}
	return conn{c}, nil
}

// conn rewrites net/http's own error replies as they are written.
type conn struct{ net.Conn }

func (c conn) Write(p []byte) (int, error) {
	if b, ok := protocolError(p); ok {
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// plainHeaders follow the status line of every reply net/http writes
// itself (server.go, "errorHeaders"), always in one Write. A handler's
// reply never has them there: net/http writes a handler's headers sorted
// (Connection before Content-Type) and always adds Date.
const plainHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// protocolError returns p, one of net/http's own plain-text error
// replies, in the error shape; ok is false for anything else.
func protocolError(p []byte) (b []byte, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found {
		return nil, false
	}
	line, text, found := bytes.Cut(rest, []byte(plainHeaders))
	if !found || bytes.ContainsAny(line, "\r\n") || len(line) < 4 {
		return nil, false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil {
		return nil, false
	}
	var e *apierr.Error
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		e = apierr.Errorf(apierr.HeadersTooLarge, "request headers exceed %d KiB", MaxHeaderBytes>>10)
	case http.StatusNotImplemented:
		e = apierr.Errorf(apierr.NotImplemented, "unsupported transfer encoding")
	default:
		// "400 Bad Request", "400 Bad Request: missing required Host
		// header", "505 HTTP Version Not Supported: unsupported protocol
		// version": the client sent something that is not HTTP/1.x.
		msg := "malformed HTTP request"
		if _, detail, ok := strings.Cut(string(text), ": "); ok {
			msg += ": " + detail
		}
		e = apierr.Errorf(apierr.BadRequest, "%s", apierr.Message(msg))
	}
	body, err := json.Marshal(e)
	if err != nil {
		return nil, false
	}
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n%s",
		e.Status(), http.StatusText(e.Status()), len(body), body), true
}
