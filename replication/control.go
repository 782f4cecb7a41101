package replication

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tandemcc/tandem/command"
)

// The replication states are cluster state: Control is the deterministic
// machine, registered with the cluster's FSM on every node (as a control
// machine: never gated by a standby, never shipped, not counted as an
// engine command), that holds each target's state. An administration
// command sent to any node, and an auto-stop decided by the delivering
// leader, is a committed command of the "replication" family; every node
// applies it alike, so `replication status` shows the same states on every
// node and a suspended target stays suspended on a new leader. What is
// truly per node — the buffer and its cursors, the archive, disk space —
// stays in Manager; each node's Manager carries out the buffer side of a
// committed change when its event reaches it (Publish, control events).

// Family is the command family of the replication states.
const Family = "replication"

// Command types of the replication states.
const (
	TypeSuspend  = "replication.suspend"   // payload TargetCommand
	TypeResume   = "replication.resume"    // payload TargetCommand (Rate)
	TypeStop     = "replication.stop"      // payload TargetCommand
	TypeShutdown = "replication.shutdown"  // payload TargetsCommand
	TypeRestart  = "replication.restart"   // payload TargetsCommand (Missing)
	TypeAutoStop = "replication.auto_stop" // payload TargetCommand (Reason, Held95, Missing)
	TypeSynced   = "replication.synced"    // payload TargetCommand (Missing: what the sync covered; All)
	TypeAdopt    = "replication.adopt"     // payload AdoptCommand
)

// Events of the replication states. Every state change emits
// EventState; a restart also EventRestarted, at which position each
// node clears its buffer.
const (
	EventState     = "replication.target.state"
	EventRestarted = "replication.restarted"
)

// Range is a span of the event stream a target missed: the events after
// After up to UpTo.
type Range struct {
	After command.Position `json:"after"`
	UpTo  command.Position `json:"up_to"`
}

// TargetCommand is the payload of the commands on one target.
type TargetCommand struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	Rate   int    `json:"rate,omitempty"`
	Held95 bool   `json:"held_95,omitempty"`
	// Missing is, for an auto-stop, what the target will miss (from its
	// cursor on the deciding node to the buffer's end); for synced, what
	// the sync covered.
	Missing *Range `json:"missing,omitempty"`
	// All: synced of an administration sync, which covers everything.
	All bool `json:"all,omitempty"`
}

// TargetsCommand is the payload of shutdown and restart: the targets the
// proposing node has configured (the states of targets only other nodes
// configure are changed too), and for a restart what each target had not
// received when the buffer was cleared.
type TargetsCommand struct {
	Targets []string         `json:"targets"`
	Missing map[string]Range `json:"missing,omitempty"`
}

// AdoptCommand carries states a node kept in its own state file before
// the states were cluster state; a target the cluster already has a state
// for keeps it.
type AdoptCommand struct {
	Targets map[string]targetState `json:"targets"`
}

// ControlResult is a state command's result.
type ControlResult struct {
	States  map[string]State `json:"states"`
	Message string           `json:"message"`
}

// Control is the replicated machine of the replication states. It is safe
// for concurrent use: apply runs under its lock, readers copy.
type Control struct {
	mu sync.RWMutex
	st map[string]targetState
}

// NewControl returns an empty machine: every target is active until a
// command says otherwise.
func NewControl() *Control { return &Control{st: map[string]targetState{}} }

// Families implements cluster.Machine.
func (c *Control) Families() []string { return []string{Family} }

// State returns target's state (Active when none was ever recorded) and
// whether one was recorded.
func (c *Control) State(target string) (targetState, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ts, ok := c.st[target]
	if !ok {
		ts.State = Active
	}
	return ts, ok
}

// States copies every recorded state.
func (c *Control) States() map[string]targetState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]targetState, len(c.st))
	for n, ts := range c.st {
		out[n] = ts
	}
	return out
}

// Section implements cluster.Machine: the states are the snapshot
// section "replication", new in snapshot format 2 (an older snapshot
// restores every target active).
func (c *Control) Section() (name string, version, since int) { return Family, 1, 2 }

// Snapshot implements cluster.Machine.
func (c *Control) Snapshot() ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return json.Marshal(stateFile{Targets: c.st})
}

