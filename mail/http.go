package mail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Handler serves the channel's routes on the admin API (behind the admin
// token): POST /v1/mail/replies queues a reply, or with "forward" a
// forward, of an e-mail contact; POST /v1/mail/reports queues a report
// e-mail (optionally "on_behalf_of" another address, shown as its From);
// an Idempotency-Key makes a retry one message. GET /v1/mail/outbox lists
// the outbox without the bodies. Agents reply and forward through the
// console API (package console: mail_reply, mail_forward).
type Handler struct {
	Store  Store
	Engine OutboxEngine
	// Channel serves GET /v1/mail/contacts/{contact}/content[?uid=]
	// (the leader's: only it opens IMAP sessions); on a follower Leader
	// asks the leader for it (ContentReader), unless the request came
	// from another member (cluster.FromMemberHeader): then 503
	// not_leader.
	Channel *Channel
	Leader  Leader
}

// Routes registers the routes on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/mail/replies", h.reply)
	mux.HandleFunc("POST /v1/mail/reports", h.report)
	mux.HandleFunc("GET /v1/mail/outbox", h.outbox)
	if h.Channel != nil {
		mux.HandleFunc("GET /v1/mail/contacts/{contact}/content", h.content)
	}
}

func (h *Handler) content(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 90*time.Second)
	defer cancel()
	uid, err := uidParam(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	var c Content
	if h.Leader != nil && r.Header.Get(cluster.FromMemberHeader) == "" {
		c, err = ContentReader{Channel: h.Channel, Leader: h.Leader}.Content(ctx, r.PathValue("contact"), uid)
	} else {
		c, err = h.Channel.Content(ctx, r.PathValue("contact"), uid)
	}
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, c)
}

// uidParam is a content request's ?uid= (0 when absent): which message
// of the contact, the one it was made of or one of the answers that
// joined it.
func uidParam(r *http.Request) (uint32, error) {
	v := r.URL.Query().Get("uid")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, apierr.Errorf(apierr.BadRequest, "uid: a message's UID (1-4294967295)").WithField("uid")
	}
	return uint32(n), nil
}

// ReplyRequest is the body of POST /v1/mail/replies.
type ReplyRequest struct {
	Contact string `json:"contact"`
	Agent   string `json:"agent,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
	// Forward, when set, forwards the contact's message there instead.
	Forward string `json:"forward,omitempty"`
}

// ReportRequest is the body of POST /v1/mail/reports.
type ReportRequest struct {
	To         string `json:"to"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request) {
	var req ReplyRequest
	h.queue(w, r, &req, func(id string) (string, any) {
		p := cc.MailReplyRequest{Reply: id, Contact: req.Contact, Agent: req.Agent, Subject: req.Subject, Body: req.Body, Forward: req.Forward}
		if req.Forward != "" {
			return cc.TypeMailForward, p
		}
		return cc.TypeMailReply, p
	})
}

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	var req ReportRequest
	h.queue(w, r, &req, func(id string) (string, any) {
		return cc.TypeMailReport, cc.MailReportRequest{Reply: id, To: req.To, OnBehalfOf: req.OnBehalfOf, Subject: req.Subject, Body: req.Body}
	})
}

// queue decodes the request into req, builds the command (its entry id
// from the Idempotency-Key, so a retry is the same entry, else new),
// checks it as Apply will and proposes it.
func (h *Handler) queue(w http.ResponseWriter, r *http.Request, req any, command func(id string) (string, any)) {
	body, err := io.ReadAll(io.LimitReader(r.Body, cc.MaxMailBodyLen+4096+1))
	if err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading body: %v", err))
		return
	}
	if len(body) > cc.MaxMailBodyLen+4096 {
		apierr.Write(w, apierr.Errorf(apierr.TooLarge, "request body larger than %d bytes", cc.MaxMailBodyLen+4096))
		return
	}
	if err := jsonin.Decode(body, req); err != nil {
		apierr.Write(w, apierr.Wrap(apierr.BadRequest, fmt.Errorf("decoding request: %w", err)))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 128 {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "Idempotency-Key: at most 128 characters"))
		return
	}
	var id string
	if key != "" {
		id = KeyedID(key)
	} else {
		var b [12]byte
		rand.Read(b[:])
		id = "reply-" + hex.EncodeToString(b[:])
	}
	typ, p := command(id)
	payload, _ := json.Marshal(p)
	if err := cc.CheckPayload(typ, payload); err != nil {
		e := &apierr.Error{Code: apierr.BadRequest, Message: err.Error()}
		var fe interface{ FieldName() string }
		if errors.As(err, &fe) {
			e.Field = fe.FieldName()
		}
		apierr.Write(w, e)
		return
	}
	if key != "" {
		// A retry after the cluster's dedupe window: the entry exists.
		for _, o := range h.Engine.Outbox("") {
			if o.ID == id {
				o.Body = ""
				b, _ := json.Marshal(o)
				writeJSON(w, cluster.Result{Result: b, Duplicate: true})
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	var opts []cluster.ProposeOption
	if key != "" {
		opts = append(opts, cluster.WithKey("mail.reply:"+id))
	}
	res, err := h.Store.Propose(ctx, typ, json.RawMessage(payload), opts...)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, res)
}

// KeyedID is the outbox entry id of an idempotency key: a retry with the
// key names the same entry, which the engine never queues twice.
func KeyedID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "reply-" + hex.EncodeToString(sum[:12])
}

func (h *Handler) outbox(w http.ResponseWriter, r *http.Request) {
	out := h.Engine.Outbox(r.URL.Query().Get("state"))
	for i := range out {
		out[i].Body = ""
	}
	if out == nil {
		out = []cc.OutboxEntry{}
	}
	writeJSON(w, out)
}
