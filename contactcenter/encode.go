package contactcenter

import (
	"strconv"
	"unicode/utf8"
)

// Hand-written JSON encoders for the events of the routing hot path.
//
// The Emitter encodes every event as it is emitted; through reflection
// (json.Marshal) that was ~40 % of a routing decision. The event types
// below implement command.JSONAppender instead: AppendJSON appends
// exactly what json.Marshal produces — same field order, same omitempty
// rules, same string escaping (HTML characters, control characters,
// invalid UTF-8 and U+2028/U+2029 included) — so consumers (replication
// buffer, reporting database) see byte-for-byte the same events.
// encode_test.go holds every one to json.Marshal (all fields set or
// empty at random, hostile strings, a fuzz target), so a field added to
// one of these structs without its encoder fails the tests. Event types
// without AppendJSON keep going through json.Marshal.

// jsonSafe reports whether encoding/json writes ASCII byte c unescaped
// in a string (with HTML escaping on, as json.Marshal does): everything
// from space to DEL (0x7f) except '"', '\\', '<', '>' and '&'.
func jsonSafe(c byte) bool {
	return c >= ' ' && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped exactly as
// encoding/json escapes it (escapeHTML on).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && jsonSafe(s[i]) {
		i++
	}
	if i == len(s) { // the common case: ids, numbers, plain text
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, '<', '>', '&'
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONStrings appends a []string as json.Marshal does: null for a
// nil slice, [] for an empty one.
func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// The helpers below append one member after at least one other (every
// encoder starts with a member that is never omitted): key is the
// member's `,"name":` prefix.

func appendStr(b []byte, key, v string) []byte {
	return appendJSONString(append(b, key...), v)
}

func appendStrOmit(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStr(b, key, v)
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendIntOmit(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	return appendInt(b, key, v)
}

func appendTrueOmit(b []byte, key string, v bool) []byte {
	if !v {
		return b
	}
	return append(append(b, key...), "true"...)
}

// AppendJSON implements command.JSONAppender (agent.wrapup_ended).
func (ev AgentRef) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"agent":`, ev.Agent)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (agent.state_changed).
func (ev AgentStateEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"agent":`, ev.Agent)
	b = appendStr(b, `,"state":`, ev.State)
	b = appendStr(b, `,"previous":`, ev.Previous)
	b = appendStrOmit(b, `,"reason":`, ev.Reason)
	b = appendTrueOmit(b, `,"auto":`, ev.Auto)
	b = appendInt(b, `,"logged_in":`, int64(ev.LoggedIn))
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (agent.wrapup_started).
func (ev WrapUpEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"agent":`, ev.Agent)
	b = appendInt(b, `,"until":`, ev.Until)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (call.queued).
func (ev QueuedEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"call":`, ev.Call)
	b = appendStrOmit(b, `,"queue":`, ev.Queue)
	b = appendStrOmit(b, `,"agent":`, ev.Agent)
	b = appendStrOmit(b, `,"number":`, ev.Number)
	b = appendStrOmit(b, `,"name":`, ev.Name)
	b = appendStrOmit(b, `,"note":`, ev.Note)
	b = appendIntOmit(b, `,"priority":`, int64(ev.Priority))
	b = appendInt(b, `,"position":`, int64(ev.Position))
	b = appendInt(b, `,"waiting":`, int64(ev.Waiting))
	b = appendIntOmit(b, `,"level":`, int64(ev.Level))
	b = appendInt(b, `,"expected_wait_seconds":`, ev.ExpectedWaitSeconds)
	b = appendStr(b, `,"reason":`, ev.Reason)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (call.offered).
func (ev OfferedEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"call":`, ev.Call)
	b = appendJSONStrings(append(b, `,"agents":`...), ev.Agents)
	b = appendStrOmit(b, `,"queue":`, ev.Queue)
	b = appendTrueOmit(b, `,"personal":`, ev.Personal)
	b = appendStrOmit(b, `,"number":`, ev.Number)
	b = appendStrOmit(b, `,"name":`, ev.Name)
	b = appendStrOmit(b, `,"note":`, ev.Note)
	b = appendInt(b, `,"ring_until":`, ev.RingUntil)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (call.offer_withdrawn).
func (ev WithdrawnEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"call":`, ev.Call)
	b = appendJSONStrings(append(b, `,"agents":`...), ev.Agents)
	b = appendStr(b, `,"reason":`, ev.Reason)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (call.no_answer,
// call.rejected, call.held).
func (ev CallAgentEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"call":`, ev.Call)
	b = appendStr(b, `,"agent":`, ev.Agent)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (call.answered).
func (ev AnsweredEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"call":`, ev.Call)
	b = appendStr(b, `,"agent":`, ev.Agent)
	b = appendStrOmit(b, `,"queue":`, ev.Queue)
	b = appendInt(b, `,"wait_ms":`, ev.WaitMS)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (call.ended).
func (ev CallEndedEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"call":`, ev.Call)
	b = appendStr(b, `,"reason":`, ev.Reason)
	b = appendStrOmit(b, `,"by":`, ev.By)
	b = appendStr(b, `,"place":`, ev.Place)
	b = appendStrOmit(b, `,"agent":`, ev.Agent)
	b = appendStrOmit(b, `,"queue":`, ev.Queue)
	b = appendStrOmit(b, `,"medium":`, ev.Medium)
	b = appendInt(b, `,"duration_ms":`, ev.DurationMS)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (callback.created,
// callback.updated, callback.dial).
func (ev CallbackEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"callback":`, ev.Callback)
	b = appendStr(b, `,"queue":`, ev.Queue)
	b = appendStr(b, `,"status":`, ev.Status)
	b = appendStrOmit(b, `,"reason":`, ev.Outcome)
	b = appendIntOmit(b, `,"attempt":`, int64(ev.Attempt))
	b = appendStrOmit(b, `,"call":`, ev.Call)
	b = appendStrOmit(b, `,"agent":`, ev.Agent)
	b = appendStrOmit(b, `,"customer_name":`, ev.CustomerName)
	b = appendStrOmit(b, `,"phone":`, ev.Phone)
	b = appendIntOmit(b, `,"priority":`, int64(ev.Priority))
	b = appendIntOmit(b, `,"due_at":`, ev.Due)
	return append(b, '}')
}
