package contactcenter

import (
	"reflect"
	"unicode/utf8"
)

// A fast path for the engine's hot JSON: command payloads that are flat
// objects of plain strings, integers and booleans are decoded without
// reflection. (The hot events are encoded by hand too, in encode.go: not
// through MarshalJSON, which encoding/json would re-scan, but through
// command.JSONAppender.) Anything the
// fast path is not sure about — escapes, nesting, null, floats, unknown or
// differently-cased keys, trailing data — falls back to encoding/json, so
// the results (values and errors) are exactly encoding/json's. A
// differential fuzz test (FuzzFastDecode) holds it to that.

type flatKind uint8

const (
	flatString flatKind = iota + 1
	flatInt
	flatBool
)

type flatValue struct {
	kind flatKind
	str  []byte
	num  int64
	b    bool
	ids  map[string]string // known ids, to reuse their strings
}

// flatSetter is implemented by payload types with a fast path: setFlat
// stores one field and reports false for an unknown key or a value of the
// wrong kind.
type flatSetter interface {
	setFlat(key []byte, v flatValue) bool
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// flatScanner walks a flat JSON object.
type flatScanner struct {
	p []byte
	i int
}

func (f *flatScanner) skip() {
	for f.i < len(f.p) && isSpace(f.p[f.i]) {
		f.i++
	}
}

// str reads a string without escapes.
func (f *flatScanner) str() ([]byte, bool) {
	p := f.p
	if f.i >= len(p) || p[f.i] != '"' {
		return nil, false
	}
	start := f.i + 1
	for j := start; j < len(p); j++ {
		c := p[j]
		if c == '"' {
			f.i = j + 1
			return p[start:j], true
		}
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	return nil, false
}

// num reads an integer that fits an int32.
func (f *flatScanner) num() (int64, bool) {
	p, i := f.p, f.i
	neg := false
	if i < len(p) && p[i] == '-' {
		neg = true
		i++
	}
	if i >= len(p) || p[i] < '0' || p[i] > '9' {
		return 0, false
	}
	if p[i] == '0' && i+1 < len(p) && p[i+1] >= '0' && p[i+1] <= '9' {
		return 0, false
	}
	var x int64
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		x = x*10 + int64(p[i]-'0')
		if x > 1<<31 {
			return 0, false
		}
	}
	if i < len(p) && (p[i] == '.' || p[i] == 'e' || p[i] == 'E') {
		return 0, false
	}
	if neg {
		x = -x
	}
	if x != int64(int32(x)) {
		return 0, false
	}
	f.i = i
	return x, true
}

func (f *flatScanner) value(v *flatValue) bool {
	p := f.p
	if f.i >= len(p) {
		return false
	}
	switch c := p[f.i]; {
	case c == '"':
		s, ok := f.str()
		if !ok || !utf8.Valid(s) {
			return false
		}
		*v = flatValue{kind: flatString, str: s}
	case c == 't' && f.i+4 <= len(p) && string(p[f.i:f.i+4]) == "true":
		*v = flatValue{kind: flatBool, b: true}
		f.i += 4
	case c == 'f' && f.i+5 <= len(p) && string(p[f.i:f.i+5]) == "false":
		*v = flatValue{kind: flatBool}
		f.i += 5
	case c == '-' || (c >= '0' && c <= '9'):
		x, ok := f.num()
		if !ok {
			return false
		}
		*v = flatValue{kind: flatInt, num: x}
	default:
		return false
	}
	return f.i >= len(p) || isSpace(p[f.i]) || p[f.i] == ',' || p[f.i] == '}'
}

// parseFlat decodes p, a flat JSON object, into s. It returns false when p
// is anything else (s may then be partly set). ids, when not nil, holds
// known ids whose strings are reused instead of allocated.
func parseFlat(p []byte, s flatSetter, ids map[string]string) bool {
	f := flatScanner{p: p}
	f.skip()
	if f.i >= len(p) || p[f.i] != '{' {
		return false
	}
	f.i++
	f.skip()
	if f.i < len(p) && p[f.i] == '}' {
		f.i++
	} else {
		for {
			key, ok := f.str()
			if !ok {
				return false
			}
			f.skip()
			if f.i >= len(p) || p[f.i] != ':' {
				return false
			}
			f.i++
			f.skip()
			var v flatValue
			if !f.value(&v) {
				return false
			}
			v.ids = ids
			if !s.setFlat(key, v) {
				return false
			}
			f.skip()
			if f.i >= len(p) {
				return false
			}
			if p[f.i] == ',' {
				f.i++
				f.skip()
				continue
			}
			if p[f.i] != '}' {
				return false
			}
			f.i++
			break
		}
	}
	f.skip()
	return f.i == len(p)
}

// decodeFast is decode's fast path: v is zeroed and left to the strict
// decoder when the fast path cannot decode p.
func decodeFast(p []byte, v any, ids map[string]string) bool {
	s, ok := v.(flatSetter)
	if !ok {
		return false
	}
	if parseFlat(p, s, ids) {
		return true
	}
	reflect.ValueOf(v).Elem().SetZero()
	return false
}

func (v flatValue) setStr(dst *string) bool {
	if v.kind != flatString {
		return false
	}
	*dst = string(v.str)
	return true
}

// setID is setStr for an id the engine may know (agent, queue,
// extension): a known id reuses the engine's string.
func (v flatValue) setID(dst *string) bool {
	if v.kind != flatString {
		return false
	}
	if s, ok := v.ids[string(v.str)]; ok {
		*dst = s
		return true
	}
	*dst = string(v.str)
	return true
}

func (v flatValue) setInt(dst *int) bool {
	if v.kind != flatInt {
		return false
	}
	*dst = int(v.num)
	return true
}

func (v flatValue) setBool(dst *bool) bool {
	if v.kind != flatBool {
		return false
	}
	*dst = v.b
	return true
}

func (p *AgentRequest) setFlat(k []byte, v flatValue) bool {
	if string(k) == "agent" {
		return v.setID(&p.Agent)
	}
	return false
}

func (p *AgentCallRequest) setFlat(k []byte, v flatValue) bool {
	if string(k) == "agent" {
		return v.setID(&p.Agent)
	}
	return false
}

func (p *CallRequest) setFlat(k []byte, v flatValue) bool {
	if string(k) == "call" {
		return v.setStr(&p.Call)
	}
	return false
}

func (p *PauseRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "reason":
		return v.setStr(&p.Reason)
	}
	return false
}

