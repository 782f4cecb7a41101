package buffer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/tandemcc/tandem/command"
)

// consumer is one named reader's state.
type consumer struct {
	name string

	rmu   sync.Mutex // serialises Read; guards rd and alloc
	rd    segReader
	alloc *eventAlloc

	cmu sync.Mutex // serialises cursor writes; guards cf
	cf  *cursorFile

	// Guarded by Buffer.mu.
	pos      command.Position // last acknowledged
	loc      location         // first record after pos (or before it: never ahead)
	attached bool
	gap      bool   // records after pos were dropped (until Reset, or an Ack past them)
	gen      uint64 // bumped by Reset
	hint     readHint
}

// readHint remembers where the last Read stopped, so that acknowledging
// what it returned needs no disk access.
type readHint struct {
	gen uint64
	pos command.Position
	loc location
	ok  bool
}

// Consumer is the handle of one named consumer. Use it from one goroutine
// at a time (Read, Ack, Wait); Stats and Cursor may be called from any.
type Consumer struct {
	b *Buffer
	c *consumer
}

// Consumer returns the handle of a consumer named in Options.Consumers.
func (b *Buffer) Consumer(name string) (*Consumer, error) {
	c := b.consumers[name] // the map is fixed after Open
	if c == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownConsumer, name)
	}
	return &Consumer{b: b, c: c}, nil
}

// loadConsumer reads (or creates) a consumer's cursor and locates it.
func (b *Buffer) loadConsumer(name string) error {
	cf, st, found, err := openCursor(b.dir, name)
	if err != nil {
		return err
	}
	if !found {
		// A new consumer starts at the end: what is retained was kept
		// for the others, and a new target is synchronised anyway.
		st = cursorState{Pos: b.last, Attached: true}
		if cf, err = createCursor(b.dir, name, st); err != nil {
			return err
		}
	}
	c := &consumer{name: name, cf: cf, alloc: newEventAlloc(),
		pos: st.Pos, attached: st.Attached,
		gap: st.Gap || b.floor.After(st.Pos) || b.lostUpTo.After(st.Pos)}
	b.consumers[name] = c
	loc, seg, scan := b.locateLocked(c.pos)
	if scan {
		if loc, err = locateIn(&c.rd, seg, c.pos); err != nil {
			return fmt.Errorf("locating consumer %s at %v: %w", name, c.pos, err)
		}
	}
	c.loc = loc
	return nil
}

// locateLocked finds the location of the first record after pos from the
// index when it can; otherwise it returns the segment to read (scan).
func (b *Buffer) locateLocked(pos command.Position) (loc location, seg segment, scan bool) {
	i := sort.Search(len(b.segs), func(i int) bool { return b.segs[i].last.After(pos) })
	if i == len(b.segs) {
		return location{b.end, b.endNum}, segment{}, false
	}
	s := b.segs[i]
	if s.first.After(pos) {
		return location{s.base, s.firstNum}, segment{}, false
	}
	return location{}, s, true
}

// segmentAtLocked returns the segment holding logical offset off; ok is
// false at the end; errGone when off was reclaimed.
func (b *Buffer) segmentAtLocked(off int64) (segment, bool, error) {
	if off >= b.end {
		return segment{}, false, nil
	}
	if len(b.segs) == 0 || off < b.segs[0].base {
		return segment{}, false, errGone
	}
	i := sort.Search(len(b.segs), func(i int) bool { return b.segs[i].end() > off })
	if i == len(b.segs) {
		return segment{}, false, nil
	}
	return b.segs[i], true, nil
}

// Name returns the consumer's name.
func (c *Consumer) Name() string { return c.c.name }

// Read returns the next events after the cursor, oldest first: at most max
// of them (max ≤ 0: no count limit) and at most Options.MaxReadBytes of
// records, but always at least one when there is one. It does not move
// the cursor — reading again before Ack returns the same events — and it
// never blocks the appender. An empty result means nothing is there yet
// (see Wait).
//
// Reaching records that were dropped (a gap record, or data reclaimed
// while the consumer was detached) returns the events before them, then
// ErrGap. A detached consumer gets ErrDetached.
func (c *Consumer) Read(max int) ([]command.Event, error) {
	b, cs := c.b, c.c
	cs.rmu.Lock()
	defer cs.rmu.Unlock()
	for attempt := 0; ; attempt++ {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if !cs.attached {
			b.mu.Unlock()
			return nil, fmt.Errorf("reading %s: %w", cs.name, ErrDetached)
		}
		pos, loc, gen, floor := cs.pos, cs.loc, cs.gen, b.floor
		b.mu.Unlock()
		if floor.After(pos) {
			return nil, fmt.Errorf("reading %s: %w: records after %v up to %v were reclaimed", cs.name, ErrGap, pos, floor)
		}
		evs, cur, hit, err := c.read(pos, loc, max)
		if errors.Is(err, errGone) && attempt < 3 {
			continue // reclaimed or reset under us: look again
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", cs.name, err)
		}
		b.mu.Lock()
		if cs.gen == gen {
			if len(evs) > 0 {
				cs.hint = readHint{gen: gen, pos: evs[len(evs)-1].Pos(), loc: cur, ok: true}
			} else if cur.off > cs.loc.off {
				cs.loc = cur // stepped over records it had acknowledged ahead
			}
			if hit != nil {
				cs.gap = true
			}
		}
		b.mu.Unlock()
		if hit != nil && len(evs) == 0 {
			return nil, fmt.Errorf("reading %s: %w: %d events %v to %v were not stored (buffer full, or never received by this node)",
				cs.name, ErrGap, hit.gapEvents, hit.gapFirst, hit.pos)
		}
		return evs, nil
	}
}

