package snmp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// engineFile holds this node's SNMP engine identity in the data dir:
// the engine ID, made once, and the engine boots, incremented at every
// start (RFC 3414, 2.2: with the engine time they bound a message's
// lifetime, so a message recorded before a restart is never accepted
// after it).
const engineFile = "snmp-engine.json"

// maxBoots is snmpEngineBoots' ceiling: there it stays, and every
// authenticated request is out of its time window until the keys change
// (RFC 3414, 2.2.2).
const maxBoots = math.MaxInt32

// engineState is the persisted part of the engine.
type engineState struct {
	id    []byte
	boots uint32
}

type engineDoc struct {
	EngineID string `json:"engine_id"`
	Boots    uint32 `json:"boots"`
}

// newEngineID is an SnmpEngineID in RFC 3411's format: the enterprise
// number with its high bit set (0x80007ED9, 32473), format 5
// (administratively assigned octets) and 12 random octets.
func newEngineID() []byte {
	id := []byte{0x80, 0x00, 0x7e, 0xd9, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	rand.Read(id[5:])
	return id
}

// loadEngine reads the engine file in dir (making the engine ID the
// first time), increments the boots and writes the file back before the
// agent answers anything. dir "" keeps nothing (tests): boots 1.
func loadEngine(dir string) (engineState, error) {
	if dir == "" {
		return engineState{id: newEngineID(), boots: 1}, nil
	}
	path := filepath.Join(dir, engineFile)
	var doc engineDoc
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		doc.EngineID = hex.EncodeToString(newEngineID())
	case err != nil:
		return engineState{}, fmt.Errorf("snmp: reading the engine boots: %w", err)
	default:
		if err := json.Unmarshal(b, &doc); err != nil {
			return engineState{}, fmt.Errorf("snmp: %s is damaged (%v); move it away to make a new engine ID (managers must then rediscover it)", path, err)
		}
	}
	id, err := hex.DecodeString(doc.EngineID)
	if err != nil || len(id) < 5 || len(id) > 32 {
		return engineState{}, fmt.Errorf("snmp: %s: engine_id is not 5 to 32 octets in hex", path)
	}
	if doc.Boots < maxBoots {
		doc.Boots++
	}
	out, _ := json.Marshal(doc)
	if err := writeFileSync(path, append(out, '\n')); err != nil {
		return engineState{}, fmt.Errorf("snmp: saving the engine boots: %w", err)
	}
	return engineState{id: id, boots: doc.Boots}, nil
}

// writeFileSync replaces path with b durably: a temporary file, synced,
// renamed over path, and the directory synced.
func writeFileSync(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snmp-engine-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
