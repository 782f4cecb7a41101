package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// localCluster is a one-node cluster for the manager's state commands: it
// applies them to the Control machine at once and hands their events to
// the manager, as the FSM of a one-node cluster would. (Package
// cluster's FSM and the e2e tests run the real path.) Its events go to
// the manager's control path only, not to the buffer, so that the tests'
// own event positions stay free.
type localCluster struct {
	mu    sync.Mutex
	ctl   *Control
	m     *Manager
	now   func() time.Time
	index uint64
	n     int
}

// openLocal opens a manager whose state commands commit on a
// localCluster (and on cfg.Control when set: a reopened manager then
// finds the cluster's states).
func openLocal(cfg Config) (*Manager, error) {
	if cfg.Control == nil {
		cfg.Control = NewControl()
	}
	lc := &localCluster{ctl: cfg.Control, now: cfg.Now}
	if lc.now == nil {
		lc.now = time.Now
	}
	if cfg.Cluster == nil {
		cfg.Cluster = lc
	}
	m, err := Open(cfg)
	if err == nil {
		lc.m = m
	}
	return m, err
}

func (lc *localCluster) Propose(ctx context.Context, typ string, payload any, _ ...cluster.ProposeOption) (cluster.Result, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.n++
	lc.index = max(lc.index, lc.m.buf.Last().Index) + 1
	env, err := command.New(typ, fmt.Sprintf("local-%d", lc.n), lc.now(), payload)
	if err != nil {
		return cluster.Result{}, err
	}
	em := command.NewEmitter(lc.index, env)
	res, err := lc.ctl.Apply(env, em)
	if err != nil {
		return cluster.Result{}, &cluster.Refusal{Msg: err.Error()}
	}
	lc.m.publish(nil, em.Events())
	b, err := json.Marshal(res)
	if err != nil {
		return cluster.Result{}, err
	}
	return cluster.Result{Index: lc.index, Result: b}, nil
}

func (lc *localCluster) WaitApplied(context.Context, uint64) error { return nil }
