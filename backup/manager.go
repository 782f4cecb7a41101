package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Results of a run.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Triggers of a run.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerApply    = "apply" // --backup-on-apply
)

// Result is one backup run: what status, /metrics, the log and OnResult
// report.
type Result struct {
	ID         string    `json:"id,omitempty"`
	Level      int       `json:"level"`
	Trigger    string    `json:"trigger"`
	Time       time.Time `json:"time"` // when the run started
	Index      uint64    `json:"index,omitempty"`
	Term       uint64    `json:"term,omitempty"`
	Size       int64     `json:"size"`
	DurationMS int64     `json:"duration_ms"`
	Result     string    `json:"result"` // ok, failed, skipped
	Error      string    `json:"error,omitempty"`
	Note       string    `json:"note,omitempty"`
}

// Config configures a node's backups.
type Config struct {
	Settings
	NodeID string
	// DataDir is the node's data directory: the admin token is read from
	// it, and the schedules' state is kept in <DataDir>/backup.
	DataDir string
	Source  Source
	Logger  *slog.Logger
	Clock   Clock // nil: the real clock
	// Journal, when set, is the node's command journal, a sink of its
	// FSM (OpenJournal): incrementals are read from it, and each full
	// backup rebases it. Without it incrementals read the Raft log.
	Journal *Journal
	// ApplyTypes are the command types after which Settings.OnApply
	// takes an incremental (the engine's configuration apply).
	ApplyTypes []string
	// OnResult, when set, hears every run's result (ok, failed or
	// skipped), outside any lock; the SNMP agent raises a trap for a
	// failed one.
	OnResult func(Result)
}

// Manager takes this node's backups: on its schedules and on demand, one
// at a time.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	clock Clock

	saveMu sync.Mutex      // one writer of the state file at a time
	ctx    context.Context // manual backups run until it ends (Run's)

	mu      sync.Mutex
	job     *job // the running or last job
	jobSeq  int64
	st      persisted
	missed  []Missed
	skipped *Result
	next    map[int]time.Time
	counts  map[counterKey]uint64
	missedN map[int]uint64
}

type counterKey struct {
	level  int
	result string
}

// maxMissed bounds the missed-run reports status keeps.
const maxMissed = 20

func (m *Manager) addMissed(x Missed) {
	m.missedN[x.Level] += uint64(x.Count)
	m.missed = append(m.missed, x)
	if len(m.missed) > maxMissed {
		m.missed = m.missed[len(m.missed)-maxMissed:]
	}
}

// Missed reports scheduled runs that did not happen: the node was down,
// or its clock jumped past them.
type Missed struct {
	Level int       `json:"level"`
	Count int       `json:"count"`
	Last  time.Time `json:"last"` // the last of them
	Why   string    `json:"why"`
}

