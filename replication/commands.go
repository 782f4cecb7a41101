package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/replication/archive"
	"github.com/tandemcc/tandem/replication/buffer"
)

// Refusal is an administration command refused for a reason the operator
// can fix; nothing was changed.
type Refusal struct {
	Msg string
	// noSpace: refused because a write it needs found the disk full.
	noSpace bool
}

func (r *Refusal) Error() string { return r.Msg }

// ErrorCode reports a refusal as 409 refused on the HTTP surfaces, or 507
// no_space when the disk is full (package apierr).
func (r *Refusal) ErrorCode() apierr.Code {
	if r.noSpace {
		return apierr.NoSpace
	}
	return apierr.Refused
}

func refuse(format string, args ...any) error { return &Refusal{Msg: fmt.Sprintf(format, args...)} }

// Result is the answer of an administration command.
type Result struct {
	Command    string            `json:"command"`
	States     map[string]State  `json:"states"`
	Message    string            `json:"message"`
	Diagnostic string            `json:"diagnostic,omitempty"` // path of the diagnostic file
	Warnings   []string          `json:"warnings,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
	// Sync is the job a sync command started.
	Sync *SyncProgress `json:"sync,omitempty"`
}

// DiagFiles is how many numbered diagnostic files rotate
// (replication.000 … replication.025).
const DiagFiles = 26

// Suspend pauses delivery to target; the buffer keeps filling. Like every
// administration command it changes the cluster's state through a
// committed command, whichever node it is sent to.
func (m *Manager) Suspend(ctx context.Context, target string) (Result, error) {
	return m.admin(ctx, "suspend", target, TypeSuspend, TargetCommand{Target: target})
}

// Resume restarts delivery to target, at most rate events/s when rate > 0.
func (m *Manager) Resume(ctx context.Context, target string, rate int) (Result, error) {
	if rate < 0 {
		return Result{}, refuse("--rate: must be zero (unlimited) or a positive number of events per second")
	}
	return m.admin(ctx, "resume", target, TypeResume, TargetCommand{Target: target, Rate: rate})
}

// Stop stops one replication and leaves the other running. It holds no
// buffer space afterwards, so restarting it later may require a sync.
func (m *Manager) Stop(ctx context.Context, target string) (Result, error) {
	return m.admin(ctx, "stop", target, TypeStop, TargetCommand{Target: target})
}

// Shutdown stops all replication.
func (m *Manager) Shutdown(ctx context.Context) (Result, error) {
	return m.admin(ctx, "shutdown", "", TypeShutdown, TargetsCommand{Targets: m.names()})
}

// Restart restarts all replication and clears the buffer (on every node,
// where the committed restart stands in the stream). It refuses while any
// replication still runs: shut it down first, so that clearing the buffer
// never drops a running target's backlog by surprise. Whatever a target
// had not received here is recorded as missed: it will need a sync.
func (m *Manager) Restart(ctx context.Context) (Result, error) {
	p := TargetsCommand{Targets: m.names(), Missing: map[string]Range{}}
	for _, n := range p.Targets {
		if cs := m.cons[n].Stats(); cs.Gap || cs.BacklogEvents > 0 {
			p.Missing[n] = Range{After: cs.Cursor, UpTo: m.buf.Last()}
		}
	}
	return m.admin(ctx, "restart", "", TypeRestart, p)
}

func (m *Manager) names() []string {
	out := make([]string, 0, len(m.cons))
	for n := range m.cons {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// admin runs one administration command: it checks the target and the
// clock, writes the diagnostic file (a full disk refuses here, before
// anything changed), then commits the state command and waits until this
// node applied it. The Control machine decides (and refuses) in apply;
// every node's buffer follows the committed state (Publish).
func (m *Manager) admin(ctx context.Context, name, target, typ string, payload any) (Result, error) {
	if target != "" {
		if _, ok := m.cons[target]; !ok {
			return Result{}, m.unknownTarget(target)
		}
	}
	clockErr := m.cfg.ClockCheck()
	diag, derr := m.diagnose(ctx, name, target, clockErr)
	if derr != nil {
		if ref := m.noSpaceRefusal(derr); ref != nil {
			return Result{}, ref
		}
		m.log.Warn("writing replication diagnostic file", "err", derr)
	}
	if clockErr != nil {
		return Result{Diagnostic: diag}, refuse("%s refused: %v (see %s)", name, clockErr, diag)
	}
	cr, err := m.commit(ctx, typ, payload)
	if err != nil {
		return Result{Command: name, States: m.states(), Diagnostic: diag}, err
	}
	m.log.Info("replication command", "command", name, "target", target, "result", cr.Message)
	return Result{Command: name, States: m.states(), Message: cr.Message, Diagnostic: diag}, nil
}

// prepareFile writes data to path's temp file and fsyncs it — the step
// that needs disk space; on failure nothing is left behind. commit(true)
// renames it over path (no new space needed) and syncs the directory;
// commit(false) removes it.
func (m *Manager) prepareFile(path string, data []byte) (commit func(bool) error, err error) {
	tmp := path + ".tmp"
	if m.cfg.WriteFault != nil {
		if err := m.cfg.WriteFault(path); err != nil {
			return nil, &os.PathError{Op: "write", Path: path, Err: err}
		}
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		inner := errors.Unwrap(err)
		if inner == nil {
			inner = err
		}
		return nil, &os.PathError{Op: "write", Path: path, Err: inner}
	}
	return func(keep bool) error {
		if !keep {
			os.Remove(tmp)
			return nil
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("replacing %s: %w", path, err)
		}
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			d.Sync()
			d.Close()
		}
		return nil
	}, nil
}

// writeFile is prepareFile and commit.
func (m *Manager) writeFile(path string, data []byte) error {
	commit, err := m.prepareFile(path, data)
	if err != nil {
		return err
	}
	return commit(true)
}

// noSpaceRefusal turns a write that failed for lack of disk space into the
// one-line refusal of an administration command; nil for other errors.
func (m *Manager) noSpaceRefusal(err error) error {
	if err == nil || !(buffer.IsNoSpace(err) || archive.IsNoSpace(err)) {
		return nil
	}
	dir := m.cfg.Dir
	var pe *os.PathError
	if errors.As(err, &pe) {
		dir = filepath.Dir(pe.Path)
	}
	return &Refusal{Msg: fmt.Sprintf("no space left on %s: free space and retry", dir), noSpace: true}
}

func (m *Manager) unknownTarget(target string) error {
	names := m.names()
	if len(names) == 0 {
		return refuse("unknown replication target %q: no replication is configured on this node (--reporting-dsn)", target)
	}
	return refuse("unknown replication target %q: configured targets are %s", target, strings.Join(names, ", "))
}

// states is the committed state of each target configured here.
func (m *Manager) states() map[string]State {
	out := map[string]State{}
	for n := range m.cons {
		ts, _ := m.ctl.State(n)
		out[n] = ts.State
	}
	return out
}

// diagnose writes the next numbered diagnostic file with the checks of
// every target concerned and returns its path.
func (m *Manager) diagnose(ctx context.Context, cmd, target string, clockErr error) (string, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "tandem replication diagnostic\ncommand: %s\ntarget: %s\ntime: %s\n\n", cmd, orAll(target), m.cfg.Now().UTC().Format(time.RFC3339))
	if clockErr != nil {
		fmt.Fprintf(&b, "clock skew: FAIL %v\n", clockErr)
	} else {
		fmt.Fprintf(&b, "clock skew: ok (within 2s of the leader)\n")
	}
	st := m.buf.Stats()
	fmt.Fprintf(&b, "buffer: %.1f%% used (%d of %d bytes), %d segments\n", st.Percent, st.UsedBytes, st.MaxBytes, st.Segments)
	for _, n := range m.names() {
		if target != "" && n != target {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n", n)
		rep, err := m.cfg.Targets[n].Diagnose(dctx)
		b.WriteString(rep)
		if !strings.HasSuffix(rep, "\n") {
			b.WriteString("\n")
		}
		if err != nil {
			fmt.Fprintf(&b, "result: FAIL %v\n", err)
		} else {
			b.WriteString("result: ok\n")
		}
	}
	return m.writeDiag(b.String())
}

func orAll(t string) string {
	if t == "" {
		return "all"
	}
	return t
}

// writeDiag writes replication.NNN, rotating through DiagFiles numbers.
// Both files are written to temp files first, so a full disk leaves the
// previous diagnostic files and the sequence as they were.
func (m *Manager) writeDiag(text string) (string, error) {
	seqPath := filepath.Join(m.cfg.Dir, "replication.seq")
	next := 0
	if b, err := os.ReadFile(seqPath); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 {
			next = n % DiagFiles
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	path := filepath.Join(m.cfg.Dir, fmt.Sprintf("replication.%03d", next))
	commitDiag, err := m.prepareFile(path, []byte(text))
	if err != nil {
		return "", err
	}
	commitSeq, err := m.prepareFile(seqPath, []byte(strconv.Itoa((next+1)%DiagFiles)))
	if err != nil {
		commitDiag(false)
		return "", err
	}
	if err := commitDiag(true); err != nil {
		commitSeq(false)
		return "", err
	}
	if err := commitSeq(true); err != nil {
		return path, err
	}
	return path, nil
}

// TargetStatus is one target in Status.
type TargetStatus struct {
	State         State            `json:"state"`
	BufferPercent float64          `json:"buffer_percent"`
	Reason        string           `json:"reason,omitempty"`
	Since         time.Time        `json:"since"`
	Rate          int              `json:"rate,omitempty"`
	NeedsSync     bool             `json:"needs_sync,omitempty"`
	Cursor        command.Position `json:"cursor"`
	Delivered     command.Position `json:"delivered"`
	BacklogEvents int64            `json:"backlog_events"`
	LastError     string           `json:"last_error,omitempty"`
	// AdminSync is the automatic administration-data sync that followed
	// the target's last activation on this node (reporting).
	AdminSync *AdminSyncStatus `json:"admin_sync,omitempty"`
}

// Status is the node's replication state.
type Status struct {
	Leader        bool                    `json:"leader"`
	BufferPercent float64                 `json:"buffer_percent"`
	BufferBytes   int64                   `json:"buffer_used_bytes"`
	BufferMax     int64                   `json:"buffer_max_bytes"`
	Level         string                  `json:"alarm_level"`
	LastAlarm     *Alarm                  `json:"last_alarm,omitempty"`
	Targets       map[string]TargetStatus `json:"targets"`
	// Sync is the last sync job per target (progress while one runs).
	Sync map[string]*SyncProgress `json:"sync,omitempty"`
	// Archive summarises the node's event archive, the history a sync
	// re-sends.
	Archive *ArchiveStatus `json:"archive,omitempty"`
	// NoSpace reports, per store ("buffer", "archive"), writes that
	// failed for lack of disk space since this node started.
	NoSpace map[string]NoSpaceStatus `json:"no_space,omitempty"`
}

// NoSpaceStatus is one store that ran out of disk space.
type NoSpaceStatus struct {
	Path string `json:"path"`
	// Full: the last write failed for lack of space (still full).
	Full bool `json:"full"`
	// Since and Until bound the current (or last) episode; Until is zero
	// while it lasts. FirstIndex and LastIndex are the events lost in it.
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until,omitzero"`
	FirstIndex uint64    `json:"first_index"`
	LastIndex  uint64    `json:"last_index"`
	// LostEvents counts the events lost for lack of space since start.
	LostEvents int64 `json:"lost_events"`
	// Pending: the gap (buffer) or hole (archive) that records the loss
	// is not on disk yet; Raft snapshots wait until it is.
	Pending bool `json:"pending,omitempty"`
	// Message is the log line's advice.
	Message string `json:"message"`
}

