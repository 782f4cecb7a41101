package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTandem imitates the admin API: POST /v1/bench/commit (an engine
// command as JSON; the command's size in the Raft log is taken to be
// overhead + the length of its note), POST /v1/config and GET /v1/status.
type fakeTandem struct {
	token    string
	role     string
	overhead int // 0: answer without entry_bytes
	refuse   string
	index    atomic.Uint64
	mu       sync.Mutex
	bodies   map[string]int
	types    map[string]int
	configs  []string
	conns    atomic.Int64
}

func (f *fakeTandem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == CommitPath:
		b, _ := io.ReadAll(r.Body)
		var c benchCommand
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if r.Header.Get("Content-Type") != "application/json" || dec.Decode(&c) != nil || c.Type == "" {
			http.Error(w, `{"code":"bad_request"}`, http.StatusBadRequest)
			return
		}
		if c.Type == f.refuse {
			http.Error(w, `{"code":"refused"}`, http.StatusConflict)
			return
		}
		var p struct {
			Note string `json:"note"`
		}
		json.Unmarshal(c.Payload, &p)
		f.mu.Lock()
		f.bodies[string(b)]++
		f.types[c.Type]++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if f.overhead == 0 {
			fmt.Fprintf(w, `{"index": %d}`, f.index.Add(1))
			return
		}
		fmt.Fprintf(w, `{"index": %d, "entry_bytes": %d}`, f.index.Add(1), f.overhead+len(p.Note))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/config":
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.configs = append(f.configs, string(b))
		f.mu.Unlock()
		io.WriteString(w, `{"changed": 1}`)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
		json.NewEncoder(w).Encode(map[string]any{"node_id": "n-" + f.role, "role": f.role, "leader_id": "n-leader"})
	default:
		http.NotFound(w, r)
	}
}

