package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/archive"
)

// AdminSyncer is implemented by a Target that can synchronise
// administration data with its remote end: `tandemctl replication sync
// --target standby|reporting --admin` (the standby's also carries the
// processing data: the whole engine state; reporting's is the names
// reports need, adminsync.go). progress reports how far it got (units are
// the target's).
type AdminSyncer interface {
	SyncAdmin(ctx context.Context, progress func(done, total int64)) error
}

// Backfiller is implemented by a Target that accepts re-sent history (a
// reporting sync): Backfill stores events idempotently, in any order,
// without moving the delivery position; RetentionWarnings says which of
// the target's retention periods are shorter than the cluster's.
type Backfiller interface {
	Backfill(ctx context.Context, events []command.Event) (int, error)
	RetentionWarnings(ctx context.Context, cluster time.Duration) ([]string, error)
}

// Sync modes.
const (
	SyncAdmin  = "admin"  // administration data (standby: and processing data)
	SyncRecent = "recent" // reporting: current and previous month
	SyncAll    = "all"    // reporting: all history in the archive
)

// Sync job states.
const (
	SyncRunning     = "running"
	SyncDone        = "done"
	SyncInterrupted = "interrupted" // --run-for elapsed, or the node stopped: --continue resumes
	SyncFailed      = "failed"      // the target refused or was unreachable: --continue resumes
)

// SyncRequest is `tandemctl replication sync`'s options.
type SyncRequest struct {
	Target   string
	Admin    bool
	Recent   bool
	All      bool
	Continue bool
	// RunFor bounds --all and --continue; required for them.
	RunFor time.Duration
}

// SyncProgress is a sync job: what the admin API reports and what
// --continue resumes, persisted in <Dir>/sync.json.
type SyncProgress struct {
	ID     int64  `json:"id"`
	Target string `json:"target"`
	Mode   string `json:"mode"`
	// Cluster names the cluster the sync is for (reporting: its
	// --reporting-cluster name, under which its rows are stored).
	Cluster  string    `json:"cluster,omitempty"`
	State    string    `json:"state"`
	Done     int64     `json:"done"`
	Total    int64     `json:"total"`
	Percent  float64   `json:"percent"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Finished time.Time `json:"finished,omitzero"`
	RunFor   string    `json:"run_for,omitempty"`
	// Runs counts the runs of this job (the first plus each --continue).
	Runs int `json:"runs"`
	// Written counts the events the target did not have yet.
	Written int64 `json:"written"`
	// Admin says what the administration-data step did: the whole job
	// of an admin sync, the first step of a full reporting sync.
	Admin string `json:"admin,omitempty"`
	// From is the position the covered range starts after; Until is its
	// last position, fixed when the job started. Cursor is where the
	// archive is read next.
	From   command.Position `json:"from"`
	Until  command.Position `json:"until"`
	Cursor archive.Cursor   `json:"cursor"`
	// Holes are ranges this node's archive lacks inside the range: a sync
	// from this node cannot cover them.
	Holes    []archive.Hole `json:"holes,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Error    string         `json:"error,omitempty"`
	Message  string         `json:"message,omitempty"`
}

type syncFile struct {
	Seq  int64                    `json:"seq"`
	Jobs map[string]*SyncProgress `json:"jobs"` // the last job per target
}

const syncFileName = "sync.json"

// syncBatch bounds one Backfill.
const (
	syncBatch      = 1000
	syncBatchBytes = 4 << 20
)

