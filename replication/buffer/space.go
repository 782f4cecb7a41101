package buffer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNoSpace: a write failed for lack of disk space (ENOSPC, EDQUOT). Unlike
// other disk errors it is not sticky: what could not be stored is recorded
// as a gap (DESIGN.md, "Disk full") and the next Append tries again.
var ErrNoSpace = errors.New("no space left for the replication buffer")

// IsNoSpace reports whether err is a failure for lack of disk space: ENOSPC,
// EDQUOT, or ErrNoSpace wrapping one.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// SpaceError says that a buffer of the requested capacity cannot fit on
// the filesystem of its directory.
type SpaceError struct {
	Dir      string // the buffer's directory (or where it would be created)
	MaxBytes int64  // the capacity asked for
	Need     int64  // its worst-case footprint plus the margin (Footprint + Margin)
	Margin   int64  // kept free for the rest of the data dir (Margin)
	Free     int64  // available on the filesystem now
	Held     int64  // what the buffer's files already occupy there
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("%s (%s) does not fit on the filesystem of %s: %s free + %s already held by the buffer < %s needed (the capacity, one segment and a margin of %s for the Raft log, snapshots and the event archive); free space or choose a smaller size",
		human(e.MaxBytes), plural(e.MaxBytes), e.Dir, human(e.Free), human(e.Held), human(e.Need), human(e.Margin))
}

func plural(n int64) string { return fmt.Sprintf("%d bytes", n) }

// human renders n bytes in binary units.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Footprint is the most disk a buffer of capacity maxBytes (0: the
// default) uses for its records: the capacity plus one segment (the
// acknowledged part of the oldest segment still needed, and the last
// segment, which is never reclaimed). Gap records, cursor files and
// meta.json add a few KiB, covered by Margin.
func Footprint(maxBytes int64) int64 {
	o := Options{MaxBytes: maxBytes}
	if err := o.fill(); err != nil {
		return maxBytes
	}
	return o.MaxBytes + o.SegmentBytes
}

// Margin is the free space CheckSpace keeps beyond the buffer's footprint
// for the rest of the data dir on the same filesystem (Raft log and
// snapshots, the event archive's current month, state files): an eighth
// of the capacity, at least 1 MiB and at most 256 MiB.
func Margin(maxBytes int64) int64 {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return min(max(maxBytes/8, 1<<20), 256<<20)
}

// CheckSpace checks, before anything is created, that a buffer of
// capacity maxBytes in dir fits on dir's filesystem: the free space plus
// what the buffer's files already occupy must reach Footprint + Margin.
// free measures the space available to this process on the filesystem
// of a path (nil: statfs(2), FreeSpace). dir need not exist: the nearest
// existing parent is measured. It returns a *SpaceError when the buffer
// does not fit, and nil when it fits or free space cannot be measured on
// this platform. It creates nothing.
func CheckSpace(dir string, maxBytes int64, free func(path string) (int64, error)) error {
	if free == nil {
		free = FreeSpace
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	probe, err := existingParent(dir)
	if err != nil {
		return fmt.Errorf("checking free space for the replication buffer in %s: %w", dir, err)
	}
	avail, err := free(probe)
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking free space for the replication buffer in %s: %w", dir, err)
	}
	held, err := heldBytes(dir)
	if err != nil {
		return fmt.Errorf("checking free space for the replication buffer in %s: %w", dir, err)
	}
	margin := Margin(maxBytes)
	need := Footprint(maxBytes) + margin
	if avail+held < need {
		return &SpaceError{Dir: dir, MaxBytes: maxBytes, Need: need, Margin: margin, Free: avail, Held: held}
	}
	return nil
}

// existingParent returns dir or its nearest ancestor that exists.
func existingParent(dir string) (string, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p, nil
		}
		p = parent
	}
}

// heldBytes sums the sizes of the regular files in dir (0 when it does not
// exist): the space the buffer already occupies.
func heldBytes(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n += info.Size()
	}
	return n, nil
}
