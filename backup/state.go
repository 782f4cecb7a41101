package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// persisted is what a node keeps of its backups across restarts, in
// <data-dir>/backup/state.json: the last results (status) and when each
// schedule was last due (missed runs are reported at start).
type persisted struct {
	LastDue         map[string]time.Time `json:"last_due,omitempty"`
	LastFull        *Result              `json:"last_full,omitempty"`
	LastIncremental *Result              `json:"last_incremental,omitempty"`
}

const stateFile = "state.json"

func statePath(dataDir string) string { return filepath.Join(dataDir, "backup", stateFile) }

func loadState(dataDir string) (persisted, error) {
	var st persisted
	if dataDir == "" {
		return st, nil
	}
	b, err := os.ReadFile(statePath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading the backup state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// Only status and missed-run reports depend on it: start afresh.
		return persisted{}, nil
	}
	return st, nil
}

func saveState(dataDir string, st persisted) error {
	if dataDir == "" {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	path := statePath(dataDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeSynced(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
