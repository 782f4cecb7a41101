package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FailoverConfig drives one failover round against a Tandem cluster.
type FailoverConfig struct {
	Addrs []string // admin addresses of every member, normalized
	Token string
	// Kill stops member i (its position in Addrs) at once (SIGKILL).
	Kill func(i int) error
	// LeaderWait bounds finding the leader before the kill.
	LeaderWait time.Duration
	// Timeout bounds the wait for the first commit after the kill.
	Timeout time.Duration
	// ProbeEvery is how often a new commit attempt is started against a
	// survivor; it is the resolution of the measurement.
	ProbeEvery time.Duration
	// ProbeTimeout bounds one commit attempt.
	ProbeTimeout time.Duration
	// MaxInFlight bounds concurrent attempts.
	MaxInFlight int
}

// FailoverResult is what one round measured.
type FailoverResult struct {
	Killed      string  `json:"killed"`        // node id of the killed leader
	KilledPos   int     `json:"killed_pos"`    // its position in -addr / -pids
	FailoverMs  float64 `json:"failover_ms"`   // SIGKILL → first commit acknowledged by a survivor
	Index       uint64  `json:"index"`         // raft index of that commit
	Via         string  `json:"via"`           // survivor that acknowledged it
	NewLeader   string  `json:"new_leader"`    // node id of the leader afterwards ("" if not found quickly)
	Attempts    int     `json:"attempts"`      // commit attempts started after the kill
	PreIndex    uint64  `json:"pre_index"`     // index of the commit that proved the old leader healthy
	NewLeaderMs float64 `json:"new_leader_ms"` // SIGKILL → a survivor reported role leader (0 if unknown)
}

// Failover finds the leader, proves it healthy with one commit, kills it
// and measures the time until a commit sent to a survivor is acknowledged.
func Failover(ctx context.Context, client *http.Client, cfg FailoverConfig) (FailoverResult, error) {
	var res FailoverResult
	if len(cfg.Addrs) < 2 {
		return res, errors.New("failover needs at least two members")
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = 10 * time.Millisecond
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 2 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.LeaderWait <= 0 {
		cfg.LeaderWait = 15 * time.Second
	}
	addrs := make([]string, len(cfg.Addrs))
	for i, a := range cfg.Addrs {
		addrs[i] = normalizeAddr(a)
	}
	leader, id, err := findTandemLeader(ctx, client, addrs, cfg.Token, cfg.LeaderWait)
	if err != nil {
		return res, err
	}
	pos := -1
	for i, a := range addrs {
		if a == leader {
			pos = i
		}
	}
	if pos < 0 {
		return res, fmt.Errorf("leader %s is not among %v", leader, addrs)
	}
	// The probes commit clock.tick, an engine command that needs nothing
	// set up.
	lt := newTandemTarget(client, []string{leader}, cfg.Token, tickBody)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res.PreIndex, err = lt.commit(pctx, 0)
	cancel()
	if err != nil {
		return res, fmt.Errorf("leader %s (%s) did not commit before the kill: %w", id, leader, err)
	}

	var survivors []string
	for i, a := range addrs {
		if i != pos {
			survivors = append(survivors, a)
		}
	}
	st := newTandemTarget(client, survivors, cfg.Token, tickBody)

	t0 := time.Now()
	if err := cfg.Kill(pos); err != nil {
		return res, fmt.Errorf("killing %s: %w", id, err)
	}
	res.Killed, res.KilledPos = id, pos

	// Watch for a survivor that calls itself leader (informational).
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	leaderSeen := make(chan time.Duration, 1)
	go func() {
		for wctx.Err() == nil {
			for _, a := range survivors {
				s, err := getTandemStatus(wctx, client, a, cfg.Token)
				if err == nil && s.Role == "leader" {
					leaderSeen <- time.Since(t0)
					return
				}
			}
			select {
			case <-wctx.Done():
			case <-time.After(cfg.ProbeEvery):
			}
		}
	}()

	type outcome struct {
		idx uint64
		via string
		at  time.Duration
		err error
	}
	octx, ocancel := context.WithTimeout(ctx, cfg.Timeout)
	defer ocancel()
	results := make(chan outcome, cfg.MaxInFlight)
	sem := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	tick := time.NewTicker(cfg.ProbeEvery)
	defer tick.Stop()
	var lastErr error
	start := func(n int) {
		select {
		case sem <- struct{}{}:
		default:
			return // enough attempts in flight
		}
		res.Attempts++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, acancel := context.WithTimeout(octx, cfg.ProbeTimeout)
			defer acancel()
			w := n % len(survivors)
			idx, err := st.commit(actx, w)
			select {
			case results <- outcome{idx: idx, via: survivors[w], at: time.Since(t0), err: err}:
			case <-octx.Done():
			}
		}()
	}
	n := 0
	start(n)
	var won *outcome
	for won == nil {
		select {
		case <-octx.Done():
			ocancel()
			wg.Wait()
			if lastErr == nil {
				lastErr = octx.Err()
			}
			return res, fmt.Errorf("no commit through a survivor within %s of killing %s: %w", cfg.Timeout, id, lastErr)
		case <-tick.C:
			n++
			start(n)
		case o := <-results:
			if o.err != nil {
				lastErr = o.err
				continue
			}
			won = &o
		}
	}
	ocancel()
	wg.Wait()
	res.FailoverMs = ms(won.at)
	res.Index, res.Via = won.idx, won.via

	select {
	case d := <-leaderSeen:
		res.NewLeaderMs = ms(d)
	default:
	}
	wcancel()
	if _, nid, err := findTandemLeader(ctx, client, survivors, cfg.Token, 5*time.Second); err == nil {
		res.NewLeader = nid
	}
	return res, nil
}

