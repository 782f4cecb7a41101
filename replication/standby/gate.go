package standby

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// The standby's side inside apply: Receiver is the cluster.Gate of every
// node. A standby cluster is a read-only replica of another (primary)
// cluster's engine at another site. Its replicated State says so: while
// it is active, the FSM refuses every engine command of this cluster's own
// edges (Refuse), and the engine changes only by the primary's commands
// shipped inside TypeApply (and whole engine states inside TypeSync).
// Promotion clears the mode for good: the cluster then accepts writes and
// refuses shipments.
//
// Everything in this file runs inside apply, so it is deterministic: each
// member of the standby cluster reaches the same state.

// Command types of the standby mode. They keep the names of the cluster
// family that older builds wrote to their logs; the gate, not the engine,
// applies them, and the standby refusal does not apply to them.
const (
	// TypeSet makes the cluster a standby (payload Set).
	TypeSet = "cluster.standby_set"
	// TypeApply applies shipped primary commands (payload Batch).
	TypeApply = "cluster.standby_apply"
	// TypeSync carries one part of a primary engine state (payload
	// SyncPart); the last part replaces the engine's state.
	TypeSync = "cluster.standby_sync"
	// TypePromote ends standby mode (no payload).
	TypePromote = "cluster.standby_promote"
)

// State is the replicated standby mode of a cluster. Position and N say
// how far the primary's stream has been applied: Position is the
// primary's (raft index, seq) of the last shipped record (or of the end of
// the last batch, or of the last engine state synced), N the primary's
// count of applied engine commands up to there. Shipped commands are
// numbered by that count, so a missing one is noticed exactly.
type State struct {
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
func (s State) Fresh() bool {
	return s.Active && s.N == 0 && s.Applied == 0 && s.Syncs == 0 && s.Position == (command.Position{})
}

// Set is the payload of TypeSet.
type Set struct {
	Of string `json:"of"`
}

// Shipped is one primary command in a shipment.
type Shipped struct {
	Pos command.Position `json:"pos"` // its record's position in the primary's stream
	N   uint64           `json:"n"`   // the primary's count of engine commands, this one included
	Env json.RawMessage  `json:"env"` // the encoded envelope, as committed on the primary
}

// Batch is the payload of TypeApply and the body of POST
// /v1/standby/apply: shipped commands in stream order, and the primary
// position the batch reaches (the last record the primary read, shipped
// or not).
type Batch struct {
	Commands []Shipped        `json:"commands"`
	Through  command.Position `json:"through"`
}

// Result is what a shipment or a sync achieved.
type Result struct {
	Position  command.Position `json:"position"`
	N         uint64           `json:"n"`
	Applied   int              `json:"applied"`
	Skipped   int              `json:"skipped,omitempty"` // already applied before
	NeedsSync string           `json:"needs_sync,omitempty"`
	Fresh     bool             `json:"fresh,omitempty"`
	Synced    bool             `json:"synced,omitempty"`
	Message   string           `json:"message,omitempty"`
}

// SyncPart is the payload of TypeSync: part Part (from 0) of Parts of an
// encoded cluster.EngineExport.
type SyncPart struct {
	ID    string `json:"id"`
	Part  int    `json:"part"`
	Parts int    `json:"parts"`
	Data  []byte `json:"data"`
}

// Types implements cluster.Gate.
func (r *Receiver) Types() []string { return []string{TypeSet, TypeApply, TypeSync, TypePromote} }

// Refuse implements cluster.Gate: an active standby refuses engine
// commands of its own edges.
func (r *Receiver) Refuse() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st != nil && r.st.Active {
		return refusal(r.st.Of)
	}
	return nil
}

func refusal(of string) error {
	return &cluster.Refusal{Msg: fmt.Sprintf("this cluster is a standby of %s; promote it first (tandemctl standby promote)", of)}
}

// Snapshot implements cluster.Gate.
func (r *Receiver) Snapshot() (json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return nil, nil
	}
	b, err := json.Marshal(r.st)
	if err != nil {
		return nil, fmt.Errorf("encoding standby state: %w", err)
	}
	return b, nil
}

// Restore implements cluster.Gate.
func (r *Receiver) Restore(b json.RawMessage) error {
	var st *State
	if len(b) > 0 && string(b) != "null" {
		st = new(State)
		if err := json.Unmarshal(b, st); err != nil {
			return fmt.Errorf("decoding standby state: %w", err)
		}
	}
	r.mu.Lock()
	r.st = st
	r.mu.Unlock()
	return nil
}

// Apply implements cluster.Gate. A returned error refuses the command; it
// is only returned before anything changed.
func (r *Receiver) Apply(env command.Envelope, eng cluster.Engine, em *command.Emitter) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch env.Type {
	case TypeSet:
		return r.set(env, eng, em)
	case TypeApply:
		return r.applyBatch(env, eng, em)
	case TypeSync:
		return r.sync(env, eng, em)
	case TypePromote:
		return r.promote(env, em)
	}
	return nil, fmt.Errorf("unknown standby command %q", env.Type)
}

func (r *Receiver) set(env command.Envelope, eng cluster.Engine, em *command.Emitter) (any, error) {
	var p Set
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
	}
	if p.Of == "" {
		return nil, fmt.Errorf("%s: missing primary address", env.Type)
	}
	sb := r.st
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
	case eng.Commands() > 0:
		return nil, fmt.Errorf("this cluster holds %d commands of its own and was never a standby; a standby starts from an empty data directory",
			eng.Commands())
	}
	r.st = &State{Of: p.Of, Active: true, Since: env.Time}
	em.Emit("cluster.standby.set", map[string]string{"of": p.Of})
	return nil, nil
}

