package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)

func valid() Envelope {
	return Envelope{Type: "config.apply", Version: CurrentVersion, Time: t0.UnixNano(), ID: "c1", Payload: json.RawMessage(`{"a":1}`)}
}

func TestNew(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	tests := []struct {
		name        string
		typ, id     string
		now         time.Time
		payload     any
		wantPayload string
		wantErr     string
	}{
		{name: "struct payload", typ: "config.apply", id: "a", now: t0, payload: body{"x", 2}, wantPayload: `{"name":"x","n":2}`},
		{name: "nil payload", typ: "cluster.noop", id: "a", now: t0, payload: nil, wantPayload: ""},
		{name: "raw payload", typ: "a.b", id: "a", now: t0, payload: json.RawMessage(`[1,2]`), wantPayload: `[1,2]`},
		{name: "owned payload", typ: "a.b", id: "a", now: t0, payload: Owned(`[1,2]`), wantPayload: `[1,2]`},
		{name: "owned payload json.Marshal escapes", typ: "a.b", id: "a", now: t0, payload: Owned(`["<a>", 1]`), wantPayload: `["\u003ca\u003e",1]`},
		{name: "owned payload not JSON", typ: "a.b", id: "a", now: t0, payload: Owned(`[1,`), wantErr: "encoding a.b payload"},
		{name: "unmarshalable payload", typ: "a.b", id: "a", now: t0, payload: make(chan int), wantErr: "encoding a.b payload"},
		{name: "no family", typ: "apply", id: "a", now: t0, wantErr: "want <family>.<name>"},
		{name: "empty type", typ: "", id: "a", now: t0, wantErr: "want <family>.<name>"},
		{name: "missing id", typ: "a.b", id: "", now: t0, wantErr: "missing id"},
		{name: "zero time", typ: "a.b", id: "a", now: time.Time{}, wantErr: "missing time"},
		{name: "epoch time", typ: "a.b", id: "a", now: time.Unix(0, 0), wantErr: "missing time"},
		{name: "payload too large", typ: "a.b", id: "a", now: t0, payload: strings.Repeat("x", MaxPayload), wantErr: "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.typ, tt.id, tt.now, tt.payload)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if e.Type != tt.typ || e.ID != tt.id || e.Version != CurrentVersion || e.Time != tt.now.UnixNano() {
				t.Errorf("New = %+v", e)
			}
			if string(e.Payload) != tt.wantPayload {
				t.Errorf("payload = %q, want %q", e.Payload, tt.wantPayload)
			}
			if !e.Now().Equal(tt.now) || e.Now().Location() != time.UTC {
				t.Errorf("Now() = %v, want %v in UTC", e.Now(), tt.now)
			}
		})
	}
}

// TestNewOwnership: New copies a json.RawMessage, which its caller may
// reuse, and keeps an Owned payload, which its caller hands over.
func TestNewOwnership(t *testing.T) {
	raw := json.RawMessage(`{"n":1}`)
	e, err := New("a.b", "r", t0, raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[5] = '2'
	if string(e.Payload) != `{"n":1}` {
		t.Errorf("the caller's later change reached the envelope of a json.RawMessage: %s", e.Payload)
	}
	owned := Owned(`{"n":1}`)
	if e, err = New("a.b", "o", t0, owned); err != nil {
		t.Fatal(err)
	}
	if &e.Payload[0] != &owned[0] {
		t.Error("an Owned payload was copied")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name        string
		mod         func(*Envelope)
		wantErr     string
		wantVersion bool
	}{
		{name: "valid", mod: func(*Envelope) {}},
		{name: "version above current", mod: func(e *Envelope) { e.Version = CurrentVersion + 1 }, wantErr: "version", wantVersion: true},
		{name: "version below min", mod: func(e *Envelope) { e.Version = MinVersion - 1 }, wantErr: "version", wantVersion: true},
		{name: "negative version", mod: func(e *Envelope) { e.Version = -7 }, wantErr: "version", wantVersion: true},
		{name: "missing type", mod: func(e *Envelope) { e.Type = "" }, wantErr: "command type"},
		{name: "type without dot", mod: func(e *Envelope) { e.Type = "config" }, wantErr: "want <family>.<name>"},
		{name: "missing id", mod: func(e *Envelope) { e.ID = "" }, wantErr: "missing id"},
		{name: "missing time", mod: func(e *Envelope) { e.Time = 0 }, wantErr: "missing time"},
		{name: "negative time", mod: func(e *Envelope) { e.Time = -1 }, wantErr: "missing time"},
		{name: "payload at limit", mod: func(e *Envelope) { e.Payload = bigString(MaxPayload) }},
		{name: "payload over limit", mod: func(e *Envelope) { e.Payload = bigString(MaxPayload + 1) }, wantErr: "exceeds"},
		{name: "no payload", mod: func(e *Envelope) { e.Payload = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.mod(&e)
			err := e.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrVersion); got != tt.wantVersion {
				t.Errorf("errors.Is(err, ErrVersion) = %v, want %v (err %v)", got, tt.wantVersion, err)
			}
			// Encode refuses what Validate refuses.
			if b, err := Encode(e); err == nil {
				t.Errorf("Encode accepted an invalid envelope: %s", b)
			}
		})
	}
}

