package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tandemcc/tandem/command"
)

// Cursor is a place in the archive: a month file and a byte offset at a
// record boundary in it. The zero Cursor is the start of the archive.
type Cursor struct {
	Month  string `json:"month"`
	Offset int64  `json:"offset"`
}

// Reader streams records from a Cursor up to a position fixed when it was
// created. Its memory is bounded by the batch it returns.
type Reader struct {
	dir    string
	until  command.Position
	months []Month // snapshot: what exists, and how far each was written
	i      int     // index into months of the file being read
	cur    Cursor
	f      *os.File
	fr     frameReader
	done   bool
}

// NewReader returns a reader of the records after from, up to and
// including until. A from month that no longer exists (pruned) starts at
// the next month that does.
func (a *Archive) NewReader(from Cursor, until command.Position) *Reader {
	ms := a.Months()
	r := &Reader{dir: a.dir, until: until, months: ms, cur: from}
	r.i = len(ms)
	for i, m := range ms {
		if m.Month >= from.Month {
			r.i = i
			if m.Month != from.Month {
				r.cur = Cursor{Month: m.Month}
			}
			break
		}
	}
	return r
}

// Cursor is where the next Next starts: persist it to resume later.
func (r *Reader) Cursor() Cursor { return r.cur }

// Close releases the open file.
func (r *Reader) Close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// Next returns up to max events (and at most about maxBytes of them) and
// the holes met on the way, in stream order; io.EOF once nothing is left.
// The Cursor moves past what was returned.
func (r *Reader) Next(max int, maxBytes int64) ([]command.Event, []Hole, error) {
	var (
		evs   []command.Event
		holes []Hole
		size  int64
	)
	for !r.done && (len(evs) < max || max <= 0) && (size < maxBytes || maxBytes <= 0) {
		if r.i >= len(r.months) {
			r.done = true
			break
		}
		m := r.months[r.i]
		if r.cur.Month != m.Month {
			r.cur = Cursor{Month: m.Month}
		}
		if r.cur.Offset >= m.Bytes {
			r.Close()
			r.i++
			continue
		}
		if r.f == nil {
			f, err := os.Open(filepath.Join(r.dir, fileName(m.Month)))
			if errors.Is(err, os.ErrNotExist) {
				return evs, holes, fmt.Errorf("replication archive: month %s was removed (history retention) while reading it", m.Month)
			}
			if err != nil {
				return evs, holes, fmt.Errorf("reading replication archive: %w", err)
			}
			if _, err := f.Seek(r.cur.Offset, io.SeekStart); err != nil {
				f.Close()
				return evs, holes, fmt.Errorf("reading replication archive: %w", err)
			}
			r.f = f
			r.fr.br = bufio.NewReaderSize(io.LimitReader(f, m.Bytes-r.cur.Offset), 64<<10)
		}
		rec, n, err := r.fr.next()
		if err != nil {
			if err == io.EOF {
				err = errTorn
			}
			return evs, holes, fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt,
				filepath.Join(r.dir, fileName(m.Month)), r.cur.Offset, err)
		}
		if rec.pos.After(r.until) {
			if rec.kind == kindHole && !rec.first.After(r.until) {
				holes = append(holes, Hole{First: rec.first, Last: r.until})
			}
			r.done = true
			break
		}
		r.cur.Offset += int64(n)
		if rec.kind == kindHole {
			holes = append(holes, Hole{First: rec.first, Last: rec.pos})
			continue
		}
		evs = append(evs, rec.event())
		size += int64(n)
	}
	if len(evs) == 0 && len(holes) == 0 && r.done {
		r.Close()
		return nil, nil, io.EOF
	}
	return evs, holes, nil
}
