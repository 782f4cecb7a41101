package cluster

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"
)

// MaxSkew is the largest clock difference between members that replication
// tolerates (cluster.md, "Clock discipline").
const MaxSkew = 2 * time.Second

// ClockStatus is this node's view of clock skew. Skew is peer time minus
// local time, corrected for half the round trip.
type ClockStatus struct {
	// SkewVsLeaderMS is this node's skew against the leader (0 on the
	// leader itself).
	SkewVsLeaderMS int64            `json:"skew_vs_leader_ms"`
	Alarm          bool             `json:"alarm"`
	PeersMS        map[string]int64 `json:"peers_ms,omitempty"`
	Checked        time.Time        `json:"checked,omitempty"`
}

type clockWatch struct {
	s     *Store
	mu    sync.Mutex
	peers map[string]time.Duration
	seen  map[string]time.Time // when each peer last answered (monotonic)
	alarm bool
	at    time.Time
	lag   *lagWatch
}

func newClockWatch(s *Store) *clockWatch {
	return &clockWatch{s: s, peers: map[string]time.Duration{}, seen: map[string]time.Time{}, lag: newLagWatch()}
}

// downAfter is how long a peer that does not answer the clock sample is
// shown as down.
const downAfter = 3 * time.Second

// reach says whether peer id answered within downAfter ("up"), not
// ("down", with when it last answered), or was never sampled ("unknown").
func (c *clockWatch) reach(id string) (state string, last time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.seen[id]
	switch {
	case !ok:
		return "unknown", time.Time{}
	case time.Since(t) > downAfter:
		return "down", t
	}
	return "up", t
}

// run samples every member's clock once a second.
func (c *clockWatch) run(ctx context.Context) {
	for sleepCtx(ctx, time.Second) == nil {
		nodes := c.s.fsm.nodes()
		ids := make([]string, 0, len(nodes))
		for id := range nodes {
			if id != c.s.cfg.NodeID {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		c.lag.noteCommit(time.Now(), c.s.raft.CommitIndex())
		seen := map[string]time.Duration{}
		for _, id := range ids {
			if d, ok := c.sample(ctx, nodes[id].AdminAddr); ok {
				seen[id] = d
			}
		}
		c.update(seen)
	}
}

// sampleTimeout bounds one clock reading: a hung peer must not stall the
// samples of the others (the loop is sequential), and a reading with a
// longer round trip would be too coarse anyway.
const sampleTimeout = time.Second

func (c *clockWatch) sample(ctx context.Context, url string) (time.Duration, bool) {
	var r ClockReading
	ctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	t0 := c.s.now()
	start := time.Now() // monotonic, for the round trip only
	if err := c.s.call(ctx, url, http.MethodGet, "/v1/internal/clock", nil, &r); err != nil {
		return 0, false
	}
	rtt := time.Since(start)
	if r.NodeID != "" {
		c.s.space.notePeer(r.NodeID, r.NoSpace)
		c.s.replicas.compare(r.NodeID, r.Digests)
		c.s.replicas.compareStates(r.NodeID, r.States)
		if r.Applied > 0 { // 0: a build that does not report it
			c.lag.noteApplied(r.NodeID, time.Now(), r.Applied)
		}
	}
	local := t0.Add(rtt / 2)
	return time.Unix(0, r.Time).Sub(local), true
}

func (c *clockWatch) update(seen map[string]time.Duration) {
	leader := c.s.LeaderID()
	c.mu.Lock()
	now := time.Now()
	for id, d := range seen {
		c.peers[id] = d
		c.seen[id] = now
	}
	members := c.s.fsm.nodes()
	for id := range c.peers {
		if _, ok := members[id]; !ok {
			delete(c.peers, id)
			delete(c.seen, id)
		}
	}
	for id := range members {
		if _, ok := c.seen[id]; !ok && id != c.s.cfg.NodeID {
			c.seen[id] = time.Time{} // sampled, never answered: down
		}
	}
	up := map[string]bool{}
	for id, t := range c.seen {
		up[id] = !t.IsZero() && now.Sub(t) <= downAfter
	}
	skew := c.peers[leader]
	if leader == c.s.cfg.NodeID {
		skew = 0
	}
	alarm := skew > MaxSkew || skew < -MaxSkew
	changed := alarm != c.alarm
	c.alarm = alarm
	c.at = c.s.now()
	c.mu.Unlock()
	for _, ch := range c.lag.judge(c.s.now().UTC(), up) {
		if ch.lagging {
			c.s.log.Warn("a member lags: it has stayed behind what this node had committed 5 s before, for 5 s; it is catching up, short of space, or no longer sent entries",
				"peer", ch.id, "applied_index", ch.applied, "committed_index", ch.commit, "before", lagAfter.String())
		} else {
			c.s.log.Info("a member caught up", "peer", ch.id, "applied_index", ch.applied)
		}
	}
	if changed {
		if alarm {
			c.s.log.Error("clock skew against the leader exceeds 2s; replication will refuse to start",
				"skew", skew.Round(time.Millisecond).String(), "leader_id", leader)
		} else {
			c.s.log.Info("clock skew against the leader back within 2s", "skew", skew.Round(time.Millisecond).String())
		}
		if c.s.cfg.OnClock != nil {
			c.s.cfg.OnClock(c.status())
		}
	}
}

func (c *clockWatch) status() ClockStatus {
	leader := c.s.LeaderID()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := ClockStatus{Alarm: c.alarm, Checked: c.at, PeersMS: map[string]int64{}}
	for id, d := range c.peers {
		st.PeersMS[id] = d.Milliseconds()
	}
	if leader != c.s.cfg.NodeID {
		st.SkewVsLeaderMS = c.peers[leader].Milliseconds()
	}
	return st
}

// Clock returns this node's clock-skew view.
func (s *Store) Clock() ClockStatus { return s.clock.status() }
