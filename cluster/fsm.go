package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Machine is a deterministic state machine for one or more command
// families. The FSM hands it every committed command of its families in log
// order. Apply must be deterministic: no I/O, no clock, no randomness. A
// returned error refuses the command — the machine's state must then be
// unchanged — and is reported to the proposer; every node refuses alike.
//
// Section names the machine's part of snapshots (see type Section):
// name, version and the snapshot format since which it exists. Snapshot
// encodes the whole state as JSON; Restore replaces the state with a
// Snapshot's, or with the empty state when given nil (a section an older
// snapshot format lacked).
type Machine interface {
	Families() []string
	Section() (name string, version, since int)
	Apply(env command.Envelope, em *command.Emitter) (any, error)
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// EventSink consumes the events of committed commands, in log order, on
// every node. Publish must not block for long (it runs on the apply path);
// a sink that must persist events makes them durable by Sync, which the FSM
// calls before a snapshot is persisted, so that no event whose command will
// be compacted out of the log is lost.
type EventSink interface {
	Publish(events []command.Event)
	Sync() error
}

// CommandSink is an EventSink that also needs the engine commands
// themselves (standby replication ships them to another cluster). The FSM
// calls PublishCommitted instead of Publish for such a sink, with the same
// events and, in log order, every command of an engine family (not the
// cluster's own) that applied in the batch.
type CommandSink interface {
	EventSink
	PublishCommitted(events []command.Event, cmds []Committed)
}

// Committed is one engine command that applied.
type Committed struct {
	Index uint64 // its raft index
	// Events is how many events it emitted: their Seq are 0..Events-1.
	Events int
	// N is the cluster's count of applied engine commands, this one
	// included (deterministic, in snapshots): a consumer that misses one
	// sees the jump.
	N   uint64
	Env command.Envelope
}

// RestoreSink is optionally implemented by an EventSink that must know
// when the FSM's state is replaced by a snapshot: Restored(index) is called
// (outside the FSM lock) after every successful Restore, with the last log
// index the snapshot covers. The sink received no events for the entries
// up to index that it had not seen before — on a follower that installed
// the leader's snapshot, those may be many; on a restart restoring the
// node's own snapshot, none (Sync ran before it was persisted).
type RestoreSink interface {
	Restored(index uint64)
}

// Refusal is a command refused by its machine. It is a normal outcome (bad
// input, a rule of the engine), not a failure of the cluster.
type Refusal struct {
	Msg   string `json:"message"`
	Field string `json:"field,omitempty"`
	// Code is the kind the machine's error stated (ErrorCode), when it
	// stated one: a preferences save from an old revision is
	// apierr.PreconditionFailed. Empty: apierr.Refused.
	Code apierr.Code `json:"code,omitempty"`
}

func (r *Refusal) Error() string { return r.Msg }

// ErrorCode makes a refusal 409 refused on every HTTP surface (400
// bad_request when it names a field; package apierr), or the kind its
// machine stated (Code).
func (r *Refusal) ErrorCode() apierr.Code {
	if r.Code != "" {
		return r.Code
	}
	return apierr.Refused
}

// FieldName is the refused field, if any.
func (r *Refusal) FieldName() string { return r.Field }

// Result is what a proposer learns of its committed command.
type Result struct {
	Index     uint64          `json:"index"`
	Result    json.RawMessage `json:"result,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
}

type applyResponse struct {
	res Result
	err error
}

// recentIDs bounds the window in which a retried command ID is recognised.
const recentIDs = 8192

// maxKeptResult bounds a remembered result (8192 of them at most).
const maxKeptResult = 4096

// fsmState is the cluster layer's own replicated state.
type fsmState struct {
	Nodes map[string]NodeMeta `json:"nodes"`
	// Recent maps recent command IDs to the index that applied them; Order
	// keeps their arrival order for eviction.
	Recent map[string]uint64 `json:"recent"`
	Order  []string          `json:"order"`
	// Results keeps the result of each remembered command (when at most
	// maxKeptResult bytes), so that a retried command is answered as the
	// first time was, on whichever node the retry lands.
	Results map[string]json.RawMessage `json:"results,omitempty"`
	// UserCommands counts applied commands outside the cluster family.
	UserCommands uint64 `json:"user_commands"`
	// Gate is the attached Gate's state (gate.go), as of the snapshot. It
	// keeps the key under which older builds wrote the standby mode, which
	// is that gate's state: their snapshots restore unchanged.
	Gate json.RawMessage `json:"standby,omitempty"`
}

// NodeMeta is what the cluster knows of a member beyond Raft's
// configuration: how to reach its admin API, and its SIP address (where
// a follower redirects SIP requests when this node leads; voice package).
type NodeMeta struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raft_addr"`
	AdminAddr string `json:"admin_addr"`
	// HTTPURL is the member's public web server (consoles), "" when off.
	HTTPURL string `json:"http_url,omitempty"`
	SIPAddr string `json:"sip_addr,omitempty"`
	// LogFormat is the highest log entry format the member's build
	// reads (entry.go); 0 for builds before compressed entries.
	LogFormat int `json:"log_format,omitempty"`
}

// fsm is the raft.FSM: it decodes envelopes, dispatches them to machines by
// family and publishes the events they emit.
type fsm struct {
	mu       sync.Mutex // serialises apply, snapshot and restore
	machines map[string]Machine
	ordered  []Machine
	sinks    []EventSink
	st       fsmState
	applied  atomic.Uint64
	formats  atomic.Pointer[map[string]int] // each member's NodeMeta.LogFormat (entry.go)
	lastTime atomic.Int64                   // latest command time applied (Unix ns): a new leader stamps no earlier
	head     int                            // start of the live dedupe window in st.Order
	digests  applyDigests                   // of the entries applied, for the replica check (replicacheck.go)
	states   stateDigests                   // of the state at each checkpoint, for the state check (statecheck.go)
	notify   func(index uint64)             // after every applied batch
	// stored is told the size of each snapshot stored, and -1 after a
	// restore (the snapshot store then holds one this FSM did not write).
	stored   func(size int64)
	cmdSinks bool // some sink is a CommandSink
	// control are the machines of the cluster's own administration state
	// (replication states), by family (Config.Control).
	control map[string]bool
	ctlOrd  []Machine
	// gate, when set, is asked before every engine command and applies
	// the command types in gateTypes (gate.go).
	gate      Gate
	gateTypes map[string]bool
	// synced is set when a gate replaced the machines' state in the
	// batch being applied (Engine.Restore): RestoreSinks are told.
	synced bool
	// em collects one command's events; ApplyBatch copies them out
	// before the next command restarts it.
	em command.Emitter
}

func newFSM(machines, control []Machine, sinks []EventSink, gate Gate) (*fsm, error) {
	f := &fsm{machines: map[string]Machine{}, sinks: sinks, ordered: machines, ctlOrd: control,
		control: map[string]bool{}, gate: gate, gateTypes: map[string]bool{}}
	if gate != nil {
		for _, t := range gate.Types() {
			if (command.Envelope{Type: t}).Family() != Family {
				return nil, fmt.Errorf("gate claims command type %q outside the %s family", t, Family)
			}
			f.gateTypes[t] = true
		}
	}
	for _, s := range sinks {
		if _, ok := s.(CommandSink); ok {
			f.cmdSinks = true
		}
	}
	for i, m := range append(append([]Machine(nil), machines...), control...) {
		if i >= len(machines) {
			for _, fam := range m.Families() {
				f.control[fam] = true
			}
		}
		if len(m.Families()) == 0 {
			// machineKey names a machine's snapshot by its first family.
			return nil, fmt.Errorf("machine %T claims no command family", m)
		}
		for _, fam := range m.Families() {
			if fam == Family {
				return nil, fmt.Errorf("machine claims reserved family %q", fam)
			}
			if _, dup := f.machines[fam]; dup {
				return nil, fmt.Errorf("two machines claim family %q", fam)
			}
			f.machines[fam] = m
		}
	}
	if err := checkSections(f.all()); err != nil {
		return nil, err
	}
	f.st = emptyFSMState()
	return f, nil
}

func emptyFSMState() fsmState {
	return fsmState{Nodes: map[string]NodeMeta{}, Recent: map[string]uint64{}}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: one lock and one publish per batch.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	f.mu.Lock()
	out := make([]any, len(logs))
	resps := make([]applyResponse, len(logs))
	var events []command.Event
	var cmds []Committed
	var last uint64
	plain := make([][]byte, len(logs)) // the entries' data as the sinks read it (entry.go)
	for i, l := range logs {
		last = l.Index
		f.digests.add(l) // the bytes replicated, compressed or not
		if l.Type != raft.LogCommand {
			plain[i] = l.Data
			continue
		}
		data, err := unpackLog(l)
		plain[i] = data
		var r applied
		if err != nil {
			// Every member decompresses the same bytes: a corrupt entry
			// is refused alike everywhere.
			r = applied{applyResponse: applyResponse{res: Result{Index: l.Index}, err: &Refusal{Msg: err.Error()}}}
		} else {
			// A decompressed entry is a buffer of the FSM's own: its
			// envelope's payload is read in place, not copied.
			r = f.applyOne(l.Index, data, isPacked(l.Data))
		}
		events = append(events, r.events...) // r.events is f.em's until the next command
		resps[i] = r.applyResponse
		out[i] = &resps[i]
		if r.cmd != nil {
			cmds = append(cmds, *r.cmd)
		}
	}
	if last > 0 {
		f.applied.Store(last)
	}
	sinks, notify, synced := f.sinks, f.notify, f.synced
	f.synced = false
	f.mu.Unlock()
	if last > 0 {
		publishEntries(sinks, logs, plain)
	}
	if len(events) > 0 || len(cmds) > 0 {
		for _, s := range sinks {
			if cs, ok := s.(CommandSink); ok {
				cs.PublishCommitted(events, cmds)
			} else if len(events) > 0 {
				s.Publish(events)
			}
		}
	}
	if synced && last > 0 {
		for _, s := range sinks {
			if rs, ok := s.(RestoreSink); ok {
				rs.Restored(last) // the state now is a primary's, as of the batch's end
			}
		}
	}
	if notify != nil && last > 0 {
		notify(last)
	}
	return out
}

type applied struct {
	applyResponse
	events []command.Event
	cmd    *Committed // an engine command that applied
}

func (f *fsm) applyOne(index uint64, data []byte, own bool) applied {
	decode := command.Decode
	if own {
		decode = command.DecodeOwned
	}
	env, err := decode(data)
	if err != nil {
		// A command this build cannot read was written by a newer build.
		// Every node of the same build refuses it alike.
		return applied{applyResponse: applyResponse{res: Result{Index: index}, err: &Refusal{Msg: err.Error()}}}
	}
	if env.Time > f.lastTime.Load() {
		f.lastTime.Store(env.Time)
	}
	if prev, ok := f.st.Recent[env.ID]; ok {
		return applied{applyResponse: applyResponse{res: Result{Index: prev, Result: f.st.Results[env.ID], Duplicate: true}}}
	}
	if f.gateTypes[env.Type] {
		return f.applyGated(index, env)
	}
	em := &f.em
	em.Restart(index, env)
	var res any
	var cmd *Committed
	if env.Family() == Family {
		res, err = f.applyCluster(index, env, em)
	} else if m, ok := f.machines[env.Family()]; ok && f.control[env.Family()] {
		// Administration state of the cluster itself: not an engine
		// command (not gated, counted or shipped).
		res, err = m.Apply(env, em)
	} else if ok {
		if f.gate != nil {
			err = f.gate.Refuse()
		}
		if err == nil {
			res, err = m.Apply(env, em)
		}
		if err == nil {
			f.st.UserCommands++
		}
		if err == nil && f.cmdSinks {
			cmd = &Committed{Index: index, Events: len(em.Events()), N: f.st.UserCommands, Env: env}
		}
	} else {
		err = fmt.Errorf("no machine applies command family %q", env.Family())
	}
	if err != nil {
		return applied{applyResponse: applyResponse{res: Result{Index: index}, err: refusal(err)}}
	}
	r := Result{Index: index}
	if res != nil {
		b, mErr := encodeResult(res)
		if mErr != nil {
			f.remember(env.ID, index, nil)
			return applied{applyResponse: applyResponse{res: r, err: fmt.Errorf("encoding result of %s: %w", env.Type, mErr)}, events: em.Events(), cmd: cmd}
		}
		r.Result = b
	}
	f.remember(env.ID, index, r.Result)
	return applied{applyResponse: applyResponse{res: r}, events: em.Events(), cmd: cmd}
}

func refusal(err error) *Refusal {
	r := &Refusal{Msg: err.Error()}
	var fe interface{ FieldName() string }
	if errors.As(err, &fe) {
		r.Field = fe.FieldName()
	}
	var c interface{ ErrorCode() apierr.Code }
	if errors.As(err, &c) && c.ErrorCode() != apierr.Refused {
		r.Code = c.ErrorCode()
	}
	return r
}

func (f *fsm) remember(id string, index uint64, result json.RawMessage) {
	f.st.Recent[id] = index
	if len(result) > 0 && len(result) <= maxKeptResult {
		if f.st.Results == nil {
			f.st.Results = map[string]json.RawMessage{}
		}
		f.st.Results[id] = result
	}
	f.st.Order = append(f.st.Order, id)
	// Evict one ID per insert from the live window Order[head:], and
	// compact the slice once per recentIDs inserts: O(1) amortised, where
	// copying the window on every command dominated the apply path.
	for len(f.st.Order)-f.head > recentIDs {
		delete(f.st.Recent, f.st.Order[f.head])
		delete(f.st.Results, f.st.Order[f.head])
		f.st.Order[f.head] = ""
		f.head++
	}
	if f.head >= recentIDs {
		f.st.Order = append([]string(nil), f.st.Order[f.head:]...)
		f.head = 0
	}
}

// appliedIndex is the index of the last log entry the FSM has applied.
func (f *fsm) appliedIndex() uint64 { return f.applied.Load() }

// nodes returns the replicated node metadata.
func (f *fsm) nodes() map[string]NodeMeta {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]NodeMeta, len(f.st.Nodes))
	for k, v := range f.st.Nodes {
		out[k] = v
	}
	return out
}

