package buffer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/tmpfstest"
)

// diskFault is the WriteFault seam: while full, every write that needs
// new space fails with ENOSPC (or EDQUOT), as a full filesystem would.
type diskFault struct {
	mu    sync.Mutex
	full  bool
	errno syscall.Errno
	only  string // when set, only paths containing it fail
	calls int
}

func (d *diskFault) hook(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.full || (d.only != "" && !strings.Contains(filepath.Base(path), d.only)) {
		return nil
	}
	d.calls++
	if d.errno == 0 {
		return syscall.ENOSPC
	}
	return d.errno
}

func (d *diskFault) set(full bool) {
	d.mu.Lock()
	d.full = full
	d.mu.Unlock()
}

func wantNoSpace(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrNoSpace) || !IsNoSpace(err) || errors.Is(err, ErrFailed) {
		t.Fatalf("got %v, want ErrNoSpace (not sticky)", err)
	}
}

// readToGap reads and acknowledges up to the gap and checks what came
// before it and the gap error.
func readToGap(t testing.TB, c *Consumer, from, to uint64) {
	t.Helper()
	var got []command.Event
	for i := 0; i < 100; i++ {
		evs, err := c.Read(0)
		got = append(got, evs...)
		if len(evs) > 0 {
			if err := c.Ack(evs[len(evs)-1].Pos()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		wantErr(t, err, ErrGap)
		checkStream(t, got, from, to)
		return
	}
	t.Fatal("never reached the gap")
}

// Lack of space is not sticky: what could not be stored becomes a gap
// record (at once if it fits, else before the next successful write),
// consumers stop at it, and nothing after it is stored without it.
func TestNoSpaceRecordsAGap(t *testing.T) {
	tests := []struct {
		name  string
		errno syscall.Errno
		// run appends after 1..5 are stored, with the disk full from
		// the start of run; it returns the last index lost.
		run func(t *testing.T, b *Buffer, d *diskFault) uint64
	}{
		{"gap record fits at once", syscall.ENOSPC, func(t *testing.T, b *Buffer, d *diskFault) uint64 {
			d.mu.Lock()
			d.only = "seg-00000000000000000006" // the batch's new segment fails, the gap's does not
			d.mu.Unlock()
			wantNoSpace(t, b.Append(stream(6, 8)...))
			if st := b.Stats(); st.PendingGap || st.NoSpaceEvents != int64(len(stream(6, 8))) {
				t.Fatalf("after the gap was written: %+v", st)
			}
			return 8
		}},
		{"gap pending until space returns (EDQUOT)", syscall.EDQUOT, func(t *testing.T, b *Buffer, d *diskFault) uint64 {
			wantNoSpace(t, b.Append(stream(6, 8)...))
			wantNoSpace(t, b.Append(stream(9, 10)...)) // joins the pending gap
			st := b.Stats()
			if !st.PendingGap || st.NoSpace == "" || st.Last != pos(10, 1) || st.Failed != "" {
				t.Fatalf("while full: %+v", st)
			}
			if err := b.Sync(); !IsNoSpace(err) || errors.Is(err, ErrFailed) {
				t.Fatalf("Sync with a pending gap: %v, want a no-space error", err)
			}
			for _, c := range b.consumers {
				if !c.gap {
					t.Fatalf("consumer %s not flagged while the gap is pending", c.name)
				}
			}
			d.set(false)
			if err := b.Sync(); err != nil { // writes the gap
				t.Fatal(err)
			}
			if st := b.Stats(); st.PendingGap || st.NoSpace != "" {
				t.Fatalf("after space returned: %+v", st)
			}
			return 10
		}},
		{"gap written before the next batch", syscall.ENOSPC, func(t *testing.T, b *Buffer, d *diskFault) uint64 {
			wantNoSpace(t, b.Append(stream(6, 8)...))
			d.set(false)
			return 8
		}},
		{"meta.json cannot be written", syscall.ENOSPC, func(t *testing.T, b *Buffer, d *diskFault) uint64 {
			d.mu.Lock()
			d.only = metaFile
			d.mu.Unlock()
			appendT(t, b, stream(6, 6)...)
			if err := b.Sync(); !IsNoSpace(err) || errors.Is(err, ErrFailed) {
				t.Fatalf("Sync: %v, want a no-space error", err)
			}
			d.set(false)
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			return 0
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := &diskFault{errno: tc.errno}
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both, WriteFault: d.hook}
			b := openT(t, dir, opts)
			appendT(t, b, stream(1, 5)...)
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			// Start a new segment at 6, so the batch needs a new file.
			b.wmu.Lock()
			if err := b.seal(); err != nil {
				t.Fatal(err)
			}
			b.wmu.Unlock()
			d.set(true)
			lost := tc.run(t, b, d)
			d.set(false)
			appendT(t, b, stream(lost+1+1, lost+4)...) // lost+1 was never published here
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			if st := b.Stats(); st.Failed != "" || st.PendingGap {
				t.Fatalf("stats after space returned: %+v", st)
			}
			check := func(b *Buffer) {
				t.Helper()
				rep := consumerT(t, b, "reporting")
				if lost == 0 {
					checkStream(t, drain(t, rep, 0), 1, 6)
					return
				}
				if !rep.Stats().Gap {
					t.Fatal("reporting does not report the gap")
				}
				readToGap(t, rep, 1, 5)
				if err := rep.Ack(pos(lost, command.MaxSeq)); err != nil { // a sync re-sent them
					t.Fatal(err)
				}
				checkStream(t, drain(t, rep, 0), lost+2, lost+4)
			}
			check(b)
			// Reopen: no empty segment was left behind, the gap is durable.
			b.Close()
			for _, f := range segFiles(t, dir) {
				if fileSize(t, f) == 0 {
					t.Fatalf("empty segment %s left behind", filepath.Base(f))
				}
			}
			opts.WriteFault = nil
			b = openT(t, dir, opts)
			if lost > 0 {
				sb := consumerT(t, b, "standby")
				if !sb.Stats().Gap {
					t.Fatal("the gap did not survive a restart")
				}
				readToGap(t, sb, 1, 5)
			}
		})
	}
}

// A gap that never reached the disk is not durable, and the Sync that
// would let Raft compact the log failed: after a restart the FSM's replay
// stores the events after all.
func TestPendingGapLostAtRestartIsReplayed(t *testing.T) {
	dir := t.TempDir()
	d := &diskFault{}
	opts := Options{MaxBytes: 1 << 20, Consumers: both, WriteFault: d.hook}
	b := openT(t, dir, opts)
	appendT(t, b, stream(1, 5)...)
	d.set(true)
	wantNoSpace(t, b.Append(stream(6, 9)...))
	if err := b.Sync(); err == nil {
		t.Fatal("Sync succeeded with a pending gap")
	}
	b.Close()
	opts.WriteFault = nil
	b = openT(t, dir, opts)
	appendT(t, b, stream(1, 12)...) // Raft re-applies the log after its snapshot
	rep := consumerT(t, b, "reporting")
	if rep.Stats().Gap {
		t.Fatal("gap reported although the events were replayed")
	}
	checkStream(t, drain(t, rep, 0), 1, 12)
}

// A real full filesystem: a 4 MiB tmpfs holds the buffer and a filler
// file; appends fail with ENOSPC from the kernel, the buffer keeps going
// (small batches may still fit in a page's tail between failures), and
// once space is freed every loss is a gap: a consumer reads exactly what
// was stored, stopping at each gap until its target is known to hold the
// lost events.
func TestRealFullDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 4<<20)
	dir := filepath.Join(mnt, "buffer")
	opts := Options{MaxBytes: 64 << 20, SegmentBytes: 64 << 10, Consumers: both}
	b := openT(t, dir, opts)
	appendT(t, b, stream(1, 50)...)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	tmpfstest.Fill(t, filler)
	stored := map[uint64]bool{}
	for i := uint64(1); i <= 50; i++ {
		stored[i] = true
	}
	next, failures := uint64(51), 0
	// Append until even the gap record does not fit (bounded).
	for i := 0; i < 100000 && !b.Stats().PendingGap; i++ {
		err := b.Append(stream(next, next)...)
		switch {
		case err == nil:
			stored[next] = true
		case errors.Is(err, syscall.ENOSPC):
			wantNoSpace(t, err)
			failures++
		default:
			t.Fatalf("append %d: %v", next, err)
		}
		next++
	}
	if failures == 0 || !b.Stats().PendingGap || b.Stats().Failed != "" {
		t.Fatalf("%d failures; stats %+v", failures, b.Stats())
	}
	if err := b.Sync(); !IsNoSpace(err) {
		t.Fatalf("Sync on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := next; i < next+10; i++ {
		stored[i] = true
	}
	appendT(t, b, stream(next, next+9)...)
	last := next + 9
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	check := func(c *Consumer) {
		t.Helper()
		var got []command.Event
		gaps := 0
		for i := 0; i < 100000; i++ {
			evs, err := c.Read(0)
			if len(evs) > 0 {
				got = append(got, evs...)
				if err := c.Ack(evs[len(evs)-1].Pos()); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err == nil {
				break
			}
			wantErr(t, err, ErrGap)
			gaps++
			// The target got the lost run by other means (a sync).
			end := c.Cursor().Index + 1
			for !stored[end+1] {
				end++
			}
			if err := c.Ack(pos(end, command.MaxSeq)); err != nil {
				t.Fatal(err)
			}
		}
		var want []command.Event
		for i := uint64(1); i <= last; i++ {
			if stored[i] {
				want = append(want, indexEvents(i)...)
			}
		}
		if len(got) != len(want) || gaps == 0 {
			t.Fatalf("read %d events over %d gaps, want %d", len(got), gaps, len(want))
		}
		for i := range want {
			if !eventsEqual(got[i], want[i]) {
				t.Fatalf("event %d: got %v, want %v", i, got[i].Pos(), want[i].Pos())
			}
		}
		if c.Stats().Gap {
			t.Fatal("gap still flagged after acknowledging past every loss")
		}
	}
	check(consumerT(t, b, "reporting"))
	b.Close()
	b = openT(t, dir, opts)
	sb := consumerT(t, b, "standby")
	if !sb.Stats().Gap {
		t.Fatal("the gap did not survive a restart")
	}
	check(sb)
}

// CheckSpace refuses a capacity the filesystem cannot hold, counting what
// the buffer already occupies, and creates nothing.
func TestCheckSpace(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name      string
		max, free int64
		held      int64
		ok        bool
	}{
		{"fits", 8 * MiB, 16 * MiB, 0, true},
		{"too small", 8 * MiB, 4 * MiB, 0, false},
		{"no room for the margin", 8 * MiB, 8*MiB + 128<<10, 0, false},
		{"what the buffer holds counts", 8 * MiB, 5 * MiB, 5 * MiB, true},
		{"default size", 0, 600 * MiB, 0, true},
		{"default size too large", 0, 500 * MiB, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data", "replication", "buffer")
			if tc.held > 0 {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "seg-x.log"), make([]byte, tc.held), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var measured string
			err := CheckSpace(dir, tc.max, func(p string) (int64, error) { measured = p; return tc.free, nil })
			if tc.ok != (err == nil) {
				t.Fatalf("CheckSpace: %v, want ok=%v", err, tc.ok)
			}
			var se *SpaceError
			if !tc.ok && (!errors.As(err, &se) || strings.Contains(err.Error(), "\n")) {
				t.Fatalf("error %q is not one *SpaceError line", err)
			}
			if tc.held == 0 {
				if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
					t.Fatalf("CheckSpace created something: %v", err)
				}
				if measured != filepath.Dir(filepath.Dir(filepath.Dir(dir))) {
					t.Fatalf("measured %s, want the nearest existing parent", measured)
				}
			}
		})
	}
	t.Run("statfs error", func(t *testing.T) {
		err := CheckSpace(t.TempDir(), MiB, func(string) (int64, error) { return 0, errors.New("boom") })
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("got %v", err)
		}
	})
}

// The same check against a real 4 MiB filesystem (statfs).
func TestCheckSpaceRealFilesystem(t *testing.T) {
	mnt := tmpfstest.Mount(t, 4<<20)
	dir := filepath.Join(mnt, "data", "replication", "buffer")
	if err := CheckSpace(dir, 8<<20, nil); err == nil {
		t.Fatal("an 8 MiB buffer fits on a 4 MiB filesystem")
	} else {
		t.Log(err)
	}
	if err := CheckSpace(dir, 1<<20, nil); err != nil {
		t.Fatalf("a 1 MiB buffer on a 4 MiB filesystem: %v", err)
	}
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Fatalf("CheckSpace created %v", entries)
	}
}
