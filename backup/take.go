package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// Source is what a backup reads of the running node (*cluster.Store).
type Source interface {
	// BackupCut is the applied index, its term and the membership; with
	// hashes, the state's hashes there (taken while no command applies).
	BackupCut(ctx context.Context, hashes bool) (cluster.BackupCut, error)
	// LatestSnapshot opens the node's newest Raft snapshot.
	LatestSnapshot(ctx context.Context) (cluster.SnapshotFile, io.ReadCloser, error)
	// LogTerm is the term of the entry at index (cluster.ErrLogCompacted
	// when the log no longer holds it).
	LogTerm(index uint64) (uint64, error)
	// ReadLog calls fn with the committed entries from..to in order
	// (cluster.ErrLogCompacted when from is no longer in the log).
	ReadLog(ctx context.Context, from, to uint64, fn func(cluster.LogEntry) error) error
}

// identityDoc is a full backup's node file: who the node is and the
// cluster it belonged to. It holds the admin token: it is a secret.
type identityDoc struct {
	NodeID     string                      `json:"node_id"`
	RaftAddr   string                      `json:"raft_addr"`
	AdminAddr  string                      `json:"admin_addr,omitempty"`
	AdminToken string                      `json:"admin_token,omitempty"`
	Members    []cluster.Member            `json:"members"`
	Nodes      map[string]cluster.NodeMeta `json:"nodes"`
	// SNMPEngine is the node's snmp-engine.json (engine ID and boots),
	// when it has one (snmpengine.go).
	SNMPEngine json.RawMessage `json:"snmp_engine,omitempty"`
}

// progress is a running backup's, read by its job.
type progress struct {
	phase       atomic.Value // string
	done, total atomic.Int64
}

func (p *progress) set(phase string, done, total int64) {
	if p == nil {
		return
	}
	p.phase.Store(phase)
	p.done.Store(done)
	p.total.Store(total)
}

func (p *progress) add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

// progressWriter counts the plain bytes written into a file.
type progressWriter struct {
	w io.Writer
	p *progress
}

func (w progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.p.add(int64(n))
	return n, err
}

// writer writes one backup of one node into the backup directory.
type writer struct {
	dir   string // the backup directory (--backup-dir)
	node  string
	key   *Key
	token func() []byte // the admin token, or nil
	// dataDir is the node's data directory (its SNMP engine file is
	// kept in a full backup); "" keeps none.
	dataDir string
	src     Source
	now     func() time.Time
	p       *progress
	// journal, when set, is the node's command journal (journal.go).
	journal *Journal
}

// take writes a backup of the level asked; an incremental that cannot be
// taken (no full, or neither the journal nor the log holds what follows
// it) is taken as a full backup instead, its Note saying why.
func (w *writer) take(ctx context.Context, level int) (*Manifest, error) {
	if level == Incremental {
		m, why, err := w.incremental(ctx)
		if why == "" {
			return m, err
		}
		return w.full(ctx, "incremental not possible ("+why+"): took a full backup instead")
	}
	return w.full(ctx, "")
}

func (w *writer) full(ctx context.Context, note string) (*Manifest, error) {
	if w.journal != nil {
		// The journal records from before the cut, so that it holds
		// every entry after the full's index once rebased on it.
		w.journal.begin()
		defer w.journal.end()
	}
	m, err := w.fullOnce(ctx, note)
	if errors.Is(err, cluster.ErrLogCompacted) {
		// A newer snapshot compacted the log after the one opened:
		// again, from that one.
		m, err = w.fullOnce(ctx, note)
	}
	if err == nil && w.journal != nil {
		err = w.journal.rebase(m)
	}
	return m, err
}

