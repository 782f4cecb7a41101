package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/internal/apierr"
)

// The peer protocol answers in the error shape of every surface, and the
// caller gets back the error the leader had: a refusal as the same
// *Refusal (field included), a lost leadership as a retryable error, a
// deadline as a deadline. The end user of the follower therefore sees the
// status and code the leader would have answered.
func TestPeerErrorsRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		leader    error // what the leader's handler failed with
		status    int   // on the wire
		code      apierr.Code
		refusal   *Refusal // what the caller gets, when a refusal
		retryable bool
		final     apierr.Code // what the caller's own surface answers
	}{
		{"refusal naming a field", &Refusal{Msg: `agents[0].queues[0]: unknown queue "x"`, Field: "agents[0].queues[0]"},
			400, apierr.BadRequest, &Refusal{Msg: `agents[0].queues[0]: unknown queue "x"`, Field: "agents[0].queues[0]"}, false, apierr.BadRequest},
		{"refusal", &Refusal{Msg: "refusing to remove the last voter"},
			409, apierr.Refused, &Refusal{Msg: "refusing to remove the last voter"}, false, apierr.Refused},
		{"refusal of a stale version (the kind the machine stated)", refusal(apierr.Wrap(apierr.PreconditionFailed, errors.New("preferences: saved from revision 0, but another console saved revision 1 since"))),
			412, apierr.PreconditionFailed, &Refusal{Msg: "preferences: saved from revision 0, but another console saved revision 1 since", Code: apierr.PreconditionFailed},
			false, apierr.PreconditionFailed},
		{"not the leader any more", fmt.Errorf("adding n3: %w", raft.ErrNotLeader), 503, apierr.NotLeader, nil, true, apierr.NotLeader},
		{"leadership lost", raft.ErrLeadershipLost, 503, apierr.NotLeader, nil, true, apierr.NotLeader},
		{"no leader", fmt.Errorf("%w: %w", ErrNoLeader, errTermChanged), 503, apierr.NotLeader, nil, true, apierr.NotLeader},
		{"shutting down", raft.ErrRaftShutdown, 503, apierr.Unavailable, nil, true, apierr.NotLeader},
		{"enqueue timeout", raft.ErrEnqueueTimeout, 504, apierr.Timeout, nil, false, apierr.Timeout},
		{"internal", errors.New("unexpected apply response"), 500, apierr.Internal, nil, false, apierr.Internal},
		{"unauthorised", apierr.Errorf(apierr.Unauthorized, "missing or wrong admin token"), 401, apierr.Unauthorized, nil, false, apierr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wire *httptest.ResponseRecorder
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				wire = httptest.NewRecorder()
				writePeerResult(wire, Result{}, tt.leader)
				for k, v := range wire.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(wire.Code)
				w.Write(wire.Body.Bytes())
			}))
			defer srv.Close()
			s := &Store{cfg: Config{Token: "t"}, client: srv.Client()}
			err := s.call(context.Background(), srv.URL, http.MethodPost, "/v1/internal/apply", struct{}{}, nil)

			got, _ := apierr.Decode(wire.Code, wire.Body.Bytes())
			if wire.Code != tt.status || got.Code != tt.code {
				t.Errorf("on the wire: %d %s; want %d %s", wire.Code, wire.Body, tt.status, tt.code)
			}
			var ref *Refusal
			switch {
			case tt.refusal != nil && (!errors.As(err, &ref) || *ref != *tt.refusal):
				t.Errorf("caller got %#v, want %#v", err, tt.refusal)
			case tt.refusal == nil && errors.As(err, &ref):
				t.Errorf("caller got a refusal: %v", err)
			}
			if retryable(err) != tt.retryable {
				t.Errorf("caller got %v: retryable %v, want %v", err, retryable(err), tt.retryable)
			}
			if e := apierr.From(classify(err)); e.Code != tt.final {
				t.Errorf("caller answers %v as %s, want %s", err, e.Code, tt.final)
			}
		})
	}
}

// A peer that answers something other than the error shape (a proxy, a
// node still starting) is still understood by its status.
func TestPeerErrorNotInTheShape(t *testing.T) {
	for _, tt := range []struct {
		status    int
		body      string
		retryable bool
		want      string
	}{
		{503, "starting\n", true, "starting"},
		{502, "<html>bad gateway</html>", false, "bad gateway"},
	} {
		err := peerError("http://m:7070", "/v1/internal/apply", tt.status, []byte(tt.body))
		if retryable(err) != tt.retryable || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%d %q: %v (retryable %v)", tt.status, tt.body, err, retryable(err))
		}
	}
}
