// Package cluster owns consensus: the Raft node (hashicorp/raft on
// raft-boltdb and file snapshots), the FSM that hands committed commands to
// the engine machines, membership (join, remove, leadership transfer,
// forced quorum), linearizable reads, forwarding of writes to the leader
// and the clock-skew watch between members.
//
// It knows nothing of contact-center rules (those are Machines) and nothing
// of what consumers do with events (those are EventSinks). It must not
// import the engine, replication, SNMP or HTTP API packages; they import it.
// See DESIGN.md beside this file.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Config configures one node.
type Config struct {
	NodeID   string
	RaftAddr string // host:port, bound and advertised
	AdminURL string // base URL peers use to reach this node's admin API
	// HTTPURL is the base URL of this node's public web server
	// (--http-addr), "" when off: operator consoles fail over to it.
	HTTPURL     string
	SIPAddr     string // host:port where this node takes SIP when leader ("" = none)
	DataDir     string
	Join        string // admin URL of any member, or ""
	ForceQuorum bool   // make this node the only voter before starting (cluster.md)
	Token       string // admin bearer token, shared by the members
	Machines    []Machine
	// Control are machines of the cluster's own administration state
	// (the replication states): applied like Machines, but their
	// commands are not engine commands — a standby's gate does not refuse
	// them, they are not counted, shipped to a standby or exported.
	Control   []Machine
	Sinks     []EventSink
	Logger    *slog.Logger     // the node's log; Raft's goes through it too (raftlog.go)
	Now       func() time.Time // wall clock; injectable for tests
	Timing    Timing
	OnClock   func(ClockStatus) // called when the skew alarm changes
	OnLeader  func(leaderID string, term uint64)
	HTTP      *http.Client
	JoinRetry time.Duration // how long a --join keeps trying; default 2m
	// Gate, when set, stands between the edges and the engine machines
	// (gate.go): standby mode (package replication/standby) is one.
	Gate Gate

	// freeSpace measures a directory's free space for the space guard
	// (space.go); nil is statfs. Tests set it.
	freeSpace func(path string) (int64, error)

	// openLog opens the log store in <data-dir>/raft; nil is openBoltLog.
	// Tests set it to write a data dir as an earlier build did.
	openLog func(dir string) (logStore, error)
}

// Timing holds the Raft timeouts. The zero value means LANDefaults.
type Timing struct {
	Heartbeat         time.Duration
	Election          time.Duration
	LeaderLease       time.Duration
	Commit            time.Duration
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// CheckpointInterval is how often the leader names an index at which
	// every member digests its state (statecheck.go); 0: never.
	CheckpointInterval time.Duration
}

// LANDefaults are tuned for members on one LAN: a follower notices a dead
// leader within 400-800 ms, so failover completes well under 2 s, while a
// leader on a busy machine does not step down over one slow heartbeat
// (lease = heartbeat).
var LANDefaults = Timing{
	Heartbeat:   400 * time.Millisecond,
	Election:    400 * time.Millisecond,
	LeaderLease: 400 * time.Millisecond,
	// A follower learns a commit index from the leader's next
	// AppendEntries: the next command's, or an empty one after a
	// randomised 10–20 ms of none. hashicorp/raft's default, 50 ms,
	// spares an idle leader 2.7 % of a core (a follower 0.6 %), but a
	// console listening to a follower (its secondary, after a switch)
	// then sees its own changes up to 100 ms late (DESIGN.md, Timing).
	Commit:            10 * time.Millisecond,
	SnapshotThreshold: 8192,
	SnapshotInterval:  30 * time.Second,
	// The state check encodes every machine's state on every member, as
	// a snapshot does: a pause of the apply path (20 ms for a busy
	// center of 1,000 agents, BenchmarkLoadedSnapshot).
	CheckpointInterval: 5 * time.Minute,
}

