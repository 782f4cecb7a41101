package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// CommitPath is the Tandem admin endpoint (tandemd --bench-api) that
// commits one engine command given as {"type","payload"} — checked like
// any other and proposed through the cluster — and answers once it is
// committed and applied: 200 {"index": <raft log index>, "entry_bytes":
// <size of the command as written in the Raft log>}.
const CommitPath = "/v1/bench/commit"

// benchCommand is the body of CommitPath.
type benchCommand struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func mustBody(typ string, payload any) []byte {
	c := benchCommand{Type: typ}
	if payload != nil {
		p, err := json.Marshal(payload)
		if err != nil {
			panic(err)
		}
		c.Payload = p
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// tickBody commits a clock.tick: a real engine command that needs nothing
// set up, used by the failover and catch-up probes.
var tickBody = mustBody("clock.tick", nil)

// tandemTarget posts commands to CommitPath on one or more admin addresses
// (worker i uses address i mod len and body i mod len).
type tandemTarget struct {
	client *http.Client
	urls   []string
	token  string
	bodies [][]byte
	// entryBytes, when > 0, is the size every answer must report.
	entryBytes int
}

// newHTTPClient returns a client whose pool keeps an idle connection per
// worker, so that the benchmark measures the server, not TCP handshakes.
func newHTTPClient(concurrency int) *http.Client {
	tr := &http.Transport{
		Proxy: nil, // loopback benchmark: never go through an environment proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          2 * concurrency,
		MaxIdleConnsPerHost:   2 * concurrency,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0, // bounded per operation by the request context
	}
	return &http.Client{Transport: tr}
}

// normalizeAddr turns "127.0.0.1:7070" or "http://127.0.0.1:7070/" into
// "http://127.0.0.1:7070".
func normalizeAddr(a string) string {
	a = strings.TrimSpace(a)
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	return strings.TrimRight(a, "/")
}

func newTandemTarget(client *http.Client, addrs []string, token string, bodies ...[]byte) *tandemTarget {
	if len(bodies) == 0 {
		bodies = [][]byte{tickBody}
	}
	t := &tandemTarget{client: client, token: token, bodies: bodies}
	for _, a := range addrs {
		t.urls = append(t.urls, normalizeAddr(a)+CommitPath)
	}
	return t
}

type commitResponse struct {
	Index      *uint64 `json:"index"`
	EntryBytes int     `json:"entry_bytes"`
}

// Do commits one command and checks the answer.
func (t *tandemTarget) Do(ctx context.Context, worker int, _ uint64) error {
	_, err := t.commit(ctx, worker)
	return err
}

// commit posts worker's command to worker's address and returns the raft
// index the server reports.
func (t *tandemTarget) commit(ctx context.Context, worker int) (uint64, error) {
	cr, err := t.post(ctx, worker)
	if err != nil {
		return 0, err
	}
	if t.entryBytes > 0 && cr.EntryBytes != t.entryBytes {
		return 0, fmt.Errorf("POST %s: the command took %d bytes in the Raft log, want %d", CommitPath, cr.EntryBytes, t.entryBytes)
	}
	return *cr.Index, nil
}

func (t *tandemTarget) post(ctx context.Context, worker int) (commitResponse, error) {
	var cr commitResponse
	url := t.urls[worker%len(t.urls)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(t.bodies[worker%len(t.bodies)]))
	if err != nil {
		return cr, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return cr, err
	}
	defer func() {
		// Drain so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return cr, fmt.Errorf("reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return cr, fmt.Errorf("POST %s: HTTP %d: %s", CommitPath, resp.StatusCode, snippet(body))
	}
	if err := json.Unmarshal(body, &cr); err != nil {
		return cr, fmt.Errorf("POST %s: bad JSON %q: %v", CommitPath, snippet(body), err)
	}
	if cr.Index == nil || *cr.Index == 0 {
		return cr, fmt.Errorf("POST %s: answer has no positive \"index\": %s", CommitPath, snippet(body))
	}
	return cr, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

type tandemStatus struct {
	NodeID   string `json:"node_id"`
	Role     string `json:"role"`
	LeaderID string `json:"leader_id"`
}

// findTandemLeader asks GET /v1/status of every address until one says it
// is the leader, for at most wait. It returns the leader's normalized
// address and node id.
func findTandemLeader(ctx context.Context, client *http.Client, addrs []string, token string, wait time.Duration) (addr, nodeID string, err error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var lastErr error
	for {
		for _, a := range addrs {
			a = normalizeAddr(a)
			st, err := getTandemStatus(ctx, client, a, token)
			if err != nil {
				lastErr = err
				continue
			}
			if st.Role == "leader" || (st.NodeID != "" && st.NodeID == st.LeaderID) {
				return a, st.NodeID, nil
			}
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no node reports role \"leader\"")
			}
			return "", "", fmt.Errorf("finding the leader within %s: %w", wait, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func getTandemStatus(ctx context.Context, client *http.Client, addr, token string) (tandemStatus, error) {
	var st tandemStatus
	err := getStatusInto(ctx, client, addr, token, &st)
	return st, err
}

func getFullStatus(ctx context.Context, client *http.Client, addr, token string) (fullStatus, error) {
	var st fullStatus
	err := getStatusInto(ctx, client, addr, token, &st)
	return st, err
}

// getStatusInto decodes GET addr/v1/status into st.
func getStatusInto(ctx context.Context, client *http.Client, addr, token string, st any) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/status", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/v1/status: HTTP %d: %s", addr, resp.StatusCode, snippet(body))
	}
	if err := json.Unmarshal(body, st); err != nil {
		return fmt.Errorf("GET %s/v1/status: bad JSON: %v", addr, err)
	}
	return nil
}
