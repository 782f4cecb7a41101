package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Prefix is where the public API lives on --http-addr.
const Prefix = "/api/v1"

// Store is what the handler needs of the cluster: commit a command, and
// make a read linearizable.
type Store interface {
	Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	Read(ctx context.Context, c cluster.Consistency) error
}

// Callbacks is what the handler reads of the engine.
type Callbacks interface {
	Callback(id string) (cc.CallbackView, bool)
}

// Handler serves the public web API. Routes mounts it.
type Handler struct {
	Store   Store
	Engine  Callbacks
	Logger  *slog.Logger
	Metrics *Metrics
	// NewID makes a callback id (default cluster.NewID: 128 random
	// bits, the only credential of the status and cancel routes).
	NewID func() string
	// Timeout bounds a request's wait for the cluster (default 10 s).
	Timeout time.Duration
	// Pages serves the bundled pages under /callback/ (nil: bundled only).
	Pages *Pages
	// CORSOrigins may call the API from a browser on another origin
	// ("https://www.example.com"; "*" any).
	CORSOrigins []string
	// RateLimit is how many API requests a second one client address may
	// make (bursts of RateBurst, default twice the rate); 0: no limit.
	RateLimit float64
	RateBurst int
	// TLSOnly lists the features (FeatureCallback) the plain listener
	// refuses: they are served over TLS only.
	TLSOnly []string
	// Chats reads chat sessions (nil: Engine, when it reads them too).
	Chats Chats
	// Feed wakes chat WebSockets when their session changes (nil: they
	// look every second); tandemd makes it one of the node's event sinks.
	Feed *ChatFeed

	limitOnce sync.Once
	rl        *rateLimiter
}

// Routes registers the public API on mux under Prefix; a request no
// route matches is answered in the error shape (code 1000, 404 or 405).
func (h *Handler) Routes(mux *http.ServeMux) {
	pages := h.Pages
	if pages == nil {
		pages = &Pages{}
	}
	pages.routes(mux, h)
	mux.HandleFunc("POST "+Prefix+"/callbacks", h.guard("callback_create", h.createCallback))
	mux.HandleFunc("GET "+Prefix+"/callbacks/{id}", h.guard("callback_status", h.getCallback))
	mux.HandleFunc("DELETE "+Prefix+"/callbacks/{id}", h.guard("callback_cancel", h.cancelCallback))
	mux.HandleFunc("POST "+Prefix+"/chats", h.guard("chat_create", h.createChat))
	mux.HandleFunc("GET "+Prefix+"/chats/{id}/ws", h.guard("chat_ws", h.chatWS))
	mux.HandleFunc("POST "+Prefix+"/chats/{id}/transcript", h.guard("chat_transcript", h.chatTranscript))
	mux.HandleFunc("OPTIONS "+Prefix+"/chats/{id}/transcript", h.preflight)
	mux.HandleFunc("OPTIONS "+Prefix+"/chats", h.preflight)
	mux.HandleFunc("OPTIONS "+Prefix+"/callbacks", h.preflight)
	mux.HandleFunc("OPTIONS "+Prefix+"/callbacks/{id}", h.preflight)
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		allow := ""
		switch {
		case r.URL.Path == Prefix+"/callbacks":
			allow = "POST"
		case strings.HasPrefix(r.URL.Path, Prefix+"/callbacks/") && !strings.Contains(strings.TrimPrefix(r.URL.Path, Prefix+"/callbacks/"), "/"):
			allow = "GET, DELETE"
		case r.URL.Path == Prefix+"/chats":
			allow = "POST"
		case strings.HasPrefix(r.URL.Path, Prefix+"/chats/") && strings.HasSuffix(r.URL.Path, "/ws"):
			allow = "GET"
		case strings.HasPrefix(r.URL.Path, Prefix+"/chats/") && strings.HasSuffix(r.URL.Path, "/transcript"):
			allow = "POST"
		}
		if allow != "" {
			w.Header().Set("Allow", allow)
			h.fail(w, "route", newErr(CodeGeneral, "", r.Method+" "+r.URL.Path+": the route takes "+allow).withStatus(http.StatusMethodNotAllowed))
			return
		}
		h.fail(w, "route", newErr(CodeGeneral, "", r.Method+" "+jsonin.Clip(r.URL.Path)+": no such route").withStatus(http.StatusNotFound))
	})
}

