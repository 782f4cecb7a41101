package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// webChatTarget relays web chat messages customer → agent through the
// cluster: one chat session per worker, each answered by its own agent.
// One operation is one message a customer writes on the chat WebSocket
// (`{"type":"message"}`), done when the customer has its ack (committed
// through Raft as the session's next seq) and the agent's console event
// stream has shown it (the chat.message event, applied on the agent's
// node). Customers are on node w mod N, agents' consoles on node
// (i+1) mod N, so most messages cross nodes.
type webChatTarget struct {
	sessions []*chatSession // worker i's current session; only worker i replaces it
	byID     sync.Map       // session id → *chatSession
	agents   []*chatAgent
	mu       sync.Mutex // guards closers (workers add to it when they rotate)
	closers  []func()
	client   *http.Client
	logf     func(string, ...any)
	addrs    []string
	language string
	rotateAt int // messages after which a worker ends its chat and opens another
}

// MaxChatMessages is the engine's limit of messages a chat session holds;
// a worker rotates before it (the default of -chat-rotate).
const MaxChatMessages = 1000

// chatSession is one customer's WebSocket and what arrives for it.
//
// It is made by whichever comes first: the customer's POST /api/v1/chats
// answer, or an agent's stream showing the session offered or answered
// (webChatTarget.session). The engine offers a new session in the command
// that creates it, so an agent on another node may see the offer, answer
// it and see chat.answered before the node that took the POST has
// answered it; such an event must not be lost.
type chatSession struct {
	id   string
	ws   *websocket.Conn // set by openChat before the session is used
	acks chan string     // ids acknowledged, or "error:…" for an error frame
	seen chan string     // texts of the customer's messages shown to the agent
	done chan struct{}
	ansd chan struct{} // closed once an agent's stream showed chat.answered
	once sync.Once
	sent int // messages written, by its worker only

	mu     sync.Mutex // guards what follows: what is known of it, for a report
	base   string     // the public address the customer is on
	status string     // as the customer's socket last showed it ("": nothing yet)
	agent  string     // the agent the customer's socket named
	offers []string   // offers to bench agents and how their answers went
}

func newChatSession(id string) *chatSession {
	return &chatSession{id: id, acks: make(chan string, 64), seen: make(chan string, 64),
		done: make(chan struct{}), ansd: make(chan struct{})}
}

// maxOffersNoted bounds the offers a session notes for its report.
const maxOffersNoted = 20

// note records one line of the session's report (an offer, an answer).
func (cs *chatSession) note(format string, args ...any) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.offers) < maxOffersNoted {
		cs.offers = append(cs.offers, fmt.Sprintf(format, args...))
	}
}

// answered marks the session answered (an agent's stream showed
// chat.answered).
func (cs *chatSession) answered() { cs.once.Do(func() { close(cs.ansd) }) }

// report says what is known of a session that was not answered: what
// the customer's socket shows (queued: the engine still waits for an
// agent; connected: an agent took it but no bench agent's stream showed
// chat.answered) and the offers the bench agents' streams showed.
func (cs *chatSession) report() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	status := cs.status
	switch {
	case status == "":
		status = "nothing yet"
	case cs.agent != "":
		status += " (agent " + cs.agent + ")"
	}
	offers := "none"
	if len(cs.offers) > 0 {
		offers = strings.Join(cs.offers, ", ")
	}
	return fmt.Sprintf("chat %s (customer on %s): the customer's socket shows %s; offers on the bench agents' streams: %s; chat.answered on none of them",
		cs.id, cs.base, status, offers)
}

// waitAnswered waits until the session's chat.answered was seen, at most
// until ctx ends; then the error is the session's report.
func (cs *chatSession) waitAnswered(ctx context.Context) error {
	select {
	case <-cs.ansd:
		return nil
	case <-ctx.Done():
		select {
		case <-cs.ansd: // answered too: that counts
			return nil
		default:
		}
		return fmt.Errorf("%s: %w", cs.report(), ctx.Err())
	}
}

// chatAgent is one agent's console: a session token and its event stream.
type chatAgent struct {
	base  string
	user  string
	agent string // the agent the user is
	token string
	ws    *websocket.Conn
	since string // the last position its stream reached ("INDEX[.SEQ]")
	mu    sync.Mutex
	shut  bool
}

// dial opens the agent's event stream from a.since.
func (a *chatAgent) dial(ctx context.Context) error {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.base, "http")+"/console/api/v1/events?since="+a.since+"&access_token="+a.token, nil)
	if err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shut {
		ws.CloseNow()
		return errors.New("closed")
	}
	a.ws = ws
	return nil
}

