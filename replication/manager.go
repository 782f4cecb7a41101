package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/archive"
	"github.com/tandemcc/tandem/replication/buffer"
)

// Target is where one replication type delivers.
type Target interface {
	// Deliver writes a batch in stream order and returns the target's
	// delivery position afterwards (at-least-once in, exactly-once stored).
	Deliver(ctx context.Context, events []command.Event) (command.Position, error)
	// LastDelivered returns the target's delivery position. Followers use
	// it to release what the leader has delivered.
	LastDelivered(ctx context.Context) (command.Position, error)
	// Diagnose runs the checks of a diagnostic file and renders them.
	Diagnose(ctx context.Context) (report string, err error)
}

// Config configures a Manager.
type Config struct {
	Dir        string // <data-dir>/replication; the buffer lives in Dir/buffer
	BufferSize int64  // bytes; 0 = buffer.DefaultMaxBytes
	Targets    map[string]Target
	Now        func() time.Time
	Logger     *slog.Logger
	// OnAlarm receives every fill message (for SNMP traps and metrics).
	OnAlarm func(Alarm)
	// ClockCheck returns an error when this node's clock is more than 2 s
	// off the leader's; administration commands then refuse.
	ClockCheck func() error
	// BatchSize bounds the events per delivery; 0 = 1000.
	BatchSize int
	// TrackEvery is how often a follower asks a target how far the leader
	// delivered; 0 = 2 s.
	TrackEvery time.Duration
	// IsLeader, when set, is polled every second as a backstop to
	// SetLeader (leadership observations may be dropped under load).
	IsLeader func() bool
	// LeaderTerm, when set, returns the current Raft term. A node polled
	// as leader in a new term lost and regained leadership in between,
	// which counts as a failover even when the poll missed it.
	LeaderTerm func() uint64
	// HistoryRetention is how long the cluster keeps history until the
	// cluster's daily maintenance says otherwise (Maintain): the event
	// archive (Dir/archive) drops older months, and a reporting sync warns
	// when the reporting database keeps less. 0 keeps everything.
	HistoryRetention time.Duration
	// Control is the cluster's replication states, the machine every
	// node registers with its FSM (control.go). nil: a machine of the
	// manager's own, for a node whose states nothing else commits (tests).
	Control *Control
	// Cluster commits the state commands (administration, auto-stop,
	// sync done) and waits until this node applied them. Required for
	// those commands; nil refuses them.
	Cluster Cluster
	// Retention, when set, is the cluster's configured history retention
	// for events (the engine's settings): the archive is then pruned by
	// the daily maintenance (Maintain), not hourly by HistoryRetention,
	// and a reporting sync compares the database's retention against it.
	Retention func() time.Duration
	// WriteFault is a test seam: when set, it is called with the path
	// before each write that needs new disk space (buffer, archive,
	// state, sync progress and diagnostic files), and a non-nil error
	// fails that write as the disk would (e.g. syscall.ENOSPC). nil in
	// production.
	WriteFault func(path string) error
}

// Cluster is what the manager needs of the node's cluster store.
type Cluster interface {
	Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	WaitApplied(ctx context.Context, index uint64) error
}