// nodesBefore is member id's admin address, read before it is removed.
func (f *fsm) nodesBefore(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Nodes[id].AdminAddr
}

func (f *fsm) userCommands() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.UserCommands
}

// snapshotDoc is the on-disk form of a snapshot.
type snapshotDoc struct {
	Format int `json:"format"`
	// Index is the last log index applied into this state; Restore makes
	// it the applied index, which reads and readiness wait on.
	Index   uint64   `json:"index,omitempty"`
	Cluster fsmState `json:"cluster"`
	// Sections are the machines' parts by Section name (format 2 on).
	Sections map[string]sectionDoc `json:"sections,omitempty"`
	// Machines are the machines' parts of format 1, keyed by each
	// machine's first family (machineKey); read, never written.
	Machines map[string]json.RawMessage `json:"machines,omitempty"`
}

// snapshotFormat is the format Snapshot writes; Restore reads it and
// every older one.
const snapshotFormat = 2

// Snapshot implements raft.FSM. It serialises state while holding the apply
// lock, so it must stay fast; persisting happens outside the lock.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.encodeLocked(nil)
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: b, sinks: f.sinks, index: f.applied.Load(), stored: f.stored}, nil
}

// encodeLocked is the snapshot document of the state now; f.mu is held.
// When raw is not nil it receives each section's encoding as the machine
// gave it (a backup hashes them: backup.go).
func (f *fsm) encodeLocked(raw map[string][]byte) ([]byte, error) {
	cst := f.st
	cst.Order = f.st.Order[f.head:]
	if f.gate != nil {
		g, err := f.gate.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshotting the cluster's gate: %w", err)
		}
		cst.Gate = g
	}
	doc := snapshotDoc{Format: snapshotFormat, Index: f.applied.Load(), Cluster: cst, Sections: map[string]sectionDoc{}}
	for _, m := range f.all() {
		b, err := m.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshotting %v: %w", m.Families(), err)
		}
		sec := sectionOf(m)
		doc.Sections[sec.Name] = sectionDoc{Version: sec.Version, Data: b}
		if raw != nil {
			raw[sec.Name] = b
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding snapshot: %w", err)
	}
	return b, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var doc snapshotDoc
	if err := json.NewDecoder(rc).Decode(&doc); err != nil {
		return fmt.Errorf("decoding snapshot: %w", err)
	}
	if doc.Format < 1 || doc.Format > snapshotFormat {
		return fmt.Errorf("snapshot format %d, this build reads 1 to %d: written by a newer build", doc.Format, snapshotFormat)
	}
	parts, err := sectionsOf(&doc, f.all())
	if err != nil {
		return err
	}
	restored := false
	f.mu.Lock()
	defer func() {
		notify, sinks := f.notify, f.sinks
		f.mu.Unlock()
		if restored && notify != nil && doc.Index > 0 {
			notify(doc.Index) // wake readers waiting for an index the snapshot covers
		}
		if restored && f.stored != nil {
			f.stored(-1)
		}
		if restored && doc.Index > 0 {
			for _, s := range sinks {
				if rs, ok := s.(RestoreSink); ok {
					rs.Restored(doc.Index)
				}
			}
		}
	}()
	for _, m := range f.all() {
		if err := m.Restore(parts[m]); err != nil {
			return fmt.Errorf("restoring snapshot section %s: %w", sectionOf(m).Name, err)
		}
	}
	st := doc.Cluster
	if f.gate != nil {
		if err := f.gate.Restore(st.Gate); err != nil {
			return fmt.Errorf("restoring the cluster's gate: %w", err)
		}
	}
	if st.Nodes == nil {
		st.Nodes = map[string]NodeMeta{}
	}
	if st.Recent == nil {
		st.Recent = map[string]uint64{}
	}
	f.st = st
	f.noteFormats()
	f.head = 0
	f.digests.restored(doc.Index)
	if doc.Index > 0 {
		f.applied.Store(doc.Index)
	}
	restored = true
	return nil
}

