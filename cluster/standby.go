package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tandemcc/tandem/command"
)

// Standby mode (replication.md, "standby"; replication/standby/DESIGN.md).
//
// A standby cluster is a read-only replica of another (primary) cluster's
// engine at another site. Its replicated cluster state carries a
// StandbyState: while it is active, the FSM refuses every command of an
// engine family that comes from this cluster's own edges, and applies only
// the primary's commands shipped to it inside cluster.standby_apply (and
// whole engine states inside cluster.standby_sync). Promotion clears the
// mode for good: the cluster then accepts writes and refuses shipments.
//
// Every rule here runs inside apply, so it is deterministic: each member of
// the standby cluster reaches the same state.

// Standby command types. They belong to the cluster family, so the standby
// refusal does not apply to them.
const (
	// TypeStandbySet makes the cluster a standby (payload StandbySet).
	TypeStandbySet = "cluster.standby_set"
	// TypeStandbyApply applies shipped primary commands (payload StandbyBatch).
	TypeStandbyApply = "cluster.standby_apply"
	// TypeStandbySync carries one part of a primary engine state (payload
	// StandbySyncPart); the last part replaces the machines' state.
	TypeStandbySync = "cluster.standby_sync"
	// TypeStandbyPromote ends standby mode (no payload).
	TypeStandbyPromote = "cluster.standby_promote"

	standbyPrefix = "cluster.standby_"
)

// StandbyState is the replicated standby mode of a cluster. Position and N
// say how far the primary's stream has been applied: Position is the
// primary's (raft index, seq) of the last shipped record (or of the end of
// the last batch, or of the last engine state synced), N the primary's
// count of applied engine commands up to there. Shipped commands are
// numbered by that count, so a missing one is noticed exactly.
type StandbyState struct {
	Of     string `json:"of"`     // the primary, as given by --standby-of
	Active bool   `json:"active"` // refusing local engine commands, accepting shipments
	Since  int64  `json:"since"`  // when the mode was set (command time, Unix ns)
	// Promoted is when the cluster was promoted (Unix ns); 0 = never.
	Promoted int64            `json:"promoted,omitempty"`
	Position command.Position `json:"position"`
	N        uint64           `json:"n"`
	// Applied counts the primary commands applied from shipments.
	Applied uint64 `json:"applied"`
	// LastCommandTime is the primary's time of the last command applied
	// (Unix ns); LastBatchTime when the last shipment was committed here.
	LastCommandTime int64 `json:"last_command_time,omitempty"`
	LastBatchTime   int64 `json:"last_batch_time,omitempty"`
	// NeedsSync says why shipped commands cannot be applied any more (a
	// command the primary never shipped, a command this engine refused):
	// only `tandemctl replication sync --target standby --admin` repairs it.
	NeedsSync string `json:"needs_sync,omitempty"`
	Syncs     uint64 `json:"syncs,omitempty"`
	LastSync  int64  `json:"last_sync,omitempty"`

	// A sync in progress: its ID, its number of parts and the parts so far.
	SyncID    string   `json:"sync_id,omitempty"`
	SyncParts int      `json:"sync_parts,omitempty"`
	SyncData  [][]byte `json:"sync_data,omitempty"`
}

// Fresh reports whether the standby never received anything: it may be
// seeded with a whole engine state without an administrator.
func (s StandbyState) Fresh() bool {
	return s.Active && s.N == 0 && s.Applied == 0 && s.Syncs == 0 && s.Position == (command.Position{})
}

// StandbySet is the payload of TypeStandbySet.
type StandbySet struct {
	Of string `json:"of"`
}

// ShippedCommand is one primary command in a shipment.
type ShippedCommand struct {
	Pos command.Position `json:"pos"` // its record's position in the primary's stream
	N   uint64           `json:"n"`   // the primary's count of engine commands, this one included
	Env json.RawMessage  `json:"env"` // the encoded envelope, as committed on the primary
}

