package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestFollowerClockCannotFireTimers: command time is the leader's. A
// follower whose clock runs 60 s fast forwards an operation; the engine's
// time must not jump with it. Call c1 rings with a 30 s timeout and c0
// with a 2 s one; when the leader's ticker rings c0 out, c1 must keep
// ringing. (When the forwarding node stamped commands with its own clock,
// its operation moved the engine 60 s ahead, and the tick for c0 rang c1
// out 28 s early with it.)
func TestFollowerClockCannotFireTimers(t *testing.T) {
	nodes := startCluster(t, "lt", 3, map[int][]nodeOpt{2: {withArgs("--clock-offset", "60s")}})
	fast := nodes[2]
	leader := waitLeader(t, nodes, 3)
	if leader == fast {
		fast.ctl("cluster", "transfer-leader", nodes[0].id).ok(t)
		leader = waitLeader(t, nodes, 3)
	}
	leader.apply(`
settings: {ring_timeout_seconds: 30}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001"}
  - {id: bob, name: Bob, extension: "2002"}
queues:
  - {id: sales, strategy: longest-idle}
  - {id: quick, strategy: longest-idle, ring_timeout_seconds: 2}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: bob, extension: "2002", queues: [quick]}
`).ok(t)
	edge := func(via *node, op string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		code, out, err := via.do(http.MethodPost, "/v1/console/ops/"+op, true, b, "application/json")
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s via %s: HTTP %d %s %v", op, via.name(), code, out, err)
		}
	}
	offer := func(agent string) (string, string) {
		t.Helper()
		code, b, err := leader.get("/v1/console/state?agent="+agent, true)
		if err != nil || code != http.StatusOK {
			t.Fatalf("state: HTTP %d %s %v", code, b, err)
		}
		var st struct {
			Since string `json:"since"`
			Agent struct {
				Offer string `json:"offer"`
			} `json:"agent"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("state %s: %v", b, err)
		}
		return st.Agent.Offer, st.Since
	}

	for _, a := range []string{"a1", "a1", "a2", "a2"} {
		edge(leader, "login", map[string]any{"agent": a})
	}
	edge(leader, "incoming", map[string]any{"call": "c1", "queue": "sales", "number": "+44 161 5527789"})
	offeredAt := time.Now()
	edge(leader, "incoming", map[string]any{"call": "c0", "queue": "quick", "number": "+44 161 5527791"})
	if got, _ := offer("a1"); got != "c1" {
		t.Fatalf("c1 is not ringing on a1 (%q)", got)
	}
	got, since := offer("a2")
	if got != "c0" {
		t.Fatalf("c0 is not ringing on a2 (%q)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitCluster)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+leader.adminAddr+"/v1/console/events?since="+since,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + leader.tokenValue()}}})
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(16 << 20)

	// An operation through the follower whose clock is 60 s ahead, then
	// the events until c0 has rung out twice (2 s each): c1 must not.
	edge(fast, "incoming", map[string]any{"call": "c2", "queue": "sales", "number": "+44 161 5527790"})
	ringOuts := map[string]int{}
	for ringOuts["c0"] < 2 {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading events (ring-outs so far %v): %v", ringOuts, err)
		}
		var m struct {
			Events []struct {
				Type string `json:"type"`
				Data struct {
					Call string `json:"call"`
				} `json:"data"`
			} `json:"events"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("stream message %s: %v", b, err)
		}
		for _, ev := range m.Events {
			if ev.Type == "call.no_answer" {
				ringOuts[ev.Data.Call]++
			}
		}
		if ringOuts["c1"] > 0 {
			t.Fatalf("c1 rang out %v after it was offered (its ring timeout is 30 s): the fast follower's clock moved the engine's time",
				time.Since(offeredAt).Round(time.Millisecond))
		}
	}
	t.Logf("c0 rang out twice and c1 still rings %v after it was offered, although %s's clock is 60 s ahead",
		time.Since(offeredAt).Round(time.Millisecond), fast.name())
}
