// Package archive is a node's durable, append-only history of committed
// engine events, one file per month, from which `tandemctl replication
// sync` re-sends historical reporting data (replication.md). The
// replication buffer holds only what a target has not received and
// `replication restart` clears it, and Raft compacts its log; the archive
// keeps everything for the cluster's history retention.
//
// It owns the files of its directory and their format. It knows nothing of
// targets, Raft or replication states: the replication Manager appends to
// it from Publish on every node, makes it durable in Sync (before each
// Raft snapshot is persisted), records holes for entries the node never
// saw (or could not store for lack of disk space: ErrNoSpace), prunes it
// by retention and reads it for a sync.
package archive

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

// Errors, for errors.Is.
var (
	// ErrCorrupt: a file holds damage that is not a torn tail.
	ErrCorrupt = errors.New("replication archive corrupt")
	// ErrFailed: a write or fsync failed; the archive refuses further
	// appends until the node restarts (the FSM replays what is missing).
	ErrFailed = errors.New("replication archive failed")
	// ErrClosed: the archive was closed.
	ErrClosed = errors.New("replication archive closed")
	// ErrNoSpace: events could not be written for lack of disk space
	// (ENOSPC, EDQUOT). Not sticky: they are recorded as a hole (at once
	// if it fits, else before the next write that succeeds; Sync fails
	// until then) and the next Append tries again.
	ErrNoSpace = errors.New("no space left for the replication archive")
)

// IsNoSpace reports whether err is a failure for lack of disk space.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Options configure Open.
type Options struct {
	// Retention is how long history is kept: a month whose last day is
	// older than now − Retention is removed by Prune. 0 keeps everything.
	Retention time.Duration
	Logger    *slog.Logger
	// WriteFault is a test seam: when set, it is called with the path
	// before each write that needs new disk space (a month file's data or
	// creation, archive.json), and a non-nil error fails that write as
	// the disk would (e.g. syscall.ENOSPC). nil in production.
	WriteFault func(path string) error
}

// Health reports lack of space.
type Health struct {
	// NoSpace is the last write that failed for lack of space; empty
	// once a write succeeds again.
	NoSpace string `json:"no_space,omitempty"`
	// NoSpaceEvents counts the events not archived for lack of space
	// since Open (they are holes).
	NoSpaceEvents int64 `json:"no_space_events,omitempty"`
	// PendingHole: the hole of those events is not on disk yet.
	PendingHole bool `json:"pending_hole,omitempty"`
}

// Month describes one month file.
type Month struct {
	Month  string           `json:"month"` // "2006-01", UTC
	First  command.Position `json:"first"` // first record's position
	Last   command.Position `json:"last"`  // last record's position
	Events int64            `json:"events"`
	Holes  int64            `json:"holes"`
	Bytes  int64            `json:"bytes"`
}

// Hole is a range of positions whose events this node never received.
type Hole struct {
	First command.Position `json:"first"`
	Last  command.Position `json:"last"`
}

// meta is archive.json: the month summaries as of the last Sync, and how
// much of the active month was durable then.
type meta struct {
	Version int     `json:"version"`
	Months  []Month `json:"months"`
	// Synced: the first Bytes of Month were on disk when Sync returned;
	// every month before it is complete on disk.
	Synced struct {
		Month string `json:"month"`
		Bytes int64  `json:"bytes"`
	} `json:"synced"`
	// Floor is the last position of the newest month pruned.
	Floor command.Position `json:"floor"`
}

const metaName = "archive.json"

// Archive is an open archive directory. Append, RecordHole, Sync, Prune
// and readers may be used concurrently.
type Archive struct {
	dir  string
	opts Options
	log  *slog.Logger

	smu sync.Mutex // serialises Sync and Prune (archive.json)

	mu      sync.Mutex
	months  []Month
	floor   command.Position // last position of the newest pruned month
	active  *os.File         // file of the last month
	last    command.Position
	written int64 // appends since the last Sync
	failed  error
	pend    pendingHole // lost for lack of space, hole not yet written
	noSpace error       // last write failed for lack of space; nil after one succeeds
	lostN   int64       // events lost for lack of space since Open
	closed  bool
	scratch []byte
}

