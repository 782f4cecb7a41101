package console

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Voicemail PINs (spec "Voicemail in the console"). A PIN is 4 to 8
// digits; it is checked here, derived like a password (PBKDF2, a random
// salt: the edge's work, not the engine's) and only the hash is
// proposed (voicemail.set_pin). Changing a PIN needs the current one. An
// operator monitors another extension's mailbox by giving that mailbox's
// PIN: right, the edge proposes voicemail.monitor; wrong, 403 naming
// "pin" and nothing changes. Every PIN check runs on the log-in pool and
// its failures slow down further tries from that address and for that
// user and mailbox (throttle.go), so a 4-digit PIN cannot be swept. No
// PIN or hash is logged, streamed, or answered.
var pinRE = regexp.MustCompile(`^[0-9]{4,8}$`)

// PINRequest is POST voicemail/pin: the new PIN of the session user's
// own mailbox, and the current one when a PIN is set.
type PINRequest struct {
	PIN     string `json:"pin"`
	Current string `json:"current,omitempty"`
}

// MonitorRequest is POST voicemail/monitor: start monitoring a mailbox
// (its PIN required) or stop (Monitor false; no PIN).
type MonitorRequest struct {
	Mailbox string `json:"mailbox"`
	PIN     string `json:"pin,omitempty"`
	Monitor bool   `json:"monitor"`
}

func badPIN(field string) error {
	return &apierr.Error{Code: apierr.BadRequest, Field: field, Message: field + ": want 4 to 8 digits"}
}

func wrongPIN(field string) error {
	return &apierr.Error{Code: apierr.Forbidden, Field: field, Message: "wrong PIN"}
}

// checkPIN verifies pin against hash on the throttled pool.
func (s *Service) checkPIN(ctx context.Context, from, user, mailbox, field, hash, pin string) error {
	keys := append(throttleKeys(from, user), "mailbox "+mailbox)
	return s.loginThrottle().run(ctx, func() error {
		if VerifyPassword(hash, pin) != nil {
			return wrongPIN(field)
		}
		return nil
	}, keys...)
}

// SetPIN sets or changes the PIN of the actor's own mailbox.
func (s *Service) SetPIN(ctx context.Context, a Actor, from string, req PINRequest) (cluster.Result, error) {
	if a.Admin || a.User == "" {
		return cluster.Result{}, apierr.Errorf(apierr.Forbidden, "a mailbox PIN is set by its user's session")
	}
	if !pinRE.MatchString(req.PIN) {
		return cluster.Result{}, badPIN("pin")
	}
	if err := s.read(ctx, cluster.Linearizable); err != nil {
		return cluster.Result{}, err
	}
	var mailbox string
	s.Engine.View(func(st *cc.State) { mailbox = st.Config.Users[a.User].Extension })
	if mailbox == "" {
		return cluster.Result{}, apierr.Errorf(apierr.Refused, "user %s has no extension, so no mailbox", apierr.Quote(a.User))
	}
	if old := s.Engine.MailboxPINHash(mailbox); old != "" {
		if !pinRE.MatchString(req.Current) {
			return cluster.Result{}, badPIN("current")
		}
		if err := s.checkPIN(ctx, from, a.User, mailbox, "current", old, req.Current); err != nil {
			return cluster.Result{}, err
		}
	}
	hash, err := hashPIN(req.PIN)
	if err != nil {
		return cluster.Result{}, fmt.Errorf("deriving the PIN hash: %w", err)
	}
	res, err := s.Store.Propose(ctx, cc.TypeVoicemailSetPIN, cc.VoicemailPINRequest{User: a.User, PINHash: hash})
	if err != nil {
		return cluster.Result{}, applyError("voicemail pin", err)
	}
	return res, nil
}

// Monitor starts or stops the actor's monitoring of a mailbox.
func (s *Service) Monitor(ctx context.Context, a Actor, from string, req MonitorRequest) (cluster.Result, error) {
	if a.Admin || a.User == "" {
		return cluster.Result{}, apierr.Errorf(apierr.Forbidden, "a mailbox is monitored by a user's session")
	}
	if err := cc.CheckPayload(cc.TypeVoicemailMonitor, mustJSON(cc.VoicemailMonitorRequest{User: a.User, Mailbox: req.Mailbox, Monitor: req.Monitor})); err != nil {
		return cluster.Result{}, &apierr.Error{Code: apierr.BadRequest, Field: "mailbox", Message: err.Error()}
	}
	if req.Monitor {
		if !pinRE.MatchString(req.PIN) {
			return cluster.Result{}, badPIN("pin")
		}
		if err := s.read(ctx, cluster.Linearizable); err != nil {
			return cluster.Result{}, err
		}
		hash := s.Engine.MailboxPINHash(req.Mailbox)
		if hash == "" {
			// Checked like a wrong PIN (same cost, same answer): the
			// answer does not tell which mailboxes have a PIN.
			hash = dummyHash
		}
		if err := s.checkPIN(ctx, from, a.User, req.Mailbox, "pin", hash, req.PIN); err != nil {
			return cluster.Result{}, err
		}
	}
	res, err := s.Store.Propose(ctx, cc.TypeVoicemailMonitor, cc.VoicemailMonitorRequest{User: a.User, Mailbox: req.Mailbox, Monitor: req.Monitor})
	if err != nil {
		return cluster.Result{}, applyError("voicemail monitor", err)
	}
	return res, nil
}

// hashPIN derives a PIN's stored form as a password's (PBKDF2-SHA256,
// PasswordIterations, a fresh salt); PINs are shorter than passwords, so
// HashPassword's length rule does not apply (pinRE checked the form).
func hashPIN(pin string) (string, error) {
	salt := make([]byte, passwordSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	return hashWith(pin, salt, PasswordIterations)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (h *Handler) setPIN(w http.ResponseWriter, r *http.Request, a Actor) {
	var req PINRequest
	if err := h.decodeBody(w, r, &req); err != nil {
		apierr.Write(w, err)
		return
	}
	res, err := h.Service.SetPIN(r.Context(), a, clientAddr(r), req)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) monitor(w http.ResponseWriter, r *http.Request, a Actor) {
	var req MonitorRequest
	if err := h.decodeBody(w, r, &req); err != nil {
		apierr.Write(w, err)
		return
	}
	res, err := h.Service.Monitor(r.Context(), a, clientAddr(r), req)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decodeBody reads a strict JSON body (unknown fields, wrong types and
// trailing data refused, the field named).
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	if err := jsonin.Decode(b, v); err != nil {
		e := &apierr.Error{Code: apierr.BadRequest, Message: apierr.Message(err.Error())}
		var fe interface{ FieldName() string }
		if errors.As(err, &fe) {
			e.Field = fe.FieldName()
		}
		return e
	}
	return nil
}