// Manager runs the node's replication: it feeds the buffer from committed
// events (it is a cluster.EventSink), delivers from it on the leader,
// releases delivered data on followers, raises fill alarms and carries out
// the administration commands.
type Manager struct {
	cfg Config
	log *slog.Logger
	buf *buffer.Buffer
	arc *archive.Archive // every committed event, for `replication sync`

	ctl     *Control                 // the replicated states (cluster state)
	legacy  stateFile                // states this node kept before they were cluster state, to adopt
	adopted bool                     // the legacy states were proposed (or there were none)
	stops   map[string]TargetCommand // auto-stops decided, until committed

	mu        sync.Mutex
	cons      map[string]*buffer.Consumer
	leader    bool
	term      uint64 // Raft term this node was last polled leading in
	alarms    Alarms
	lastAlarm *Alarm
	lastErr   map[string]string
	delivered map[string]command.Position
	wake      chan struct{}          // closed and replaced on every state or leader change
	overflow  time.Time              // last overflow log line
	arcErr    time.Time              // last archive failure log line
	pruned    time.Time              // last archive prune
	started   bool                   // Start ran: a Restore now is a snapshot installed from the leader
	space     map[string]*spaceState // writes that failed for lack of disk space, by store
	spaceBad  atomic.Bool            // some store is out of space: Publish checks for recovery
	jobs      syncFile               // sync jobs, persisted in Dir/sync.json

	// The automatic administration-data sync of reporting (adminsync.go):
	// adminKick (nil without one) asks for it at each activation.
	adminKick    chan struct{}
	seenState    State // reporting's state when last looked at, to see it become active
	autoAdminSt  *AdminSyncStatus
	adminBackoff func(attempt int) time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrUnknownTarget names a target that is not configured on this node.
var ErrUnknownTarget = errors.New("unknown replication target")

// Open opens the buffer and the saved states. Start begins delivery.
func Open(cfg Config) (*Manager, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.TrackEvery <= 0 {
		cfg.TrackEvery = 2 * time.Second
	}
	if cfg.ClockCheck == nil {
		cfg.ClockCheck = func() error { return nil }
	}
	// Refuse a buffer that cannot fit before creating anything.
	if err := buffer.CheckSpace(filepath.Join(cfg.Dir, "buffer"), cfg.BufferSize, nil); err != nil {
		return nil, fmt.Errorf("replication buffer size: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating replication dir: %w", err)
	}
	names := make([]string, 0, len(cfg.Targets))
	for n := range cfg.Targets {
		if n != Reporting && n != Standby {
			return nil, fmt.Errorf("%w %q", ErrUnknownTarget, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	// The states are cluster state now; a state file of an earlier build
	// is adopted once (its non-active states) by the first leader.
	legacy, err := loadState(filepath.Join(cfg.Dir, "state.json"))
	if err != nil {
		return nil, err
	}
	if cfg.Control == nil {
		cfg.Control = NewControl()
	}
	jobs, err := loadJobs(filepath.Join(cfg.Dir, syncFileName))
	if err != nil {
		return nil, err
	}
	buf, err := buffer.Open(filepath.Join(cfg.Dir, "buffer"), buffer.Options{
		MaxBytes: cfg.BufferSize, Consumers: names, Logger: cfg.Logger, WriteFault: cfg.WriteFault,
	})
	if err != nil {
		return nil, fmt.Errorf("opening replication buffer: %w", err)
	}
	arc, err := archive.Open(filepath.Join(cfg.Dir, "archive"), archive.Options{
		Retention: cfg.HistoryRetention, Logger: cfg.Logger, WriteFault: cfg.WriteFault,
	})
	if err != nil {
		buf.Close()
		return nil, fmt.Errorf("opening replication archive: %w", err)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "replication"), buf: buf, arc: arc,
		ctl: cfg.Control, legacy: legacy, stops: map[string]TargetCommand{},
		cons: map[string]*buffer.Consumer{}, lastErr: map[string]string{}, space: map[string]*spaceState{},
		delivered: map[string]command.Position{}, wake: make(chan struct{}), jobs: jobs,
		adminBackoff: defaultAdminBackoff}
	if canSyncAdmin(cfg.Targets[Reporting]) {
		m.adminKick = make(chan struct{}, 1)
	}
	m.recoverJobs()
	for _, n := range names {
		c, err := buf.Consumer(n)
		if err != nil {
			buf.Close()
			arc.Close()
			return nil, err
		}
		m.cons[n] = c
	}
	m.adopted = !m.legacyToAdopt()
	return m, nil
}

// Start runs a delivery loop per target and the alarm clock.
func (m *Manager) Start() {
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	m.reconcile()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for n := range m.cons {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.run(m.ctx, n)
		}()
	}
	if m.adminKick != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.autoAdmin(m.ctx)
		}()
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-t.C:
				if m.cfg.IsLeader != nil {
					m.pollLeader()
				}
				m.Tick(m.cfg.Now())
				m.commitPending(m.ctx)
			}
		}
	}()
}

// Close stops delivery and closes the buffer (making it durable).
func (m *Manager) Close() error {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	err := m.buf.Close()
	if aerr := m.arc.Close(); aerr != nil && err == nil {
		err = fmt.Errorf("closing replication archive: %w", aerr)
	}
	return err
}

// Publish implements cluster.EventSink: it appends committed events to the
// buffer. It never waits for a target.
//
// Every event (but the standby's command records) also goes to the
// node's event archive, the history a `replication sync` re-sends.
//
// A disk without space never stops the node: what the buffer could not
// store becomes a gap record there (targets behind it stop at it with
// needs_sync), what the archive could not store a hole, and a log line
// (once a minute) and the status field no_space say so (DESIGN.md,
// "Disk full").
//
// The events of the replication states (control.go) are also carried out
// here, on every node in log order: a restart clears the buffer where it
// stands in the stream, a state change attaches or detaches consumers.
func (m *Manager) Publish(events []command.Event) { m.publish(events, controlEvents(events)) }

