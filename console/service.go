package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Store is what the operations API needs of the cluster.
type Store interface {
	Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	Read(ctx context.Context, c cluster.Consistency) error
	ViewAt(fn func(index uint64))
	Status() cluster.Status
	WaitApplied(ctx context.Context, index uint64) error
}

// Service carries out operations for authenticated actors. HTTP (Handler)
// and in-process adapters share it.
type Service struct {
	Store    Store
	Engine   *cc.Engine
	Hub      *Hub
	Sessions *Sessions
	// NewID chooses the IDs of calls an operation creates; nil means
	// cluster.NewID.
	NewID func() string
	// MailContent fetches a message of an e-mail contact on demand (uid
	// 0: the one it was made of; else one of the customer's answers that
	// joined it): package mail's ContentReader, the leader reading the
	// mailbox, a follower asking the leader. Nil when the channel is not
	// served.
	MailContent func(ctx context.Context, contact string, uid uint32) (any, error)

	throttleOnce sync.Once
	throttle     *loginThrottle
}

// mayReadMail tells whether the actor may read e-mail contact id: an
// integration always; an agent when the contact is on one of its lines,
// in its supervision or its personal queue, offered to it, or waiting in
// a queue it serves (as a chat in a queue may be previewed).
func (s *Service) mayReadMail(a Actor, id string) bool {
	if a.Admin {
		return true
	}
	if a.Agent == "" {
		return false
	}
	may := false
	s.Engine.View(func(st *cc.State) {
		c := st.Calls[id]
		if c == nil || c.Medium != cc.MediumEmail {
			return
		}
		switch c.Place {
		case cc.PlaceLine, cc.PlacePersonal, cc.PlaceSupervised:
			may = c.Agent == a.Agent
		case cc.PlaceRinging:
			may = slices.Contains(c.Offered, a.Agent)
		case cc.PlaceQueue:
			may = slices.Contains(st.Config.Agents[a.Agent].Queues, c.Queue)
		}
	})
	return may
}

func (s *Service) loginThrottle() *loginThrottle {
	s.throttleOnce.Do(func() { s.throttle = newLoginThrottle(nil) })
	return s.throttle
}

// Actor is who performs an operation: an operator's session (User and,
// when the user is an operator, Agent) or an integration holding the
// admin token (Admin), which may act for anyone.
type Actor struct {
	User  string
	Agent string
	Admin bool
}

func (s *Service) newID() string {
	if s.NewID != nil {
		return s.NewID()
	}
	return cluster.NewID()
}

// Login checks a user's password and opens a session. Every failure reads
// the same, so the answer does not tell which users exist. from is the
// client's address: checks run on a bounded pool, and failures slow down
// further attempts from that address and for that user (throttle.go).
func (s *Service) Login(ctx context.Context, from, user, password string) (string, Session, error) {
	bad := apierr.Errorf(apierr.Unauthorized, "%s", ErrBadPassword.Error())
	if user == "" || password == "" {
		return "", Session{}, bad
	}
	if err := s.Store.Read(ctx, cluster.Linearizable); err != nil {
		return "", Session{}, unavailable(err)
	}
	hash, agent := s.credentials(user)
	err := s.loginThrottle().run(ctx, func() error {
		if hash == "" {
			// Spend the same work as a real check.
			VerifyPassword(dummyHash, password)
			return bad
		}
		if VerifyPassword(hash, password) != nil {
			return bad
		}
		return nil
	}, throttleKeys(from, user)...)
	if err != nil {
		return "", Session{}, err
	}
	tok, sess := s.Sessions.Issue(Session{User: user, Agent: agent, Print: fingerprint(hash)})
	return tok, sess, nil
}

