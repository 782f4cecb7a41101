package buffer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/tandemcc/tandem/command"
)

// segment describes one segment file. Offsets (base) and record numbers
// (firstNum) are logical: they count from the first segment present at Open
// and only ever grow, so consumer locations compare across segments.
type segment struct {
	path        string
	first, last command.Position
	base, size  int64 // logical offset of byte 0; bytes of complete records
	firstNum    int64 // logical number of the first record
	count       int64 // records
}

func (s segment) end() int64 { return s.base + s.size }

func segName(p command.Position) string {
	return fmt.Sprintf("seg-%020d-%010d.log", p.Index, p.Seq)
}

// parseSegName is the inverse of segName.
func parseSegName(name string) (command.Position, bool) {
	var p command.Position
	_, err := fmt.Sscanf(name, "seg-%d-%d.log", &p.Index, &p.Seq)
	return p, err == nil && p.Index > 0 && p.Seq >= 0 && segName(p) == name
}

// walk reads the records of r (size bytes) and calls fn with each and its
// offset from the start, until fn returns false or an error. It returns the
// offset reached: the end of the last record fn accepted.
func walk(r io.Reader, size int64, fn func(v eventView, off, n int64) (bool, error)) (int64, error) {
	fr := newFrameReader(r, size)
	var off int64
	for {
		v, n, err := fr.next()
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
		if more, err := fn(v, off, n); err != nil || !more {
			return off, err
		}
		off += n
	}
}

// scanResult is what scanning a segment file found.
type scanResult struct {
	valid    int64 // bytes of complete, valid records from the start
	count    int64
	last     command.Position
	fileSize int64
	problem  error // why scanning stopped before fileSize, if it did
}

// scanSegment reads a whole segment file, checking each record's framing,
// checksum and payload, that the first record sits at the position in the
// file's name and that positions strictly increase after prev.
func scanSegment(path string, named, prev command.Position) (r scanResult, err error) {
	f, err := os.Open(path)
	if err != nil {
		return r, fmt.Errorf("opening segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return r, fmt.Errorf("stat segment: %w", err)
	}
	r.fileSize = fi.Size()
	r.valid, err = walk(f, r.fileSize, func(v eventView, _, _ int64) (bool, error) {
		switch {
		case r.count == 0 && v.pos != named:
			return false, bad("first record at %v, file named %v", v.pos, named)
		case !v.pos.After(prev):
			return false, bad("position %v not after %v", v.pos, prev)
		}
		r.last, prev = v.pos, v.pos
		r.count++
		return true, nil
	})
	if errors.Is(err, errBad) {
		r.problem, err = err, nil
	}
	return r, err
}

// errGone reports that a segment was removed while a reader was on its way
// to it (a detached consumer's data was dropped, or Reset ran); the reader
// takes a fresh look and retries.
var errGone = errors.New("segment removed while reading")

// rawRecord is one record met by scan; its byte fields are valid during
// the callback only.
type rawRecord struct {
	v        eventView
	off, end int64 // logical offsets
}

// scan calls fn for each record from logical offset off up to the end of
// the buffer as it is when each segment is reached, until fn returns false
// or an error. It does not hold b.mu while reading.
func (b *Buffer) scan(off int64, fn func(rawRecord) (bool, error)) error {
	for {
		b.mu.Lock()
		seg, err := b.segmentAt(off)
		b.mu.Unlock()
		if err != nil || seg.path == "" {
			return err
		}
		more, err := scanRange(seg, off, fn)
		if err != nil || !more {
			return err
		}
		off = seg.end()
	}
}

// segmentAt returns a copy of the segment holding logical offset off, an
// empty segment when off is at the end, or errGone when off was dropped.
// The caller holds b.mu.
func (b *Buffer) segmentAt(off int64) (segment, error) {
	if off >= b.end {
		return segment{}, nil
	}
	if len(b.segs) == 0 || off < b.segs[0].base {
		return segment{}, errGone
	}
	i := sort.Search(len(b.segs), func(i int) bool { return b.segs[i].end() > off })
	if i == len(b.segs) {
		return segment{}, nil
	}
	return b.segs[i], nil
}

// scanRange reads the records of seg from logical offset off to seg's end.
// It reports whether fn wants more.
func scanRange(seg segment, off int64, fn func(rawRecord) (bool, error)) (bool, error) {
	f, err := os.Open(seg.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, errGone
	}
	if err != nil {
		return false, fmt.Errorf("opening segment: %w", err)
	}
	defer f.Close()
	rel := off - seg.base
	more := true
	at, err := walk(io.NewSectionReader(f, rel, seg.size-rel), seg.size-rel, func(v eventView, o, n int64) (bool, error) {
		more, err = fn(rawRecord{v: v, off: off + o, end: off + o + n})
		return more, err
	})
	if errors.Is(err, errBad) {
		err = fmt.Errorf("%w: %s at byte %d: %v", ErrCorrupt, filepath.Base(seg.path), rel+at, err)
	}
	return more && err == nil, err
}

// location is where a consumer stands: the logical offset and number of
// the first record after its position.
type location struct{ off, num int64 }

// locate finds the location of the first record after pos. It reads at
// most one segment, without holding b.mu.
func (b *Buffer) locate(pos command.Position) (location, error) {
	b.mu.Lock()
	loc, seg := b.locateLocked(pos)
	b.mu.Unlock()
	if seg.path == "" {
		return loc, nil
	}
	return locateIn(seg, pos)
}

// locateLocked answers from the index when it can; otherwise it returns the
// segment that must be read. The caller holds b.mu.
func (b *Buffer) locateLocked(pos command.Position) (location, segment) {
	i := sort.Search(len(b.segs), func(i int) bool { return b.segs[i].last.After(pos) })
	if i == len(b.segs) {
		return location{b.end, b.endNum}, segment{}
	}
	s := b.segs[i]
	if s.first.After(pos) {
		return location{s.base, s.firstNum}, segment{}
	}
	return location{}, s
}

func locateIn(seg segment, pos command.Position) (location, error) {
	loc := location{seg.base, seg.firstNum}
	_, err := scanRange(seg, seg.base, func(r rawRecord) (bool, error) {
		if r.v.pos.After(pos) {
			return false, nil
		}
		loc = location{r.end, loc.num + 1}
		return true, nil
	})
	return loc, err
}
