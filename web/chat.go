package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// FeatureChat names web chat for --web-tls-only.
const FeatureChat = "chat"

// Chats is what the chat routes read of the engine.
type Chats interface {
	Chat(id string) (cc.ChatView, bool)
	ChatMessages(id string, since, limit int) ([]cc.ChatMessage, cc.ChatView, bool)
}

// chats is the engine's chat reader: Handler.Chats, else the Engine when
// it reads chats too (the node's engine does).
func (h *Handler) chats() Chats {
	if h.Chats != nil {
		return h.Chats
	}
	c, _ := h.Engine.(Chats)
	return c
}

// ChatCreated answers POST /api/v1/chats.
type ChatCreated struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at"`
}

func (h *Handler) createChat(w http.ResponseWriter, r *http.Request) {
	const op = "chat_create"
	body, e := readBody(r)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	req, e := DecodeChat(body)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	var opts []cluster.ProposeOption
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > maxKeyLen || !printableASCII(key) {
			h.fail(w, op, newErr(CodeBadParameter, "Idempotency-Key", "Idempotency-Key is 1-128 printable ASCII characters"))
			return
		}
		req.Session = ""
		b, _ := json.Marshal(req)
		sum := sha256.Sum256(append(append([]byte(key), 0), b...))
		opts = append(opts, cluster.WithKey("web:chat:"+hex.EncodeToString(sum[:20])))
	}
	newID := h.NewID
	if newID == nil {
		newID = cluster.NewID
	}
	req.Session = newID()
	ctx, cancel := h.ctx(r)
	defer cancel()
	res, err := h.Store.Propose(ctx, cc.TypeChatCreate, req, opts...)
	if err != nil {
		h.fail(w, op, fromCluster(err))
		return
	}
	var v cc.ChatView
	if err := json.Unmarshal(res.Result, &v); err != nil || v.Session == "" {
		h.fail(w, op, newErr(CodeInternal, "", "the cluster's answer could not be read"))
		return
	}
	if res.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", Prefix+"/chats/"+v.Session+"/ws")
	h.ok(w, op, http.StatusCreated, ChatCreated{SessionID: v.Session, Status: v.Status, CreatedAt: rfc3339(v.Created)})
}

// validSessionID: the form of the ids this edge makes (anything else is
// an unknown session without asking the cluster).
func validSessionID(id string) bool {
	return id != "" && len(id) <= cc.MaxCallbackIDLen && strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) < 0
}