// dummyHash makes a login for an unknown user cost what a real one does.
const dummyHash = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// credentials returns the user's password hash and the operator (agent)
// the user works as: the lowest agent ID linked to the user.
func (s *Service) credentials(user string) (hash, agent string) {
	s.Engine.View(func(st *cc.State) {
		u, ok := st.Config.Users[user]
		if !ok {
			return
		}
		hash = u.PasswordHash
		var ids []string
		for id, a := range st.Config.Agents {
			if a.User == user {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		if len(ids) > 0 {
			agent = ids[0]
		}
	})
	return hash, agent
}

// Authenticate turns a session token into an actor. The session ends when
// it expires, when the user is removed or when the password changes.
func (s *Service) Authenticate(token string) (Actor, error) {
	sess, err := s.Sessions.Verify(token)
	if err != nil {
		return Actor{}, apierr.Errorf(apierr.Unauthorized, "%s", err.Error())
	}
	hash, agent := s.credentials(sess.User)
	if hash == "" || fingerprint(hash) != sess.Print {
		return Actor{}, apierr.Errorf(apierr.Unauthorized, "%s", ErrSession.Error())
	}
	return Actor{User: sess.User, Agent: agent}, nil
}

// Do performs operation op with body (a JSON object, the engine command's
// payload without the fields the session fills in). key, when not empty,
// is the caller's idempotency key: a retry with the same key (after a
// timeout or a failover) applies once.
func (s *Service) Do(ctx context.Context, a Actor, op string, body []byte, key string) (cluster.Result, error) {
	o, ok := operations[op]
	if !ok {
		return cluster.Result{}, apierr.Errorf(apierr.NotFound, "unknown operation %s", apierr.Quote(op))
	}
	if o.edge && !a.Admin {
		return cluster.Result{}, apierr.Errorf(apierr.Forbidden, "%s is reported by the telephony edge, not by operators", op)
	}
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&fields); err != nil || dec.More() {
			return cluster.Result{}, apierr.Errorf(apierr.BadRequest, "%s: the body must be one JSON object", op)
		}
	}
	if err := s.fillActor(a, op, o, fields); err != nil {
		return cluster.Result{}, err
	}
	if o.newID != "" {
		if _, given := fields[o.newID]; !given {
			fresh := s.newID()
			if o.keyedID && key != "" {
				sum := sha256.Sum256([]byte(actorName(a) + "\x00" + key))
				fresh = "k-" + hex.EncodeToString(sum[:12])
			}
			id, _ := json.Marshal(fresh)
			fields[o.newID] = id
		}
	}
	payload, err := json.Marshal(fields)
	if err != nil {
		return cluster.Result{}, apierr.Errorf(apierr.BadRequest, "%s: %v", op, err)
	}
	// Checked here, as Apply will decode it: a malformed operation never
	// reaches the log.
	err = cc.CheckPayload(o.typ, payload)
	if err == nil && o.typ == cc.TypeUserPreferences {
		err = checkConsoleVocabulary(payload) // names only the console knows
		if err == nil {
			err = checkRevision(fields)
		}
	}
	if err != nil {
		e := &apierr.Error{Code: apierr.BadRequest, Message: fmt.Sprintf("%s: %v", op, err)}
		var fe interface{ FieldName() string }
		if errors.As(err, &fe) {
			e.Field = fe.FieldName()
		}
		return cluster.Result{}, e
	}
	var opts []cluster.ProposeOption
	if key != "" {
		if len(key) > 128 {
			return cluster.Result{}, apierr.Errorf(apierr.BadRequest, "Idempotency-Key: at most 128 characters")
		}
		opts = append(opts, cluster.WithKey("ops:"+actorName(a)+":"+key))
	}
	res, err := s.Store.Propose(ctx, o.typ, json.RawMessage(payload), opts...)
	if err != nil {
		return cluster.Result{}, applyError(op, err)
	}
	return res, nil
}

// actorName names the caller in idempotency keys.
func actorName(a Actor) string {
	if a.Admin {
		return "admin"
	}
	return a.User
}

// fillActor sets (or checks) the payload field naming who acts.
func (s *Service) fillActor(a Actor, op string, o operation, fields map[string]json.RawMessage) error {
	if o.actor == "" {
		return nil
	}
	var given string
	if raw, ok := fields[o.actor]; ok {
		if err := json.Unmarshal(raw, &given); err != nil {
			return &apierr.Error{Code: apierr.BadRequest, Field: o.actor, Message: fmt.Sprintf("%s: %s: want a string", op, o.actor)}
		}
	}
	if a.Admin {
		if given == "" {
			return &apierr.Error{Code: apierr.BadRequest, Field: o.actor, Message: fmt.Sprintf("%s: name the %s to act for", op, o.actor)}
		}
		return nil
	}
	var own string
	switch o.actor {
	case "agent":
		own = a.Agent
		if own == "" {
			return apierr.Errorf(apierr.Forbidden, "%s: user %s is not an operator (no agent is linked to it)", op, apierr.Quote(a.User))
		}
	case "user":
		own = a.User
	case "extension":
		s.Engine.View(func(st *cc.State) { own = st.Config.Users[a.User].Extension })
		if own == "" {
			return apierr.Errorf(apierr.Forbidden, "%s: user %s has no extension", op, apierr.Quote(a.User))
		}
	}
	if given != "" && given != own {
		return &apierr.Error{Code: apierr.Forbidden, Field: o.actor,
			Message: fmt.Sprintf("%s: you act as %s %s, not %s", op, o.actor, apierr.Quote(own), apierr.Quote(given))}
	}
	raw, _ := json.Marshal(own)
	fields[o.actor] = raw
	return nil
}

// applyError turns a failed Propose into an API error (apierr.From): an
// engine refusal naming a field is bad input (400), another refusal an
// operation the rules do not allow now (409); anything else means the
// cluster could not commit now and the caller may retry with the same
// idempotency key.
func applyError(op string, err error) error {
	var r *cluster.Refusal
	if errors.As(err, &r) {
		return apierr.From(err)
	}
	return unavailable(fmt.Errorf("%s: %w", op, err))
}

// unavailable reports a commit or read the cluster could not do now, with
// the kind apierr.From gives the failure (503 not_leader without a leader,
// 504 timeout on a deadline).
func unavailable(err error) *apierr.Error {
	e := apierr.From(err)
	e.Message = fmt.Sprintf("the cluster cannot commit right now (%v); retry with the same Idempotency-Key", err)
	return e
}
