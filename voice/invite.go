package voice

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// queueOf maps a request-URI to a configured queue: its user part is the
// queue's ID.
func (s *Server) queueOf(u sip.Uri) (string, bool) {
	if u.User == "" || len(u.User) > contactcenter.MaxIDLen {
		return "", false
	}
	found := false
	s.cfg.Engine.View(func(st *contactcenter.State) {
		_, found = st.Config.Queues[u.User]
	})
	return u.User, found
}

// trusted reports whether a request comes from a trusted gateway.
func (s *Server) trusted(req *sip.Request) bool {
	src := req.Source()
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return false
	}
	for _, p := range s.cfg.Trusted {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// handleInvite takes a new INVITE (a re-INVITE within a call is relayed:
// reinvite.go).
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction, release func()) {
	if req.To() != nil {
		if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
			if req.CallID() == nil {
				release()
				s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
				return
			}
			s.handleReinvite(req, tx)
			return
		}
	}
	if req.From() == nil || req.CallID() == nil || req.CSeq() == nil || req.Contact() == nil {
		release()
		s.metrics.malformed.WithLabelValues("rejected").Inc()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	if strings.HasPrefix(req.Recipient.User, contactcenter.ParkPickupPrefix) {
		s.handlePickup(req, tx, release)
		return
	}
	queue, ok := s.queueOf(req.Recipient)
	direct := ""
	if !ok {
		if ext, isExt := extensionOf(req.Recipient); isExt && s.configuredExtension(ext) {
			direct = ext
		} else {
			release()
			s.respond(req, tx, sip.StatusNotFound, "Not Found")
			return
		}
	}
	if _, ok := s.authorizeInvite(req, tx, release); !ok {
		return
	}
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		release()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	c := &call{id: engineCallID(req), direct: direct, caller: dlg, sdp: req.Body(), from: *req.From(), ringing: map[string]context.CancelFunc{}, done: make(chan struct{})}
	if !s.calls.add(c, req.CallID().Value()) {
		release()
		c.respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, sip.NewHeader("Retry-After", "5"))
		return
	}
	defer s.calls.remove(c)
	c.respond(sip.StatusTrying, "Trying", nil)
	number := req.From().Address.User
	name := req.From().DisplayName
	in := contactcenter.IncomingRequest{Call: c.id, Number: clip(number, contactcenter.MaxNumberLen), Name: clip(name, contactcenter.MaxNameLen), Queue: queue,
		Edge: callerEdge(dlg.InviteRequest)}
	if direct != "" {
		in.Queue, in.Extension = "", direct
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	_, err = s.cfg.Store.Propose(ctx, contactcenter.TypeCallIncoming, in, cluster.WithKey("voice:incoming:"+c.id))
	cancel()
	release() // the call now waits: it no longer counts as a request in progress
	if err != nil {
		var ref *cluster.Refusal
		if errors.As(err, &ref) {
			s.log.Info("SIP: call refused by the engine", "call", c.id, "queue", queue, "extension", direct, "err", err)
			c.respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		} else {
			c.respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, sip.NewHeader("Retry-After", "5"))
		}
		return
	}
	s.metrics.calls.WithLabelValues("queued").Inc()
	c.respond(sip.StatusRinging, "Ringing", nil)
	// The offer may have come with the commit (an agent was free): ring
	// now if the engine already offered it.
	s.ringOffered(c)

	select {
	case <-dlg.Context().Done():
	case <-c.done:
	}
	c.mu.Lock()
	answered, ended := c.answered, c.ended
	if !answered {
		// An answered call is ended by endCall (a BYE, the engine), which
		// commits the hang-up: marking it ended here would race with it.
		c.ended = true
		for _, cancel := range c.ringing {
			cancel()
		}
	}
	c.mu.Unlock()
	if !answered && !ended {
		// The caller went away (CANCEL: sipgo answered 487) before an
		// agent answered: abandoned.
		s.metrics.calls.WithLabelValues("abandoned").Inc()
		s.commitAsync("voice:caller-gone:"+c.id, contactcenter.TypeCallRemoteHangup,
			contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	}
	// Answered calls end by a BYE (handleBye) or by the engine
	// (call.ended): wait for that before the handler returns.
	if answered {
		select {
		case <-c.done:
		case <-time.After(12 * time.Hour):
		}
	}
}

// authorizeInvite lets a trusted gateway's INVITE through (ext "") and
// checks a phone's digest credentials (ext: the phone's extension);
// otherwise it answers 401 or 403 and reports false.
func (s *Server) authorizeInvite(req *sip.Request, tx sip.ServerTransaction, release func()) (ext string, ok bool) {
	if s.trusted(req) {
		return "", true
	}
	authz := ""
	if h := req.GetHeader("Authorization"); h != nil {
		authz = h.Value()
	}
	_, err := s.auth.verify(authz, string(req.Method), req.Recipient, func(user string) []string {
		e, p, ok := contactcenter.ParseSIPUser(user)
		if !ok {
			return nil
		}
		ext = e
		return s.cfg.Engine.PhonePasswords(e, p)
	})
	if err == nil {
		return ext, true
	}
	release()
	var ae *authError
	errors.As(err, &ae)
	if ae != nil && ae.Reason != "missing" {
		s.metrics.authFailures.WithLabelValues(ae.Reason).Inc()
	}
	if ae != nil && (ae.Reason == "wrong" || ae.Reason == "unknown_user" || ae.Reason == "replay") {
		s.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return "", false
	}
	if ae != nil && ae.Reason == "uri" {
		s.respond(req, tx, sip.StatusBadRequest, "Digest URI Mismatch")
		return "", false
	}
	s.challenge(req, tx, ae != nil && ae.Stale)
	return "", false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ringOffered rings the agents the engine offers the call to now, if it
// does (the call.offered event of call.incoming's own commit may have
// been published before the call was indexed).
func (s *Server) ringOffered(c *call) {
	var agents []string
	ringsExt := false
	s.cfg.Engine.View(func(st *contactcenter.State) {
		if cl := st.Calls[c.id]; cl != nil && cl.Place == contactcenter.PlaceRinging {
			agents = append(agents, cl.Offered...)
		} else if cl != nil && cl.Place == contactcenter.PlaceExtension && cl.State == contactcenter.CallRinging {
			ringsExt = true
		}
	})
	for _, a := range agents {
		s.ring(c, a)
	}
	if ringsExt && c.direct != "" {
		s.ringTarget(c, "ext:"+c.direct, c.direct)
	}
}