// StandbyBatch is the payload of TypeStandbyApply: shipped commands in
// stream order, and the primary position the batch reaches (the last
// record the primary read, shipped or not).
type StandbyBatch struct {
	Commands []ShippedCommand `json:"commands"`
	Through  command.Position `json:"through"`
}

// StandbyResult is what a shipment or a sync achieved.
type StandbyResult struct {
	Position  command.Position `json:"position"`
	N         uint64           `json:"n"`
	Applied   int              `json:"applied"`
	Skipped   int              `json:"skipped,omitempty"` // already applied before
	NeedsSync string           `json:"needs_sync,omitempty"`
	Fresh     bool             `json:"fresh,omitempty"`
	Synced    bool             `json:"synced,omitempty"`
	Message   string           `json:"message,omitempty"`
}

// EngineExport is a whole engine state at a known point of the primary's
// stream, as a standby sync ships it.
type EngineExport struct {
	Position command.Position           `json:"position"`
	N        uint64                     `json:"n"`
	Machines map[string]json.RawMessage `json:"machines"`
}

// StandbySyncPart is the payload of TypeStandbySync: part Part (from 0) of
// Parts of an encoded EngineExport.
type StandbySyncPart struct {
	ID    string `json:"id"`
	Part  int    `json:"part"`
	Parts int    `json:"parts"`
	Data  []byte `json:"data"`
}

// standbyRefusal refuses a command of an engine family on a standby.
func (f *fsm) standbyRefusal() error {
	if sb := f.st.Standby; sb != nil && sb.Active {
		return &Refusal{Msg: standbyMsg(sb.Of)}
	}
	return nil
}

func standbyMsg(of string) string {
	return fmt.Sprintf("this cluster is a standby of %s; promote it first (tandemctl standby promote)", of)
}

// applyStandbyOne applies a cluster.standby_* command. It returns the
// whole outcome itself because a shipment yields the events of the
// commands it carries, each stamped with its own time and ID.
func (f *fsm) applyStandbyOne(index uint64, env command.Envelope) applied {
	em := command.NewEmitter(index, env)
	var (
		res   any
		inner []command.Event
		err   error
	)
	switch env.Type {
	case TypeStandbySet:
		res, err = f.standbySet(env, em)
	case TypeStandbyApply:
		res, inner, err = f.standbyApply(index, env, em)
	case TypeStandbySync:
		res, err = f.standbySync(env, em)
	case TypeStandbyPromote:
		res, err = f.standbyPromote(env, em)
	default:
		err = fmt.Errorf("unknown cluster command %q", env.Type)
	}
	if err != nil {
		return applied{applyResponse: applyResponse{res: Result{Index: index}, err: refusal(err)}}
	}
	f.remember(env.ID, index, nil)
	events := inner
	for _, ev := range em.Events() {
		ev.Seq = len(events)
		events = append(events, ev)
	}
	r := Result{Index: index}
	if res != nil {
		b, mErr := json.Marshal(res)
		if mErr != nil {
			return applied{applyResponse: applyResponse{res: r, err: fmt.Errorf("encoding result of %s: %w", env.Type, mErr)}, events: events}
		}
		r.Result = b
	}
	return applied{applyResponse: applyResponse{res: r}, events: events}
}

func (f *fsm) standbySet(env command.Envelope, em *command.Emitter) (any, error) {
	var p StandbySet
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
	}
	if p.Of == "" {
		return nil, fmt.Errorf("%s: missing primary address", env.Type)
	}
	sb := f.st.Standby
	switch {
	case sb != nil && sb.Promoted != 0:
		return nil, fmt.Errorf("this cluster was promoted at %s and is no longer a standby; a new standby needs an empty data directory",
			time.Unix(0, sb.Promoted).UTC().Format(time.RFC3339))
	case sb != nil:
		if sb.Of != p.Of {
			sb.Of = p.Of
			em.Emit("cluster.standby.updated", map[string]string{"of": p.Of})
		}
		return nil, nil
	case f.st.UserCommands > 0:
		return nil, fmt.Errorf("this cluster holds %d commands of its own and was never a standby; a standby starts from an empty data directory",
			f.st.UserCommands)
	}
	f.st.Standby = &StandbyState{Of: p.Of, Active: true, Since: env.Time}
	em.Emit("cluster.standby.set", map[string]string{"of": p.Of})
	return nil, nil
}