// controlEvents picks the events of the replication states.
func controlEvents(events []command.Event) []command.Event {
	var out []command.Event
	for i := range events {
		if isControl(&events[i]) {
			out = append(out, events[i])
		}
	}
	return out
}

// publish archives and buffers events; control are the batch's events of
// the replication states, which events may lack (a node with only a
// standby target buffers command records alone).
func (m *Manager) publish(events, control []command.Event) {
	if len(events) == 0 && len(control) == 0 {
		return
	}
	if rows, _ := withoutCommandRecords(events); len(rows) > 0 {
		err := m.arc.Append(rows...)
		m.noteSpace(storeArchive, m.arc.Dir(), err, rows)
		if err != nil && !archive.IsNoSpace(err) {
			if m.oncePerMinute(&m.arcErr) {
				m.log.Error("replication archive refused events; a later sync cannot re-send them from this node",
					"err", err, "first_index", events[0].Index, "events", len(events))
			}
		}
	}
	if len(m.cons) == 0 {
		return
	}
	m.publishBuffered(events, control)
}

// appendBuffer appends to the buffer; a full disk or an overflow becomes
// a gap record there, and a log line.
func (m *Manager) appendBuffer(events []command.Event) {
	if len(events) == 0 {
		return
	}
	err := m.buf.Append(events...)
	m.noteSpace(storeBuffer, m.buf.Dir(), err, events)
	if err != nil && !buffer.IsNoSpace(err) {
		if m.oncePerMinute(&m.overflow) {
			m.log.Error("replication buffer refused events; targets behind it will need a sync",
				"err", err, "first_index", events[0].Index, "events", len(events))
		}
	}
}

// oncePerMinute rate-limits a log line: it reports whether a minute has
// passed since *last and, if so, moves *last to now.
func (m *Manager) oncePerMinute(last *time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if now.Sub(*last) < time.Minute {
		return false
	}
	*last = now
	return true
}

// Sync implements cluster.EventSink: the buffer and the archive are made
// durable before a Raft snapshot is persisted. While a gap (or hole) lost
// for lack of space cannot be written, Sync fails: the snapshot waits and
// Raft keeps the log, which a restart would replay.
func (m *Manager) Sync() error {
	if err := m.buf.Sync(); err != nil {
		if buffer.IsNoSpace(err) {
			return fmt.Errorf("no space left on %s: the Raft snapshot waits until space is freed: %w", m.buf.Dir(), err)
		}
		return err
	}
	if err := m.arc.Sync(); err != nil {
		if archive.IsNoSpace(err) {
			return fmt.Errorf("no space left on %s: the Raft snapshot waits until space is freed: %w", m.arc.Dir(), err)
		}
		return fmt.Errorf("syncing replication archive: %w", err)
	}
	return nil
}

// The stores that can run out of space.
const (
	storeBuffer  = "buffer"
	storeArchive = "archive"
)

// spaceState is one store's lack of space, as Publish saw it.
type spaceState struct {
	path        string
	full        bool      // the last write failed for lack of space
	since       time.Time // first failure of the current (or last) episode
	until       time.Time // when space came back (zero while full)
	first, last uint64    // indexes lost in that episode
	logged      time.Time // last log line (once a minute)
}

