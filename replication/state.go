package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// targetState is what the node remembers of one target across restarts.
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

// saveState writes the state atomically (temp file, fsync, rename).
func saveState(path string, st stateFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing replication state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing replication state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing replication state: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replacing replication state: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