// MonthKey is the month file an event time (Unix nanoseconds) belongs to.
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }

func monthOfNanos(ns int64) string {
	t := time.Unix(0, ns).UTC()
	if t.Year() < 1970 || t.Year() > 9999 {
		return ""
	}
	return MonthKey(t)
}

func fileName(month string) string { return month + ".log" }

func isMonth(s string) bool {
	_, err := time.Parse("2006-01", s)
	return err == nil && len(s) == 7
}

// Open opens or creates the archive in dir, recovering what was appended
// after the last Sync and cutting a torn tail of the last month.
func Open(dir string, opts Options) (*Archive, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating replication archive: %w", err)
	}
	a := &Archive{dir: dir, opts: opts, log: opts.Logger.With("component", "replication-archive")}
	var m meta
	defer func() { a.floor = m.Floor }()
	if b, err := os.ReadFile(filepath.Join(dir, metaName)); err == nil {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Join(dir, metaName), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading replication archive: %w", err)
	}
	known := map[string]Month{}
	for _, mo := range m.Months {
		known[mo.Month] = mo
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading replication archive: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if mo, ok := strings.CutSuffix(name, ".log"); ok && isMonth(mo) {
			files = append(files, mo)
		}
	}
	sort.Strings(files)
	for i, mo := range files {
		lastFile := i == len(files)-1
		path := filepath.Join(dir, fileName(mo))
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("reading replication archive: %w", err)
		}
		sum, ok := known[mo]
		var from int64
		switch {
		case ok && mo < m.Synced.Month && info.Size() == sum.Bytes:
			from = sum.Bytes // complete on disk and summarised
		case ok && mo == m.Synced.Month && m.Synced.Bytes <= sum.Bytes && info.Size() >= m.Synced.Bytes:
			from = m.Synced.Bytes // recover what came after the Sync
			sum.Bytes = from
		default:
			sum, from = Month{Month: mo}, 0
		}
		if info.Size() < from {
			return nil, fmt.Errorf("%w: %s is %d bytes, %d were synced", ErrCorrupt, path, info.Size(), from)
		}
		if from < info.Size() {
			if sum, err = a.scan(path, sum, from, lastFile); err != nil {
				return nil, err
			}
		}
		if sum.Events+sum.Holes > 0 && !sum.First.After(a.last) && a.last != (command.Position{}) {
			return nil, fmt.Errorf("%w: %s starts at %v, not after %v", ErrCorrupt, path, sum.First, a.last)
		}
		if sum.Events+sum.Holes > 0 {
			a.last = sum.Last
		}
		a.months = append(a.months, sum)
	}
	if n := len(a.months); n > 0 {
		f, err := os.OpenFile(filepath.Join(dir, fileName(a.months[n-1].Month)), os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening replication archive: %w", err)
		}
		if err := f.Sync(); err != nil { // what a killed process left in the page cache
			f.Close()
			return nil, fmt.Errorf("syncing replication archive: %w", err)
		}
		a.active = f
	}
	a.written = 1 // write archive.json at the first Sync
	return a, nil
}

