package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// The command journal (DESIGN.md, "The journal"): every entry this
// node's FSM applied since its last full backup, appended to
// <data-dir>/backup/journal as it applies, so that an incremental never
// depends on what Raft's log still holds. A sink of the FSM
// (cluster.EntrySink, RestoreSink, CheckpointSink), it is opened before
// the node's Raft starts, so that what Raft replays at start reaches it.
//
// The file is a header record, then entry and checkpoint records; each
// record is a kind byte, a uvarint length, the payload and the CRC-32C
// of all three. A torn or damaged tail is cut at the first bad record
// when the file is opened: those entries are in Raft's log (the journal
// is fsynced before every snapshot, so before Raft compacts anything it
// holds), and Raft applies them again at start.

const (
	journalName  = "journal"
	journalMagic = "TANDEM-BACKUP-JOURNAL-1\n"

	maxJournalRec  = maxEntry + 64
	recHeader      = 'H'
	recEntry       = 'E'
	recCheckpoint  = 'C'
	journalNoFull  = "no full backup was taken since the journal started"
	journalPending = "a full backup is being taken"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// minJournalMax is the bound of a journal whatever its full's size (a
// variable for tests).
var minJournalMax int64 = 256 << 20

// journalHeader is the journal file's first record.
type journalHeader struct {
	// Full is the full backup the journal follows, at Base/BaseTerm;
	// its entries are every one the FSM applied after Base.
	Full     string `json:"full,omitempty"`
	Base     uint64 `json:"base,omitempty"`
	BaseTerm uint64 `json:"base_term,omitempty"`
	Max      int64  `json:"max,omitempty"`
	// Off says why the journal follows no full backup (its entries, if
	// any, are those of a full backup being taken).
	Off string `json:"off,omitempty"`
}

// Checkpoint is the SHA-256 of a snapshot document the node persisted,
// at the applied index it was at (cluster.CheckpointSink).
type Checkpoint struct {
	Index  uint64 `json:"index"`
	SHA256 string `json:"sha256"`
}

// JournalStatus is the journal in `tandemctl status` (backup.journal).
type JournalStatus struct {
	State string `json:"state"` // recording, off
	Full  string `json:"full,omitempty"`
	Base  uint64 `json:"base,omitempty"`
	Last  uint64 `json:"last,omitempty"`
	Bytes int64  `json:"bytes"`
	Max   int64  `json:"max,omitempty"`
	Why   string `json:"why,omitempty"`
}

// Journal is a node's command journal since its last full backup.
type Journal struct {
	path string
	log  *slog.Logger

	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	hdr  journalHeader
	size int64 // bytes in the file (written or buffered)
	// last is the index of the last entry recorded (or that a restored
	// snapshot reached); lastTerm its term.
	last, lastTerm uint64
	// from: the journal holds every entry applied after from, up to
	// last (while active, from = hdr.Base).
	from    uint64
	pending int // full backups being taken: entries are recorded
	cps     []Checkpoint
	buf     []byte // a record being written
	pbuf    []byte // its payload
	// watched command types, and where to signal one recorded.
	watchTypes [][]byte
	watchCh    chan<- struct{}
}

// OpenJournal opens (or creates) the journal in <dataDir>/backup,
// cutting a damaged tail.
func OpenJournal(dataDir string, logger *slog.Logger) (*Journal, error) {
	if logger == nil {
		logger = slog.Default()
	}
	dir := filepath.Join(dataDir, "backup")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	j := &Journal{path: filepath.Join(dir, journalName), log: logger.With("component", "backup")}
	hdr, end, err := j.load()
	switch {
	case errors.Is(err, os.ErrNotExist):
		return j, j.rewrite(journalHeader{Off: journalNoFull}, nil)
	case err != nil:
		j.log.Warn("the backup journal is unreadable: the next incremental backup is a full one", "path", j.path, "err", err)
		return j, j.rewrite(journalHeader{Off: "the journal was unreadable at start (" + err.Error() + ")"}, nil)
	case hdr.Off != "":
		// Entries after an off header are a full backup's that did not
		// complete: nothing to keep.
		return j, j.rewrite(hdr, nil)
	}
	f, err := os.OpenFile(j.path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the backup journal: %w", err)
	}
	if err := f.Truncate(end); err != nil { // a torn tail
		f.Close()
		return nil, fmt.Errorf("opening the backup journal: %w", err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the backup journal: %w", err)
	}
	j.f, j.w, j.size = f, bufio.NewWriterSize(f, 1<<20), end
	return j, nil
}

// load reads the file: its header, the last entry, the checkpoints, and
// where the good records end.
func (j *Journal) load() (journalHeader, int64, error) {
	f, err := os.Open(j.path)
	if err != nil {
		return journalHeader{}, 0, err
	}
	defer f.Close()
	var hdr journalHeader
	var end int64
	first := true
	err = scanJournal(bufio.NewReaderSize(f, 1<<20), func(kind byte, p []byte, off int64) error {
		switch {
		case first && kind != recHeader:
			return errors.New("no header")
		case first:
			first = false
			if err := json.Unmarshal(p, &hdr); err != nil {
				return fmt.Errorf("header: %w", err)
			}
			j.hdr, j.from, j.last, j.lastTerm = hdr, hdr.Base, hdr.Base, hdr.BaseTerm
		case kind == recEntry:
			e, err := decodeEntry(p)
			if err != nil {
				return errStop
			}
			j.last, j.lastTerm = e.Index, e.Term
		case kind == recCheckpoint:
			if c, ok := decodeCheckpoint(p); ok {
				j.cps = append(j.cps, c)
			}
		}
		end = off
		return nil
	})
	if err != nil {
		return hdr, 0, err
	}
	if first {
		return hdr, 0, errors.New("no header")
	}
	return hdr, end, nil
}

var errStop = errors.New("stop")

// scanJournal calls fn with each whole record and the offset after it;
// it stops quietly at the first torn or damaged one (or when fn says
// errStop).
func scanJournal(r *bufio.Reader, fn func(kind byte, p []byte, off int64) error) error {
	magic := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != journalMagic {
		return errors.New("not a backup journal (bad magic)")
	}
	off := int64(len(journalMagic))
	var lenBuf [binary.MaxVarintLen64]byte
	for {
		kind, err := r.ReadByte()
		if err != nil {
			return nil
		}
		n, err := binary.ReadUvarint(r)
		if err != nil || n > maxJournalRec {
			return nil
		}
		p := make([]byte, n+4)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil
		}
		ln := binary.PutUvarint(lenBuf[:], n)
		c := crc32.Update(crc32.Update(crc32.Checksum([]byte{kind}, crcTable), crcTable, lenBuf[:ln]), crcTable, p[:n])
		if binary.BigEndian.Uint32(p[n:]) != c {
			return nil
		}
		off += 1 + int64(ln) + int64(n) + 4
		if err := fn(kind, p[:n], off); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
}

func appendRecord(b []byte, kind byte, payload []byte) []byte {
	start := len(b)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

func encodeEntry(b []byte, e cluster.LogEntry) []byte {
	b = binary.AppendUvarint(b, e.Index)
	b = binary.AppendUvarint(b, e.Term)
	b = append(b, byte(e.Type))
	return append(b, e.Data...)
}

func decodeEntry(p []byte) (cluster.LogEntry, error) {
	idx, n := binary.Uvarint(p)
	if n <= 0 {
		return cluster.LogEntry{}, errors.New("bad entry")
	}
	p = p[n:]
	term, n := binary.Uvarint(p)
	if n <= 0 || len(p) < n+1 {
		return cluster.LogEntry{}, errors.New("bad entry")
	}
	p = p[n:]
	return cluster.LogEntry{Index: idx, Term: term, Type: raft.LogType(p[0]), Data: p[1:]}, nil
}

func encodeCheckpoint(index uint64, sum [sha256.Size]byte) []byte {
	return append(binary.AppendUvarint(nil, index), sum[:]...)
}

func decodeCheckpoint(p []byte) (Checkpoint, bool) {
	idx, n := binary.Uvarint(p)
	if n <= 0 || len(p)-n != sha256.Size {
		return Checkpoint{}, false
	}
	return Checkpoint{Index: idx, SHA256: hex.EncodeToString(p[n:])}, true
}

// rewrite replaces the file with hdr and the records keep writes (the
// journal's lock is held, or the journal is not shared yet): a new file,
// synced, renamed over the old one.
func (j *Journal) rewrite(hdr journalHeader, keep func(add func(kind byte, p []byte) error) error) error {
	if j.w != nil {
		j.w.Flush()
	}
	if j.f != nil {
		j.f.Close()
		j.f, j.w = nil, nil
	}
	tmp := j.path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("rewriting the backup journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	hb, _ := json.Marshal(hdr)
	rec := appendRecord([]byte(journalMagic), recHeader, hb)
	size := int64(len(rec))
	_, err = w.Write(rec)
	if err == nil && keep != nil {
		err = keep(func(kind byte, p []byte) error {
			rec = appendRecord(rec[:0], kind, p)
			size += int64(len(rec))
			_, err := w.Write(rec)
			return err
		})
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(j.path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("rewriting the backup journal: %w", err)
	}
	j.f, j.w, j.size, j.hdr = f, bufio.NewWriterSize(f, 1<<20), size, hdr
	return nil
}

// active: the journal follows a full backup.
func (j *Journal) active() bool { return j.hdr.Off == "" && j.hdr.Full != "" }

func (j *Journal) recording() bool { return j.f != nil && (j.active() || j.pending > 0) }

// turnOff makes the journal follow no full backup, saying why; a full
// backup being taken goes on recording (what follows now).
func (j *Journal) turnOff(why string) {
	was := j.active()
	j.cps = nil
	if err := j.rewrite(journalHeader{Off: why}, nil); err != nil {
		j.log.Error("the backup journal cannot be written", "err", err)
		j.hdr.Off = why
	}
	j.from = j.last
	if was {
		j.log.Warn("the backup journal stopped: the next incremental backup is a full one", "why", why)
	}
}

// Publish implements cluster.EventSink (the journal needs no events).
func (j *Journal) Publish([]command.Event) {}

// PublishEntries implements cluster.EntrySink: the batch's entries are
// appended (buffered; written at the buffer's size and made durable by
// Sync, before every snapshot).
func (j *Journal) PublishEntries(entries []cluster.LogEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.watchCh != nil {
		for _, e := range entries {
			if e.Type == raft.LogCommand && j.watched(e.Data) {
				select {
				case j.watchCh <- struct{}{}:
				default: // one pending signal covers this entry too
				}
				break
			}
		}
	}
	if !j.recording() {
		return
	}
	for _, e := range entries {
		if e.Index <= j.last {
			continue // applied again at start: the journal has it
		}
		j.pbuf = encodeEntry(j.pbuf[:0], e)
		j.buf = appendRecord(j.buf[:0], recEntry, j.pbuf)
		if _, err := j.w.Write(j.buf); err != nil {
			j.turnOff("writing the journal failed (" + err.Error() + ")")
			return
		}
		j.size += int64(len(j.buf))
		j.last, j.lastTerm = e.Index, e.Term
	}
	if j.active() && j.hdr.Max > 0 && j.size > j.hdr.Max {
		j.turnOff(fmt.Sprintf("the journal since full backup %s passed %s (its bound: the full's state, at least %s): an incremental would cost more than a full",
			j.hdr.Full, sizeText(j.hdr.Max), sizeText(minJournalMax)))
	}
}

// watch signals ch (without blocking) whenever an entry of one of the
// command types is recorded; nil stops.
func (j *Journal) watch(types []string, ch chan<- struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.watchTypes, j.watchCh = nil, ch
	for _, t := range types {
		j.watchTypes = append(j.watchTypes, []byte(`"`+t+`"`))
	}
}

// watched: data is a command of a watched type (the quoted name is
// looked for first, so that most entries are not decoded).
func (j *Journal) watched(data []byte) bool {
	for _, t := range j.watchTypes {
		if !bytes.Contains(data, t) {
			continue
		}
		env, err := command.Decode(data)
		if err != nil {
			return false
		}
		for _, t := range j.watchTypes {
			if `"`+env.Type+`"` == string(t) {
				return true
			}
		}
		return false
	}
	return false
}

// Restored implements cluster.RestoreSink: a state replaced by a
// snapshot past the journal's last entry leaves a gap the journal
// cannot fill.
func (j *Journal) Restored(index uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.recording() || index <= j.last {
		return
	}
	if j.active() {
		j.turnOff(fmt.Sprintf("this node's state was replaced by a snapshot at index %d, past the journal's last entry %d (installed from the leader, or the node started on a snapshot the journal had not reached)", index, j.last))
	}
	j.last, j.lastTerm, j.from = index, 0, index
}

// Checkpoint implements cluster.CheckpointSink.
func (j *Journal) Checkpoint(index uint64, sum [sha256.Size]byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.recording() || index <= j.hdr.Base {
		return
	}
	j.buf = appendRecord(j.buf[:0], recCheckpoint, encodeCheckpoint(index, sum))
	if _, err := j.w.Write(j.buf); err != nil {
		j.turnOff("writing the journal failed (" + err.Error() + ")")
		return
	}
	j.size += int64(len(j.buf))
	j.cps = append(j.cps, Checkpoint{Index: index, SHA256: hex.EncodeToString(sum[:])})
}

// Sync implements cluster.EventSink: the FSM calls it before a snapshot
// is persisted, so every entry the snapshot covers is on disk before
// Raft may compact it. A journal that cannot be made durable turns off
// (the next incremental says why) rather than hold up Raft's snapshots.
func (j *Journal) Sync() error {
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		return nil
	}
	err := j.w.Flush()
	f := j.f
	j.mu.Unlock()
	if err == nil {
		err = f.Sync()
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		j.mu.Lock()
		if j.f == f {
			j.turnOff("syncing the journal failed (" + err.Error() + ")")
		}
		j.mu.Unlock()
	}
	return nil
}

// Close makes the journal durable and closes it (a nil journal is
// closed).
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.w.Flush()
	if err == nil {
		err = j.f.Sync()
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f, j.w = nil, nil
	return err
}

// Status is the journal for `tandemctl status`.
func (j *Journal) Status() JournalStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := JournalStatus{State: "off", Bytes: j.size, Why: j.hdr.Off}
	if j.active() {
		s = JournalStatus{State: "recording", Full: j.hdr.Full, Base: j.hdr.Base, Last: j.last, Bytes: j.size, Max: j.hdr.Max}
	}
	if j.f == nil {
		s.State = "off"
		if s.Why == "" {
			s.Why = "closed"
		}
	}
	return s
}

// begin makes the journal record every entry applied from now on, for
// a full backup whose cut comes after: end must follow.
func (j *Journal) begin() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.pending == 0 && !j.active() {
		j.last, j.lastTerm, j.from = 0, 0, 0
	}
	j.pending++
}

// end closes a begin; when no full backup rebased the journal, what it
// recorded for it is dropped.
func (j *Journal) end() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending--
	if j.pending == 0 && !j.active() && j.f != nil {
		j.cps = nil
		if err := j.rewrite(journalHeader{Off: j.hdr.Off}, nil); err != nil {
			j.log.Warn("clearing the backup journal", "err", err)
		}
	}
}

// rebase makes the journal follow full backup m (taken between begin
// and end): the entries after its index are kept, the others dropped.
func (j *Journal) rebase(m *Manifest) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("the backup journal is closed")
	}
	if j.from > m.Index {
		j.turnOff(fmt.Sprintf("this node's state was replaced by a snapshot at index %d while full backup %s (index %d) was taken", j.from, m.ID, m.Index))
		return nil
	}
	if err := j.w.Flush(); err != nil {
		j.turnOff("writing the journal failed (" + err.Error() + ")")
		return nil
	}
	old, err := os.Open(j.path)
	if err != nil {
		j.turnOff("reading the journal failed (" + err.Error() + ")")
		return nil
	}
	defer old.Close()
	var cps []Checkpoint
	hdr := journalHeader{Full: m.ID, Base: m.Index, BaseTerm: m.Term, Max: max(minJournalMax, m.RawSize)}
	err = j.rewrite(hdr, func(add func(kind byte, p []byte) error) error {
		return scanJournal(bufio.NewReaderSize(old, 1<<20), func(kind byte, p []byte, _ int64) error {
			switch kind {
			case recEntry:
				e, err := decodeEntry(p)
				if err != nil || e.Index <= m.Index {
					return nil
				}
			case recCheckpoint:
				c, ok := decodeCheckpoint(p)
				if !ok || c.Index <= m.Index {
					return nil
				}
				cps = append(cps, c)
			default:
				return nil
			}
			return add(kind, p)
		})
	})
	if err != nil {
		j.turnOff(err.Error())
		return nil
	}
	j.from, j.cps = m.Index, cps
	if j.last < m.Index {
		j.last, j.lastTerm = m.Index, m.Term
	}
	return nil
}

