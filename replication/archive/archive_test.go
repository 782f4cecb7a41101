package archive

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

var t0 = time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC)

// evs returns events for indexes from..to (two per index), dated day days
// after t0 + index hours.
func evs(from, to uint64, at time.Time) []command.Event {
	var out []command.Event
	for i := from; i <= to; i++ {
		for s := 0; s < 2; s++ {
			out = append(out, command.Event{Index: i, Seq: s, Type: "call.ended", Time: at.UnixNano(),
				CommandID: fmt.Sprintf("c-%d", i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		}
	}
	return out
}

func readAll(t *testing.T, a *Archive, from Cursor, until command.Position) ([]command.Event, []Hole) {
	t.Helper()
	r := a.NewReader(from, until)
	defer r.Close()
	var all []command.Event
	var holes []Hole
	for i := 0; i < 100000; i++ {
		e, h, err := r.Next(7, 0)
		if err == io.EOF {
			return all, holes
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		all = append(all, e...)
		holes = append(holes, h...)
	}
	t.Fatal("reader did not end")
	return nil, nil
}

func checkSeq(t *testing.T, got []command.Event, from, to uint64) {
	t.Helper()
	if want := int(to-from+1) * 2; len(got) != want {
		t.Fatalf("got %d events, want %d", len(got), want)
	}
	for k, ev := range got {
		if ev.Index != from+uint64(k/2) || ev.Seq != k%2 {
			t.Fatalf("event %d at %v, want %d/%d", k, ev.Pos(), from+uint64(k/2), k%2)
		}
		if string(ev.Data) != fmt.Sprintf(`{"n":%d}`, ev.Index) || ev.CommandID != fmt.Sprintf("c-%d", ev.Index) {
			t.Fatalf("event %d content %q %q", k, ev.Data, ev.CommandID)
		}
	}
}

func TestAppendReadReopen(t *testing.T) {
	tests := []struct {
		name  string
		close bool // Close (sync) before reopening, else drop the handle (SIGKILL)
		sync  bool // Sync halfway
	}{
		{"closed", true, false},
		{"killed without sync", false, false},
		{"killed after a sync", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// March, then April, then an event dated back in March (clock
			// skew across a failover) that must stay in April.
			must(t, a.Append(evs(1, 10, t0)...))
			if tc.sync {
				must(t, a.Sync())
			}
			must(t, a.Append(evs(11, 20, t0.AddDate(0, 0, 3))...))
			must(t, a.Append(evs(21, 21, t0)...))
			must(t, a.Append(evs(5, 22, t0.AddDate(0, 0, 3))...)) // replay: only 22 is new
			if tc.close {
				must(t, a.Close())
			}
			b, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ms := b.Months()
			if len(ms) != 2 || ms[0].Month != "2026-03" || ms[1].Month != "2026-04" {
				t.Fatalf("months %+v", ms)
			}
			if ms[0].Events != 20 || ms[1].Events != 24 || ms[1].First != (command.Position{Index: 11}) {
				t.Fatalf("months %+v", ms)
			}
			if b.Last() != (command.Position{Index: 22, Seq: 1}) {
				t.Fatalf("last %v", b.Last())
			}
			got, holes := readAll(t, b, Cursor{}, b.Last())
			checkSeq(t, got, 1, 22)
			if len(holes) != 0 {
				t.Fatalf("holes %v", holes)
			}
			// By month: April only.
			got, _ = readAll(t, b, Cursor{Month: "2026-04"}, b.Last())
			checkSeq(t, got, 11, 22)
			// Replaying into the reopened archive stores nothing twice.
			must(t, b.Append(evs(1, 23, t0.AddDate(0, 0, 3))...))
			got, _ = readAll(t, b, Cursor{}, b.Last())
			checkSeq(t, got, 1, 23)
		})
	}
}

func TestReaderResumesAtCursorAndStopsAtUntil(t *testing.T) {
	a, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	must(t, a.Append(evs(1, 30, t0)...))
	must(t, a.Append(evs(31, 50, t0.AddDate(0, 1, 0))...))
	until := command.Position{Index: 40, Seq: 1}
	r := a.NewReader(Cursor{}, until)
	first, _, err := r.Next(25, 0)
	if err != nil || len(first) != 25 {
		t.Fatalf("Next: %d %v", len(first), err)
	}
	cur := r.Cursor()
	r.Close()
	must(t, a.Append(evs(51, 60, t0.AddDate(0, 1, 0))...)) // after until: not read
	rest, _ := readAll(t, a, cur, until)
	checkSeq(t, append(first, rest...), 1, 40)
}

func TestHoles(t *testing.T) {
	a, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	must(t, a.Append(evs(1, 5, t0)...))
	must(t, a.RecordHole(command.Position{Index: 6}, command.Position{Index: 9, Seq: command.MaxSeq}, t0))
	must(t, a.RecordHole(command.Position{Index: 2}, command.Position{Index: 3}, t0)) // behind: nothing
	must(t, a.Append(evs(9, 12, t0)...))                                              // 9 is covered by the hole
	got, holes := readAll(t, a, Cursor{}, a.Last())
	if len(got) != 2*(5+3) || len(holes) != 1 || holes[0].First != (command.Position{Index: 6}) {
		t.Fatalf("events %d holes %+v", len(got), holes)
	}
	if ms := a.Months(); ms[0].Holes != 1 || ms[0].Events != 16 {
		t.Fatalf("months %+v", ms)
	}
}

func TestTornTailAndCorruption(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr error
		last    uint64
	}{
		{"partial frame at the end", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, "2026-04.log"), []byte{40, 0, 0, 0, 1, 2})
		}, nil, 20},
		{"zeros at the end", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, "2026-04.log"), make([]byte, 100))
		}, nil, 20},
		{"torn last record", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "2026-04.log")
			st, _ := os.Stat(p)
			must(t, os.Truncate(p, st.Size()-3))
		}, nil, 20}, // the last event (20/1) is cut, 20/0 stays
		{"damage in a sealed month", func(t *testing.T, dir string) {
			flip(t, filepath.Join(dir, "2026-03.log"), 30)
			os.Remove(filepath.Join(dir, metaName)) // force a full scan
		}, ErrCorrupt, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			must(t, a.Append(evs(1, 10, t0)...))
			must(t, a.Append(evs(11, 20, t0.AddDate(0, 0, 3))...))
			must(t, a.Close())
			tc.damage(t, dir)
			b, err := Open(dir, Options{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Open: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Last().Index != tc.last {
				t.Fatalf("last %v, want index %d", b.Last(), tc.last)
			}
			// Replay after the cut restores what was lost, once.
			must(t, b.Append(evs(1, 21, t0.AddDate(0, 0, 3))...))
			got, _ := readAll(t, b, Cursor{}, b.Last())
			checkSeq(t, got, 1, 21)
		})
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{Retention: 60 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	must(t, a.Append(evs(1, 2, time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))...))
	must(t, a.Append(evs(3, 4, time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC))...))
	must(t, a.Append(evs(5, 6, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))...))
	gone, err := a.Prune(time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)) // cutoff Feb 14
	must(t, err)
	if len(gone) != 1 || gone[0] != "2026-01" {
		t.Fatalf("pruned %v", gone)
	}
	if _, err := os.Stat(filepath.Join(dir, "2026-01.log")); !os.IsNotExist(err) {
		t.Fatalf("January still there: %v", err)
	}
	gone, _ = a.Prune(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(gone) != 1 || len(a.Months()) != 1 {
		t.Fatalf("the last month must stay: pruned %v, left %+v", gone, a.Months())
	}
	must(t, a.Close())
	b, err := Open(dir, Options{})
	must(t, err)
	defer b.Close()
	if ms := b.Months(); len(ms) != 1 || ms[0].Month != "2026-03" {
		t.Fatalf("after reopen %+v", ms)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write(b)
	must(t, err)
	must(t, f.Close())
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	must(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	must(t, err)
}

func FuzzDecodeRecord(f *testing.F) {
	ev := command.Event{Index: 7, Seq: 1, Type: "x", Time: 5, CommandID: "id", Data: []byte(`{}`)}
	f.Add(appendEventFrame(nil, &ev))
	f.Add(appendHoleFrame(nil, command.Position{Index: 1}, command.Position{Index: 3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeRecord(b)
		// The same bytes as a payload under a valid checksum, so that
		// mutations reach the payload parser.
		if len(b) > 0 && len(b) < 1<<16 {
			frame := append(make([]byte, headerSize), b...)
			frame = recio.Seal(frame, 0)
			if r, n, err := decodeRecord(frame); err == nil {
				if n != len(frame) || !validPos(r.pos) {
					t.Fatalf("decoded %+v from %d of %d bytes", r, n, len(frame))
				}
				if r.kind == kindEvent {
					again := r.event()
					round := appendEventFrame(nil, &again)
					if r2, _, err := decodeRecord(round); err != nil || r2.pos != r.pos {
						t.Fatalf("round trip: %v", err)
					}
				}
			}
		}
	})
}
