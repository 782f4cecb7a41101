package buffer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tandemcc/tandem/command"
)

// pending is one encoded record of an Append batch.
type pending struct {
	pos        command.Position
	start, end int // within the batch's bytes
}

// Append stores events in order. Events at or before the last stored
// position are skipped silently (the FSM re-applies entries after a
// restart). Either all new events fit under MaxBytes or none is written and
// the error wraps ErrFull. A disk error (e.g. ENOSPC) is returned wrapped;
// the failed write is rolled back, events of the batch written before it
// stay. With SyncEveryAppend the batch is fsynced before Append returns.
func (b *Buffer) Append(events ...command.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(); err != nil {
		return err
	}
	buf, recs, err := b.encodeLocked(events)
	if err != nil || len(recs) == 0 {
		return err
	}
	if used := b.usedLocked(); used+int64(len(buf)) > b.opts.MaxBytes {
		return fmt.Errorf("appending %d events from %v: %w (%d of %d bytes used)",
			len(recs), recs[0].pos, ErrFull, used, b.opts.MaxBytes)
	}
	wrote := false
	defer func() {
		if wrote {
			b.notifyLocked()
		}
	}()
	for i := 0; i < len(recs); {
		if err := b.prepareSegmentLocked(recs[i].pos, recs[i].end-recs[i].start); err != nil {
			return err
		}
		seg := &b.segs[len(b.segs)-1]
		j, size := i, seg.size
		for j < len(recs) && (size == 0 || size+int64(recs[j].end-recs[j].start) <= b.opts.SegmentBytes) {
			size += int64(recs[j].end - recs[j].start)
			j++
		}
		if err := b.writeLocked(buf[recs[i].start:recs[j-1].end]); err != nil {
			return err
		}
		wrote = true
		for _, r := range recs[i:j] {
			b.recordWrittenLocked(r.pos, int64(r.end-r.start))
		}
		i = j
	}
	if b.opts.SyncEveryAppend {
		if err := b.active.Sync(); err != nil {
			b.failed = err
			return fmt.Errorf("appending: syncing segment: %w", err)
		}
	}
	return nil
}

// encodeLocked frames the events that are new, in b.scratch.
func (b *Buffer) encodeLocked(events []command.Event) ([]byte, []pending, error) {
	buf := b.scratch[:0]
	var recs []pending
	last := b.last
	for _, ev := range events {
		if ev.Index == 0 || ev.Seq < 0 || ev.Seq > maxSeq {
			return nil, nil, fmt.Errorf("appending event %d/%d: %w", ev.Index, ev.Seq, ErrInvalidEvent)
		}
		if !ev.Pos().After(last) {
			continue
		}
		start := len(buf)
		buf = appendFrame(buf, ev)
		if n := len(buf) - start; n-headerSize > maxPayload || int64(n) > b.opts.MaxBytes {
			return nil, nil, fmt.Errorf("appending event %v of %d bytes: %w (max %d)", ev.Pos(), n, ErrTooLarge, b.opts.MaxBytes)
		}
		recs = append(recs, pending{ev.Pos(), start, len(buf)})
		last = ev.Pos()
	}
	if cap(buf) <= 1<<20 { // keep a modest scratch buffer for the next batch
		b.scratch = buf
	}
	return buf, recs, nil
}

// prepareSegmentLocked makes sure the last segment can take a record of n
// bytes at pos: it seals a full segment and starts a new one.
func (b *Buffer) prepareSegmentLocked(pos command.Position, n int) error {
	if b.active != nil {
		s := b.segs[len(b.segs)-1]
		if s.size == 0 || s.size+int64(n) <= b.opts.SegmentBytes {
			return nil
		}
		err := b.active.Sync()
		if cerr := b.active.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.active, b.failed = nil, err
			return fmt.Errorf("sealing segment %s: %w", filepath.Base(s.path), err)
		}
		b.active = nil
		if err := b.trimLocked(); err != nil {
			b.log.Warn("replication buffer: trimming", "err", err)
		}
	}
	path := filepath.Join(b.dir, segName(pos))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("starting segment: %w", err)
	}
	if err := syncDir(b.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("starting segment: %w", err)
	}
	b.active = f
	b.segs = append(b.segs, segment{path: path, first: pos, base: b.end, firstNum: b.endNum})
	return nil
}

// writeLocked writes p at the end of the last segment in one call. On
// failure it rolls the file back to its previous size (removing a segment
// that would stay empty), so no partial record remains.
func (b *Buffer) writeLocked(p []byte) error {
	seg := &b.segs[len(b.segs)-1]
	_, err := b.active.Write(p)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("appending to segment %s: %w", filepath.Base(seg.path), err)
	if seg.size == 0 {
		b.active.Close()
		b.active = nil
		rmErr := os.Remove(seg.path)
		b.segs = b.segs[:len(b.segs)-1]
		if rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			// A leftover file with a partial record would be cut at
			// the next Open; until then keep the appender out.
			b.failed = rmErr
		}
		return err
	}
	if terr := b.active.Truncate(seg.size); terr != nil {
		b.failed = terr
		return fmt.Errorf("%w; rolling back also failed: %v", err, terr)
	}
	return err
}

// recordWrittenLocked accounts for one record of n bytes at pos just
// written to the last segment.
func (b *Buffer) recordWrittenLocked(pos command.Position, n int64) {
	seg := &b.segs[len(b.segs)-1]
	for _, c := range b.consumers {
		// A consumer whose cursor is ahead of the buffer (events lost
		// with the page cache, already delivered) skips the re-append.
		if c.loc.off == b.end && !pos.After(c.pos) {
			c.loc = location{b.end + n, b.endNum + 1}
		}
	}
	seg.size += n
	seg.count++
	seg.last = pos
	b.end += n
	b.endNum++
	b.last = pos
}