// read collects events after pos from loc. cur is the location after the
// last event returned (or after the records stepped over); hit is the gap
// record that stopped it, if one did.
func (c *Consumer) read(pos command.Position, loc location, max int) (evs []command.Event, cur location, hit *record, err error) {
	b, cs := c.b, c.c
	cur = loc
	var size int64
	for {
		b.mu.Lock()
		seg, ok, err := b.segmentAtLocked(cur.off)
		b.mu.Unlock()
		if err != nil || !ok {
			return evs, cur, nil, err
		}
		more, err := cs.rd.scan(seg, cur.off, func(rec *record, off, end int64) (bool, error) {
			if !rec.pos.After(pos) { // acknowledged ahead of the buffer
				cur.off = end
				if rec.kind == kindEvent {
					cur.num++
				}
				return true, nil
			}
			if rec.kind == kindGap {
				g := *rec
				hit = &g
				return false, nil
			}
			if len(evs) > 0 && size+(end-off) > int64(b.opts.MaxReadBytes) {
				return false, nil
			}
			evs = append(evs, cs.alloc.event(rec))
			size += end - off
			cur = location{end, cur.num + 1}
			return max <= 0 || len(evs) < max, nil
		})
		if err != nil || !more {
			return evs, cur, hit, err
		}
		cur.off = seg.end() // the next segment starts here
	}
}

// Ack moves the cursor to pos — normally the position of the last event
// delivered — and makes it durable before returning: after a crash the
// consumer resumes just after pos (at-least-once delivery; targets dedupe
// by position). Acks never move a cursor back. pos may lie beyond the last
// appended position (a follower told how far the leader delivered): events
// up to pos appended later are then stepped over. Space no attached
// consumer needs any more is reclaimed, a whole segment file at a time.
func (c *Consumer) Ack(pos command.Position) error {
	b, cs := c.b, c.c
	cs.cmu.Lock()
	defer cs.cmu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if !cs.attached {
		b.mu.Unlock()
		return fmt.Errorf("ack of %s: %w", cs.name, ErrDetached)
	}
	if !pos.After(cs.pos) {
		b.mu.Unlock()
		return nil
	}
	var (
		loc  location
		seg  segment
		scan bool
	)
	if h := cs.hint; h.ok && h.gen == cs.gen && h.pos == pos {
		loc = h.loc
	} else {
		loc, seg, scan = b.locateLocked(pos)
	}
	// The target holds everything up to pos: once that is past every
	// dropped record, nothing is missing any more.
	gap := cs.gap && !b.pastHolesLocked(pos)
	st := cursorState{Pos: pos, Attached: true, Gap: gap}
	gen := cs.gen
	b.mu.Unlock()

	if scan {
		var sr segReader
		var err error
		loc, err = locateIn(&sr, seg, pos)
		sr.close()
		if err != nil {
			return fmt.Errorf("ack of %s at %v: %w", cs.name, pos, err)
		}
	}
	if err := cs.cf.write(st); err != nil {
		return fmt.Errorf("ack of %s at %v: %w", cs.name, pos, err)
	}
	b.mu.Lock()
	if cs.gen == gen && pos.After(cs.pos) {
		cs.pos = pos
		cs.gap = cs.gap && !b.pastHolesLocked(pos)
		if !b.last.After(pos) {
			loc = location{b.end, b.endNum}
		}
		if loc.off > cs.loc.off {
			cs.loc = loc
		}
	}
	b.mu.Unlock()
	if err := b.trim(); err != nil {
		b.log.Warn("replication buffer: reclaiming", "consumer", cs.name, "err", err)
	}
	return nil
}

// pastHolesLocked reports whether pos is at or after every record the
// buffer dropped (gap records) or reclaimed.
func (b *Buffer) pastHolesLocked(pos command.Position) bool {
	return !b.lostUpTo.After(pos) && !b.floor.After(pos)
}

