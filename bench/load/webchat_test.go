package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeChatEdge imitates what the webchat target uses of a node: POST
// /api/v1/chats (before writing its 201 it runs beforeCreated with the
// new session's id: an agent's stream on another node may show the
// session offered and answered before the POST is answered), the
// customer's chat WebSocket (a hello frame with status) and POST
// /console/api/v1/ops/answer (answered with answerCode).
type fakeChatEdge struct {
	status        string
	answerCode    int
	beforeCreated func(id string)
	mu            sync.Mutex
	answers       int
}

func (f *fakeChatEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const id = "s1"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/chats":
		if f.beforeCreated != nil {
			f.beforeCreated(id)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"session_id": id, "status": "queued"})
	case r.URL.Path == "/api/v1/chats/"+id+"/ws":
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		hello, _ := json.Marshal(map[string]any{"type": "hello", "session_id": id, "status": f.status, "since": 0})
		if c.Write(ctx, websocket.MessageText, hello) != nil {
			return
		}
		for { // until the client goes (or 20 s)
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	case r.Method == http.MethodPost && r.URL.Path == "/console/api/v1/ops/answer":
		f.mu.Lock()
		f.answers++
		f.mu.Unlock()
		w.WriteHeader(f.answerCode)
		w.Write([]byte(`{}`))
	default:
		http.NotFound(w, r)
	}
}

func streamEv(index uint64, typ string, data any) streamEvent {
	b, _ := json.Marshal(data)
	return streamEvent{Index: index, Type: typ, Data: b}
}

// TestWebChatAnsweredBeforeCreated: a session is waited for until an
// agent's stream shows it answered, whether that comes before the POST
// that created it is answered (the engine offers a session in the
// command that creates it: the agent may answer and see chat.answered
// first — the event was dropped, and the setup waited its 3 minutes for
// nothing) or after; one never answered is reported with what the
// customer's socket shows and the offers the agents saw.
func TestWebChatAnsweredBeforeCreated(t *testing.T) {
	offered := func(id string) streamEvent {
		return streamEv(7, "call.offered", map[string]any{"call": id, "agents": []string{"a1"}, "queue": "chat"})
	}
	answered := func(id string) streamEvent {
		return streamEv(8, "chat.answered", map[string]any{"chat": id, "queue": "chat", "status": "connected", "agent": "a1"})
	}
	cases := []struct {
		name       string
		status     string
		answerCode int
		before     func(id string) []streamEvent // on the agent's stream before the 201
		after      func(id string) []streamEvent // after openChat returned
		want       []string                      // "" : answered; else in the report
	}{
		{name: "answered before the POST is answered", status: "connected", answerCode: http.StatusOK,
			before: func(id string) []streamEvent { return []streamEvent{answered(id)} }},
		{name: "offered and answered before the POST is answered", status: "connected", answerCode: http.StatusOK,
			before: func(id string) []streamEvent { return []streamEvent{offered(id), answered(id)} }},
		{name: "offered before, answered after", status: "queued", answerCode: http.StatusOK,
			before: func(id string) []streamEvent { return []streamEvent{offered(id)} },
			after:  func(id string) []streamEvent { return []streamEvent{answered(id)} }},
		{name: "answered after the POST", status: "connected", answerCode: http.StatusOK,
			after: func(id string) []streamEvent { return []streamEvent{answered(id)} }},
		{name: "offered, the answer refused, never answered", status: "queued", answerCode: http.StatusConflict,
			before: func(id string) []streamEvent { return []streamEvent{offered(id)} },
			want:   []string{"chat s1 (customer on http://", "shows queued", "u1 at 7.0", "u1's answer HTTP 409", "chat.answered on none"}},
		{name: "never offered", status: "queued", answerCode: http.StatusOK,
			want: []string{"shows queued", "offers on the bench agents' streams: none"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edge := &fakeChatEdge{status: tc.status, answerCode: tc.answerCode}
			srv := httptest.NewServer(edge)
			defer srv.Close()
			wt := &webChatTarget{client: srv.Client(), logf: t.Logf, addrs: []string{srv.URL}, language: "en"}
			agent := &chatAgent{base: srv.URL, user: "u1", agent: "a1", token: "tok"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.before != nil {
				edge.beforeCreated = func(id string) { agent.handle(ctx, wt.client, wt, tc.before(id)) }
			}
			cs, err := wt.openChat(ctx, srv.URL, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.ws.CloseNow()
			if tc.after != nil {
				agent.handle(ctx, wt.client, wt, tc.after(cs.id))
			}
			if len(tc.want) == 0 {
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				defer wcancel()
				if err := cs.waitAnswered(wctx); err != nil {
					t.Fatalf("not answered: %v", err)
				}
				if v, _ := wt.byID.Load(cs.id); v != cs {
					t.Fatalf("byID holds %p for %s, want the session %p", v, cs.id, cs)
				}
				return
			}
			// Never answered: once the customer's hello and the
			// offers' answers are in (bounded), the wait ends with the
			// report.
			deadline := time.Now().Add(5 * time.Second)
			for !containsAll(cs.report(), tc.want) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			done, dcancel := context.WithCancel(ctx)
			dcancel()
			err = cs.waitAnswered(done)
			if err == nil {
				t.Fatal("waitAnswered: nil for a session never answered")
			}
			if !errors.Is(err, context.Canceled) || !containsAll(err.Error(), tc.want) {
				t.Fatalf("waitAnswered: %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

// TestWebChatWaitAnsweredAtDeadline: a session answered counts even when
// the wait's deadline has passed too (both ready to the select).
func TestWebChatWaitAnsweredAtDeadline(t *testing.T) {
	cs := newChatSession("s1")
	cs.answered()
	cs.answered() // twice: the second is nothing
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 100; i++ {
		if err := cs.waitAnswered(ctx); err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