// New checks cfg and returns a Manager; Run starts its schedules.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("backup: no backup directory")
	}
	if cfg.NodeID == "" || cfg.Source == nil {
		return nil, errors.New("backup: node id and source are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "backup"), clock: cfg.Clock,
		next: map[int]time.Time{}, counts: map[counterKey]uint64{}, missedN: map[int]uint64{}}
	if err := checkDir(cfg.Dir); err != nil {
		return nil, err
	}
	st, err := loadState(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m.st = st
	m.ctx = context.Background()
	return m, nil
}

// checkDir makes sure the backup directory exists (creating it) and can
// be written, so that a wrong --backup-dir fails at start, not at the
// first scheduled backup.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--backup-dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return fmt.Errorf("--backup-dir: %s cannot be written: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Dir is the backup directory.
func (m *Manager) Dir() string { return m.cfg.Dir }

// Key is the backup key (nil: backups are not encrypted).
func (m *Manager) Key() *Key { return m.cfg.Key }

// job is one backup run and its progress.
type job struct {
	id      int64
	level   int
	trigger string
	started time.Time
	p       progress
	done    chan struct{}
	res     *Result
}

// JobStatus is a backup run as `tandemctl backup now` follows it.
type JobStatus struct {
	ID      int64     `json:"id"`
	Level   int       `json:"level"`
	Trigger string    `json:"trigger"`
	Started time.Time `json:"started"`
	State   string    `json:"state"` // running, done, failed
	Phase   string    `json:"phase,omitempty"`
	Done    int64     `json:"done"`
	Total   int64     `json:"total"`
	Percent float64   `json:"percent"`
	Result  *Result   `json:"result,omitempty"`
	Message string    `json:"message"`
}

func (j *job) status() JobStatus {
	s := JobStatus{ID: j.id, Level: j.level, Trigger: j.trigger, Started: j.started, State: "running",
		Done: j.p.done.Load(), Total: j.p.total.Load()}
	s.Phase, _ = j.p.phase.Load().(string)
	if s.Total > 0 {
		s.Percent = min(100, float64(s.Done)*100/float64(s.Total))
	}
	s.Message = fmt.Sprintf("%s backup running: %s", levelName(j.level), s.Phase)
	if r := j.res; r != nil {
		s.Result, s.Phase = r, ""
		switch r.Result {
		case ResultOK:
			s.State, s.Percent = "done", 100
			s.Message = fmt.Sprintf("%s backup %s taken at index %d (%s)", levelName(r.Level), r.ID, r.Index, sizeText(r.Size))
			if r.Note != "" {
				s.Message += "; " + r.Note
			}
		default:
			s.State = "failed"
			s.Message = fmt.Sprintf("%s backup failed: %s", levelName(r.Level), r.Error)
		}
	}
	return s
}

func levelName(level int) string {
	if level == Full {
		return "full"
	}
	return "incremental"
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ErrRunning refuses a backup while another runs on the node.
var ErrRunning = errors.New("a backup is already running on this node")

// begin claims the node for a backup run.
func (m *Manager) begin(level int, trigger string) (*job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j := m.job; j != nil && j.res == nil {
		return nil, fmt.Errorf("%w (%s, started %s by %s)", ErrRunning, levelName(j.level), j.started.UTC().Format(time.RFC3339), j.trigger)
	}
	m.jobSeq++
	j := &job{id: m.jobSeq, level: level, trigger: trigger, started: m.clock.Now(), done: make(chan struct{})}
	m.job = j
	return j, nil
}

// Now starts a backup of level on demand and returns at once; Job
// follows it.
func (m *Manager) Now(level int) (JobStatus, error) {
	if level != Full && level != Incremental {
		return JobStatus{}, fmt.Errorf("level must be 0 (full) or 1 (incremental), not %d", level)
	}
	j, err := m.begin(level, TriggerManual)
	if err != nil {
		return JobStatus{}, err
	}
	m.mu.Lock()
	st := j.status()
	m.mu.Unlock()
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	go m.run(ctx, j)
	return st, nil
}

// Take runs a backup of level now and waits for its result.
func (m *Manager) Take(ctx context.Context, level int) (Result, error) {
	if level != Full && level != Incremental {
		return Result{}, fmt.Errorf("level must be 0 (full) or 1 (incremental), not %d", level)
	}
	j, err := m.begin(level, TriggerManual)
	if err != nil {
		return Result{}, err
	}
	m.run(ctx, j)
	return *j.res, nil
}

// Job is the running or last backup run's status; false when none ran.
func (m *Manager) Job() (JobStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.job == nil {
		return JobStatus{}, false
	}
	return m.job.status(), true
}

// run takes the backup of j. A panic in it is a failed run: it never
// stops the schedules or leaves the node claimed.
func (m *Manager) run(ctx context.Context, j *job) {
	res := Result{Level: j.level, Trigger: j.trigger, Time: j.started.UTC()}
	func() {
		defer func() {
			if p := recover(); p != nil {
				m.log.Error("backup run panicked", "level", j.level, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				res.Result, res.Error = ResultFailed, fmt.Sprintf("panic: %v", p)
			}
		}()
		w := &writer{dir: m.cfg.Dir, node: m.cfg.NodeID, key: m.cfg.Key, src: m.cfg.Source, now: m.clock.Now, p: &j.p,
			token: m.adminToken, journal: m.cfg.Journal, dataDir: m.cfg.DataDir}
		man, err := w.take(ctx, j.level)
		if err != nil {
			res.Result, res.Error = ResultFailed, err.Error()
			return
		}
		res.Result, res.ID, res.Level, res.Index, res.Term, res.Size, res.Note = ResultOK, man.ID, man.Level, man.Index, man.Term, man.Size, man.Note
		if man.Level == Full && m.cfg.KeepFull > 0 {
			if err := m.retain(); err != nil {
				m.log.Warn("backup retention failed", "err", err)
			}
		}
	}()
	res.DurationMS = m.clock.Now().Sub(j.started).Milliseconds()
	m.finish(j, res)
}

// finish records res as j's result: status, state file, counters, log
// and OnResult.
func (m *Manager) finish(j *job, res Result) {
	m.mu.Lock()
	if j != nil {
		j.res = &res
		close(j.done)
	}
	m.counts[counterKey{res.Level, res.Result}]++
	switch {
	case res.Result == ResultSkipped:
		m.skipped = &res
	case res.Level == Full:
		m.st.LastFull = &res
	default:
		m.st.LastIncremental = &res
	}
	m.mu.Unlock()
	if err := m.save(); err != nil {
		m.log.Warn("recording the backup result", "err", err)
	}
	switch res.Result {
	case ResultOK:
		args := []any{"id", res.ID, "level", res.Level, "trigger", res.Trigger, "index", res.Index, "size", res.Size, "duration_ms", res.DurationMS}
		if res.Note != "" {
			args = append(args, "note", res.Note)
		}
		m.log.Info("backup taken", args...)
	case ResultSkipped:
		m.log.Warn("scheduled backup skipped", "level", res.Level, "why", res.Error)
	default:
		m.log.Error("backup failed", "level", res.Level, "trigger", res.Trigger, "err", res.Error)
	}
	if m.cfg.OnResult != nil {
		m.cfg.OnResult(res)
	}
}

// save writes the state file from a copy taken under the lock.
func (m *Manager) save() error {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	st := m.st
	st.LastDue = make(map[string]time.Time, len(m.st.LastDue))
	for k, v := range m.st.LastDue {
		st.LastDue[k] = v
	}
	m.mu.Unlock()
	return saveState(m.cfg.DataDir, st)
}

// adminToken is the node's admin token, which a full backup keeps (a
// replacing node needs it to speak to its cluster).
func (m *Manager) adminToken() []byte {
	if m.cfg.DataDir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(m.cfg.DataDir, "admin.token"))
	if err != nil {
		return nil
	}
	return b
}

// Run reports missed runs, clears what crashed runs left, then runs the
// schedules until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	m.clearStale()
	if m.cfg.OnApply && m.cfg.Journal != nil && len(m.cfg.ApplyTypes) > 0 {
		go m.onApply(ctx)
	}
	scheds := m.schedules()
	if len(scheds) == 0 {
		return
	}
	now := m.clock.Now()
	m.mu.Lock()
	for level, s := range scheds {
		last := m.st.LastDue[levelName(level)]
		if !last.IsZero() {
			if n, at := s.dueBetween(last, now, 100000); n > 0 {
				m.addMissed(Missed{Level: level, Count: n, Last: at, Why: "the node was down"})
				m.log.Warn("scheduled backups were missed while the node was down", "level", level, "count", n, "last", at.UTC())
			}
		}
		m.next[level] = s.Next(now)
	}
	m.mu.Unlock()
	for {
		m.mu.Lock()
		var wake time.Time
		for _, t := range m.next {
			if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
				wake = t
			}
		}
		m.mu.Unlock()
		if wake.IsZero() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(wake.Sub(m.clock.Now())):
		}
		m.tick(ctx, scheds, m.clock.Now())
	}
}

