package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failoverRounds is how many times TestFailover kills the leader
// (TANDEM_FAILOVER_ROUNDS overrides; a round takes about two seconds).
func failoverRounds(t *testing.T) int {
	if v := os.Getenv("TANDEM_FAILOVER_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			t.Fatalf("TANDEM_FAILOVER_ROUNDS=%q: want 1..50", v)
		}
		return n
	}
	return 5
}

// TestFailover: SIGKILL the leader; the two others elect a leader and
// accept a write through tandemctl (the time from the kill to that
// acknowledged write is the failover time, logged as failover_ms=<n>);
// the killed node restarts, rejoins and catches up.
func TestFailover(t *testing.T) {
	nodes := startCluster(t, "f", 3, nil)
	nodes[0].apply(baseConfig).ok(t)
	var times []time.Duration
	for round := 1; round <= failoverRounds(t); round++ {
		leader := waitLeader(t, nodes, 3)
		survivors := followers(nodes, leader)
		queue := fmt.Sprintf("failover-%d", round)
		doc := writeTemp(t, "failover-*.yaml", fmt.Sprintf("queues:\n  - id: %s\n    strategy: fewest-calls\n", queue))

		start := time.Now()
		leader.kill()
		var via *node
		var last ctlResult
		for i := 0; via == nil; i++ {
			if time.Since(start) > waitCluster {
				t.Fatalf("round %d: no write accepted %v after killing leader %s; last attempt:\n%v", round, waitCluster, leader.name(), last)
			}
			n := survivors[i%len(survivors)]
			if last = n.ctl("apply", "-f", doc); last.code == 0 {
				via = n
			}
		}
		elapsed := time.Since(start)
		times = append(times, elapsed)
		newLeader := waitLeader(t, survivors, 3) // one of the survivors
		recordFailover(t, elapsed, fmt.Sprintf("round=%d killed=%s new_leader=%s via=%s", round, leader.id, newLeader.id, via.id))

		// Every survivor sees the write at once (linearizable).
		for _, n := range survivors {
			if got := n.mustConfig("linearizable"); !strings.Contains(got, `"`+queue+`"`) {
				t.Fatalf("round %d: %s does not see queue %s after failover: %s", round, n.name(), queue, got)
			}
		}

		// The killed node restarts, rejoins and catches up.
		st, err := newLeader.status()
		if err != nil {
			t.Fatal(err)
		}
		want := newLeader.mustConfig("linearizable")
		leader.start()
		waitFor(t, waitCluster, leader.name()+" to catch up", func() (bool, string) {
			got, err := leader.status()
			if err != nil {
				return false, err.Error()
			}
			return got.AppliedIndex >= st.CommitIndex && got.LeaderID == newLeader.id,
				fmt.Sprintf("applied %d of %d, leader %q", got.AppliedIndex, st.CommitIndex, got.LeaderID)
		})
		if got := leader.mustConfig("stale"); got != want {
			t.Fatalf("round %d: restarted %s's config differs:\n got %s\nwant %s", round, leader.name(), got, want)
		}
		waitLeader(t, nodes, 3)
	}

	// The whole cluster killed at once comes back with every committed
	// change.
	want := nodes[0].mustConfig("linearizable")
	for _, n := range nodes {
		n.kill()
	}
	for _, n := range nodes {
		if err := n.launch(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.waitHealthy()
	}
	waitLeader(t, nodes, 3)
	for _, n := range nodes {
		if got := n.mustConfig("linearizable"); got != want {
			t.Errorf("%s after the whole cluster restarted:\n got %s\nwant %s", n.name(), got, want)
		}
	}

	var parts []string
	for _, d := range times {
		parts = append(parts, strconv.FormatInt(d.Milliseconds(), 10))
	}
	t.Logf("failover times (ms): %s", strings.Join(parts, " "))
}

// recordFailover logs one measured failover and appends it to the file
// TANDEM_FAILOVER_OUT names, if any.
func recordFailover(t *testing.T, d time.Duration, detail string) {
	t.Helper()
	line := fmt.Sprintf("failover_ms=%d %s", d.Milliseconds(), detail)
	t.Logf("%s", line)
	path := os.Getenv("TANDEM_FAILOVER_OUT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("TANDEM_FAILOVER_OUT: %v", err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("TANDEM_FAILOVER_OUT: %v", err)
	}
}

// TestNoAcknowledgedWriteLost: writers keep applying through every node
// while the leader is SIGKILLed; every write that was acknowledged is in
// the configuration of every node afterwards, the restarted one included.
func TestNoAcknowledgedWriteLost(t *testing.T) {
	nodes := startCluster(t, "a", 3, nil)
	leader := waitLeader(t, nodes, 3)
	var (
		mu     sync.Mutex
		acked  []string
		failed int
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	writer := func(w int) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := nodes[(w+i)%len(nodes)]
			if n == leader && !n.running() {
				continue
			}
			q := fmt.Sprintf("w%d-%d", w, i)
			code, _, err := n.do(http.MethodPost, "/v1/config", true, []byte("queues:\n  - id: "+q+"\n"), "application/yaml")
			mu.Lock()
			if err == nil && code == http.StatusOK {
				acked = append(acked, q)
			} else {
				failed++
			}
			mu.Unlock()
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go writer(w)
	}
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }); wg.Wait() }
	defer halt()
	waitFor(t, waitShort, "30 acknowledged writes", func() (bool, string) { return count() >= 30, strconv.Itoa(count()) })
	leader.kill()
	before := count()
	waitFor(t, waitCluster, "30 more acknowledged writes after the leader was killed", func() (bool, string) {
		return count() >= before+30, strconv.Itoa(count())
	})
	halt()
	mu.Lock()
	t.Logf("%d writes acknowledged, %d failed (the killed node's and those in flight)", len(acked), failed)
	mu.Unlock()

	survivors := followers(nodes, leader)
	leader.start()
	waitLeader(t, nodes, 3)
	want := survivors[0].mustConfig("linearizable")
	for _, n := range nodes {
		got := want
		if n != survivors[0] {
			got = n.mustConfig("linearizable")
		}
		if got != want {
			t.Errorf("%s's config differs from %s's:\n got %s\nwant %s", n.name(), survivors[0].name(), got, want)
		}
		for _, q := range acked {
			if !strings.Contains(got, `"`+q+`"`) {
				t.Errorf("acknowledged write %s missing on %s", q, n.name())
			}
		}
	}
}