func (f *fsm) activeStandby() (*StandbyState, error) {
	sb := f.st.Standby
	switch {
	case sb == nil:
		return nil, &Refusal{Msg: "this cluster is not a standby (start it with --standby-of)"}
	case !sb.Active:
		return nil, &Refusal{Msg: fmt.Sprintf("this cluster was promoted at %s and no longer accepts shipped commands",
			time.Unix(0, sb.Promoted).UTC().Format(time.RFC3339))}
	}
	return sb, nil
}

// standbyApply applies shipped commands in order. Commands at or before
// the standby's position were applied before and are skipped, so a
// shipment delivered twice stores once. A command whose number does not
// follow the last one (the primary's buffer lost some) or that this engine
// refuses stops the batch: what came before it stays applied, the standby
// records why it needs a sync, and the result says so.
func (f *fsm) standbyApply(index uint64, env command.Envelope, em *command.Emitter) (any, []command.Event, error) {
	sb, err := f.activeStandby()
	if err != nil {
		return nil, nil, err
	}
	var b StandbyBatch
	if err := json.Unmarshal(env.Payload, &b); err != nil {
		return nil, nil, fmt.Errorf("decoding %s: %w", env.Type, err)
	}
	for i := 1; i < len(b.Commands); i++ {
		if !b.Commands[i].Pos.After(b.Commands[i-1].Pos) {
			return nil, nil, fmt.Errorf("%s: commands out of order at %d", env.Type, i)
		}
	}
	if n := len(b.Commands); n > 0 && b.Commands[n-1].Pos.After(b.Through) {
		return nil, nil, fmt.Errorf("%s: through %v is before the last command", env.Type, b.Through)
	}
	res := StandbyResult{}
	var events []command.Event
	stop := ""
	for _, c := range b.Commands {
		if !c.Pos.After(sb.Position) {
			res.Skipped++
			continue
		}
		if c.N != sb.N+1 {
			stop = fmt.Sprintf("the primary's command %d (at %d.%d) follows command %d applied here: commands %d to %d are missing",
				c.N, c.Pos.Index, c.Pos.Seq, sb.N, sb.N+1, c.N-1)
			if c.N <= sb.N {
				stop = fmt.Sprintf("the primary's command %d (at %d.%d) is numbered at or before command %d applied here: the primary's history differs",
					c.N, c.Pos.Index, c.Pos.Seq, sb.N)
			}
			break
		}
		inner, err := command.Decode(c.Env)
		if err != nil {
			stop = fmt.Sprintf("the primary's command %d cannot be read by this build: %v", c.N, err)
			break
		}
		m, ok := f.machines[inner.Family()]
		if !ok || inner.Family() == Family {
			stop = fmt.Sprintf("the primary's command %d (%s) has no machine here", c.N, inner.Type)
			break
		}
		iem := command.NewEmitter(index, inner)
		if _, err := m.Apply(inner, iem); err != nil {
			stop = fmt.Sprintf("the primary's command %d (%s) was refused here: %v", c.N, inner.Type, err)
			break
		}
		for _, ev := range iem.Events() {
			ev.Seq = len(events)
			events = append(events, ev)
		}
		f.st.UserCommands++
		f.remember(inner.ID, index, nil)
		sb.Position, sb.N, sb.LastCommandTime = c.Pos, c.N, inner.Time
		sb.Applied++
		res.Applied++
	}
	sb.LastBatchTime = env.Time
	if stop == "" && b.Through.After(sb.Position) {
		sb.Position = b.Through
	}
	if stop == "" && res.Applied > 0 && sb.NeedsSync != "" {
		sb.NeedsSync = "" // the missing commands arrived after all
	}
	if stop != "" && sb.NeedsSync != stop {
		sb.NeedsSync = stop
		em.Emit("cluster.standby.needs_sync", map[string]string{"reason": stop})
	}
	if res.Applied > 0 {
		em.Emit("cluster.standby.applied", map[string]any{"applied": res.Applied, "position": sb.Position, "n": sb.N})
	}
	res.Position, res.N, res.NeedsSync, res.Fresh = sb.Position, sb.N, stop, sb.Fresh()
	return res, events, nil
}

