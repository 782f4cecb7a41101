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
	event      bool
}

// Append stores events, which must come in stream order. It is the FSM
// apply path's call: it never waits for a consumer, only for its own write
// (and, with Options.SyncEveryAppend, an fdatasync; once per segment for
// sealing).
//
// Events at or before the last appended position are skipped, so the
// events of log entries that Raft re-applies after a restart are not
// stored twice.
//
// When the batch does not fit — the backlog of some attached consumer
// would pass MaxBytes (ErrFull) or one event can never fit (ErrTooLarge)
// — or holds an impossible position (ErrInvalidEvent, a caller's bug),
// none of it is stored. A small gap record is written in its place: the
// loss is as durable as the data around it, every consumer whose cursor
// is before it reports Gap and gets ErrGap when it reaches it, and Stats
// counts the dropped events. The caller turns the error into the
// auto-stop of replication (DESIGN.md, "When the buffer is full").
//
// Data is durable when Append returns with SyncEveryAppend, otherwise when
// a later Sync (or Close) returns; a SIGKILL loses nothing that Append
// wrote, since the page cache survives the process.
//
// A write that fails for lack of disk space (ENOSPC, EDQUOT) is not
// sticky: the events it could not store are recorded as a gap like a
// refused batch — at once if the small gap record still fits, otherwise
// before the next write that succeeds (Sync fails until then) — and
// Append returns ErrNoSpace (DESIGN.md, "Disk full"). Any other write or
// fsync failure makes the buffer refuse further Appends and Syncs with
// ErrFailed (DESIGN.md, "Disk errors").
func (b *Buffer) Append(events ...command.Event) error {
	if len(events) == 0 {
		return nil
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	if err := b.usableLocked(); err != nil {
		b.mu.Unlock()
		return err
	}
	last, used := b.last, b.end-b.keepLocked()
	b.mu.Unlock()

	buf, recs := b.scratch[:0], []pending(nil)
	tooLarge, invalid := -1, -1
	for i := range events {
		ev := &events[i]
		if !validPos(ev.Pos()) {
			if invalid < 0 {
				invalid = i
			}
			continue
		}
		if !ev.Pos().After(last) {
			continue
		}
		start := len(buf)
		buf = appendEventFrame(buf, ev)
		if n := len(buf) - start; (n-headerSize > maxPayload || int64(n) > b.opts.MaxBytes) && tooLarge < 0 {
			tooLarge = i
		}
		recs = append(recs, pending{ev.Pos(), start, len(buf), true})
		last = ev.Pos()
	}
	if cap(buf) <= 1<<20 { // keep a modest scratch buffer for the next batch
		b.scratch = buf[:0]
	}
	var invalidErr error
	if invalid >= 0 {
		ev := &events[invalid]
		invalidErr = fmt.Errorf("appending event %d/%d (%s): %w", ev.Index, ev.Seq, ev.Type, ErrInvalidEvent)
	}
	if len(recs) == 0 {
		return invalidErr
	}
	switch {
	case invalidErr != nil:
		return b.refuse(buf[:0], recs, invalidErr)
	case tooLarge >= 0:
		ev := &events[tooLarge]
		return b.refuse(buf[:0], recs, fmt.Errorf("appending event %v (%s, %d data bytes): %w (capacity %d bytes)",
			ev.Pos(), ev.Type, len(ev.Data), ErrTooLarge, b.opts.MaxBytes))
	case used+int64(len(buf)) > b.opts.MaxBytes:
		return b.refuse(buf[:0], recs, fmt.Errorf("appending %d events from %v: %w (%d of %d bytes held, batch of %d)",
			len(recs), recs[0].pos, ErrFull, used, b.opts.MaxBytes, len(buf)))
	}
	if err := b.flushPendingGap(); err != nil {
		if errors.Is(err, ErrFailed) {
			return err
		}
		return b.lostForSpace(recs, err) // still no space: the gap grows
	}
	n, err := b.writeRecords(buf, recs)
	if err != nil {
		if errors.Is(err, ErrFailed) {
			return err
		}
		return b.lostForSpace(recs[n:], err)
	}
	if b.opts.SyncEveryAppend {
		return b.syncActive()
	}
	return nil
}

// gapRange is a run of positions lost for lack of space whose gap record
// is not written yet; count 0 means none.
type gapRange struct {
	first, last command.Position
	count       uint64
}

// lostForSpace records that recs could not be stored for lack of space
// (cause): they join the pending gap, which is written at once if it
// fits, else before the next write that succeeds. The caller holds wmu.
func (b *Buffer) lostForSpace(recs []pending, cause error) error {
	first, last := recs[0].pos, recs[len(recs)-1].pos
	var n uint64
	for _, r := range recs {
		if r.event {
			n++
		}
	}
	b.mu.Lock()
	b.noSpace = cause
	b.noSpaceN += int64(n)
	b.addLostLocked(first, last, n)
	b.mu.Unlock()
	err := fmt.Errorf("%w: %d events %v..%v not stored, recorded as a gap: %w", ErrNoSpace, n, first, last, cause)
	if gerr := b.flushPendingGap(); gerr != nil && errors.Is(gerr, ErrFailed) {
		return fmt.Errorf("%w; recording the gap: %w", err, gerr)
	}
	return err
}

// addLostLocked accounts for events first..last (count) that will never
// be stored: they join the pending gap record, Last moves past them (a
// replay does not store them later, out of order) and every consumer
// behind them reports Gap at once. The caller holds mu (and wmu).
func (b *Buffer) addLostLocked(first, last command.Position, count uint64) {
	if b.pend.count == 0 {
		b.pend = gapRange{first: first, last: last}
	}
	if last.After(b.pend.last) {
		b.pend.last = last
	}
	b.pend.count += count
	b.dropped += int64(count)
	if last.After(b.lostUpTo) {
		b.lostUpTo = last
	}
	if last.After(b.last) {
		b.last = last
	}
	for _, c := range b.consumers {
		if last.After(c.pos) {
			c.gap = true
		}
	}
}

func (b *Buffer) pendingGap() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pend.count > 0
}

