package contactcenter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tandemcc/tandem/internal/jsonin"
)

// ErrUnknownCommand refuses a command type the engine does not know.
var ErrUnknownCommand = errors.New("unknown command type")

// Sentinel errors of refused operations. Refusals are *OpError values that
// wrap one of these, so callers test with errors.Is and show Error().
var (
	ErrUnknownAgent     = errors.New("unknown agent")
	ErrUnknownQueue     = errors.New("unknown queue")
	ErrUnknownCall      = errors.New("unknown call")
	ErrUnknownExtension = errors.New("unknown extension")
	ErrUnknownUser      = errors.New("unknown user")
	ErrUnknownPhone     = errors.New("unknown phone")
	ErrCallExists       = errors.New("call id already in use")

	// ErrAgentState: the operation does not apply in the agent's state
	// (log in when connected, pause when logged out, …).
	ErrAgentState = errors.New("not allowed in the agent's state")
	// ErrStillLoggedIn is the warning given when an operator closes the
	// console while Paused or Connected; confirming removes the
	// operator's phone from the queues.
	ErrStillLoggedIn = errors.New("operator is still logged in")
	// ErrConfirmRequired: a destructive option needs an explicit confirm.
	ErrConfirmRequired = errors.New("confirmation required")
	// ErrPhoneNotConnected refuses a log-in while none of the operator's
	// phones is registered (spec: "Log-in is tied to the operator's
	// phone"); its message is MsgPhoneNotConnected.
	ErrPhoneNotConnected = errors.New("phone not connected")

	ErrNothingRinging = errors.New("nothing is ringing")
	ErrLineBusy       = errors.New("line busy")
	ErrNoCall         = errors.New("no call on the line")
	ErrNotHeld        = errors.New("call is not on hold")
	ErrNotTalking     = errors.New("call is not in conversation")
	ErrConsultActive  = errors.New("a consultation is in progress on line 2")
	ErrNoConsult      = errors.New("no consultation on line 2")
	ErrNotAnswered    = errors.New("the consulted party has not answered")
	ErrNotBusy        = errors.New("the consulted party is not busy")
	ErrNotRetrievable = errors.New("call cannot be retrieved")
	ErrNotParked      = errors.New("call is not parked")
	ErrNothingParked  = errors.New("nothing is parked")
	ErrNotOutgoing    = errors.New("call has no outgoing leg waiting for an answer")
	ErrSelfTransfer   = errors.New("cannot transfer to the operator's own extension")
	ErrNotYours       = errors.New("call is not the operator's")
	ErrNotInHistory   = errors.New("call is not in the operator's recent calls")

	ErrNotSecure       = errors.New("phone is not secure")
	ErrForwardNotAllow = errors.New("forwarding category does not allow this forward")
)

// OpError is a refused operation: Op names it ("answer"), Msg says why in
// words an operator understands, Err is the sentinel to test for.
type OpError struct {
	Op  string
	Msg string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Msg }

// Unwrap returns the sentinel.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(sentinel error, op, format string, args ...any) error {
	return &OpError{Op: op, Msg: fmt.Sprintf(format, clipArgs(format, args)...), Err: sentinel}
}

// FieldError refuses an input because of one named field. Field is a path
// into the document, e.g. "agents[2].queues[0]", or a payload field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Msg) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: jsonin.ClipTo(field, maxFieldRunes), Msg: fmt.Sprintf(format, clipArgs(format, args)...)}
}

// Error messages quote at most a short prefix of what they refuse: a
// string formatted with %q is clipped to 32 runes (then "…"), any other
// string argument to 256, a field path to 128 (it may hold a key of the
// input). Values are quoted with %q; lists of choices and texts of this
// package are formatted with %s.
const (
	maxArgRunes   = 256
	maxFieldRunes = 128
)

// clipArgs clips the string arguments of format (see above). args is not
// modified.
func clipArgs(format string, args []any) []any {
	out, n := args, 0
	for i := 0; i < len(format) && n < len(args); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0123456789.", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			break
		}
		verb := format[i]
		if verb == '%' {
			continue
		}
		if s, ok := args[n].(string); ok {
			limit := maxArgRunes
			if verb == 'q' {
				limit = jsonin.QuoteRunes
			}
			if c := jsonin.ClipTo(s, limit); len(c) != len(s) {
				if &out[0] == &args[0] {
					out = append([]any(nil), args...)
				}
				out[n] = c
			}
		}
		n++
	}
	return out
}

// FieldName names the refused field; the cluster layer reports it to the
// client beside the message.
func (e *FieldError) FieldName() string { return e.Field }
