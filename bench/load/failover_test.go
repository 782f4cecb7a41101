package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCluster imitates three Tandem members: one leader; after the leader
// is killed the survivors refuse commits for electionDelay, then the first
// survivor leads and every survivor commits (followers "forward").
type fakeCluster struct {
	t             *testing.T
	token         string
	electionDelay time.Duration

	mu       sync.Mutex
	leader   int // position, -1 while electing
	killedAt time.Time
	dead     map[int]bool
	index    uint64
	applied  []uint64 // per member
	srvs     []*httptest.Server
}

func newFakeCluster(t *testing.T, n int, delay time.Duration) *fakeCluster {
	c := &fakeCluster{t: t, token: "s3cret", electionDelay: delay, leader: 1, dead: map[int]bool{}, index: 10,
		applied: make([]uint64, n)}
	for i := 0; i < n; i++ {
		i := i
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serve(i, w, r) }))
		t.Cleanup(srv.Close)
		c.srvs = append(c.srvs, srv)
	}
	return c
}

func (c *fakeCluster) addrs() []string {
	var a []string
	for _, s := range c.srvs {
		a = append(a, s.URL)
	}
	return a
}

// currentLeader elects the first survivor once electionDelay has passed.
func (c *fakeCluster) currentLeader() int {
	if c.leader < 0 && time.Since(c.killedAt) >= c.electionDelay {
		for i := range c.srvs {
			if !c.dead[i] {
				c.leader = i
				break
			}
		}
	}
	return c.leader
}

func (c *fakeCluster) kill(i int) error {
	c.mu.Lock()
	if c.dead[i] {
		c.mu.Unlock()
		return fmt.Errorf("member %d already dead", i)
	}
	c.dead[i] = true
	if c.leader == i {
		c.leader = -1
		c.killedAt = time.Now()
	}
	c.mu.Unlock()
	c.srvs[i].CloseClientConnections()
	c.srvs[i].Listener.Close()
	return nil
}

func (c *fakeCluster) serve(i int, w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+c.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead[i] {
		panic(http.ErrAbortHandler)
	}
	l := c.currentLeader()
	id := func(p int) string {
		if p < 0 {
			return ""
		}
		return "n" + strconv.Itoa(p+1)
	}
	switch r.URL.Path {
	case CommitPath:
		// The probes commit clock.tick, an engine command that needs
		// nothing set up.
		var cmd benchCommand
		if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil || cmd.Type != "clock.tick" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, `{"code":"bad_request"}`, http.StatusBadRequest)
			return
		}
		if l < 0 {
			http.Error(w, `{"error":"no cluster leader"}`, http.StatusServiceUnavailable)
			return
		}
		c.index++
		for m := range c.applied {
			if !c.dead[m] {
				c.applied[m] = c.index
			}
		}
		fmt.Fprintf(w, `{"index": %d}`, c.index)
	case "/v1/status":
		role := "follower"
		if l == i {
			role = "leader"
		}
		nodes := []map[string]string{}
		for m := range c.srvs {
			nodes = append(nodes, map[string]string{"id": id(m), "suffrage": "voter"})
		}
		json.NewEncoder(w).Encode(map[string]any{"node_id": id(i), "role": role, "leader_id": id(l),
			"applied_index": c.applied[i], "commit_index": c.index, "ready": l >= 0, "nodes": nodes})
	default:
		http.NotFound(w, r)
	}
}

