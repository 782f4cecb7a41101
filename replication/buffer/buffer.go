package buffer

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tandemcc/tandem/command"
)

// Errors callers can test with errors.Is.
var (
	// ErrFull: the append would take the buffer past Options.MaxBytes.
	// Nothing was written; space returns as consumers acknowledge or are
	// detached.
	ErrFull = errors.New("replication buffer full")
	// ErrTooLarge: one event does not fit in the buffer at all.
	ErrTooLarge = errors.New("event too large for the replication buffer")
	// ErrCorrupt: a record that was complete is damaged (not a torn tail).
	// The buffer's data can no longer be trusted; remove the directory and
	// synchronise the targets.
	ErrCorrupt = errors.New("replication buffer corrupt")
	// ErrClosed: the buffer was closed.
	ErrClosed = errors.New("replication buffer closed")
	// ErrUnknownConsumer: the name was not in Options.Consumers.
	ErrUnknownConsumer = errors.New("unknown replication consumer")
	// ErrLocked: another Buffer holds the directory.
	ErrLocked = errors.New("replication buffer in use")
	// ErrInvalidEvent: the event has Index 0 or a negative Seq.
	ErrInvalidEvent = errors.New("invalid event position")
)

// Options configures a Buffer.
type Options struct {
	// MaxBytes bounds the bytes of records held for active consumers
	// (required, > 0).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file starts; space
	// is freed a segment at a time. Default: MaxBytes/16, clamped to
	// [4 KiB, 64 MiB] and to MaxBytes.
	SegmentBytes int64
	// Consumers names the consumers, e.g. "reporting", "standby" (letters,
	// digits, '-' and '_'). A consumer without a cursor file starts active,
	// just after the data already dropped: it reads everything retained.
	Consumers []string
	// SyncEveryAppend fsyncs each Append before it returns. Otherwise the
	// caller groups syncs by calling Sync (at least before each Raft
	// snapshot is persisted).
	SyncEveryAppend bool
	// Logger receives repairs made at Open and background trim failures.
	// Default: discard.
	Logger *slog.Logger
}

// appendFile is the part of *os.File the appender uses (tests inject
// faults through it).
type appendFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Buffer is an open replication buffer. Its methods are safe for one
// appender and any number of consumers at once.
type Buffer struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	mu        sync.Mutex
	segs      []segment
	active    appendFile // last segment, open for append; nil when none
	end       int64      // logical offset after the last record
	endNum    int64      // logical number of the next record
	last      command.Position
	floor     command.Position // records up to here were dropped
	consumers map[string]*consumer
	names     []string
	changed   chan struct{} // closed and replaced when data arrives
	gen       uint64        // bumped by Reset
	failed    error         // sticky: a failed fsync or rollback
	closed    bool
	scratch   []byte
	repaired  int64 // bytes truncated from a torn tail at Open
}

var consumerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

const metaFile = "meta.json"

type metaState struct {
	Floor command.Position `json:"floor"`
}

// Open opens (creating if needed) the buffer in dir, repairing a torn tail.
func Open(dir string, opts Options) (*Buffer, error) {
	if err := opts.fill(); err != nil {
		return nil, fmt.Errorf("opening replication buffer: %w", err)
	}
	b, err := open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening replication buffer %s: %w", dir, err)
	}
	return b, nil
}

func (o *Options) fill() error {
	if o.MaxBytes <= 0 {
		return fmt.Errorf("MaxBytes must be positive, got %d", o.MaxBytes)
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = min(max(o.MaxBytes/16, 4<<10), 64<<20, o.MaxBytes)
	}
	seen := map[string]bool{}
	for _, n := range o.Consumers {
		if !consumerName.MatchString(n) {
			return fmt.Errorf("consumer name %q: want 1-64 letters, digits, '-' or '_'", n)
		}
		if seen[n] {
			return fmt.Errorf("consumer %q listed twice", n)
		}
		seen[n] = true
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func open(dir string, opts Options) (*Buffer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	b := &Buffer{dir: dir, opts: opts, log: opts.Logger, lock: lock,
		consumers: map[string]*consumer{}, changed: make(chan struct{})}
	if err := b.load(); err != nil {
		b.closeFiles()
		return nil, err
	}
	return b, nil
}

// load reads the directory: meta, segments (repairing the tail), cursors.
func (b *Buffer) load() error {
	var meta metaState
	if _, err := readJSON(b.dir, metaFile, &meta); err != nil {
		return err
	}
	b.floor, b.last = meta.Floor, meta.Floor
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("listing directory: %w", err)
	}
	var segs []segment
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(b.dir, e.Name())) // an interrupted atomic write
		} else if p, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, segment{path: filepath.Join(b.dir, e.Name()), first: p})
		}
	}
	slices.SortFunc(segs, func(x, y segment) int {
		return cmp.Or(cmp.Compare(x.first.Index, y.first.Index), cmp.Compare(x.first.Seq, y.first.Seq))
	})
	for i, s := range segs {
		if err := b.loadSegment(s, i == len(segs)-1); err != nil {
			return err
		}
	}
	if n := len(b.segs); n > 0 {
		f, err := os.OpenFile(b.segs[n-1].path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("opening last segment: %w", err)
		}
		b.active = f
	}
	for _, name := range b.opts.Consumers {
		if err := b.loadConsumer(name); err != nil {
			return err
		}
		b.names = append(b.names, name)
	}
	slices.Sort(b.names)
	if err := b.trimLocked(); err != nil {
		b.log.Warn("replication buffer: trimming at open", "err", err)
	}
	return nil
}