// noteSpace records the outcome of a write to a store: a failure for lack
// of space starts or extends an episode (logged once a minute); the first
// success after it ends it.
func (m *Manager) noteSpace(store, dir string, err error, evs []command.Event) {
	nospace := err != nil && (buffer.IsNoSpace(err) || archive.IsNoSpace(err))
	if !nospace && !m.spaceBad.Load() {
		return
	}
	m.mu.Lock()
	s := m.space[store]
	now := m.cfg.Now()
	if !nospace {
		recovered := s != nil && s.full && err == nil
		var first, last uint64
		if recovered {
			s.full, s.until = false, now
			first, last = s.first, s.last
		}
		still := false
		for _, x := range m.space {
			still = still || x.full
		}
		m.spaceBad.Store(still)
		m.mu.Unlock()
		if recovered {
			m.log.Warn(fmt.Sprintf("space again on %s: the events lost meanwhile (index %d to %d) are recorded as a %s; %s",
				dir, first, last, map[string]string{storeBuffer: "gap", storeArchive: "hole"}[store], spaceAdvice(store)),
				"alarm", "replication_no_space", "store", store, "path", dir)
		}
		return
	}
	if s == nil {
		s = &spaceState{path: dir}
		m.space[store] = s
	}
	if !s.full {
		s.full, s.since, s.until, s.first = true, now, time.Time{}, evs[0].Index
	}
	s.last = evs[len(evs)-1].Index
	m.spaceBad.Store(true)
	loud := s.logged.IsZero() || now.Sub(s.logged) >= time.Minute || now.Before(s.logged)
	if loud {
		s.logged = now
	}
	first, last := s.first, s.last
	m.mu.Unlock()
	if !loud {
		return
	}
	what := "stored in the replication buffer"
	if store == storeArchive {
		what = "archived"
	}
	m.log.Error(fmt.Sprintf("no space left on %s: events from index %d to %d were not %s; %s", dir, first, last, what, spaceAdvice(store)),
		"alarm", "replication_no_space", "store", store, "path", dir, "first_index", first, "last_index", evs[len(evs)-1].Index,
		"err", oneLine(err))
}

// gapReason says why a target met a gap in the buffer (its auto-stop
// reason).
func (m *Manager) gapReason() string {
	if m.buf.Stats().NoSpaceEvents > 0 {
		return fmt.Sprintf("events were dropped from the buffer (overflow, or no space left on %s); a sync is required", m.buf.Dir())
	}
	return "events were dropped from the buffer (overflow); a sync is required"
}

func spaceAdvice(store string) string {
	if store == storeArchive {
		return "a `replication sync` from this node cannot re-send them (sync from another node); free space"
	}
	return "targets that needed them stop there with needs_sync; free space, then run `tandemctl replication sync`"
}

// Restored implements cluster.RestoreSink. A snapshot restored before
// Start is the node's own (a restart): everything it covers was published
// and synced before it was persisted, so nothing is missing. After Start
// it was installed from the leader: this node never received the events
// of the entries between its last position and index, so the buffer
// records a gap (a target behind it needs its delivery position, or a
// sync, past it) and the archive a hole (a sync from this node cannot
// cover that range).
func (m *Manager) Restored(index uint64) {
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	if !started {
		return
	}
	last := command.EndOf(index)
	if bl := m.buf.Last(); len(m.cons) > 0 && bl.Index < index {
		first := command.Position{Index: bl.Index + 1}
		if err := m.buf.RecordGap(first, last, index-bl.Index); err != nil {
			m.log.Error("recording the gap of an installed snapshot in the replication buffer", "index", index, "err", err)
		} else {
			m.log.Warn("snapshot installed from the leader: this node has no events up to its index; targets behind it need the leader's delivery or a sync",
				"from_index", first.Index, "to_index", index)
		}
	}
	if al := m.arc.Last(); al.Index < index {
		if err := m.arc.RecordHole(command.Position{Index: al.Index + 1}, last, m.cfg.Now()); err != nil {
			m.log.Error("recording the hole of an installed snapshot in the replication archive", "index", index, "err", err)
		}
	}
	m.reconcile() // the states came with the snapshot
}

// SetLeader tells the manager whether this node leads. Only the leader
// delivers. The targets' states are cluster state: a new leader delivers
// what the cluster says (a suspended target stays suspended; DESIGN.md,
// "States are cluster state"). Becoming leader while reporting is active
// activates its delivery here, which synchronises the administration data
// (adminsync.go).
func (m *Manager) SetLeader(leader bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if leader == m.leader {
		return
	}
	m.leader = leader
	if leader {
		m.activatedLocked(true)
	}
	m.signalLocked()
}

// pollLeader applies the polled leadership. Leading in a term other than
// the one last seen means leadership was lost and regained between two
// polls: that is a new leadership too.
func (m *Manager) pollLeader() {
	leader := m.cfg.IsLeader()
	var term uint64
	if leader && m.cfg.LeaderTerm != nil {
		term = m.cfg.LeaderTerm()
	}
	m.mu.Lock()
	missed := leader && m.leader && term != 0 && m.term != 0 && term != m.term
	if leader && term != 0 {
		m.term = term
	}
	m.mu.Unlock()
	if missed {
		m.SetLeader(false)
	}
	m.SetLeader(leader)
}

