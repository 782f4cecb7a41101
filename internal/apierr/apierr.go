// Package apierr owns the one error shape of Tandem's HTTP surfaces and
// the one mapping from Go errors to it (interfaces.md, "Admin API": every
// surface answers errors as {"code","message","field"}, with the same
// status for the same kind of error). The admin API (package ops, with
// its replication and standby routes), the console API (package console,
// on both mounts) and the cluster's peer protocol (package cluster) all
// write their errors with Write, and their clients read them with Decode;
// Mux answers a request for an unknown route in the same shape.
//
// An error chooses its kind by a method, so this package imports none of
// the packages whose errors it maps: ErrorCode() Code (cluster.Refusal,
// replication.Refusal, the cluster's leader errors, anything passed
// through Wrap) and FieldName() string (the input at fault). The rest of
// the mapping is the standard library's: context deadlines and
// cancellations, and a full disk (ENOSPC, EDQUOT). It holds no rule of
// the engine or of any subsystem; it only says how a kind of failure is
// reported.
//
// The public web API (package web) answers in the same shape with the
// number web.md assigns in "code" and its own status per number; it
// reads the kinds of this package (From) to choose them for the
// cluster's failures.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"

	"github.com/tandemcc/tandem/internal/jsonin"
)

// MaxMessageRunes bounds an error message; MaxFieldRunes its field.
const (
	MaxMessageRunes = 512
	MaxFieldRunes   = 128
)

