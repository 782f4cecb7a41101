package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tandemcc/tandem/console"
)

// TestWebChatAgentLogsOut: an agent who goes Disconnected with a chat
// connected does not strand it. Agent a1 logs out (both steps, through
// its console) while chatting: the customer's socket shows the session
// queued again, agent a2 — free — is offered it in the same command,
// answers, and the conversation goes on with the transcript whole. Then
// the administrator forces a2 out (agent.close confirmed, admin token):
// the chat goes back again and a1, logged in again, takes it.
func TestWebChatAgentLogsOut(t *testing.T) {
	n := startCluster(t, "chatout", 1, nil)[0]
	waitLeader(t, []*node{n}, 1)
	hashA, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	hashB, err := console.HashPassword("ben-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	n.apply(fmt.Sprintf(`
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
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [sales]}
chat: {languages: [en], queue: sales}
`, hashA, hashB)).ok(t)

	open := func(user, password string) *consoleClient {
		c := &consoleClient{t: t, node: n}
		code, out := c.do("POST", "/session", map[string]string{"user": user, "password": password})
		if code != 200 {
			t.Fatalf("console session of %s: %d %v", user, code, out)
		}
		c.token = out["token"].(string)
		_, state := c.do("GET", "/state", nil)
		c.follow(state["since"].(string))
		return c
	}
	ann := open("ann", "ann-secret-1")
	ben := open("ben", "ben-secret-1")
	ann.op("login", nil)
	ann.op("login", nil)

	web := &webClient{t: t, node: n}
	a := web.do("POST", "/chats", `{"chat_language":"en","customer_name":"Ana","caption":"My order?"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	session := a.body["session_id"].(string)
	cust := &chatCustomer{t: t}
	cust.connect(n, session)

	ann.until("call.offered", 15*time.Second)
	ann.op("answer", nil)
	if st := cust.next("status", 10*time.Second); st.Status != "connected" || st.Agent != "a1" {
		t.Fatalf("answered by a1: %+v", st)
	}
	cust.send("m1", "Hello?")
	cust.next("ack", 10*time.Second)
	ann.op("chat_message", map[string]string{"session": session, "text": "Hi, I am Ann."})
	cust.upTo(2)

	// a2 is free when a1 leaves.
	ben.op("login", nil)
	ben.op("login", nil)
	ann.op("logout", nil) // Paused: a1 still finishes its chat
	ann.op("chat_message", map[string]string{"session": session, "text": "I must go, a colleague takes over."})
	cust.upTo(3)
	ann.op("logout", nil) // Disconnected
	ev := ann.until("chat.requeued", 10*time.Second)
	if ev["previous"] != "a1" || ev["reason"] != "agent_logout" {
		t.Fatalf("chat.requeued %v", ev)
	}
	if st := cust.next("status", 10*time.Second); st.Status != "queued" {
		t.Fatalf("after a1 logged out the customer sees %+v, want queued", st)
	}
	if code, out := ann.do("POST", "/ops/chat_message", map[string]string{"session": session, "text": "still here?"}); code == 200 {
		t.Fatalf("a1, logged out, wrote in the chat: %v", out)
	}
	// Offered to a2 in the log-out's command; a2 answers and reads the
	// whole conversation.
	if off := ben.until("call.offered", 15*time.Second); off["call"] != session {
		t.Fatalf("a2 is offered %v", off)
	}
	// Waiting, the chat's transcript is open to its queue's agents; a1,
	// logged out and not holding it, reads nothing.
	if code, out := ben.do("GET", "/chats/"+session+"/messages", nil); code != 200 {
		t.Fatalf("a2 reads the waiting chat: %d %v", code, out)
	}
	ben.op("answer", nil)
	if st := cust.next("status", 10*time.Second); st.Status != "connected" || st.Agent != "a2" {
		t.Fatalf("answered by a2: %+v", st)
	}
	// a2 reads the conversation it did not see: every message so far.
	code, tr := ben.do("GET", "/chats/"+session+"/messages", nil)
	if code != 200 {
		t.Fatalf("a2 reads the transcript: %d %v", code, tr)
	}
	msgs, _ := tr["messages"].([]any)
	if len(msgs) != 3 || msgs[0].(map[string]any)["text"] != "Hello?" || msgs[2].(map[string]any)["text"] != "I must go, a colleague takes over." ||
		tr["chat"].(map[string]any)["agent"] != "a2" {
		t.Fatalf("a2's transcript: %v", tr)
	}
	if code, out := ann.do("GET", "/chats/"+session+"/messages", nil); code != 404 {
		t.Fatalf("a1 (logged out, a2 holds the chat) reads it: %d %v", code, out)
	}
	ben.op("chat_message", map[string]string{"session": session, "text": "Ben here, I read your question."})
	if m := cust.next("message", 10*time.Second); m.Seq != 4 || m.Text != "Ben here, I read your question." {
		t.Fatalf("a2's message %+v (messages %v)", m, cust.seqs)
	}

	// The administrator forces a2 out (console closed for it): the chat
	// goes back to the queue; a1 logs in again and takes it.
	b, _ := json.Marshal(map[string]any{"agent": "a2", "confirm": true})
	if code, out, err := n.do("POST", "/v1/console/ops/close", true, b, "application/json"); err != nil || code != 200 {
		t.Fatalf("forced close of a2: %d %s %v", code, out, err)
	}
	if st := cust.next("status", 10*time.Second); st.Status != "queued" {
		t.Fatalf("after a2 was forced out the customer sees %+v, want queued", st)
	}
	ann.op("login", nil)
	ann.op("login", nil)
	if off := ann.until("call.offered", 15*time.Second); off["call"] != session {
		t.Fatalf("a1 is offered %v", off)
	}
	ann.op("answer", nil)
	if st := cust.next("status", 10*time.Second); st.Status != "connected" || st.Agent != "a1" {
		t.Fatalf("answered by a1 again: %+v", st)
	}
	cust.send("m2", "Thanks, bye")
	if ack := cust.next("ack", 10*time.Second); ack.Seq != 5 {
		t.Fatalf("ack %+v", ack)
	}
	agentSees(ann, "Thanks, bye")
	ann.op("chat_end", map[string]string{"session": session})
	cust.next("ended", 10*time.Second)
	if fmt.Sprint(cust.seqs) != "[1 2 3 4 5]" {
		t.Fatalf("the customer received %v", cust.seqs)
	}
}
