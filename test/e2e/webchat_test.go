package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/console"
)

// chatCustomer is a customer's browser on the chat WebSocket of one node.
type chatCustomer struct {
	t    *testing.T
	ws   *websocket.Conn
	seqs []int // sequence numbers of every message received, over every connection
	last int
}

type chatFrameIn struct {
	Type    string `json:"type"`
	Seq     int    `json:"seq"`
	From    string `json:"from"`
	Text    string `json:"text"`
	ID      string `json:"id"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Agent   string `json:"agent"`
}

func (c *chatCustomer) connect(n *node, session string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/api/v1/chats/%s/ws?since=%d", n.httpAddr, session, c.last), nil)
	if err != nil {
		c.t.Fatalf("chat WebSocket on %s: %v", n.name(), err)
	}
	c.t.Cleanup(func() { ws.CloseNow() })
	c.ws = ws
	if h := c.next("hello", 10*time.Second); h.Status == "" {
		c.t.Fatalf("hello without status")
	}
}

func (c *chatCustomer) send(id, text string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"type": "message", "id": id, "text": text})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("sending %s: %v", id, err)
	}
}

// next reads frames until one of type typ; every message frame on the
// way must come right after the last one received (nothing lost or
// twice).
func (c *chatCustomer) next(typ string, within time.Duration) chatFrameIn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for %s (messages %v): %v", typ, c.seqs, err)
		}
		var f chatFrameIn
		if err := json.Unmarshal(b, &f); err != nil {
			c.t.Fatalf("frame %s: %v", b, err)
		}
		if f.Type == "error" {
			c.t.Fatalf("error frame: %s", b)
		}
		if f.Type == "message" {
			if f.Seq != c.last+1 {
				c.t.Fatalf("message %d after %d: lost or twice (%v)", f.Seq, c.last, c.seqs)
			}
			c.last = f.Seq
			c.seqs = append(c.seqs, f.Seq)
		}
		if f.Type == typ {
			return f
		}
	}
}

// upTo reads messages until seq has been received (it may have been
// already).
func (c *chatCustomer) upTo(seq int) {
	c.t.Helper()
	for i := 0; c.last < seq && i < 10; i++ {
		c.next("message", 10*time.Second)
	}
	if c.last != seq {
		c.t.Fatalf("messages %v, want up to %d", c.seqs, seq)
	}
}

// TestWebChatAcrossFailover: a customer on the chat WebSocket and an
// agent on the operations API exchange messages through a 3-node
// cluster; the leader (the customer's node) is SIGKILLed; the customer
// reconnects to another member with since and the conversation goes on
// with nothing lost or twice — a message the agent wrote meanwhile
// arrives once, and the customer's retried message is applied once.
func TestWebChatAcrossFailover(t *testing.T) {
	nodes := startCluster(t, "chat", 3, nil)
	leader := waitLeader(t, nodes, 3)
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	leader.apply(fmt.Sprintf(`
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
chat: {languages: [en, es], queue: sales}
`, hash)).ok(t)
	fs := followers(nodes, leader)

	// The agent's console on a follower.
	agent := &consoleClient{t: t, node: fs[0]}
	code, out := agent.do("POST", "/session", map[string]string{"user": "ann", "password": "ann-secret-1"})
	if code != 200 {
		t.Fatalf("login: %d %v", code, out)
	}
	agent.token = out["token"].(string)
	_, state := agent.do("GET", "/state", nil)
	agent.follow(state["since"].(string))
	agent.op("login", nil)
	agent.op("login", nil)

	// The customer opens a session on the leader.
	web := &webClient{t: t, node: leader}
	if a := web.do("POST", "/chats", `{"chat_language":"fr"}`); a.code() != 1011 {
		t.Fatalf("undefined chat language: %d %s", a.status, a.raw)
	}
	a := web.do("POST", "/chats", `{"chat_language":"en","customer_name":"Ana Pérez","source":"shop","caption":"Where is my order?","order":"A-17"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	session := a.body["session_id"].(string)
	cust := &chatCustomer{t: t}
	cust.connect(leader, session)
	cust.send("m1", "Hello?")
	if ack := cust.next("ack", 10*time.Second); ack.Seq != 1 {
		t.Fatalf("ack %+v", ack)
	}

	agent.until("call.offered", 15*time.Second)
	agent.op("answer", nil)
	agent.until("chat.answered", 10*time.Second)
	agent.op("chat_typing", map[string]string{"session": session})
	cust.next("typing", 10*time.Second)
	agent.op("chat_message", map[string]string{"session": session, "text": "Hi Ana, let me look."})
	// The customer's own message (seq 1) may have come before the typing
	// indicator; next checks every message is the one after the last.
	m := cust.next("message", 10*time.Second)
	if m.Seq == 1 {
		m = cust.next("message", 10*time.Second)
	}
	if m.Seq != 2 || m.From != "agent" || m.Text != "Hi Ana, let me look." || fmt.Sprint(cust.seqs) != "[1 2]" {
		t.Fatalf("the agent's message %+v (messages %v)", m, cust.seqs)
	}
	cust.send("m2", "Thanks")
	if ack := cust.next("ack", 10*time.Second); ack.Seq != 3 {
		t.Fatalf("ack m2 %+v", ack)
	}
	agentSees(agent, "Thanks")
	cust.upTo(3) // its own (the frame may have come before the ack)

	// The leader, the customer's node, dies.
	leader.kill()
	alive := followers(nodes, leader)
	waitLeader(t, alive, 3)
	// The agent writes while the customer is away (its console's node
	// forwards to the new leader).
	waitFor(t, 20*time.Second, "the agent's message through the new leader", func() (bool, string) {
		code, out := agent.do("POST", "/ops/chat_message", map[string]string{"session": session, "text": "Found it: it ships today."})
		return code == 200, fmt.Sprint(code, out)
	})
	cust.connect(fs[1], session) // since = 3, the last message received
	if m := cust.next("message", 10*time.Second); m.Seq != 4 || m.Text != "Found it: it ships today." {
		t.Fatalf("after the failover: %+v", m)
	}
	// m2 again (as if its ack was lost): applied once, acknowledged as 3.
	cust.send("m2", "Thanks")
	if ack := cust.next("ack", 10*time.Second); ack.Seq != 3 {
		t.Fatalf("retried m2 %+v", ack)
	}
	cust.send("m3", "Great, bye")
	if ack := cust.next("ack", 10*time.Second); ack.Seq != 5 {
		t.Fatalf("ack m3 %+v", ack)
	}
	cust.upTo(5)
	agentSees(agent, "Great, bye")
	agent.op("chat_end", map[string]string{"session": session})
	cust.next("ended", 10*time.Second)
	if fmt.Sprint(cust.seqs) != "[1 2 3 4 5]" {
		t.Fatalf("the customer received %v", cust.seqs)
	}
	// The session is over: 1007 on every node.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/api/v1/chats/%s/ws", fs[0].httpAddr, session), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ended session: %v %v", err, resp)
	}
}

// agentSees reads the agent's stream until the chat message with text
// (the stream shows the session's messages: the customer's and its own).
func agentSees(c *consoleClient, text string) {
	c.t.Helper()
	for i := 0; i < 20; i++ {
		if d := c.until("chat.message", 15*time.Second); d["text"] == text {
			return
		}
	}
	c.t.Fatalf("the agent never saw %q", text)
}
