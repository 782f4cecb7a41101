package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultRunDuration is how long TestFaultRun injects faults: 30 s in
// `make test`, minutes under `make chaos` (TANDEM_CHAOS_DURATION).
func faultRunDuration(t *testing.T) time.Duration {
	v := os.Getenv("TANDEM_CHAOS_DURATION")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("TANDEM_CHAOS_DURATION=%q: want a positive duration such as 5m", v)
	}
	return d
}

// history is what the clients of a fault run saw. acked is in the order
// the acknowledgements arrived, so the writes acknowledged before a read
// began are a prefix of it.
type history struct {
	mu      sync.Mutex
	acked   []string
	index   map[uint64]string // commit index of each acknowledged write
	writes  int               // attempts
	reads   int               // successful linearizable reads
	readErr int
	errs    []string // violations seen by the clients
}

func (h *history) violation(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) < 20 {
		h.errs = append(h.errs, fmt.Sprintf(format, args...))
	}
}

func (h *history) ackedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// configQueues decodes the queue ids of a GET /v1/config answer.
func configQueues(b []byte) ([]string, error) {
	var doc struct {
		Queues []struct {
			ID string `json:"id"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	ids := make([]string, len(doc.Queues))
	for i, q := range doc.Queues {
		ids[i] = q.ID
	}
	return ids, nil
}

// TestFaultRun: three real nodes under concurrent writers (to random
// nodes) and linearizable readers, while the leader is killed and
// restarted, the leader is frozen for 4 s, a follower is killed and
// restarted, and two nodes are killed together. At the end all three
// agree, every acknowledged write is on each, none is there twice, and no
// linearizable read missed a write acknowledged before the read began.
//
// The members snapshot every 512 entries (checked every 2 to 4 s), so a
// restarted member restores a snapshot and replays a short log, and one
// that was down while the leader compacted is sent the leader's
// snapshot: the paths of a long-running cluster, under the same faults.
// (With the default 8,192 a run of minutes never snapshots, and every
// restart replays the whole log: its thousands of configuration changes,
// each costing more than the one before, took a restarted member longer
// to replay than the run allows to recover.)
func TestFaultRun(t *testing.T) {
	duration := faultRunDuration(t)
	snap := []nodeOpt{withArgs("--snapshot-threshold", "512", "--snapshot-interval", "2s")}
	nodes := startCluster(t, "f", 3, map[int][]nodeOpt{0: snap, 1: snap, 2: snap})
	h := &history{index: map[uint64]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}

	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := fmt.Sprintf("fw%d-%d", w, i)
				n := nodes[rand.IntN(len(nodes))]
				ack, err := postQueueResult(client, n, q)
				h.mu.Lock()
				h.writes++
				if err == nil {
					h.acked = append(h.acked, q)
					if prev, dup := h.index[ack.Index]; dup {
						h.errs = append(h.errs, fmt.Sprintf("writes %s and %s acknowledged at the same index %d", prev, q, ack.Index))
					}
					h.index[ack.Index] = q
					if ack.Result.Created != 1 {
						h.errs = append(h.errs, fmt.Sprintf("write %s acknowledged with %d created (applied twice?)", q, ack.Result.Created))
					}
				}
				h.mu.Unlock()
				// Paced: every write is a config apply, whose cost grows
				// with the configuration (thousands of queues here), and a
				// restarted node must be able to catch up while it runs.
				time.Sleep(60 * time.Millisecond)
			}
		}()
	}
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.mu.Lock()
				before := h.acked[:len(h.acked):len(h.acked)]
				h.mu.Unlock()
				n := nodes[rand.IntN(len(nodes))]
				ids, err := readQueues(client, n, "linearizable")
				h.mu.Lock()
				if err != nil {
					h.readErr++
				} else {
					h.reads++
				}
				h.mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if problem := checkQueues(ids, before); problem != "" {
					h.violation("linearizable read on %s: %s", n.name(), problem)
				}
			}
		}()
	}
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); wg.Wait() }) }
	defer halt()

	faults := []struct {
		name string
		run  func(t *testing.T, leader *node) string
	}{
		{"leader SIGKILL and restart", func(t *testing.T, leader *node) string {
			leader.kill()
			time.Sleep(2 * time.Second)
			leader.start()
			return leader.name()
		}},
		{"leader SIGSTOP for 4 s", func(t *testing.T, leader *node) string {
			leader.signal(syscall.SIGSTOP)
			time.Sleep(4 * time.Second)
			leader.signal(syscall.SIGCONT)
			return leader.name()
		}},
		{"follower SIGKILL and restart", func(t *testing.T, leader *node) string {
			f := followers(nodes, leader)[rand.IntN(2)]
			f.kill()
			time.Sleep(2 * time.Second)
			f.start()
			return f.name()
		}},
		{"two nodes SIGKILLed together", func(t *testing.T, leader *node) string {
			victims := []*node{leader, followers(nodes, leader)[rand.IntN(2)]}
			if rand.IntN(2) == 0 {
				victims = followers(nodes, leader)
			}
			for _, v := range victims {
				v.kill()
			}
			time.Sleep(2 * time.Second)
			for _, v := range victims {
				v.start()
			}
			return victims[0].name() + "+" + victims[1].name()
		}},
	}
	deadline := time.Now().Add(duration)
	waitFor(t, waitShort, "first acknowledged writes", func() (bool, string) { return h.ackedCount() >= 20, "" })
	for i := 0; i < len(faults) || time.Now().Before(deadline); i++ {
		f := faults[i%len(faults)]
		leader := waitLeader(t, nodes, 3)
		before := h.ackedCount()
		began := time.Now()
		who := f.run(t, leader)
		waitLeader(t, nodes, 3)
		waitFor(t, waitCluster, "writes acknowledged after "+f.name, func() (bool, string) {
			return h.ackedCount() >= before+10, ""
		})
		t.Logf("fault %d: %s (%s): recovered after %v; %d writes acknowledged so far",
			i+1, f.name, who, time.Since(began).Round(100*time.Millisecond), h.ackedCount())
	}
	halt()

	h.mu.Lock()
	t.Logf("%d writes attempted, %d acknowledged; %d linearizable reads answered, %d failed (refused or cut by a fault)",
		h.writes, len(h.acked), h.reads, h.readErr)
	for _, e := range h.errs {
		t.Error(e)
	}
	if h.reads < 10 {
		t.Errorf("only %d linearizable reads answered: the run checked too little", h.reads)
	}
	acked := h.acked
	h.mu.Unlock()

	leader := waitLeader(t, nodes, 3)
	checkAllHave(t, nodes, leader, acked)
	for _, n := range nodes {
		ids, err := readQueues(client, n, "stale")
		if err != nil {
			t.Fatalf("%s: %v", n.name(), err)
		}
		if problem := checkQueues(ids, acked); problem != "" {
			t.Errorf("%s at the end: %s", n.name(), problem)
		}
	}
}

// readQueues reads the queue ids of GET /v1/config through n.
func readQueues(client *http.Client, n *node, consistency string) ([]string, error) {
	req, err := http.NewRequest(http.MethodGet, n.url("/v1/config?consistency="+consistency), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.tokenValue())
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return configQueues(b)
}

// checkQueues says what is wrong with ids: a queue listed twice, or one
// of want missing ("" when nothing is).
func checkQueues(ids, want []string) string {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return "queue " + id + " listed twice"
		}
		seen[id] = true
	}
	var missing []string
	for _, q := range want {
		if !seen[q] {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], "…")
		}
		return fmt.Sprintf("%d writes acknowledged before it began are missing: %s", len(missing), strings.Join(missing, ", "))
	}
	return ""
}