func TestFailoverMeasuresElection(t *testing.T) {
	c := newFakeCluster(t, 3, 150*time.Millisecond)
	var killed []int
	res, err := Failover(context.Background(), newHTTPClient(8), FailoverConfig{
		Addrs: c.addrs(), Token: c.token, Timeout: 5 * time.Second, ProbeEvery: 5 * time.Millisecond,
		Kill: func(i int) error { killed = append(killed, i); return c.kill(i) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(killed) != 1 || killed[0] != 1 || res.KilledPos != 1 || res.Killed != "n2" {
		t.Fatalf("killed %v, result %+v; want the leader n2 (position 1)", killed, res)
	}
	if res.FailoverMs < 150 || res.FailoverMs > 2000 {
		t.Fatalf("failover %v ms, want about 150", res.FailoverMs)
	}
	if res.Index <= res.PreIndex || res.Attempts < 2 {
		t.Fatalf("index %d pre %d attempts %d", res.Index, res.PreIndex, res.Attempts)
	}
	if res.NewLeader != "n1" || strings.Contains(res.Via, c.srvs[1].URL) {
		t.Fatalf("new leader %q via %q", res.NewLeader, res.Via)
	}
}

func TestFailoverTimesOut(t *testing.T) {
	c := newFakeCluster(t, 3, time.Hour) // no election ever
	start := time.Now()
	res, err := Failover(context.Background(), newHTTPClient(8), FailoverConfig{
		Addrs: c.addrs(), Token: c.token, Timeout: 300 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
		Kill: c.kill,
	})
	if err == nil || !strings.Contains(err.Error(), "no commit through a survivor") {
		t.Fatalf("got %v, want a timeout", err)
	}
	if res.Killed != "n2" {
		t.Fatalf("the result must name the killed member: %+v", res)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestFailoverNoLeaderNoKill(t *testing.T) {
	c := newFakeCluster(t, 3, time.Hour)
	c.leader, c.killedAt = -1, time.Now()
	res, err := Failover(context.Background(), newHTTPClient(2), FailoverConfig{
		Addrs: c.addrs(), Token: c.token, LeaderWait: 300 * time.Millisecond,
		Kill: func(int) error { t.Fatal("killed without a leader"); return nil },
	})
	if err == nil || res.Killed != "" {
		t.Fatalf("got %+v %v", res, err)
	}
}

func TestCatchupAndWaitCluster(t *testing.T) {
	c := newFakeCluster(t, 3, 0)
	client := newHTTPClient(2)
	id, err := WaitCluster(context.Background(), client, ClusterConfig{Addrs: c.addrs(), Token: c.token, Voters: 3, Timeout: 2 * time.Second})
	if err != nil || id != "n2" {
		t.Fatalf("leader %q %v", id, err)
	}
	if _, err := WaitCluster(context.Background(), client, ClusterConfig{Addrs: c.addrs(), Token: c.token, Voters: 5, Timeout: 300 * time.Millisecond}); err == nil ||
		!strings.Contains(err.Error(), "3 voters, want 5") {
		t.Fatalf("want a voter-count error, got %v", err)
	}

	c.mu.Lock()
	c.applied[2] = 5
	c.mu.Unlock()
	go func() {
		time.Sleep(150 * time.Millisecond)
		c.mu.Lock()
		c.applied[2] = 42
		c.mu.Unlock()
	}()
	r, err := Catchup(context.Background(), client, CatchupConfig{Addr: c.srvs[2].URL, Token: c.token, Index: 42, Timeout: 2 * time.Second, Poll: 10 * time.Millisecond})
	if err != nil || r.AppliedIndex != 42 || r.LeaderID != "n2" || r.WaitedMs < 100 {
		t.Fatalf("catchup %+v %v", r, err)
	}
	_, err = Catchup(context.Background(), client, CatchupConfig{Addr: c.srvs[2].URL, Token: c.token, Index: 1000, Timeout: 500 * time.Millisecond, Poll: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "applied 42") {
		t.Fatalf("want a catch-up timeout naming the applied index, got %v", err)
	}

	// With the cluster given, one fresh command is committed through the
	// leader and the member must have applied it.
	c.mu.Lock()
	before := c.index
	c.mu.Unlock()
	r, err = Catchup(context.Background(), client, CatchupConfig{Addr: c.srvs[0].URL, Token: c.token, Cluster: c.addrs(), Timeout: 2 * time.Second, Poll: 10 * time.Millisecond})
	if err != nil || r.AppliedIndex != before+1 {
		t.Fatalf("fresh catchup %+v %v; want applied %d", r, err, before+1)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(12)
	if err != nil || len(ports) != 12 {
		t.Fatalf("%v %v", ports, err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("bad or repeated port %d in %v", p, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not free after FreePorts returned: %v", p, err)
		}
		l.Close()
	}
}

func TestSubcommands(t *testing.T) {
	c := newFakeCluster(t, 3, 50*time.Millisecond)
	tok := t.TempDir() + "/tok"
	if err := os.WriteFile(tok, []byte(c.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, _ := sub("ports", "3")
	if code != 0 || len(strings.Fields(out)) != 3 {
		t.Fatalf("ports: %d %q", code, out)
	}
	addrs := strings.Join(c.addrs(), ",")
	code, out, errs := sub("wait-cluster", "-addr", addrs, "-token-file", tok, "-timeout", "2s")
	if code != 0 || !strings.Contains(out, `"leader_id":"n2"`) {
		t.Fatalf("wait-cluster: %d %q %s", code, out, errs)
	}

	// failover kills through killPID; map the fake pids to members.
	old := killPID
	defer func() { killPID = old }()
	killPID = func(pid int) error { return c.kill(pid - 100) }
	code, out, errs = sub("failover", "-addr", addrs, "-pids", "100,101,102", "-token-file", tok, "-timeout", "5s")
	if code != 0 {
		t.Fatalf("failover: %d %s", code, errs)
	}
	var fr FailoverResult
	if err := json.Unmarshal([]byte(out), &fr); err != nil || fr.KilledPos != 1 || fr.FailoverMs < 50 || fr.Index == 0 {
		t.Fatalf("failover output %q: %+v %v", out, fr, err)
	}
	code, out, errs = sub("catchup", "-addr", c.srvs[0].URL, "-index", strconv.FormatUint(fr.Index, 10), "-cluster", addrs, "-token-file", tok, "-timeout", "2s")
	if code != 0 || !strings.Contains(out, `"applied_index":`) {
		t.Fatalf("catchup: %d %q %s", code, out, errs)
	}

	for _, bad := range [][]string{
		{"nope"},
		{"ports"},
		{"ports", "x"},
		{"wait-cluster", "-token-file", tok},
		{"failover", "-addr", addrs, "-pids", "1,2", "-token-file", tok},
		{"failover", "-addr", addrs, "-pids", "a,b,c", "-token-file", tok},
		{"catchup", "-addr", addrs, "-token-file", tok},
		{"catchup", "-addr", c.srvs[0].URL, "-token-file", tok, "extra"},
	} {
		if code, _, _ := sub(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}
