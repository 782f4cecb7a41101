package contactcenter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// Every hand-encoded event type, as a command.JSONAppender.
var (
	_ command.JSONAppender = AgentRef{}
	_ command.JSONAppender = AgentStateEvent{}
	_ command.JSONAppender = WrapUpEvent{}
	_ command.JSONAppender = QueuedEvent{}
	_ command.JSONAppender = OfferedEvent{}
	_ command.JSONAppender = WithdrawnEvent{}
	_ command.JSONAppender = CallAgentEvent{}
	_ command.JSONAppender = AnsweredEvent{}
	_ command.JSONAppender = CallEndedEvent{}
	_ command.JSONAppender = CallbackEvent{}
)

// appenderTypes lists the hand-encoded event types (keep in step with
// the assertions above and encode.go).
func appenderTypes() []reflect.Type {
	return []reflect.Type{
		reflect.TypeFor[AgentRef](), reflect.TypeFor[AgentStateEvent](), reflect.TypeFor[WrapUpEvent](),
		reflect.TypeFor[QueuedEvent](), reflect.TypeFor[OfferedEvent](), reflect.TypeFor[WithdrawnEvent](),
		reflect.TypeFor[CallAgentEvent](), reflect.TypeFor[AnsweredEvent](), reflect.TypeFor[CallEndedEvent](),
		reflect.TypeFor[MailReceivedEvent](), reflect.TypeFor[MailSkippedEvent](),
		reflect.TypeFor[MailReceivedRequest](), // a payload: the mail channel encodes its batches so
		reflect.TypeFor[MailResult](),          // a result: the cluster encodes a batch's so
		reflect.TypeFor[CallbackEvent](),
	}
}

// hostileStrings need every escaping rule of encoding/json.
var hostileStrings = []string{
	"", "a", "c123", "+441615500001", "Jean-Fran\u00e7ois", "日本語", "emoji \U0001F600",
	`quote " inside`, `back\slash`, `\"`, "<script>alert(1)</script>", "a&b", "x>y", "<>&",
	"\x00", "\x01\x02\x1f", "\b\f\n\r\t", "line\nbreak", "tab\there", "\x7f", " ~",
	"\u2028", "\u2029", "a\u2028b\u2029c", "\u2027\u202a", "\ufffd", "\uffff",
	"\xff", "a\xffb", "\xc3", "a\xc3", "\xc3\x28", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80",
	"\xe2\x80\xa8\xff<", strings.Repeat("x", 300), strings.Repeat("<\u2028\xff", 50),
}

// allASCII is every byte below 0x80, once.
func allASCII() string {
	var b strings.Builder
	for c := range utf8.RuneSelf {
		b.WriteByte(byte(c))
	}
	return b.String()
}

func marshalOrFatal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return b
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range append(hostileStrings, allASCII()) {
		want := marshalOrFatal(t, s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, json.Marshal = %s", s, got, want)
		}
		// Appending keeps what was there.
		if got := appendJSONString([]byte("prefix"), s); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("appendJSONString(prefix, %q) = %s", s, got)
		}
	}
	// Every single byte and every rune class at the start, middle and end.
	for c := range 256 {
		for _, s := range []string{string(rune(0)) + string([]byte{byte(c)}), string([]byte{byte(c)}) + "z", "é" + string([]byte{byte(c)})} {
			if got, want := appendJSONString(nil, s), marshalOrFatal(t, s); !bytes.Equal(got, want) {
				t.Errorf("appendJSONString(%q) = %s, json.Marshal = %s", s, got, want)
			}
		}
	}
}

func TestAppendJSONStrings(t *testing.T) {
	for _, ss := range [][]string{nil, {}, {""}, {"a1"}, {"a1", "a2", "<&>"}, hostileStrings} {
		if got, want := appendJSONStrings(nil, ss), marshalOrFatal(t, ss); !bytes.Equal(got, want) {
			t.Errorf("appendJSONStrings(%q) = %s, json.Marshal = %s", ss, got, want)
		}
	}
}

