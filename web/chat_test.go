package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

const chatRigDoc = `
chat: {languages: [en, es], queue: sales}
`

func newChatRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t)
	d, err := cc.ParseDocument([]byte(chatRigDoc))
	if err != nil {
		t.Fatal(err)
	}
	r.propose(cc.TypeConfigApply, cc.ApplyRequest{Document: d})
	return r
}

func (r *rig) propose(typ string, payload any) json.RawMessage {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.store.Propose(ctx, typ, payload)
	if err != nil {
		r.t.Fatalf("%s: %v", typ, err)
	}
	return res.Result
}

// Every code of POST /api/v1/chats: a refusal answers web.md's code and
// changes nothing.
func TestChatCreateCodes(t *testing.T) {
	r := newChatRig(t)
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"ok", `{"chat_language":"en","customer_name":"Ana","source":"shop","destination":"web","caption":"Hola","order":"A-17","vip":true}`, 0},
		{"ok priority 1", `{"chat_language":"es","priority":1}`, 0},
		{"ok priority 100", `{"chat_language":"es","priority":100}`, 0},
		{"not an object", `[1]`, CodeBadMandatory},
		{"empty", ``, CodeBadMandatory},
		{"chat_language missing", `{"priority":5}`, CodeBadMandatory},
		{"chat_language not a string", `{"chat_language":5}`, CodeBadMandatory},
		{"chat_language malformed", `{"chat_language":"EN"}`, CodeBadMandatory},
		{"chat_language undefined", `{"chat_language":"fr"}`, CodeBadParameter},
		{"priority 0", `{"chat_language":"en","priority":0}`, CodeBadParameter},
		{"priority 101", `{"chat_language":"en","priority":101}`, CodeBadParameter},
		{"priority 1.5", `{"chat_language":"en","priority":1.5}`, CodeBadParameter},
		{"priority string", `{"chat_language":"en","priority":"5"}`, CodeBadParameter},
		{"source underscore", `{"chat_language":"en","source":"a_b"}`, CodeBadParameter},
		{"source backtick", "{\"chat_language\":\"en\",\"source\":\"a`b\"}", CodeBadParameter},
		{"source non-ASCII", `{"chat_language":"en","source":"caf\u00e9"}`, CodeBadParameter},
		{"source tab", `{"chat_language":"en","source":"a\tb"}`, CodeBadParameter},
		{"customer name not a string", `{"chat_language":"en","customer_name":1}`, CodeBadParameter},
		{"key twice", `{"chat_language":"en","order":"1","contact_data":{"order":"2"}}`, CodeBadParameter},
		{"repeated parameter", `{"chat_language":"en","chat_language":"es"}`, CodeBadParameter},
		{"extra key object", `{"chat_language":"en","x":{"y":1}}`, CodeBadParameter},
		{"page language", `{"chat_language":"en","language":"../../etc"}`, CodeBadParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.engine.Hash()
			a := r.do("POST", "/api/v1/chats", tc.body)
			if tc.code == 0 {
				if a.status != http.StatusCreated || len(a.body["session_id"].(string)) != 32 || a.body["status"] != "queued" {
					t.Fatalf("%d %s", a.status, a.raw)
				}
				return
			}
			if a.code() != tc.code || a.status != http.StatusBadRequest || a.body["message"] == "" {
				t.Fatalf("%d %s, want code %d", a.status, a.raw, tc.code)
			}
			if r.engine.Hash() != before {
				t.Fatal("a refused request changed the state")
			}
		})
	}
	if n := counterValue(t, r.reg, "chat_create", "refused", "1010"); n != 5 {
		t.Fatalf("chat_create refused 1010 counted %v times, want 5", n)
	}
	if n := counterValue(t, r.reg, "chat_create", "accepted", "0"); n != 3 {
		t.Fatalf("chat_create accepted counted %v times, want 3", n)
	}
	// The extra keys are the contact's data.
	a := r.do("POST", "/api/v1/chats", `{"chat_language":"en","order":"A-18","n":12}`)
	var data []cc.CallbackDatum
	r.engine.View(func(st *cc.State) { data = st.Chats[a.body["session_id"].(string)].ContactData })
	if len(data) != 2 || data[0] != (cc.CallbackDatum{Key: "n", Value: "12"}) || data[1] != (cc.CallbackDatum{Key: "order", Value: "A-18"}) {
		t.Fatalf("contact data %+v", data)
	}
	// An Idempotency-Key makes a retry one session.
	k1 := r.do("POST", "/api/v1/chats", `{"chat_language":"en"}`, "Idempotency-Key", "k-1")
	k2 := r.do("POST", "/api/v1/chats", `{"chat_language":"en"}`, "Idempotency-Key", "k-1")
	if k1.body["session_id"] != k2.body["session_id"] || k2.hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %s then %s", k1.raw, k2.raw)
	}
}

