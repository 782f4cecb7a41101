package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

const twoQueueDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: ben, name: Ben, extension: "2002", password_hash: "%s"}
queues:
  - {id: sales, strategy: longest-idle}
  - {id: support, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [support]}
`

// collect reads s until the agent's pause (from connected) arrives and
// returns every event read on the way.
func (s *stream) collectUntilPaused(agent string) []command.Event {
	s.t.Helper()
	var got []command.Event
	for i := 0; i < 200; i++ {
		for _, e := range s.read().Events {
			got = append(got, e)
			var st cc.AgentStateEvent
			if e.Type == cc.EvAgentStateChanged && json.Unmarshal(e.Data, &st) == nil &&
				st.Agent == agent && st.State == cc.StatePaused && st.Previous == cc.StateConnected {
				return got
			}
		}
	}
	s.t.Fatalf("no pause of %s after 200 messages (%d events)", agent, len(got))
	return nil
}

// sorted returns the calls evs name, and the events that name agent or
// queue (another operator's, another queue's).
func sorted(evs []command.Event, agent, queue string) (calls map[string][]string, foreign []string) {
	calls = map[string][]string{}
	for _, e := range evs {
		var r refs
		json.Unmarshal(e.Data, &r)
		if r.Call != "" {
			calls[r.Call] = append(calls[r.Call], e.Type)
		}
		if r.Agent == agent || r.Queue == queue || r.ID == agent || r.ID == queue || contains(r.Agents, agent) {
			foreign = append(foreign, e.Type+" "+string(e.Data))
		}
	}
	return calls, foreign
}

// TestStreamFilterPerSession: over the real API, two operators in two
// queues each take a call of their queue. Neither stream carries the
// other queue's call events; the admin token's stream carries all, and
// the state documents show the queues the streams update. An operator's
// position moves past what it does not see, and resuming from it is
// exact.
func TestStreamFilterPerSession(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(twoQueueDoc, annHash, benHash))
	ann, ben := r.login("ann", "ann-password"), r.login("ben", "ben-password")
	state := func(url, token string) (since string, queues string) {
		rep := r.call("GET", url, token, nil)
		if rep.code != 200 {
			t.Fatalf("state: %d %s", rep.code, rep.raw)
		}
		qs, _ := json.Marshal(rep.body["queues"])
		return rep.body["since"].(string), string(qs)
	}
	since, annQueues := state(r.public.URL+"/console/api/v1/state", ann)
	_, adminQueues := state(r.admin.URL+"/v1/console/state?agent=a1", "")
	if !strings.Contains(annQueues, `"sales"`) || strings.Contains(annQueues, `"support"`) || !strings.Contains(adminQueues, `"support"`) {
		t.Fatalf("queues in the state: ann's %s, the admin token's %s", annQueues, adminQueues)
	}
	annEv, benEv, adminEv := r.stream(ann, since), r.stream(ben, since), r.stream("", since)

	// Step by step, both at once: each stream's events interleave with
	// the other operator's.
	ops := []struct{ token, queue, call string }{{ann, "sales", "s1"}, {ben, "support", "p1"}}
	for _, step := range []string{"login", "login", "incoming", "answer", "hold", "retrieve", "hangup", "pause"} {
		for _, op := range ops {
			if step == "incoming" {
				r.edge("incoming", map[string]any{"call": op.call, "queue": op.queue, "number": "+44 161 5527789"})
				continue
			}
			r.op(op.token, step, nil)
		}
	}
	want := []string{cc.EvCallQueued, cc.EvCallOffered, cc.EvCallAnswered, cc.EvCallHeld, cc.EvCallRetrieved, cc.EvCallEnded}
	for _, tc := range []struct {
		name, agent, call, otherAgent, otherQueue, otherCall string
		s                                                    *stream
	}{
		{"ann", "a1", "s1", "a2", "support", "p1", annEv},
		{"ben", "a2", "p1", "a1", "sales", "s1", benEv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, foreign := sorted(tc.s.collectUntilPaused(tc.agent), tc.otherAgent, tc.otherQueue)
			if len(foreign) > 0 || calls[tc.otherCall] != nil {
				t.Errorf("%s receives another queue's or operator's events: %q %v", tc.name, foreign, calls[tc.otherCall])
			}
			if got := strings.Join(calls[tc.call], " "); got != strings.Join(want, " ") {
				t.Errorf("%s's call %s: %s, want %v", tc.name, tc.call, got, want)
			}
		})
	}
	all := append(adminEv.collectUntilPaused("a1"), adminEv.collectUntilPaused("a2")...)
	calls, _ := sorted(all, "", "")
	if calls["s1"] == nil || calls["p1"] == nil {
		t.Fatalf("the admin token's stream lacks calls: %v", calls)
	}

	// Ann acts; Ben sees none of it, yet his position moves past it.
	idx := r.op(ann, "login", nil).body["index"].(float64)
	m := benEv.read()
	if m.Type != "position" || len(m.Events) > 0 || mustPos(t, m.Since).Index < uint64(idx) {
		t.Fatalf("ben got %+v, want a position at %v or later", m, idx)
	}
	// Resuming from it gets exactly what followed for him.
	at := benEv.last
	benEv.c.Close(websocket.StatusNormalClosure, "")
	r.op(ann, "pause", nil)
	r.edge("incoming", map[string]any{"call": "p2", "queue": "support"})
	start := time.Now()
	resumed := r.stream(ben, at)
	m = resumed.read()
	if len(m.Events) == 0 || m.Events[0].Type != cc.EvCallQueued || !m.Events[0].Pos().After(mustPos(t, at)) {
		t.Fatalf("ben resumed from %s: %+v", at, m)
	}
	if _, foreign := sorted(m.Events, "a1", "sales"); len(foreign) > 0 {
		t.Fatalf("ben resumed with ann's events %q", foreign)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("resuming took too long")
	}
}