// ClearGap tells the buffer that the consumer's target holds every event
// up to covered by other means (a `replication sync` re-sent them): the
// cursor moves there durably — also when detached, without attaching —
// and the gap flag clears once the cursor is past every dropped record.
// Acknowledging past the last dropped record clears it the same way. It
// reports whether the consumer still has a gap.
func (c *Consumer) ClearGap(covered command.Position) (bool, error) {
	b, cs := c.b, c.c
	cs.cmu.Lock()
	defer cs.cmu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false, ErrClosed
	}
	pos := cs.pos
	if covered.After(pos) {
		pos = covered
	}
	gap := cs.gap && !b.pastHolesLocked(pos)
	if pos == cs.pos && gap == cs.gap {
		b.mu.Unlock()
		return gap, nil
	}
	loc, seg, scan := b.locateLocked(pos)
	st := cursorState{Pos: pos, Attached: cs.attached, Gap: gap}
	gen := cs.gen
	b.mu.Unlock()
	if scan {
		var sr segReader
		var err error
		loc, err = locateIn(&sr, seg, pos)
		sr.close()
		if err != nil {
			return cs.gap, fmt.Errorf("clearing the gap of %s at %v: %w", cs.name, pos, err)
		}
	}
	if err := cs.cf.write(st); err != nil {
		return cs.gap, fmt.Errorf("clearing the gap of %s at %v: %w", cs.name, pos, err)
	}
	b.mu.Lock()
	if cs.gen == gen {
		if pos.After(cs.pos) {
			cs.pos = pos
			if !b.last.After(pos) {
				loc = location{b.end, b.endNum}
			}
			if loc.off > cs.loc.off {
				cs.loc = loc
			}
		}
		cs.gap = cs.gap && !b.pastHolesLocked(cs.pos)
	}
	gap = cs.gap
	b.notifyLocked()
	b.mu.Unlock()
	if err := b.trim(); err != nil {
		b.log.Warn("replication buffer: reclaiming", "consumer", cs.name, "err", err)
	}
	return gap, nil
}

// Detach makes the consumer stop holding space, durably: its records are
// reclaimed as segments fill, and once any it had not acknowledged are
// gone it reports Gap. Read and Ack refuse until Attach or Reset. Use it when a
// replication is stopped or shut down; a suspended one stays attached,
// so the buffer keeps filling for it (replication.md).
func (c *Consumer) Detach() error {
	if err := c.setAttached(false); err != nil {
		return err
	}
	if err := c.b.trim(); err != nil {
		c.b.log.Warn("replication buffer: reclaiming", "consumer", c.c.name, "err", err)
	}
	return nil
}

// Attach re-attaches a detached consumer at its cursor, durably (e.g.
// reporting restarted on a new leader after a failover). If records it
// had not acknowledged were reclaimed meanwhile, Gap reports it and Read
// returns ErrGap; Reset is then the way on.
func (c *Consumer) Attach() error { return c.setAttached(true) }

// setAttached durably records whether the consumer holds space, keeping
// its cursor and gap.
func (c *Consumer) setAttached(attached bool) error {
	b, cs := c.b, c.c
	cs.cmu.Lock()
	defer cs.cmu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if cs.attached == attached {
		b.mu.Unlock()
		return nil
	}
	st := cursorState{Pos: cs.pos, Attached: attached, Gap: cs.gap}
	b.mu.Unlock()
	if err := cs.cf.write(st); err != nil {
		verb := "detaching"
		if attached {
			verb = "attaching"
		}
		return fmt.Errorf("%s %s: %w", verb, cs.name, err)
	}
	b.mu.Lock()
	cs.attached = attached
	b.notifyLocked()
	b.mu.Unlock()
	return nil
}

// Reset clears the buffer for this consumer (`replication restart`): its
// cursor jumps to the last appended position, durably, its gap is
// cleared and it is attached. It reads only what is appended afterwards;
// the space it held is reclaimed. It holds up Append for one cursor write.
func (c *Consumer) Reset() error {
	b, cs := c.b, c.c
	b.wmu.Lock() // no append between choosing the position and using it
	defer b.wmu.Unlock()
	cs.cmu.Lock()
	defer cs.cmu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	pos, loc := cs.pos, location{b.end, b.endNum}
	if b.last.After(pos) {
		pos = b.last
	}
	b.mu.Unlock()
	if err := cs.cf.write(cursorState{Pos: pos, Attached: true}); err != nil {
		return fmt.Errorf("resetting %s: %w", cs.name, err)
	}
	b.mu.Lock()
	cs.pos, cs.loc, cs.attached, cs.gap = pos, loc, true, false
	cs.gen++
	cs.hint = readHint{}
	b.notifyLocked()
	b.mu.Unlock()
	if err := b.trim(); err != nil {
		b.log.Warn("replication buffer: reclaiming", "consumer", cs.name, "err", err)
	}
	return nil
}

// Wait blocks until the consumer has records to read, the context ends,
// the consumer is detached (ErrDetached) or the buffer closed (ErrClosed).
func (c *Consumer) Wait(ctx context.Context) error {
	b, cs := c.b, c.c
	for {
		b.mu.Lock()
		switch {
		case b.closed:
			b.mu.Unlock()
			return ErrClosed
		case !cs.attached:
			b.mu.Unlock()
			return fmt.Errorf("waiting on %s: %w", cs.name, ErrDetached)
		case cs.loc.off < b.end:
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Cursor returns the last acknowledged position.
func (c *Consumer) Cursor() command.Position {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.c.pos
}

// Stats returns this consumer's part of Buffer.Stats.
func (c *Consumer) Stats() ConsumerStats {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.b.consumerStatsLocked(c.c)
}