// bigString is a JSON string payload of exactly n bytes.
func bigString(n int) json.RawMessage {
	b := bytes.Repeat([]byte("x"), n)
	b[0], b[n-1] = '"', '"'
	return b
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		env  Envelope
	}{
		{"with payload", valid()},
		{"no payload", Envelope{Type: "cluster.noop", Version: 1, Time: 1, ID: "x"}},
		{"unicode and html", Envelope{Type: "config.<apply>", Version: 1, Time: 1 << 62, ID: "é&\u2028", Payload: json.RawMessage(`{"s":"a<b>&c\u00e9"}`)}},
		{"null payload", Envelope{Type: "a.b", Version: 1, Time: 5, ID: "n", Payload: json.RawMessage(`null`)}},
		{"scalar payload", Envelope{Type: "a.b", Version: 1, Time: 5, ID: "n", Payload: json.RawMessage(`"text"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.env)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if !sameEnvelope(got, tt.env) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.env)
			}
			b2, err := Encode(got)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs: %s vs %s (%v)", b, b2, err)
			}
		})
	}
}

func TestEncodeWireNames(t *testing.T) {
	b, err := Encode(valid())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "v", "time", "id", "payload"} {
		if _, ok := m[k]; !ok {
			t.Errorf("encoded envelope %s lacks %q", b, k)
		}
	}
	e := valid()
	e.Payload = nil
	b, _ = Encode(e)
	if bytes.Contains(b, []byte("payload")) {
		t.Errorf("empty payload should be omitted: %s", b)
	}
}

// An envelope accepted by Encode must decode again, even when its payload
// was not produced by encoding/json (HTML characters are not expanded past
// MaxPayload on the way into the log).
func TestEncodeDoesNotGrowPayloadPastLimit(t *testing.T) {
	p := bytes.Repeat([]byte("<"), MaxPayload)
	p[0], p[len(p)-1] = '"', '"'
	e := Envelope{Type: "a.b", Version: 1, Time: 1, ID: "x", Payload: p}
	b, err := Encode(e)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode of Encode output: %v", err)
	}
	if !sameEnvelope(got, e) {
		t.Fatal("payload changed")
	}
}

func TestDecodeRefusals(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantErr     string
		wantVersion bool
	}{
		{"not json", `{`, "decoding command", false},
		{"array", `[1]`, "decoding command", false},
		{"wrong field type", `{"type":"a.b","v":"1","time":1,"id":"x"}`, "decoding command", false},
		{"newer version", `{"type":"a.b","v":2,"time":1,"id":"x"}`, "version 2", true},
		{"missing version", `{"type":"a.b","time":1,"id":"x"}`, "version 0", true},
		{"missing type", `{"v":1,"time":1,"id":"x"}`, "command type", false},
		{"missing id", `{"type":"a.b","v":1,"time":1}`, "missing id", false},
		{"missing time", `{"type":"a.b","v":1,"id":"x"}`, "missing time", false},
		{"empty", ``, "decoding command", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Decode = %+v, %v; want error containing %q", e, err, tt.wantErr)
			}
			if errors.Is(err, ErrVersion) != tt.wantVersion {
				t.Errorf("errors.Is(err, ErrVersion) = %v, want %v", !tt.wantVersion, tt.wantVersion)
			}
			if e.Type != "" || e.ID != "" {
				t.Errorf("refused Decode returned a non-zero envelope %+v", e)
			}
		})
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	e, err := Decode([]byte(`{"type":"a.b","v":1,"time":9,"id":"x","future":true}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if e.Type != "a.b" || e.Time != 9 || e.ID != "x" {
		t.Fatalf("Decode = %+v", e)
	}
}

func TestFamily(t *testing.T) {
	tests := []struct{ typ, want string }{
		{"config.apply", "config"},
		{"cluster.node_upsert", "cluster"},
		{"a.b.c", "a"},
		{".x", ""},
		{"nodot", "nodot"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := (Envelope{Type: tt.typ}).Family(); got != tt.want {
			t.Errorf("Family(%q) = %q, want %q", tt.typ, got, tt.want)
		}
	}
}

func TestEmitter(t *testing.T) {
	env := valid()
	em := NewEmitter(42, env)
	if len(em.Events()) != 0 {
		t.Fatalf("new emitter has events %v", em.Events())
	}
	em.Emit("x.created", map[string]int{"n": 1})
	em.Emit("x.nodata", nil)
	em.Emit("x.updated", struct {
		ID string `json:"id"`
	}{"q1"})
	want := []Event{
		{Index: 42, Seq: 0, Type: "x.created", Time: env.Time, CommandID: env.ID, Data: json.RawMessage(`{"n":1}`)},
		{Index: 42, Seq: 1, Type: "x.nodata", Time: env.Time, CommandID: env.ID},
		{Index: 42, Seq: 2, Type: "x.updated", Time: env.Time, CommandID: env.ID, Data: json.RawMessage(`{"id":"q1"}`)},
	}
	got := em.Events()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameEvent(got[i], want[i]) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
		if got[i].Pos() != (Position{42, i}) {
			t.Errorf("event %d Pos = %+v", i, got[i].Pos())
		}
	}
	em.Reset()
	if n := len(em.Events()); n != 0 {
		t.Fatalf("after Reset: %d events", n)
	}
	em.Emit("x.again", nil)
	if ev := em.Events(); len(ev) != 1 || ev[0].Seq != 0 || ev[0].Type != "x.again" {
		t.Fatalf("after Reset, Emit gave %+v; want seq restarting at 0", ev)
	}
}

// appendPoint is a JSONAppender for the tests: its hand-written encoding
// equals json.Marshal's.
type appendPoint struct {
	X int    `json:"x"`
	S string `json:"s"`
}

func (p appendPoint) AppendJSON(b []byte) []byte {
	b = append(b, `{"x":`...)
	b = strconv.AppendInt(b, int64(p.X), 10)
	b = append(b, `,"s":"`...)
	b = append(b, p.S...) // the tests use strings that need no escaping
	return append(b, `"}`...)
}

// TestEmitterEncodingPaths: the three ways to emit (json.Marshal, a
// JSONAppender, pre-encoded bytes) give the same events, and no event's
// bytes can be changed through another's.
func TestEmitterEncodingPaths(t *testing.T) {
	env := valid()
	p := appendPoint{X: 7, S: "q1"}
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	type plain appendPoint // the same fields, without AppendJSON
	tests := []struct {
		name string
		emit func(m *Emitter)
	}{
		{"marshal", func(m *Emitter) { m.Emit("x.e", plain(p)) }},
		{"appender value", func(m *Emitter) { m.Emit("x.e", p) }},
		{"appender pointer", func(m *Emitter) { m.Emit("x.e", &p) }},
		{"raw", func(m *Emitter) { m.EmitRaw("x.e", want) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewEmitter(9, env)
			for range 5 { // past the inline event and the first buffer
				tt.emit(m)
			}
			evs := m.Events()
			if len(evs) != 5 {
				t.Fatalf("%d events, want 5", len(evs))
			}
			for i, ev := range evs {
				w := Event{Index: 9, Seq: i, Type: "x.e", Time: env.Time, CommandID: env.ID, Data: want}
				if !sameEvent(ev, w) || !bytes.Equal(ev.Data, want) {
					t.Fatalf("event %d = %+v (%s), want %s", i, ev, ev.Data, want)
				}
			}
			// Appending to one event's data never reaches the next.
			_ = append(evs[0].Data, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
			if !bytes.Equal(evs[1].Data, want) {
				t.Fatalf("appending to event 0's data changed event 1: %s", evs[1].Data)
			}
		})
	}
}

func TestEmitRawCopies(t *testing.T) {
	m := NewEmitter(1, valid())
	buf := []byte(`{"n":1}`)
	m.EmitRaw("x.a", buf)
	copy(buf, `{"n":2}`)
	m.EmitRaw("x.b", buf)
	m.EmitRaw("x.c", nil)
	ev := m.Events()
	if string(ev[0].Data) != `{"n":1}` || string(ev[1].Data) != `{"n":2}` || ev[2].Data != nil {
		t.Fatalf("EmitRaw kept the caller's array: %s %s %s", ev[0].Data, ev[1].Data, ev[2].Data)
	}
}

// TestEmitOwned: EmitOwned keeps the caller's bytes (no copy), each
// event's data capped at its length; nil stays nil.
func TestEmitOwned(t *testing.T) {
	m := NewEmitter(1, valid())
	buf := []byte(`{"n":1}{"n":22}`)
	m.EmitOwned("x.a", buf[:7])
	m.EmitOwned("x.b", buf[7:])
	m.EmitOwned("x.c", nil)
	ev := m.Events()
	if len(ev) != 3 || string(ev[0].Data) != `{"n":1}` || string(ev[1].Data) != `{"n":22}` || ev[2].Data != nil {
		t.Fatalf("events %+v", ev)
	}
	if &ev[0].Data[0] != &buf[0] || &ev[1].Data[0] != &buf[7] {
		t.Fatal("EmitOwned copied the data")
	}
	if cap(ev[0].Data) != 7 {
		t.Fatalf("event 0's data has cap %d, want 7", cap(ev[0].Data))
	}
	_ = append(ev[0].Data, 'X')
	if string(ev[1].Data) != `{"n":22}` {
		t.Fatalf("appending to event 0's data changed event 1: %s", ev[1].Data)
	}
	for i, e := range ev {
		if e.Seq != i || e.Index != 1 {
			t.Fatalf("event %d stamped %+v", i, e)
		}
	}
}

// TestEmitterResetKeepsData: events read before a Reset keep their bytes
// when the emitter is used again.
func TestEmitterResetKeepsData(t *testing.T) {
	m := NewEmitter(1, valid())
	m.Emit("x.a", appendPoint{X: 1, S: "a"})
	kept := m.Events()[0].Data
	m.Reset()
	m.Emit("x.b", appendPoint{X: 2, S: "b"})
	if string(kept) != `{"x":1,"s":"a"}` {
		t.Fatalf("data kept before Reset became %s", kept)
	}
	if ev := m.Events(); len(ev) != 1 || string(ev[0].Data) != `{"x":2,"s":"b"}` || ev[0].Seq != 0 {
		t.Fatalf("after Reset: %+v", ev)
	}
}

func BenchmarkEmit(b *testing.B) {
	env := valid()
	p := appendPoint{X: 7, S: "q1"}
	type plain appendPoint
	raw, _ := json.Marshal(p)
	for _, bm := range []struct {
		name string
		emit func(m *Emitter)
	}{
		{"marshal", func(m *Emitter) { m.Emit("x.e", plain(p)) }},
		{"appender", func(m *Emitter) { m.Emit("x.e", &p) }},
		{"raw", func(m *Emitter) { m.EmitRaw("x.e", raw) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := NewEmitter(1, env)
				bm.emit(m)
				bm.emit(m)
			}
		})
	}
}

func TestEmitPanicsOnUnencodableData(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Emit of a channel did not panic")
		}
	}()
	NewEmitter(1, valid()).Emit("x.bad", make(chan int))
}

func TestPositionAfter(t *testing.T) {
	tests := []struct {
		p, q Position
		want bool
	}{
		{Position{2, 0}, Position{1, 5}, true},
		{Position{1, 5}, Position{2, 0}, false},
		{Position{3, 2}, Position{3, 1}, true},
		{Position{3, 1}, Position{3, 2}, false},
		{Position{3, 1}, Position{3, 1}, false},
		{Position{0, 0}, Position{0, 0}, false},
		{Position{1, 0}, Position{0, 0}, true},
	}
	for _, tt := range tests {
		if got := tt.p.After(tt.q); got != tt.want {
			t.Errorf("%+v.After(%+v) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

func TestEventJSON(t *testing.T) {
	ev := Event{Index: 7, Seq: 1, Type: "t.x", Time: 3, CommandID: "c", Data: json.RawMessage(`{"a":true}`)}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"index":7,"seq":1,"type":"t.x","time":3,"command_id":"c","data":{"a":true}}`
	if string(b) != want {
		t.Fatalf("event JSON = %s, want %s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || !sameEvent(back, ev) {
		t.Fatalf("event round trip = %+v, %v", back, err)
	}
}

// sameEnvelope compares envelopes, payloads by their compact JSON (the log
// form is compacted).
func sameEnvelope(a, b Envelope) bool {
	return a.Type == b.Type && a.Version == b.Version && a.Time == b.Time && a.ID == b.ID &&
		sameJSON(a.Payload, b.Payload)
}

func sameEvent(a, b Event) bool {
	return a.Index == b.Index && a.Seq == b.Seq && a.Type == b.Type && a.Time == b.Time &&
		a.CommandID == b.CommandID && sameJSON(a.Data, b.Data)
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return canonical(ca.Bytes()) == canonical(cb.Bytes())
}

// canonical re-marshals JSON through interface{} so that equivalent
// escapes (\u003c vs <) compare equal.
func canonical(b []byte) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// TestDecodeFastTaken: an envelope as Encode writes it takes the fast
// path, a large payload included.
func TestDecodeFastTaken(t *testing.T) {
	for _, payload := range []any{nil, map[string]any{"s": "<&>", "n": []int{1, 2}}, json.RawMessage(`{"messages":[` + strings.Repeat(`{"uid":1,"message_id":"\u003cx\u003e"},`, 999) + `{}]}`)} {
		env, err := New("mail.received_batch", "mail.received_batch/7/1-1000", time.Unix(0, 1796411434863007573), payload)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Encode(env)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFast(b, false)
		if !ok || !sameEnvelope(got, env) {
			t.Fatalf("%.200s: fast path %v, %+v", b, ok, got)
		}
	}
}

// TestDecodeOwned: DecodeOwned's payload is the buffer's own bytes,
// Decode's a copy; both read the same envelope.
func TestDecodeOwned(t *testing.T) {
	env, err := New("mail.received_batch", "k", time.Unix(0, 1), map[string]any{"messages": []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	owned, err := DecodeOwned(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEnvelope(owned, copied) || !bytes.Equal(owned.Payload, copied.Payload) {
		t.Fatalf("owned %+v, copied %+v", owned, copied)
	}
	// A change to the buffer shows in the owned payload only.
	i := bytes.Index(b, []byte(`"messages"`))
	b[i+1] = 'M'
	if owned.Payload[2] != 'M' || copied.Payload[2] != 'm' {
		t.Fatalf("after the buffer changed: owned %s, copied %s; want the owned one changed", owned.Payload, copied.Payload)
	}
	if cap(owned.Payload) != len(owned.Payload) {
		t.Fatalf("owned payload has room to grow into the buffer (cap %d, len %d)", cap(owned.Payload), len(owned.Payload))
	}
}

// BenchmarkNewEncode: a mail batch's command of 1,000 messages (~230 KB)
// through New and Encode, beside encoding/json's path (the reference code
// of FuzzEncodeFast). The leader does this for every command it proposes.
func BenchmarkNewEncode(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"messages":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"uid":%d,"message_id":"\u003cm%d@example.org\u003e","from":"Customer Name \u003cc%d@example.com\u003e","to":"support@example.org","subject":"Help with my order number %d please","date":1764900000000000000,"size":10240}`, i+1, i, i, i)
	}
	sb.WriteString(`]}`)
	payload := json.RawMessage(sb.String())
	now := time.Unix(0, 1764900000000000000)
	for _, bc := range []struct {
		name   string
		newFn  func(string, string, time.Time, any) (Envelope, error)
		encode func(Envelope) ([]byte, error)
	}{{"fast", New, Encode}, {"encoding-json", referenceNew, referenceEncode}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				e, err := bc.newFn("mail.received_batch", "0123456789abcdef0123456789abcdef", now, payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bc.encode(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
