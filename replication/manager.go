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
	"time"

	"github.com/tandemcc/tandem/command"
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
}

// Manager runs the node's replication: it feeds the buffer from committed
// events (it is a cluster.EventSink), delivers from it on the leader,
// releases delivered data on followers, raises fill alarms and carries out
// the administration commands.
type Manager struct {
	cfg Config
	log *slog.Logger
	buf *buffer.Buffer

	mu        sync.Mutex
	st        stateFile
	cons      map[string]*buffer.Consumer
	leader    bool
	term      uint64 // Raft term this node was last polled leading in
	alarms    Alarms
	lastAlarm *Alarm
	lastErr   map[string]string
	delivered map[string]command.Position
	wake      chan struct{} // closed and replaced on every state or leader change
	overflow  time.Time     // last overflow log line

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
	st, err := loadState(filepath.Join(cfg.Dir, "state.json"))
	if err != nil {
		return nil, err
	}
	buf, err := buffer.Open(filepath.Join(cfg.Dir, "buffer"), buffer.Options{
		MaxBytes: cfg.BufferSize, Consumers: names, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening replication buffer: %w", err)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "replication"), buf: buf, st: st,
		cons: map[string]*buffer.Consumer{}, lastErr: map[string]string{},
		delivered: map[string]command.Position{}, wake: make(chan struct{})}
	for _, n := range names {
		c, err := buf.Consumer(n)
		if err != nil {
			buf.Close()
			return nil, err
		}
		m.cons[n] = c
		if _, ok := m.st.Targets[n]; !ok {
			m.st.Targets[n] = targetState{State: Active, Since: cfg.Now()}
		}
	}
	if err := m.save(); err != nil {
		buf.Close()
		return nil, err
	}
	return m, nil
}

// Start runs a delivery loop per target and the alarm clock.
func (m *Manager) Start() {
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for n := range m.cons {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.run(m.ctx, n)
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
	return m.buf.Close()
}

// Publish implements cluster.EventSink: it appends committed events to the
// buffer. It never waits for a target.
func (m *Manager) Publish(events []command.Event) {
	if len(m.cons) == 0 || len(events) == 0 {
		return
	}
	if err := m.buf.Append(events...); err != nil {
		m.mu.Lock()
		now := m.cfg.Now()
		loud := now.Sub(m.overflow) >= time.Minute
		if loud {
			m.overflow = now
		}
		m.mu.Unlock()
		if loud {
			m.log.Error("replication buffer refused events; targets behind it will need a sync",
				"err", err, "first_index", events[0].Index, "events", len(events))
		}
	}
}

// Sync implements cluster.EventSink.
func (m *Manager) Sync() error { return m.buf.Sync() }

// SetLeader tells the manager whether this node leads. Only the leader
// delivers. A new leader restarts reporting replication that was suspended
// or stopped (replication.md); auto-stopped replication stays stopped.
func (m *Manager) SetLeader(leader bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if leader == m.leader {
		return
	}
	m.leader = leader
	if leader {
		if ts, ok := m.st.Targets[Reporting]; ok && (ts.State == Suspended || ts.State == Stopped) {
			if ts.State == Stopped {
				// Resume from the cursor; the buffer flags a gap if it
				// reclaimed data meanwhile (status then says needs_sync).
				if err := m.cons[Reporting].Attach(); err != nil {
					m.log.Error("restarting reporting replication after failover", "err", err)
					return
				}
			}
			m.log.Warn("failover: restarting reporting replication on the new leader", "was", ts.State)
			ts.State, ts.Reason, ts.Since, ts.Rate = Active, "restarted by failover", m.cfg.Now(), 0
			m.st.Targets[Reporting] = ts
			m.saveLocked()
		}
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

func (m *Manager) save() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saveLocked()
}

func (m *Manager) saveLocked() error {
	if err := saveState(filepath.Join(m.cfg.Dir, "state.json"), m.st); err != nil {
		m.log.Error("saving replication state", "err", err)
		return err
	}
	return nil
}

// Tick evaluates the fill alarms at now and stops what they say.
func (m *Manager) Tick(now time.Time) {
	stats := m.buf.Stats()
	m.mu.Lock()
	pending := map[string]float64{}
	for _, cs := range stats.Consumers {
		if ts, ok := m.st.Targets[cs.Name]; ok && (ts.State == Active || ts.State == Suspended) {
			pending[cs.Name] = cs.Percent
		}
	}
	al, ok := m.alarms.Evaluate(now, stats.Percent, pending, len(m.cons))
	if !ok {
		m.mu.Unlock()
		return
	}
	for _, t := range al.Stop {
		m.autoStopLocked(t, fmt.Sprintf("buffer %.1f%% full", al.Percent))
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

func (m *Manager) autoStopLocked(name, reason string) {
	ts, ok := m.st.Targets[name]
	if !ok || ts.State == AutoStopped || ts.State == Stopped || ts.State == Shutdown {
		return
	}
	if err := m.cons[name].Detach(); err != nil {
		m.log.Error("detaching auto-stopped replication", "target", name, "err", err)
	}
	ts.State, ts.Reason, ts.Since, ts.NeedsSync, ts.Rate = AutoStopped, reason, m.cfg.Now(), true, 0
	m.st.Targets[name] = ts
	m.saveLocked()
	m.signalLocked()
	m.log.Error("replication auto-stopped; shut down and restart it by hand after fixing the cause",
		"target", name, "reason", reason)
}
