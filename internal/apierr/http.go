package apierr

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Write answers a failed request: From(err) as JSON, with its status.
func Write(w http.ResponseWriter, err error) {
	e := From(err)
	if e == nil {
		e = Errorf(Internal, "unknown error")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status())
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(e)
}

// Decode reads the error answer of a request that got status: the
// error shape when the body holds it (ok), otherwise (a proxy's page, an
// empty body) the code of the status and the body's text as the message.
func Decode(status int, body []byte) (e *Error, ok bool) {
	var got Error
	if json.Unmarshal(body, &got) == nil && got.Code != "" && got.Message != "" {
		return &got, true
	}
	msg := strings.TrimSpace(string(bytes.ToValidUTF8(body, []byte("?"))))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Code: CodeOf(status), Message: msg}, false
}

// Mux serves mux, answering a request that none of its routes matches
// with the error shape: 405 method_not_allowed (and Allow) when the path
// has routes for other methods, else 404 not_found. mux's own answers
// are plain text.
func Mux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// h is the mux's 404 or 405 handler: run it for its status and
		// Allow header only.
		p := &probe{header: http.Header{}}
		h.ServeHTTP(p, r)
		if p.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", p.header.Get("Allow"))
			Write(w, Errorf(MethodNotAllowed, "%s %s: the route takes %s", r.Method, requestPath(r), p.header.Get("Allow")))
			return
		}
		Write(w, Errorf(NotFound, "%s %s: no such route", r.Method, requestPath(r)))
	})
}

// requestPath is the path the client asked for, before any
// http.StripPrefix of a mount.
func requestPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		return u.Path
	}
	return r.URL.Path
}

// probe is a ResponseWriter that keeps the status and headers and drops
// the body.
type probe struct {
	header http.Header
	status int
}

func (p *probe) Header() http.Header { return p.header }

func (p *probe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *probe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