func (m *Manager) schedules() map[int]*Schedule {
	out := map[int]*Schedule{}
	if m.cfg.Full != nil {
		out[Full] = m.cfg.Full
	}
	if m.cfg.Incremental != nil {
		out[Incremental] = m.cfg.Incremental
	}
	return out
}

// tick fires the schedules due at now. A full and an incremental due at
// once run as the full alone; due times the clock jumped past are
// reported missed.
func (m *Manager) tick(ctx context.Context, scheds map[int]*Schedule, now time.Time) {
	m.mu.Lock()
	var due []int
	for _, level := range []int{Full, Incremental} {
		s, ok := scheds[level]
		t := m.next[level]
		if !ok || t.IsZero() || t.After(now) {
			continue
		}
		if n, at := s.dueBetween(t, now, 100000); n > 0 {
			m.addMissed(Missed{Level: level, Count: n, Last: at, Why: "the clock jumped past them"})
			m.log.Warn("scheduled backups were missed: the clock jumped past them", "level", level, "count", n, "last", at.UTC())
		}
		if m.st.LastDue == nil {
			m.st.LastDue = map[string]time.Time{}
		}
		m.st.LastDue[levelName(level)] = now
		m.next[level] = s.Next(now)
		due = append(due, level)
	}
	m.mu.Unlock()
	if len(due) == 0 {
		return
	}
	if err := m.save(); err != nil {
		m.log.Warn("recording the backup schedule", "err", err)
	}
	level := due[0] // Full before Incremental
	j, err := m.begin(level, TriggerSchedule)
	if err != nil {
		m.finish(nil, Result{Level: level, Trigger: TriggerSchedule, Time: now.UTC(), Result: ResultSkipped,
			Error: "the previous run had not finished: " + strings.TrimPrefix(err.Error(), ErrRunning.Error()+" ")})
		return
	}
	go m.run(ctx, j)
}

