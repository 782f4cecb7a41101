package contactcenter

import (
	"reflect"
	"unicode/utf8"
)

// A fast path for the engine's hot JSON: command payloads that are flat
// objects of plain strings, integers and booleans — and, one level down,
// objects of plain strings to integers (call.incoming's "skills") — are
// decoded without reflection. (The hot events are encoded by hand too, in
// encode.go: not through MarshalJSON, which encoding/json would re-scan,
// but through command.JSONAppender.) Anything the fast path is not sure
// about — escapes, deeper nesting, null, floats, unknown or
// differently-cased keys, a repeated object member, trailing data — falls
// back to encoding/json, so the results (values and errors) are exactly
// encoding/json's. A differential fuzz test (FuzzFastDecode) holds it to
// that.

type flatKind uint8

const (
	flatString flatKind = iota + 1
	flatInt
	flatBool
	// flatIntMap is an object of plain strings to integers: str is its
	// text, from '{' to '}', num its number of members.
	flatIntMap
)

// maxFlatMap bounds the members of an object the fast path decodes as a
// map (more go to encoding/json).
const maxFlatMap = 16

type flatValue struct {
	kind flatKind
	str  []byte
	num  int64
	b    bool
	in   *interns // known strings to reuse (nil: none)
}

// interns are the engine's strings a decoded payload reuses instead of
// allocating its own: the ids of its agents and queues (their states'
// IDs) and the other ids it knows (ids: agents, queues, extensions,
// skills). agent and queue are the last agent and queue a decode found
// (nil: none), so the handler need not look the same id up again
// (Engine.agent, Engine.queueNamed).
type interns struct {
	agents map[string]*AgentState
	queues map[string]*QueueState
	ids    map[string]string
	agent  *AgentState
	queue  *QueueState
	// mail is the scratch memory of mail.received_batch's decoding
	// (scratchDecoder), which the handler releases.
	mail mailScratch
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

// str reads a string of valid UTF-8 without escapes.
func (f *flatScanner) str() ([]byte, bool) {
	p := f.p
	if f.i >= len(p) || p[f.i] != '"' {
		return nil, false
	}
	start := f.i + 1
	ascii := true
	for j := start; j < len(p); j++ {
		c := p[j]
		if c == '"' {
			if !ascii && !utf8.Valid(p[start:j]) {
				return nil, false
			}
			f.i = j + 1
			return p[start:j], true
		}
		if c == '\\' || c < 0x20 {
			return nil, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
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
		if !ok {
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
	case c == '{':
		start := f.i
		n, ok := f.intMap(nil)
		if !ok {
			return false
		}
		*v = flatValue{kind: flatIntMap, str: p[start:f.i], num: int64(n)}
	default:
		return false
	}
	return f.i >= len(p) || isSpace(p[f.i]) || p[f.i] == ',' || p[f.i] == '}'
}

// intMap reads an object of plain strings (valid UTF-8, no escapes) to
// integers that fit an int32, with at most maxFlatMap members, and calls
// set, when not nil, for each member in order. It returns the number of
// members.
func (f *flatScanner) intMap(set func(key []byte, n int64)) (int, bool) {
	p := f.p
	if f.i >= len(p) || p[f.i] != '{' {
		return 0, false
	}
	f.i++
	f.skip()
	if f.i < len(p) && p[f.i] == '}' {
		f.i++
		return 0, true
	}
	for n := 1; n <= maxFlatMap; n++ {
		key, ok := f.str()
		if !ok {
			return 0, false
		}
		f.skip()
		if f.i >= len(p) || p[f.i] != ':' {
			return 0, false
		}
		f.i++
		f.skip()
		x, ok := f.num()
		if !ok {
			return 0, false
		}
		if set != nil {
			set(key, x)
		}
		f.skip()
		if f.i >= len(p) {
			return 0, false
		}
		switch p[f.i] {
		case ',':
			f.i++
			f.skip()
		case '}':
			f.i++
			return n, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// parseFlat decodes p, a flat JSON object, into s. It returns false when p
// is anything else (s may then be partly set). in, when not nil, holds
// known ids whose strings are reused instead of allocated.
func parseFlat(p []byte, s flatSetter, in *interns) bool {
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
			v.in = in
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
func decodeFast(p []byte, v any, in *interns) bool {
	if d, ok := v.(scratchDecoder); ok && in != nil {
		if d.decodeScratch(p, &in.mail) {
			return true
		}
		reflect.ValueOf(v).Elem().SetZero()
		return false
	}
	if d, ok := v.(fastDecoder); ok {
		if d.decodeFast(p) {
			return true
		}
		reflect.ValueOf(v).Elem().SetZero()
		return false
	}
	s, ok := v.(flatSetter)
	if !ok {
		return false
	}
	if parseFlat(p, s, in) {
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
	*dst = v.in.id(v.str)
	return true
}

// setAgent is setID for an agent id, found among the agents.
func (v flatValue) setAgent(dst *string) bool {
	if v.kind != flatString {
		return false
	}
	if v.in != nil {
		if a, ok := v.in.agents[string(v.str)]; ok {
			*dst, v.in.agent = a.ID, a
			return true
		}
	}
	*dst = v.in.id(v.str)
	return true
}

// setQueue is setID for a queue id, found among the queues.
func (v flatValue) setQueue(dst *string) bool {
	if v.kind != flatString {
		return false
	}
	if v.in != nil {
		if q, ok := v.in.queues[string(v.str)]; ok {
			*dst, v.in.queue = q.ID, q
			return true
		}
	}
	*dst = v.in.id(v.str)
	return true
}

// id is s as a string: the engine's own when it knows it.
func (in *interns) id(s []byte) string {
	if in != nil {
		if id, ok := in.ids[string(s)]; ok {
			return id
		}
	}
	return string(s)
}

func (v flatValue) setInt(dst *int) bool {
	if v.kind != flatInt {
		return false
	}
	*dst = int(v.num)
	return true
}

// setIntMap stores an object of strings to integers as encoding/json
// decodes it into a map[string]int field that is still nil: a new map,
// empty for {}, a repeated key's last value. A map already set (the
// member given twice: encoding/json would merge) is left to encoding/json.
// Keys that are known ids reuse their strings.
func (v flatValue) setIntMap(dst *map[string]int) bool {
	if v.kind != flatIntMap || *dst != nil {
		return false
	}
	m := make(map[string]int, v.num)
	f := flatScanner{p: v.str}
	if _, ok := f.intMap(func(key []byte, n int64) {
		m[v.in.id(key)] = int(n)
	}); !ok {
		return false // cannot happen: value() has read it
	}
	*dst = m
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
		return v.setAgent(&p.Agent)
	}
	return false
}

func (p *AgentCallRequest) setFlat(k []byte, v flatValue) bool {
	if string(k) == "agent" {
		return v.setAgent(&p.Agent)
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
		return v.setAgent(&p.Agent)
	case "reason":
		return v.setStr(&p.Reason)
	}
	return false
}

func (p *CloseRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setAgent(&p.Agent)
	case "confirm":
		return v.setBool(&p.Confirm)
	}
	return false
}

func (p *HangupRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setAgent(&p.Agent)
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
		return v.setQueue(&p.Queue)
	case "agent":
		return v.setAgent(&p.Agent)
	case "extension":
		return v.setID(&p.Extension)
	case "priority":
		return v.setInt(&p.Priority)
	case "note":
		return v.setStr(&p.Note)
	case "skills":
		return v.setIntMap(&p.Skills)
	}
	return false
}

// setFlat: a web callback without contact data or schedule windows (the
// arrays go to encoding/json).
func (p *CallbackCreateRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "callback":
		return v.setStr(&p.Callback)
	case "queue":
		return v.setQueue(&p.Queue)
	case "customer_name":
		return v.setStr(&p.CustomerName)
	case "phone":
		return v.setStr(&p.Phone)
	case "description":
		return v.setStr(&p.Description)
	case "priority":
		return v.setInt(&p.Priority)
	}
	return false
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
		return v.setAgent(&p.Agent)
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
		return v.setAgent(&p.Agent)
	case "call":
		return v.setStr(&p.Call)
	}
	return false
}

func (p *TransferRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setAgent(&p.Agent)
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
		return v.setAgent(&p.Agent)
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
		return v.setAgent(&p.Agent)
	case "chain":
		return v.setBool(&p.Chain)
	}
	return false
}

func (p *ParkRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setAgent(&p.Agent)
	case "note":
		return v.setStr(&p.Note)
	}
	return false
}

func (p *NoteRequest) setFlat(k []byte, v flatValue) bool {
	switch string(k) {
	case "agent":
		return v.setAgent(&p.Agent)
	case "call":
		return v.setStr(&p.Call)
	case "note":
		return v.setStr(&p.Note)
	}
	return false
}
