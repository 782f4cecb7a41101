package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/contactcenter/ticker"
)

// rig is one real single-node cluster with the engine, the hub and the
// operations API on a public and an admin mount.
type rig struct {
	t      *testing.T
	store  *cluster.Store
	engine *cc.Engine
	svc    *Service
	public *httptest.Server
	admin  *httptest.Server
	mu     sync.Mutex
	now    time.Time
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// rigOpts adds sinks beside the hub and a logger to a rig.
type rigOpts struct {
	sinks  []cluster.EventSink
	logger *slog.Logger
}

func newRig(t *testing.T, opts ...rigOpts) *rig {
	t.Helper()
	var o rigOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &rig{t: t, engine: cc.New(), now: time.Now()}
	var storeRef *cluster.Store
	hub := &Hub{Applied: func() uint64 { return storeRef.AppliedIndex() }}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cluster.Open(ctx, cluster.Config{
		NodeID: "n1", RaftAddr: addr, AdminURL: "http://127.0.0.1:1", DataDir: t.TempDir(),
		Token: "test-token-0123456789", Machines: []cluster.Machine{r.engine},
		Sinks: append([]cluster.EventSink{hub}, o.sinks...), Logger: logger, Now: r.clock,
	})
	if err != nil {
		t.Fatalf("opening the cluster: %v", err)
	}
	storeRef = st
	r.store = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Close(ctx)
	})
	for i := 0; !st.IsLeader(); i++ {
		if i > 300 {
			t.Fatal("no leader after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.svc = &Service{Store: st, Engine: r.engine, Hub: hub, Sessions: NewSessions("test-token-0123456789", 0, r.clock)}
	pub := http.NewServeMux()
	(&Handler{Service: r.svc, Logger: logger}).Routes(pub, PublicPrefix)
	r.public = httptest.NewServer(pub)
	t.Cleanup(r.public.Close)
	r.admin = httptest.NewServer(http.StripPrefix("/v1/console", &Handler{Service: r.svc, AdminActor: true}))
	t.Cleanup(r.admin.Close)
	return r
}

func (r *rig) config(doc string) {
	r.t.Helper()
	d, err := cc.ParseDocument([]byte(doc))
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.store.Propose(context.Background(), cc.TypeConfigApply, cc.ApplyRequest{Document: d}); err != nil {
		r.t.Fatalf("config: %v", err)
	}
}

type reply struct {
	code   int
	body   map[string]any
	raw    string
	header http.Header
}

func (r *rig) call(method, url, token string, body any, hdr ...string) reply {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rep := reply{code: resp.StatusCode, raw: string(b), header: resp.Header}
	json.Unmarshal(b, &rep.body)
	return rep
}

func (r *rig) op(token, op string, body any, hdr ...string) reply {
	r.t.Helper()
	return r.call("POST", r.public.URL+"/console/api/v1/ops/"+op, token, body, hdr...)
}

func (r *rig) edge(op string, body any) reply {
	r.t.Helper()
	rep := r.call("POST", r.admin.URL+"/v1/console/ops/"+op, "", body)
	if rep.code != 200 {
		r.t.Fatalf("edge %s: %d %s", op, rep.code, rep.raw)
	}
	return rep
}

func (r *rig) login(user, pw string) string {
	r.t.Helper()
	rep := r.call("POST", r.public.URL+"/console/api/v1/session", "", LoginRequest{User: user, Password: pw})
	if rep.code != 200 {
		r.t.Fatalf("login %s: %d %s", user, rep.code, rep.raw)
	}
	return rep.body["token"].(string)
}

// stream is a console's live event stream.
type stream struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan frame // what the reader read, in order; an error last
	last   string
	raw    []string // every message read, as sent
}

// frame is one message read from the stream, or the error that ended it.
type frame struct {
	b   []byte
	err error
}

// readAll reads the stream until it ends, so that the node's pings are
// answered while a test does something else for a while (coder/websocket
// answers a ping only inside a Read; a test busy for longer than the
// node's ping interval and write timeout had its stream closed under it).
func (s *stream) readAll(done <-chan struct{}) {
	for {
		_, b, err := s.c.Read(context.Background())
		select {
		case s.frames <- frame{b, err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

// next is the next frame, or a failure after 10 s.
func (s *stream) next() frame {
	s.t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-time.After(10 * time.Second):
		s.t.Fatal("reading the stream: nothing for 10 s")
		return frame{}
	}
}

// closed is the error the stream ended with, once the messages before it
// are skipped (bounded).
func (s *stream) closed() error {
	s.t.Helper()
	for i := 0; i < 100; i++ {
		if f := s.next(); f.err != nil {
			return f.err
		}
	}
	s.t.Fatal("the stream did not end within 100 messages")
	return nil
}

func (r *rig) stream(token, since string) *stream {
	r.t.Helper()
	url := "ws" + strings.TrimPrefix(r.public.URL, "http") + "/console/api/v1/events?since=" + since + "&access_token=" + token
	if token == "" {
		// The admin mount: an integration holding the admin token.
		url = "ws" + strings.TrimPrefix(r.admin.URL, "http") + "/v1/console/events?since=" + since
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		r.t.Fatalf("dial events: %v", err)
	}
	c.SetReadLimit(16 << 20)
	s := &stream{t: r.t, c: c, frames: make(chan frame, 1024)}
	done := make(chan struct{})
	go s.readAll(done)
	r.t.Cleanup(func() { close(done); c.CloseNow() })
	if m := s.read(); m.Type != "hello" {
		r.t.Fatalf("first message %+v, want hello", m)
	}
	return s
}

func (s *stream) read() streamMsg {
	s.t.Helper()
	f := s.next()
	if f.err != nil {
		s.t.Fatalf("reading the stream: %v", f.err)
	}
	b := f.b
	s.raw = append(s.raw, string(b))
	var m streamMsg
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("stream message %s: %v", b, err)
	}
	switch {
	case m.Position != "":
		s.last = m.Position
	case m.Type == "position":
		s.last = m.Since
	case len(m.Events) > 0:
		s.last = formatPosition(m.Events[len(m.Events)-1].Pos())
	}
	return m
}

// until reads events until one of type typ arrives and returns the types
// seen on the way (bounded).
func (s *stream) until(typ string) []string {
	s.t.Helper()
	var seen []string
	for i := 0; i < 50; i++ {
		m := s.read()
		for _, ev := range m.Events {
			seen = append(seen, ev.Type)
			if ev.Type == typ {
				return seen
			}
		}
	}
	s.t.Fatalf("no %s in %v", typ, seen)
	return nil
}

const rigDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "3001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: ben, name: Ben, extension: "2002", password_hash: "%s"}
  - {id: bob, name: Bob, extension: "3001"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [sales]}
`

func TestOperationsAPI(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))

	// Log-in: wrong password and unknown user read alike.
	for _, lr := range []LoginRequest{{"ann", "wrong-password"}, {"nobody", "ann-password"}, {"bob", "anything-at-all"}, {"", ""}} {
		rep := r.call("POST", r.public.URL+"/console/api/v1/session", "", lr)
		if rep.code != 401 || rep.body["message"] != ErrBadPassword.Error() {
			t.Fatalf("login %q: %d %s", lr.User, rep.code, rep.raw)
		}
	}
	ann := r.login("ann", "ann-password")
	ben := r.login("ben", "ben-password")
	if rep := r.call("GET", r.public.URL+"/console/api/v1/state", "", nil); rep.code != 401 {
		t.Fatalf("state without a session: %d", rep.code)
	}

	state := r.call("GET", r.public.URL+"/console/api/v1/state", ann, nil)
	if state.code != 200 || state.body["user"] != "ann" {
		t.Fatalf("state: %d %s", state.code, state.raw)
	}
	ev := r.stream(ann, state.body["since"].(string))

	// Two-step log-in through the API; the stream shows both steps.
	for _, want := range []string{cc.StatePaused, cc.StateConnected} {
		rep := r.op(ann, "login", nil)
		if rep.code != 200 {
			t.Fatalf("login op: %d %s", rep.code, rep.raw)
		}
		var res cc.AgentResult
		b, _ := json.Marshal(rep.body["result"])
		json.Unmarshal(b, &res)
		if res.Agent != "a1" || res.State != want {
			t.Fatalf("login result %+v, want a1 %s", res, want)
		}
		ev.until(cc.EvAgentStateChanged)
	}

	// A call from the telephony edge rings on the connected operator.
	r.edge("incoming", map[string]any{"call": "c1", "queue": "sales", "number": "+44 161 5527789"})
	ev.until(cc.EvCallOffered)

	for _, tc := range []struct {
		name, token, op string
		body            any
		code            int
		errCode         string
	}{
		{"someone else's agent", ben, "answer", map[string]any{"agent": "a1"}, 403, "forbidden"},
		{"nothing ringing", ben, "answer", nil, 409, "refused"},
		{"telephony-edge command", ann, "incoming", map[string]any{"queue": "sales"}, 403, "forbidden"},
		{"unknown operation", ann, "teleport", nil, 404, "not_found"},
		{"not an object", ann, "answer", []int{1}, 400, "bad_request"},
		{"bad field", ann, "pause", map[string]any{"reason": "no-such-reason", "extra": 1}, 400, "bad_request"},
		{"no session", "", "answer", nil, 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.engine.Hash()
			rep := r.op(tc.token, tc.op, tc.body)
			if rep.code != tc.code || rep.body["code"] != tc.errCode || rep.body["message"] == "" {
				t.Fatalf("got %d %s, want %d %s", rep.code, rep.raw, tc.code, tc.errCode)
			}
			if r.engine.Hash() != before {
				t.Fatal("a refused operation changed the engine")
			}
		})
	}

	// Answer twice with one idempotency key (a console retrying after a
	// timeout): applied once.
	first := r.op(ann, "answer", nil, "Idempotency-Key", "k-1")
	again := r.op(ann, "answer", nil, "Idempotency-Key", "k-1")
	if first.code != 200 || again.code != 200 || again.body["duplicate"] != true || again.body["index"] != first.body["index"] ||
		fmt.Sprint(again.body["result"]) != fmt.Sprint(first.body["result"]) {
		t.Fatalf("answer: %s / retry: %s", first.raw, again.raw)
	}
	ev.until(cc.EvCallAnswered)

	// Dial gets a call ID chosen at the edge; blind transfer then shows in
	// the supervision list.
	if rep := r.op(ann, "transfer", map[string]any{"target": "3001"}); rep.code != 200 {
		t.Fatalf("transfer: %d %s", rep.code, rep.raw)
	}
	sup := r.call("GET", r.public.URL+"/console/api/v1/supervised?all=1", ann, nil)
	if sup.code != 200 || !strings.Contains(sup.raw, `"c1"`) {
		t.Fatalf("supervised: %d %s", sup.code, sup.raw)
	}

	// Resume: a console that reconnects from the last event it applied
	// gets exactly what followed.
	resumeAt := ev.last
	ev.c.Close(websocket.StatusNormalClosure, "")
	r.op(ann, "note", map[string]any{"call": "c1", "note": "VIP caller"})
	ev2 := r.stream(ann, resumeAt)
	m := ev2.read()
	if len(m.Events) == 0 || !m.Events[0].Pos().After(mustPos(t, resumeAt)) {
		t.Fatalf("resumed at %s, got %+v", resumeAt, m)
	}

	// Reads: history, directory, cluster.
	for _, path := range []string{"/history", "/directory?q=bob", "/queues", "/cluster", "/session", "/phones", "/line-status?extension=3001", "/voicemail", "/voicemail?mailbox=2001", "/caller?number=3001", "/active-calls", "/receptionists"} {
		if rep := r.call("GET", r.public.URL+"/console/api/v1"+path, ann, nil); rep.code != 200 {
			t.Fatalf("GET %s: %d %s", path, rep.code, rep.raw)
		}
	}

	if rep := r.call("GET", r.public.URL+"/console/api/v1/line-status?extension=2001", ann, nil); rep.body["status"] != "not_connected" {
		t.Fatalf("line status of an extension with no registered phone: %s", rep.raw)
	}
	if rep := r.call("GET", r.public.URL+"/console/api/v1/voicemail?mailbox=2002", ann, nil); rep.code != 403 {
		t.Fatalf("someone else's mailbox: %d %s", rep.code, rep.raw)
	}
	r.edge("voicemail_deposited", map[string]any{"mailbox": "2001", "message": "m1", "from": "+44 161 5527789"})
	if rep := r.op(ann, "voicemail_mark", map[string]any{"mailbox": "2001", "message": "m1", "folder": "old"}); rep.code != 200 {
		t.Fatalf("mark own voicemail: %d %s", rep.code, rep.raw)
	}
	if rep := r.op(ben, "voicemail_delete", map[string]any{"mailbox": "2001", "message": "m1"}); rep.code != 409 {
		t.Fatalf("delete someone else's voicemail: %d %s", rep.code, rep.raw)
	}
	if rep := r.call("GET", r.public.URL+"/console/api/v1/voicemail", ann, nil); !strings.Contains(rep.raw, `"old":[{`) {
		t.Fatalf("voicemail list after marking old: %s", rep.raw)
	}
	if rep := r.call("GET", r.public.URL+"/console/api/v1/line-status?extension=9999", ann, nil); rep.code != 404 {
		t.Fatalf("unknown extension: %d %s", rep.code, rep.raw)
	}

	// A password change ends the user's sessions.
	newHash, _ := HashPassword("ann-new-password")
	r.config(fmt.Sprintf(rigDoc, newHash, benHash))
	if rep := r.call("GET", r.public.URL+"/console/api/v1/state", ann, nil); rep.code != 401 {
		t.Fatalf("old session after a password change: %d", rep.code)
	}
	if rep := r.call("GET", r.public.URL+"/console/api/v1/state", ben, nil); rep.code != 200 {
		t.Fatalf("another user's session: %d", rep.code)
	}
}

func mustPos(t *testing.T, s string) command.Position {
	p, err := parsePosition(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTicker: the leader's ticker proposes a clock.tick only once a
// deadline is due, and the engine's timers fire (an unanswered offer rings
// out to the next operator).
func TestTicker(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	r.config(fmt.Sprintf(rigDoc, annHash, annHash))
	for _, a := range []string{"a1", "a2"} {
		for i := 0; i < 2; i++ {
			r.edge("login", map[string]any{"agent": a})
		}
	}
	tk := &ticker.Ticker{IsLeader: r.store.IsLeader, Next: r.engine.NextDeadline, Propose: r.store.Propose, Now: r.clock}
	if !tk.Step(context.Background()) {
		t.Fatal("the first tick, which schedules the daily data maintenance, did not come")
	}
	if tk.Step(context.Background()) {
		t.Fatal("ticked with nothing due")
	}
	r.edge("incoming", map[string]any{"call": "c1", "queue": "sales"})
	first := offered(r, "c1")
	r.advance(14 * time.Second)
	if tk.Step(context.Background()) {
		t.Fatal("ticked before the 15 s ring timeout")
	}
	r.advance(2 * time.Second)
	if !tk.Step(context.Background()) {
		t.Fatal("no tick after the ring timeout")
	}
	if now := offered(r, "c1"); now == first || now == "" {
		t.Fatalf("after the ring-out the call rings on %q (first %q)", now, first)
	}
}

func offered(r *rig, call string) string {
	var who string
	r.engine.View(func(st *cc.State) {
		if c, ok := st.Calls[call]; ok && len(c.Offered) > 0 {
			who = c.Offered[0]
		}
	})
	return who
}
