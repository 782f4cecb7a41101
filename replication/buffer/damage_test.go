package buffer

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

// recordOffsets returns the offset of each record in a segment file.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off < len(data); {
		_, n, err := decodeRecord(data[off:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, off, err)
		}
		offs = append(offs, int64(off))
		off += n
	}
	return offs
}

func damageOpts() Options {
	return Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both, MaxReadBytes: 64 << 20}
}

// fillForDamage writes indexes 1..100 in batches of ten and closes the
// buffer without a Sync mark; it returns the segment files.
func fillForDamage(t *testing.T, dir string, sync bool) []string {
	t.Helper()
	b, err := Open(dir, damageOpts())
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 100; i += 10 {
		appendT(t, b, stream(i, i+9)...)
	}
	if sync {
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	if len(recordOffsets(t, segs[len(segs)-1])) < 2 {
		t.Fatal("want several records in the last segment")
	}
	return segs
}

func rewrite(t *testing.T, path string, f func(data []byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTornTailIsCut(t *testing.T) {
	all := stream(1, 100)
	lastEv := len(all) - 1
	tests := []struct {
		name     string
		damage   func(data []byte, lastRec int) []byte
		keep     int  // events that survive
		repaired bool // Open reports cut bytes
	}{
		{"cut inside the last header", func(d []byte, r int) []byte { return d[:r+3] }, lastEv, true},
		{"cut inside the last payload", func(d []byte, r int) []byte { return d[:len(d)-2] }, lastEv, true},
		{"cut at a record boundary", func(d []byte, r int) []byte { return d[:r] }, lastEv, false},
		{"zero-filled tail", func(d []byte, r int) []byte { return append(d, make([]byte, 4096)...) }, lastEv + 1, true},
		{"last record garbled, zeros after", func(d []byte, r int) []byte {
			d[len(d)-3] ^= 0xff
			return append(d, make([]byte, 700)...)
		}, lastEv, true},
		{"last record's checksum wrong", func(d []byte, r int) []byte { d[r+5] ^= 1; return d }, lastEv, true},
		{"last record zeroed", func(d []byte, r int) []byte { clear(d[r:]); return d }, lastEv, true},
		{"half a header of garbage", func(d []byte, r int) []byte { return append(d, 0x13, 0x37, 0x00) }, lastEv + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			segs := fillForDamage(t, dir, false)
			last := segs[len(segs)-1]
			offs := recordOffsets(t, last)
			rewrite(t, last, func(d []byte) []byte { return tt.damage(d, int(offs[len(offs)-1])) })

			b := openT(t, dir, damageOpts())
			st := b.Stats()
			if (st.RepairedBytes > 0) != tt.repaired {
				t.Fatalf("repaired %d bytes", st.RepairedBytes)
			}
			if want := all[tt.keep-1].Pos(); st.Last != want {
				t.Fatalf("last %v after repair, want %v", st.Last, want)
			}
			sb := consumerT(t, b, "standby")
			evs, err := peekAll(t, sb)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tt.keep {
				t.Fatalf("%d events survive, want %d", len(evs), tt.keep)
			}
			// The FSM's replay appends what was lost, once.
			appendT(t, b, all...)
			evs, err = peekAll(t, sb)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, evs, 1, 100)
		})
	}
}

func TestCorruptionIsAnError(t *testing.T) {
	tests := []struct {
		name   string
		sync   bool
		damage func(t *testing.T, dir string, segs []string) (file string, offset int64)
	}{
		{"flipped byte in a sealed segment", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			offs := recordOffsets(t, segs[0])
			rewrite(t, segs[0], func(d []byte) []byte { d[offs[3]+10] ^= 0x40; return d })
			return segs[0], offs[3]
		}},
		{"sealed segment cut short", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			offs := recordOffsets(t, segs[1])
			rewrite(t, segs[1], func(d []byte) []byte { return d[:len(d)-5] })
			return segs[1], offs[len(offs)-1]
		}},
		{"damage followed by records in the last segment", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			last := segs[len(segs)-1]
			offs := recordOffsets(t, last)
			rewrite(t, last, func(d []byte) []byte { d[offs[0]+9] ^= 1; return d })
			return last, offs[0]
		}},
		{"damage to a synced last record", true, func(t *testing.T, dir string, segs []string) (string, int64) {
			last := segs[len(segs)-1]
			offs := recordOffsets(t, last)
			rewrite(t, last, func(d []byte) []byte { d[len(d)-1] ^= 1; return d })
			return last, offs[len(offs)-1]
		}},
		{"record out of order", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			last := segs[len(segs)-1]
			size := fileSize(t, last)
			rewrite(t, last, func(d []byte) []byte { return appendEventFrame(d, &command.Event{Index: 3, Type: "x"}) })
			return last, size
		}},
		{"segment renamed", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			to := filepath.Join(dir, segName(command.Position{Index: 2, Seq: 1}))
			if err := os.Rename(segs[0], to); err != nil {
				t.Fatal(err)
			}
			return to, 0
		}},
		{"unknown record kind with a valid checksum", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			last := segs[len(segs)-1]
			size := fileSize(t, last)
			rewrite(t, last, func(d []byte) []byte {
				return recio.Seal(append(d, append(make([]byte, headerSize), 7, 200, 1, 0)...), len(d))
			})
			return last, size
		}},
		{"cursor file with no valid slot", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			p := filepath.Join(dir, cursorFileName("standby"))
			rewrite(t, p, func(d []byte) []byte { clear(d); return d })
			return p, -1
		}},
		{"meta.json garbage", false, func(t *testing.T, dir string, segs []string) (string, int64) {
			p := filepath.Join(dir, metaFile)
			if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p, -1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			segs := fillForDamage(t, dir, tt.sync)
			file, off := tt.damage(t, dir, segs)
			_, err := Open(dir, damageOpts())
			wantErr(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), file) {
				t.Fatalf("error %q does not name %s", err, file)
			}
			if off >= 0 && !strings.Contains(err.Error(), fmt.Sprintf("offset %d:", off)) {
				t.Fatalf("error %q does not give offset %d", err, off)
			}
			t.Log(err)
		})
	}
}

