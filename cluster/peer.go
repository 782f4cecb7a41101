package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
)

// The peer protocol: members reach each other through the admin API, under
// /v1/internal/, with the shared bearer token. PeerHandler serves it;
// the methods below call it. Both halves live here so the wire format has
// one owner. A failed call answers the error shape of every surface
// (package apierr): a refusal is 409 refused, or 400 bad_request naming
// its field, and comes back to the caller as the same *Refusal; a node
// that is not (or no longer) the leader answers 503 not_leader, which the
// caller retries.

// errPeerUnavailable means the leader could not be reached; the caller
// retries (a new leader is probably being elected).
var errPeerUnavailable = apierr.Wrap(apierr.NotLeader, errors.New("peer unavailable"))

// JoinRequest asks the cluster to add a node.
type JoinRequest struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raft_addr"`
	AdminAddr string `json:"admin_addr"`
	HTTPURL   string `json:"http_url,omitempty"`
	NonVoter  bool   `json:"non_voter,omitempty"`
}

// ClockReading is a member's wall clock, whether the filesystem of its
// Raft log is short of space (space.go), and the digests of the entries
// it applied (replicacheck.go).
type ClockReading struct {
	NodeID string `json:"node_id"`
	Time   int64  `json:"time_unix_nano"`
	// NoSpace is the member's Raft directory while it is short of
	// space, "" while it has room.
	NoSpace string         `json:"no_space,omitempty"`
	Digests []WindowDigest `json:"digests,omitempty"`
	// Applied is the member's applied index (lag.go).
	Applied uint64 `json:"applied_index,omitempty"`
	// States are the member's digests of its state at the latest
	// checkpoints (statecheck.go).
	States []StateDigest `json:"state_digests,omitempty"`
}

// PeerHandler serves the peer protocol. Mount it at /v1/internal/ behind
// the admin token check.
func (s *Store) PeerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/internal/apply", func(w http.ResponseWriter, r *http.Request) {
		var env command.Envelope
		if !decodeBody(w, r, &env) {
			return
		}
		if !s.IsLeader() {
			apierr.Write(w, apierr.Errorf(apierr.NotLeader, "not the leader"))
			return
		}
		res, err := s.commitLocal(r.Context(), env)
		writePeerResult(w, res, err)
	})
	mux.HandleFunc("POST /v1/internal/apply-batch", s.serveApplyBatch) // forward.go
	mux.HandleFunc("POST /v1/internal/join", func(w http.ResponseWriter, r *http.Request) {
		var jr JoinRequest
		if !decodeBody(w, r, &jr) {
			return
		}
		writePeerResult(w, Result{}, s.Join(r.Context(), jr))
	})
	mux.HandleFunc("POST /v1/internal/remove", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ ID string }
		if !decodeBody(w, r, &req) {
			return
		}
		writePeerResult(w, Result{}, s.Remove(r.Context(), req.ID))
	})
	mux.HandleFunc("POST /v1/internal/removed", func(w http.ResponseWriter, r *http.Request) {
		var n removedNotice
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&n); err != nil {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "decoding removal notice: %v", err))
			return
		}
		// The leader sends it once the removal is committed; this node
		// may not have received the new configuration (and may never).
		s.markRemoved("removed by " + n.By)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/internal/transfer", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ ID string }
		if !decodeBody(w, r, &req) {
			return
		}
		writePeerResult(w, Result{}, s.TransferLeader(r.Context(), req.ID))
	})
	mux.HandleFunc("GET /v1/internal/readindex", func(w http.ResponseWriter, r *http.Request) {
		if !s.IsLeader() {
			apierr.Write(w, apierr.Errorf(apierr.NotLeader, "not the leader"))
			return
		}
		idx, err := s.leaderReadIndex(r.Context())
		writePeerResult(w, Result{Index: idx}, err)
	})
	mux.HandleFunc("GET /v1/internal/clock", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ClockReading{NodeID: s.cfg.NodeID, Time: s.now().UnixNano(), NoSpace: s.space.shortDir(),
			Digests: s.fsm.digests.closed(), Applied: s.AppliedIndex(), States: s.fsm.states.all()})
	})
	return apierr.Mux(mux)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBodyMax(w, r, v, command.MaxPayload+1<<16)
}

func decodeBodyMax(w http.ResponseWriter, r *http.Request, v any, max int64) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, max))
	if err := dec.Decode(v); err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "decoding request: %v", err))
		return false
	}
	return true
}

// writePeerResult answers a peer call: res, or err in the error shape
// (a retryable error as not_leader).
func writePeerResult(w http.ResponseWriter, res Result, err error) {
	if err != nil {
		apierr.Write(w, classify(err))
		return
	}
	writePeerJSON(w, res)
}

// writePeerJSON answers a peer call with v.
func writePeerJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// peerError turns the error answer of a peer call back into the error the
// callee had: a *Refusal (final), errPeerUnavailable (retry), a passed
// deadline or a full disk (which keep their kind); anything else is a
// failure of the call.
func peerError(base, path string, status int, body []byte) error {
	e, _ := apierr.Decode(status, body)
	return peerErr(base, path, e)
}

