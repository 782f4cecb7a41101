package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The SNMP agent's engine (snmp/engine.go) keeps its engine ID and boots
// in <data-dir>/snmp-engine.json. RFC 3414 (2.2) forbids the boots of
// an engine ID to go back: a message recorded before a restart would be
// accepted again. A full backup keeps the file; a restore with
// --replace keeps the one of the data directory it replaces (the only
// file such a directory may still hold), with the larger boots when
// both name the same engine, and restores the backup's only when there
// is none — its boots then raised by snmpBootsMargin, since the node
// may have restarted after the backup. A restore into a new cluster
// keeps an existing file and restores none (the original node may
// still run with its engine ID).

const snmpEngineFile = "snmp-engine.json"

// snmpBootsMargin raises the boots of an engine restored from a backup
// alone: more restarts than a node makes between two full backups.
const snmpBootsMargin = 1000

// maxSNMPBoots is snmpEngineBoots' ceiling (RFC 3414 2.2.2).
const maxSNMPBoots = 1<<31 - 1

type snmpEngineDoc struct {
	EngineID string `json:"engine_id"`
	Boots    uint32 `json:"boots"`
}

// readSNMPEngine reads the engine file of dir; nil when there is none.
func readSNMPEngine(dir string) (*snmpEngineDoc, error) {
	b, err := os.ReadFile(filepath.Join(dir, snmpEngineFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d snmpEngineDoc
	if err := json.Unmarshal(b, &d); err != nil || d.EngineID == "" {
		return nil, fmt.Errorf("%s is damaged", filepath.Join(dir, snmpEngineFile))
	}
	return &d, nil
}

// restoredSNMPEngine is the engine file a restore writes (nil: none)
// and what it says of it: the target's own, kept (its boots the larger
// of both when the backup holds the same engine), else with --replace
// the backup's, its boots raised.
func restoredSNMPEngine(target string, backup json.RawMessage, replace bool) ([]byte, string, error) {
	have, err := readSNMPEngine(target)
	if err != nil {
		return nil, "", fmt.Errorf("--data-dir: %w: move it away, or fix it", err)
	}
	var from *snmpEngineDoc
	if len(backup) > 0 && replace {
		from = new(snmpEngineDoc)
		if err := json.Unmarshal(backup, from); err != nil || from.EngineID == "" {
			return nil, "", errors.New("the backup's SNMP engine file is damaged")
		}
	}
	var out snmpEngineDoc
	var say string
	switch {
	case have != nil && from != nil && have.EngineID == from.EngineID:
		out = *have
		out.Boots = max(have.Boots, from.Boots)
		say = fmt.Sprintf("SNMP engine %s kept, boots %d (the larger of the data dir's and the backup's)", out.EngineID, out.Boots)
	case have != nil:
		out = *have
		say = fmt.Sprintf("SNMP engine %s of the data dir kept, boots %d", out.EngineID, out.Boots)
	case from != nil:
		out = *from
		out.Boots = uint32(min(uint64(from.Boots)+snmpBootsMargin, maxSNMPBoots))
		say = fmt.Sprintf("SNMP engine %s restored from the backup, boots raised from %d to %d (the node may have restarted since)", out.EngineID, from.Boots, out.Boots)
	default:
		return nil, "", nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, "", err
	}
	return append(b, '\n'), say, nil
}
