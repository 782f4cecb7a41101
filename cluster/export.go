package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/tandemcc/tandem/command"
)

// EngineExport is a whole engine state at a known point of this cluster's
// event stream, as a standby sync ships it (and a gate restores it
// through Engine.Restore).
type EngineExport struct {
	Position command.Position           `json:"position"`
	N        uint64                     `json:"n"`
	Machines map[string]json.RawMessage `json:"machines"`
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
