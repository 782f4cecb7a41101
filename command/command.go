// Package command defines the envelope every change to Tandem's replicated
// state travels in, and the events that applying it produces.
//
// It is the one vocabulary shared by the Raft layer (package cluster), the
// deterministic engines that apply commands (package contactcenter and
// others) and the consumers of events (replication, consoles, SNMP,
// metrics). It owns encoding and envelope versioning only: it must not
// import any network, storage or engine code, so that every side can depend
// on it.
//
// A command carries everything its application needs — the wall-clock time
// and IDs chosen at the edge — so that applying it is deterministic: no
// clock reads, no randomness, no I/O.
package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CurrentVersion is the envelope schema version this build writes. Readers
// accept every version from MinVersion to CurrentVersion, so a log written by
// an older build still applies after an upgrade.
const (
	CurrentVersion = 1
	MinVersion     = 1
)

// MaxPayload bounds a single command's payload. Larger inputs are refused at
// the edge, before anything reaches the log.
const MaxPayload = 4 << 20

// Envelope is one command as it is written into the Raft log.
type Envelope struct {
	// Type names the command as "<family>.<name>", e.g. "config.apply".
	// The family selects the machine that applies it.
	Type string `json:"type"`
	// Version is the envelope schema version (see CurrentVersion).
	Version int `json:"v"`
	// Time is the proposer's wall-clock time in Unix nanoseconds. Engines
	// use it as "now"; they never read a clock themselves.
	Time int64 `json:"time"`
	// ID is unique per command, chosen by the proposer. It lets edges retry
	// a proposal without applying it twice.
	ID string `json:"id"`
	// Payload is the command's body, interpreted by its machine.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// New builds an envelope of the current version, marshalling payload.
// A json.RawMessage is copied; an Owned payload is kept as it is.
func New(typ, id string, now time.Time, payload any) (Envelope, error) {
	e := Envelope{Type: typ, Version: CurrentVersion, Time: now.UnixNano(), ID: id}
	raw, isRaw := payload.(json.RawMessage)
	owned, isOwned := payload.(Owned)
	switch {
	case isRaw && marshalsAsIs(raw):
		// What json.Marshal would return, without its two passes over a
		// large payload (a mail batch: ~1 ms for 200 KB).
		e.Payload = bytes.Clone(raw)
	case isOwned && marshalsAsIs(json.RawMessage(owned)):
		e.Payload = json.RawMessage(owned)
	case payload != nil:
		if isOwned {
			payload = json.RawMessage(owned) // marshalled as JSON, not as bytes
		}
		b, err := json.Marshal(payload)
		if err != nil {
			return Envelope{}, fmt.Errorf("encoding %s payload: %w", typ, err)
		}
		e.Payload = b
	}
	return e, e.Validate()
}

// Owned is a JSON payload handed over to New: the envelope keeps it, not
// a copy (a mail batch's ~200 KB on the leader), so whoever built it
// must not change it afterwards. Otherwise New treats it as a
// json.RawMessage.
type Owned json.RawMessage

// Family is the part of Type before the first dot.
func (e Envelope) Family() string {
	f, _, _ := strings.Cut(e.Type, ".")
	return f
}

// Now returns the command's time as a time.Time in UTC.
func (e Envelope) Now() time.Time { return time.Unix(0, e.Time).UTC() }

// Validate checks the envelope's own fields (not the payload's meaning).
func (e Envelope) Validate() error {
	switch {
	case e.Type == "" || !strings.Contains(e.Type, "."):
		return fmt.Errorf("command type %q: want <family>.<name>", e.Type)
	case e.Version < MinVersion || e.Version > CurrentVersion:
		return fmt.Errorf("command %s: %w: version %d, this build reads %d..%d",
			e.Type, ErrVersion, e.Version, MinVersion, CurrentVersion)
	case e.Time <= 0:
		return fmt.Errorf("command %s: missing time", e.Type)
	case e.ID == "":
		return fmt.Errorf("command %s: missing id", e.Type)
	case len(e.Payload) > MaxPayload:
		return fmt.Errorf("command %s: payload of %d bytes exceeds %d", e.Type, len(e.Payload), MaxPayload)
	}
	return nil
}

// ErrVersion marks an envelope written by a newer (or unknown) schema.
var ErrVersion = errors.New("unsupported envelope version")

// marshalsAsIs reports whether json.Marshal writes raw unchanged: one
// compact JSON value without the characters it escapes ('<', '>', '&',
// U+2028, U+2029). FuzzEncodeFast holds New and Encode to encoding/json.
func marshalsAsIs(raw json.RawMessage) bool {
	return !bytes.ContainsAny(raw, "<>&") && !bytes.Contains(raw, []byte("\u2028")) &&
		!bytes.Contains(raw, []byte("\u2029")) && compactJSON(raw)
}

// plainString reports whether encoding/json writes s between quotes as it
// is (HTML characters not escaped, as Encode asks).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Encode serialises an envelope for the Raft log. HTML characters are not
// escaped: json.Marshal would expand each '<', '>' or '&' of a payload
// that was not produced by encoding/json to six bytes, so a payload that
// passed the MaxPayload check could no longer Decode from the log.
func Encode(e Envelope) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if plainString(e.Type) && plainString(e.ID) && (len(e.Payload) == 0 || compactJSON(e.Payload)) {
		// What the encoder below writes, written directly: every node's
		// leader encodes every command, and a large payload costs the
		// encoder two passes.
		b := make([]byte, 0, 96+len(e.Type)+len(e.ID)+len(e.Payload)) // 96: the names, separators and two numbers
		b = append(b, `{"type":"`...)
		b = append(b, e.Type...)
		b = append(b, `","v":`...)
		b = strconv.AppendInt(b, int64(e.Version), 10)
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, e.Time, 10)
		b = append(b, `,"id":"`...)
		b = append(b, e.ID...)
		b = append(b, '"')
		if len(e.Payload) > 0 {
			b = append(b, `,"payload":`...)
			b = append(b, e.Payload...)
		}
		return append(b, '}'), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encoding command %s: %w", e.Type, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode parses and validates an envelope read from the Raft log. The
// envelope shares no memory with b.
func Decode(b []byte) (Envelope, error) { return decode(b, false) }

// DecodeOwned is Decode for a b the caller hands over: the payload may be
// b's own bytes, not a copy, so b must not change afterwards. The FSM
// decodes a decompressed log entry with it (the buffer is its own): a
// mail batch's payload is ~100 KB, copied on every node otherwise.
func DecodeOwned(b []byte) (Envelope, error) { return decode(b, true) }

func decode(b []byte, own bool) (Envelope, error) {
	e, ok := decodeFast(b, own)
	if ok {
		if err := e.Validate(); err != nil {
			return Envelope{}, err
		}
		return e, nil
	}
	e = Envelope{}
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, fmt.Errorf("decoding command: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// Event is something that happened because a command was applied. Events
// are the only way the world outside the state machine learns of changes:
// the replication buffer, the console stream, SNMP and metrics all consume
// them, each resuming from a known (Index, Seq).
type Event struct {
	// Index is the Raft log index of the command that produced the event.
	Index uint64 `json:"index"`
	// Seq numbers the events of one command from 0.
	Seq int `json:"seq"`
	// Type names the event, e.g. "config.agent.upserted".
	Type string `json:"type"`
	// Time is the producing command's time (Unix nanoseconds).
	Time int64 `json:"time"`
	// CommandID is the producing command's ID.
	CommandID string `json:"command_id,omitempty"`
	// Data is the event's body.
	Data json.RawMessage `json:"data,omitempty"`
}

// Position is a point in the event stream: events compare by (Index, Seq).
type Position struct {
	Index uint64 `json:"index"`
	Seq   int    `json:"seq"`
}

// MaxSeq is the largest Seq a position may carry (it fits every platform's
// int and a uint32). The position (i, MaxSeq) is the end of raft index i:
// after every event the command at i emitted.
const MaxSeq = 1<<31 - 1

// EndOf is the position just after every event of raft index i.
func EndOf(index uint64) Position { return Position{Index: index, Seq: MaxSeq} }

// Pos returns the event's position in the stream.
func (ev Event) Pos() Position { return Position{ev.Index, ev.Seq} }

// After reports whether p comes strictly after q.
func (p Position) After(q Position) bool {
	return p.Index > q.Index || (p.Index == q.Index && p.Seq > q.Seq)
}

// JSONAppender is implemented by event data (and command results, which
// the cluster's FSM encodes so too) that encodes itself without
// reflection. AppendJSON appends to b exactly the bytes json.Marshal
// would produce for the value (the same field order, omitempty rules and
// string escaping, HTML characters included) and returns the extended
// slice. Emit trusts it and does not re-validate the output, so every
// implementation must be held to json.Marshal by a differential test.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// Emitter collects the events of one command while it is applied. Engines
// call Emit, EmitRaw or EmitOwned; the cluster layer stamps Index, Seq,
// Time and CommandID.
//
// It is kept small: it holds only what it stamps, and room for two
// events inline (most commands emit one or two). The cluster FSM keeps
// one and Restarts it for every command, copying each command's events
// out before the next, so applying a command allocates no Emitter.
type Emitter struct {
	index  uint64
	time   int64
	id     string
	events []Event
	first  [2]Event
}

// NewEmitter starts collecting events for the command at index.
func NewEmitter(index uint64, env Envelope) *Emitter {
	return &Emitter{index: index, time: env.Time, id: env.ID}
}

// Restart starts collecting the events of the command at index, reusing
// m's storage: the events of the previous command must have been copied
// out (their Data is never reused, only the array of Events).
func (m *Emitter) Restart(index uint64, env Envelope) {
	m.index, m.time, m.id = index, env.Time, env.ID
	if m.events != nil {
		clear(m.events)
		m.events = m.events[:0]
	}
}

// Emit records one event. data is encoded at once: through its
// AppendJSON method when it is a JSONAppender, else with json.Marshal.
// Engines pass plain structs whose encoding cannot fail, so a failure is
// a programming error. A JSONAppender must not be a nil pointer.
func (m *Emitter) Emit(typ string, data any) {
	var raw json.RawMessage
	switch d := data.(type) {
	case nil:
	case JSONAppender:
		raw = d.AppendJSON(make([]byte, 0, 128))
	default:
		b, err := json.Marshal(data)
		if err != nil {
			panic(fmt.Sprintf("command: event %s: %v", typ, err))
		}
		raw = b
	}
	m.add(typ, raw)
}

// EmitRaw records one event whose data is already encoded: data must be
// exactly what json.Marshal produces for the event's value (so consumers
// cannot tell the two paths apart), or nil for none. It is copied, so the
// caller may reuse data's array for the next event.
func (m *Emitter) EmitRaw(typ string, data []byte) {
	var raw json.RawMessage
	if data != nil {
		raw = make(json.RawMessage, len(data))
		copy(raw, data)
	}
	m.add(typ, raw)
}

// EmitOwned records one event whose data is already encoded, as EmitRaw
// does, but keeps data itself instead of a copy: the caller hands the
// bytes over and must not change them afterwards. An engine that encodes
// all the events of a command into one buffer passes each event its part
// of it, for one allocation per command instead of one per event. The
// event's data is capped at its length, so appending to it never reaches
// the bytes that follow.
func (m *Emitter) EmitOwned(typ string, data []byte) {
	var raw json.RawMessage
	if data != nil {
		raw = data[:len(data):len(data)]
	}
	m.add(typ, raw)
}

func (m *Emitter) add(typ string, data json.RawMessage) {
	if m.events == nil {
		m.events = m.first[:0]
	}
	m.events = append(m.events, Event{
		Index: m.index, Seq: len(m.events), Type: typ,
		Time: m.time, CommandID: m.id, Data: data,
	})
}

// Events returns what was emitted.
func (m *Emitter) Events() []Event { return m.events }

// Reset drops what was emitted (used when a command is refused, so a
// refused command produces no events).
func (m *Emitter) Reset() { m.events = m.events[:0] }