// TestPausedLeaderDoesNotServeStaleReads: a leader frozen (SIGSTOP, as in
// a long GC pause or a partition) is replaced; a write is acknowledged by
// the new leader; when the old leader thaws, a linearizable read through
// it must see that write (or fail), never answer from its stale state.
func TestPausedLeaderDoesNotServeStaleReads(t *testing.T) {
	nodes := startCluster(t, "p", 3, nil)
	nodes[0].apply(baseConfig).ok(t)
	old := waitLeader(t, nodes, 3)
	survivors := followers(nodes, old)

	old.signal(syscall.SIGSTOP)
	frozeAt := time.Now()
	thawed := false
	defer func() {
		if !thawed {
			old.signal(syscall.SIGCONT)
		}
	}()
	waitFor(t, waitCluster, "a write accepted while "+old.name()+" is frozen", func() (bool, string) {
		r := survivors[0].apply("queues:\n  - id: while-frozen\n")
		return r.code == 0, r.String()
	})
	took := time.Since(frozeAt)
	newLeader := waitLeader(t, survivors, 3)
	t.Logf("write accepted %v after freezing %s; %s leads", took.Round(time.Millisecond), old.name(), newLeader.name())
	// A forwarded write must not wait out the peer request timeout (10 s)
	// on a leader that accepts connections but never answers.
	if took > 8*time.Second {
		t.Errorf("a write through a follower took %v while the old leader was frozen", took)
	}

	old.signal(syscall.SIGCONT)
	thawAt := time.Now()
	thawed = true
	code, body, err := old.get("/v1/config?consistency=linearizable", true)
	switch {
	case err != nil:
		t.Logf("first linearizable read on thawed %s failed: %v (allowed)", old.name(), err)
	case code == http.StatusOK && !strings.Contains(string(body), `"while-frozen"`):
		t.Fatalf("thawed old leader %s served a stale linearizable read (new leader %s): %s", old.name(), newLeader.name(), body)
	case code != http.StatusOK:
		t.Logf("first linearizable read on thawed %s: HTTP %d (allowed)", old.name(), code)
	}
	t.Logf("first read after thaw answered in %v", time.Since(thawAt).Round(time.Millisecond))
	waitFor(t, waitShort, "linearizable reads on thawed "+old.name(), func() (bool, string) {
		got, err := old.config("linearizable")
		if err != nil {
			return false, err.Error()
		}
		if !strings.Contains(got, `"while-frozen"`) {
			t.Fatalf("stale linearizable read on %s: %s", old.name(), got)
		}
		return true, ""
	})
	t.Logf("linearizable read on %s good %v after thaw", old.name(), time.Since(thawAt).Round(time.Millisecond))
	old.apply("queues:\n  - id: after-thaw\n").ok(t)
	waitLeader(t, nodes, 3)
	t.Logf("write through %s and cluster settled %v after thaw", old.name(), time.Since(thawAt).Round(time.Millisecond))
}