// loadSegment scans one segment and adds it to the index; a bad tail of
// the last segment is truncated, an empty or already dropped segment is
// removed.
func (b *Buffer) loadSegment(s segment, isLast bool) error {
	name := filepath.Base(s.path)
	prev := command.Position{}
	if n := len(b.segs); n > 0 {
		prev = b.segs[n-1].last
	}
	r, err := scanSegment(s.path, s.first, prev)
	if err != nil {
		return fmt.Errorf("scanning %s: %w", name, err)
	}
	if r.problem != nil {
		if !isLast {
			return fmt.Errorf("%w: %s at byte %d: %v", ErrCorrupt, name, r.valid, r.problem)
		}
		if err := truncateFile(s.path, r.valid); err != nil {
			return fmt.Errorf("repairing %s: %w", name, err)
		}
		b.repaired = r.fileSize - r.valid
		b.log.Warn("replication buffer: truncated torn tail", "segment", name,
			"offset", r.valid, "bytes", b.repaired, "reason", r.problem)
	}
	if r.count == 0 || !r.last.After(b.floor) {
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("removing stale segment %s: %w", name, err)
		}
		return nil
	}
	s.last, s.size, s.count = r.last, r.valid, r.count
	s.base, s.firstNum = b.end, b.endNum
	b.segs = append(b.segs, s)
	b.end, b.endNum, b.last = s.end(), s.firstNum+s.count, s.last
	return nil
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close syncs and closes the buffer and wakes every Wait.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.changed)
	var err error
	if b.active != nil && b.failed == nil {
		if err = b.active.Sync(); err != nil {
			err = fmt.Errorf("closing replication buffer: syncing: %w", err)
		}
	}
	b.closeFiles()
	return err
}

func (b *Buffer) closeFiles() {
	if b.active != nil {
		b.active.Close()
		b.active = nil
	}
	if b.lock != nil {
		b.lock.Close()
		b.lock = nil
	}
}

// Sync makes every event appended so far durable. The cluster layer calls
// it before a Raft snapshot is persisted.
func (b *Buffer) Sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(); err != nil {
		return err
	}
	if b.active == nil {
		return nil
	}
	if err := b.active.Sync(); err != nil {
		b.failed = err
		return fmt.Errorf("syncing replication buffer: %w", err)
	}
	return nil
}

func (b *Buffer) usableLocked() error {
	if b.closed {
		return ErrClosed
	}
	if b.failed != nil {
		return fmt.Errorf("replication buffer unusable after a disk error, reopen it: %w", b.failed)
	}
	return nil
}

// notifyLocked wakes every Wait.
func (b *Buffer) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// usedLocked is the bytes held for active consumers.
func (b *Buffer) usedLocked() int64 {
	return b.end - b.minActiveLocked()
}

// minActiveLocked is the lowest location of an active consumer, or the end.
func (b *Buffer) minActiveLocked() int64 {
	m := b.end
	for _, c := range b.consumers {
		if c.active && c.loc.off < m {
			m = c.loc.off
		}
	}
	return m
}

// trimLocked removes the segments no active consumer needs (never the
// last one) and moves detached consumers left behind to the new floor.
func (b *Buffer) trimLocked() error {
	keep := b.minActiveLocked()
	n := 0
	for n < len(b.segs)-1 && b.segs[n].end() <= keep {
		n++
	}
	if n == 0 {
		return nil
	}
	floor := b.segs[n-1].last
	// Persist the floor first: a segment that survives a crash after this
	// point is recognised as dropped at the next Open.
	if err := writeJSONAtomic(b.dir, metaFile, metaState{Floor: floor}); err != nil {
		return fmt.Errorf("trimming: %w", err)
	}
	b.floor = floor
	var errs []error
	for _, s := range b.segs[:n] {
		if err := b.removeSegment(s); err != nil {
			errs = append(errs, fmt.Errorf("trimming: %w", err))
		}
	}
	b.segs = slices.Delete(b.segs, 0, n)
	first := b.segs[0]
	for _, c := range b.consumers {
		if c.loc.off < first.base {
			c.pos, c.loc, c.gap = floor, location{first.base, first.firstNum}, true
		}
	}
	return errors.Join(errs...)
}

// removeSegment deletes a segment file; a segment already gone is fine.
func (b *Buffer) removeSegment(s segment) error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing segment: %w", err)
	}
	return nil
}
