package buffer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tandemcc/tandem/command"
)

// consumer is one named reader's state. mu serialises the operations that
// write its cursor file (Ack, SetActive, Reset); it is taken before b.mu.
// The other fields are guarded by b.mu.
type consumer struct {
	name string
	mu   sync.Mutex

	pos    command.Position // last acknowledged
	loc    location         // first record after pos
	active bool
	gap    bool // records were dropped before this consumer acknowledged them
	hint   readHint
}

// readHint remembers where the last Read stopped, so that acknowledging
// what it returned needs no disk access.
type readHint struct {
	gen uint64
	pos command.Position
	loc location
	ok  bool
}

// cursorState is the content of cursor-<name>.json.
type cursorState struct {
	Pos    command.Position `json:"pos"`
	Active bool             `json:"active"`
	Gap    bool             `json:"gap,omitempty"`
}

func cursorFile(name string) string { return "cursor-" + name + ".json" }

// loadConsumer reads (or creates) a consumer's cursor and locates it.
func (b *Buffer) loadConsumer(name string) error {
	st := cursorState{Pos: b.floor, Active: true}
	found, err := readJSON(b.dir, cursorFile(name), &st)
	if err != nil {
		return fmt.Errorf("loading consumer %s: %w", name, err)
	}
	if !found {
		if err := writeJSONAtomic(b.dir, cursorFile(name), st); err != nil {
			return fmt.Errorf("creating consumer %s: %w", name, err)
		}
	}
	if b.floor.After(st.Pos) { // dropped while it was detached
		st.Pos, st.Gap = b.floor, true
	}
	c := &consumer{name: name, pos: st.Pos, active: st.Active, gap: st.Gap}
	if c.loc, err = b.locate(c.pos); err != nil {
		return fmt.Errorf("locating consumer %s at %v: %w", name, c.pos, err)
	}
	b.consumers[name] = c
	return nil
}

func (b *Buffer) consumer(name string) (*consumer, error) {
	c := b.consumers[name] // the map is fixed after Open
	if c == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownConsumer, name)
	}
	return c, nil
}

// Read returns up to max events after the consumer's cursor, oldest first,
// without moving the cursor: reading again before Ack returns the same
// events. It streams from disk and does not block the appender.
func (b *Buffer) Read(name string, max int) ([]command.Event, error) {
	c, err := b.consumer(name)
	if err != nil || max <= 0 {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		pos, loc, gen := c.pos, c.loc, b.gen
		b.mu.Unlock()
		var evs []command.Event
		var after location
		num := loc.num
		err := b.scan(loc.off, func(r rawRecord) (bool, error) {
			num++
			if !r.v.pos.After(pos) {
				return true, nil
			}
			evs = append(evs, r.v.event())
			after = location{r.end, num}
			return len(evs) < max, nil
		})
		if errors.Is(err, errGone) && attempt < 3 {
			continue // dropped under us; the cursor has moved on
		}
		if err != nil {
			return nil, fmt.Errorf("reading for consumer %s: %w", name, err)
		}
		if len(evs) > 0 {
			b.mu.Lock()
			c.hint = readHint{gen: gen, pos: evs[len(evs)-1].Pos(), loc: after, ok: true}
			b.mu.Unlock()
		}
		return evs, nil
	}
}

// Ack moves the consumer's cursor to pos (normally the position of the last
// event it delivered) and persists it durably before returning. Acks never
// move a cursor back; acknowledging beyond the last appended position is an
// error. Space no active consumer still needs is released.
func (b *Buffer) Ack(name string, pos command.Position) error {
	c, err := b.consumer(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.mu.Lock()
	if err := b.usableLocked(); err != nil {
		b.mu.Unlock()
		return err
	}
	if !pos.After(c.pos) {
		b.mu.Unlock()
		return nil
	}
	if pos.After(b.last) {
		last := b.last
		b.mu.Unlock()
		return fmt.Errorf("ack of %s at %v: beyond the last appended position %v", name, pos, last)
	}
	h := c.hint
	hinted := h.ok && h.gen == b.gen && h.pos == pos
	st := cursorState{Pos: pos, Active: c.active, Gap: c.gap}
	b.mu.Unlock()

	loc := h.loc
	if !hinted {
		for attempt := 0; ; attempt++ {
			if loc, err = b.locate(pos); !errors.Is(err, errGone) || attempt == 3 {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("ack of %s at %v: %w", name, pos, err)
		}
	}
	if err := writeJSONAtomic(b.dir, cursorFile(name), st); err != nil {
		return fmt.Errorf("ack of %s at %v: %w", name, pos, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if pos.After(c.pos) {
		c.pos = pos
	}
	if loc.off > c.loc.off {
		c.loc = loc
	}
	if err := b.trimLocked(); err != nil {
		return fmt.Errorf("ack of %s: %w", name, err)
	}
	return nil
}

// SetActive attaches or detaches a consumer, durably. A detached consumer
// (a stopped replication) holds no data back: records only it still needs
// are dropped as segments fill, its cursor then jumps over them and its
// Gap is reported. Reattaching does not bring them back.
func (b *Buffer) SetActive(name string, active bool) error {
	c, err := b.consumer(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.mu.Lock()
	if err := b.usableLocked(); err != nil || c.active == active {
		b.mu.Unlock()
		return err
	}
	st := cursorState{Pos: c.pos, Active: active, Gap: c.gap}
	b.mu.Unlock()
	if err := writeJSONAtomic(b.dir, cursorFile(name), st); err != nil {
		return fmt.Errorf("setting %s active=%v: %w", name, active, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c.active = active
	if err := b.trimLocked(); err != nil {
		return fmt.Errorf("setting %s active=%v: %w", name, active, err)
	}
	return nil
}

// Wait blocks until the consumer has something to read, the context ends
// or the buffer is closed.
func (b *Buffer) Wait(ctx context.Context, name string) error {
	c, err := b.consumer(name)
	if err != nil {
		return err
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if c.loc.off < b.end {
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

// Reset clears the buffer (used by `replication restart`): every record is
// dropped and every cursor moves to the last appended position, with its
// gap cleared. Active flags are kept; appends continue after that position.
func (b *Buffer) Reset() error {
	for _, n := range b.names {
		c := b.consumers[n]
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(); err != nil {
		return err
	}
	last := b.last
	// Cursors first, then the floor, then the files: a crash in between
	// leaves either old data with advanced cursors or dropped data, never
	// a consumer wrongly flagged with a gap.
	for _, n := range b.names {
		st := cursorState{Pos: last, Active: b.consumers[n].active}
		if err := writeJSONAtomic(b.dir, cursorFile(n), st); err != nil {
			return fmt.Errorf("resetting: %w", err)
		}
	}
	if err := writeJSONAtomic(b.dir, metaFile, metaState{Floor: last}); err != nil {
		return fmt.Errorf("resetting: %w", err)
	}
	b.floor = last
	if b.active != nil {
		b.active.Close()
		b.active = nil
	}
	var errs []error
	for _, s := range b.segs {
		if err := b.removeSegment(s); err != nil {
			errs = append(errs, err)
		}
	}
	b.segs = nil
	for _, c := range b.consumers {
		c.pos, c.loc, c.gap, c.hint = last, location{b.end, b.endNum}, false, readHint{}
	}
	b.gen++
	b.notifyLocked()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resetting: %w", err)
	}
	return nil
}
