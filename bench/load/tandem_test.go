package main

import (
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

// fakeTandem imitates the admin API: POST /v1/bench/commit and GET /v1/status.
type fakeTandem struct {
	token  string
	role   string
	index  atomic.Uint64
	mu     sync.Mutex
	bodies map[string]int
	conns  atomic.Int64
}

func (f *fakeTandem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == CommitPath:
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies[string(b)]++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"index": %d}`, f.index.Add(1))
	case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
		json.NewEncoder(w).Encode(map[string]any{"node_id": "n-" + f.role, "role": f.role, "leader_id": "n-leader"})
	default:
		http.NotFound(w, r)
	}
}

func newFake(t *testing.T, role string) (*fakeTandem, *httptest.Server) {
	f := &fakeTandem{token: "s3cret", role: role, bodies: map[string]int{}}
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
	payload := []byte(strings.Repeat("x", 256))
	client := newHTTPClient(8)
	tt := newTandemTarget(client, []string{srv.URL + "/"}, f.token, payload)
	_, m := Run(context.Background(), RunConfig{Concurrency: 8, Duration: time.Minute, Ops: 400, OpTimeout: 5 * time.Second}, tt.Do)
	if m.OK != 400 || m.Errors != 0 {
		t.Fatalf("ok=%d errors=%d samples=%v", m.OK, m.Errors, m.ErrorSamples)
	}
	if f.bodies[string(payload)] != 400 || len(f.bodies) != 1 {
		t.Fatalf("server saw bodies %v", len(f.bodies))
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
				h = &fakeTandem{token: "s3cret", role: "leader", bodies: map[string]int{}}
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
