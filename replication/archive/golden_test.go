package archive

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// testdata/v1 is an archive directory written by the first release of the
// format (before the framing moved to replication/internal/recio):
// goldenEvents over two months, then a hole, and archive.json. The tests
// below prove that existing directories still open and read the same, and
// that today's encoders write the same bytes.

var (
	goldenJan = time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	goldenFeb = time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC)
)

// goldenEvents are the events in testdata/v1, edge cases first; indexes
// below 10 are in January, the rest in February.
func goldenEvents() []command.Event {
	jan, feb := goldenJan.UnixNano(), goldenFeb.UnixNano()
	evs := []command.Event{
		{Index: 1, Time: jan},
		{Index: 2, Seq: 0, Type: "call.answered", Time: jan + 1, CommandID: "c-1", Data: []byte(`{"call":"x","agent":7}`)},
		{Index: 2, Seq: 1, Time: jan + 2, Type: "t"},
		{Index: 3, Seq: command.MaxSeq, Time: jan + 3, Type: "t", CommandID: strings.Repeat("y", 200)},
		{Index: 4, Time: jan + 4, Data: []byte{0, 1, 2, 255}, Type: strings.Repeat("x", 300)},
	}
	for i := uint64(5); i < 17; i++ {
		at := jan + int64(i)
		if i >= 10 {
			at = feb + int64(i)
		}
		evs = append(evs, command.Event{Index: i, Seq: int(i % 3), Type: "queue.stats", Time: at,
			CommandID: "cmd-" + strings.Repeat("z", int(i)), Data: bytes.Repeat([]byte{byte(i)}, 100)})
	}
	return evs
}

var (
	goldenHoleFirst = command.Position{Index: 17}
	goldenHoleLast  = command.Position{Index: 20, Seq: 2}
)

func eventsEqual(a, b command.Event) bool {
	return a.Index == b.Index && a.Seq == b.Seq && a.Type == b.Type && a.Time == b.Time &&
		a.CommandID == b.CommandID && bytes.Equal(a.Data, b.Data)
}

func TestFormatV1Opens(t *testing.T) {
	dir := t.TempDir() // a copy: Open writes to it
	must(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "v1"))))
	a, err := Open(dir, Options{})
	must(t, err)
	defer a.Close()
	if a.Last() != goldenHoleLast {
		t.Fatalf("Last %v, want %v", a.Last(), goldenHoleLast)
	}
	if ms := a.Months(); len(ms) != 2 || ms[0].Month != "2026-01" || ms[1].Month != "2026-02" || ms[1].Holes != 1 {
		t.Fatalf("months %+v", ms)
	}
	got, holes := readAll(t, a, Cursor{}, command.Position{Index: 100})
	want := goldenEvents()
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !eventsEqual(got[i], want[i]) {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(holes) != 1 || holes[0] != (Hole{First: goldenHoleFirst, Last: goldenHoleLast}) {
		t.Fatalf("holes %+v", holes)
	}
}

// TestFormatV1Encoding: the month files of testdata/v1 are, byte for byte,
// what appendEventFrame and appendHoleFrame write today (that they decode
// to goldenEvents is TestFormatV1Opens), and archive.json is what Sync
// writes for the summaries it holds.
func TestFormatV1Encoding(t *testing.T) {
	src := filepath.Join("testdata", "v1")
	var onDisk []byte
	for _, mo := range []string{"2026-01", "2026-02"} {
		b, err := os.ReadFile(filepath.Join(src, fileName(mo)))
		must(t, err)
		onDisk = append(onDisk, b...)
	}
	var enc []byte
	want := goldenEvents()
	for i := range want {
		enc = appendEventFrame(enc, &want[i])
	}
	enc = appendHoleFrame(enc, goldenHoleFirst, goldenHoleLast)
	if !bytes.Equal(onDisk, enc) {
		t.Fatalf("encoders no longer write the v1 bytes (%d on disk, %d encoded)", len(onDisk), len(enc))
	}
	old, err := os.ReadFile(filepath.Join(src, metaName))
	must(t, err)
	var m meta
	if err := json.Unmarshal(old, &m); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	must(t, writeJSONAtomic(dir, metaName, m))
	now, err := os.ReadFile(filepath.Join(dir, metaName))
	must(t, err)
	if !bytes.Equal(old, now) {
		t.Fatalf("archive.json: %s, now %s", old, now)
	}
}