// CatchupConfig bounds waiting for a restarted member.
type CatchupConfig struct {
	Addr  string
	Token string
	Index uint64 // the member must have applied at least this
	// Cluster, when set, holds the admin addresses of every member: once
	// the member knows a leader, one fresh command is committed through
	// the leader and the member must apply that too — proof that it takes
	// part in replication again, not just that it replayed its own log.
	Cluster []string
	Timeout time.Duration // overall bound
	Poll    time.Duration
}

// CatchupResult reports the member's state once caught up.
type CatchupResult struct {
	NodeID       string  `json:"node_id"`
	Role         string  `json:"role"`
	LeaderID     string  `json:"leader_id"`
	AppliedIndex uint64  `json:"applied_index"`
	WaitedMs     float64 `json:"waited_ms"`
}

// Catchup polls GET /v1/status of addr until the node knows a leader and
// has applied cfg.Index (and, with cfg.Cluster, a command committed after
// it came back).
func Catchup(ctx context.Context, client *http.Client, cfg CatchupConfig) (CatchupResult, error) {
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	addr := normalizeAddr(cfg.Addr)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var last fullStatus
	var seen bool // a status was read at least once
	var lastErr error
	target := cfg.Index
	fresh := len(cfg.Cluster) > 0 // a fresh commit is still to be made
	for {
		s, err := getFullStatus(ctx, client, addr, cfg.Token)
		if err != nil {
			lastErr = err
		} else {
			last, seen, lastErr = s, true, nil
			if s.LeaderID != "" && fresh {
				idx, err := commitViaLeader(ctx, client, cfg.Cluster, cfg.Token)
				if err != nil {
					lastErr = fmt.Errorf("committing a fresh command: %w", err)
				} else {
					fresh = false
					if idx > target {
						target = idx
					}
				}
			}
			if s.LeaderID != "" && !fresh && s.AppliedIndex >= target {
				return CatchupResult{NodeID: s.NodeID, Role: s.Role, LeaderID: s.LeaderID,
					AppliedIndex: s.AppliedIndex, WaitedMs: ms(time.Since(t0))}, nil
			}
		}
		select {
		case <-ctx.Done():
			why := "no status answered"
			if seen {
				why = fmt.Sprintf("applied %d, leader %q", last.AppliedIndex, last.LeaderID)
			}
			if lastErr != nil {
				why += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			return CatchupResult{}, fmt.Errorf("%s did not catch up to index %d within %s: %s", addr, target, cfg.Timeout, why)
		case <-time.After(cfg.Poll):
		}
	}
}

// commitViaLeader commits one small command through the current leader.
func commitViaLeader(ctx context.Context, client *http.Client, addrs []string, token string) (uint64, error) {
	leader, _, err := findTandemLeader(ctx, client, addrs, token, 5*time.Second)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return newTandemTarget(client, []string{leader}, token, tickBody).commit(cctx, 0)
}

// ClusterConfig bounds waiting for a cluster to form.
type ClusterConfig struct {
	Addrs   []string
	Token   string
	Voters  int
	Timeout time.Duration
	Poll    time.Duration
}

// WaitCluster polls every member until all report the same leader, the
// expected number of voters and ready.
func WaitCluster(ctx context.Context, client *http.Client, cfg ClusterConfig) (leaderID string, err error) {
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var why, prev string // prev: the last reason found before the deadline
	for {
		if why != "" {
			prev = why
		}
		why = ""
		leader := ""
		for _, a := range cfg.Addrs {
			a = normalizeAddr(a)
			s, err := getFullStatus(ctx, client, a, cfg.Token)
			if err != nil {
				why = err.Error()
				break
			}
			voters := 0
			for _, n := range s.Nodes {
				if n.Suffrage == "voter" {
					voters++
				}
			}
			switch {
			case s.LeaderID == "":
				why = a + ": no leader known"
			case leader != "" && s.LeaderID != leader:
				why = fmt.Sprintf("%s: leader %s, others say %s", a, s.LeaderID, leader)
			case voters != cfg.Voters:
				why = fmt.Sprintf("%s: %d voters, want %d", a, voters, cfg.Voters)
			case !s.Ready:
				why = a + ": not ready"
			}
			if why != "" {
				break
			}
			leader = s.LeaderID
		}
		if why == "" {
			return leader, nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() != nil && prev != "" && strings.Contains(why, "context deadline exceeded") {
				why = prev // the deadline cut a status request short
			}
			return "", fmt.Errorf("cluster did not form within %s: %s", cfg.Timeout, why)
		case <-time.After(cfg.Poll):
		}
	}
}

type fullStatus struct {
	tandemStatus
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	Ready        bool   `json:"ready"`
	Nodes        []struct {
		ID       string `json:"id"`
		Suffrage string `json:"suffrage"`
	} `json:"nodes"`
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago (all listeners are held open together so none repeats).
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		pn, _ := strconv.Atoi(p)
		ports = append(ports, pn)
	}
	return ports, nil
}
