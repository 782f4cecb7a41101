package buffer

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tandemcc/tandem/command"
)

// DefaultMaxBytes is the default capacity (--replication-buffer-size):
// 512 MiB, about two days of an average system's events. DESIGN.md,
// "Default capacity: 512 MiB", shows the estimate: ≈ 254 MB of events a
// day for 150 agents handling 10,000 contacts (1,000 of them e-mails) a
// day, so an outage reaches the 50 % alarm after about a day and the 95 %
// auto-stop after about two.
const DefaultMaxBytes int64 = 512 << 20

// DefaultMaxReadBytes bounds the framed bytes one Read returns.
const DefaultMaxReadBytes = 4 << 20

// Errors callers can test with errors.Is.
var (
	// ErrFull: the batch would take the backlog of an attached consumer
	// past Options.MaxBytes. Nothing of it was stored; a gap record says
	// so, every consumer behind it reports Gap and cannot read past it.
	ErrFull = errors.New("replication buffer full")
	// ErrTooLarge: one event can never fit (larger than MaxBytes or the
	// record limit). Handled like ErrFull.
	ErrTooLarge = errors.New("event too large for the replication buffer")
	// ErrGap: the consumer's next record was dropped (overflow, or
	// reclaimed while it was detached). Its target needs a sync; Reset
	// clears it.
	ErrGap = errors.New("replication buffer gap: records were dropped before this consumer read them")
	// ErrCorrupt: stored bytes that were complete are damaged (not a torn
	// tail). The message names the file and offset. Remove the directory
	// and synchronise the targets.
	ErrCorrupt = errors.New("replication buffer corrupt")
	// ErrFailed: a write or fsync failed earlier; Append and Sync refuse
	// until the node restarts (DESIGN.md, "Disk errors").
	ErrFailed = errors.New("replication buffer failed")
	// ErrClosed: the buffer was closed.
	ErrClosed = errors.New("replication buffer closed")
	// ErrUnknownConsumer: the name is not in Options.Consumers.
	ErrUnknownConsumer = errors.New("unknown replication buffer consumer")
	// ErrDetached: Read or Ack on a detached consumer (Reset attaches it).
	ErrDetached = errors.New("replication buffer consumer detached")
	// ErrLocked: another process or Open holds the directory.
	ErrLocked = errors.New("replication buffer directory locked")
	// ErrInvalidEvent: an event with Index 0, a negative Seq or one
	// beyond 2^31-1 (a bug of the caller). The whole batch is refused;
	// its valid events are recorded as dropped, like ErrFull.
	ErrInvalidEvent = errors.New("invalid event position")
)

// Options configures a Buffer.
type Options struct {
	// MaxBytes is the capacity: the most framed bytes one attached
	// consumer may have outstanding. 0 means DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file starts; space
	// is reclaimed a segment at a time. 0 means MaxBytes/64 clamped to
	// [4 KiB, 64 MiB] (8 MiB for the default capacity).
	SegmentBytes int64
	// Consumers names the consumers, e.g. "reporting", "standby" (1-64
	// letters, digits, '-' or '_'). One without a cursor file starts
	// attached at the last appended position. Cursor files of names not
	// listed are left alone and hold no space.
	Consumers []string
	// SyncEveryAppend fdatasyncs each Append before it returns. Otherwise
	// (the default) Sync makes appended events durable, which the cluster
	// calls before every Raft snapshot is persisted.
	SyncEveryAppend bool
	// MaxReadBytes bounds the framed bytes one Read returns (at least one
	// event is always returned). 0 means DefaultMaxReadBytes.
	MaxReadBytes int
	// Logger receives repairs made at Open and reclaim failures.
	// nil discards.
	Logger *slog.Logger
	// WriteFault is a test seam: when set, it is called with the path
	// before each write that needs new disk space (segment data, a new
	// segment, meta.json), and a non-nil error fails that write as the
	// disk would (e.g. syscall.ENOSPC). nil in production.
	WriteFault func(path string) error
}

var consumerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (o *Options) fill() error {
	switch {
	case o.MaxBytes < 0:
		return fmt.Errorf("MaxBytes must not be negative, got %d", o.MaxBytes)
	case o.MaxBytes == 0:
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes < 0 {
		return fmt.Errorf("SegmentBytes must not be negative, got %d", o.SegmentBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = min(max(o.MaxBytes/64, 4<<10), 64<<20, o.MaxBytes)
	}
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = DefaultMaxReadBytes
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

// Buffer is an open replication buffer. One goroutine appends (the FSM's
// apply path) while Sync, Stats and any number of consumers, each used by
// one goroutine at a time, run concurrently.
//
// Locks, always taken in this order: wmu (appender), a consumer's rmu
// (its reads) and cmu (its cursor file), smu (Sync), tmu (reclaim and
// meta.json), mu (the in-memory index; never held across fsync or reads).
type Buffer struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	wmu     sync.Mutex
	scratch []byte         // guarded by wmu
	bg      sync.WaitGroup // reclaims started by sealing

	smu sync.Mutex

	tmu  sync.Mutex
	meta metaState // as last written; guarded by tmu

	mu        sync.Mutex
	segs      []segment
	active    *os.File // last segment, open for append; nil when none
	nextID    uint64
	end       int64 // logical offset after the last record
	endNum    int64 // logical number of the next event
	last      command.Position
	floor     command.Position // records up to here were reclaimed
	lostUpTo  command.Position // newest gap record's position
	dropped   int64            // events refused since Open
	refusing  bool             // the last batch was refused (logs once per run)
	written   int64            // bytes appended since Open
	synced    int64            // of written, made durable
	consumers map[string]*consumer
	names     []string // sorted
	changed   chan struct{}
	failed    error    // sticky write or fsync failure
	pend      gapRange // lost for lack of space, gap record not yet written
	noSpace   error    // the last write failed for lack of space; nil after one succeeds
	noSpaceN  int64    // events lost for lack of space since Open
	closed    bool
	repaired  int64 // bytes cut from a torn tail at Open
}

const metaFile = "meta.json"

// metaState is meta.json: where reclaiming reached and how far the last
// segment is known durable.
type metaState struct {
	Version int              `json:"version"`
	Floor   command.Position `json:"floor"`
	Synced  syncMark         `json:"synced"`
}

// syncMark says that the first Offset bytes of Segment were durable when
// it was written: damage there is never a torn tail.
type syncMark struct {
	Segment string `json:"segment,omitempty"`
	Offset  int64  `json:"offset,omitempty"`
}

const metaVersion = 1

// Open opens the buffer in dir, creating it if needed. It repairs a torn
// tail left by a crash, refuses a damaged file with ErrCorrupt and another
// user of the directory with ErrLocked.
func Open(dir string, opts Options) (*Buffer, error) {
	if err := opts.fill(); err != nil {
		return nil, fmt.Errorf("opening replication buffer: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening replication buffer: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening replication buffer: %w", err)
	}
	b := &Buffer{dir: dir, opts: opts, log: opts.Logger, lock: lock,
		consumers: map[string]*consumer{}, changed: make(chan struct{})}
	if err := b.load(); err != nil {
		b.closeFiles()
		return nil, fmt.Errorf("opening replication buffer %s: %w", dir, err)
	}
	return b, nil
}

// load reads the directory: meta.json, the segments (repairing the tail),
// the cursors.
func (b *Buffer) load() error {
	if _, err := readJSON(b.dir, metaFile, &b.meta); err != nil {
		return err
	}
	if b.meta.Version > metaVersion {
		return fmt.Errorf("%s has version %d, this build reads up to %d", metaFile, b.meta.Version, metaVersion)
	}
	b.meta.Version = metaVersion
	b.floor, b.last = b.meta.Floor, b.meta.Floor
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("listing directory: %w", err)
	}
	var segs []segment
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(b.dir, name)) // an interrupted atomic write
			continue
		}
		p, ok := parseSegName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if !p.After(b.floor) {
			// Reclaimed: meta.json recorded the floor before the
			// files were removed, and the crash came in between.
			if err := os.Remove(filepath.Join(b.dir, name)); err != nil {
				return fmt.Errorf("removing reclaimed segment: %w", err)
			}
			continue
		}
		segs = append(segs, segment{path: filepath.Join(b.dir, name), first: p})
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
		// What a killed process left in the page cache becomes durable
		// now, so Sync need only cover what is appended from here on.
		if err := datasync(f); err != nil {
			f.Close()
			return fmt.Errorf("syncing last segment: %w", err)
		}
		b.active = f
	}
	b.names = slices.Sorted(slices.Values(b.opts.Consumers))
	for _, name := range b.names {
		if err := b.loadConsumer(name); err != nil {
			return err
		}
	}
	if err := b.trim(); err != nil {
		b.log.Warn("replication buffer: reclaiming at open", "err", err)
	}
	return nil
}