// Store is one member of the cluster.
type Store struct {
	cfg    Config
	log    *slog.Logger
	raft   *raft.Raft
	fsm    *fsm
	logs   logStore
	trans  *raftTransport // raft's TCP transport, with two corrections (transport.go)
	snaps  *raft.FileSnapshotStore
	client *http.Client
	now    func() time.Time
	space  *spaceGuard // refuses writes before the Raft log meets a full disk (space.go)
	// snapSize is the latest snapshot's size + 1 for the space reserve;
	// 0 until read from the snapshot store (at start, after a restore).
	snapSize atomic.Int64
	glogs    *guardedLogs // the log store Raft writes through: a follower short of space refuses entries
	hand     handover     // handing leadership over for lack of space (space.go)
	fwd      forwarder    // commands waiting to be forwarded to the leader (forward.go)
	// packScratch holds packEntry's compression buffers (entry.go).
	packScratch sync.Pool

	readyTerm atomic.Uint64 // term in which this leader committed its barrier

	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced after each applied batch

	clock *clockWatch
	// replicas compares the entries this node applied with its peers'.
	replicas *replicaCheck

	joinErr atomic.Value // string
	removed atomic.Value // string: why this node is no longer a member (markRemoved)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// shutdownWait bounds how long Close waits for Raft's goroutines.
	shutdownWait time.Duration
}

// shutdownWait is how long Close waits for Raft to stop.
const shutdownWait = 10 * time.Second

// ErrNoLeader means no leader could be found before the deadline. It is
// 503 not_leader on every HTTP surface.
var ErrNoLeader = apierr.Wrap(apierr.NotLeader, errors.New("no cluster leader"))

// Open starts (or restarts) the node.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.NodeID == "" || cfg.RaftAddr == "" || cfg.DataDir == "" {
		return nil, errors.New("cluster: node id, raft address and data dir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = LANDefaults
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second,
		}}
	}
	if cfg.JoinRetry == 0 {
		cfg.JoinRetry = 2 * time.Minute
	}
	if err := checkIdentity(cfg.DataDir, cfg.NodeID); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger.With("component", "cluster"), client: cfg.HTTP,
		now: cfg.Now, appliedCh: make(chan struct{}), shutdownWait: shutdownWait}
	f, err := newFSM(cfg.Machines, cfg.Control, cfg.Sinks, cfg.Gate)
	if err != nil {
		return nil, err
	}
	f.notify = s.onApplied
	f.stored = s.snapshotStored
	s.fsm = f

	if err := s.openStorage(ctx); err != nil {
		return nil, err
	}
	existing, err := raft.HasExistingState(s.logs, s.logs, s.snaps)
	if err != nil {
		s.closeStorage()
		return nil, fmt.Errorf("reading raft state in %s: %w", cfg.DataDir, err)
	}
	rc := s.raftConfig()
	if s.trans, err = newTransport(cfg.RaftAddr, s.hclog("raft-net")); err != nil {
		s.closeStorage()
		return nil, err
	}
	var running atomic.Pointer[raft.Raft] // set once NewRaft returns
	s.glogs = &guardedLogs{LogStore: s.logs, guard: s.space, leader: raftLeader(&running)}
	cache, err := raft.NewLogCache(512, s.glogs)
	if err != nil {
		s.closeStorage()
		return nil, fmt.Errorf("creating log cache: %w", err)
	}
	if cfg.ForceQuorum {
		if err := s.forceQuorum(rc); err != nil {
			s.closeStorage()
			return nil, err
		}
	}
	s.raft, err = raft.NewRaft(rc, f, cache, s.logs, s.snaps, s.trans)
	if err != nil {
		s.closeStorage()
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	running.Store(s.raft)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.clock = newClockWatch(s)
	s.replicas = &replicaCheck{s: s}

	switch {
	case !existing && cfg.Join == "":
		s.log.Info("bootstrapping a new one-node cluster", "node_id", cfg.NodeID, "raft_addr", cfg.RaftAddr)
		bf := s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.RaftAddr), Suffrage: raft.Voter,
		}}})
		if err := bf.Error(); err != nil {
			s.Close(ctx)
			return nil, fmt.Errorf("bootstrapping cluster: %w", err)
		}
	case !existing:
		s.goLoop(func(ctx context.Context) { s.joinLoop(ctx, cfg.Join) })
	case cfg.Join != "":
		s.log.Info("existing raft state found; ignoring --join", "join", cfg.Join)
	}
	s.goLoop(s.leaderLoop)
	s.goLoop(s.selfMetaLoop)
	s.goLoop(s.memberWatch)
	s.goLoop(s.clock.run)
	s.goLoop(s.spaceLoop)
	s.goLoop(s.checkpointLoop)
	return s, nil
}