func loadJobs(path string) (syncFile, error) {
	f := syncFile{Jobs: map[string]*SyncProgress{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("reading sync progress: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("sync progress %s: %w", path, err)
	}
	if f.Jobs == nil {
		f.Jobs = map[string]*SyncProgress{}
	}
	return f, nil
}

// recoverJobs marks a job that was running when the node stopped as
// interrupted, so that --continue resumes it.
func (m *Manager) recoverJobs() {
	for _, j := range m.jobs.Jobs {
		if j.State == SyncRunning {
			j.State = SyncInterrupted
			j.Message = "interrupted: the node stopped during the sync"
		}
	}
}

func (m *Manager) saveJobsLocked() error {
	b, err := json.MarshalIndent(m.jobs, "", "  ")
	if err != nil {
		return err
	}
	return m.writeFile(filepath.Join(m.cfg.Dir, syncFileName), b)
}

// SyncStatus returns the last sync job of target (nil if none).
func (m *Manager) SyncStatus(target string) *SyncProgress {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j := m.jobs.Jobs[target]; j != nil {
		c := *j
		return &c
	}
	return nil
}

// Check refuses combinations of options that do not fit, without looking
// at any node: tandemctl runs it before sending a request, the node again
// when it receives one.
func (q SyncRequest) Check() error {
	switch q.Target {
	case "":
		return refuse("sync: --target is required (reporting or standby)")
	case Reporting, Standby:
	default:
		return refuse("sync: unknown target %q (reporting or standby)", q.Target)
	}
	if q.RunFor < 0 {
		return refuse("sync: --run-for must be a positive duration such as 2h")
	}
	modes := 0
	for _, b := range []bool{q.Admin, q.Recent, q.All, q.Continue} {
		if b {
			modes++
		}
	}
	if q.Target == Standby {
		switch {
		case q.Recent || q.All || q.Continue:
			return refuse("sync --target standby takes --admin; --recent, --all and --continue apply to --target reporting")
		case q.RunFor != 0:
			return refuse("sync --target standby: --run-for applies to --target reporting with --all or --continue")
		case !q.Admin:
			return refuse("sync --target standby needs --admin (administration and processing data)")
		}
		return nil
	}
	switch {
	case modes == 0:
		return refuse("sync --target reporting needs one of --admin, --recent, --all --run-for D or --continue --run-for D")
	case q.Admin && modes > 1:
		return refuse("sync --target reporting: --admin sends the administration data alone; --recent, --all and --continue send it first anyway")
	case modes > 1:
		return refuse("sync: --recent, --all and --continue exclude each other")
	case q.Admin && q.RunFor != 0:
		return refuse("sync: --run-for applies to --all and --continue, not to --admin")
	case q.Recent && q.RunFor != 0:
		return refuse("sync: --run-for applies to --all and --continue, not to --recent")
	case (q.All || q.Continue) && q.RunFor == 0:
		return refuse("sync: --all and --continue need --run-for D, how long the sync may run (e.g. 2h)")
	}
	return nil
}

// validateSync checks the options (Check) and that this node can run the
// sync; it reads no other state.
func (m *Manager) validateSync(q SyncRequest) error {
	if q.Target != "" && q.Target != Reporting && q.Target != Standby {
		return m.unknownTarget(q.Target)
	}
	if err := q.Check(); err != nil {
		return err
	}
	if _, ok := m.cons[q.Target]; !ok {
		return refuse("sync --target %s: %s replication is not configured on this node%s", q.Target, q.Target, m.configured())
	}
	if q.Admin {
		if !canSyncAdmin(m.cfg.Targets[q.Target]) {
			return refuse("sync --target %s --admin: the %s target on this node cannot synchronise administration data", q.Target, q.Target)
		}
		return nil
	}
	if _, ok := m.cfg.Targets[Reporting].(Backfiller); !ok {
		return refuse("sync --target reporting: the reporting target on this node cannot receive history")
	}
	return nil
}

func (m *Manager) configured() string {
	if names := m.names(); len(names) > 0 {
		return " (configured: " + strings.Join(names, ", ") + ")"
	}
	return ""
}

// continuableLocked returns the interrupted full sync --continue resumes.
func (m *Manager) continuableLocked(target string) (*SyncProgress, error) {
	j := m.jobs.Jobs[target]
	if j == nil || j.Mode != SyncAll || (j.State != SyncInterrupted && j.State != SyncFailed) {
		return nil, refuse("sync --continue: no interrupted full sync of %s on this node to continue; start one with --all --run-for D", target)
	}
	return j, nil
}

func (m *Manager) runningLocked() *SyncProgress {
	for _, j := range m.jobs.Jobs {
		if j.State == SyncRunning {
			return j
		}
	}
	return nil
}

// StartSync starts a sync job and returns at once; SyncStatus (GET
// /v1/replication/sync) follows it. A refused request changes nothing.
// Like every administration command it refuses when this node's clock is
// more than 2 s off and writes the next diagnostic file. Before a
// reporting sync it warns (without refusing) when the reporting
// database keeps history for less time than the cluster.
func (m *Manager) StartSync(ctx context.Context, q SyncRequest) (Result, error) {
	if err := m.validateSync(q); err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	started := m.ctx != nil
	var err error
	if !started {
		err = refuse("sync: replication on this node is not running")
	} else if r := m.runningLocked(); r != nil {
		err = refuse("sync: a %s sync of %s is already running (%.1f%% done); follow it with `tandemctl replication sync --status --target %s`",
			r.Mode, r.Target, r.Percent, r.Target)
	} else if q.Continue {
		_, err = m.continuableLocked(q.Target)
	}
	m.mu.Unlock()
	if err != nil {
		return Result{}, err
	}

	clockErr := m.cfg.ClockCheck()
	diag, derr := m.diagnose(ctx, "sync", q.Target, clockErr)
	if ref := m.noSpaceRefusal(derr); ref != nil {
		return Result{}, ref
	}
	if derr != nil {
		m.log.Warn("writing replication diagnostic file", "err", derr)
	}
	if clockErr != nil {
		return Result{Diagnostic: diag}, refuse("sync refused: %v (see %s)", clockErr, diag)
	}
	var warnings []string
	if q.Target == Reporting && !q.Admin { // the retention warning is about history
		bf := m.cfg.Targets[Reporting].(Backfiller)
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		warnings, err = bf.RetentionWarnings(wctx, m.retention())
		cancel()
		if err != nil {
			return Result{Diagnostic: diag}, refuse("sync refused: the reporting database cannot be read: %v (see %s)", oneLine(err), diag)
		}
		for _, w := range warnings {
			m.log.Warn("reporting sync: retention shorter than the cluster's", "warning", w)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.runningLocked(); r != nil { // raced with another start
		return Result{Diagnostic: diag}, refuse("sync: a %s sync of %s is already running", r.Mode, r.Target)
	}
	now := m.cfg.Now()
	prevSeq := m.jobs.Seq
	var job *SyncProgress
	switch {
	case q.Continue:
		prev, err := m.continuableLocked(q.Target)
		if err != nil {
			return Result{Diagnostic: diag}, err
		}
		c := *prev
		job = &c
		job.Runs++
		job.Error, job.Message = "", ""
	case q.Admin:
		m.jobs.Seq++
		job = &SyncProgress{ID: m.jobs.Seq, Target: q.Target, Mode: SyncAdmin, Started: now, Runs: 1}
	default:
		m.jobs.Seq++
		job = &SyncProgress{ID: m.jobs.Seq, Target: q.Target, Started: now, Runs: 1}
		job.Mode, job.Cursor, job.From, job.Total = m.archiveRange(q.Recent, now)
		job.Until = m.arc.Last()
	}
	job.Cluster = clusterOf(m.cfg.Targets[q.Target])
	job.State, job.Updated, job.Finished, job.Warnings = SyncRunning, now, time.Time{}, warnings
	job.RunFor = ""
	if q.RunFor > 0 {
		job.RunFor = q.RunFor.String()
	}
	job.Percent = percent(job.Done, job.Total)
	old := m.jobs.Jobs[q.Target]
	m.jobs.Jobs[q.Target] = job
	if err := m.saveJobsLocked(); err != nil {
		m.jobs.Jobs[q.Target] = old
		if old == nil {
			delete(m.jobs.Jobs, q.Target)
		}
		m.jobs.Seq = prevSeq
		if ref := m.noSpaceRefusal(err); ref != nil {
			return Result{Diagnostic: diag}, ref
		}
		return Result{Diagnostic: diag}, fmt.Errorf("saving sync progress: %w", err)
	}
	snapshot := *job
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runSync(m.ctx, job, q.RunFor)
	}()
	msg := fmt.Sprintf("%s sync of %s%s started", job.Mode, q.Target, forCluster(job.Cluster))
	if q.Continue {
		msg = fmt.Sprintf("full sync of %s%s continued at %.1f%%", q.Target, forCluster(job.Cluster), job.Percent)
	}
	if job.Mode != SyncAdmin {
		msg += fmt.Sprintf(" (%d events up to index %d)", job.Total, job.Until.Index)
	}
	m.log.Info("replication command", "command", "sync", "target", q.Target, "mode", job.Mode, "cluster", job.Cluster, "result", msg)
	return Result{Command: "sync", States: m.states(), Message: msg, Diagnostic: diag,
		Warnings: warnings, Sync: &snapshot}, nil
}

// archiveRange chooses what a reporting sync reads: the current and
// previous month (recent) or the whole archive. from is the position the
// covered range starts after.
func (m *Manager) archiveRange(recent bool, now time.Time) (mode string, cur archive.Cursor, from command.Position, total int64) {
	months := m.arc.Months()
	mode = SyncAll
	first := ""
	if recent {
		mode = SyncRecent
		first = archive.MonthKey(time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0))
	}
	from = m.arc.Floor()
	for _, mo := range months {
		if mo.Month < first {
			from = mo.Last
			continue
		}
		total += mo.Events
	}
	return mode, archive.Cursor{Month: first}, from, total
}

func percent(done, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return min(100, float64(done)*100/float64(total))
}

// runSync runs one job until it is done, its run time is up, the target
// fails or the manager closes; progress is saved after every batch.
func (m *Manager) runSync(ctx context.Context, job *SyncProgress, runFor time.Duration) {
	t := m.cfg.Targets[job.Target]
	if job.Mode == SyncAdmin {
		summary, err := syncAdmin(ctx, t, func(done, total int64) {
			m.mu.Lock()
			job.Done, job.Total, job.Percent, job.Updated = done, total, percent(done, total), m.cfg.Now()
			m.mu.Unlock()
		})
		m.mu.Lock()
		job.Admin = summary
		m.mu.Unlock()
		m.finishSync(job, err, "")
		return
	}
	// A full reporting sync sends the administration data first: the
	// names the history refers to.
	if canSyncAdmin(t) {
		summary, err := m.adminStep(ctx, t)
		if err != nil {
			m.finishSync(job, fmt.Errorf("sending the administration data first: %w", err), "")
			return
		}
		m.mu.Lock()
		job.Admin = summary
		m.mu.Unlock()
	}
	bf := t.(Backfiller)
	deadline := m.cfg.Now().Add(runFor)
	r := m.arc.NewReader(job.Cursor, job.Until)
	defer r.Close()
	for {
		if ctx.Err() != nil {
			m.finishSync(job, ctx.Err(), "")
			return
		}
		if runFor > 0 && !m.cfg.Now().Before(deadline) {
			m.finishSync(job, nil, fmt.Sprintf("stopped after --run-for %s", runFor))
			return
		}
		evs, holes, err := r.Next(syncBatch, syncBatchBytes)
		if err == io.EOF {
			m.finishSync(job, nil, "")
			return
		}
		if err != nil {
			m.finishSync(job, err, "")
			return
		}
		rows, _ := withoutCommandRecords(evs)
		var written int
		if len(rows) > 0 {
			written, err = m.backfill(ctx, bf, rows)
			if err != nil {
				m.finishSync(job, err, "")
				return
			}
		}
		m.mu.Lock()
		job.Done += int64(len(evs))
		job.Written += int64(written)
		job.Holes = append(job.Holes, holes...)
		job.Cursor = r.Cursor()
		job.Percent = percent(job.Done, job.Total)
		job.Updated = m.cfg.Now()
		if err := m.saveJobsLocked(); err != nil {
			m.log.Warn("saving sync progress", "err", err)
		}
		m.mu.Unlock()
	}
}

// backfill writes one batch, retrying a few times: a sync that meets a
// brief outage keeps going, a longer one fails and --continue resumes.
func (m *Manager) backfill(ctx context.Context, bf Backfiller, rows []command.Event) (int, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			waitWake(ctx, nil, time.Duration(attempt)*time.Second)
		}
		bctx, cancel := context.WithTimeout(ctx, time.Minute)
		var n int
		n, err = bf.Backfill(bctx, rows)
		cancel()
		if err == nil || ctx.Err() != nil {
			return n, err
		}
	}
	return 0, err
}