func (h *Handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	d := h.Timeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(r.Context(), d)
}

// readBody reads at most MaxBody bytes.
func readBody(r *http.Request) ([]byte, *Error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, newErr(CodeBadParameter, "", "the request body could not be read")
	}
	if len(b) > MaxBody {
		return nil, newErr(CodeBadParameter, "", "the request body is over 64 KiB").withStatus(http.StatusRequestEntityTooLarge)
	}
	return b, nil
}

// maxKeyLen bounds an Idempotency-Key.
const maxKeyLen = 128

func (h *Handler) createCallback(w http.ResponseWriter, r *http.Request) {
	const op = "callback_create"
	body, e := readBody(r)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	req, e := DecodeCallback(body)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	var opts []cluster.ProposeOption
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > maxKeyLen || strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
			h.fail(w, op, newErr(CodeBadParameter, "Idempotency-Key", "Idempotency-Key is 1-128 printable ASCII characters"))
			return
		}
		opts = append(opts, cluster.WithKey(commandKey(key, req)))
	}
	newID := h.NewID
	if newID == nil {
		newID = cluster.NewID
	}
	req.Callback = newID()
	ctx, cancel := h.ctx(r)
	defer cancel()
	res, err := h.Store.Propose(ctx, cc.TypeCallbackCreate, req, opts...)
	if err != nil {
		h.fail(w, op, fromCluster(err))
		return
	}
	var v cc.CallbackView
	if err := json.Unmarshal(res.Result, &v); err != nil || v.ID == "" {
		h.fail(w, op, newErr(CodeInternal, "", "the cluster's answer could not be read"))
		return
	}
	if res.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", Prefix+"/callbacks/"+v.ID)
	h.ok(w, op, http.StatusCreated, statusOf(v))
}

// commandKey is the command id of a request with an Idempotency-Key: the
// key and the request (without its id) hashed, so that a retry of the
// same request applies once and answers with the first callback, while
// another request — or another client guessing the key — gets a command
// of its own and learns nothing of the first.
func commandKey(key string, req cc.CallbackCreateRequest) string {
	req.Callback = ""
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(append(append([]byte(key), 0), b...))
	return "web:callback:" + hex.EncodeToString(sum[:20])
}

func (h *Handler) getCallback(w http.ResponseWriter, r *http.Request) {
	const op = "callback_status"
	v, e := h.lookup(r)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	h.ok(w, op, http.StatusOK, statusOf(v))
}