// journalView is what an incremental reads of the journal: the entries
// after base up to last, in the file up to end.
type journalView struct {
	f          *os.File
	end        int64
	base, last uint64
	lastTerm   uint64
	checkpoint *Checkpoint
}

// view opens the journal for an incremental on full backup base; why
// says why it cannot serve one.
func (j *Journal) view(base *Manifest) (*journalView, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.f == nil:
		return nil, "the journal is closed"
	case !j.active():
		return nil, "the journal holds nothing to follow: " + j.hdr.Off
	case j.hdr.Full != base.ID || j.hdr.Base != base.Index || j.hdr.BaseTerm != base.Term:
		return nil, fmt.Sprintf("the journal follows full backup %s (index %d), not %s (index %d)", j.hdr.Full, j.hdr.Base, base.ID, base.Index)
	}
	if err := j.w.Flush(); err != nil {
		j.turnOff("writing the journal failed (" + err.Error() + ")")
		return nil, j.hdr.Off
	}
	f, err := os.Open(j.path)
	if err != nil {
		return nil, "opening the journal failed (" + err.Error() + ")"
	}
	v := &journalView{f: f, end: j.size, base: j.hdr.Base, last: j.last, lastTerm: j.lastTerm}
	if v.last == v.base {
		v.lastTerm = base.Term
	}
	for i := len(j.cps) - 1; i >= 0; i-- {
		if c := j.cps[i]; c.Index > base.Index && c.Index <= j.last {
			v.checkpoint = &c
			break
		}
	}
	return v, ""
}

// entries calls fn with every index after the base up to last: the
// journal's entries, and the indexes between them that Raft used for
// its own no-op and barrier entries (never given to the FSM, changing
// no state) as no-op entries with the term of the entry after them.
func (v *journalView) entries(fn func(cluster.LogEntry) error) error {
	defer v.f.Close()
	next := v.base + 1
	err := scanJournal(bufio.NewReaderSize(io.LimitReader(v.f, v.end), 1<<20), func(kind byte, p []byte, _ int64) error {
		if kind != recEntry {
			return nil
		}
		e, err := decodeEntry(p)
		if err != nil {
			return fmt.Errorf("the journal is damaged: %w", err)
		}
		if e.Index < next || e.Index > v.last {
			return fmt.Errorf("the journal holds entry %d where %d to %d were expected", e.Index, next, v.last)
		}
		for ; next < e.Index; next++ {
			if err := fn(cluster.LogEntry{Index: next, Term: e.Term, Type: raft.LogNoop}); err != nil {
				return err
			}
		}
		next++
		return fn(e)
	})
	if err != nil {
		return err
	}
	if next-1 != v.last {
		return fmt.Errorf("the journal ends at index %d, it recorded %d", next-1, v.last)
	}
	return nil
}