// fill sets every field of the struct v points to from r: each field is
// left zero (exercising omitempty) or set, strings from hostileStrings.
// A field of a kind it does not know fails the test, so a new field of a
// new kind in a hand-encoded event cannot go untested.
func fill(t testing.TB, r *rand.Rand, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		if r.IntN(3) == 0 {
			continue // zero
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(hostileStrings[r.IntN(len(hostileStrings))])
		case reflect.Int, reflect.Int64:
			vals := []int64{1, -1, 7, 42, 1e9, -1e9, 1772366400000000123, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
			f.SetInt(vals[r.IntN(len(vals))])
		case reflect.Uint32:
			vals := []uint64{1, 7, 1 << 31, math.MaxUint32}
			f.SetUint(vals[r.IntN(len(vals))])
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String {
				t.Fatalf("%s.%s: fill knows no %s", v.Type(), v.Type().Field(i).Name, f.Type())
			}
			n := r.IntN(4) // 0 gives an empty, non-nil slice
			s := reflect.MakeSlice(f.Type(), n, n)
			for j := range n {
				s.Index(j).SetString(hostileStrings[r.IntN(len(hostileStrings))])
			}
			f.Set(s)
		default:
			t.Fatalf("%s.%s: fill knows no %s", v.Type(), v.Type().Field(i).Name, f.Type())
		}
	}
}

// checkAppender compares v's AppendJSON with json.Marshal, called on the
// value and through a pointer, into an empty and a used buffer.
func checkAppender(t testing.TB, v reflect.Value) {
	t.Helper()
	want := marshalOrFatal(t, v.Interface())
	for _, x := range []any{v.Interface(), v.Addr().Interface()} {
		a := x.(command.JSONAppender)
		if got := a.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("%T AppendJSON:\n got %s\nwant %s (json.Marshal)", x, got, want)
		}
		if got := a.AppendJSON([]byte(`{"x":1},`)); !bytes.Equal(got, append([]byte(`{"x":1},`), want...)) {
			t.Fatalf("%T AppendJSON after other data: %s", x, got)
		}
	}
}

// TestEventAppendersMatchEncodingJSON: every hand-encoded event type
// encodes byte for byte as json.Marshal, zero, with every field set and
// with random mixes of set and empty fields.
func TestEventAppendersMatchEncodingJSON(t *testing.T) {
	for _, typ := range appenderTypes() {
		t.Run(typ.Name(), func(t *testing.T) {
			if reflect.PointerTo(typ).Implements(reflect.TypeFor[json.Marshaler]()) {
				t.Fatalf("%s implements json.Marshaler: json.Marshal would no longer be an independent reference", typ)
			}
			checkAppender(t, reflect.New(typ).Elem()) // zero value
			r := rand.New(rand.NewPCG(1, uint64(typ.NumField())))
			for range 3000 {
				v := reflect.New(typ).Elem()
				fill(t, r, v)
				checkAppender(t, v)
			}
			// Every field set at once.
			v := reflect.New(typ).Elem()
			for i := range typ.NumField() {
				f := v.Field(i)
				switch f.Kind() {
				case reflect.String:
					f.SetString("<" + typ.Field(i).Name + "\u2028\xff>")
				case reflect.Int, reflect.Int64:
					f.SetInt(int64(-i - 1))
				case reflect.Uint32:
					f.SetUint(uint64(math.MaxUint32 - i))
				case reflect.Bool:
					f.SetBool(true)
				case reflect.Slice:
					f.Set(reflect.ValueOf([]string{"a\"1", "a&2"}))
				}
			}
			checkAppender(t, v)
		})
	}
}

