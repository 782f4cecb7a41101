package standby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemcc/tandem/cluster"
)

// Receiver is the standby's side of standby replication on one node. It is
// the cluster.Gate attached to the node's FSM (gate.go): it holds the
// replicated standby State, refuses engine commands of this cluster's own
// edges while the cluster is a standby, and applies shipped commands. Its
// methods below commit shipments, syncs and promotion through the store it
// is attached to. Every tandemd has one; on a cluster that never was a
// standby it refuses nothing.
type Receiver struct {
	of  string // --standby-of: this node asks for standby mode
	log *slog.Logger

	store Store // set by Attach

	mu sync.Mutex
	st *State // replicated (gate.go); nil: never a standby
}

// Store is what the receiver needs of the node's cluster store.
type Store interface {
	Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	Ready() bool
	NodeID() string
	AppliedIndex() uint64
}

// Interface check.
var _ cluster.Gate = (*Receiver)(nil)

// NewReceiver returns the receiver of a node; of is its --standby-of (the
// primary's admin URL), or "" for a node started without.
func NewReceiver(of string, logger *slog.Logger) *Receiver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Receiver{of: of, log: logger}
}

// Attach gives the receiver the store whose FSM it gates; call it before
// Run and before serving its routes.
func (r *Receiver) Attach(s Store) { r.store = s }

// Admit implements cluster.Gate: a node refuses engine commands of its
// own edges while its cluster is a standby — or is about to become one: a
// node started with --standby-of refuses writes until the mode is
// replicated or the cluster was promoted.
func (r *Receiver) Admit() error {
	sb, ok := r.State()
	switch {
	case ok && sb.Active:
		return refusal(sb.Of)
	case ok && sb.Promoted != 0:
		return nil
	case r.of != "":
		return refusal(r.of)
	}
	return nil
}

// RefusesWrites reports whether this node refuses engine commands of its
// own edges (Admit): the engine's clock then comes from the primary's
// shipped ticks, not from this cluster's ticker.
func (r *Receiver) RefusesWrites() bool { return r.Admit() != nil }

// State returns a copy of the replicated standby state; ok is false when
// the cluster never was a standby.
func (r *Receiver) State() (st State, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return State{}, false
	}
	sb := *r.st
	sb.SyncData = nil
	return sb, true
}

// Run replicates the standby mode asked for by --standby-of, once the
// cluster is ready, and returns. A promoted cluster stays promoted: the
// flag is then ignored.
func (r *Receiver) Run(ctx context.Context) {
	if r.of == "" {
		return
	}
	warned := false
	for {
		sb, ok := r.State()
		switch {
		case ok && sb.Promoted != 0:
			r.log.Warn("--standby-of ignored: this cluster was promoted", "promoted", time.Unix(0, sb.Promoted).UTC())
			return
		case ok && sb.Of == r.of:
			return
		}
		if r.store.Ready() {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := r.store.Propose(pctx, TypeSet, Set{Of: r.of})
			cancel()
			var ref *cluster.Refusal
			switch {
			case err == nil:
				r.log.Info("this cluster is a standby", "of", r.of)
				return
			case errors.As(err, &ref):
				if !warned {
					r.log.Error("--standby-of refused", "err", ref.Msg)
					warned = true
				}
			default:
				r.log.Debug("recording standby mode", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// batchBytes bounds the shipped envelopes of one TypeApply command, well
// below command.MaxPayload even when forwarding to the leader escapes
// characters.
const batchBytes = 1 << 20

// Receive commits shipped primary commands on this standby cluster, in as
// many TypeApply commands as their size needs, and returns where the
// standby stands afterwards. It stops at the first command that needs a
// sync.
func (r *Receiver) Receive(ctx context.Context, b Batch) (Result, error) {
	if err := r.accepting(); err != nil {
		return Result{}, err
	}
	if err := b.check(); err != nil {
		return Result{}, &cluster.Refusal{Msg: "shipment: " + err.Error()}
	}
	var total Result
	cmds := b.Commands
	for {
		n, size := 0, 0
		for n < len(cmds) && (n == 0 || size+len(cmds[n].Env) <= batchBytes) {
			size += len(cmds[n].Env)
			n++
		}
		part := Batch{Commands: cmds[:n], Through: b.Through}
		if n < len(cmds) {
			part.Through = cmds[n-1].Pos
		}
		res, err := r.propose(ctx, TypeApply, part)
		if err != nil {
			return total, err
		}
		res.Applied += total.Applied
		res.Skipped += total.Skipped
		total = res
		cmds = cmds[n:]
		if len(cmds) == 0 || res.NeedsSync != "" {
			return total, nil
		}
	}
}

// syncPartBytes is the engine state carried by one TypeSync command
// (base64 in JSON: a third more).
const syncPartBytes = 2 << 20

// Sync replaces this standby's engine state with a primary's export (the
// encoded cluster.EngineExport), in parts of a few MiB each committed
// through Raft. progress, when set, is told how many bytes are committed.
func (r *Receiver) Sync(ctx context.Context, doc []byte, progress func(done, total int64)) (Result, error) {
	if err := r.accepting(); err != nil {
		return Result{}, err
	}
	var ex cluster.EngineExport
	if err := json.Unmarshal(doc, &ex); err != nil {
		return Result{}, &cluster.Refusal{Msg: "decoding the engine state: " + err.Error()}
	}
	id := cluster.NewID()
	parts := (len(doc) + syncPartBytes - 1) / syncPartBytes
	var res Result
	for i := 0; i < parts; i++ {
		end := min((i+1)*syncPartBytes, len(doc))
		var err error
		res, err = r.propose(ctx, TypeSync, SyncPart{ID: id, Part: i, Parts: parts, Data: doc[i*syncPartBytes : end]})
		if err != nil {
			return res, fmt.Errorf("committing part %d of %d of the engine state: %w", i+1, parts, err)
		}
		if progress != nil {
			progress(int64(end), int64(len(doc)))
		}
	}
	return res, nil
}

// Promote ends standby mode: the cluster accepts writes from then on and
// refuses shipped commands.
func (r *Receiver) Promote(ctx context.Context) (Result, error) {
	return r.propose(ctx, TypePromote, nil)
}

// accepting refuses, before anything is proposed, a shipment or sync
// this cluster would refuse: it is not (yet) a standby, or was promoted.
func (r *Receiver) accepting() error {
	sb, ok := r.State()
	switch {
	case ok && sb.Active:
		return nil
	case ok:
		return promotedRefusal(sb.Promoted)
	case r.of != "":
		return &cluster.Refusal{Msg: "this node was started with --standby-of but the cluster has not recorded standby mode yet; retry shortly"}
	}
	return &cluster.Refusal{Msg: "this cluster is not a standby (start it with --standby-of)"}
}

func (r *Receiver) propose(ctx context.Context, typ string, payload any) (Result, error) {
	c, err := r.store.Propose(ctx, typ, payload)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if len(c.Result) > 0 {
		if err := json.Unmarshal(c.Result, &res); err != nil {
			return Result{}, fmt.Errorf("decoding result of %s: %w", typ, err)
		}
	}
	return res, nil
}