// flushPendingGap writes the pending gap record, if there is one. It
// returns the write's error (ErrNoSpace-like, or ErrFailed) and keeps the
// gap pending when it fails. The caller holds wmu.
func (b *Buffer) flushPendingGap() error {
	b.mu.Lock()
	g := b.pend
	err := b.usableLocked()
	b.mu.Unlock()
	if g.count == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	buf := appendGapFrame(nil, g.first, g.last, g.count)
	if _, err := b.writeRecords(buf, []pending{{g.last, 0, len(buf), false}}); err != nil {
		return err
	}
	if b.opts.SyncEveryAppend {
		if err := b.syncActive(); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.pend = gapRange{}
	b.mu.Unlock()
	return nil
}

// RecordGap records that the events first..last never reached this node
// (e.g. it installed a Raft snapshot from the leader covering them): a gap
// record exactly like the one of a refused batch, so every consumer behind
// it reports Gap and cannot read past it until its target is known to hold
// them (Ack or ClearGap past it). count is how many events (or log
// entries, when unknown) it stands for. It does nothing when last is not
// after Last.
func (b *Buffer) RecordGap(first, last command.Position, count uint64) error {
	if !validPos(first) || !validPos(last) || first.After(last) {
		return fmt.Errorf("recording a gap %v..%v: %w", first, last, ErrInvalidEvent)
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	if err := b.usableLocked(); err != nil {
		b.mu.Unlock()
		return err
	}
	behind := !last.After(b.last)
	if !first.After(b.last) {
		first = command.Position{Index: b.last.Index + 1}
		if first.After(last) {
			first = last
		}
	}
	b.mu.Unlock()
	if behind {
		return nil
	}
	if count == 0 {
		count = 1
	}
	if err := b.writeGap(first, last, count); err != nil {
		return fmt.Errorf("recording a gap %v..%v: %w", first, last, err)
	}
	b.log.Warn("replication buffer: gap recorded", "first", first, "last", last, "count", count)
	return nil
}

// refuse stores a gap record in place of the batch recs and returns cause.
func (b *Buffer) refuse(buf []byte, recs []pending, cause error) error {
	first, last := recs[0].pos, recs[len(recs)-1].pos
	if err := b.writeGap(first, last, uint64(len(recs))); err != nil {
		return fmt.Errorf("%w; recording the gap: %w", cause, err)
	}
	b.mu.Lock()
	logIt := !b.refusing
	b.refusing = true
	b.mu.Unlock()
	if logIt { // once per run of refusals; Stats counts them all
		b.log.Error("replication buffer: events not stored", "first", first, "last", last,
			"events", len(recs), "err", cause)
	}
	return cause
}

// writeGap records first..last (count events) as lost: every consumer
// behind it is flagged at once, and the gap record (merged with a pending
// one) is written now, or — when even it finds no space — kept pending
// and written before the next record. The caller holds wmu.
func (b *Buffer) writeGap(first, last command.Position, count uint64) error {
	b.mu.Lock()
	b.addLostLocked(first, last, count)
	b.mu.Unlock()
	return b.flushPendingGap()
}

// writeRecords writes the encoded records at the end of the buffer, one
// write(2) per segment, sealing and starting segments as they fill, and
// indexes them. It returns how many of recs it stored: on an error that
// is not ErrFailed (no space) the rest were not written and nothing of
// them is left in the files. The caller holds wmu.
func (b *Buffer) writeRecords(buf []byte, recs []pending) (int, error) {
	notify := false
	defer func() {
		if notify {
			b.mu.Lock()
			b.notifyLocked()
			b.mu.Unlock()
		}
	}()
	for i := 0; i < len(recs); {
		size, err := b.prepareSegment(recs[i].pos, int64(recs[i].end-recs[i].start))
		if err != nil {
			return i, err
		}
		j := i
		for j < len(recs) && (size == 0 || size+int64(recs[j].end-recs[j].start) <= b.opts.SegmentBytes) {
			size += int64(recs[j].end - recs[j].start)
			j++
		}
		if err := b.write(buf[recs[i].start:recs[j-1].end]); err != nil {
			return i, err
		}
		b.index(recs[i:j])
		notify = true
		i = j
	}
	return len(recs), nil
}

// prepareSegment makes sure the last segment can take a record of n bytes
// at pos, sealing a full one and starting the next. It returns the size
// of the segment the record will go to.
func (b *Buffer) prepareSegment(pos command.Position, n int64) (int64, error) {
	b.mu.Lock()
	var size int64
	if k := len(b.segs); k > 0 {
		size = b.segs[k-1].size
	}
	full := b.active != nil && size > 0 && size+n > b.opts.SegmentBytes
	has := b.active != nil
	b.mu.Unlock()
	if has && !full {
		return size, nil
	}
	if full {
		if err := b.seal(); err != nil {
			return 0, err
		}
	}
	path := filepath.Join(b.dir, segName(pos))
	f, err := (*os.File)(nil), b.fault(path)
	if err == nil {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	}
	if err != nil {
		err = fmt.Errorf("starting segment %s: %w", filepath.Base(path), err)
		if IsNoSpace(err) {
			return 0, err // nothing was created: not sticky
		}
		return 0, b.fail(err)
	}
	if err := syncDir(b.dir); err != nil {
		f.Close()
		os.Remove(path)
		return 0, b.fail(fmt.Errorf("starting segment %s: %w", filepath.Base(path), err))
	}
	b.mu.Lock()
	b.nextID++
	b.segs = append(b.segs, segment{id: b.nextID, path: path, first: pos, base: b.end, firstNum: b.endNum})
	b.active = f
	b.mu.Unlock()
	if full {
		// Reclaim in the background: the appender must not wait for
		// meta.json's fsyncs, nor behind a consumer's reclaim.
		b.bg.Go(func() {
			if err := b.trim(); err != nil {
				b.log.Warn("replication buffer: reclaiming", "err", err)
			}
		})
	}
	return 0, nil
}

// seal makes the last segment durable and closes it, so that every
// segment but the last is always complete on disk: damage in one is
// corruption, never a torn write.
func (b *Buffer) seal() error {
	b.mu.Lock()
	f, w := b.active, b.written
	name := filepath.Base(b.segs[len(b.segs)-1].path)
	b.mu.Unlock()
	if err := datasync(f); err != nil {
		return b.fail(fmt.Errorf("sealing segment %s: %w", name, err))
	}
	b.mu.Lock()
	b.active = nil
	b.synced = max(b.synced, w)
	b.mu.Unlock()
	f.Close() // a concurrent Sync holding f sees os.ErrClosed
	return nil
}

// write appends p to the last segment in one call. On failure it cuts the
// file back (a leftover partial record would be cut at the next Open
// anyway); a segment started for this write is removed, since a segment
// is named after its first record. Lack of space (ENOSPC, EDQUOT) is
// returned as is, once nothing of p is left: the caller records a gap.
// Any other failure, or a failed cut, fails the buffer: the events are
// not stored, and only a restart's replay may append them again in order.
func (b *Buffer) write(p []byte) error {
	b.mu.Lock()
	f, seg := b.active, b.segs[len(b.segs)-1]
	b.mu.Unlock()
	err := b.fault(seg.path)
	if err == nil {
		if _, err = f.Write(p); err == nil {
			return nil
		}
	}
	err = fmt.Errorf("appending to segment %s: %w", filepath.Base(seg.path), err)
	if seg.size == 0 {
		if rerr := b.dropEmptySegment(f, seg.path); rerr != nil {
			return b.fail(fmt.Errorf("%w; removing the empty segment also failed: %v", err, rerr))
		}
	} else if terr := f.Truncate(seg.size); terr != nil {
		return b.fail(fmt.Errorf("%w; cutting back also failed: %v", err, terr))
	}
	if IsNoSpace(err) {
		return err
	}
	return b.fail(err)
}

// dropEmptySegment removes the last segment, started for a write that
// failed before storing anything in it. A crash before the removal leaves
// an empty last segment, which Open removes.
func (b *Buffer) dropEmptySegment(f *os.File, path string) error {
	f.Close()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	b.mu.Lock()
	b.segs = b.segs[:len(b.segs)-1]
	b.active = nil
	b.mu.Unlock()
	return nil
}

// index accounts for records just written to the last segment.
func (b *Buffer) index(recs []pending) {
	b.mu.Lock()
	defer b.mu.Unlock()
	seg := &b.segs[len(b.segs)-1]
	ahead := false // a consumer whose cursor is beyond the stored data
	for _, c := range b.consumers {
		ahead = ahead || c.pos.After(b.last)
	}
	for _, r := range recs {
		n, ev := int64(r.end-r.start), int64(0)
		if r.event {
			ev = 1
		}
		if ahead {
			for _, c := range b.consumers {
				// Its target already has this record (it acknowledged
				// beyond the buffer): step over it.
				if c.loc.off == b.end && !r.pos.After(c.pos) {
					c.loc = location{b.end + n, b.endNum + ev}
				}
			}
		}
		b.refusing = b.refusing && !r.event
		b.noSpace = nil // a write succeeded: there is space again
		seg.size += n
		seg.events += ev
		seg.last = r.pos
		b.end += n
		b.endNum += ev
		b.written += n
		b.last = r.pos
	}
}

// syncActive fdatasyncs the last segment (SyncEveryAppend).
func (b *Buffer) syncActive() error {
	b.mu.Lock()
	f, w := b.active, b.written
	b.mu.Unlock()
	if err := datasync(f); err != nil {
		return b.fail(fmt.Errorf("syncing segment: %w", err))
	}
	b.mu.Lock()
	b.synced = max(b.synced, w)
	b.mu.Unlock()
	return nil
}
