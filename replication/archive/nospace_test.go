package archive

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

// diskFault is the WriteFault seam: while full, writes needing new space
// fail with ENOSPC; failFirst > 0 fails only that many writes.
type diskFault struct {
	mu        sync.Mutex
	full      bool
	failFirst int
	only      string // when set, only file names containing it fail
}

func (d *diskFault) hook(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.only != "" && !strings.Contains(filepath.Base(path), d.only) {
		return nil
	}
	if d.failFirst > 0 {
		d.failFirst--
		return syscall.ENOSPC
	}
	if d.full {
		return syscall.ENOSPC
	}
	return nil
}

func (d *diskFault) set(full bool) {
	d.mu.Lock()
	d.full = full
	d.mu.Unlock()
}

func wantNoSpace(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrFailed) {
		t.Fatalf("got %v, want ErrNoSpace (not sticky)", err)
	}
}

// Events that cannot be archived for lack of space become a hole — at
// once, or before the next write that succeeds — which a sync's reader
// reports; the archive keeps working.
func TestNoSpaceRecordsAHole(t *testing.T) {
	next := t0.AddDate(0, 1, 0) // a new month: its file is started by the batch
	tests := []struct {
		name string
		run  func(t *testing.T, a *Archive, d *diskFault)
	}{
		{"hole fits at once", func(t *testing.T, a *Archive, d *diskFault) {
			d.mu.Lock()
			d.failFirst = 1
			d.mu.Unlock()
			wantNoSpace(t, a.Append(evs(6, 9, t0)...))
			if h := a.Health(); h.PendingHole || h.NoSpaceEvents != 8 {
				t.Fatalf("health %+v", h)
			}
		}},
		{"hole pending until space returns", func(t *testing.T, a *Archive, d *diskFault) {
			d.set(true)
			wantNoSpace(t, a.Append(evs(6, 7, t0)...))
			wantNoSpace(t, a.Append(evs(8, 9, t0)...))
			if h := a.Health(); !h.PendingHole || h.NoSpace == "" {
				t.Fatalf("health %+v", h)
			}
			if err := a.Sync(); !IsNoSpace(err) || errors.Is(err, ErrFailed) {
				t.Fatalf("Sync with a pending hole: %v", err)
			}
			if a.Last() != (command.Position{Index: 9, Seq: 1}) {
				t.Fatalf("last %v", a.Last())
			}
			d.set(false)
		}},
		{"new month file cannot start", func(t *testing.T, a *Archive, d *diskFault) {
			d.set(true)
			wantNoSpace(t, a.Append(evs(6, 9, next)...))
			d.set(false)
		}},
		{"archive.json cannot be written", func(t *testing.T, a *Archive, d *diskFault) {
			d.mu.Lock()
			d.only = metaName
			d.mu.Unlock()
			d.set(true)
			must(t, a.RecordHole(command.Position{Index: 6}, command.Position{Index: 9, Seq: 1}, t0))
			if err := a.Sync(); !IsNoSpace(err) || errors.Is(err, ErrFailed) {
				t.Fatalf("Sync: %v", err)
			}
			d.set(false)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := &diskFault{}
			a, err := Open(dir, Options{WriteFault: d.hook})
			if err != nil {
				t.Fatal(err)
			}
			must(t, a.Append(evs(1, 5, t0)...))
			must(t, a.Sync())
			tc.run(t, a, d)
			must(t, a.Append(evs(10, 12, next)...))
			must(t, a.Sync())
			check := func(a *Archive) {
				t.Helper()
				got, holes := readAll(t, a, Cursor{}, a.Last())
				if len(holes) != 1 || holes[0].First != (command.Position{Index: 6}) || holes[0].Last != (command.Position{Index: 9, Seq: 1}) {
					t.Fatalf("holes %+v", holes)
				}
				want := append(evs(1, 5, t0), evs(10, 12, next)...)
				if len(got) != len(want) {
					t.Fatalf("read %d events, want %d", len(got), len(want))
				}
				for i := range want {
					if got[i].Pos() != want[i].Pos() {
						t.Fatalf("event %d at %v, want %v", i, got[i].Pos(), want[i].Pos())
					}
				}
			}
			check(a)
			must(t, a.Close())
			a, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			check(a)
		})
	}
}

// A real full filesystem (4 MiB tmpfs): the kernel's ENOSPC becomes a
// hole, and the archive goes on once space is freed.
func TestRealFullDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 4<<20)
	a, err := Open(filepath.Join(mnt, "archive"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	must(t, a.Append(evs(1, 5, t0)...))
	must(t, a.Sync())
	filler := filepath.Join(mnt, "filler")
	tmpfstest.Fill(t, filler)
	i := uint64(6)
	var lost []uint64
	for n := 0; n < 100000 && !a.Health().PendingHole; n++ {
		if err := a.Append(evs(i, i, t0)...); err != nil {
			wantNoSpace(t, err)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("%v does not wrap ENOSPC", err)
			}
			lost = append(lost, i)
		}
		i++
	}
	if len(lost) == 0 || !a.Health().PendingHole {
		t.Fatalf("health %+v", a.Health())
	}
	if err := a.Sync(); !IsNoSpace(err) {
		t.Fatalf("Sync on a full disk: %v", err)
	}
	must(t, os.Remove(filler))
	must(t, a.Append(evs(i, i+3, t0)...))
	must(t, a.Sync())
	got, holes := readAll(t, a, Cursor{}, a.Last())
	if len(holes) == 0 {
		t.Fatal("no hole reported")
	}
	in := func(idx uint64) bool {
		for _, h := range holes {
			if !h.First.After(command.Position{Index: idx}) && !(command.Position{Index: idx, Seq: 1}).After(h.Last) {
				return true
			}
		}
		return false
	}
	for _, l := range lost {
		if !in(l) {
			t.Fatalf("lost index %d is in no hole %+v", l, holes)
		}
	}
	for _, ev := range got {
		if in(ev.Index) {
			t.Fatalf("event %v read inside a hole", ev.Pos())
		}
	}
	if got[len(got)-1].Index != i+3 {
		t.Fatalf("last event read %v", got[len(got)-1].Pos())
	}
}

// A hole that never reached the disk is dropped at Close: the Sync that
// would have let Raft compact the log failed, so the replay after the
// restart archives the events after all.
func TestPendingHoleLostAtRestartIsReplayed(t *testing.T) {
	dir := t.TempDir()
	d := &diskFault{}
	a, err := Open(dir, Options{WriteFault: d.hook})
	if err != nil {
		t.Fatal(err)
	}
	must(t, a.Append(evs(1, 5, t0)...))
	must(t, a.Sync())
	d.set(true)
	wantNoSpace(t, a.Append(evs(6, 9, t0)...))
	d.set(false)
	must(t, a.Close())
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	must(t, a.Append(evs(1, 12, t0)...)) // the replay
	got, holes := readAll(t, a, Cursor{}, a.Last())
	if len(holes) != 0 {
		t.Fatalf("holes %+v", holes)
	}
	checkSeq(t, got, 1, 12)
}