// fullOnce copies the node's latest Raft snapshot — the state as the FSM
// encoded it, read from disk: nothing is encoded again and no command
// waits — and the committed log entries after it up to the applied
// index: together, the state at that index.
func (w *writer) fullOnce(ctx context.Context, note string) (*Manifest, error) {
	w.p.set("opening the latest snapshot", 0, 0)
	began := w.now()
	snap, rc, err := w.src.LatestSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("full backup: %w", err)
	}
	defer rc.Close()
	cut, err := w.src.BackupCut(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("full backup: %w", err)
	}
	if cut.Index < snap.Index {
		return nil, fmt.Errorf("full backup: snapshot %s at index %d is past the applied index %d", snap.ID, snap.Index, cut.Index)
	}
	m := w.manifest(began, Full, cut.Index, cut.Term, cut)
	m.Note = note
	m.SnapshotIndex, m.SnapshotTerm, m.SnapshotMembers = snap.Index, snap.Term, snap.Members
	id := doc(cut, w.node)
	if w.token != nil {
		id.AdminToken = strings.TrimSpace(string(w.token()))
	}
	if w.dataDir != "" {
		eng, err := readSNMPEngine(w.dataDir)
		if err != nil {
			return nil, fmt.Errorf("full backup: %w", err)
		}
		if eng != nil {
			id.SNMPEngine, _ = json.Marshal(eng)
		}
	}
	m.Node = NodeInfo{ID: w.node, RaftAddr: id.RaftAddr, AdminAddr: id.AdminAddr}
	return w.commit(ctx, m, began, func(tmp string) error {
		w.p.set("writing the state", 0, snap.Size)
		f, err := writeFile(tmp, stateName, w.key, func(out io.Writer) error {
			_, err := io.CopyBuffer(progressWriter{w: out, p: w.p}, ctxReader{ctx: ctx, r: rc}, make([]byte, 1<<20))
			return err
		})
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		w.p.set("writing the log after the snapshot", 0, int64(cut.Index-snap.Index))
		f, err = writeFile(tmp, tailName, w.key, func(out io.Writer) error {
			lw, err := newLogWriter(out)
			if err != nil {
				return err
			}
			if cut.Index > snap.Index {
				err = w.src.ReadLog(ctx, snap.Index+1, cut.Index, func(e cluster.LogEntry) error {
					w.p.add(1)
					return lw.write(e)
				})
			}
			m.Tail = lw.n
			return err
		})
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		ib, err := json.Marshal(id)
		if err != nil {
			return fmt.Errorf("encoding the node identity: %w", err)
		}
		f, err = writeFile(tmp, nodeName, w.key, func(out io.Writer) error {
			_, err := out.Write(ib)
			return err
		})
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		return nil
	})
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// incremental writes the entries after the latest full backup of this
// node: from the journal when it follows that full, else from the Raft
// log. why is set (and nothing written) when neither can: the caller
// then takes a full backup.
func (w *writer) incremental(ctx context.Context) (m *Manifest, why string, err error) {
	w.p.set("finding the full backup", 0, 0)
	began := w.now()
	base, err := latestFull(w.dir, w.node)
	if err != nil {
		return nil, "", fmt.Errorf("incremental backup: %w", err)
	}
	if base == nil {
		return nil, "no full backup of node " + w.node + " in " + w.dir, nil
	}
	note := ""
	if w.journal != nil {
		v, jwhy := w.journal.view(base)
		if v != nil {
			m, err := w.fromJournal(ctx, began, base, v)
			return m, "", err
		}
		note = "taken from the Raft log: " + jwhy
		defer func() {
			if why != "" {
				why = jwhy + "; and " + why
			}
		}()
	}
	return w.fromLog(ctx, began, base, note)
}

// fromJournal writes the journal's entries after full backup base.
// Nothing is encoded or hashed: its cost follows the entries. It
// records the journal's last checkpoint after the base, which a restore
// must reproduce.
func (w *writer) fromJournal(ctx context.Context, began time.Time, base *Manifest, v *journalView) (*Manifest, error) {
	cut, err := w.src.BackupCut(ctx, false)
	if err != nil {
		v.f.Close()
		return nil, fmt.Errorf("incremental backup: %w", err)
	}
	m := w.manifest(began, Incremental, v.last, v.lastTerm, cut)
	m.Base, m.BaseIndex, m.BaseTerm = base.ID, base.Index, base.Term
	m.Source, m.Checkpoint = SourceJournal, v.checkpoint
	m.Node = base.Node
	if m.Node.ID != w.node {
		m.Node = NodeInfo{ID: w.node}
	}
	read := false
	defer func() {
		if !read {
			v.f.Close()
		}
	}()
	return w.commit(ctx, m, began, func(tmp string) error {
		w.p.set("writing the journal", 0, int64(v.last-v.base))
		f, err := writeFile(tmp, logName, w.key, func(out io.Writer) error {
			lw, err := newLogWriter(out)
			if err != nil {
				return err
			}
			read = true
			err = v.entries(func(e cluster.LogEntry) error {
				w.p.add(1)
				return lw.write(e)
			})
			m.Entries = lw.n
			return err
		})
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		return nil
	})
}