// finishSync records how a run ended. A complete reporting sync whose
// range covers what the target missed clears its needs_sync, and lets the
// buffer forget a gap the sync filled.
func (m *Manager) finishSync(job *SyncProgress, err error, stopped string) {
	m.mu.Lock()
	now := m.cfg.Now()
	job.Updated = now
	var (
		synced *TargetCommand
		msg    string
		done   bool
	)
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		job.State, job.Message = SyncInterrupted, "interrupted: the node stopped during the sync"
	case err != nil && job.Mode == SyncAdmin:
		job.State, job.Error = SyncFailed, oneLine(err)
		job.Message = fmt.Sprintf("admin sync of %s%s failed: %s", job.Target, forCluster(job.Cluster), job.Error)
	case err != nil:
		job.State, job.Error = SyncFailed, oneLine(err)
		job.Message = fmt.Sprintf("sync failed at %.1f%%: %s", job.Percent, job.Error)
	case stopped != "":
		job.State = SyncInterrupted
		job.Message = fmt.Sprintf("%s at %.1f%%; continue with `tandemctl replication sync --target %s --continue --run-for D`",
			stopped, job.Percent, job.Target)
	default:
		msg, synced = m.completeLocked(job)
		done = true
	}
	if done && synced != nil {
		// The job reads done only once what it covered is committed, so
		// whoever sees it done also sees needs_sync cleared.
		m.mu.Unlock()
		if cerr := m.commitSynced(*synced); cerr != nil {
			msg += fmt.Sprintf("; recording it failed (%v): needs_sync stays until a sync is recorded", oneLine(cerr))
		}
		m.mu.Lock()
	}
	if done {
		job.State, job.Finished, job.Percent, job.Message = SyncDone, now, 100, msg
	}
	defer m.mu.Unlock()
	if err := m.saveJobsLocked(); err != nil {
		m.log.Warn("saving sync progress", "err", err)
	}
	lvl := m.log.Info
	if job.State == SyncFailed {
		lvl = m.log.Error
	}
	lvl("replication sync ended", "target", job.Target, "mode", job.Mode, "state", job.State,
		"done", job.Done, "total", job.Total, "written", job.Written, "message", job.Message)
}