// yamlTypeError matches yaml.v3's type error text, which names the Go
// type ("cannot unmarshal !!str `x` into []string").
var yamlTypeError = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `[^`]*`)? into \\S+")

// Message is msg as every surface answers it: Go type names rewritten
// (jsonin.Scrub, and yaml.v3's type errors), one line, at most
// MaxMessageRunes.
func Message(msg string) string {
	msg = jsonin.Scrub(msg)
	if strings.Contains(msg, "cannot unmarshal !!") {
		msg = yamlTypeError.ReplaceAllString(msg, "a value of the wrong kind ($1)")
	}
	if strings.ContainsAny(msg, "\r\n") {
		lines := strings.FieldsFunc(msg, func(r rune) bool { return r == '\r' || r == '\n' })
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		msg = strings.Join(lines, "; ")
	}
	return jsonin.ClipTo(msg, MaxMessageRunes-1)
}

// Quote is s quoted for a message, at most its first 32 runes (then
// "…"): what an error refuses may be as large as the request.
func Quote(s string) string { return jsonin.Quote(s) }

// Code is the stable, machine-readable kind of an error. Clients switch
// on it; the message is for people.
type Code string

// The codes, with their HTTP status (Status).
const (
	BadRequest         Code = "bad_request"         // 400: malformed input; Field names it when known
	Unauthorized       Code = "unauthorized"        // 401: missing or wrong admin token, bad or expired session, bad password
	Forbidden          Code = "forbidden"           // 403: authenticated, but not allowed to do this
	NotFound           Code = "not_found"           // 404: no such route or object
	MethodNotAllowed   Code = "method_not_allowed"  // 405: the route exists for other methods (Allow lists them)
	Refused            Code = "refused"             // 409: understood and refused by a rule; nothing changed
	PreconditionFailed Code = "precondition_failed" // 412: made from a version no longer current (another client saved since); nothing changed: read it again and reapply
	TooLarge           Code = "too_large"           // 413: the request body is over its limit
	HeadersTooLarge    Code = "headers_too_large"   // 431: the request's headers are over their limit
	TooManyRequests    Code = "too_many_requests"   // 429: slow down (log-in attempts); Retry-After says when
	Canceled           Code = "canceled"            // 499: the client went away before the answer
	Internal           Code = "internal"            // 500: a failure of this node
	NotLeader          Code = "not_leader"          // 503: no leader known or reachable; retry
	Unavailable        Code = "unavailable"         // 503: not ready or cannot commit right now; retry
	NotImplemented     Code = "not_implemented"     // 501: a transfer coding the server does not implement
	Timeout            Code = "timeout"             // 504: the deadline passed before the cluster answered; retry
	NoSpace            Code = "no_space"            // 507: a write failed for lack of disk space; free space and retry
)

// StatusClientClosedRequest is the status of Canceled (nginx's 499): no
// client reads it, but logs and metrics tell it from a failure.
const StatusClientClosedRequest = 499

// Codes lists every code, for tests and documentation.
func Codes() []Code {
	return []Code{BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Refused, PreconditionFailed, TooLarge, HeadersTooLarge,
		TooManyRequests, Canceled, Internal, NotImplemented, NotLeader, Unavailable, Timeout, NoSpace}
}

// Status is the HTTP status the code is answered with; 500 for a code
// this package does not define.
func (c Code) Status() int {
	switch c {
	case BadRequest:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case Refused:
		return http.StatusConflict
	case PreconditionFailed:
		return http.StatusPreconditionFailed
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case HeadersTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case TooManyRequests:
		return http.StatusTooManyRequests
	case Canceled:
		return StatusClientClosedRequest
	case NotImplemented:
		return http.StatusNotImplemented
	case NotLeader, Unavailable:
		return http.StatusServiceUnavailable
	case Timeout:
		return http.StatusGatewayTimeout
	case NoSpace:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// CodeOf is the code of an HTTP status, for an answer that did not carry
// one (a proxy's error page, a peer of another build).
func CodeOf(status int) Code {
	switch status {
	case http.StatusServiceUnavailable:
		return Unavailable
	case http.StatusGatewayTimeout:
		return Timeout
	}
	for _, c := range Codes() {
		if c.Status() == status {
			return c
		}
	}
	if status/100 == 4 {
		return BadRequest
	}
	return Internal
}

// Error is the body of every failed request on every surface.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Errorf returns an error of kind code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithField names the input at fault and returns e.
func (e *Error) WithField(field string) *Error {
	e.Field = field
	return e
}

func (e *Error) Error() string { return e.Message }

// Status is the HTTP status e is answered with.
func (e *Error) Status() int { return e.Code.Status() }

// ErrorCode and FieldName make an *Error, wrapped in more context, map to
// itself.
func (e *Error) ErrorCode() Code { return e.Code }

// FieldName is e.Field.
func (e *Error) FieldName() string { return e.Field }

// coder is an error that knows its kind.
type coder interface{ ErrorCode() Code }

// fielder is an error about one input field.
type fielder interface{ FieldName() string }

// Wrap gives err the kind code, keeping its message; errors.Is and
// errors.As see err through it. nil stays nil.
func Wrap(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{code: code, err: err}
}

type wrapped struct {
	code Code
	err  error
}

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() error   { return w.err }
func (w *wrapped) ErrorCode() Code { return w.code }

// From maps err to the error shape. The message is err's whole text (its
// context included); the kind is, in this order: the first error in the
// chain that states one (ErrorCode), a cancelled request (Canceled), a
// passed deadline (Timeout), a full disk (NoSpace), an error about an
// input field (BadRequest), and otherwise Internal. The field is the
// first one an error in the chain names. A refusal that names a field is
// bad input: BadRequest, not Refused. From(nil) is nil.
//
// The message is one line of at most MaxMessageRunes, and names no Go
// type: whatever layer built it from an encoding/json error (the peer
// protocol's "cannot unmarshal string into Go struct field Envelope.v of
// type int"), it reads "v: want an integer, not a string" (jsonin.Scrub).
// The surfaces quote what they refuse with Quote, a short prefix.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Code: Internal, Message: Message(err.Error())}
	var c coder
	var f fielder
	hasField := errors.As(err, &f)
	switch {
	case errors.As(err, &c):
		e.Code = c.ErrorCode()
	case errors.Is(err, context.Canceled):
		e.Code = Canceled
	case errors.Is(err, context.DeadlineExceeded):
		e.Code = Timeout
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		e.Code = NoSpace
	case hasField:
		e.Code = BadRequest
	}
	if hasField {
		e.Field = jsonin.ClipTo(f.FieldName(), MaxFieldRunes-1)
	}
	if e.Code == Refused && e.Field != "" {
		e.Code = BadRequest
	}
	return e
}
