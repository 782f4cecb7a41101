package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/console"
)

// consoleClient is an operator console speaking the operations API of one node
// at a time, as a real console does: a session, the state, the live
// stream, and operations.
type consoleClient struct {
	t     *testing.T
	node  *node
	token string
	ws    *websocket.Conn
	last  command.Position // last event applied, or position the stream gave
	types []string         // every event type received, in order
	raw   []string         // every stream message, as sent
}

func (c *consoleClient) url(path string) string {
	return "http://" + c.node.httpAddr + "/console/api/v1" + path
}

func (c *consoleClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url(path), rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (c *consoleClient) op(name string, body any) map[string]any {
	c.t.Helper()
	code, out := c.do("POST", "/ops/"+name, body)
	if code != 200 {
		c.t.Fatalf("%s on %s: %d %v", name, c.node.name(), code, out)
	}
	return out
}

// follow opens the live stream on the console's node from the position
// of the last event applied (or from since when nothing was applied yet).
func (c *consoleClient) follow(since string) {
	c.t.Helper()
	if c.last != (command.Position{}) {
		since = fmt.Sprintf("%d.%d", c.last.Index, c.last.Seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+c.node.httpAddr+"/console/api/v1/events?since="+since+"&access_token="+c.token, nil)
	if err != nil {
		c.t.Fatalf("stream on %s: %v", c.node.name(), err)
	}
	ws.SetReadLimit(16 << 20)
	c.ws = ws
	c.t.Cleanup(func() { ws.CloseNow() })
}

// until reads the stream until an event of type typ arrives. Every event
// must come strictly after the previous one: nothing shown twice.
func (c *consoleClient) until(typ string, within time.Duration) map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for %s on %s (seen %v): %v", typ, c.node.name(), c.types, err)
		}
		c.raw = append(c.raw, string(b))
		var m struct {
			Type     string          `json:"type"`
			Message  string          `json:"message"`
			Events   []command.Event `json:"events"`
			Since    string          `json:"since"`
			Position string          `json:"position"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("stream message %s: %v", b, err)
		}
		if m.Type == "reset" || m.Type == "resume" {
			c.t.Fatalf("stream %s: %s", m.Type, m.Message)
		}
		// The stream is filtered per session: a position covers the
		// events this console does not see (it resumes from there).
		c.advance(m.Since, m.Type == "position")
		for _, ev := range m.Events {
			if !ev.Pos().After(c.last) {
				c.t.Fatalf("event %s at %+v after %+v: shown twice or out of order", ev.Type, ev.Pos(), c.last)
			}
			c.last = ev.Pos()
			c.types = append(c.types, ev.Type)
			if ev.Type == typ {
				var data map[string]any
				json.Unmarshal(ev.Data, &data)
				return data
			}
		}
		c.advance(m.Position, true)
	}
}

// advance moves the console's position to p ("INDEX.SEQ") when ok and
// p is later.
func (c *consoleClient) advance(p string, ok bool) {
	if !ok || p == "" {
		return
	}
	is, ss, hasSeq := strings.Cut(p, ".")
	pos := command.EndOf(0)
	var err error
	if pos.Index, err = strconv.ParseUint(is, 10, 64); err == nil && hasSeq {
		pos.Seq, err = strconv.Atoi(ss)
	}
	if err != nil {
		c.t.Fatalf("stream position %q: %v", p, err)
	}
	if pos.After(c.last) {
		c.last = pos
	}
}

// TestOperationsAPIAcrossFailover drives the operations API of a 3-node
// cluster as a console does: log in on a follower, follow the event
// stream, take a call whose ring timeout the leader's ticker enforces,
// then lose the console's node (the session and the stream resume on
// another member from the last position) and lose the leader (the new
// leader's ticker takes over).
func TestOperationsAPIAcrossFailover(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "ops", 3, nil)
	leader := waitLeader(t, nodes, 3)
	if leader.httpAddr == "" {
		t.Fatal("tandemd has no --http-addr")
	}
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	leader.apply(fmt.Sprintf(`
settings: {ring_timeout_seconds: 2}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`, hash)).ok(t)
	edge := func(via *node, op string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		code, out, err := via.do("POST", "/v1/console/ops/"+op, true, b, "application/json")
		if err != nil || code != 200 {
			t.Fatalf("edge %s via %s: %d %s %v", op, via.name(), code, out, err)
		}
	}

	fs := followers(nodes, leader)
	c := &consoleClient{t: t, node: fs[0]}
	if code, out := c.do("POST", "/session", map[string]string{"user": "ann", "password": "wrong-password"}); code != 401 {
		t.Fatalf("wrong password: %d %v", code, out)
	}
	code, out := c.do("POST", "/session", map[string]string{"user": "ann", "password": "ann-secret-1"})
	if code != 200 || out["agent"] != "a1" {
		t.Fatalf("login: %d %v", code, out)
	}
	c.token = out["token"].(string)
	code, state := c.do("GET", "/state", nil)
	if code != 200 {
		t.Fatalf("state: %d %v", code, state)
	}
	c.follow(state["since"].(string))
	c.op("login", nil)
	c.op("login", nil)
	c.until("agent.state_changed", 10*time.Second)

	// A call rings; nobody answers: the leader's ticker rings it out after
	// 2 s, and it is offered again.
	edge(leader, "incoming", map[string]any{"call": "c1", "queue": "sales", "number": "+44 161 5527789"})
	c.until("call.offered", 10*time.Second)
	c.until("call.no_answer", 15*time.Second)
	c.until("call.offered", 10*time.Second)
	c.op("answer", nil)
	c.until("call.answered", 10*time.Second)

	// The console's node dies. The console moves to another member: the
	// same session works there, and the stream resumes after the last
	// event applied, with what happened meanwhile.
	c.node.kill()
	other := fs[1]
	edge(leader, "note", map[string]any{"agent": "a1", "call": "c1", "note": "while the console moved"})
	c.node = other
	c.follow("")
	if data := c.until("call.note_updated", 10*time.Second); data["note"] != "while the console moved" {
		t.Fatalf("note event %v", data)
	}
	fs[0].start()

	// The leader dies. The new leader's ticker enforces ring timeouts.
	c.op("hangup", nil)
	c.until("call.ended", 10*time.Second)
	leader.kill()
	var alive []*node
	for _, n := range nodes {
		if n != leader {
			alive = append(alive, n)
		}
	}
	newLeader := waitLeader(t, alive, 3)
	edge(newLeader, "incoming", map[string]any{"call": "c2", "queue": "sales", "number": "+44 161 5527790"})
	c.until("call.offered", 15*time.Second)
	c.until("call.no_answer", 15*time.Second)
	c.op("answer", nil)
	c.until("call.answered", 10*time.Second)
}