// chatOut is a frame the server sends over the chat WebSocket:
//
//	{"type":"hello","session_id","status","since"}
//	{"type":"message","seq","from","agent"?,"text","at"}  the transcript, in seq order
//	{"type":"ack","id","seq"}        the customer's message id committed as seq
//	{"type":"typing","from":"agent"} the agent is typing
//	{"type":"status","status","agent"?}  queued → connected (→ queued: the agent left)
//	{"type":"error","code","message","field"?,"id"?}  a frame refused (the connection stays)
//	{"type":"ended","reason"}         then close 1000
type chatOut struct {
	Type      string `json:"type"`
	SessionID string `json:"session_id,omitempty"`
	Status    string `json:"status,omitempty"`
	Since     *int   `json:"since,omitempty"`
	Seq       int    `json:"seq,omitempty"`
	From      string `json:"from,omitempty"`
	Agent     string `json:"agent,omitempty"`
	Text      string `json:"text,omitempty"`
	At        string `json:"at,omitempty"`
	ID        string `json:"id,omitempty"`
	Code      int    `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	Field     string `json:"field,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

const (
	chatWriteTimeout = 10 * time.Second
	chatPingEvery    = 20 * time.Second
	// chatPollEvery bounds how late the stream sees a change when no
	// feed wakes it (a feed wakes it at once).
	chatPollEvery = time.Second
	chatBatch     = 100
	maxFrameBytes = 16 << 10
)

// chatWS serves GET /api/v1/chats/{id}/ws?since=N: the customer's live
// chat. The session must exist and be open (else 1007, before the
// upgrade). The server sends every message with seq > since, then each
// new one; a customer's message is acknowledged with its seq once it is
// committed. Reconnecting with since = the last seq received resumes
// with nothing lost or twice; a message sent again with the same id
// after a drop is applied once (its id is the command's key).
func (h *Handler) chatWS(w http.ResponseWriter, r *http.Request) {
	const op = "chat_ws"
	chats := h.chats()
	id := r.PathValue("id")
	if chats == nil || !validSessionID(id) {
		h.fail(w, op, newErr(CodeInvalidSession, "id", "invalid session ID"))
		return
	}
	since := 0
	if s := r.URL.Query().Get("since"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > cc.MaxChatMessages {
			h.fail(w, op, newErr(CodeBadParameter, "since", "since is the last sequence number received, 0-"+strconv.Itoa(cc.MaxChatMessages)))
			return
		}
		since = n
	}
	ctx, cancel := h.ctx(r)
	err := h.Store.Read(ctx, cluster.Linearizable)
	cancel()
	if err != nil {
		h.fail(w, op, fromCluster(err))
		return
	}
	v, ok := chats.Chat(id)
	if !ok || v.Status == cc.ChatEnded {
		h.fail(w, op, newErr(CodeInvalidSession, "id", "invalid session ID: no open chat session"))
		return
	}
	c, err := websocket.Accept(w, r, h.acceptOptions())
	if err != nil {
		h.Metrics.count(op, CodeGeneral)
		return // Accept wrote the HTTP error
	}
	h.Metrics.count(op, 0)
	defer c.CloseNow()
	c.SetReadLimit(maxFrameBytes)
	wctx, stop := context.WithCancel(r.Context())
	defer stop()
	s := &chatConn{h: h, c: c, id: id, addr: clientAddr(r), wake: make(chan struct{}, 1)}
	if h.Feed != nil {
		h.Feed.watch(id, s)
		defer h.Feed.unwatch(id, s)
	}
	if s.send(wctx, chatOut{Type: "hello", SessionID: id, Status: v.Status, Since: &since}) != nil {
		return
	}
	go func() {
		defer stop()
		s.read(wctx)
	}()
	s.follow(wctx, chats, since, v.Status, v.Agent)
}

// acceptOptions: same origin, or an origin of --web-cors-origins (the
// customer's web site).
func (h *Handler) acceptOptions() *websocket.AcceptOptions {
	opts := &websocket.AcceptOptions{}
	for _, o := range h.CORSOrigins {
		if o == "*" {
			opts.InsecureSkipVerify = true
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			opts.OriginPatterns = append(opts.OriginPatterns, u.Host)
		}
	}
	return opts
}

// chatConn is one customer's WebSocket.
type chatConn struct {
	h    *Handler
	c    *websocket.Conn
	id   string
	addr string
	wake chan struct{}

	mu     sync.Mutex
	typing bool // the agent typed since the last look
}

func (s *chatConn) notify(agentTyping bool) {
	if agentTyping {
		s.mu.Lock()
		s.typing = true
		s.mu.Unlock()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *chatConn) send(ctx context.Context, m chatOut) error {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(ctx, chatWriteTimeout)
	defer cancel()
	return s.c.Write(ctx, websocket.MessageText, b)
}

// follow sends the transcript after since and whatever comes after it,
// until the session ends or the connection goes. A status frame tells
// each change of the session's status or agent it sees: queued →
// connected, and back to queued when the agent logs out with the chat
// open (it waits for the next agent; contactcenter chat.requeued).
func (s *chatConn) follow(ctx context.Context, chats Chats, since int, status, agent string) {
	poll := time.NewTicker(chatPollEvery)
	defer poll.Stop()
	ping := time.NewTicker(chatPingEvery)
	defer ping.Stop()
	for {
		for {
			msgs, v, ok := chats.ChatMessages(s.id, since, chatBatch)
			if !ok {
				s.c.Close(websocket.StatusNormalClosure, "session gone")
				return
			}
			for _, m := range msgs {
				if s.send(ctx, chatOut{Type: "message", Seq: m.Seq, From: m.From, Agent: m.Agent, Text: m.Text, At: rfc3339(m.At)}) != nil {
					return
				}
				since = m.Seq
			}
			if len(msgs) == chatBatch {
				continue
			}
			if (v.Status != status || v.Agent != agent) && v.Status != cc.ChatEnded {
				status, agent = v.Status, v.Agent
				if s.send(ctx, chatOut{Type: "status", Status: v.Status, Agent: v.Agent}) != nil {
					return
				}
			}
			s.mu.Lock()
			typing := s.typing
			s.typing = false
			s.mu.Unlock()
			if typing && v.Status != cc.ChatEnded {
				if s.send(ctx, chatOut{Type: "typing", From: cc.ChatFromAgent}) != nil {
					return
				}
			}
			if v.Status == cc.ChatEnded {
				s.send(ctx, chatOut{Type: "ended", Reason: v.Reason})
				s.c.Close(websocket.StatusNormalClosure, "session ended")
				return
			}
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-poll.C:
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, chatWriteTimeout)
			err := s.c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// read takes the customer's frames: each message, typing or end becomes
// a committed command; a message is acknowledged with its seq.
func (s *chatConn) read(ctx context.Context) {
	for {
		typ, b, err := s.c.Read(ctx)
		if err != nil {
			return
		}
		const op = "chat_frame"
		if typ != websocket.MessageText {
			s.refuse(ctx, op, "", newErr(CodeBadMandatory, "", "frames are JSON text"))
			continue
		}
		if !s.h.limiter().allow(s.addr, time.Now()) {
			s.refuse(ctx, op, "", newErr(CodeCallbackServer, "", "too many frames from this address; retry in a second"))
			continue
		}
		f, e := decodeFrame(b)
		if e != nil {
			s.refuse(ctx, op, f.ID, e)
			continue
		}
		p := cc.ChatMessageRequest{Session: s.id, From: cc.ChatFromCustomer}
		var opts []cluster.ProposeOption
		typ2 := cc.TypeChatTyping
		switch f.Type {
		case "message":
			typ2, p.Text = cc.TypeChatMessage, f.Text
			opts = append(opts, cluster.WithKey("web:chat:"+s.id+":"+f.ID))
		case "end":
			pctx, cancel := s.h.ctx2(ctx)
			_, err := s.h.Store.Propose(pctx, cc.TypeChatEnd, cc.ChatEndRequest{Session: s.id, By: cc.ChatFromCustomer})
			cancel()
			if err != nil {
				s.refuse(ctx, op, "", fromCluster(err))
				continue
			}
			s.h.Metrics.count(op, 0)
			s.notify(false)
			continue
		}
		pctx, cancel := s.h.ctx2(ctx)
		res, err := s.h.Store.Propose(pctx, typ2, p, opts...)
		cancel()
		if err != nil {
			s.refuse(ctx, op, f.ID, fromCluster(err))
			continue
		}
		s.h.Metrics.count(op, 0)
		if f.Type == "message" {
			var mr cc.ChatMessageResult
			if json.Unmarshal(res.Result, &mr) != nil || mr.Seq == 0 {
				s.refuse(ctx, op, f.ID, newErr(CodeInternal, "", "the cluster's answer could not be read"))
				continue
			}
			if s.send(ctx, chatOut{Type: "ack", ID: f.ID, Seq: mr.Seq}) != nil {
				return
			}
			s.notify(false)
		}
	}
}

func (s *chatConn) refuse(ctx context.Context, op, id string, e *Error) {
	s.h.Metrics.count(op, e.Code)
	s.send(ctx, chatOut{Type: "error", Code: e.Code, Message: e.Message, Field: e.Field, ID: id})
}

// ctx2 bounds a wait for the cluster inside a connection.
func (h *Handler) ctx2(ctx context.Context) (context.Context, context.CancelFunc) {
	d := h.Timeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// ChatFeed wakes the chat WebSockets of this node when their session's
// events are applied (it is a cluster.EventSink: tandemd adds it to the
// node's sinks). Without it a connection looks every second.
type ChatFeed struct {
	mu    sync.Mutex
	conns map[string]map[*chatConn]struct{}
}

// NewChatFeed makes an empty feed.
func NewChatFeed() *ChatFeed { return &ChatFeed{conns: map[string]map[*chatConn]struct{}{}} }

func (f *ChatFeed) watch(id string, c *chatConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns[id] == nil {
		f.conns[id] = map[*chatConn]struct{}{}
	}
	f.conns[id][c] = struct{}{}
}

func (f *ChatFeed) unwatch(id string, c *chatConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns[id], c)
	if len(f.conns[id]) == 0 {
		delete(f.conns, id)
	}
}

// Publish implements cluster.EventSink; it never blocks.
func (f *ChatFeed) Publish(events []command.Event) {
	for i := range events {
		ev := &events[i]
		if !strings.HasPrefix(ev.Type, "chat.") {
			continue
		}
		var d struct{ Chat, From string }
		if json.Unmarshal(ev.Data, &d) != nil {
			continue
		}
		f.mu.Lock()
		for c := range f.conns[d.Chat] {
			c.notify(ev.Type == cc.EvChatTyping && d.From == cc.ChatFromAgent)
		}
		f.mu.Unlock()
	}
}

// Sync implements cluster.EventSink: the feed keeps nothing.
func (f *ChatFeed) Sync() error { return nil }

// TranscriptQueued answers POST /api/v1/chats/{id}/transcript.
type TranscriptQueued struct {
	Status string `json:"status"`
}

// chatTranscript serves POST /api/v1/chats/{id}/transcript {"email"}:
// the session's transcript e-mailed to the customer through the e-mail
// channel's outbox (contactcenter chat.transcript), once per session,
// after an agent took it; 202 once queued. The command's key is the
// session's, so a retry is answered as the first request.
func (h *Handler) chatTranscript(w http.ResponseWriter, r *http.Request) {
	const op = "chat_transcript"
	id := r.PathValue("id")
	if !validSessionID(id) {
		h.fail(w, op, newErr(CodeInvalidSession, "id", "invalid session ID"))
		return
	}
	body, e := readBody(r)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	email, e := DecodeTranscript(body)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	newID := h.NewID
	if newID == nil {
		newID = cluster.NewID
	}
	req := cc.ChatTranscriptRequest{Session: id, Reply: "chat-" + newID(), To: email}
	if ce := cc.CheckChatTranscriptRequest(&req); ce != nil {
		h.fail(w, op, newErr(ce.Code, ce.Field, ce.Msg))
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	if _, err := h.Store.Propose(ctx, cc.TypeChatTranscript, req, cluster.WithKey("web:chat:"+id+":transcript")); err != nil {
		fe := fromCluster(err)
		if fe.Code == CodeInvalidSession {
			fe.status = http.StatusNotFound
		}
		h.fail(w, op, fe)
		return
	}
	h.ok(w, op, http.StatusAccepted, TranscriptQueued{Status: cc.OutboxQueued})
}

// DecodeTranscript reads the body of POST /api/v1/chats/{id}/transcript:
// one JSON object {"email": "local@domain"} (1010 when missing or
// malformed, 1011 for another key).
func DecodeTranscript(body []byte) (string, *Error) {
	fields, e := objectFields(body)
	if e != nil {
		return "", e
	}
	for _, k := range fields.order {
		if k != "email" {
			return "", newErr(CodeBadParameter, jsonin.Clip(k), "unknown parameter "+jsonin.Quote(k))
		}
	}
	email, e := mandatoryString(fields.v, "email")
	if e != nil {
		return "", e
	}
	if ce := cc.CheckEmailAddress(email); ce != nil {
		return "", newErr(ce.Code, ce.Field, ce.Msg)
	}
	return email, nil
}