// TestEngineEventsUseAppenders: the hot events of a routed call are
// emitted through their encoders (the fast path is really taken) and the
// bytes decode back to the same values.
func TestEngineEventsUseAppenders(t *testing.T) {
	for _, ev := range []any{
		QueuedEvent{Call: "c<1>", Queue: "q1", Number: "+44\u2028", Position: 1, Waiting: 1, Level: 1, ExpectedWaitSeconds: -1, Reason: "new"},
		&OfferedEvent{Call: "c1", Agents: []string{"a1", "a&2"}, Queue: "q1", RingUntil: 5},
		AnsweredEvent{Call: "c1", Agent: "a1", WaitMS: 3},
		&CallEndedEvent{Call: "c1", Reason: "hangup", By: "agent", Place: PlaceLine, Agent: "a1", DurationMS: 9},
		&CallEndedEvent{Call: "c2", Reason: "abandoned", By: "caller", Place: PlaceRinging, Queue: "q1", DurationMS: 1},
		&CallEndedEvent{Call: "mail-1-2", Reason: "hangup", By: "agent", Place: PlaceLine, Agent: "a1", Queue: "q1", Medium: MediumEmail, DurationMS: 1},
	} {
		em := command.NewEmitter(1, command.Envelope{Type: "call.x", Version: 1, Time: 1, ID: "x"})
		em.Emit("t", ev)
		got := em.Events()[0].Data
		if want := marshalOrFatal(t, ev); !bytes.Equal(got, want) {
			t.Errorf("%T emitted %s, json.Marshal %s", ev, got, want)
		}
		back := reflect.New(reflect.Indirect(reflect.ValueOf(ev)).Type())
		if err := json.Unmarshal(got, back.Interface()); err != nil {
			t.Errorf("%T: %s does not decode: %v", ev, got, err)
		} else if !reflect.DeepEqual(back.Elem().Interface(), reflect.Indirect(reflect.ValueOf(ev)).Interface()) {
			t.Errorf("%T: %s decodes to %+v", ev, got, back.Elem().Interface())
		}
	}
}

// FuzzEventAppenders: for any strings and numbers, every hand-encoded
// event encodes as json.Marshal does.
func FuzzEventAppenders(f *testing.F) {
	for i, s := range hostileStrings {
		f.Add(uint8(i), s, hostileStrings[(i+7)%len(hostileStrings)], int64(i)-3, i%2 == 0)
	}
	f.Add(uint8(0), "\xed\xa0\x80", "\u2029<", int64(math.MinInt64), true)
	f.Fuzz(func(t *testing.T, which uint8, s1, s2 string, n int64, flag bool) {
		types := appenderTypes()
		typ := types[int(which)%len(types)]
		v := reflect.New(typ).Elem()
		for i := range typ.NumField() {
			fv := v.Field(i)
			s := s1
			if i%2 == 1 {
				s = s2
			}
			switch fv.Kind() {
			case reflect.String:
				fv.SetString(s)
			case reflect.Int, reflect.Int64:
				fv.SetInt(n + int64(i))
			case reflect.Uint32:
				fv.SetUint(uint64(uint32(n)) + uint64(i)%2)
			case reflect.Bool:
				fv.SetBool(flag)
			case reflect.Slice:
				if flag {
					fv.Set(reflect.ValueOf([]string{s1, s2}))
				}
			default:
				t.Fatalf("%s: unknown field kind %s", typ, fv.Kind())
			}
		}
		checkAppender(t, v)
	})
}

func BenchmarkEventEncoding(b *testing.B) {
	ev := OfferedEvent{Call: "c123", Agents: []string{"a17"}, Queue: "q7", Number: "+4416155000123", RingUntil: 1772366400000000000}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = ev.AppendJSON(buf[:0])
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleOfferedEvent_AppendJSON() {
	ev := OfferedEvent{Call: "c1", Agents: []string{"a1"}, Queue: "q1", Note: "<VIP>", RingUntil: 20e9}
	fmt.Println(string(ev.AppendJSON(nil)))
	// Output: {"call":"c1","agents":["a1"],"queue":"q1","note":"\u003cVIP\u003e","ring_until":20000000000}
}