// close ends the stream for good.
func (a *chatAgent) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shut = true
	if a.ws != nil {
		a.ws.CloseNow()
	}
}

// chatSetup says how to prepare the chats.
type chatSetup struct {
	users     []string // console users, one per worker (agents of the chat queue)
	password  string
	language  string
	setupWait time.Duration
	rotateAt  int // 0: MaxChatMessages - 50
}

func chatUsers(prefix string, offset, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(offset+i)
	}
	return out
}

// newWebChatTarget logs the agents in (console API: session, stream,
// agent.login twice: logged in, then ready), opens one chat a worker,
// answers each offer and waits until every session has its agent.
func newWebChatTarget(ctx context.Context, client *http.Client, addrs []string, s chatSetup, logf func(string, ...any)) (*webChatTarget, error) {
	t := &webChatTarget{client: client, logf: logf, addrs: addrs, language: s.language, rotateAt: s.rotateAt}
	if t.rotateAt <= 0 {
		t.rotateAt = MaxChatMessages - 50
	}
	ctx, cancel := context.WithTimeout(ctx, s.setupWait)
	defer cancel()

	// Agents: log-ins a few at a time (each costs the node a PBKDF2
	// derivation, and its queue of log-ins is short).
	t.agents = make([]*chatAgent, len(s.users))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	errc := make(chan error, len(s.users))
	for i, u := range s.users {
		a := &chatAgent{base: addrs[(i+1)%len(addrs)], user: u}
		t.agents[i] = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := a.start(ctx, client, s.password, t); err != nil {
				errc <- fmt.Errorf("agent %s: %w", a.user, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		for _, a := range t.agents {
			t.closers = append(t.closers, a.close)
		}
		t.Close()
		return nil, err
	}
	for _, a := range t.agents {
		t.closers = append(t.closers, a.close)
	}
	logf("webchat: %d agents logged in and ready", len(t.agents))

	// Customers: one chat each, its WebSocket open.
	for i := range s.users {
		cs, err := t.openChat(ctx, addrs[i%len(addrs)], i)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.sessions = append(t.sessions, cs)
		t.addCloser(cs)
	}
	var missing []string
	for _, cs := range t.sessions {
		if err := cs.waitAnswered(ctx); err != nil {
			missing = append(missing, cs.report())
		}
	}
	if len(missing) > 0 {
		t.Close()
		return nil, fmt.Errorf("%d of %d chats were not answered by an agent within %s: %s",
			len(missing), len(t.sessions), s.setupWait, strings.Join(missing, "; "))
	}
	logf("webchat: %d chats answered", len(t.sessions))
	return t, nil
}

// Close ends the chats (the customer's end frame) and logs the agents
// out, so that a later run against the same cluster routes its chats to
// its own agents only; then it closes every socket. Bounded by 30 s.
func (t *webChatTarget) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end, _ := json.Marshal(map[string]string{"type": "end"})
	for _, cs := range t.sessions {
		_ = cs.ws.Write(ctx, websocket.MessageText, end)
	}
	for _, cs := range t.sessions {
		select {
		case <-cs.done:
		case <-ctx.Done():
		}
	}
	var wg sync.WaitGroup
	for _, a := range t.agents {
		if a.token == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ { // logged out is reached in one step or two; a refusal says it is
				if code, _, err := postJSON(ctx, t.client, a.base+"/console/api/v1/ops/logout", a.token, nil); err != nil || code != http.StatusOK {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range t.closers {
		c()
	}
	t.closers = nil
}

func (t *webChatTarget) addCloser(cs *chatSession) {
	ws := cs.ws
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closers = append(t.closers, func() { ws.CloseNow() })
}

// rotate ends worker i's chat (the customer's end frame) and opens a new
// one, answered by a free agent, before the old one reaches the engine's
// limit of messages a session holds. The operation that rotates carries
// the time it takes (one in rotateAt).
func (t *webChatTarget) rotate(ctx context.Context, i int) (*chatSession, error) {
	old := t.sessions[i]
	end, _ := json.Marshal(map[string]string{"type": "end"})
	if err := old.ws.Write(ctx, websocket.MessageText, end); err != nil {
		return nil, fmt.Errorf("chat %s: ending it after %d messages: %w", old.id, old.sent, err)
	}
	select {
	case <-old.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("chat %s: waiting for its end: %w", old.id, ctx.Err())
	}
	t.byID.Delete(old.id)
	cs, err := t.openChat(ctx, t.addrs[i%len(t.addrs)], i)
	if err != nil {
		return nil, err
	}
	t.addCloser(cs)
	t.sessions[i] = cs
	if err := cs.waitAnswered(ctx); err != nil {
		return nil, fmt.Errorf("worker %d's next chat was not answered by an agent: %w", i, err)
	}
	return cs, nil
}

// session is the session id, made (and made known) if it is not yet:
// an agent's stream may show a session before its POST is answered.
func (t *webChatTarget) session(id string) *chatSession {
	if v, ok := t.byID.Load(id); ok {
		return v.(*chatSession)
	}
	v, _ := t.byID.LoadOrStore(id, newChatSession(id))
	return v.(*chatSession)
}

// Do sends one message on the worker's chat and waits for its ack and
// for the agent's stream to show it.
func (t *webChatTarget) Do(ctx context.Context, worker int, seq uint64) error {
	i := worker % len(t.sessions)
	cs := t.sessions[i]
	if cs.sent >= t.rotateAt {
		var err error
		if cs, err = t.rotate(ctx, i); err != nil {
			return err
		}
	}
	cs.sent++
	id := "m" + strconv.FormatUint(seq, 10)
	text := "bench message " + strconv.FormatUint(seq, 10)
	frame, _ := json.Marshal(map[string]string{"type": "message", "id": id, "text": text})
	if err := cs.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("chat %s: writing %s: %w", cs.id, id, err)
	}
	acked, shown := false, false
	for !acked || !shown {
		select {
		case a := <-cs.acks:
			if strings.HasPrefix(a, "error:") {
				return fmt.Errorf("chat %s: %s", cs.id, a)
			}
			acked = acked || a == id
		case s := <-cs.seen:
			shown = shown || s == text
		case <-cs.done:
			return fmt.Errorf("chat %s: the customer's socket closed", cs.id)
		case <-ctx.Done():
			return fmt.Errorf("chat %s: message %s (acked %t, shown to the agent %t): %w", cs.id, id, acked, shown, ctx.Err())
		}
	}
	return nil
}

func postJSON(ctx context.Context, client *http.Client, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, nil
}

// start logs the agent in, opens its event stream and makes it ready.
func (a *chatAgent) start(ctx context.Context, client *http.Client, password string, t *webChatTarget) error {
	api := a.base + "/console/api/v1"
	var sess struct {
		Token string `json:"token"`
		Agent string `json:"agent"`
	}
	for attempt := 0; ; attempt++ {
		code, b, err := postJSON(ctx, client, api+"/session", "", map[string]string{"user": a.user, "password": password})
		if err != nil {
			return fmt.Errorf("log-in: %w", err)
		}
		if code == http.StatusTooManyRequests && attempt < 30 {
			select { // the node's log-in queue is full: its Retry-After is a second
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if code != http.StatusOK {
			return fmt.Errorf("log-in: HTTP %d: %s", code, snippet(b))
		}
		if err := json.Unmarshal(b, &sess); err != nil || sess.Token == "" || sess.Agent == "" {
			return fmt.Errorf("log-in answer %s: not a session of an agent", snippet(b))
		}
		break
	}
	a.token, a.agent = sess.Token, sess.Agent
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/state", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	var st struct {
		Since string `json:"since"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil || st.Since == "" {
		return fmt.Errorf("state: HTTP %d: %s", resp.StatusCode, snippet(b))
	}
	a.since = st.Since
	if err := a.dial(ctx); err != nil {
		return err
	}
	go a.read(client, t)
	for i := 0; i < 2; i++ { // logged in, then ready
		if code, b, err := postJSON(ctx, client, api+"/ops/login", a.token, nil); err != nil || code != http.StatusOK {
			return fmt.Errorf("agent login: HTTP %d %s %v", code, snippet(b), err)
		}
	}
	return nil
}

// read follows the agent's stream until Close: an offer is answered at
// once, chat.answered marks its session answered, and each customer
// message goes to its session. A stream the node ends (resume: a slow
// reader under load; the node going away) is opened again from the last
// position it reached, as a console does, at most 100 times.
func (a *chatAgent) read(client *http.Client, t *webChatTarget) {
	ctx := context.Background()
	for redials := 0; ; {
		_, b, err := a.ws.Read(ctx)
		if err != nil {
			a.mu.Lock()
			shut := a.shut
			a.mu.Unlock()
			if shut || redials >= 100 {
				return
			}
			redials++
			t.logf("webchat: agent %s: stream ended (%v); resuming from %s", a.user, err, a.since)
			time.Sleep(100 * time.Millisecond)
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = a.dial(dctx)
			cancel()
			if err != nil {
				t.logf("webchat: agent %s: %v", a.user, err)
			}
			continue
		}
		var m struct {
			Type     string        `json:"type"`
			Since    string        `json:"since"`
			Position string        `json:"position"`
			Events   []streamEvent `json:"events"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "position", "resume":
			if m.Since != "" {
				a.since = m.Since
			}
			continue
		case "events":
		default:
			continue
		}
		a.handle(ctx, client, t, m.Events)
		if m.Position != "" {
			a.since = m.Position
		}
	}
}

type streamEvent struct {
	Index uint64          `json:"index"`
	Seq   int             `json:"seq"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
}

// position is the event's stream position, INDEX.SEQ.
func (ev *streamEvent) position() string { return fmt.Sprintf("%d.%d", ev.Index, ev.Seq) }

// handle acts on a batch of the agent's events.
func (a *chatAgent) handle(ctx context.Context, client *http.Client, t *webChatTarget, events []streamEvent) {
	for _, ev := range events {
		a.since = ev.position()
		if os.Getenv("BENCHLOAD_DEBUG") != "" {
			t.logf("agent %s: %s %s", a.user, ev.Type, ev.Data)
		}
		var d struct {
			Chat   string   `json:"chat"`
			Call   string   `json:"call"`
			From   string   `json:"from"`
			Text   string   `json:"text"`
			Agents []string `json:"agents"`
		}
		switch ev.Type {
		case "call.offered": // the queue's members see every offer of the queue
			if json.Unmarshal(ev.Data, &d) != nil || !slices.Contains(d.Agents, a.agent) {
				continue
			}
			// A chat's call has the session's id; the offer may come
			// before the POST that created the session is answered.
			var cs *chatSession
			if d.Call != "" {
				cs = t.session(d.Call)
				cs.note("%s at %s", a.user, ev.position())
			}
			go func() {
				actx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				code, b, err := postJSON(actx, client, a.base+"/console/api/v1/ops/answer", a.token, nil)
				if err != nil || code != http.StatusOK {
					t.logf("webchat: agent %s answering an offer %s: HTTP %d %s %v", a.user, ev.Data, code, snippet(b), err)
					if cs != nil {
						cs.note("%s's answer HTTP %d %s %v", a.user, code, snippet(b), err)
					}
				}
			}()
		case "chat.answered":
			if json.Unmarshal(ev.Data, &d) == nil && d.Chat != "" {
				t.session(d.Chat).answered()
			}
		case "chat.message":
			if json.Unmarshal(ev.Data, &d) == nil && d.From == "customer" {
				if v, ok := t.byID.Load(d.Chat); ok {
					select {
					case v.(*chatSession).seen <- d.Text:
					default: // nobody waits for so many: the op times out
					}
				}
			}
		}
	}
}

// openChat creates a chat session on base (customer i), takes its
// session — made already if an agent's stream showed it first — and
// opens its WebSocket.
func (t *webChatTarget) openChat(ctx context.Context, base string, i int) (*chatSession, error) {
	code, b, err := postJSON(ctx, t.client, base+"/api/v1/chats", "", map[string]any{
		"chat_language": t.language, "customer_name": fmt.Sprintf("Bench customer %d", i), "source": "bench",
	})
	if err != nil {
		return nil, fmt.Errorf("POST /api/v1/chats: %w", err)
	}
	var r struct {
		Session string `json:"session_id"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &r) != nil || r.Session == "" {
		return nil, fmt.Errorf("POST /api/v1/chats: HTTP %d: %s", code, snippet(b))
	}
	cs := t.session(r.Session)
	cs.mu.Lock()
	cs.base = base
	cs.mu.Unlock()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/chats/"+r.Session+"/ws?since=0", nil)
	if err != nil {
		return nil, fmt.Errorf("chat %s WebSocket: %w", r.Session, err)
	}
	cs.ws = ws
	go cs.read()
	return cs, nil
}

// read takes the customer's frames: acks and errors go to the waiting
// operation, the session's status (hello, status) is noted for a report;
// the transcript (its own messages echoed) is not needed.
func (cs *chatSession) read() {
	defer close(cs.done)
	for {
		_, b, err := cs.ws.Read(context.Background())
		if err != nil {
			return
		}
		var f struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Agent   string `json:"agent"`
		}
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		var v string
		switch f.Type {
		case "hello", "status":
			cs.mu.Lock()
			cs.status, cs.agent = f.Status, f.Agent
			cs.mu.Unlock()
			continue
		case "ack":
			v = f.ID
		case "error":
			v = fmt.Sprintf("error: %d %s (frame %s)", f.Code, f.Message, f.ID)
		case "ended":
			return
		default:
			continue
		}
		select {
		case cs.acks <- v:
		default:
		}
	}
}

var errNoUsers = errors.New("-chat-users: no users")
