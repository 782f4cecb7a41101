package ops

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// NewRegistry returns a registry with the process and Go collectors and
// the cluster collector for st. There is no global registry.
func NewRegistry(st *cluster.Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&clusterCollector{st: st})
	return reg
}

var (
	descLeader    = prometheus.NewDesc("tandem_raft_is_leader", "1 when this node is the Raft leader.", nil, nil)
	descRole      = prometheus.NewDesc("tandem_raft_role", "1 for this node's current Raft role.", []string{"role"}, nil)
	descTerm      = prometheus.NewDesc("tandem_raft_term", "Current Raft term.", nil, nil)
	descCommit    = prometheus.NewDesc("tandem_raft_commit_index", "Raft commit index known to this node.", nil, nil)
	descApplied   = prometheus.NewDesc("tandem_raft_applied_index", "Last log index applied by this node's FSM.", nil, nil)
	descVoters    = prometheus.NewDesc("tandem_cluster_voters", "Voters in the Raft configuration.", nil, nil)
	descContact   = prometheus.NewDesc("tandem_raft_last_contact_milliseconds", "Time since this follower last heard from the leader.", nil, nil)
	descSkew      = prometheus.NewDesc("tandem_clock_skew_seconds", "Clock skew of a peer against this node (peer minus local).", []string{"peer"}, nil)
	descSkewLead  = prometheus.NewDesc("tandem_clock_skew_vs_leader_seconds", "This node's clock skew against the leader.", nil, nil)
	descSkewAlarm = prometheus.NewDesc("tandem_clock_skew_alarm", "1 when the skew against the leader exceeds 2 s.", nil, nil)
	descReady     = prometheus.NewDesc("tandem_ready", "1 when the node knows a leader and has caught up.", nil, nil)
	descNoSpace   = prometheus.NewDesc("tandem_raft_disk_no_space", "1 while this node refuses writes because the filesystem of its Raft log is short of space.", nil, nil)
	descDiverged  = prometheus.NewDesc("tandem_replica_diverged", "Number of members found to have applied other log entries than this node (replica check).", nil, nil)
	descLagging   = prometheus.NewDesc("tandem_replica_lagging", "Number of members that answer but have stayed behind what this node had committed 5 s before, for 5 s.", nil, nil)
	descChecked   = prometheus.NewDesc("tandem_replica_checked_index", "End of the latest log window this node compared with a member and found the same.", nil, nil)
)

// clusterCollector reads the store's status at scrape time.
type clusterCollector struct{ st *cluster.Store }

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descRole, descTerm, descCommit, descApplied, descVoters,
		descContact, descSkew, descSkewLead, descSkewAlarm, descReady, descNoSpace, descDiverged, descLagging, descChecked} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descLeader, b2f(s.Role == "leader"))
	for _, r := range []string{"leader", "follower", "candidate", "shutdown"} {
		gauge(descRole, b2f(s.Role == r), r)
	}
	gauge(descTerm, float64(s.Term))
	gauge(descNoSpace, b2f(s.NoSpace != nil))
	gauge(descCommit, float64(s.CommitIndex))
	gauge(descApplied, float64(s.AppliedIndex))
	voters := 0
	for _, n := range s.Nodes {
		if n.Suffrage == "voter" {
			voters++
		}
	}
	gauge(descVoters, float64(voters))
	// raft reports "0" on the leader, "never", or a time.Duration string.
	switch lc := c.st.Stats()["last_contact"]; lc {
	case "never":
	case "0":
		gauge(descContact, 0)
	default:
		if d, err := time.ParseDuration(lc); err == nil {
			gauge(descContact, float64(d)/float64(time.Millisecond))
		}
	}
	for peer, ms := range s.Clock.PeersMS {
		gauge(descSkew, float64(ms)/1000, peer)
	}
	gauge(descSkewLead, float64(s.Clock.SkewVsLeaderMS)/1000)
	gauge(descSkewAlarm, b2f(s.Clock.Alarm))
	gauge(descReady, b2f(s.Ready))
	gauge(descDiverged, float64(len(s.Replicas.Diverged)))
	gauge(descLagging, float64(len(s.Replicas.Lagging)))
	gauge(descChecked, float64(s.Replicas.CheckedTo))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// EventCounter is an event sink that counts committed events by type for
// /metrics (tandem_events_total).
type EventCounter struct {
	once sync.Once
	vec  *prometheus.CounterVec
}

// Register adds the counter to reg.
func (e *EventCounter) Register(reg prometheus.Registerer) {
	e.init()
	reg.MustRegister(e.vec)
}

func (e *EventCounter) init() {
	e.once.Do(func() {
		e.vec = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_events_total", Help: "Events produced by committed commands, by type.",
		}, []string{"type"})
	})
}

// Publish implements cluster.EventSink. It tallies the events by type
// first and looks each type's counter up once: a command's events are of
// a few types (a mail batch's thousand alternate two), and each look-up
// hashes the label under the vector's lock.
func (e *EventCounter) Publish(evs []command.Event) {
	e.init()
	type tally struct {
		typ string
		n   int
	}
	var buf [8]tally
	counts := buf[:0]
next:
	for _, ev := range evs {
		for i := range counts {
			if counts[i].typ == ev.Type {
				counts[i].n++
				continue next
			}
		}
		counts = append(counts, tally{ev.Type, 1})
	}
	for _, c := range counts {
		e.vec.WithLabelValues(c.typ).Add(float64(c.n))
	}
}

// Sync implements cluster.EventSink; counters need no durability.
func (e *EventCounter) Sync() error { return nil }

var _ cluster.EventSink = (*EventCounter)(nil)