type chatClient struct {
	t *testing.T
	c *websocket.Conn
}

func (r *rig) dialChat(id, query string) (*chatClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.srv.URL, "http")+"/api/v1/chats/"+id+"/ws"+query, nil)
	if err != nil {
		return nil, resp, err
	}
	r.t.Cleanup(func() { c.CloseNow() })
	return &chatClient{t: r.t, c: c}, resp, nil
}

func (cl *chatClient) send(v any) {
	cl.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, b); err != nil {
		cl.t.Fatal(err)
	}
}

// next reads frames until one of type typ (others are returned too, in
// skipped).
func (cl *chatClient) next(typ string) (chatOut, []chatOut) {
	cl.t.Helper()
	var skipped []chatOut
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, b, err := cl.c.Read(ctx)
		cancel()
		if err != nil {
			cl.t.Fatalf("waiting for %s: %v (after %+v)", typ, err, skipped)
		}
		var m chatOut
		if err := json.Unmarshal(b, &m); err != nil {
			cl.t.Fatal(err)
		}
		if m.Type == typ {
			return m, skipped
		}
		skipped = append(skipped, m)
	}
	cl.t.Fatalf("no %s in 50 frames", typ)
	return chatOut{}, nil
}

// A conversation over the WebSocket: the customer's message is
// acknowledged with its seq once committed; the agent's reaches the
// customer with its seq; a reconnect with since resumes with nothing
// lost or twice; a message sent again with its id is applied once; the
// end closes the session and a later connection gets 1007.
func TestChatWebSocket(t *testing.T) {
	r := newChatRig(t)
	a := r.do("POST", "/api/v1/chats", `{"chat_language":"en","customer_name":"Ana"}`)
	id := a.body["session_id"].(string)
	cl, _, err := r.dialChat(id, "")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := cl.next("hello"); h.SessionID != id || h.Status != cc.ChatQueued {
		t.Fatalf("hello %+v", h)
	}
	cl.send(chatFrame{Type: "message", ID: "m1", Text: "hello, anyone?"})
	ack, skipped := cl.next("ack")
	if ack.ID != "m1" || ack.Seq != 1 {
		t.Fatalf("ack %+v", ack)
	}
	echo := chatOut{}
	if len(skipped) == 1 { // the message frame may come before the ack
		echo = skipped[0]
	} else {
		echo, _ = cl.next("message")
	}
	if echo.Type != "message" || echo.Seq != 1 || echo.From != cc.ChatFromCustomer || echo.Text != "hello, anyone?" {
		t.Fatalf("echo %+v", echo)
	}
	cl.send(chatFrame{Type: "message", ID: "m2", Text: ""})
	if e, _ := cl.next("error"); e.Code != CodeBadMandatory || e.ID != "m2" {
		t.Fatalf("empty message: %+v", e)
	}
	cl.send(chatFrame{Type: "typing"})
	// The agent takes the session and answers.
	r.propose(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	r.propose(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	r.propose(cc.TypeCallAnswer, cc.AgentCallRequest{Agent: "a1"})
	if st, _ := cl.next("status"); st.Status != cc.ChatConnected || st.Agent != "a1" {
		t.Fatalf("status %+v", st)
	}
	r.propose(cc.TypeChatTyping, cc.ChatMessageRequest{Session: id, Agent: "a1"})
	r.propose(cc.TypeChatMessage, cc.ChatMessageRequest{Session: id, Agent: "a1", Text: "Hi Ana"})
	m, _ := cl.next("message")
	if m.Seq != 2 || m.From != cc.ChatFromAgent || m.Agent != "a1" || m.Text != "Hi Ana" {
		t.Fatalf("agent's message %+v", m)
	}
	cl.c.Close(websocket.StatusNormalClosure, "")

	// Resume after 1: the agent's message only, then the retried m1 is
	// acknowledged as seq 1 again and adds nothing.
	cl2, _, err := r.dialChat(id, "?since=1")
	if err != nil {
		t.Fatal(err)
	}
	cl2.next("hello")
	m, skipped = cl2.next("message")
	if m.Seq != 2 || len(skipped) != 0 {
		t.Fatalf("resume: %+v after %+v", m, skipped)
	}
	cl2.send(chatFrame{Type: "message", ID: "m1", Text: "hello, anyone?"})
	if ack, _ := cl2.next("ack"); ack.Seq != 1 {
		t.Fatalf("retried m1: %+v", ack)
	}
	cl2.send(chatFrame{Type: "message", ID: "m3", Text: "where is my order?"})
	if ack, _ := cl2.next("ack"); ack.Seq != 3 {
		t.Fatalf("m3: %+v", ack)
	}
	if v, _ := r.engine.Chat(id); v.Messages != 3 {
		t.Fatalf("%d messages, want 3", v.Messages)
	}
	cl2.send(chatFrame{Type: "end"})
	if e, _ := cl2.next("ended"); e.Reason != "hangup" {
		t.Fatalf("ended %+v", e)
	}
	// An ended or unknown session: 1007 before the upgrade.
	for _, sid := range []string{id, "0123456789abcdef0123456789abcdef", "bad%20id"} {
		_, resp, err := r.dialChat(sid, "")
		if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("session %s: %v %v", sid, err, resp)
		}
	}
	if g := r.do("GET", "/api/v1/chats/"+id+"/ws?since=x", ""); g.code() != CodeBadParameter && g.code() != CodeInvalidSession {
		t.Fatalf("since=x: %s", g.raw)
	}
}

// FuzzDecodeChat: whatever DecodeChat accepts, with a session id, passes
// the engine's edge check (CheckPayload) and its rule; whatever it
// refuses carries a code of web.md.
func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		`{"chat_language":"en"}`,
		`{"chat_language":"en","priority":100,"source":"web","destination":"sales","caption":"¿Dónde?","business_unit":"b1","x":1,"y":true}`,
		`{"chat_language":"pt-BR","contact_data":{"a":"b"},"a2":"c"}`,
		`{"chat_language":"en","source":"(x)"}`,
		`{"chat_language":"en","customer_name":"\u202e"}`,
		`{"chat_language":"en","priority":1e400}`,
		`{"chat_language":"en","k=v":"x"}`,
		`{}`, `null`, `{"chat_language":"en"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := DecodeChat(body)
		if e != nil {
			if _, ok := Messages[e.Code]; !ok {
				t.Fatalf("code %d is not web.md's", e.Code)
			}
			return
		}
		req.Session = "s1"
		b, _ := json.Marshal(req)
		if err := cc.CheckPayload(cc.TypeChatCreate, b); err != nil {
			t.Fatalf("accepted %q but CheckPayload refuses %s: %v", body, b, err)
		}
		if ce := cc.CheckChatRequest(&req); ce != nil {
			t.Fatalf("accepted %q but the engine refuses: %v", body, ce)
		}
	})
}

// FuzzDecodeFrame: a customer frame never panics the decoder, and a
// message it accepts passes the engine's check.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"type":"message","id":"m1","text":"hi\nthere"}`, `{"type":"typing"}`, `{"type":"end"}`,
		`{"type":"message","id":"","text":"x"}`, `{"type":"x"}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, e := decodeFrame(b)
		if e != nil || fr.Type != "message" {
			return
		}
		p, _ := json.Marshal(cc.ChatMessageRequest{Session: "s1", From: cc.ChatFromCustomer, Text: fr.Text})
		if err := cc.CheckPayload(cc.TypeChatMessage, p); err != nil {
			t.Fatalf("accepted %q but CheckPayload refuses: %v", b, err)
		}
	})
}

// The feed wakes the sockets of the session an event names, and carries
// the agent's typing (an event only) to them.
func TestChatFeed(t *testing.T) {
	f := NewChatFeed()
	a := &chatConn{id: "s1", wake: make(chan struct{}, 1)}
	b := &chatConn{id: "s2", wake: make(chan struct{}, 1)}
	f.watch("s1", a)
	f.watch("s2", b)
	f.Publish([]command.Event{
		{Type: cc.EvChatTyping, Data: json.RawMessage(`{"chat":"s1","from":"agent","agent":"a1"}`)},
		{Type: cc.EvCallQueued, Data: json.RawMessage(`{"call":"s2"}`)},
	})
	select {
	case <-a.wake:
	default:
		t.Fatal("s1 not woken")
	}
	if !a.typing {
		t.Fatal("the agent's typing not noted")
	}
	select {
	case <-b.wake:
		t.Fatal("s2 woken by another session's event")
	default:
	}
	f.Publish([]command.Event{{Type: cc.EvChatTyping, Data: json.RawMessage(`{"chat":"s2","from":"customer"}`)}})
	<-b.wake
	if b.typing {
		t.Fatal("the customer's own typing shown to the customer")
	}
	f.unwatch("s1", a)
	f.unwatch("s2", b)
	if len(f.conns) != 0 {
		t.Fatalf("feed keeps %d sessions", len(f.conns))
	}
}

// --web-tls-only chat: the plain listener refuses the chat routes (403,
// 1000) and still serves the callback ones.
func TestChatTLSOnly(t *testing.T) {
	r := newChatRig(t)
	mux := http.NewServeMux()
	(&Handler{Store: r.store, Engine: r.engine, TLSOnly: []string{FeatureChat}}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/api/v1/chats", "/api/v1/chats/0123456789abcdef0123456789abcdef/ws"} {
		method := "POST"
		if strings.HasSuffix(path, "/ws") {
			method = "GET"
		}
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"chat_language":"en"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e Error
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || e.Code != CodeGeneral {
			t.Fatalf("%s %s over plain HTTP: %d %+v", method, path, resp.StatusCode, e)
		}
	}
	resp, err := http.Post(srv.URL+"/api/v1/callbacks", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callbacks refused too: %d", resp.StatusCode)
	}
}

// POST /api/v1/chats/{id}/transcript: each refusal's code, then the
// transcript queued in the e-mail outbox once, a retry answered alike.
func TestChatTranscriptRoute(t *testing.T) {
	r := newChatRig(t)
	a := r.do("POST", "/api/v1/chats", `{"chat_language":"en","customer_name":"Ana"}`)
	id := a.body["session_id"].(string)
	cl, _, err := r.dialChat(id, "")
	if err != nil {
		t.Fatal(err)
	}
	cl.next("hello")
	cl.send(chatFrame{Type: "message", ID: "m1", Text: "hello"})
	cl.next("ack")
	path := "/api/v1/chats/" + id + "/transcript"
	for _, tc := range []struct {
		name, path, body string
		status, code     int
	}{
		{"no body", path, ``, 400, CodeBadMandatory},
		{"no email", path, `{}`, 400, CodeBadMandatory},
		{"bad email", path, `{"email":"ana@localhost"}`, 400, CodeBadMandatory},
		{"header injection", path, `{"email":"ana@example.com\r\nBcc: x@example.com"}`, 400, CodeBadMandatory},
		{"other key", path, `{"email":"ana@example.com","subject":"x"}`, 400, CodeBadParameter},
		{"unknown session", "/api/v1/chats/0123456789abcdef0123456789abcdef/transcript", `{"email":"ana@example.com"}`, 404, CodeInvalidSession},
		{"before an agent", path, `{"email":"ana@example.com"}`, 400, CodeBadParameter},
	} {
		before := r.engine.Hash()
		if g := r.do("POST", tc.path, tc.body); g.status != tc.status || g.code() != tc.code {
			t.Fatalf("%s: %d %s", tc.name, g.status, g.raw)
		}
		if r.engine.Hash() != before {
			t.Fatalf("%s: a refusal changed the state", tc.name)
		}
	}
	r.propose(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	r.propose(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	r.propose(cc.TypeCallAnswer, cc.AgentCallRequest{Agent: "a1"})
	if g := r.do("POST", path, `{"email":"ana@example.com"}`); g.code() != CodeBadParameter || !strings.Contains(g.raw, "SMTP") {
		t.Fatalf("without SMTP: %d %s", g.status, g.raw)
	}
	d, err := cc.ParseDocument([]byte("mail:\n  imap: {host: imap.example.org, user: u, password: p}\n  smtp: {host: smtp.example.org}\n  aliases: [{address: chat@example.org, queue: sales}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.propose(cc.TypeConfigApply, cc.ApplyRequest{Document: d})
	for i := 0; i < 2; i++ { // the retry is the same command: one entry
		if g := r.do("POST", path, `{"email":"ana@example.com"}`); g.status != http.StatusAccepted || g.body["status"] != "queued" {
			t.Fatalf("transcript %d: %d %s", i, g.status, g.raw)
		}
	}
	out := r.engine.Outbox("")
	if len(out) != 1 || out[0].To != "ana@example.com" || out[0].Contact != id || !strings.Contains(out[0].Body, "You: hello") {
		t.Fatalf("outbox %+v", out)
	}
}

// FuzzDecodeTranscript: what DecodeTranscript accepts is an address the
// engine accepts; what it refuses carries a code of web.md.
func FuzzDecodeTranscript(f *testing.F) {
	for _, s := range []string{`{"email":"ana@example.com"}`, `{"email":"a@b"}`, `{"email":"x\r\n@y.z"}`, `{"email":1}`, `{}`, `[]`, `{"email":"ana@example.com","x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		email, e := DecodeTranscript(body)
		if e != nil {
			if _, ok := Messages[e.Code]; !ok {
				t.Fatalf("code %d is not web.md's", e.Code)
			}
			return
		}
		req := cc.ChatTranscriptRequest{Session: "s1", Reply: "chat-1", To: email}
		if ce := cc.CheckChatTranscriptRequest(&req); ce != nil {
			t.Fatalf("accepted %q refused by the engine: %v", email, ce)
		}
		b, _ := json.Marshal(req)
		if err := cc.CheckPayload(cc.TypeChatTranscript, b); err != nil {
			t.Fatalf("accepted %q fails CheckPayload: %v", email, err)
		}
		if strings.ContainsAny(email, "\r\n<>, ") {
			t.Fatalf("accepted %q", email)
		}
	})
}