func TestCorruptionFoundWhileReading(t *testing.T) {
	dir := t.TempDir()
	b := openT(t, dir, damageOpts())
	appendT(t, b, stream(1, 100)...)
	segs := segFiles(t, dir)
	offs := recordOffsets(t, segs[1])
	rewrite(t, segs[1], func(d []byte) []byte { d[offs[2]+12] ^= 4; return d })
	_, err := consumerT(t, b, "reporting").Read(0)
	wantErr(t, err, ErrCorrupt)
	if !strings.Contains(err.Error(), filepath.Base(segs[1])) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", offs[2])) {
		t.Fatalf("error %q does not name the file and offset %d", err, offs[2])
	}
}

func TestCursorSlots(t *testing.T) {
	dir := t.TempDir()
	cf, err := createCursor(dir, "c", cursorState{Pos: pos(1, 0), Attached: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(2); i <= 5; i++ {
		if err := cf.write(cursorState{Pos: pos(i, 1), Attached: true, Gap: i == 5}); err != nil {
			t.Fatal(err)
		}
	}
	cf.close()
	read := func() cursorState {
		cf, st, found, err := openCursor(dir, "c")
		if err != nil || !found {
			t.Fatalf("open: %v %v", found, err)
		}
		cf.close()
		return st
	}
	if st := read(); st.Pos != pos(5, 1) || !st.Gap || !st.Attached {
		t.Fatalf("got %+v", st)
	}
	// Tear the newest slot (generation 5 lives in slot 1): the previous
	// state comes back, never anything else.
	p := filepath.Join(dir, cursorFileName("c"))
	rewrite(t, p, func(d []byte) []byte { d[cursorSlotSpan+13] ^= 0xff; return d })
	if st := read(); st.Pos != pos(4, 1) || st.Gap {
		t.Fatalf("after a torn slot got %+v", st)
	}
	// A slot with a valid checksum but an impossible generation is not
	// trusted either.
	rewrite(t, p, func(d []byte) []byte {
		binary.LittleEndian.PutUint64(d[4:12], 0)
		binary.LittleEndian.PutUint32(d[28:32], recio.Checksum(d[0:28]))
		return d
	})
	_, _, _, err = openCursor(dir, "c")
	wantErr(t, err, ErrCorrupt)
	if _, _, found, err := openCursor(dir, "missing"); found || err != nil {
		t.Fatalf("missing cursor: %v %v", found, err)
	}
}

func TestInterruptedReclaimIsFinishedAtOpen(t *testing.T) {
	// A crash after meta.json recorded the floor but before the files
	// were removed leaves them behind; Open removes them.
	dir := t.TempDir()
	b, err := Open(dir, damageOpts())
	if err != nil {
		t.Fatal(err)
	}
	appendT(t, b, stream(1, 100)...)
	segs := segFiles(t, dir)
	saved := map[string][]byte{}
	for _, p := range segs[:2] {
		d, _ := os.ReadFile(p)
		saved[p] = d
	}
	for _, n := range both {
		drain(t, consumerT(t, b, n), 0)
	}
	b.Close()
	for p, d := range saved {
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b = openT(t, dir, damageOpts())
	for p := range saved {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s not removed: %v", p, err)
		}
	}
	if st := b.Stats(); st.UsedBytes != 0 || st.Consumers[0].Gap || st.Consumers[1].Gap {
		t.Fatalf("stats %+v", st)
	}
	appendT(t, b, stream(1, 110)...)
	checkStream(t, drain(t, consumerT(t, b, "reporting"), 0), 101, 110)
}