// all is the engine machines, then the control machines.
func (f *fsm) all() []Machine {
	return append(append([]Machine(nil), f.ordered...), f.ctlOrd...)
}

func machineKey(m Machine) string {
	fams := append([]string(nil), m.Families()...)
	sort.Strings(fams)
	return fams[0]
}

type fsmSnapshot struct {
	data   []byte
	sinks  []EventSink
	index  uint64           // the applied index the document is at
	stored func(size int64) // nil: nobody keeps the size
}

// Persist makes every sink durable first: once this snapshot is stored,
// raft may drop the log entries whose events the sinks received.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	for _, es := range s.sinks {
		if err := es.Sync(); err != nil {
			sink.Cancel()
			return fmt.Errorf("syncing event sink before snapshot: %w", err)
		}
	}
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return fmt.Errorf("writing snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	if s.stored != nil {
		s.stored(int64(len(s.data)))
	}
	checkpoint(s.sinks, s.index, s.data)
	return nil
}

func (s *fsmSnapshot) Release() {}

// encodeResult is json.Marshal(res), by res's own encoder when it has one
// (command.JSONAppender: a batch's result, hundreds of entries, without
// reflection on every node).
func encodeResult(res any) ([]byte, error) {
	if a, ok := res.(command.JSONAppender); ok {
		return a.AppendJSON(nil), nil
	}
	return json.Marshal(res)
}
