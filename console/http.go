package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/bearer"
	"github.com/tandemcc/tandem/voice/media"
)

// Handler serves the console API over HTTP (DESIGN.md documents every
// route). It owns its routes: Routes registers them on a mux under a
// prefix, and ServeHTTP serves them at the root (for a mount behind
// http.StripPrefix). The two mounts:
//
//   - on the public address (--http-addr) at PublicPrefix, where
//     operators authenticate with a session (POST /session);
//   - on the admin address at /v1/console behind the admin token, with
//     AdminActor set, for integrations and supervisors' tools, which may
//     act for any agent and report telephony-edge events.
type Handler struct {
	Service *Service
	// AdminActor: the mount is already authenticated by the admin token.
	AdminActor bool
	Logger     *slog.Logger

	once sync.Once
	root http.Handler
}

// PublicPrefix is where the console API lives on --http-addr.
const PublicPrefix = "/console/api/v1"

const maxBody = 1 << 20

// ServeHTTP routes a request whose path is relative to the mount.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() { h.root = apierr.Mux(h.routes("")) })
	h.root.ServeHTTP(w, r)
}

// Routes registers the console API on mux: every path under prefix,
// where a request no route matches is answered in the error shape (404
// or 405) like any other error of the API.
//
// On the public mount, pages served by the cluster's members may call it
// cross-origin (origins.go); other origins are refused.
func (h *Handler) Routes(mux *http.ServeMux, prefix string) {
	var api http.Handler = apierr.Mux(h.routes(prefix))
	if !h.AdminActor {
		api = h.cors(api)
	}
	mux.Handle(prefix+"/", api)
}

// routes returns the console API's routes under prefix.
func (h *Handler) routes(prefix string) *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(method, path string, fn http.HandlerFunc) { mux.HandleFunc(method+" "+prefix+path, fn) }
	if !h.AdminActor {
		handle("POST", "/session", h.login)
	}
	handle("GET", "/session", h.authed(h.whoami))
	handle("POST", "/ops/{op}", h.authed(h.do))
	handle("GET", "/state", h.authed(h.state))
	handle("GET", "/queues", h.authed(h.queues))
	handle("GET", "/supervised", h.authed(h.supervised))
	handle("GET", "/directory", h.authed(h.directory))
	handle("GET", "/history", h.authed(h.history))
	handle("GET", "/speed-dials", h.authed(h.speedDials))
	handle("GET", "/preferences", h.authed(h.preferences))
	handle("GET", "/calls/{id}/position", h.authed(h.position))
	handle("GET", "/chats/{id}/messages", h.authed(h.chatMessages))
	handle("GET", "/mail/{contact}/content", h.authed(h.mailContent))
	handle("GET", "/phones", h.authed(h.phones))
	handle("GET", "/line-status", h.authed(h.lineStatus))
	handle("GET", "/voicemail", h.authed(h.voicemail))
	handle("GET", "/voicemail/{mailbox}/{message}/audio", h.authed(h.voicemailAudio))
	handle("POST", "/voicemail/pin", h.authed(h.setPIN))
	handle("POST", "/voicemail/monitor", h.authed(h.monitor))
	handle("GET", "/caller", h.authed(h.caller))
	handle("GET", "/active-calls", h.authed(h.activeCalls))
	handle("GET", "/receptionists", h.authed(h.receptionists))
	handle("GET", "/cluster", h.authed(h.cluster))
	handle("GET", "/events", h.authedStream(h.events))
	return mux
}

type authedFunc func(w http.ResponseWriter, r *http.Request, a Actor)

// authed authenticates the request: the admin mount trusts the admin
// token checked in front of it; the public one wants a session token in
// the Authorization header (or, for WebSocket upgrades, which browsers
// cannot give headers, the access_token query parameter).
func (h *Handler) authed(fn authedFunc) http.HandlerFunc { return h.authedVia(fn, false) }