// fromLog writes the Raft log's entries after full backup base, when
// the log still holds them.
func (w *writer) fromLog(ctx context.Context, began time.Time, base *Manifest, note string) (m *Manifest, why string, err error) {
	term, err := w.src.LogTerm(base.Index)
	switch {
	case errors.Is(err, cluster.ErrLogCompacted):
		return nil, fmt.Sprintf("the log was compacted past index %d of full backup %s", base.Index, base.ID), nil
	case err != nil:
		return nil, "", fmt.Errorf("incremental backup: %w", err)
	case term != base.Term:
		return nil, fmt.Sprintf("this node's log has term %d at index %d, full backup %s recorded term %d: another history", term, base.Index, base.ID, base.Term), nil
	}
	cut, err := w.src.BackupCut(ctx, false)
	if err != nil {
		return nil, "", fmt.Errorf("incremental backup: %w", err)
	}
	if cut.Index < base.Index {
		return nil, fmt.Sprintf("this node is at index %d, before full backup %s (index %d)", cut.Index, base.ID, base.Index), nil
	}
	m = w.manifest(began, Incremental, cut.Index, cut.Term, cut)
	m.Base, m.BaseIndex, m.BaseTerm = base.ID, base.Index, base.Term
	m.Source, m.Note = SourceLog, note
	m.Node = base.Node
	if m.Node.ID != w.node {
		m.Node = NodeInfo{ID: w.node}
	}
	var compacted error
	m, err = w.commit(ctx, m, began, func(tmp string) error {
		w.p.set("writing the log", 0, int64(cut.Index-base.Index))
		f, err := writeFile(tmp, logName, w.key, func(out io.Writer) error {
			lw, err := newLogWriter(out)
			if err != nil {
				return err
			}
			err = w.src.ReadLog(ctx, base.Index+1, cut.Index, func(e cluster.LogEntry) error {
				w.p.add(1)
				return lw.write(e)
			})
			if cut.Index == base.Index {
				err = nil // nothing since the full
			}
			if errors.Is(err, cluster.ErrLogCompacted) {
				compacted = err
			}
			m.Entries = lw.n
			return err
		})
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		return nil
	})
	if compacted != nil {
		return nil, fmt.Sprintf("the log was compacted past index %d of full backup %s while it was read", base.Index, base.ID), nil
	}
	return m, "", err
}

func (w *writer) manifest(began time.Time, level int, index, term uint64, cut cluster.BackupCut) *Manifest {
	m := &Manifest{Format: Format, Level: level, Index: index, Term: term, Time: began.UTC(),
		Cluster: ClusterInfo{Members: cut.Members}, Sections: cut.Sections, CommandVersion: command.CurrentVersion,
		StateHashes: cut.Hashes, Compression: "zstd", Encryption: EncNone}
	if w.key != nil {
		m.Encryption, m.Recipient = w.key.kind, w.key.public
	}
	return m
}

// doc is the node identity a full backup records.
func doc(cut cluster.BackupCut, node string) identityDoc {
	d := identityDoc{NodeID: node, Members: cut.Members, Nodes: cut.Nodes}
	for _, mb := range cut.Members {
		if mb.ID == node {
			d.RaftAddr = mb.Address
		}
	}
	if meta, ok := cut.Nodes[node]; ok {
		d.AdminAddr = meta.AdminAddr
		if d.RaftAddr == "" {
			d.RaftAddr = meta.RaftAddr
		}
	}
	return d
}

// commit gives m its ID, writes its files through fill into a temporary
// directory, then the manifest and checksums, and renames the directory
// to the ID: a backup directory without the temporary prefix is whole.
func (w *writer) commit(ctx context.Context, m *Manifest, began time.Time, fill func(tmp string) error) (*Manifest, error) {
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the backup directory: %w", err)
	}
	base := newID(began, w.node, m.Level)
	m.ID = base
	for i := 2; exists(filepath.Join(w.dir, m.ID)) || exists(filepath.Join(w.dir, tmpPrefix+m.ID)); i++ {
		m.ID = fmt.Sprintf("%s-%d", base, i)
	}
	tmp := filepath.Join(w.dir, tmpPrefix+m.ID)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	fail := func(err error) (*Manifest, error) {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := fill(tmp); err != nil {
		return fail(fmt.Errorf("%s backup: %w", m.Kind(), err))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	for _, f := range m.Files {
		m.Size += f.Size
		m.RawSize += f.RawSize
	}
	m.DurationMS = w.now().Sub(began).Milliseconds()
	if err := writeManifest(tmp, m); err != nil {
		return fail(err)
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}
	final := filepath.Join(w.dir, m.ID)
	if err := os.Rename(tmp, final); err != nil {
		return fail(fmt.Errorf("completing backup %s: %w", m.ID, err))
	}
	if err := syncDir(w.dir); err != nil {
		return m, err
	}
	return m, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