func (m *Manager) signalLocked() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// Tick evaluates the fill alarms at now and stops what they say; once an
// hour it also prunes the archive by HistoryRetention, unless the
// cluster's retention rules (Config.Retention, then Maintain does).
func (m *Manager) Tick(now time.Time) {
	m.mu.Lock()
	prune := now.Sub(m.pruned) >= time.Hour || now.Before(m.pruned)
	if prune {
		m.pruned = now
	}
	m.mu.Unlock()
	if prune && m.cfg.Retention == nil {
		if _, err := m.arc.Prune(now); err != nil {
			m.log.Warn("pruning the replication archive", "err", err)
		}
	}
	stats := m.buf.Stats()
	m.mu.Lock()
	pending := map[string]float64{}
	var held []string
	for _, cs := range stats.Consumers {
		ts, _ := m.ctl.State(cs.Name)
		if ts.State == Active || ts.State == Suspended {
			pending[cs.Name] = cs.Percent
		}
		if ts.State == AutoStopped && ts.Held95 {
			held = append(held, cs.Name)
		}
	}
	al, ok := m.alarms.Evaluate(now, stats.Percent, pending, len(m.cons), held)
	if !ok {
		m.mu.Unlock()
		return
	}
	for _, t := range al.Stop {
		// The delivering leader decides; the stop is committed (outside
		// the lock, by commitPending) and every node detaches then.
		if m.leader {
			m.stops[t] = m.autoStopLocked(t, fmt.Sprintf("buffer %.1f%% full", al.Percent), al.Level == Level95)
		}
	}
	m.lastAlarm = &al
	m.mu.Unlock()
	switch al.Severity {
	case "error":
		m.log.Error(al.Message, "alarm", "replication_buffer", "alarm_level", al.Level.String(), "percent", al.Percent, "stopped", al.Stop)
	case "warning":
		m.log.Warn(al.Message, "alarm", "replication_buffer", "alarm_level", al.Level.String(), "percent", al.Percent, "stopped", al.Stop)
	default:
		m.log.Info(al.Message, "alarm", "replication_buffer", "alarm_level", al.Level.String(), "percent", al.Percent)
	}
	if m.cfg.OnAlarm != nil {
		m.cfg.OnAlarm(al)
	}
}

// autoStopLocked is the auto-stop of target name as this node decides
// it: what the target will miss runs from its cursor here to the buffer's
// end.
func (m *Manager) autoStopLocked(name, reason string, held95 bool) TargetCommand {
	return TargetCommand{Target: name, Reason: reason, Held95: held95,
		Missing: &Range{After: m.cons[name].Cursor(), UpTo: m.buf.Last()}}
}

// commitPending commits the auto-stops this node decided while it leads,
// retrying on the next tick those that did not commit.
func (m *Manager) commitPending(ctx context.Context) {
	m.mu.Lock()
	var todo []TargetCommand
	for _, n := range sortedNames(m.stops) {
		todo = append(todo, m.stops[n])
	}
	leader := m.leader
	m.mu.Unlock()
	if leader && !m.adopted {
		m.adoptLegacy(ctx)
	}
	for _, tc := range todo {
		if ts, _ := m.ctl.State(tc.Target); ts.State != Active && ts.State != Suspended || !leader {
			m.mu.Lock()
			delete(m.stops, tc.Target)
			m.mu.Unlock()
			continue
		}
		if _, err := m.commit(ctx, TypeAutoStop, tc); err != nil {
			m.log.Warn("committing an auto-stop; retrying", "target", tc.Target, "err", err)
			continue
		}
		m.mu.Lock()
		delete(m.stops, tc.Target)
		m.mu.Unlock()
		m.log.Error("replication auto-stopped; shut down and restart it by hand after fixing the cause",
			"target", tc.Target, "reason", tc.Reason)
	}
}

// Maintain carries out the cluster's daily data maintenance on this node
// (the engine's maintenance event, at the same log position on every
// node): the event archive keeps events for the cluster's period from now
// on, and the months older than it at at are removed now.
func (m *Manager) Maintain(at time.Time, events time.Duration) {
	m.arc.SetRetention(events)
	gone, err := m.arc.Prune(at)
	if err != nil {
		m.log.Warn("data maintenance: pruning the replication archive", "err", err)
		return
	}
	m.log.Info("data maintenance: event archive pruned", "retention_days", int(events/(24*time.Hour)), "months_removed", len(gone))
}

// retention is the cluster's history retention for events, what a
// reporting sync compares the database's against.
func (m *Manager) retention() time.Duration {
	if m.cfg.Retention != nil {
		return m.cfg.Retention()
	}
	return m.cfg.HistoryRetention
}