// clearStale removes what runs of this node that crashed left: a
// temporary backup directory (never a complete backup) or one being
// deleted.
func (m *Manager) clearStale() {
	des, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		for _, p := range []string{tmpPrefix, delPrefix} {
			id, ok := strings.CutPrefix(name, p)
			if ok && ValidID(id) && strings.Contains(id, "-"+m.cfg.NodeID+"-") && m.idle() {
				if err := os.RemoveAll(filepath.Join(m.cfg.Dir, name)); err == nil {
					m.log.Info("removed an incomplete backup left by an earlier run", "dir", name)
				}
			}
		}
	}
}

func (m *Manager) idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.job == nil || m.job.res != nil
}

// Status is the backup section of `tandemctl status`.
type Status struct {
	LastFull        *Result    `json:"last_full"`
	LastIncremental *Result    `json:"last_incremental"`
	Dir             string     `json:"dir,omitempty"`
	Encrypted       bool       `json:"encrypted"`
	Schedule        *Schedules `json:"schedule,omitempty"`
	Running         *JobStatus `json:"running,omitempty"`
	LastSkipped     *Result    `json:"last_skipped,omitempty"`
	Missed          []Missed   `json:"missed,omitempty"`
	// Journal is the command journal incrementals are read from.
	Journal *JournalStatus `json:"journal,omitempty"`
}

// Schedules are the configured schedules and when they are next due.
type Schedules struct {
	Full            string     `json:"full,omitempty"`
	Incremental     string     `json:"incremental,omitempty"`
	Timezone        string     `json:"timezone"`
	NextFull        *time.Time `json:"next_full,omitempty"`
	NextIncremental *time.Time `json:"next_incremental,omitempty"`
	KeepFull        int        `json:"keep_full,omitempty"`
}

// Status reports the last runs, the schedules and a running backup.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{LastFull: m.st.LastFull, LastIncremental: m.st.LastIncremental, Dir: m.cfg.Dir,
		Encrypted: m.cfg.Key != nil, LastSkipped: m.skipped, Missed: append([]Missed(nil), m.missed...)}
	if m.cfg.Full != nil || m.cfg.Incremental != nil {
		sc := &Schedules{Timezone: m.cfg.Location.String(), KeepFull: m.cfg.KeepFull}
		if m.cfg.Full != nil {
			sc.Full = m.cfg.Full.String()
		}
		if m.cfg.Incremental != nil {
			sc.Incremental = m.cfg.Incremental.String()
		}
		if t, ok := m.next[Full]; ok && !t.IsZero() {
			sc.NextFull = &t
		}
		if t, ok := m.next[Incremental]; ok && !t.IsZero() {
			sc.NextIncremental = &t
		}
		s.Schedule = sc
	}
	if j := m.job; j != nil && j.res == nil {
		js := j.status()
		s.Running = &js
	}
	if m.cfg.Journal != nil {
		js := m.cfg.Journal.Status()
		s.Journal = &js
	}
	return s
}

// Counts are the runs per level and result since start.
func (m *Manager) Counts() map[int]map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]map[string]uint64{Full: {}, Incremental: {}}
	for _, l := range []int{Full, Incremental} {
		for _, r := range []string{ResultOK, ResultFailed, ResultSkipped} {
			out[l][r] = m.counts[counterKey{l, r}]
		}
	}
	return out
}

// MissedCount is how many scheduled runs of level were missed.
func (m *Manager) MissedCount(level int) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.missedN[level]
}

// List lists the backup directory.
func (m *Manager) List() (Listing, error) { return List(m.cfg.Dir) }

// Verify verifies backup id of the backup directory with this node's key.
func (m *Manager) Verify(ctx context.Context, id string) (*Report, error) {
	return Verify(ctx, m.cfg.Dir, id, m.cfg.Key)
}

// onApply takes an incremental after every configuration apply the
// journal records (--backup-on-apply), until ctx ends. Applies that come
// while one is taken are covered by one more; a backup already running
// is waited for, never skipped.
func (m *Manager) onApply(ctx context.Context) {
	ch := make(chan struct{}, 1)
	m.cfg.Journal.watch(m.cfg.ApplyTypes, ch)
	defer m.cfg.Journal.watch(nil, nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		for {
			j, err := m.begin(Incremental, TriggerApply)
			if err == nil {
				m.run(ctx, j)
				break
			}
			m.mu.Lock()
			var done chan struct{}
			if m.job != nil {
				done = m.job.done
			}
			m.mu.Unlock()
			if done == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-done:
			}
		}
	}
}