// standbySync collects the parts of an engine state; the last part
// replaces the machines' state, unless the standby already is at or past
// the state's position.
func (f *fsm) standbySync(env command.Envelope, em *command.Emitter) (any, error) {
	sb, err := f.activeStandby()
	if err != nil {
		return nil, err
	}
	var p StandbySyncPart
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
	}
	if p.ID == "" || p.Parts < 1 || p.Part < 0 || p.Part >= p.Parts {
		return nil, fmt.Errorf("%s: bad part %d of %d", env.Type, p.Part, p.Parts)
	}
	if p.Part == 0 {
		sb.SyncID, sb.SyncParts, sb.SyncData = p.ID, p.Parts, nil
	} else if p.ID != sb.SyncID || p.Parts != sb.SyncParts || p.Part != len(sb.SyncData) {
		return nil, fmt.Errorf("%s: part %d of sync %s does not follow the parts received", env.Type, p.Part, p.ID)
	}
	sb.SyncData = append(sb.SyncData, p.Data)
	if len(sb.SyncData) < p.Parts {
		return StandbyResult{Position: sb.Position, N: sb.N, Message: fmt.Sprintf("part %d of %d", p.Part+1, p.Parts)}, nil
	}
	var doc []byte
	for _, d := range sb.SyncData {
		doc = append(doc, d...)
	}
	sb.SyncID, sb.SyncParts, sb.SyncData = "", 0, nil
	var ex EngineExport
	if err := json.Unmarshal(doc, &ex); err != nil {
		return nil, fmt.Errorf("%s: decoding the engine state: %w", env.Type, err)
	}
	if !ex.Position.After(sb.Position) && sb.NeedsSync == "" {
		return StandbyResult{Position: sb.Position, N: sb.N,
			Message: fmt.Sprintf("standby already at %d.%d, not behind the state sent (%d.%d); nothing restored",
				sb.Position.Index, sb.Position.Seq, ex.Position.Index, ex.Position.Seq)}, nil
	}
	for _, m := range f.ordered {
		b, ok := ex.Machines[machineKey(m)]
		if !ok {
			continue
		}
		f.synced = true // even a failed restore may have replaced some state
		if err := m.Restore(b); err != nil {
			// The machines may be partly replaced; every member is alike.
			sb.NeedsSync = fmt.Sprintf("restoring the primary's engine state failed: %v", err)
			em.Emit("cluster.standby.needs_sync", map[string]string{"reason": sb.NeedsSync})
			return StandbyResult{Position: sb.Position, N: sb.N, NeedsSync: sb.NeedsSync}, nil
		}
	}
	f.synced = true
	sb.Position, sb.N, sb.NeedsSync = ex.Position, ex.N, ""
	sb.Syncs++
	sb.LastSync, sb.LastBatchTime = env.Time, env.Time
	em.Emit("cluster.standby.synced", map[string]any{"position": ex.Position, "n": ex.N})
	return StandbyResult{Position: sb.Position, N: sb.N, Synced: true,
		Message: fmt.Sprintf("engine state of the primary at %d.%d restored", ex.Position.Index, ex.Position.Seq)}, nil
}