// authedStream is authed for the WebSocket stream, which also takes the
// token from the access_token query parameter.
func (h *Handler) authedStream(fn authedFunc) http.HandlerFunc { return h.authedVia(fn, true) }

func (h *Handler) authedVia(fn authedFunc, queryToken bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.AdminActor {
			fn(w, r, Actor{Admin: true, User: r.URL.Query().Get("user"), Agent: r.URL.Query().Get("agent")})
			return
		}
		tok, ok := bearer.Token(r)
		if !ok && queryToken {
			tok = r.URL.Query().Get("access_token")
		}
		a, err := h.Service.Authenticate(strings.TrimSpace(tok))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandem-console"`)
			apierr.Write(w, err)
			return
		}
		fn(w, r, a)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, apierr.Errorf(apierr.TooLarge, "request body: larger than %d bytes", tooLarge.Limit)
	case err != nil:
		return nil, apierr.Errorf(apierr.BadRequest, "request body: %v", err)
	}
	return b, nil
}

// LoginRequest is the body of POST /session.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse answers POST /session and GET /session.
type LoginResponse struct {
	Token     string `json:"token,omitempty"`
	User      string `json:"user"`
	Agent     string `json:"agent,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	var req LoginRequest
	if err := json.Unmarshal(b, &req); err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "body: want {\"user\", \"password\"}"))
		return
	}
	tok, sess, err := h.Service.Login(r.Context(), clientAddr(r), req.User, req.Password)
	if err != nil {
		if h.Logger != nil {
			// The user name only; never the password.
			h.Logger.Info("console login refused", "user", req.User, "remote", r.RemoteAddr, "why", apierr.From(err).Code)
		}
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			w.Header().Set("Retry-After", strconv.Itoa(int(ra.RetryAfter().Seconds())))
		}
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, LoginResponse{Token: tok, User: sess.User, Agent: sess.Agent,
		ExpiresAt: time.Unix(sess.Expires, 0).UTC().Format(time.RFC3339)})
}

// clientAddr is the client's address without its port (a client opens a
// new connection, and port, per attempt).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request, a Actor) {
	writeJSON(w, http.StatusOK, LoginResponse{User: a.User, Agent: a.Agent})
}

func (h *Handler) do(w http.ResponseWriter, r *http.Request, a Actor) {
	b, err := readBody(w, r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" {
		if b, err = withIfMatch(r.PathValue("op"), b, m); err != nil {
			apierr.Write(w, err)
			return
		}
	}
	res, err := h.Service.Do(r.Context(), a, r.PathValue("op"), b, r.Header.Get("Idempotency-Key"))
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// consistency reads the request's consistency level; an unknown value is
// a 400 naming the parameter.
func consistency(r *http.Request) (cluster.Consistency, error) {
	c, err := cluster.RequestConsistency(r)
	if err != nil {
		return c, &apierr.Error{Code: apierr.BadRequest, Field: "consistency", Message: err.Error()}
	}
	return c, nil
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request, a Actor) {
	c, err := consistency(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	doc, err := h.Service.State(r.Context(), a, r.URL.Query().Get("agent"), c)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	cluster.MarkConsistency(w, c)
	writeJSON(w, http.StatusOK, doc)
}

// readAt reads at the consistency r asks for (?consistency=); false when
// it could not, the error written.
func (h *Handler) readAt(w http.ResponseWriter, r *http.Request) (cluster.Consistency, bool) {
	c, err := consistency(r)
	if err == nil {
		err = h.Service.read(r.Context(), c)
	}
	if err != nil {
		apierr.Write(w, err)
		return c, false
	}
	return c, true
}

// readThen answers a query after a read at the requested consistency.
func (h *Handler) readThen(w http.ResponseWriter, r *http.Request, fn func() (any, error)) {
	c, ok := h.readAt(w, r)
	if !ok {
		return
	}
	cluster.MarkConsistency(w, c)
	v, err := fn()
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) queues(w http.ResponseWriter, r *http.Request, a Actor) {
	h.readThen(w, r, func() (any, error) { return h.Service.Engine.Queues(), nil })
}

func (h *Handler) supervised(w http.ResponseWriter, r *http.Request, a Actor) {
	q := r.URL.Query()
	h.readThen(w, r, func() (any, error) {
		agent, err := h.Service.agentFor(a, q.Get("agent"))
		if err != nil {
			return nil, err
		}
		all := q.Get("all") == "1" || q.Get("all") == "true"
		return h.Service.Engine.Supervised(agent, all, q.Get("q")), nil
	})
}

// directory searches the directory: q in fields (default: the "search
// all" fields), or by the console's search fields, one parameter per
// field named (first_name=…&company=…, all=… for "search all"), each
// to match. It answers the first limit entries (default
// DirectoryLimit, at most MaxDirectoryLimit) and the number of matches
// in X-Total-Count.
func (h *Handler) directory(w http.ResponseWriter, r *http.Request, a Actor) {
	q := r.URL.Query()
	limit := DirectoryLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxDirectoryLimit {
			apierr.Write(w, &apierr.Error{Code: apierr.BadRequest, Field: "limit", Message: fmt.Sprintf("directory: limit %q is not a number from 1 to %d", v, MaxDirectoryLimit)})
			return
		}
		limit = n
	}
	terms := map[string]string{}
	for _, f := range append([]string{cc.DirectorySearchAll}, cc.DirectoryFieldNames...) {
		if q.Has(f) {
			terms[f] = q.Get(f)
		}
	}
	if len(terms) > 0 && (q.Has("q") || q.Has("fields")) {
		apierr.Write(w, &apierr.Error{Code: apierr.BadRequest, Field: "q", Message: "directory: q and fields, or search fields by name, not both"})
		return
	}
	var fields []string
	if f := q.Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	h.readThen(w, r, func() (any, error) {
		var es []cc.DirectoryEntry
		var total int
		if len(terms) > 0 {
			es, total = h.Service.Engine.DirectoryByField(terms, limit)
		} else {
			es, total = h.Service.Engine.Directory(q.Get("q"), fields, limit)
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(total))
		return es, nil
	})
}

// DirectoryLimit and MaxDirectoryLimit bound a directory answer: the
// console shows the first 20 as the operator types, 100 in its directory
// tab, and a million-contact directory must not go out whole.
const (
	DirectoryLimit    = 100
	MaxDirectoryLimit = 1000
)

func (h *Handler) history(w http.ResponseWriter, r *http.Request, a Actor) {
	q := r.URL.Query()
	h.readThen(w, r, func() (any, error) {
		agent, err := h.Service.agentFor(a, q.Get("agent"))
		if err != nil {
			return nil, err
		}
		v, ok := h.Service.Engine.History(agent, q.Get("filter") == "missed")
		if !ok {
			return nil, apierr.Errorf(apierr.NotFound, "unknown agent %s", apierr.Quote(agent))
		}
		return v, nil
	})
}

func (h *Handler) speedDials(w http.ResponseWriter, r *http.Request, a Actor) {
	user := a.User
	if a.Admin {
		user = r.URL.Query().Get("user")
	}
	h.readThen(w, r, func() (any, error) {
		v, ok := h.Service.Engine.SpeedDials(user)
		if !ok {
			return nil, apierr.Errorf(apierr.NotFound, "unknown user %s", apierr.Quote(user))
		}
		return v, nil
	})
}

// preferences answers the session user's preferences (the admin mount:
// ?user=) with their revision, also as the ETag a save's If-Match names.
func (h *Handler) preferences(w http.ResponseWriter, r *http.Request, a Actor) {
	user := a.User
	if a.Admin {
		user = r.URL.Query().Get("user")
	}
	c, ok := h.readAt(w, r)
	if !ok {
		return
	}
	var known bool
	h.Service.Engine.View(func(st *cc.State) { _, known = st.Config.Users[user] })
	if !known {
		apierr.Write(w, apierr.Errorf(apierr.NotFound, "unknown user %s", apierr.Quote(user)))
		return
	}
	p, rev, saved := h.Service.Engine.UserPreferences(user)
	doc := PreferencesDoc{User: user, Revision: rev}
	if saved {
		doc.Preferences = &p
	}
	cluster.MarkConsistency(w, c)
	w.Header().Set("ETag", etag(rev))
	w.Header().Set("Cache-Control", "private, no-cache")
	writeJSON(w, http.StatusOK, doc)
}

func (h *Handler) position(w http.ResponseWriter, r *http.Request, a Actor) {
	id := r.PathValue("id")
	h.readThen(w, r, func() (any, error) {
		v, ok := h.Service.Engine.CallPosition(id)
		if !ok {
			return nil, apierr.Errorf(apierr.NotFound, "call %s is not waiting in a queue", apierr.Quote(id))
		}
		return v, nil
	})
}

// ChatTranscriptDoc answers GET /chats/{id}/messages.
type ChatTranscriptDoc struct {
	Chat     cc.ChatView      `json:"chat"`
	Messages []cc.ChatMessage `json:"messages"`
}

// maxChatPage bounds the messages of one GET /chats/{id}/messages.
const maxChatPage = 200

// chatMessages serves GET /chats/{id}/messages?since=N: a web chat's
// transcript after seq N (at most maxChatPage; page with since). The
// agent holding the session reads it — the whole conversation, also
// what was written before it took the chat (a chat whose agent logged
// out comes back to the queue; contactcenter DESIGN.md) — and, while it
// waits, the agents of its queue, who see its events on their stream
// already; the admin mount any. Anyone else: 404, as for an unknown one.
func (h *Handler) chatMessages(w http.ResponseWriter, r *http.Request, a Actor) {
	id := r.PathValue("id")
	since := 0
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > cc.MaxChatMessages {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "since: the last sequence number read, 0-%d", cc.MaxChatMessages).WithField("since"))
			return
		}
		since = n
	}
	h.readThen(w, r, func() (any, error) {
		msgs, v, ok := h.Service.Engine.ChatMessages(id, since, maxChatPage)
		if ok && !a.Admin {
			mayRead := v.Agent != "" && v.Agent == a.Agent
			if v.Status == cc.ChatQueued && a.Agent != "" {
				h.Service.Engine.View(func(st *cc.State) {
					for _, q := range st.Config.Agents[a.Agent].Queues {
						mayRead = mayRead || q == v.Queue
					}
				})
			}
			ok = mayRead
		}
		if !ok {
			return nil, apierr.Errorf(apierr.NotFound, "no chat %s of yours", apierr.Quote(id))
		}
		if msgs == nil {
			msgs = []cc.ChatMessage{}
		}
		return ChatTranscriptDoc{Chat: v, Messages: msgs}, nil
	})
}

// mailContent is a message of an e-mail contact — its headers, text,
// HTML and the attachments' names, types and sizes; ?uid= one of the
// customer's answers that joined it — fetched from the mailbox on demand
// (Service.MailContent), for an agent who may read it (mayReadMail); to
// anyone else the contact does not exist.
func (h *Handler) mailContent(w http.ResponseWriter, r *http.Request, a Actor) {
	id := r.PathValue("contact")
	var uid uint64
	if v := r.URL.Query().Get("uid"); v != "" {
		var err error
		if uid, err = strconv.ParseUint(v, 10, 32); err != nil || uid == 0 {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "uid: one of the contact's messages (its UID)").WithField("uid"))
			return
		}
	}
	h.readThen(w, r, func() (any, error) {
		if h.Service.MailContent == nil || !h.Service.mayReadMail(a, id) {
			return nil, apierr.Errorf(apierr.NotFound, "no e-mail contact %s of yours", apierr.Quote(id))
		}
		ctx, cancel := context.WithTimeout(r.Context(), mailContentTimeout)
		defer cancel()
		return h.Service.MailContent(ctx, id, uint32(uid))
	})
}

// mailContentTimeout bounds the fetch of a message's content (a free
// IMAP session of the pool included).
const mailContentTimeout = 90 * time.Second

// phones lists the phones of the user's extension (portal: order,
// ringing, registration, secret validity — never the secret).
func (h *Handler) phones(w http.ResponseWriter, r *http.Request, a Actor) {
	user := a.User
	if a.Admin {
		user = r.URL.Query().Get("user")
	}
	h.readThen(w, r, func() (any, error) {
		var ext string
		h.Service.Engine.View(func(st *cc.State) { ext = st.Config.Users[user].Extension })
		v, ok := h.Service.Engine.Phones(ext)
		if ext == "" || !ok {
			return nil, apierr.Errorf(apierr.NotFound, "user %s has no extension", apierr.Quote(user))
		}
		return v, nil
	})
}

// LineStatusDoc answers GET /line-status.
type LineStatusDoc struct {
	Extension string `json:"extension"`
	Status    string `json:"status"`
}

func (h *Handler) lineStatus(w http.ResponseWriter, r *http.Request, a Actor) {
	ext := r.URL.Query().Get("extension")
	h.readThen(w, r, func() (any, error) {
		st, ok := h.Service.Engine.LineStatus(ext)
		if !ok {
			return nil, apierr.Errorf(apierr.NotFound, "unknown extension %s", apierr.Quote(ext))
		}
		return LineStatusDoc{Extension: ext, Status: st}, nil
	})
}

// voicemail lists a mailbox's messages (inbox and old, newest first):
// ?mailbox= one the user owns or monitors, or all of them.
func (h *Handler) voicemail(w http.ResponseWriter, r *http.Request, a Actor) {
	user, mailbox := a.User, r.URL.Query().Get("mailbox")
	if a.Admin {
		user = r.URL.Query().Get("user")
	}
	h.readThen(w, r, func() (any, error) {
		e := h.Service.Engine
		var boxes []string
		if mailbox != "" {
			if !a.Admin && !e.MayAccessMailbox(user, mailbox) {
				return nil, apierr.Errorf(apierr.Forbidden, "mailbox %s is neither yours nor monitored by you", apierr.Quote(mailbox))
			}
			boxes = []string{mailbox}
		} else {
			var ok bool
			if boxes, ok = e.UserMailboxes(user); !ok {
				return nil, apierr.Errorf(apierr.NotFound, "unknown user %s", apierr.Quote(user))
			}
		}
		out := []cc.VoicemailView{}
		for _, b := range boxes {
			v, ok := e.Voicemail(b)
			if !ok {
				return nil, apierr.Errorf(apierr.NotFound, "unknown mailbox %s", apierr.Quote(b))
			}
			out = append(out, v)
		}
		return out, nil
	})
}

// voicemailAudio serves a message's recording as audio/wav (16-bit PCM,
// 8 kHz, mono), authorised as the list is: the session user's own
// mailbox or one it monitors (a monitor was granted with the mailbox's
// PIN); the admin mount any. 404 when the message has no recording.
func (h *Handler) voicemailAudio(w http.ResponseWriter, r *http.Request, a Actor) {
	mailbox, message := r.PathValue("mailbox"), r.PathValue("message")
	c, ok := h.readAt(w, r)
	if !ok {
		return
	}
	e := h.Service.Engine
	if !a.Admin && !e.MayAccessMailbox(a.User, mailbox) {
		apierr.Write(w, apierr.Errorf(apierr.Forbidden, "mailbox %s is neither yours nor monitored by you", apierr.Quote(mailbox)))
		return
	}
	audio, ok := e.VoicemailAudio(mailbox, message)
	if !ok {
		apierr.Write(w, apierr.Errorf(apierr.NotFound, "no recording of message %s in mailbox %s", apierr.Quote(message), apierr.Quote(mailbox)))
		return
	}
	cluster.MarkConsistency(w, c)
	wav := media.WAV(audio.Codec, audio.Data)
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(wav)))
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(wav)
	}
}

// caller matches a caller ID against contacts and users (CTI screen pop).
func (h *Handler) caller(w http.ResponseWriter, r *http.Request, a Actor) {
	n := r.URL.Query().Get("number")
	h.readThen(w, r, func() (any, error) { return h.Service.Engine.MatchCaller(n), nil })
}

// activeCalls is the CTI active-call list of the operator.
func (h *Handler) activeCalls(w http.ResponseWriter, r *http.Request, a Actor) {
	q := r.URL.Query()
	h.readThen(w, r, func() (any, error) {
		agent, err := h.Service.agentFor(a, q.Get("agent"))
		if err != nil {
			return nil, err
		}
		v, ok := h.Service.Engine.ActiveCalls(agent)
		if !ok {
			return nil, apierr.Errorf(apierr.NotFound, "unknown agent %s", apierr.Quote(agent))
		}
		return v, nil
	})
}

// ClusterDoc tells a console which nodes it can fail over to.
type ClusterDoc struct {
	NodeID   string   `json:"node_id"`
	Role     string   `json:"role"`
	LeaderID string   `json:"leader_id"`
	Members  []string `json:"members"`
	// Nodes are the members with where a console reaches them.
	Nodes []ClusterMember `json:"nodes"`
}

// ClusterMember is one member as a console sees it.
type ClusterMember struct {
	ID string `json:"id"`
	// HTTPURL is the member's public web server ("" when it has none):
	// the console's API is at HTTPURL + PublicPrefix.
	HTTPURL string `json:"http_url,omitempty"`
	// State is "up", "down" or "unknown" as this node sees the member.
	State  string `json:"state"`
	Leader bool   `json:"leader,omitempty"`
	Voter  bool   `json:"voter"`
}

func (h *Handler) cluster(w http.ResponseWriter, r *http.Request, a Actor) {
	st := h.Service.Store.Status()
	doc := ClusterDoc{NodeID: st.NodeID, Role: st.Role, LeaderID: st.LeaderID, Members: []string{}, Nodes: []ClusterMember{}}
	for _, n := range st.Nodes {
		doc.Members = append(doc.Members, n.ID)
		doc.Nodes = append(doc.Nodes, ClusterMember{ID: n.ID, HTTPURL: n.HTTPURL, State: n.State,
			Leader: n.ID == st.LeaderID, Voter: n.Suffrage == "voter"})
	}
	writeJSON(w, http.StatusOK, doc)
}

// parsePosition reads "INDEX" (after every event of that index) or
// "INDEX.SEQ" (after that event).
func parsePosition(s string) (command.Position, error) {
	if s == "" {
		return command.Position{}, apierr.Errorf(apierr.BadRequest, "since: missing (the position of GET state, or the last event seen)").WithField("since")
	}
	is, ss, hasSeq := strings.Cut(s, ".")
	idx, err := strconv.ParseUint(is, 10, 64)
	if err != nil {
		return command.Position{}, apierr.Errorf(apierr.BadRequest, "since: %s is not INDEX or INDEX.SEQ", apierr.Quote(s)).WithField("since")
	}
	if !hasSeq {
		return command.EndOf(idx), nil
	}
	seq, err := strconv.Atoi(ss)
	if err != nil || seq < 0 {
		return command.Position{}, apierr.Errorf(apierr.BadRequest, "since: %s is not INDEX or INDEX.SEQ", apierr.Quote(s)).WithField("since")
	}
	return command.Position{Index: idx, Seq: seq}, nil
}

// formatPosition renders p for the since parameter.
func formatPosition(p command.Position) string {
	if p == command.EndOf(p.Index) {
		return strconv.FormatUint(p.Index, 10)
	}
	return strconv.FormatUint(p.Index, 10) + "." + strconv.Itoa(p.Seq)
}
