package buffer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ev   command.Event
	}{
		{"minimal", command.Event{Index: 1}},
		{"full", command.Event{Index: 42, Seq: 3, Type: "call.answered", Time: 1_700_000_000_000_000_000,
			CommandID: "c-1", Data: []byte(`{"call":"x","agent":7}`)}},
		{"negative time", command.Event{Index: 7, Time: -5, Type: "t"}},
		{"max seq", command.Event{Index: 1<<64 - 1, Seq: command.MaxSeq, Type: "t"}},
		{"binary data", command.Event{Index: 9, Data: []byte{0, 1, 2, 255}}},
		{"long type", command.Event{Index: 9, Type: strings.Repeat("x", 300), CommandID: strings.Repeat("y", 200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendEventFrame(nil, &tt.ev)
			rec, n, err := decodeRecord(append(b, 0xAA, 0xBB)) // trailing bytes are not its business
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(b) {
				t.Fatalf("frame length %d, want %d", n, len(b))
			}
			if rec.kind != kindEvent {
				t.Fatalf("kind %d", rec.kind)
			}
			got := newEventAlloc().event(&rec)
			if !eventsEqual(got, tt.ev) {
				t.Fatalf("got %+v, want %+v", got, tt.ev)
			}
		})
	}
}

func TestGapRecordRoundTrip(t *testing.T) {
	first, last := command.Position{Index: 10, Seq: 1}, command.Position{Index: 12, Seq: 0}
	b := appendGapFrame(nil, first, last, 5)
	rec, n, err := decodeRecord(b)
	if err != nil || n != len(b) {
		t.Fatalf("decode: n=%d err=%v", n, err)
	}
	if rec.kind != kindGap || rec.pos != last || rec.gapFirst != first || rec.gapEvents != 5 {
		t.Fatalf("got %+v", rec)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := appendEventFrame(nil, &command.Event{Index: 5, Seq: 1, Type: "a.b", Data: []byte(`{}`)})
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	reframe := func(payload []byte) []byte { // a valid frame around any payload
		b := make([]byte, headerSize, headerSize+len(payload))
		return recio.Seal(append(b, payload...), 0)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, errTorn},
		{"short header", good[:5], errTorn},
		{"short payload", good[:len(good)-1], errTorn},
		{"zero length", make([]byte, 16), errLength},
		{"huge length", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, maxPayload+1); return b }), errLength},
		{"flipped payload bit", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), errChecksum},
		{"flipped crc bit", mutate(func(b []byte) []byte { b[5] ^= 0x10; return b }), errChecksum},
		{"length past the end", mutate(func(b []byte) []byte { b[0]++; return b }), errTorn},
		{"unknown kind", reframe([]byte{9, 1, 0}), errPayload},
		{"index zero", reframe([]byte{kindEvent, 0, 0, 0, 0, 0}), errPayload},
		{"seq overflow", reframe(binary.AppendUvarint([]byte{kindEvent, 1}, 1<<40)), errPayload},
		{"type runs past end", reframe([]byte{kindEvent, 1, 0, 0, 5, 'a'}), errPayload},
		{"truncated varint", reframe([]byte{kindEvent, 0x80}), errPayload},
		{"gap first after last", reframe(binary.AppendUvarint([]byte{kindGap, 5, 0, 6, 0}, 1)), errPayload},
		{"gap zero events", reframe([]byte{kindGap, 5, 0, 4, 0, 0}), errPayload},
		{"gap trailing bytes", reframe([]byte{kindGap, 5, 0, 4, 0, 1, 0}), errPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeRecord(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !errors.Is(err, errBad) {
				t.Fatalf("%v is not errBad", err)
			}
		})
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the decoder, both as a frame
// and — so that mutations get past the checksum — as a payload framed with
// a valid checksum. It must never panic, never claim more bytes than it
// was given, and whatever it accepts must re-encode to a record that
// decodes to the same thing.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendEventFrame(nil, &command.Event{Index: 1}))
	f.Add(appendEventFrame(nil, &command.Event{Index: 300, Seq: 2, Type: "call.ended", Time: 123456789,
		CommandID: "cmd-9", Data: []byte(`{"id":"x"}`)}))
	f.Add(appendGapFrame(nil, command.Position{Index: 3}, command.Position{Index: 9, Seq: 1}, 7))
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Add([]byte{kindEvent, 1, 0, 0, 0, 0})
	f.Add([]byte{kindGap, 5, 0, 4, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		check := func(b []byte) {
			rec, n, err := decodeRecord(b)
			if err != nil {
				if !errors.Is(err, errBad) {
					t.Fatalf("error %v is not errBad", err)
				}
				return
			}
			if n < headerSize+1 || n > len(b) {
				t.Fatalf("frame length %d of %d bytes", n, len(b))
			}
			var again []byte
			switch rec.kind {
			case kindEvent:
				ev := newEventAlloc().event(&rec)
				again = appendEventFrame(nil, &ev)
			case kindGap:
				again = appendGapFrame(nil, rec.gapFirst, rec.pos, rec.gapEvents)
			default:
				t.Fatalf("accepted kind %d", rec.kind)
			}
			rec2, n2, err := decodeRecord(again)
			if err != nil || n2 != len(again) {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			if rec2.kind != rec.kind || rec2.pos != rec.pos || rec2.time != rec.time ||
				!bytes.Equal(rec2.typ, rec.typ) || !bytes.Equal(rec2.cmdID, rec.cmdID) ||
				!bytes.Equal(rec2.data, rec.data) || rec2.gapFirst != rec.gapFirst || rec2.gapEvents != rec.gapEvents {
				t.Fatalf("round trip changed the record: %+v → %+v", rec, rec2)
			}
		}
		check(in)
		if len(in) <= maxPayload && len(in) > 0 {
			check(recio.Seal(append(make([]byte, headerSize), in...), 0))
		}
		// The streaming reader must agree with decodeRecord.
		fr := newFrameReader()
		fr.reset(bytes.NewReader(in), int64(len(in)))
		_, n, err := fr.next()
		_, n2, err2 := decodeRecord(in)
		if (err == nil) != (err2 == nil) || (err == nil && int(n) != n2) {
			t.Fatalf("frameReader (%d, %v) and decodeRecord (%d, %v) disagree", n, err, n2, err2)
		}
	})
}

func eventsEqual(a, b command.Event) bool {
	return a.Index == b.Index && a.Seq == b.Seq && a.Type == b.Type && a.Time == b.Time &&
		a.CommandID == b.CommandID && bytes.Equal(a.Data, b.Data)
}
