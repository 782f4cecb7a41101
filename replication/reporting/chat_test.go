package reporting

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// A web chat session's life, as the engine emits it, lands in the chats
// table (created, answered, each message, ended with its count) and its
// transcript in the events table.
func TestChatEventsReachReporting(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	e := cc.New()
	var evs []command.Event
	idx := uint64(0)
	apply := func(typ string, payload any) {
		t.Helper()
		b, _ := json.Marshal(payload)
		idx++
		env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: t0.UnixNano(), ID: fmt.Sprintf("cmd-%d", idx), Payload: b}
		em := command.NewEmitter(idx, env)
		if _, err := e.Apply(env, em); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		evs = append(evs, em.Events()...)
	}
	doc, err := cc.ParseDocument([]byte("queues: [{id: sales}]\nagents: [{id: a1, queues: [sales]}]\nchat: {languages: [en], queue: sales}\n"))
	if err != nil {
		t.Fatal(err)
	}
	apply(cc.TypeConfigApply, cc.ApplyRequest{Document: doc})
	apply(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	apply(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	apply(cc.TypeChatCreate, cc.ChatCreateRequest{Session: "s1", ChatLanguage: "en", Priority: 60, CustomerName: "Ana"})
	apply(cc.TypeChatMessage, cc.ChatMessageRequest{Session: "s1", From: cc.ChatFromCustomer, Text: "hola"})
	apply(cc.TypeCallAnswer, cc.AgentCallRequest{Agent: "a1"})
	apply(cc.TypeChatMessage, cc.ChatMessageRequest{Session: "s1", Agent: "a1", Text: "hi Ana"})
	apply(cc.TypeChatEnd, cc.ChatEndRequest{Session: "s1", By: cc.ChatFromCustomer})
	if _, err := db.Deliver(ctx, evs); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, db.sqlFor(`SELECT event, chat_id, coalesce(queue_id, ''), coalesce(agent_id, ''), coalesce(state, ''),
		coalesce(language, ''), coalesce(priority, 0), coalesce(reason, ''), coalesce(messages, 0) FROM {{schema}}.chats ORDER BY raft_index, seq`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var ev, id, queue, agent, state, lang, reason string
		var prio, msgs int64
		if err := rows.Scan(&ev, &id, &queue, &agent, &state, &lang, &prio, &reason, &msgs); err != nil {
			t.Fatal(err)
		}
		if id != "s1" || queue != "sales" {
			t.Fatalf("row of %q in %q", id, queue)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %d %s %d", ev, agent, state, lang, prio, reason, msgs))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"chat.created  queued en 60  0",
		"chat.message    0  0",
		"chat.answered a1 connected  0  0",
		"chat.message a1   0  0",
		"chat.ended a1 ended  0 hangup 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("chats table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var transcript []string
	rows, err = conn.Query(ctx, db.sqlFor(`SELECT data->>'from', data->>'text' FROM {{schema}}.events WHERE type = 'chat.message' ORDER BY raft_index, seq`))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var from, text string
		if err := rows.Scan(&from, &text); err != nil {
			t.Fatal(err)
		}
		transcript = append(transcript, from+": "+text)
	}
	if strings.Join(transcript, "|") != "customer: hola|agent: hi Ana" {
		t.Fatalf("transcript in events: %v", transcript)
	}
}
