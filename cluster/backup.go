package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/hashicorp/raft"
)

// What package backup needs of a node (backup/DESIGN.md): a consistent
// cut of the state at one applied index, the committed log entries after
// an index, and, offline, a data directory rebuilt from those. The backup
// format itself (files, manifest, encryption) is package backup's; this
// file knows only Raft's and the FSM's side.

// Member is one server of the Raft configuration.
type Member struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // "voter" or "nonvoter"
}

// BackupCut is what a backup records of this node at one applied index.
type BackupCut struct {
	Index uint64
	Term  uint64
	// Hashes are the SHA-256 (hex) of each snapshot section's encoding at
	// Index, by section name (the contactcenter one is the engine's state
	// hash, Engine.Hash); nil unless asked for.
	Hashes map[string]string
	// Members is the Raft configuration this node knows at the cut.
	Members []Member
	// Nodes is the replicated member metadata (how to reach each one).
	Nodes map[string]NodeMeta
	// Sections are the versions of the sections' encodings, by name.
	Sections map[string]int
}

// SnapshotFile describes the Raft snapshot a full backup copies.
type SnapshotFile struct {
	ID      string
	Index   uint64
	Term    uint64
	Size    int64
	Members []Member // the configuration the snapshot holds
}

// LogEntry is one Raft log entry as a backup keeps it.
type LogEntry struct {
	Index uint64
	Term  uint64
	Type  raft.LogType
	Data  []byte
}

// ErrLogCompacted means the entries asked for are no longer in this
// node's log: a snapshot compacted them.
var ErrLogCompacted = errors.New("log compacted")

// BackupCut reads the applied index, its term, the membership and the
// member metadata. With hashes, the machines encode their state while no
// command applies — the FSM's part of a Raft snapshot, under the same lock
// and at the same cost — and the encodings are hashed after.
func (s *Store) BackupCut(ctx context.Context, hashes bool) (BackupCut, error) {
	if err := ctx.Err(); err != nil {
		return BackupCut{}, err
	}
	f := s.fsm
	raw := map[string][]byte{}
	var cut BackupCut
	var err error
	f.mu.Lock()
	cut.Index = f.applied.Load()
	if hashes {
		for _, m := range f.all() {
			var b []byte
			if b, err = m.Snapshot(); err != nil {
				err = fmt.Errorf("snapshotting %v: %w", m.Families(), err)
				break
			}
			raw[sectionOf(m).Name] = b
		}
	}
	cut.Nodes = make(map[string]NodeMeta, len(f.st.Nodes))
	for k, v := range f.st.Nodes {
		cut.Nodes[k] = v
	}
	f.mu.Unlock()
	if err != nil {
		return BackupCut{}, fmt.Errorf("cutting the state at index %d: %w", cut.Index, err)
	}
	if cut.Index == 0 {
		return BackupCut{}, errors.New("this node has applied nothing yet: nothing to back up")
	}
	if hashes {
		cut.Hashes = hashSections(raw)
	}
	cut.Sections = SectionVersions(f.all())
	if cut.Term, err = s.LogTerm(cut.Index); err != nil {
		return BackupCut{}, err
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return BackupCut{}, fmt.Errorf("reading the raft configuration: %w", err)
	}
	cut.Members = membersOf(cf.Configuration())
	return cut, nil
}

// LatestSnapshot opens this node's newest Raft snapshot — taking one
// first when the node has none — for a full backup to copy: the FSM's
// snapshot document at its index, as Raft wrote it, with nothing
// encoded again and no command held up.
func (s *Store) LatestSnapshot(ctx context.Context) (SnapshotFile, io.ReadCloser, error) {
	for attempt := 0; attempt < 2; attempt++ {
		metas, err := s.snaps.List()
		if err != nil {
			return SnapshotFile{}, nil, fmt.Errorf("listing snapshots: %w", err)
		}
		if len(metas) == 0 {
			if _, err := s.Snapshot(ctx); err != nil {
				return SnapshotFile{}, nil, err
			}
			continue
		}
		meta, rc, err := s.snaps.Open(metas[0].ID)
		if err != nil {
			return SnapshotFile{}, nil, fmt.Errorf("opening snapshot %s: %w", metas[0].ID, err)
		}
		return SnapshotFile{ID: meta.ID, Index: meta.Index, Term: meta.Term, Size: meta.Size,
			Members: membersOf(meta.Configuration)}, rc, nil
	}
	return SnapshotFile{}, nil, errors.New("no snapshot to back up")
}