func newFake(t *testing.T, role string) (*fakeTandem, *httptest.Server) {
	f := &fakeTandem{token: "s3cret", role: role, overhead: 20, bodies: map[string]int{}, types: map[string]int{}}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

func TestTandemTargetCommits(t *testing.T) {
	f, srv := newFake(t, "leader")
	bodies := noteBodies(8, 100)
	client := newHTTPClient(8)
	tt := newTandemTarget(client, []string{srv.URL + "/"}, f.token, bodies...)
	tt.entryBytes = 120
	_, m := Run(context.Background(), RunConfig{Concurrency: 8, Duration: time.Minute, Ops: 400, OpTimeout: 5 * time.Second}, tt.Do)
	if m.OK != 400 || m.Errors != 0 {
		t.Fatalf("ok=%d errors=%d samples=%v", m.OK, m.Errors, m.ErrorSamples)
	}
	// Each worker notes its own agent's call.
	if len(f.bodies) != 8 || f.types["call.note"] != 400 {
		t.Fatalf("server saw %d distinct bodies, types %v", len(f.bodies), f.types)
	}
	// How the 400 operations spread over the workers is the scheduler's
	// choice (Run hands each worker the next one when it is free): every
	// worker must have committed, not some even share.
	for _, b := range bodies {
		if f.bodies[string(b)] == 0 {
			t.Errorf("body %s never committed", b)
		}
	}
	if m.Hist.Count() != 400 || m.Hist.Quantile(0.99) <= 0 {
		t.Fatalf("histogram count %d p99 %v", m.Hist.Count(), m.Hist.Quantile(0.99))
	}
	// Connections are reused: about one per worker, far fewer than one
	// per request. (The transport hands a connection back to its pool
	// asynchronously, so a worker's next request may occasionally dial.)
	if c := f.conns.Load(); c > 2*8 {
		t.Errorf("opened %d connections for 8 workers and 400 requests", c)
	}
	// A command of another size than the one measured is an error.
	tt.entryBytes = 121
	if err := tt.Do(context.Background(), 0, 1); err == nil || !strings.Contains(err.Error(), "want 121") {
		t.Fatalf("got %v, want a size error", err)
	}
}

func TestNoteBodies(t *testing.T) {
	bodies := noteBodies(1000, 77)
	for i, b := range bodies {
		if len(b) != len(bodies[0]) {
			t.Fatalf("body %d is %d bytes, body 0 %d: the command size must not depend on the agent", i, len(b), len(bodies[0]))
		}
	}
	var c benchCommand
	if err := json.Unmarshal(bodies[42], &c); err != nil || c.Type != "call.note" {
		t.Fatalf("%s: %v", bodies[42], err)
	}
	var p map[string]string
	if err := json.Unmarshal(c.Payload, &p); err != nil || len(p) != 3 || p["agent"] != "bench-a0042" || p["call"] != "bench-c0042" || len(p["note"]) != 77 {
		t.Fatalf("payload %s: %v", c.Payload, err)
	}
	if n := noteOf(maxNote); len(n) != maxNote || strings.ContainsAny(n, "<>&\"\\") {
		t.Fatalf("noteOf(%d) = %q", maxNote, n)
	}
	if !strings.Contains(setupDoc(3), "bench-a0002") || strings.Contains(setupDoc(3), "bench-a0003") {
		t.Fatalf("setupDoc(3):\n%s", setupDoc(3))
	}
}

func TestCalibrateNote(t *testing.T) {
	f, srv := newFake(t, "leader")
	f.overhead = 150
	client := newHTTPClient(1)
	n, err := calibrateNote(context.Background(), client, srv.URL, f.token, 256)
	if err != nil || n != 106 {
		t.Fatalf("got %d, %v; want a note of 106 characters", n, err)
	}
	for _, entry := range []int{150, 651} {
		if _, err := calibrateNote(context.Background(), client, srv.URL, f.token, entry); err == nil || !strings.Contains(err.Error(), "151 to 650 bytes") {
			t.Errorf("-payload %d: got %v, want the possible range", entry, err)
		}
	}
	f.overhead = 0 // an old tandemd: no entry_bytes
	if _, err := calibrateNote(context.Background(), client, srv.URL, f.token, 256); err == nil || !strings.Contains(err.Error(), "entry_bytes") {
		t.Errorf("got %v, want an error about entry_bytes", err)
	}
}

func TestSetup(t *testing.T) {
	_, f1 := newFake(t, "follower")
	f, srv := newFake(t, "leader")
	r, err := Setup(context.Background(), newHTTPClient(8), []string{f1.URL, srv.URL}, f.token, 20, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Leader != srv.URL || r.Agents != 20 || r.Commands != 81 {
		t.Fatalf("result %+v", r)
	}
	if len(f.configs) != 1 || !strings.Contains(f.configs[0], "bench-a0019") {
		t.Fatalf("configs %q", f.configs)
	}
	if f.types["agent.login"] != 40 || f.types["call.incoming"] != 20 || f.types["call.answer"] != 20 {
		t.Fatalf("commands %v", f.types)
	}
	f.refuse = "call.answer"
	if _, err := Setup(context.Background(), newHTTPClient(8), []string{srv.URL}, f.token, 20, 5*time.Second); err == nil || !strings.Contains(err.Error(), "call.answer") {
		t.Fatalf("got %v, want the refused call.answer", err)
	}
	if _, err := Setup(context.Background(), newHTTPClient(8), []string{srv.URL}, f.token, 0, 5*time.Second); err == nil {
		t.Fatal("0 agents must be refused")
	}
}

func TestTandemTargetErrors(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		token   string
		want    string
	}{
		{"unauthorized", nil, "wrong", "HTTP 401"},
		{"not found", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "s3cret", "HTTP 404"},
		{"bad json", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, "s3cret", "bad JSON"},
		{"no index", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"idx": 3}`) }, "s3cret", "no positive"},
		{"zero index", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"index": 0}`) }, "s3cret", "no positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = tc.handler
			if tc.handler == nil {
				h = &fakeTandem{token: "s3cret", role: "leader", bodies: map[string]int{}, types: map[string]int{}}
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			tt := newTandemTarget(newHTTPClient(1), []string{srv.URL}, tc.token, []byte("p"))
			err := tt.Do(context.Background(), 0, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestTandemTargetTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tt := newTandemTarget(newHTTPClient(1), []string{srv.URL}, "t", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := tt.Do(ctx, 0, 1); err == nil {
		t.Fatal("expected a timeout error")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("op timeout not honoured")
	}
}

func TestFindTandemLeader(t *testing.T) {
	_, f1 := newFake(t, "follower")
	_, f2 := newFake(t, "leader")
	_, f3 := newFake(t, "follower")
	addr, id, err := findTandemLeader(context.Background(), newHTTPClient(1),
		[]string{strings.TrimPrefix(f1.URL, "http://"), f2.URL, f3.URL}, "s3cret", 5*time.Second)
	if err != nil || addr != f2.URL || id != "n-leader" {
		t.Fatalf("got %q %q %v, want %q", addr, id, err, f2.URL)
	}
	_, _, err = findTandemLeader(context.Background(), newHTTPClient(1), []string{f1.URL, f3.URL}, "s3cret", 500*time.Millisecond)
	if err == nil {
		t.Fatal("expected no leader")
	}
}
