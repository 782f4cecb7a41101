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
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Handler serves the channel's routes on the admin API (behind the admin
// token): POST /v1/mail/replies queues an agent's reply (Idempotency-Key
// makes a retry one reply), GET /v1/mail/outbox lists the outbox without
// the bodies.
type Handler struct {
	Store  Store
	Engine OutboxEngine
	// Channel serves GET /v1/mail/contacts/{contact}/content (the
	// leader's: only it opens IMAP sessions).
	Channel *Channel
}

// Routes registers the routes on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/mail/replies", h.reply)
	mux.HandleFunc("GET /v1/mail/outbox", h.outbox)
	if h.Channel != nil {
		mux.HandleFunc("GET /v1/mail/contacts/{contact}/content", h.content)
	}
}

func (h *Handler) content(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 90*time.Second)
	defer cancel()
	c, err := h.Channel.Content(ctx, r.PathValue("contact"))
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, c)
}

// ReplyRequest is the body of POST /v1/mail/replies.
type ReplyRequest struct {
	Contact string `json:"contact"`
	Agent   string `json:"agent,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, cc.MaxMailBodyLen+4096+1))
	if err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading body: %v", err))
		return
	}
	if len(body) > cc.MaxMailBodyLen+4096 {
		apierr.Write(w, apierr.Errorf(apierr.TooLarge, "request body larger than %d bytes", cc.MaxMailBodyLen+4096))
		return
	}
	var req ReplyRequest
	if err := jsonin.Decode(body, &req); err != nil {
		apierr.Write(w, apierr.Wrap(apierr.BadRequest, fmt.Errorf("decoding request: %w", err)))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 128 {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "Idempotency-Key: at most 128 characters"))
		return
	}
	// The reply's id: from the key (a retry is the same reply), else new.
	var id string
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		id = "reply-" + hex.EncodeToString(sum[:12])
	} else {
		var b [12]byte
		rand.Read(b[:])
		id = "reply-" + hex.EncodeToString(b[:])
	}
	p := cc.MailReplyRequest{Reply: id, Contact: req.Contact, Agent: req.Agent, Subject: req.Subject, Body: req.Body}
	payload, _ := json.Marshal(p)
	if err := cc.CheckPayload(cc.TypeMailReply, payload); err != nil {
		e := &apierr.Error{Code: apierr.BadRequest, Message: err.Error()}
		var fe interface{ FieldName() string }
		if errors.As(err, &fe) {
			e.Field = fe.FieldName()
		}
		apierr.Write(w, e)
		return
	}
	if key != "" {
		// A retry after the cluster's dedupe window: the reply exists.
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
	res, err := h.Store.Propose(ctx, cc.TypeMailReply, json.RawMessage(payload), opts...)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, res)
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