// completeLocked says what a finished sync covered and returns the
// command that clears the target's needs_sync when it covered what the
// target missed (committed by finishSync, outside the lock).
func (m *Manager) completeLocked(job *SyncProgress) (string, *TargetCommand) {
	var synced *TargetCommand
	if job.Mode == SyncAdmin {
		// The standby's admin sync ships the whole engine state, which
		// covers whatever it missed; reporting's sends names only, and the
		// history it missed still needs a --recent or --all sync.
		if ts, _ := m.ctl.State(job.Target); ts.NeedsSync && job.Target == Standby {
			synced = &TargetCommand{Target: job.Target, All: true}
		}
		if job.Admin != "" {
			return job.Admin, synced
		}
		if job.Cluster == "" {
			return fmt.Sprintf("administration data of %s synchronised", job.Target), synced
		}
		return fmt.Sprintf("administration data of cluster %s synchronised to %s", job.Cluster, job.Target), synced
	}
	msg := fmt.Sprintf("%s sync of %s%s done: %d events read, %d were missing in the target", job.Mode, job.Target, forCluster(job.Cluster), job.Done, job.Written)
	if job.Admin != "" {
		msg += "; first " + job.Admin
	}
	holeIn := func(after, upTo command.Position) bool {
		for _, h := range job.Holes {
			if h.Last.After(after) && !h.First.After(upTo) {
				return true
			}
		}
		return false
	}
	if len(job.Holes) > 0 {
		msg += fmt.Sprintf("; this node's archive lacks %d range(s) (first %d..%d: snapshots installed from the leader, or a full disk): sync from another node to cover them",
			len(job.Holes), job.Holes[0].First.Index, job.Holes[0].Last.Index)
	}
	if ts, _ := m.ctl.State(job.Target); ts.NeedsSync {
		upTo := ts.MissingUpTo
		covered := !job.From.After(ts.MissingAfter) && !upTo.After(job.Until) && !holeIn(ts.MissingAfter, upTo)
		if covered {
			synced = &TargetCommand{Target: job.Target, Missing: &Range{After: ts.MissingAfter, UpTo: upTo}}
			msg += "; the data the target missed is covered: needs_sync cleared"
		} else {
			msg += fmt.Sprintf("; the target still needs a sync of the events after index %d up to %d (a --all sync from a node whose archive holds them)",
				ts.MissingAfter.Index, upTo.Index)
		}
	}
	// The buffer may hold a gap (overflow, installed snapshot) the sync
	// filled: when the range covers the cursor up to the end of the sync,
	// the target holds all of it.
	if c := m.cons[job.Target]; c != nil {
		cur := c.Cursor()
		if !job.From.After(cur) && !holeIn(cur, job.Until) && (c.Stats().Gap || job.Until.After(cur)) {
			if gap, err := c.ClearGap(job.Until); err != nil {
				m.log.Warn("clearing the buffer gap after a sync", "target", job.Target, "err", err)
			} else if !gap {
				m.signalLocked()
			}
		}
	}
	return msg, synced
}

// commitSynced commits that a finished sync covered what the target
// missed, which clears its needs_sync on every node. Should that fail, the
// job's message says so and the target keeps needs_sync: running the
// sync again clears it.
func (m *Manager) commitSynced(tc TargetCommand) error {
	if _, err := m.commit(context.Background(), TypeSynced, tc); err != nil {
		m.log.Error("recording that the sync covered what the target missed", "target", tc.Target, "err", err)
		return err
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// syncStatuses lists the last job per target, for Status.
func (m *Manager) syncStatusesLocked() map[string]*SyncProgress {
	if len(m.jobs.Jobs) == 0 {
		return nil
	}
	out := map[string]*SyncProgress{}
	names := make([]string, 0, len(m.jobs.Jobs))
	for n := range m.jobs.Jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := *m.jobs.Jobs[n]
		out[n] = &c
	}
	return out
}