func (s *Store) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(s.cfg.NodeID)
	t := s.cfg.Timing
	c.HeartbeatTimeout = t.Heartbeat
	c.ElectionTimeout = t.Election
	c.LeaderLeaseTimeout = t.LeaderLease
	c.CommitTimeout = t.Commit
	c.SnapshotThreshold = t.SnapshotThreshold
	c.SnapshotInterval = t.SnapshotInterval
	// Entries kept behind a snapshot for followers that fall behind: as
	// many as trigger one, at most 10240 (a follower further behind
	// installs the leader's snapshot).
	c.TrailingLogs = 10240
	if t.SnapshotThreshold > 0 && t.SnapshotThreshold < c.TrailingLogs {
		c.TrailingLogs = t.SnapshotThreshold
	}
	c.BatchApplyCh = true
	c.MaxAppendEntries = 256
	c.Logger = s.hclog("raft")
	return c
}

// hclog is the Raft library's logger for component name: its lines go
// through this node's slog.Logger (raftlog.go), with component = name
// (not also "cluster": one key once per line).
func (s *Store) hclog(name string) hclog.Logger {
	l := s.cfg.Logger
	if l == nil {
		l = s.log // offline stores (recover, restore) set only log
	}
	return newRaftLogger(l, name)
}

func (s *Store) openStorage(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkLegacyLog(s.cfg.DataDir); err != nil {
		return err
	}
	dir := filepath.Join(s.cfg.DataDir, raftDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	open := s.cfg.openLog
	if open == nil {
		open = openBoltLog
	}
	logs, err := open(dir)
	if err != nil {
		return err
	}
	s.logs = logs
	s.snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, 2, s.hclog("raft-snap"))
	if err != nil {
		s.logs.Close()
		s.logs = nil
		return fmt.Errorf("opening snapshots in %s: %w", dir, err)
	}
	now := s.cfg.Now
	if now == nil {
		now = time.Now
	}
	s.space = newSpaceGuard(dir, s.cfg.freeSpace, s.raftReserve, now)
	s.space.log = s.log
	return nil
}

func (s *Store) closeStorage() {
	if s.logs != nil {
		s.logs.Close()
	}
	if s.trans != nil {
		s.trans.Close()
	}
}

func newTransport(addr string, logger hclog.Logger) (*raftTransport, error) {
	adv, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raft address %q: %w", addr, err)
	}
	t, err := raft.NewTCPTransportWithLogger(addr, adv, 5, 5*time.Second, logger)
	if err != nil {
		return nil, fmt.Errorf("listening for raft on %s: %w", addr, err)
	}
	return newRaftTransport(t), nil
}