func (f *fsm) standbyPromote(env command.Envelope, em *command.Emitter) (any, error) {
	sb := f.st.Standby
	switch {
	case sb == nil:
		return nil, errors.New("this cluster is not a standby; there is nothing to promote")
	case !sb.Active:
		return StandbyResult{Position: sb.Position, N: sb.N, Message: "already promoted"}, nil
	}
	sb.Active, sb.Promoted = false, env.Time
	sb.SyncID, sb.SyncParts, sb.SyncData = "", 0, nil
	em.Emit("cluster.standby.promoted", map[string]any{"of": sb.Of, "position": sb.Position, "n": sb.N})
	return StandbyResult{Position: sb.Position, N: sb.N,
		Message: fmt.Sprintf("promoted: this cluster accepts writes; it was a standby of %s up to the primary's index %d", sb.Of, sb.Position.Index)}, nil
}

// standby returns a copy of the replicated standby state, if any.
func (f *fsm) standby() (StandbyState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.Standby == nil {
		return StandbyState{}, false
	}
	sb := *f.st.Standby
	sb.SyncData = nil
	return sb, true
}

// Standby returns this cluster's standby state; ok is false when the
// cluster never was a standby.
func (s *Store) Standby() (st StandbyState, ok bool) { return s.fsm.standby() }

// standbyGuard refuses, at the edge, a command of an engine family while
// this cluster is a standby — or is about to become one: a node started
// with --standby-of refuses writes until the mode is replicated or the
// cluster was promoted. The FSM checks again when it applies.
func (s *Store) standbyGuard(env command.Envelope) error {
	if env.Family() == Family {
		return nil
	}
	sb, ok := s.fsm.standby()
	switch {
	case ok && sb.Active:
		return &Refusal{Msg: standbyMsg(sb.Of)}
	case ok && sb.Promoted != 0:
		return nil
	case s.cfg.StandbyOf != "":
		return &Refusal{Msg: standbyMsg(s.cfg.StandbyOf)}
	}
	return nil
}

// standbyLoop replicates the standby mode asked for by --standby-of, once
// the cluster has a leader. A promoted cluster stays promoted: the flag is
// then ignored.
func (s *Store) standbyLoop(ctx context.Context) {
	warned := false
	for {
		sb, ok := s.fsm.standby()
		switch {
		case ok && sb.Promoted != 0:
			s.log.Warn("--standby-of ignored: this cluster was promoted", "promoted", time.Unix(0, sb.Promoted).UTC())
			return
		case ok && sb.Of == s.cfg.StandbyOf:
			return
		}
		if s.isMember() && s.LeaderID() != "" && s.Ready() {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := s.Propose(pctx, TypeStandbySet, StandbySet{Of: s.cfg.StandbyOf})
			cancel()
			var ref *Refusal
			switch {
			case err == nil:
				s.log.Info("this cluster is a standby", "of", s.cfg.StandbyOf)
				return
			case errors.As(err, &ref):
				if !warned {
					s.log.Error("--standby-of refused", "err", ref.Msg)
					warned = true
				}
			default:
				s.log.Debug("recording standby mode", "err", err)
			}
		}
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			return
		}
	}
}

// ExportEngine returns the engine's whole state, the position of the
// event stream it corresponds to and the count of engine commands applied,
// read while no command applies. A standby sync ships it.
func (s *Store) ExportEngine() (EngineExport, error) {
	f := s.fsm
	f.mu.Lock()
	defer f.mu.Unlock()
	ex := EngineExport{Position: command.EndOf(f.applied.Load()), // covers every event of that index

		N: f.st.UserCommands, Machines: map[string]json.RawMessage{}}
	for _, m := range f.ordered {
		b, err := m.Snapshot()
		if err != nil {
			return EngineExport{}, fmt.Errorf("exporting %v: %w", m.Families(), err)
		}
		ex.Machines[machineKey(m)] = b
	}
	return ex, nil
}

// standbyBatchBytes bounds the shipped envelopes of one
// cluster.standby_apply command, well below command.MaxPayload even when
// forwarding to the leader escapes characters.
const standbyBatchBytes = 1 << 20