func (p *CloseRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "confirm":
		return v.setBool(&p.Confirm)
	}
	return false
}

func (p *HangupRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "line":
		return v.setInt(&p.Line)
	}
	return false
}

func (p *IncomingRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "call":
		return v.setStr(&p.Call)
	case "number":
		return v.setStr(&p.Number)
	case "name":
		return v.setStr(&p.Name)
	case "queue":
		return v.setID(&p.Queue)
	case "agent":
		return v.setID(&p.Agent)
	case "extension":
		return v.setID(&p.Extension)
	case "priority":
		return v.setInt(&p.Priority)
	case "note":
		return v.setStr(&p.Note)
	}
	return false // skills (an object) takes the strict path
}

func (p *RemoteHangupRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "call":
		return v.setStr(&p.Call)
	case "side":
		return v.setStr(&p.Side)
	}
	return false
}

func (p *DialRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "call":
		return v.setStr(&p.Call)
	case "number":
		return v.setStr(&p.Number)
	}
	return false
}

func (p *RetrieveRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "call":
		return v.setStr(&p.Call)
	}
	return false
}

func (p *TransferRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "target":
		return v.setID(&p.Target)
	case "chain":
		return v.setBool(&p.Chain)
	}
	return false
}

func (p *ConsultRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "call":
		return v.setStr(&p.Call)
	case "target":
		return v.setID(&p.Target)
	}
	return false
}

func (p *CompleteRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "chain":
		return v.setBool(&p.Chain)
	}
	return false
}

func (p *ParkRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "note":
		return v.setStr(&p.Note)
	}
	return false
}

func (p *NoteRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setID(&p.Agent)
	case "call":
		return v.setStr(&p.Call)
	case "note":
		return v.setStr(&p.Note)
	}
	return false
}