// loadSegment checks one segment and adds it to the index. The last
// segment's torn tail is truncated; a segment left empty is removed.
func (b *Buffer) loadSegment(s segment, isLast bool) error {
	name := filepath.Base(s.path)
	var syncedTo int64
	if b.meta.Synced.Segment == name {
		syncedTo = b.meta.Synced.Offset
	}
	r, err := scanSegment(s.path, s.first, b.last, isLast, syncedTo)
	if err != nil {
		return err
	}
	if r.torn != nil {
		if err := truncateFile(s.path, r.valid); err != nil {
			return fmt.Errorf("repairing %s: %w", name, err)
		}
		b.repaired = r.fileSize - r.valid
		b.log.Warn("replication buffer: cut a torn tail left by a crash", "segment", name,
			"offset", r.valid, "bytes", b.repaired, "reason", r.torn)
	}
	if r.valid == 0 {
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("removing empty segment %s: %w", name, err)
		}
		return nil
	}
	b.nextID++
	s.id, s.last, s.size, s.events = b.nextID, r.last, r.valid, r.events
	s.base, s.firstNum = b.end, b.endNum
	b.segs = append(b.segs, s)
	b.end, b.endNum, b.last = s.end(), s.firstNum+s.events, s.last
	if r.lostUpTo != (command.Position{}) {
		b.lostUpTo = r.lostUpTo
	}
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

// Close makes everything appended durable, closes the files and releases
// the directory. Wait returns ErrClosed; further calls fail with it.
func (b *Buffer) Close() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.bg.Wait() // no new ones: they start under wmu
	for _, n := range b.names {
		c := b.consumers[n]
		c.rmu.Lock()
		defer c.rmu.Unlock()
		c.cmu.Lock()
		defer c.cmu.Unlock()
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	b.tmu.Lock()
	defer b.tmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.changed)
	var err error
	if b.active != nil && b.failed == nil && b.written > b.synced {
		if err = datasync(b.active); err != nil {
			err = fmt.Errorf("closing replication buffer: %w", err)
		}
	}
	for _, c := range b.consumers {
		c.rd.close()
	}
	b.closeFiles()
	return err
}

func (b *Buffer) closeFiles() {
	if b.active != nil {
		b.active.Close()
		b.active = nil
	}
	for _, c := range b.consumers {
		if c.cf != nil {
			c.cf.close()
			c.cf = nil
		}
	}
	if b.lock != nil {
		b.lock.Close()
		b.lock = nil
		unlockDir(b.dir)
	}
}