// ArchiveStatus summarises the event archive.
type ArchiveStatus struct {
	Months []string         `json:"months"`
	Events int64            `json:"events"`
	Bytes  int64            `json:"bytes"`
	Holes  int64            `json:"holes"`
	Last   command.Position `json:"last"`
}

// Status reports every configured target and the buffer.
func (m *Manager) Status() Status {
	st := m.buf.Stats()
	arc := &ArchiveStatus{Months: []string{}, Last: m.arc.Last()}
	for _, mo := range m.arc.Months() {
		arc.Months = append(arc.Months, mo.Month)
		arc.Events += mo.Events
		arc.Bytes += mo.Bytes
		arc.Holes += mo.Holes
	}
	ah := m.arc.Health()
	m.mu.Lock()
	defer m.mu.Unlock()
	leader := m.leader
	if m.cfg.IsLeader != nil {
		// Ask Raft now: the delivery loops learn of a change within a
		// second, but what status says must be true when it is read.
		leader = m.cfg.IsLeader()
	}
	out := Status{Leader: leader, BufferPercent: st.Percent, BufferBytes: st.UsedBytes, BufferMax: st.MaxBytes,
		Level: m.alarms.Level().String(), LastAlarm: m.lastAlarm, Targets: map[string]TargetStatus{},
		Sync: m.syncStatusesLocked(), Archive: arc}
	for store, s := range m.space {
		ns := NoSpaceStatus{Path: s.path, Full: s.full, Since: s.since, Until: s.until, FirstIndex: s.first,
			LastIndex: s.last, Message: spaceAdvice(store)}
		switch store {
		case storeBuffer:
			ns.LostEvents, ns.Pending = st.NoSpaceEvents, st.PendingGap
		case storeArchive:
			ns.LostEvents, ns.Pending = ah.NoSpaceEvents, ah.PendingHole
		}
		if out.NoSpace == nil {
			out.NoSpace = map[string]NoSpaceStatus{}
		}
		out.NoSpace[store] = ns
	}
	for _, cs := range st.Consumers {
		ts, _ := m.ctl.State(cs.Name)
		tst := TargetStatus{State: ts.State, BufferPercent: cs.Percent, Reason: ts.Reason,
			Since: ts.Since, Rate: ts.Rate, NeedsSync: ts.NeedsSync || cs.Gap, Cursor: cs.Cursor,
			Delivered: m.delivered[cs.Name], BacklogEvents: cs.BacklogEvents, LastError: m.lastErr[cs.Name]}
		if cs.Name == Reporting && m.autoAdminSt != nil {
			a := *m.autoAdminSt
			tst.AdminSync = &a
		}
		out.Targets[cs.Name] = tst
	}
	return out
}