// Restore implements cluster.Machine; nil is the empty state.
func (c *Control) Restore(b []byte) error {
	var sf stateFile
	if b != nil {
		if err := json.Unmarshal(b, &sf); err != nil {
			return fmt.Errorf("decoding replication states: %w", err)
		}
	}
	if sf.Targets == nil {
		sf.Targets = map[string]targetState{}
	}
	c.mu.Lock()
	c.st = sf.Targets
	c.mu.Unlock()
	return nil
}

// CheckTarget is the edge's and apply's check of a target name.
func CheckTarget(name string) error {
	if name != Reporting && name != Standby {
		return refuse("unknown replication target %q: want reporting or standby", name)
	}
	return nil
}

// Apply implements cluster.Machine. It reads only the envelope and its
// own state; a refusal changes nothing.
func (c *Control) Apply(env command.Envelope, em *command.Emitter) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Unix(0, env.Time).UTC()
	switch env.Type {
	case TypeSuspend, TypeResume, TypeStop, TypeAutoStop, TypeSynced:
		var p TargetCommand
		if err := decodeStrict(env.Payload, &p); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
		}
		if err := CheckTarget(p.Target); err != nil {
			return nil, err
		}
		msg, err := c.applyTarget(env.Type, p, now, em)
		if err != nil {
			return nil, err
		}
		return c.result(msg, p.Target), nil
	case TypeShutdown, TypeRestart:
		var p TargetsCommand
		if err := decodeStrict(env.Payload, &p); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
		}
		for _, t := range p.Targets {
			if err := CheckTarget(t); err != nil {
				return nil, err
			}
		}
		names := c.namesWith(p.Targets)
		if env.Type == TypeShutdown {
			return c.result(c.shutdown(names, now, em), ""), nil
		}
		msg, err := c.restart(names, p.Missing, now, em)
		if err != nil {
			return nil, err
		}
		return c.result(msg, ""), nil
	case TypeAdopt:
		var p AdoptCommand
		if err := decodeStrict(env.Payload, &p); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
		}
		for _, n := range sortedNames(p.Targets) {
			if err := CheckTarget(n); err != nil {
				return nil, err
			}
			if _, ok := c.st[n]; !ok {
				c.set(n, p.Targets[n], em)
			}
		}
		return c.result("states adopted", ""), nil
	}
	return nil, fmt.Errorf("unknown replication command %q", env.Type)
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// applyTarget applies a command on one target.
func (c *Control) applyTarget(typ string, p TargetCommand, now time.Time, em *command.Emitter) (string, error) {
	t := p.Target
	ts, _ := c.stateLocked(t)
	switch typ {
	case TypeSuspend:
		switch ts.State {
		case Suspended:
			return t + " replication was already suspended", nil
		case Active:
		default:
			return "", refuse("%s replication is %s; suspend applies to active replication", t, ts.State)
		}
		ts.State, ts.Reason, ts.Since = Suspended, orDefault(p.Reason, "suspended by administrator"), now
		c.set(t, ts, em)
		return t + " replication suspended; the buffer keeps its data", nil
	case TypeResume:
		if p.Rate < 0 {
			return "", refuse("--rate: must be zero (unlimited) or a positive number of events per second")
		}
		switch ts.State {
		case Active, Suspended:
		default:
			return "", refuse("%s replication is %s; a stopped replication needs `tandemctl replication shutdown` and `restart` (and possibly a sync)", t, ts.State)
		}
		ts.State, ts.Reason, ts.Since, ts.Rate = Active, "resumed by administrator", now, p.Rate
		c.set(t, ts, em)
		if p.Rate > 0 {
			return fmt.Sprintf("%s replication resumed at most %d events/s", t, p.Rate), nil
		}
		return t + " replication resumed", nil
	case TypeStop:
		switch ts.State {
		case Stopped, AutoStopped, Shutdown:
			return fmt.Sprintf("%s replication was already %s", t, ts.State), nil
		}
		ts.State, ts.Reason, ts.Since, ts.Rate = Stopped, "stopped by administrator", now, 0
		c.set(t, ts, em)
		return t + " replication stopped; restarting it needs shutdown + restart and may need a sync", nil
	case TypeAutoStop:
		switch ts.State {
		case AutoStopped, Stopped, Shutdown:
			return fmt.Sprintf("%s replication was already %s", t, ts.State), nil
		}
		if p.Missing != nil {
			ts.missing(p.Missing.After, p.Missing.UpTo)
		}
		ts.State, ts.Reason, ts.Since, ts.Rate = AutoStopped, p.Reason, now, 0
		ts.Held95 = ts.Held95 || p.Held95
		c.set(t, ts, em)
		return fmt.Sprintf("%s replication auto-stopped: %s", t, p.Reason), nil
	case TypeSynced:
		if !ts.NeedsSync {
			return t + " needed no sync", nil
		}
		covered := p.All
		if p.Missing != nil && ts.MissingUpTo != (command.Position{}) {
			covered = covered || (!p.Missing.After.After(ts.MissingAfter) && !ts.MissingUpTo.After(p.Missing.UpTo))
		}
		if !covered {
			return fmt.Sprintf("%s still needs a sync of the events after index %d up to %d", t, ts.MissingAfter.Index, ts.MissingUpTo.Index), nil
		}
		ts.NeedsSync, ts.MissingAfter, ts.MissingUpTo = false, command.Position{}, command.Position{}
		c.set(t, ts, em)
		return "the data the target missed is covered: needs_sync cleared", nil
	}
	return "", fmt.Errorf("unknown replication command %q", typ)
}