// errNoPeerRoute: the peer does not serve the path (an older member).
var errNoPeerRoute = errors.New("the peer does not serve this route")

// peerErr is peerError for an error already decoded.
func peerErr(base, path string, e *apierr.Error) error {
	switch e.Code {
	case apierr.NotFound, apierr.MethodNotAllowed:
		return fmt.Errorf("peer %s%s: %s: %w", base, path, e.Message, errNoPeerRoute)
	case apierr.Refused, apierr.BadRequest:
		return &Refusal{Msg: e.Message, Field: e.Field}
	case apierr.PreconditionFailed:
		return &Refusal{Msg: e.Message, Field: e.Field, Code: e.Code}
	case apierr.NotLeader, apierr.Unavailable:
		return fmt.Errorf("%w: %s", errPeerUnavailable, e.Message)
	case apierr.Unauthorized:
		return fmt.Errorf("peer %s refused our admin token (members must share one token)", base)
	case apierr.Timeout:
		return fmt.Errorf("peer %s%s: %s: %w", base, path, e.Message, context.DeadlineExceeded)
	case apierr.NoSpace:
		return fmt.Errorf("peer %s%s: %w", base, path, e)
	}
	return fmt.Errorf("peer %s%s: %s", base, path, e.Message)
}

// leaderURL finds the current leader and its admin URL.
func (s *Store) leaderURL() (id, url string, err error) {
	id = s.LeaderID()
	if id == "" {
		return "", "", ErrNoLeader
	}
	m, ok := s.fsm.nodes()[id]
	if !ok || m.AdminAddr == "" {
		return id, "", fmt.Errorf("%w: leader %s has not published its admin address yet", ErrNoLeader, id)
	}
	return id, m.AdminAddr, nil
}

// leaderWatchEvery is how often a call to the leader checks that the
// leader is still the same.
const leaderWatchEvery = 50 * time.Millisecond

// callLeader sends a peer request to the current leader. The call is
// abandoned (as retryable) as soon as this node sees another leader, or
// none: a leader that hangs (paused, partitioned) accepts connections but
// never answers, and the caller must not wait out the request timeout
// while a new leader is already elected.
func (s *Store) callLeader(ctx context.Context, method, path string, body, out any) error {
	id, u, err := s.leaderURL()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	moved := make(chan struct{})
	go func() {
		t := time.NewTicker(leaderWatchEvery)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
				if s.LeaderID() != id {
					close(moved)
					cancel()
					return
				}
			}
		}
	}()
	err = s.call(cctx, u, method, path, body, out)
	select {
	case <-moved:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("%w: leader %s was replaced during %s (%v)", errPeerUnavailable, id, path, err)
		}
	default:
	}
	return err
}

// call sends one peer request. A refusal comes back as *Refusal; an
// unreachable or non-leader peer as errPeerUnavailable (retryable).
func (s *Store) call(ctx context.Context, base, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, method, base+path, rd)
	if err != nil {
		return fmt.Errorf("building %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s%s: %v", errPeerUnavailable, base, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%w: reading %s%s: %v", errPeerUnavailable, base, path, err)
	}
	if resp.StatusCode/100 == 2 {
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("decoding reply of %s%s: %w", base, path, err)
			}
		}
		return nil
	}
	return peerError(base, path, resp.StatusCode, b)
}

// LeaderGet reads path from the current leader's admin API (with the
// members' token) into out, for what only the leader can answer: the
// e-mail channel's content (only the leader talks to the mail server, so
// the account's session ceiling holds). The leader's error comes back as
// it answered it (*apierr.Error); no leader, or one that does not answer,
// is apierr.NotLeader or apierr.Unavailable. ctx bounds the request.
func (s *Store) LeaderGet(ctx context.Context, path string, out any) error {
	_, base, err := s.leaderURL()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return fmt.Errorf("building %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	req.Header.Set(FromMemberHeader, s.cfg.NodeID)
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return apierr.Wrap(apierr.Timeout, fmt.Errorf("asking the leader for %s: %w", path, ctx.Err()))
		}
		return apierr.Wrap(apierr.Unavailable, fmt.Errorf("asking the leader for %s: %w", path, err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLeaderGet))
	if err != nil {
		return apierr.Wrap(apierr.Unavailable, fmt.Errorf("reading the leader's answer to %s: %w", path, err))
	}
	if resp.StatusCode/100 != 2 {
		e, _ := apierr.Decode(resp.StatusCode, b)
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return apierr.Wrap(apierr.Unavailable, fmt.Errorf("decoding the leader's answer to %s: %w", path, err))
	}
	return nil
}

// FromMemberHeader marks a request LeaderGet sends (its value the
// sending member's ID): the receiver answers it itself and never asks
// another member in turn, so a request cannot go round the cluster
// while leadership moves.
const FromMemberHeader = "X-Tandem-From-Member"

// maxLeaderGet bounds an answer LeaderGet reads.
const maxLeaderGet = 64 << 20
