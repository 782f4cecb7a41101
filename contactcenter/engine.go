// Package contactcenter is Tandem's deterministic contact-center engine:
// configuration (agents, queues, extensions, users, business units) and,
// built on it, the routing and call-handling state every node replicates.
//
// The engine is a pure state machine. It is driven only by commands
// (command.Envelope) applied in Raft log order and reports what changed only
// through events (command.Emitter). It must not import network, storage or
// clock code: no I/O, no time.Now, no randomness. Time and IDs arrive in the
// command. Adapters (SIP, web, mail, consoles) import this package; this
// package never imports them.
package contactcenter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/tandemcc/tandem/command"
)

// Family is the command family prefix for configuration commands.
const Family = "config"

// Command types applied by the engine.
const (
	// TypeConfigApply declaratively applies a configuration document.
	TypeConfigApply = "config.apply"
)

// Engine holds the replicated contact-center state. Apply must be called
// from one goroutine at a time (the Raft FSM); readers use View.
type Engine struct {
	mu sync.RWMutex
	st *State
}

// State is everything the engine replicates. It is serialised whole into
// snapshots, so every field must be exported and deterministic to encode
// (encoding/json sorts map keys).
type State struct {
	Config Config `json:"config"`
	// Applied counts the commands applied (refusals excluded).
	Applied uint64 `json:"applied"`
}

// New returns an empty engine.
func New() *Engine { return &Engine{st: newState()} }

func newState() *State { return &State{Config: emptyConfig()} }

// Families lists the command families the engine applies.
func (e *Engine) Families() []string { return []string{Family} }

// Apply applies one command. A returned error is a refusal: the state is
// unchanged and no events are emitted. The result is returned to the
// proposer.
func (e *Engine) Apply(env command.Envelope, em *command.Emitter) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var (
		res any
		err error
	)
	switch env.Type {
	case TypeConfigApply:
		res, err = e.applyConfig(env, em)
	default:
		err = fmt.Errorf("%w: %q", ErrUnknownCommand, env.Type)
	}
	if err != nil {
		em.Reset()
		return nil, err
	}
	e.st.Applied++
	return res, nil
}

// View runs fn with read access to the state. fn must not keep references
// into the state after it returns, nor modify it.
func (e *Engine) View(fn func(*State)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.st)
}

// Snapshot serialises the whole state.
func (e *Engine) Snapshot() ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	b, err := json.Marshal(e.st)
	if err != nil {
		return nil, fmt.Errorf("encoding engine snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the state with a snapshot's.
func (e *Engine) Restore(b []byte) error {
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("decoding engine snapshot: %w", err)
	}
	st.Config.normalize()
	e.mu.Lock()
	e.st = st
	e.mu.Unlock()
	return nil
}

// Hash is a digest of the whole state: two engines that applied the same
// log have the same hash.
func (e *Engine) Hash() string {
	b, err := e.Snapshot()
	if err != nil {
		return "error:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