// Sync makes every event appended before it was called durable (fdatasync
// of the last segment; earlier segments were synced when sealed). It does
// not block Append while the disk works. The cluster calls it before a Raft
// snapshot is persisted, after which the log entries that produced those
// events may be compacted away.
func (b *Buffer) Sync() error {
	if b.pendingGap() {
		// A gap that could not be written yet must be durable before
		// Raft may compact the log entries of the events it stands for:
		// until it is, Sync fails (so does the snapshot) and a restart
		// replays them instead.
		b.wmu.Lock()
		err := b.flushPendingGap()
		b.wmu.Unlock()
		if err != nil {
			return fmt.Errorf("syncing replication buffer: a gap is still to be recorded: %w", err)
		}
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	b.mu.Lock()
	if err := b.usableLocked(); err != nil {
		b.mu.Unlock()
		return err
	}
	f, w := b.active, b.written
	var mark syncMark
	if n := len(b.segs); n > 0 {
		mark = syncMark{filepath.Base(b.segs[n-1].path), b.segs[n-1].size}
	}
	b.mu.Unlock()
	if w > b.syncedSnapshot() && f != nil {
		err := datasync(f)
		if errors.Is(err, os.ErrClosed) {
			// Sealed meanwhile: sealing synced it, unless that failed.
			b.mu.Lock()
			err = b.usableLocked()
			b.mu.Unlock()
			if err != nil {
				return err
			}
		} else if err != nil {
			return b.fail(fmt.Errorf("syncing replication buffer: %w", err))
		}
		b.mu.Lock()
		b.synced = max(b.synced, w)
		b.mu.Unlock()
	}
	b.tmu.Lock()
	defer b.tmu.Unlock()
	if mark == b.meta.Synced || mark.Segment == "" {
		return nil
	}
	m := b.meta
	m.Synced = mark
	if err := b.writeMeta(m); err != nil {
		if IsNoSpace(err) {
			// The data is on disk; only the mark is not. Not sticky:
			// the snapshot fails and the next Sync tries again.
			return fmt.Errorf("syncing replication buffer: %w: %w", ErrNoSpace, err)
		}
		return b.fail(fmt.Errorf("syncing replication buffer: %w", err))
	}
	b.meta = m
	return nil
}

// writeMeta writes meta.json atomically (through the WriteFault seam).
func (b *Buffer) writeMeta(m metaState) error {
	if err := b.fault(filepath.Join(b.dir, metaFile)); err != nil {
		return fmt.Errorf("writing %s: %w", metaFile, err)
	}
	return writeJSONAtomic(b.dir, metaFile, m)
}

// fault consults the WriteFault test seam.
func (b *Buffer) fault(path string) error {
	if b.opts.WriteFault != nil {
		return b.opts.WriteFault(path)
	}
	return nil
}

func (b *Buffer) syncedSnapshot() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.synced
}

// fail records a write or fsync failure: from now on Append and Sync
// refuse, so the cluster's snapshots fail and Raft keeps the log that a
// restart replays. It returns err wrapped in ErrFailed.
func (b *Buffer) fail(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed == nil {
		b.failed = err
		b.log.Error("replication buffer: disk error; appends refused until restart", "err", err)
	}
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

func (b *Buffer) usableLocked() error {
	if b.closed {
		return ErrClosed
	}
	if b.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, b.failed)
	}
	return nil
}

// notifyLocked wakes every Wait.
func (b *Buffer) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// keepLocked is the lowest location an attached consumer still needs, or
// the end.
func (b *Buffer) keepLocked() int64 {
	m := b.end
	for _, c := range b.consumers {
		if c.attached && c.loc.off < m {
			m = c.loc.off
		}
	}
	return m
}

// trim reclaims the segments no attached consumer needs (never the last
// one): it records the new floor in meta.json, drops them from the index,
// moves detached consumers left behind to the first remaining record
// (flagging their gap) and removes the files. Readers never hold b.mu
// while reading, and a removed file stays readable through an open handle.
func (b *Buffer) trim() error {
	b.tmu.Lock()
	defer b.tmu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	keep := b.keepLocked()
	n := 0
	for n < len(b.segs)-1 && b.segs[n].end() <= keep {
		n++
	}
	if n == 0 {
		b.mu.Unlock()
		return nil
	}
	victims := slices.Clone(b.segs[:n])
	floor := victims[n-1].last
	b.mu.Unlock()

	// The floor first: a segment that outlives a crash after this point
	// is recognised as reclaimed at the next Open.
	m := b.meta
	m.Floor = floor
	if err := b.writeMeta(m); err != nil {
		return fmt.Errorf("reclaiming: %w", err)
	}
	b.meta = m

	b.mu.Lock()
	b.segs = slices.Clone(b.segs[n:]) // only trim removes from the front
	b.floor = floor
	first := b.segs[0]
	for _, c := range b.consumers {
		if c.loc.off < first.base {
			c.loc = location{first.base, first.firstNum}
			c.gap = true
		}
	}
	b.mu.Unlock()

	var errs []error
	for _, s := range victims {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("reclaiming: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Last returns the last position appended (or recorded as dropped); zero
// when nothing ever was.
func (b *Buffer) Last() command.Position {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// Dir returns the buffer's directory.
func (b *Buffer) Dir() string { return b.dir }