// scan reads path from offset from, adding its records to sum. Damage in
// the last file is a torn tail and is cut; elsewhere it is ErrCorrupt.
func (a *Archive) scan(path string, sum Month, from int64, lastFile bool) (Month, error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("reading replication archive: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return sum, fmt.Errorf("reading replication archive: %w", err)
	}
	fr := frameReader{br: bufio.NewReaderSize(f, 64<<10)}
	off := from
	prev := a.last
	if sum.Events+sum.Holes > 0 {
		prev = sum.Last
	}
	for {
		rec, n, err := fr.next()
		if err == io.EOF {
			return sum, nil
		}
		if err == nil && !rec.pos.After(prev) {
			err = fmt.Errorf("%w: position %v not after %v", errPayload, rec.pos, prev)
		}
		if err != nil {
			if lastFile && !errors.Is(err, errPayload) {
				a.log.Warn("replication archive: cutting a torn tail", "file", filepath.Base(path), "offset", off, "err", err)
				if terr := os.Truncate(path, off); terr != nil {
					return sum, fmt.Errorf("cutting torn tail of %s: %w", path, terr)
				}
				return sum, nil
			}
			return sum, fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, err)
		}
		sum = add(sum, &rec, int64(n))
		prev = rec.pos
		off += int64(n)
	}
}

func add(sum Month, rec *record, n int64) Month {
	if sum.Events+sum.Holes == 0 {
		sum.First = rec.pos
		if rec.kind == kindHole {
			sum.First = rec.first
		}
	}
	if rec.kind == kindHole {
		sum.Holes++
	} else {
		sum.Events++
	}
	sum.Last = rec.pos
	sum.Bytes += n
	return sum
}

// frameReader reads whole frames from a stream.
type frameReader struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next record and its framed size; io.EOF at a clean
// end, errTorn when the stream ends inside a frame.
func (fr *frameReader) next() (record, int, error) {
	if cap(fr.buf) < headerSize {
		fr.buf = make([]byte, 0, 4096)
	}
	h := fr.buf[:headerSize]
	if n, err := io.ReadFull(fr.br, h); err != nil {
		if err == io.EOF && n == 0 {
			return record{}, 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return record{}, 0, errTorn
		}
		return record{}, 0, err
	}
	n, err := faults.PayloadLen(h)
	if err != nil {
		return record{}, 0, err
	}
	if cap(fr.buf) < headerSize+n {
		nb := make([]byte, headerSize, headerSize+n)
		copy(nb, h)
		fr.buf = nb
	}
	frame := fr.buf[:headerSize+n]
	if _, err := io.ReadFull(fr.br, frame[headerSize:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return record{}, 0, errTorn
		}
		return record{}, 0, err
	}
	return decodeRecord(frame)
}

// Last returns the position of the last record (event or hole).
func (a *Archive) Last() command.Position {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// Floor is the last position of the newest month removed by Prune (zero
// if none was): the archive holds nothing at or before it.
func (a *Archive) Floor() command.Position {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.floor
}

// Months returns the month summaries, oldest first.
func (a *Archive) Months() []Month {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Month(nil), a.months...)
}

// Dir returns the archive's directory.
func (a *Archive) Dir() string { return a.dir }

func (a *Archive) usableLocked() error {
	if a.closed {
		return ErrClosed
	}
	if a.failed != nil {
		return fmt.Errorf("%w: %v", ErrFailed, a.failed)
	}
	return nil
}

