package replication

import (
	"context"
	"fmt"
	"time"
)

// Administration data towards reporting (replication.md, "Retention and
// data maintenance"): the names reports need (agents, queues, users,
// business units) are synchronised on their own — by `replication sync
// --target reporting --admin`, as the first step of every full reporting
// sync, and automatically each time reporting delivery becomes active on
// the leader (start, failover, resume or restart), which is what keeps
// them right after a restart, a restore or an activation.

// AdminSummarizer is an AdminSyncer whose sync says what it did in one
// line (reporting: which cluster, how many rows of each kind); the line
// becomes the sync job's message.
type AdminSummarizer interface {
	SyncAdminSummary(ctx context.Context, progress func(done, total int64)) (string, error)
}

// ClusterNamer is a Target that stores the cluster's data under a name
// (reporting: --reporting-cluster); syncs name it.
type ClusterNamer interface {
	ClusterName() string
}

// adminSyncTimeout bounds one administration-data sync.
const adminSyncTimeout = 2 * time.Minute

// Automatic administration-data sync states.
const (
	AdminSyncRunning   = "running"
	AdminSyncRetrying  = "retrying"  // failed; tried again with backoff
	AdminSyncDone      = "done"      // the last activation's sync succeeded
	AdminSyncAbandoned = "abandoned" // delivery stopped being active here before it succeeded
)

// AdminSyncStatus is the automatic administration-data sync that follows
// the last activation of the target's delivery on this node.
type AdminSyncStatus struct {
	Cluster  string    `json:"cluster,omitempty"`
	State    string    `json:"state"`
	Attempts int       `json:"attempts"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Message  string    `json:"message,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// canSyncAdmin reports whether t can synchronise administration data.
func canSyncAdmin(t Target) bool {
	if r, ok := t.(*ReportingTarget); ok {
		return r.Admin != nil
	}
	_, ok := t.(AdminSyncer)
	return ok
}

// syncAdmin runs t's administration-data sync and returns its summary
// ("" when the target has none to give).
func syncAdmin(ctx context.Context, t Target, progress func(done, total int64)) (string, error) {
	if s, ok := t.(AdminSummarizer); ok {
		return s.SyncAdminSummary(ctx, progress)
	}
	return "", t.(AdminSyncer).SyncAdmin(ctx, progress)
}

// clusterOf is the cluster name t stores data under ("" if none).
func clusterOf(t Target) string {
	if c, ok := t.(ClusterNamer); ok {
		return c.ClusterName()
	}
	return ""
}

// forCluster is " for cluster NAME", or "" without a name.
func forCluster(name string) string {
	if name == "" {
		return ""
	}
	return " for cluster " + name
}

// ofCluster is " of cluster NAME", or "" without a name.
func ofCluster(name string) string {
	if name == "" {
		return ""
	}
	return " of cluster " + name
}

// adminStep is the first step of a full reporting sync, tried three
// times like a history batch.
func (m *Manager) adminStep(ctx context.Context, t Target) (string, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			waitWake(ctx, nil, m.adminBackoff(attempt))
		}
		sctx, cancel := context.WithTimeout(ctx, adminSyncTimeout)
		var summary string
		summary, err = syncAdmin(sctx, t, nil)
		cancel()
		if err == nil || ctx.Err() != nil {
			return summary, err
		}
	}
	return "", err
}

// activatedLocked is called when this node becomes the leader (leader
// true) and when a reporting state change reached it (leader unchanged):
// reporting delivery becoming active here — start, failover, resume,
// restart — asks for the automatic administration-data sync. It never
// waits.
func (m *Manager) activatedLocked(becameLeader bool) {
	if m.adminKick == nil {
		return
	}
	ts, _ := m.ctl.State(Reporting)
	prev := m.seenState
	m.seenState = ts.State
	if !m.leader || ts.State != Active || (!becameLeader && prev == Active) {
		return
	}
	select {
	case m.adminKick <- struct{}{}:
	default: // one is pending already
	}
}

// delivering reports whether target name delivers from this node now.
func (m *Manager) delivering(name string) bool {
	ts, _ := m.ctl.State(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leader && ts.State == Active
}

// defaultAdminBackoff waits 2 s after the first failure, doubling up to 5
// minutes.
func defaultAdminBackoff(attempt int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// autoAdmin runs the reporting target's administration-data sync after
// each activation, on its own goroutine: delivery never waits for it.
func (m *Manager) autoAdmin(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.adminKick:
		}
		m.autoAdminOnce(ctx, m.cfg.Targets[Reporting])
	}
}

// autoAdminOnce syncs until it succeeds, retrying with backoff, or until
// this node no longer delivers (another node's activation syncs then). It
// logs one line per outcome: the first failure, then success or
// abandonment.
func (m *Manager) autoAdminOnce(ctx context.Context, t Target) {
	cluster := clusterOf(t)
	log := m.log.With("target", Reporting, "cluster", cluster)
	st := AdminSyncStatus{Cluster: cluster, State: AdminSyncRunning, Started: m.cfg.Now()}
	for attempt := 1; ; attempt++ {
		if !m.delivering(Reporting) {
			if attempt > 1 {
				st.State = AdminSyncAbandoned
				st.Message = "reporting delivery is no longer active on this node; the next activation synchronises the administration data"
				m.setAutoAdmin(st)
				log.Info("automatic administration-data sync abandoned: " + st.Message)
			}
			return
		}
		st.Attempts = attempt
		m.setAutoAdmin(st)
		sctx, cancel := context.WithTimeout(ctx, adminSyncTimeout)
		summary, err := syncAdmin(sctx, t, nil)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if summary == "" {
				summary = fmt.Sprintf("administration data%s synchronised to reporting", ofCluster(cluster))
			}
			st.State, st.Message, st.Error = AdminSyncDone, summary, ""
			m.setAutoAdmin(st)
			log.Info(summary, "attempts", attempt, "trigger", "activation")
			return
		}
		st.State, st.Error = AdminSyncRetrying, oneLine(err)
		st.Message = "administration data not synchronised; retrying with backoff"
		m.setAutoAdmin(st)
		if attempt == 1 {
			log.Error("administration data could not be synchronised to reporting after the activation; retrying with backoff until it is",
				"err", st.Error)
		}
		timer := time.NewTimer(m.adminBackoff(attempt))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-m.adminKick: // a new activation: try now
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (m *Manager) setAutoAdmin(st AdminSyncStatus) {
	st.Updated = m.cfg.Now()
	m.mu.Lock()
	m.autoAdminSt = &st
	m.mu.Unlock()
}