func (s *Store) goLoop(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

// Close stops the node. A leader first hands leadership to another voter so
// that stopping a node never waits for an election timeout.
func (s *Store) Close(ctx context.Context) error {
	if s.raft != nil && s.raft.State() == raft.Leader && s.voterCount() > 1 {
		s.log.Info("transferring leadership before shutdown")
		if err := waitFuture(ctx, s.raft.LeadershipTransfer()); err != nil {
			s.log.Warn("leadership transfer before shutdown failed", "err", err)
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	// Bounded: a goroutine that never returns — the library's (as in the
	// pipeline deadlock pipeline.go fixes) or an apply that never ends,
	// which holds the FSM's lock the loops need — must not keep the
	// process from exiting. The log is then left open, as after a crash:
	// every write Raft acknowledged is already durable in it.
	deadline := time.Now().Add(s.shutdownWait)
	within := func(f func()) bool {
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(time.Until(deadline)):
			s.log.Error("the node did not stop in time; leaving the Raft log as a crash would (what Raft acknowledged is on disk)",
				"waited", s.shutdownWait.String())
			return false
		}
	}
	if !within(s.wg.Wait) {
		return fmt.Errorf("stopping the cluster's loops: not stopped within %v", s.shutdownWait)
	}
	var err error
	if s.raft != nil && !within(func() { err = s.raft.Shutdown().Error() }) {
		return fmt.Errorf("shutting down raft: not stopped within %v", s.shutdownWait)
	}
	s.closeStorage()
	if err != nil {
		return fmt.Errorf("shutting down raft: %w", err)
	}
	return nil
}

func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NodeID is this node's identity.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// IsLeader reports whether this node is the leader now.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeaderID returns the current leader's ID, or "".
func (s *Store) LeaderID() string {
	_, id := s.raft.LeaderWithID()
	return string(id)
}

// ProposeOption changes how Propose commits a command.
type ProposeOption func(*proposal)

type proposal struct {
	key      string
	enqueued func()
}

// WithKey makes key the command's ID (its idempotency key): a retry with
// the same key, after a timeout or a failover, applies once and is
// answered with the first application's index and result, flagged
// Duplicate. Without it the ID is random. Edges scope their keys (e.g.
// "console:<user>:<key>") so that two callers never share one.
func WithKey(key string) ProposeOption { return func(p *proposal) { p.key = key } }

// WithEnqueued lets a caller propose commands one after the other without
// waiting for each to commit: fn is called once, as soon as the command
// holds its place in the log — this node leads and Raft has taken it, in
// the order of the calls that reached that point — so a command this
// node proposes after fn returned, while it still leads, is appended after
// this one, and the two may commit in one round. When the command is
// forwarded to another leader, retried, or fails before that point, fn is
// called when Propose returns instead. Order is then not promised: a
// caller that pipelines must have its machine refuse a command applied
// out of turn (the mail channel's commands each name the UID before
// theirs).
func WithEnqueued(fn func()) ProposeOption { return func(p *proposal) { p.enqueued = fn } }

// EnqueuedOf is the callback WithEnqueued set among opts, or nil: for
// stand-ins of Propose (the edges' tests) that honour it.
func EnqueuedOf(opts ...ProposeOption) func() {
	var p proposal
	for _, o := range opts {
		o(&p)
	}
	return p.enqueued
}

// Propose is how every edge commits: a command of type typ carrying
// payload, through the leader (a follower forwards it). Its time is the
// leader's clock when the leader appends it, never earlier than the last
// command applied, so a follower's clock cannot move the engine's time.
// It returns once the command applied: the result, or a *Refusal when the
// machine refused it (nothing changed).
func (s *Store) Propose(ctx context.Context, typ string, payload any, opts ...ProposeOption) (Result, error) {
	var p proposal
	for _, o := range opts {
		o(&p)
	}
	id := p.key
	if id == "" {
		id = NewID()
	}
	var enqueued func()
	if p.enqueued != nil {
		var once sync.Once
		enqueued = func() { once.Do(p.enqueued) }
		defer enqueued()
	}
	env, err := command.New(typ, id, s.now(), payload) // time restamped by the leader
	if err != nil {
		return Result{}, &Refusal{Msg: err.Error(), Field: "payload"}
	}
	return s.apply(ctx, env, enqueued)
}

// NewID returns a random 128-bit identifier in hex. IDs are chosen at the
// edge, never inside apply.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("cluster: reading random bytes: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// apply commits env and returns its result once this node's FSM applied
// it (when it is the leader) or the leader's did (when forwarded). Writes
// to a follower are forwarded to the leader; a command retried with the
// same ID applies once.
//
// enqueued, when not nil, is called (by the first attempt on this node as
// leader) once Raft has taken the entry: WithEnqueued.
func (s *Store) apply(ctx context.Context, env command.Envelope, enqueued func()) (Result, error) {
	if s.cfg.Gate != nil && env.Family() != Family {
		if err := s.cfg.Gate.Admit(); err != nil {
			return Result{}, err
		}
	}
	for attempt := 0; ; attempt++ {
		var (
			res Result
			err error
		)
		if s.raft.State() == raft.Leader && attempt == 0 {
			res, err = s.commitOrdered(ctx, env, enqueued)
		} else if s.raft.State() == raft.Leader {
			res, err = s.commitLocal(ctx, env)
		} else {
			res, err = s.forwardApply(ctx, env)
		}
		if err == nil || !retryable(err) || attempt >= 50 {
			return res, classify(err)
		}
		if werr := sleepCtx(ctx, backoff(attempt)); werr != nil {
			return Result{}, fmt.Errorf("applying %s: %w (last error: %v)", env.Type, werr, err)
		}
	}
}

// commitLocal stamps env with this leader's time — its clock, but never
// earlier than the last command applied — and commits it. A forwarded
// command is stamped here too: command time is the leader's.
func (s *Store) commitLocal(ctx context.Context, env command.Envelope) (Result, error) {
	return s.commitOrdered(ctx, env, nil)
}

// commitOrdered is commitLocal calling enqueued (when not nil) once Raft
// has taken the entry, before it commits.
func (s *Store) commitOrdered(ctx context.Context, env command.Envelope, enqueued func()) (Result, error) {
	t := s.now().UnixNano()
	if last := s.fsm.lastTime.Load(); t < last {
		t = last
	}
	env.Time = t
	data, err := command.Encode(env)
	if err != nil {
		return Result{}, &Refusal{Msg: err.Error()}
	}
	return s.applyLocal(ctx, data, enqueued)
}

func (s *Store) applyLocal(ctx context.Context, data []byte, enqueued func()) (Result, error) {
	if err := s.space.check(); err != nil {
		if s.IsLeader() && s.handOver() {
			// A voter with room takes over: the write is retried there.
			return Result{}, fmt.Errorf("%w: handing leadership to a member with free space", raft.ErrLeadershipTransferInProgress)
		}
		return Result{}, err
	}
	if err := s.checkQuorumSpace(ctx); err != nil {
		return Result{}, err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := s.raft.Apply(packEntry(data, s.compressible(), &s.packScratch), timeout)
	if enqueued != nil {
		enqueued() // raft.Apply has put the entry on Raft's queue, in call order
	}
	if err := waitFuture(ctx, f); err != nil {
		if isNoSpace(err) {
			s.space.full()
			s.log.Error("the Raft log could not store a command: no space left", "dir", s.space.dir, "err", err)
			return Result{}, s.space.refusal()
		}
		return Result{}, err
	}
	resp, ok := f.Response().(*applyResponse)
	if !ok {
		return Result{}, fmt.Errorf("unexpected apply response %T", f.Response())
	}
	return resp.res, resp.err
}

// retryable reports whether a failed apply should be tried again (the
// leader changed, or none is known yet). Refusals are final.
func retryable(err error) bool {
	var r *Refusal
	if errors.As(err, &r) {
		return false
	}
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, ErrNoLeader) ||
		errors.Is(err, errPeerUnavailable)
}

// classify gives an error of this package that leaves it through the
// HTTP surfaces its kind (package apierr): a retryable one (raft's
// not-leader errors among them) is 503 not_leader, a node shutting down
// 503 unavailable, raft's enqueue timeout 504 timeout. Errors that already
// have a kind (refusals, ErrNoLeader) and others are returned as they are.
func classify(err error) error {
	var c interface{ ErrorCode() apierr.Code }
	switch {
	case err == nil || errors.As(err, &c):
		return err
	case retryable(err):
		return apierr.Wrap(apierr.NotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return apierr.Wrap(apierr.Unavailable, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return apierr.Wrap(apierr.Timeout, err)
	}
	return err
}

func backoff(attempt int) time.Duration {
	d := time.Duration(attempt+1) * 20 * time.Millisecond
	if d > 250*time.Millisecond {
		d = 250 * time.Millisecond
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) onApplied(uint64) {
	s.appliedMu.Lock()
	close(s.appliedCh)
	s.appliedCh = make(chan struct{})
	s.appliedMu.Unlock()
}

// WaitApplied blocks until the local FSM has applied index.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	tick := time.NewTicker(50 * time.Millisecond) // a snapshot install does not notify
	defer tick.Stop()
	for {
		s.appliedMu.Lock()
		ch := s.appliedCh
		s.appliedMu.Unlock()
		if s.AppliedIndex() >= index {
			return nil
		}
		if s.space.refusingEntries() && index > s.raft.LastIndex() {
			// This follower cannot store what it lacks: waiting is
			// useless until space is freed.
			return s.space.refusal()
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for index %d (applied %d): %w", index, s.AppliedIndex(), ctx.Err())
		}
	}
}

// AppliedIndex is the index up to which this node's FSM state reflects the
// log: the last entry the FSM applied, or the last snapshot when that is
// newer (a restored snapshot's entries are never applied one by one).
func (s *Store) AppliedIndex() uint64 {
	idx := s.fsm.appliedIndex()
	if snap, err := strconv.ParseUint(s.raft.Stats()["last_snapshot_index"], 10, 64); err == nil && snap > idx {
		idx = snap
	}
	return idx
}

// Nodes returns the replicated member metadata.
func (s *Store) Nodes() map[string]NodeMeta { return s.fsm.nodes() }

func (s *Store) voterCount() int {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}

// leaderLoop watches leadership: a new leader commits a barrier of its own
// term before it serves linearizable reads, and records its metadata.
func (s *Store) leaderLoop(ctx context.Context) {
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(o)
	defer s.raft.DeregisterObserver(o)
	for {
		select {
		case <-ctx.Done():
			return
		case ob := <-obs:
			lo := ob.Data.(raft.LeaderObservation)
			term := s.raft.CurrentTerm()
			s.log.Info("leader changed", "leader_id", string(lo.LeaderID), "term", term)
			if s.cfg.OnLeader != nil {
				s.cfg.OnLeader(string(lo.LeaderID), term)
			}
			if string(lo.LeaderID) == s.cfg.NodeID {
				s.anchorTerm(ctx, term)
				// Publish how to reach this leader now, not at the next
				// tick of selfMetaLoop: followers forward writes (and
				// joins) only once they know the leader's admin address.
				bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				s.recordSelf(bctx)
				cancel()
			}
		}
	}
}

// anchorTerm commits the barrier of a new leader's term, retrying while
// this node leads in that term: until it has, the node is not Ready and
// serves no linearizable read.
func (s *Store) anchorTerm(ctx context.Context, term uint64) {
	for attempt := 0; attempt < 1000; attempt++ {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.barrier(bctx)
		cancel()
		if err == nil {
			return
		}
		s.log.Warn("leader barrier failed", "err", err, "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		if !s.IsLeader() || s.raft.CurrentTerm() != term {
			return
		}
	}
}

// barrier commits an entry of this leader's term and waits until the FSM
// applied it. The entry is a cluster.noop command rather than raft's own
// Barrier: a batching FSM never sees LogBarrier (nor raft's LogNoop)
// entries, so after one of those the FSM's applied index would stay below
// the commit index until the next command, and linearizable reads and
// readiness would wait for a write that may never come.
func (s *Store) barrier(ctx context.Context) error {
	term := s.raft.CurrentTerm()
	env, err := command.New(TypeNoop, NewID(), s.now(), nil)
	if err == nil {
		_, err = s.commitLocal(ctx, env)
	}
	if err != nil {
		return fmt.Errorf("barrier in term %d: %w", term, err)
	}
	s.readyTerm.Store(term)
	return nil
}

// selfMetaLoop makes sure the replicated metadata knows how to reach this
// node (its admin URL may change across restarts).
func (s *Store) selfMetaLoop(ctx context.Context) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s.recordSelf(pctx)
		cancel()
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
}

// recordSelf proposes this node's metadata when the replicated copy is
// missing or out of date.
func (s *Store) recordSelf(ctx context.Context) {
	me := NodeMeta{ID: s.cfg.NodeID, RaftAddr: s.cfg.RaftAddr, AdminAddr: s.cfg.AdminURL, HTTPURL: s.cfg.HTTPURL, SIPAddr: s.cfg.SIPAddr, LogFormat: LogFormat}
	if cur, ok := s.fsm.nodes()[me.ID]; (!ok || cur != me) && s.isMember() && s.LeaderID() != "" {
		if _, err := s.Propose(ctx, TypeNodeUpsert, me); err != nil {
			s.log.Debug("recording node metadata", "err", err)
		}
	}
}

func (s *Store) isMember() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == s.cfg.NodeID {
			return true
		}
	}
	return false
}

// identity is the node identity file: a data directory belongs to one node.
type identity struct {
	NodeID string `json:"node_id"`
}

func checkIdentity(dir, id string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data dir %s: %w", dir, err)
	}
	p := filepath.Join(dir, "node.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		b, _ = json.Marshal(identity{NodeID: id})
		return writeFileAtomic(p, b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	var idn identity
	if err := json.Unmarshal(b, &idn); err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if idn.NodeID != id {
		return fmt.Errorf("--node-id %q does not match node %q whose data is in %s", id, idn.NodeID, dir)
	}
	return nil
}

// ReadIdentity returns the node ID that owns a data directory.
func ReadIdentity(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if err != nil {
		return "", fmt.Errorf("reading node identity: %w", err)
	}
	var idn identity
	if err := json.Unmarshal(b, &idn); err != nil {
		return "", fmt.Errorf("reading node identity: %w", err)
	}
	return idn.NodeID, nil
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", path, err)
	}
	return nil
}
