package buffer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
)

// testdata/v1 is a buffer directory written by the first release of the
// format (before the framing moved to replication/internal/recio): two
// segments of goldenEvents, then a gap record, a "reporting" cursor at
// the start and a "standby" cursor acknowledged up to goldenStandby. The
// tests below prove that existing directories still open, read the same,
// and that today's encoders write the same bytes.

// goldenEvents are the events in testdata/v1, edge cases first.
func goldenEvents() []command.Event {
	evs := []command.Event{
		{Index: 1},
		{Index: 2, Seq: 0, Type: "call.answered", Time: 1_700_000_000_000_000_000, CommandID: "c-1", Data: []byte(`{"call":"x","agent":7}`)},
		{Index: 2, Seq: 1, Time: -5, Type: "t"},
		{Index: 3, Seq: command.MaxSeq, Type: "t", CommandID: strings.Repeat("y", 200)},
		{Index: 4, Data: []byte{0, 1, 2, 255}, Type: strings.Repeat("x", 300)},
	}
	for i := uint64(5); i < 17; i++ {
		evs = append(evs, command.Event{Index: i, Seq: int(i % 3), Type: "queue.stats", Time: int64(i) << 40,
			CommandID: "cmd-" + strings.Repeat("z", int(i)), Data: bytes.Repeat([]byte{byte(i)}, 500)})
	}
	return evs
}

var (
	goldenGapFirst = command.Position{Index: 17}
	goldenGapLast  = command.Position{Index: 20, Seq: 2}
	goldenStandby  = command.Position{Index: 8, Seq: 2}
)

const goldenGapCount = 9

func TestFormatV1Opens(t *testing.T) {
	dir := t.TempDir() // a copy: Open writes to it
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "v1"))); err != nil {
		t.Fatal(err)
	}
	b := openT(t, dir, Options{SegmentBytes: 4096, Consumers: []string{"reporting", "standby"}})
	want := goldenEvents()
	if got := b.Last(); got != goldenGapLast {
		t.Fatalf("Last %v, want %v", got, goldenGapLast)
	}
	if st := b.Stats(); st.LostUpTo != goldenGapLast {
		t.Fatalf("LostUpTo %v, want %v", st.LostUpTo, goldenGapLast)
	}
	read := func(name string) []command.Event {
		c := consumerT(t, b, name)
		var all []command.Event
		for {
			evs, err := c.Read(5)
			all = append(all, evs...)
			if errors.Is(err, ErrGap) {
				return all
			}
			if err != nil {
				t.Fatalf("Read(%s): %v", name, err)
			}
			if len(evs) == 0 {
				t.Fatalf("Read(%s) ended before the gap", name)
			}
			if err := c.Ack(evs[len(evs)-1].Pos()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c := consumerT(t, b, "standby"); c.Cursor() != goldenStandby {
		t.Fatalf("standby cursor %v, want %v", c.Cursor(), goldenStandby)
	}
	got := read("reporting")
	if len(got) != len(want) {
		t.Fatalf("reporting read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !eventsEqual(got[i], want[i]) {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	got = read("standby")
	var rest []command.Event
	for _, ev := range want {
		if ev.Pos().After(goldenStandby) {
			rest = append(rest, ev)
		}
	}
	if len(got) != len(rest) || !eventsEqual(got[0], rest[0]) {
		t.Fatalf("standby read %d events from %v, want %d from %v", len(got), got[0].Pos(), len(rest), rest[0].Pos())
	}
}

// TestFormatV1Encoding: the segment files of testdata/v1 are, byte for
// byte, what appendEventFrame and appendGapFrame write today (that they
// decode to goldenEvents is TestFormatV1Opens).
func TestFormatV1Encoding(t *testing.T) {
	var onDisk []byte
	for _, p := range segFiles(t, filepath.Join("testdata", "v1")) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		onDisk = append(onDisk, b...)
	}
	var enc []byte
	want := goldenEvents()
	for i := range want {
		enc = appendEventFrame(enc, &want[i])
	}
	enc = appendGapFrame(enc, goldenGapFirst, goldenGapLast, goldenGapCount)
	if !bytes.Equal(onDisk, enc) {
		t.Fatalf("encoders no longer write the v1 bytes (%d on disk, %d encoded)", len(onDisk), len(enc))
	}
}

// TestFormatV1Files: cursor slots and meta.json of testdata/v1 are what
// today's code writes for the state they hold.
func TestFormatV1Files(t *testing.T) {
	src := filepath.Join("testdata", "v1")
	for _, name := range []string{"reporting", "standby"} {
		cf, st, found, err := openCursor(src, name)
		if err != nil || !found {
			t.Fatalf("openCursor(%s): found %v, %v", name, found, err)
		}
		cf.close()
		b, err := os.ReadFile(filepath.Join(src, cursorFileName(name)))
		if err != nil {
			t.Fatal(err)
		}
		slot := b[int(cf.gen%2)*cursorSlotSpan:][:cursorSlotLen]
		if enc := encodeSlot(cf.gen, st); !bytes.Equal(slot, enc) {
			t.Fatalf("cursor %s: slot %x, encoded %x", name, slot, enc)
		}
	}
	var m metaState
	if ok, err := readJSON(src, metaFile, &m); !ok || err != nil {
		t.Fatalf("readJSON: %v %v", ok, err)
	}
	dir := t.TempDir()
	if err := writeJSONAtomic(dir, metaFile, m); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(src, metaFile))
	now, _ := os.ReadFile(filepath.Join(dir, metaFile))
	if !bytes.Equal(old, now) {
		t.Fatalf("meta.json: %s, now %s", old, now)
	}
}