func (h *Handler) cancelCallback(w http.ResponseWriter, r *http.Request) {
	const op = "callback_cancel"
	v, e := h.lookup(r)
	if e != nil {
		h.fail(w, op, e)
		return
	}
	switch v.Status {
	case cc.CallbackScheduled, cc.CallbackQueued, cc.CallbackDialing:
	default:
		h.fail(w, op, newErr(CodeBadParameter, "id", "the callback is "+v.Status+" and cannot be cancelled").withStatus(http.StatusConflict))
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	res, err := h.Store.Propose(ctx, cc.TypeCallbackCancel, cc.CallbackCancelRequest{Callback: v.ID})
	if err != nil {
		fe := fromCluster(err)
		if fe.Code == CodeBadParameter {
			fe.status = http.StatusConflict // cancelled or finished meanwhile
		}
		h.fail(w, op, fe)
		return
	}
	if err := json.Unmarshal(res.Result, &v); err != nil {
		h.fail(w, op, newErr(CodeInternal, "", "the cluster's answer could not be read"))
		return
	}
	h.ok(w, op, http.StatusOK, statusOf(v))
}

// lookup reads the callback named by the path after a linearizable read
// (so a callback created through any node is seen).
func (h *Handler) lookup(r *http.Request) (cc.CallbackView, *Error) {
	id := r.PathValue("id")
	unknown := newErr(CodeBadParameter, "id", "unknown callback").withStatus(http.StatusNotFound)
	if id == "" || len(id) > cc.MaxCallbackIDLen || strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) >= 0 {
		return cc.CallbackView{}, unknown
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	if err := h.Store.Read(ctx, cluster.Linearizable); err != nil {
		return cc.CallbackView{}, fromCluster(err)
	}
	v, ok := h.Engine.Callback(id)
	if !ok {
		return cc.CallbackView{}, unknown
	}
	return v, nil
}

// fromCluster maps a failed Propose or Read to its code: a refusal by
// the engine keeps its code (contactcenter.ParseCallbackError), the
// cluster's transient failures are 17021 with 503/504/507 (retry), a
// client that went away 1000 (499), anything else 1012.
func fromCluster(err error) *Error {
	var ref *cluster.Refusal
	if errors.As(err, &ref) {
		if code, msg, ok := cc.ParseCallbackError(ref.Msg); ok {
			return newErr(code, ref.Field, apierr.Message(msg))
		}
		return newErr(CodeCallbackServer, "", apierr.Message(ref.Msg)).withStatus(http.StatusConflict)
	}
	ae := apierr.From(err)
	switch ae.Code {
	case apierr.NotLeader, apierr.Unavailable:
		return newErr(CodeCallbackServer, "", "the cluster cannot take the request now; retry").withStatus(http.StatusServiceUnavailable)
	case apierr.Timeout:
		return newErr(CodeCallbackServer, "", "the cluster did not answer in time; retry").withStatus(http.StatusGatewayTimeout)
	case apierr.NoSpace:
		return newErr(CodeCallbackServer, "", "the cluster is short of disk space").withStatus(http.StatusInsufficientStorage)
	case apierr.Canceled:
		return newErr(CodeGeneral, "", "the request was cancelled").withStatus(apierr.StatusClientClosedRequest)
	}
	return newErr(CodeInternal, "", "")
}

// CallbackStatus is the answer of the callback routes: the callback's
// status with RFC 3339 times. It has no phone number, name or contact
// data: the id is the only credential.
type CallbackStatus struct {
	ID            string   `json:"id"`
	Queue         string   `json:"queue"`
	Status        string   `json:"status"`
	Outcome       string   `json:"outcome,omitempty"`
	Attempts      int      `json:"attempts"`
	Priority      int      `json:"priority"`
	CreatedAt     string   `json:"created_at"`
	NextAttemptAt string   `json:"next_attempt_at,omitempty"`
	EndedAt       string   `json:"ended_at,omitempty"`
	Schedule      []Window `json:"schedule,omitempty"`
}

// Window is a schedule window in RFC 3339.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

func rfc3339(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func statusOf(v cc.CallbackView) CallbackStatus {
	s := CallbackStatus{ID: v.ID, Queue: v.Queue, Status: v.Status, Outcome: v.Outcome, Attempts: v.Attempts, Priority: v.Priority,
		CreatedAt: rfc3339(v.Created), NextAttemptAt: rfc3339(v.Due), EndedAt: rfc3339(v.Ended)}
	if v.Status != cc.CallbackScheduled {
		s.NextAttemptAt = ""
	}
	for _, w := range v.Schedule {
		s.Schedule = append(s.Schedule, Window{rfc3339(w.Start), rfc3339(w.End)})
	}
	return s
}

func (h *Handler) ok(w http.ResponseWriter, op string, status int, v any) {
	h.Metrics.count(op, 0)
	writeJSON(w, status, v)
}

func (h *Handler) fail(w http.ResponseWriter, op string, e *Error) {
	h.Metrics.count(op, e.Code)
	if h.Logger != nil && e.Code == CodeInternal {
		h.Logger.Warn("public web API: internal error", "op", op, "message", e.Message)
	}
	e.Message = apierr.Message(e.Message)
	writeJSON(w, e.HTTPStatus(), e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
