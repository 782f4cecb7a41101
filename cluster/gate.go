package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/tandemcc/tandem/command"
)

// Gate is a replicated part of the cluster layer that stands between this
// cluster's edges and its engine machines. It is how standby mode
// (package replication/standby) attaches to the FSM without the FSM
// knowing of it: the FSM asks the gate before every engine command, hands
// it the command types it claims, and keeps its state in snapshots.
//
// Every method but Admit runs inside apply (under the FSM's lock, in log
// order, on every member) and must be deterministic: no I/O, no clock, no
// randomness.
type Gate interface {
	// Types are the cluster-family command types the gate applies. They
	// keep the names older builds wrote to logs and snapshots.
	Types() []string
	// Refuse says why an engine command may not apply now (from the
	// gate's replicated state only); nil lets it apply.
	Refuse() error
	// Admit is asked at the edge, before an engine command is proposed
	// on this node: it may also use what only this node knows (its
	// flags). The FSM asks Refuse again when the command applies.
	Admit() error
	// Apply applies one of Types. It may apply engine commands committed
	// elsewhere, or replace the engine's state, through eng.
	Apply(env command.Envelope, eng Engine, em *command.Emitter) (any, error)
	// Snapshot encodes the gate's state; nil when it has none.
	Snapshot() (json.RawMessage, error)
	// Restore replaces the gate's state with a Snapshot's (nil or empty:
	// the state of a cluster that never used the gate).
	Restore(json.RawMessage) error
}

// Engine is what a Gate may do to the engine machines while it applies one
// of its commands.
type Engine interface {
	// Apply applies an engine command committed by another cluster: the
	// machine of its family applies it as if it had been committed here;
	// it counts as an engine command and its ID is remembered. It returns
	// the command's events.
	Apply(env command.Envelope) ([]command.Event, error)
	// Commands is the count of engine commands applied here.
	Commands() uint64
	// Restore replaces the machines' state with an export's
	// (EngineExport.Machines); a machine the export lacks keeps its own.
	Restore(machines map[string]json.RawMessage) error
}

// nested is the Engine a gate's command applies through.
type nested struct {
	f     *fsm
	index uint64
}

func (n nested) Apply(env command.Envelope) ([]command.Event, error) {
	m, ok := n.f.machines[env.Family()]
	if !ok || env.Family() == Family || n.f.control[env.Family()] {
		return nil, fmt.Errorf("command %s has no machine here", env.Type)
	}
	em := command.NewEmitter(n.index, env)
	if _, err := m.Apply(env, em); err != nil {
		return nil, err
	}
	n.f.st.UserCommands++
	n.f.remember(env.ID, n.index, nil)
	return em.Events(), nil
}

func (n nested) Commands() uint64 { return n.f.st.UserCommands }

func (n nested) Restore(machines map[string]json.RawMessage) error {
	for _, m := range n.f.ordered {
		b, ok := machines[machineKey(m)]
		if !ok {
			continue
		}
		n.f.synced = true // even a failed restore may have replaced some state
		if err := m.Restore(b); err != nil {
			return fmt.Errorf("restoring %v: %w", m.Families(), err)
		}
	}
	n.f.synced = true
	return nil
}

// applyGated applies one of the gate's own command types. It assembles the
// outcome itself because the command may carry others: their events come
// first, each stamped with its own command's time and ID, renumbered in
// one sequence with the gate's own.
func (f *fsm) applyGated(index uint64, env command.Envelope) applied {
	em := command.NewEmitter(index, env)
	eng := &recording{nested: nested{f: f, index: index}}
	res, err := f.gate.Apply(env, eng, em)
	if err != nil {
		return applied{applyResponse: applyResponse{res: Result{Index: index}, err: refusal(err)}, events: eng.renumbered(nil)}
	}
	f.remember(env.ID, index, nil)
	events := eng.renumbered(em.Events())
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

// recording is the nested Engine that keeps the events of the commands
// applied through it.
type recording struct {
	nested
	events []command.Event
}

func (r *recording) Apply(env command.Envelope) ([]command.Event, error) {
	evs, err := r.nested.Apply(env)
	r.events = append(r.events, evs...)
	return evs, err
}

// renumbered is the nested commands' events followed by own, numbered
// 0.. in that order.
func (r *recording) renumbered(own []command.Event) []command.Event {
	out := append(r.events, own...)
	for i := range out {
		out[i].Seq = i
	}
	return out
}
