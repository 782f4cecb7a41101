package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tandemcc/tandem/command"
)

// State is a replication type's state on this node (interfaces.md).
type State string

// Target states.
const (
	Active      State = "active"       // delivering (on the leader) or tracking (on a follower)
	Suspended   State = "suspended"    // delivery paused; the buffer keeps filling
	Stopped     State = "stopped"      // stopped by hand; holds no buffer space
	Shutdown    State = "shutdown"     // all replication shut down on this node
	AutoStopped State = "auto-stopped" // stopped by a fill alarm; never restarts by itself
)

// Target names.
const (
	Reporting = "reporting"
	Standby   = "standby"
)

// targetState is one target's state, kept by the Control machine (cluster
// state, in Raft snapshots). Before it was cluster state a node kept it in
// <data-dir>/replication/state.json, which is now only read, to adopt.
type targetState struct {
	State  State     `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Rate limits delivery after a resume (events per second; 0 = none).
	Rate int `json:"rate,omitempty"`
	// NeedsSync is set when the target missed data (stopped, overflow).
	NeedsSync bool `json:"needs_sync,omitempty"`
	// MissingAfter and MissingUpTo bound what it missed, when known: the
	// events after MissingAfter up to MissingUpTo. A sync that covers
	// them clears NeedsSync.
	MissingAfter command.Position `json:"missing_after,omitempty"`
	MissingUpTo  command.Position `json:"missing_up_to,omitempty"`
	// Held95 marks a target the 95 % rule auto-stopped: its warning repeats
	// every 15 minutes until an administrator restarts it.
	Held95 bool `json:"held_95,omitempty"`
}

// missing widens the recorded missing range to (after, upTo].
func (ts *targetState) missing(after, upTo command.Position) {
	if !ts.NeedsSync || ts.MissingUpTo == (command.Position{}) {
		ts.MissingAfter, ts.MissingUpTo = after, upTo
	} else {
		if ts.MissingAfter.After(after) {
			ts.MissingAfter = after
		}
		if upTo.After(ts.MissingUpTo) {
			ts.MissingUpTo = upTo
		}
	}
	ts.NeedsSync = true
}

// stateFile is the JSON of the states: the legacy state file, and the
// Control machine's snapshot section.
type stateFile struct {
	Targets map[string]targetState `json:"targets"`
}

func loadState(path string) (stateFile, error) {
	st := stateFile{Targets: map[string]targetState{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading replication state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("replication state %s: %w", path, err)
	}
	if st.Targets == nil {
		st.Targets = map[string]targetState{}
	}
	return st, nil
}

// legacyToAdopt reports whether this node's legacy state file holds a
// state the cluster must not forget (anything but active).
func (m *Manager) legacyToAdopt() bool {
	for _, ts := range m.legacy.Targets {
		if ts.State != Active || ts.NeedsSync {
			return true
		}
	}
	return false
}

// adoptLegacy commits the legacy states once, from the leader; targets the
// cluster already has a state for keep it (Control.Apply).
func (m *Manager) adoptLegacy(ctx context.Context) {
	if _, err := m.commit(ctx, TypeAdopt, AdoptCommand{Targets: m.legacy.Targets}); err != nil {
		m.log.Warn("adopting the replication states of this node's state file; retrying", "err", err)
		return
	}
	m.adopted = true
	m.log.Info("replication states of this node's state file adopted as cluster state")
}

// commit proposes a state command and waits until this node applied it,
// so that what the caller reads next (status, the buffer) includes it.
func (m *Manager) commit(ctx context.Context, typ string, payload any) (ControlResult, error) {
	if m.cfg.Cluster == nil {
		return ControlResult{}, refuse("replication states are cluster state; this node has no cluster to commit %s through", typ)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res, err := m.cfg.Cluster.Propose(cctx, typ, payload)
	if err != nil {
		return ControlResult{}, err
	}
	if err := m.cfg.Cluster.WaitApplied(cctx, res.Index); err != nil {
		return ControlResult{}, fmt.Errorf("waiting for %s to apply on this node: %w", typ, err)
	}
	var cr ControlResult
	if len(res.Result) > 0 {
		if err := json.Unmarshal(res.Result, &cr); err != nil {
			return ControlResult{}, fmt.Errorf("decoding result of %s: %w", typ, err)
		}
	}
	return cr, nil
}

// reconcile makes this node's buffer follow the committed states: a
// stopped, auto-stopped or shut-down target holds no buffer space, an
// active or suspended one does; and wakes the delivery loops, which read
// the states. It runs after every batch with a state event, at start and
// after a snapshot was installed. Reporting becoming active while this
// node leads is an activation (adminsync.go).
func (m *Manager) reconcile() {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.signalLocked()
	m.activatedLocked(false)
	for _, n := range m.names() {
		ts, _ := m.ctl.State(n)
		want := ts.State == Active || ts.State == Suspended
		c := m.cons[n]
		if c.Stats().Attached == want {
			continue
		}
		var err error
		if want {
			// Resume from the cursor; the buffer flags a gap if it
			// reclaimed data meanwhile (status then says needs_sync).
			err = c.Attach()
		} else {
			err = c.Detach()
		}
		if err != nil {
			m.log.Error("making the replication buffer follow the cluster's state", "target", n, "state", ts.State, "err", err)
		}
	}
}

// isControl tells the events of the replication states.
func isControl(ev *command.Event) bool {
	return ev.Type == EventState || ev.Type == EventRestarted
}

// publishBuffered appends out to the buffer, clearing it where a restart
// stands in the stream: records up to the restart's position go in first,
// then every consumer is reset there, then the rest. A restart at or
// before what the buffer already holds was carried out before (a replay
// after a restart of the node) and is not repeated.
func (m *Manager) publishBuffered(out, control []command.Event) {
	for _, r := range control {
		if r.Type != EventRestarted || !r.Pos().After(m.buf.Last()) {
			continue
		}
		k := 0
		for k < len(out) && !out[k].Pos().After(r.Pos()) {
			k++
		}
		m.appendBuffer(out[:k])
		out = out[k:]
		m.resetBuffer()
	}
	m.appendBuffer(out)
	for i := range control {
		if control[i].Type == EventState {
			m.reconcile()
			break
		}
	}
}

// resetBuffer clears the buffer for every target (a committed restart).
func (m *Manager) resetBuffer() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.names() {
		if err := m.cons[n].Reset(); err != nil {
			m.log.Error("clearing the replication buffer for a restart", "target", n, "err", err)
		}
	}
	m.alarms = Alarms{}
	m.signalLocked()
}