func (c *Control) shutdown(names []string, now time.Time, em *command.Emitter) string {
	for _, n := range names {
		ts, _ := c.stateLocked(n)
		if ts.State == Shutdown {
			continue
		}
		ts.State, ts.Reason, ts.Since, ts.Rate = Shutdown, "shut down by administrator", now, 0
		c.set(n, ts, em)
	}
	return "all replication shut down"
}

// restart makes every target active again; each node clears its buffer
// where EventRestarted stands in the stream. It refuses while any
// replication still runs, so that clearing the buffer never drops a
// running target's backlog by surprise.
func (c *Control) restart(names []string, missing map[string]Range, now time.Time, em *command.Emitter) (string, error) {
	var running []string
	for _, n := range names {
		if s, _ := c.stateLocked(n); s.State == Active || s.State == Suspended {
			running = append(running, n+" is "+string(s.State))
		}
	}
	if len(running) > 0 {
		return "", refuse("restart clears the replication buffer; %s — run `tandemctl replication shutdown` first", strings.Join(running, ", "))
	}
	var needSync []string
	for _, n := range names {
		ts, _ := c.stateLocked(n)
		if r, ok := missing[n]; ok {
			ts.missing(r.After, r.UpTo)
		}
		ts.State, ts.Reason, ts.Since, ts.Rate, ts.Held95 = Active, "restarted by administrator", now, 0, false
		c.set(n, ts, em)
		if ts.NeedsSync {
			needSync = append(needSync, n)
		}
	}
	em.Emit(EventRestarted, map[string][]string{"targets": names})
	msg := "all replication restarted; buffer cleared"
	if len(needSync) > 0 {
		msg += fmt.Sprintf("; %s missed data while stopped: run `tandemctl replication sync`", strings.Join(needSync, ", "))
	}
	return msg, nil
}

func (c *Control) stateLocked(t string) (targetState, bool) {
	ts, ok := c.st[t]
	if !ok {
		ts.State = Active
	}
	return ts, ok
}

// set records ts and emits the state event.
func (c *Control) set(t string, ts targetState, em *command.Emitter) {
	c.st[t] = ts
	em.Emit(EventState, stateEvent{Target: t, State: ts.State, Reason: ts.Reason, NeedsSync: ts.NeedsSync})
}

type stateEvent struct {
	Target    string `json:"target"`
	State     State  `json:"state"`
	Reason    string `json:"reason,omitempty"`
	NeedsSync bool   `json:"needs_sync,omitempty"`
}

// namesWith is the targets named plus every target with a recorded state,
// sorted.
func (c *Control) namesWith(targets []string) []string {
	seen := map[string]bool{}
	for _, t := range targets {
		seen[t] = true
	}
	for t := range c.st {
		seen[t] = true
	}
	return sortedNames(seen)
}

func (c *Control) result(msg, target string) ControlResult {
	r := ControlResult{States: map[string]State{}, Message: msg}
	for n, ts := range c.st {
		r.States[n] = ts.State
	}
	if _, ok := c.st[target]; target != "" && !ok {
		r.States[target] = Active
	}
	return r
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
