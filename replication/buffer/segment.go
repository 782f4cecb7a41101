package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tandemcc/tandem/command"
)

// segment describes one segment file in the index. Offsets (base) and event
// numbers (firstNum) are logical: they count from the first segment present
// at Open and only ever grow, so locations compare across segments.
type segment struct {
	id          uint64 // unique within this Open (cached readers key on it)
	path        string
	first, last command.Position // of its first and last record
	base, size  int64            // logical offset of byte 0; bytes of complete records
	firstNum    int64            // logical number of its first event
	events      int64            // event records (gap records not counted)
}

func (s *segment) end() int64 { return s.base + s.size }

func segName(p command.Position) string {
	return fmt.Sprintf("seg-%020d-%010d.log", p.Index, p.Seq)
}

// parseSegName is the inverse of segName.
func parseSegName(name string) (command.Position, bool) {
	var p command.Position
	_, err := fmt.Sscanf(name, "seg-%d-%d.log", &p.Index, &p.Seq)
	return p, err == nil && validPos(p) && segName(p) == name
}

// location is where a consumer stands: the logical offset and event number
// of the first record after its position.
type location struct{ off, num int64 }

// scanResult is what checking a segment file at Open found.
type scanResult struct {
	valid    int64 // bytes of complete, valid records from the start
	events   int64
	last     command.Position
	lostUpTo command.Position // last position of the newest gap record
	fileSize int64
	torn     error // why a tail from valid on was cut, if it was
}

// scanSegment checks every record of a segment file: framing, checksum,
// payload, that the first record sits at the position in the file's name
// and that positions strictly increase after prev.
//
// A damaged record is a torn tail — and the result says where to cut —
// only when tail is true (the last segment), it lies at or after
// syncedTo (bytes a Sync made durable can never be torn), and it looks
// like an interrupted append: the file ends inside it, or nothing but
// zero bytes follows the damage. Everything else is ErrCorrupt naming the
// file and offset.
func scanSegment(path string, named, prev command.Position, tail bool, syncedTo int64) (r scanResult, err error) {
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
	fr := newFrameReader()
	fr.reset(f, r.fileSize)
	corrupt := func(off int64, cause error) error {
		return fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, cause)
	}
	for {
		rec, n, err := fr.next()
		if err == io.EOF {
			return r, nil
		}
		if err != nil && !errors.Is(err, errBad) {
			return r, fmt.Errorf("reading %s at offset %d: %w", path, r.valid, err)
		}
		if err != nil {
			if !tail || r.valid < syncedTo || errors.Is(err, errPayload) {
				return r, corrupt(r.valid, err)
			}
			torn, terr := looksTorn(f, r.valid, r.fileSize, err)
			if terr != nil {
				return r, fmt.Errorf("reading %s: %w", path, terr)
			}
			if !torn {
				return r, corrupt(r.valid, fmt.Errorf("%v, followed by data", err))
			}
			r.torn = err
			return r, nil
		}
		switch {
		case r.valid == 0 && rec.pos != named:
			return r, corrupt(0, fmt.Errorf("first record at %v, file named for %v", rec.pos, named))
		case !rec.pos.After(prev):
			return r, corrupt(r.valid, fmt.Errorf("position %v not after %v", rec.pos, prev))
		}
		if rec.kind == kindEvent {
			r.events++
		} else {
			r.lostUpTo = rec.pos
		}
		r.last, prev = rec.pos, rec.pos
		r.valid += n
	}
}

// looksTorn decides whether the damaged record at off is the remains of
// an interrupted append (see scanSegment).
func looksTorn(f *os.File, off, size int64, cause error) (bool, error) {
	switch {
	case errors.Is(cause, errTorn):
		return true, nil // the file ends inside the record
	case errors.Is(cause, errLength):
		return allZero(io.NewSectionReader(f, off, size-off))
	case errors.Is(cause, errChecksum):
		var h [4]byte
		if _, err := f.ReadAt(h[:], off); err != nil {
			return false, err
		}
		after := off + headerSize + int64(binary.LittleEndian.Uint32(h[:]))
		return allZero(io.NewSectionReader(f, after, max(size-after, 0)))
	}
	return false, nil
}

// errGone reports that a segment was removed while a reader was on its way
// to it; the reader takes a fresh look at the index and retries.
var errGone = errors.New("segment removed while reading")

// segReader reads records from segments for one consumer, keeping the
// last segment file open between reads. Its memory is bounded by the
// frameReader's, whatever the size of the buffer.
type segReader struct {
	id uint64 // segment the open file belongs to
	f  *os.File
	fr *frameReader
}

func (sr *segReader) close() {
	if sr.f != nil {
		sr.f.Close()
		sr.f, sr.id = nil, 0
	}
}

// scan calls fn for each record of seg from logical offset off to the
// segment's end (as indexed), until fn returns false or an error. It
// reports whether it reached the end.
func (sr *segReader) scan(seg segment, off int64, fn func(rec *record, off, end int64) (bool, error)) (bool, error) {
	if sr.f == nil || sr.id != seg.id {
		sr.close()
		f, err := os.Open(seg.path)
		if errors.Is(err, os.ErrNotExist) {
			return false, errGone
		}
		if err != nil {
			return false, fmt.Errorf("opening segment: %w", err)
		}
		sr.f, sr.id = f, seg.id
	}
	if sr.fr == nil {
		sr.fr = newFrameReader()
	}
	rel := off - seg.base
	sr.fr.reset(io.NewSectionReader(sr.f, rel, seg.size-rel), seg.size-rel)
	for {
		rec, n, err := sr.fr.next()
		if err == io.EOF {
			return true, nil
		}
		if errors.Is(err, errBad) {
			return false, fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, seg.path, off-seg.base, err)
		}
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", seg.path, err)
		}
		more, err := fn(&rec, off, off+n)
		if err != nil || !more {
			return false, err
		}
		off += n
	}
}

// locateIn finds, by reading seg, the location of the first record after
// pos, which the caller knows lies in or just after seg.
func locateIn(sr *segReader, seg segment, pos command.Position) (location, error) {
	loc := location{seg.base, seg.firstNum}
	_, err := sr.scan(seg, seg.base, func(rec *record, _, end int64) (bool, error) {
		if rec.pos.After(pos) {
			return false, nil
		}
		loc.off = end
		if rec.kind == kindEvent {
			loc.num++
		}
		return true, nil
	})
	return loc, err
}