// Append stores committed events in stream order; events at or before
// the last stored position are skipped (a replay after a restart), so it
// is idempotent. An event goes to the month of its time, never to a month
// before the last one written, so each file holds one contiguous range of
// positions. Events are durable after the next Sync (a SIGKILL loses
// nothing Append wrote).
func (a *Archive) Append(events ...command.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usableLocked(); err != nil {
		return err
	}
	buf := a.scratch[:0]
	var run []*command.Event
	var sizes []int64
	runMonth := ""
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		buf = buf[:0]
		sizes = sizes[:0]
		for _, ev := range run {
			start := len(buf)
			buf = appendEventFrame(buf, ev)
			sizes = append(sizes, int64(len(buf)-start))
		}
		err := a.flushHoleLocked()
		if err == nil {
			err = a.writeLocked(runMonth, buf, func(sum *Month) {
				for i, ev := range run {
					r := record{kind: kindEvent, pos: ev.Pos()}
					*sum = add(*sum, &r, sizes[i])
				}
			})
		}
		if err != nil {
			return err
		}
		a.last = run[len(run)-1].Pos()
		run = run[:0]
		return nil
	}
	last := a.last
	for i := range events {
		ev := &events[i]
		if !validPos(ev.Pos()) {
			return fmt.Errorf("replication archive: event %d/%d (%s) has an invalid position", ev.Index, ev.Seq, ev.Type)
		}
		if !ev.Pos().After(last) {
			continue
		}
		mo := a.monthForLocked(monthOfNanos(ev.Time))
		if mo != runMonth {
			if err := flush(); err != nil {
				return a.lostLocked(err, run, events[i:], runMonth)
			}
			runMonth = mo
		}
		run = append(run, ev)
		last = ev.Pos()
	}
	err := flush()
	if cap(buf) <= 1<<20 {
		a.scratch = buf[:0]
	}
	if err != nil {
		return a.lostLocked(err, run, nil, runMonth)
	}
	return nil
}

// pendingHole is a run of positions lost for lack of space whose hole
// record is not written yet; count 0 means none.
type pendingHole struct {
	first, last command.Position
	month       string
	count       int64
}

// lostLocked handles a failed write of run (and the events of rest after
// the last stored position): lack of space makes them a hole, written at
// once if it fits, else before the next write; other errors are returned
// as they are (sticky).
func (a *Archive) lostLocked(err error, run []*command.Event, rest []command.Event, month string) error {
	if !IsNoSpace(err) || errors.Is(err, ErrFailed) {
		return err
	}
	var first, last command.Position
	var n int64
	for _, ev := range run {
		if n == 0 {
			first = ev.Pos()
		}
		last, n = ev.Pos(), n+1
	}
	for i := range rest {
		if p := rest[i].Pos(); validPos(p) && p.After(last) && p.After(a.last) {
			if n == 0 {
				first = p
			}
			last, n = p, n+1
		}
	}
	if n == 0 {
		return err
	}
	if a.pend.count == 0 {
		a.pend = pendingHole{first: first, month: month}
	}
	a.pend.last, a.pend.count = last, a.pend.count+n
	a.last = last
	a.noSpace = err
	a.lostN += n
	out := fmt.Errorf("%w: %d events %v..%v not archived, recorded as a hole: %w", ErrNoSpace, n, first, last, err)
	if ferr := a.flushHoleLocked(); ferr != nil && errors.Is(ferr, ErrFailed) {
		return fmt.Errorf("%w; recording the hole: %w", out, ferr)
	}
	return out
}

// flushHoleLocked writes the pending hole, if there is one; it stays
// pending when the write fails.
func (a *Archive) flushHoleLocked() error {
	h := a.pend
	if h.count == 0 {
		return nil
	}
	frame := appendHoleFrame(nil, h.first, h.last)
	if err := a.writeLocked(a.monthForLocked(h.month), frame, func(sum *Month) {
		r := record{kind: kindHole, pos: h.last, first: h.first}
		*sum = add(*sum, &r, int64(len(frame)))
	}); err != nil {
		return err
	}
	a.pend = pendingHole{}
	return nil
}

// Health reports lack of space (see Health).
func (a *Archive) Health() Health {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := Health{NoSpaceEvents: a.lostN, PendingHole: a.pend.count > 0}
	if a.noSpace != nil {
		h.NoSpace = a.noSpace.Error()
	}
	return h
}

func (a *Archive) fault(path string) error {
	if a.opts.WriteFault != nil {
		return a.opts.WriteFault(path)
	}
	return nil
}

// monthForLocked keeps months monotonic: never before the last month.
func (a *Archive) monthForLocked(mo string) string {
	if n := len(a.months); n > 0 && (mo == "" || mo < a.months[n-1].Month) {
		return a.months[n-1].Month
	}
	if mo == "" {
		return MonthKey(time.Now()) // only for a first event with an absurd time
	}
	return mo
}