// StandbyApply commits shipped primary commands on this standby cluster,
// in as many cluster.standby_apply commands as their size needs, and
// returns where the standby stands afterwards. It stops at the first
// command that needs a sync.
func (s *Store) StandbyApply(ctx context.Context, b StandbyBatch) (StandbyResult, error) {
	sb, ok := s.fsm.standby()
	if !ok || !sb.Active {
		return StandbyResult{}, s.notStandby(sb, ok)
	}
	var total StandbyResult
	cmds := b.Commands
	for {
		n, size := 0, 0
		for n < len(cmds) && (n == 0 || size+len(cmds[n].Env) <= standbyBatchBytes) {
			size += len(cmds[n].Env)
			n++
		}
		part := StandbyBatch{Commands: cmds[:n], Through: b.Through}
		if n < len(cmds) {
			part.Through = cmds[n-1].Pos
		}
		res, err := s.proposeStandby(ctx, TypeStandbyApply, part)
		if err != nil {
			return total, err
		}
		res.Applied += total.Applied
		res.Skipped += total.Skipped
		total = res
		cmds = cmds[n:]
		if len(cmds) == 0 || res.NeedsSync != "" {
			return total, nil
		}
	}
}

// standbySyncPartBytes is the engine state carried by one
// cluster.standby_sync command (base64 in JSON: a third more).
const standbySyncPartBytes = 2 << 20

// StandbySync replaces this standby's engine state with a primary's
// export (the encoded EngineExport), in parts of a few MiB each committed
// through Raft. progress, when set, is told how many bytes are committed.
func (s *Store) StandbySync(ctx context.Context, doc []byte, progress func(done, total int64)) (StandbyResult, error) {
	sb, ok := s.fsm.standby()
	if !ok || !sb.Active {
		return StandbyResult{}, s.notStandby(sb, ok)
	}
	var ex EngineExport
	if err := json.Unmarshal(doc, &ex); err != nil {
		return StandbyResult{}, &Refusal{Msg: "decoding the engine state: " + err.Error()}
	}
	id := NewID()
	parts := (len(doc) + standbySyncPartBytes - 1) / standbySyncPartBytes
	var res StandbyResult
	for i := 0; i < parts; i++ {
		end := min((i+1)*standbySyncPartBytes, len(doc))
		var err error
		res, err = s.proposeStandby(ctx, TypeStandbySync, StandbySyncPart{ID: id, Part: i, Parts: parts, Data: doc[i*standbySyncPartBytes : end]})
		if err != nil {
			return res, fmt.Errorf("committing part %d of %d of the engine state: %w", i+1, parts, err)
		}
		if progress != nil {
			progress(int64(end), int64(len(doc)))
		}
	}
	return res, nil
}

// PromoteStandby ends standby mode: the cluster accepts writes from then on
// and refuses shipped commands.
func (s *Store) PromoteStandby(ctx context.Context) (StandbyResult, error) {
	return s.proposeStandby(ctx, TypeStandbyPromote, nil)
}

func (s *Store) notStandby(sb StandbyState, ok bool) error {
	if !ok {
		if s.cfg.StandbyOf != "" {
			return &Refusal{Msg: "this node was started with --standby-of but the cluster has not recorded standby mode yet; retry shortly"}
		}
		return &Refusal{Msg: "this cluster is not a standby (start it with --standby-of)"}
	}
	return &Refusal{Msg: fmt.Sprintf("this cluster was promoted at %s and no longer accepts shipped commands",
		time.Unix(0, sb.Promoted).UTC().Format(time.RFC3339))}
}

func (s *Store) proposeStandby(ctx context.Context, typ string, payload any) (StandbyResult, error) {
	r, err := s.Propose(ctx, typ, payload)
	if err != nil {
		return StandbyResult{}, err
	}
	var res StandbyResult
	if len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, &res); err != nil {
			return StandbyResult{}, fmt.Errorf("decoding result of %s: %w", typ, err)
		}
	}
	return res, nil
}

// RefusesWrites reports whether this node refuses engine commands of its
// own edges: its cluster is an active standby, or the node was started
// with --standby-of and the mode is not replicated yet.
func (s *Store) RefusesWrites() bool {
	return s.standbyGuard(command.Envelope{Type: "engine.write"}) != nil
}