// LogTerm is the term of the entry at index: from the log, or from a
// snapshot taken exactly there. ErrLogCompacted when neither holds it.
func (s *Store) LogTerm(index uint64) (uint64, error) {
	var l raft.Log
	err := s.logs.GetLog(index, &l)
	if err == nil {
		return l.Term, nil
	}
	if !errors.Is(err, raft.ErrLogNotFound) {
		return 0, fmt.Errorf("reading log entry %d: %w", index, err)
	}
	if metas, lerr := s.snaps.List(); lerr == nil {
		for _, m := range metas {
			if m.Index == index {
				return m.Term, nil
			}
		}
	}
	return 0, fmt.Errorf("the term of index %d: %w", index, ErrLogCompacted)
}

// ReadLog calls fn with every entry from index from to index to, in
// order, read from this node's log store (never past what the FSM has
// applied, so every entry is committed), commands as their envelopes
// (decompressed: entry.go). ErrLogCompacted when from is
// no longer in the log.
func (s *Store) ReadLog(ctx context.Context, from, to uint64, fn func(LogEntry) error) error {
	if to > s.fsm.appliedIndex() {
		return fmt.Errorf("reading the log up to %d: only %d is applied", to, s.fsm.appliedIndex())
	}
	first, err := s.logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("reading the log's first index: %w", err)
	}
	if from < first || first == 0 {
		return fmt.Errorf("entries from index %d: the log now starts at %d: %w", from, first, ErrLogCompacted)
	}
	var l raft.Log
	for i := from; i <= to; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := s.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return fmt.Errorf("log entry %d: %w", i, ErrLogCompacted)
			}
			return fmt.Errorf("reading log entry %d: %w", i, err)
		}
		data, err := unpackLog(&l)
		if err != nil {
			return fmt.Errorf("reading log entry %d: %w", i, err)
		}
		if err := fn(LogEntry{Index: l.Index, Term: l.Term, Type: l.Type, Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// SectionVersions are the snapshot sections of machines and the version
// of each one's encoding, by name.
func SectionVersions(machines []Machine) map[string]int {
	out := make(map[string]int, len(machines))
	for _, m := range machines {
		s := sectionOf(m)
		out[s.Name] = s.Version
	}
	return out
}

func membersOf(c raft.Configuration) []Member {
	out := make([]Member, 0, len(c.Servers))
	for _, srv := range c.Servers {
		suf := "voter"
		if srv.Suffrage != raft.Voter {
			suf = "nonvoter"
		}
		out = append(out, Member{ID: string(srv.ID), Address: string(srv.Address), Suffrage: suf})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func hashSections(raw map[string][]byte) map[string]string {
	out := make(map[string]string, len(raw))
	for name, b := range raw {
		sum := sha256.Sum256(b)
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

// RebuildInput is a backup to replay offline: a Raft snapshot's state
// and the log entries after it.
type RebuildInput struct {
	State []byte // the FSM snapshot document
	Index uint64 // the snapshot's index (State's own may be lower, never higher)
	Term  uint64
	// Members is the configuration the snapshot holds.
	Members []Member
	// Entries, when not nil, calls fn with the entries after the
	// snapshot, in order, from Index+1.
	Entries func(fn func(LogEntry) error) error
	// Machines, Control and Gate must be those the node runs (as for
	// RecoverOffline): the entries are applied through them.
	Machines, Control []Machine
	Gate              Gate
	// Checkpoints are snapshot documents the node persisted while it
	// applied these entries, by index: hex SHA-256 of the document
	// (CheckpointSink). The replay stops at each one in its range and
	// must encode the same document there, byte for byte.
	Checkpoints map[uint64]string
	// KeepOnly, when set, drops every member's metadata but this node's
	// (a restore that starts a new one-node cluster), whose raft address
	// becomes KeepOnlyAddr.
	KeepOnly, KeepOnlyAddr string
}

// Rebuilt is the state a restore writes.
type Rebuilt struct {
	Index, Term uint64
	State       []byte            // the FSM snapshot document at Index
	Hashes      map[string]string // each section's hash at Index
	// Members is the last configuration: the full backup's, or the last
	// configuration entry the incremental held.
	Members []Member
	// Checked are the Checkpoints the replay reproduced, in order.
	Checked []uint64
}

// Rebuild restores State into a fresh FSM over the given machines and
// applies the entries after it in order, exactly as the node applied
// them, then encodes the result (and hashes each section). It writes
// nothing.
func Rebuild(ctx context.Context, in RebuildInput) (*Rebuilt, error) {
	f, err := newFSM(in.Machines, in.Control, nil, in.Gate)
	if err != nil {
		return nil, err
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(in.State))); err != nil {
		return nil, fmt.Errorf("restoring the full backup's state: %w", err)
	}
	// A Raft snapshot's index may pass its document's: the entries
	// between were Raft's own (barriers), which the FSM never sees.
	if got := f.appliedIndex(); got > in.Index {
		return nil, fmt.Errorf("the full backup's state is at index %d, after the %d its manifest says", got, in.Index)
	}
	f.applied.Store(in.Index)
	r := &Rebuilt{Index: in.Index, Term: in.Term, Members: in.Members}
	if in.Entries != nil {
		var batch []*raft.Log
		flush := func() {
			if len(batch) > 0 {
				f.ApplyBatch(batch)
				batch = batch[:0]
			}
		}
		err := in.Entries(func(e LogEntry) error {
			if e.Index != r.Index+1 {
				return fmt.Errorf("log entry %d follows %d: entries are missing", e.Index, r.Index)
			}
			if e.Term < r.Term {
				return fmt.Errorf("log entry %d has term %d, before the term %d of the entry it follows", e.Index, e.Term, r.Term)
			}
			if e.Type == raft.LogConfiguration {
				r.Members = membersOf(raft.DecodeConfiguration(e.Data))
			}
			r.Index, r.Term = e.Index, e.Term
			batch = append(batch, &raft.Log{Index: e.Index, Term: e.Term, Type: e.Type, Data: e.Data})
			if want, ok := in.Checkpoints[e.Index]; ok {
				flush()
				if err := checkDocument(f, e.Index, want); err != nil {
					return err
				}
				r.Checked = append(r.Checked, e.Index)
				return ctx.Err()
			}
			if len(batch) == 256 {
				flush()
				return ctx.Err()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		flush()
		if got := f.appliedIndex(); got != r.Index {
			return nil, fmt.Errorf("replayed up to index %d, the FSM applied %d", r.Index, got)
		}
	}
	raw := map[string][]byte{}
	f.mu.Lock()
	if in.KeepOnly != "" {
		me, ok := f.st.Nodes[in.KeepOnly]
		f.st.Nodes = map[string]NodeMeta{}
		if ok {
			me.RaftAddr = in.KeepOnlyAddr
			f.st.Nodes[in.KeepOnly] = me
		}
	}
	r.State, err = f.encodeLocked(raw)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r.Hashes = hashSections(raw)
	return r, nil
}

// checkDocument compares the FSM's snapshot document now with the hash
// the node recorded of its own at index.
func checkDocument(f *fsm, index uint64, want string) error {
	f.mu.Lock()
	doc, err := f.encodeLocked(nil)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(doc)
	if hex.EncodeToString(sum[:]) != want {
		return fmt.Errorf("the replayed state at index %d differs from the snapshot the node took there: %w", index, ErrReplayDiffers)
	}
	return nil
}

// ErrReplayDiffers marks a replay that did not reproduce the node's state.
var ErrReplayDiffers = errors.New("replay differs")

// RestoredNode is who a restored data directory belongs to and the
// configuration it starts with.
type RestoredNode struct {
	ID      string
	Members []Member // must name ID
	// Files are written into the data dir as given (name → content, mode
	// 0600): the admin token.
	Files map[string][]byte
}

// WriteDataDir writes a data directory from r for node: node.json, a
// Raft snapshot of r at its index and term with node.Members as the
// configuration, and the current term in the stable store (an empty
// log). tandemd starts on it as on any stopped node's. dir must not
// exist or be empty.
func WriteDataDir(dir string, r *Rebuilt, node RestoredNode) error {
	found := false
	conf := raft.Configuration{}
	for _, m := range node.Members {
		suf := raft.Voter
		if m.Suffrage == "nonvoter" {
			suf = raft.Nonvoter
		}
		if m.ID == node.ID {
			found = true
		}
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Address), Suffrage: suf})
	}
	if !found {
		return fmt.Errorf("node %s is not in the configuration it would start with", node.ID)
	}
	if err := checkIdentity(dir, node.ID); err != nil {
		return err
	}
	for name, b := range node.Files {
		if err := writeFileAtomic(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	// The node's own storage, opened as tandemd opens it (whatever log
	// store this build runs), as RecoverOffline does.
	st := &Store{cfg: Config{NodeID: node.ID, DataDir: dir, Timing: LANDefaults}, log: slog.New(slog.DiscardHandler)}
	if err := st.openStorage(context.Background()); err != nil {
		return err
	}
	defer st.closeStorage()
	if err := st.logs.SetUint64([]byte("CurrentTerm"), r.Term); err != nil {
		return fmt.Errorf("writing the current term: %w", err)
	}
	snaps := st.snaps
	_, trans := raft.NewInmemTransport("")
	sink, err := snaps.Create(raft.SnapshotVersionMax, r.Index, r.Term, conf, r.Index, trans)
	if err != nil {
		return fmt.Errorf("creating the restored snapshot: %w", err)
	}
	if _, err := sink.Write(r.State); err != nil {
		sink.Cancel()
		return fmt.Errorf("writing the restored snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("writing the restored snapshot: %w", err)
	}
	return nil
}