// writeLocked writes framed records to month's file (rolling over to it
// if it is new) and accounts for them with account.
func (a *Archive) writeLocked(month string, frames []byte, account func(*Month)) error {
	n := len(a.months)
	if n == 0 || a.months[n-1].Month != month {
		if err := a.rollLocked(month); err != nil {
			return err
		}
		n = len(a.months)
	}
	if a.active == nil {
		// A roll-over sealed the last month, then failed to start the
		// next one (no space): append to the last month again.
		f, err := os.OpenFile(filepath.Join(a.dir, fileName(month)), os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			a.failed = fmt.Errorf("reopening %s: %w", fileName(month), err)
			return fmt.Errorf("%w: %v", ErrFailed, a.failed)
		}
		a.active = f
	}
	sum := &a.months[n-1]
	err := a.fault(a.active.Name())
	if err == nil {
		_, err = a.active.Write(frames)
	}
	if err != nil {
		err = fmt.Errorf("appending to %s: %w", fileName(month), err)
		if terr := a.active.Truncate(sum.Bytes); terr != nil {
			err = fmt.Errorf("%w; cutting back also failed: %v", err, terr)
		} else if IsNoSpace(err) {
			return err // nothing of frames is left: not sticky
		}
		a.failed = err
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	account(sum)
	a.written++
	a.noSpace = nil
	return nil
}

// rollLocked seals the active month (fsync) and starts month's file.
func (a *Archive) rollLocked(month string) error {
	if a.active != nil {
		if err := a.active.Sync(); err != nil {
			a.failed = fmt.Errorf("sealing %s: %w", a.active.Name(), err)
			return fmt.Errorf("%w: %v", ErrFailed, a.failed)
		}
		a.active.Close()
		a.active = nil
	}
	path := filepath.Join(a.dir, fileName(month))
	if err := a.fault(path); err != nil {
		return fmt.Errorf("starting %s: %w", fileName(month), err) // nothing created
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil && IsNoSpace(err) {
		return fmt.Errorf("starting %s: %w", fileName(month), err) // nothing created: not sticky
	}
	if err == nil {
		err = recio.SyncDir(a.dir)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		a.failed = fmt.Errorf("starting %s: %w", fileName(month), err)
		return fmt.Errorf("%w: %v", ErrFailed, a.failed)
	}
	a.active = f
	a.months = append(a.months, Month{Month: month})
	return nil
}

// RecordHole records that this node never received the events first..last
// (e.g. it installed a Raft snapshot from the leader). It does nothing when
// last is not after the last stored position. A reader reports the hole,
// so a sync knows it cannot cover that range from this node. at chooses
// the month when the archive is empty.
func (a *Archive) RecordHole(first, last command.Position, at time.Time) error {
	if !validPos(first) || !validPos(last) || first.After(last) {
		return fmt.Errorf("replication archive: invalid hole %v..%v", first, last)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usableLocked(); err != nil {
		return err
	}
	if !last.After(a.last) {
		return nil
	}
	if !first.After(a.last) {
		first = command.Position{Index: a.last.Index, Seq: a.last.Seq + 1}
		if a.last.Seq >= command.MaxSeq {
			first = command.Position{Index: a.last.Index + 1}
		}
	}
	// One hole record, merged with a hole still pending for lack of
	// space; it stays pending if it does not fit either.
	if a.pend.count == 0 {
		a.pend = pendingHole{first: first, month: MonthKey(at)}
	}
	a.pend.last, a.pend.count = last, a.pend.count+1
	a.last = last
	if err := a.flushHoleLocked(); err != nil {
		if IsNoSpace(err) && !errors.Is(err, ErrFailed) {
			a.noSpace = err
			return fmt.Errorf("%w: hole %v..%v kept in memory until there is space: %w", ErrNoSpace, first, last, err)
		}
		return err
	}
	return nil
}

// Sync makes everything appended so far durable and records the month
// summaries (called before each Raft snapshot is persisted).
func (a *Archive) Sync() error {
	a.smu.Lock()
	defer a.smu.Unlock()
	a.mu.Lock()
	if err := a.usableLocked(); err != nil {
		a.mu.Unlock()
		return err
	}
	// A hole that could not be written yet must be durable before Raft
	// may compact the log entries of the events it stands for: until it
	// is, Sync fails (so does the snapshot) and a restart replays them.
	if err := a.flushHoleLocked(); err != nil {
		a.mu.Unlock()
		return fmt.Errorf("syncing replication archive: a hole is still to be recorded: %w", err)
	}
	if a.written == 0 {
		a.mu.Unlock()
		return nil
	}
	f := a.active
	var m meta
	m.Version = 1
	m.Months = append([]Month(nil), a.months...)
	m.Floor = a.floor
	if n := len(m.Months); n > 0 {
		m.Synced.Month, m.Synced.Bytes = m.Months[n-1].Month, m.Months[n-1].Bytes
	}
	written := a.written
	a.mu.Unlock()
	if f != nil {
		// A concurrent roll-over closes f after syncing it.
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			a.mu.Lock()
			a.failed = fmt.Errorf("syncing %s: %w", f.Name(), err)
			a.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrFailed, err)
		}
	}
	err := a.fault(filepath.Join(a.dir, metaName))
	if err == nil {
		err = writeJSONAtomic(a.dir, metaName, m)
	}
	if err != nil {
		return fmt.Errorf("syncing replication archive: %w", err)
	}
	a.mu.Lock()
	a.written -= written
	a.mu.Unlock()
	return nil
}

// SetRetention changes the retention the next Prune applies (the
// cluster's configured period, as the daily maintenance announces it).
func (a *Archive) SetRetention(d time.Duration) {
	a.smu.Lock()
	a.opts.Retention = d
	a.smu.Unlock()
}

// Prune removes the months older than the retention at now (never the
// last month) and returns their names.
func (a *Archive) Prune(now time.Time) ([]string, error) {
	a.smu.Lock()
	defer a.smu.Unlock()
	if a.opts.Retention <= 0 {
		return nil, nil
	}
	cutoff := now.Add(-a.opts.Retention)
	a.mu.Lock()
	var gone []string
	for len(a.months) > 1 {
		t, _ := time.Parse("2006-01", a.months[0].Month)
		if t.AddDate(0, 1, 0).After(cutoff) {
			break
		}
		gone = append(gone, a.months[0].Month)
		if a.months[0].Events+a.months[0].Holes > 0 {
			a.floor = a.months[0].Last
		}
		a.months = a.months[1:]
	}
	if len(gone) == 0 {
		a.mu.Unlock()
		return nil, nil
	}
	a.written++ // archive.json must forget them
	a.mu.Unlock()
	for _, mo := range gone {
		if err := os.Remove(filepath.Join(a.dir, fileName(mo))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return gone, fmt.Errorf("pruning replication archive: %w", err)
		}
	}
	a.log.Info("replication archive: months past the history retention removed", "months", gone)
	return gone, nil
}

// Close syncs and closes the archive. A hole still pending for lack of
// space is not written: no Sync succeeded since the loss, so Raft kept
// the log, and the replay after the restart archives those events.
func (a *Archive) Close() error {
	a.mu.Lock()
	a.pend = pendingHole{}
	a.mu.Unlock()
	err := a.Sync()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.active != nil {
		if cerr := a.active.Close(); err == nil {
			err = cerr
		}
		a.active = nil
	}
	return err
}

// writeJSONAtomic replaces dir/name with v's JSON encoding, durably.
func writeJSONAtomic(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	if err := recio.ReplaceFile(dir, name, append(b, '\n')); err != nil {
		return err
	}
	return recio.SyncDir(dir)
}