func (r *Receiver) active() (*State, error) {
	sb := r.st
	switch {
	case sb == nil:
		return nil, &cluster.Refusal{Msg: "this cluster is not a standby (start it with --standby-of)"}
	case !sb.Active:
		return nil, promotedRefusal(sb.Promoted)
	}
	return sb, nil
}

func promotedRefusal(at int64) error {
	return &cluster.Refusal{Msg: fmt.Sprintf("this cluster was promoted at %s and no longer accepts shipped commands",
		time.Unix(0, at).UTC().Format(time.RFC3339))}
}

// applyBatch applies shipped commands in order. Commands at or before the
// standby's position were applied before and are skipped, so a shipment
// delivered twice stores once. A command whose number does not follow the
// last one (the primary's buffer lost some) or that this engine refuses
// stops the batch: what came before it stays applied, the standby records
// why it needs a sync, and the result says so.
func (r *Receiver) applyBatch(env command.Envelope, eng cluster.Engine, em *command.Emitter) (any, error) {
	sb, err := r.active()
	if err != nil {
		return nil, err
	}
	var b Batch
	if err := json.Unmarshal(env.Payload, &b); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", env.Type, err)
	}
	res := Result{}
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
		if _, err := eng.Apply(inner); err != nil {
			stop = fmt.Sprintf("the primary's command %d (%s) was refused here: %v", c.N, inner.Type, err)
			break
		}
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
	return res, nil
}

// check validates a shipment's shape: commands in stream order, none
// after the position the batch says it reaches.
func (b Batch) check() error {
	for i := 1; i < len(b.Commands); i++ {
		if !b.Commands[i].Pos.After(b.Commands[i-1].Pos) {
			return fmt.Errorf("commands out of order at %d", i)
		}
	}
	if n := len(b.Commands); n > 0 && b.Commands[n-1].Pos.After(b.Through) {
		return fmt.Errorf("through %v is before the last command", b.Through)
	}
	return nil
}

// sync collects the parts of an engine state; the last part replaces the
// engine's state, unless the standby already is at or past the state's
// position.
func (r *Receiver) sync(env command.Envelope, eng cluster.Engine, em *command.Emitter) (any, error) {
	sb, err := r.active()
	if err != nil {
		return nil, err
	}
	var p SyncPart
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
	}
	if p.ID == "" || p.Parts < 1 || p.Part < 0 || p.Part >= p.Parts {
		return nil, fmt.Errorf("%s: bad part %d of %d", env.Type, p.Part, p.Parts)
	}
	if p.Part != 0 && (p.ID != sb.SyncID || p.Parts != sb.SyncParts || p.Part != len(sb.SyncData)) {
		return nil, fmt.Errorf("%s: part %d of sync %s does not follow the parts received", env.Type, p.Part, p.ID)
	}
	if p.Part == 0 {
		sb.SyncID, sb.SyncParts, sb.SyncData = p.ID, p.Parts, nil
	}
	sb.SyncData = append(sb.SyncData, p.Data)
	if len(sb.SyncData) < p.Parts {
		return Result{Position: sb.Position, N: sb.N, Message: fmt.Sprintf("part %d of %d", p.Part+1, p.Parts)}, nil
	}
	var doc []byte
	for _, d := range sb.SyncData {
		doc = append(doc, d...)
	}
	sb.SyncID, sb.SyncParts, sb.SyncData = "", 0, nil
	var ex cluster.EngineExport
	if err := json.Unmarshal(doc, &ex); err != nil {
		return nil, fmt.Errorf("%s: decoding the engine state: %w", env.Type, err)
	}
	if !ex.Position.After(sb.Position) && sb.NeedsSync == "" {
		return Result{Position: sb.Position, N: sb.N,
			Message: fmt.Sprintf("standby already at %d.%d, not behind the state sent (%d.%d); nothing restored",
				sb.Position.Index, sb.Position.Seq, ex.Position.Index, ex.Position.Seq)}, nil
	}
	if err := eng.Restore(ex.Machines); err != nil {
		// The machines may be partly replaced; every member is alike.
		sb.NeedsSync = fmt.Sprintf("restoring the primary's engine state failed: %v", err)
		em.Emit("cluster.standby.needs_sync", map[string]string{"reason": sb.NeedsSync})
		return Result{Position: sb.Position, N: sb.N, NeedsSync: sb.NeedsSync}, nil
	}
	sb.Position, sb.N, sb.NeedsSync = ex.Position, ex.N, ""
	sb.Syncs++
	sb.LastSync, sb.LastBatchTime = env.Time, env.Time
	em.Emit("cluster.standby.synced", map[string]any{"position": ex.Position, "n": ex.N})
	return Result{Position: sb.Position, N: sb.N, Synced: true,
		Message: fmt.Sprintf("engine state of the primary at %d.%d restored", ex.Position.Index, ex.Position.Seq)}, nil
}

func (r *Receiver) promote(env command.Envelope, em *command.Emitter) (any, error) {
	sb := r.st
	switch {
	case sb == nil:
		return nil, errors.New("this cluster is not a standby; there is nothing to promote")
	case !sb.Active:
		return Result{Position: sb.Position, N: sb.N, Message: "already promoted"}, nil
	}
	sb.Active, sb.Promoted = false, env.Time
	sb.SyncID, sb.SyncParts, sb.SyncData = "", 0, nil
	em.Emit("cluster.standby.promoted", map[string]any{"of": sb.Of, "position": sb.Position, "n": sb.N})
	return Result{Position: sb.Position, N: sb.N,
		Message: fmt.Sprintf("promoted: this cluster accepts writes; it was a standby of %s up to the primary's index %d", sb.Of, sb.Position.Index)}, nil
}
