package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/console"
)

// TestLoginFlood: 200 parallel wrong log-ins against one node do not take
// it down — password checks run on a bounded pool and failures throttle
// the address and the user with a growing delay (429 with Retry-After) —
// /healthz keeps answering fast meanwhile, and the right password works
// once the delay has passed (issue 12.3).
func TestLoginFlood(t *testing.T) {
	n := newNode(t, "lf1")
	n.start()
	waitLeader(t, []*node{n}, 1)
	if n.httpAddr == "" {
		t.Fatal("tandemd has no --http-addr")
	}
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	n.apply(fmt.Sprintf("users:\n  - {id: ann, name: Ann, password_hash: %q}\n", hash)).ok(t)
	login := func(pw string) (int, http.Header) {
		body := []byte(fmt.Sprintf(`{"user":"ann","password":%q}`, pw))
		resp, err := http.Post("http://"+n.httpAddr+console.PublicPrefix+"/session", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, nil
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}

	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	flooding := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := login(fmt.Sprintf("wrong-%03d", i))
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	go func() { wg.Wait(); close(flooding) }()

	// Only the probes answered while log-ins were still unanswered count:
	// the flood lasts at least the 600,000-iteration password checks of
	// its first failures (run on a pool of half the CPUs), a hundred
	// milliseconds or more on any machine, room for several probes 20 ms
	// apart; none would mean the test measured nothing during the flood.
	var took []time.Duration
	client := &http.Client{Timeout: 5 * time.Second}
probe:
	for i := 0; i < 200; i++ {
		start := time.Now()
		resp, err := client.Get("http://" + n.adminAddr + "/healthz")
		if err != nil {
			t.Fatalf("/healthz during the flood: %v", err)
		}
		resp.Body.Close()
		d := time.Since(start)
		select {
		case <-flooding:
			break probe
		default:
			took = append(took, d)
		}
		select {
		case <-flooding:
			break probe
		case <-time.After(20 * time.Millisecond):
		}
	}
	wg.Wait()
	if len(took) == 0 {
		t.Fatal("every wrong log-in was answered before /healthz answered once: nothing was measured during the flood")
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	med, worst := took[len(took)/2], took[len(took)-1]
	t.Logf("wrong log-ins: %v; /healthz during the flood: %d probes, median %v, worst %v", codes, len(took), med, worst)
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusOK] != 0 {
		t.Errorf("answers to 200 wrong log-ins: %v; want 401s, then 429s, no 200", codes)
	}
	if med > 50*time.Millisecond {
		t.Errorf("/healthz took %v (median) during the flood, want under 50 ms", med)
	}

	// The right password, once the delay has passed.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, hdr := login("ann-secret-1")
		if code == http.StatusOK {
			break
		}
		if code != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("the right password after the flood: HTTP %d", code)
		}
		secs, _ := strconv.Atoi(hdr.Get("Retry-After"))
		if secs < 1 || secs > 300 {
			t.Fatalf("429 with Retry-After %q", hdr.Get("Retry-After"))
		}
		time.Sleep(time.Duration(secs) * time.Second)
	}
}
