package voice

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// Directed park and its retrieval with real phones (issue 15.5). When an
// operator parks a SIP call onto an extension (call.park_on, committed by
// the console) the engine emits call.parked: the agent's leg gets a BYE
// (the agent is free) and the caller's dialog stays up, held by this
// leader. Any phone that then dials *55<ext> (an INVITE to
// sip:*55<ext>@…, from a trusted gateway or with its phone's digest
// credentials) commits call.park_pickup{extension, by}; once committed,
// Tandem re-INVITEs the caller with the picker's SDP and answers the
// picker with the caller's answer: the caller and the phone are bridged,
// Tandem still a B2BUA in signalling only. A BYE on either side ends the
// other (call.remote_hangup: side remote for the caller, target for the
// phone).

// pickerOf returns the call's picker dialog when req belongs to it.
func (c *call) pickerOf(req *sip.Request) *sipgo.DialogServerSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.picker == nil || req.CallID() == nil || c.picker.InviteRequest.CallID().Value() != req.CallID().Value() {
		return nil
	}
	return c.picker
}

// parkCall releases the agent's leg of a call the engine parked: the
// caller waits on Tandem's dialog for a *55 retrieval (or the engine's
// park return).
func (s *Server) parkCall(c *call) {
	c.mu.Lock()
	leg := c.leg
	c.leg, c.agent = nil, ""
	c.mu.Unlock()
	if leg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leg.Bye(ctx); err != nil {
		s.log.Info("SIP: releasing a parked call's agent leg", "call", c.id, "err", err)
	}
}

// parkedHere returns the call parked longest on ext whose caller's
// dialog this node holds (the engine's choice for call.park_pickup).
func (s *Server) parkedHere(ext string) *call {
	var best *contactcenter.Call
	s.cfg.Engine.View(func(st *contactcenter.State) {
		for _, cl := range st.Calls {
			if cl.Place != contactcenter.PlaceSupervised || cl.Kind != contactcenter.KindDirectedPark || cl.Target != ext {
				continue
			}
			if best == nil || cl.Since < best.Since || (cl.Since == best.Since && cl.ID < best.ID) {
				cp := *cl
				best = &cp
			}
		}
	})
	if best == nil {
		return nil
	}
	return s.calls.get(best.ID)
}

// handlePickup takes an INVITE to *55<ext>.
func (s *Server) handlePickup(req *sip.Request, tx sip.ServerTransaction, release func()) {
	ext := strings.TrimPrefix(req.Recipient.User, contactcenter.ParkPickupPrefix)
	if len(ext) < 2 || len(ext) > contactcenter.MaxExtensionLen || !isDigits(ext) || !s.configuredExtension(ext) {
		release()
		s.respond(req, tx, sip.StatusNotFound, "Not Found")
		return
	}
	if req.From() == nil || req.CallID() == nil || req.CSeq() == nil || req.Contact() == nil || len(req.Body()) == 0 {
		release()
		s.metrics.malformed.WithLabelValues("rejected").Inc()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	by, ok := s.authorizeInvite(req, tx, release)
	if !ok {
		return
	}
	if by == "" { // a trusted gateway: the caller's number
		by = clip(req.From().Address.User, contactcenter.MaxNumberLen)
	}
	c := s.parkedHere(ext)
	if c == nil {
		release()
		s.respond(req, tx, sip.StatusNotFound, "Nothing Parked")
		return
	}
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		release()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	dlg.Respond(sip.StatusTrying, "Trying", nil)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	_, err = s.cfg.Store.Propose(ctx, contactcenter.TypeCallParkPickup, contactcenter.ParkPickupRequest{Extension: ext, By: by},
		cluster.WithKey("voice:pickup:"+engineCallID(req)))
	cancel()
	release()
	if err != nil {
		var ref *cluster.Refusal
		if errors.As(err, &ref) {
			dlg.Respond(sip.StatusNotFound, "Nothing Parked", nil)
		} else {
			dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, sip.NewHeader("Retry-After", "5"))
		}
		return
	}
	// Re-bridge: the caller gets the picker's offer, the picker the
	// caller's answer.
	answer, err := s.reofferCaller(c, req.Body())
	if err != nil {
		s.log.Info("SIP: re-bridging a retrieved call", "call", c.id, "err", err)
		dlg.Respond(sip.StatusInternalServerError, "Server Internal Error", nil)
		go s.endCall(c, "picker")
		return
	}
	c.mu.Lock()
	ended := c.ended
	if !ended {
		c.picker = dlg
	}
	c.mu.Unlock()
	if ended {
		dlg.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		return
	}
	s.calls.addLeg(c, req.CallID().Value())
	if err := dlg.Respond(sip.StatusOK, "OK", answer, sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		go s.endCall(c, "picker")
		return
	}
	s.metrics.calls.WithLabelValues("retrieved").Inc()
	select {
	case <-c.done:
	case <-time.After(12 * time.Hour):
	}
}

// reofferCaller re-INVITEs the caller with sdp and returns the caller's
// answer (the re-INVITE acknowledged).
func (s *Server) reofferCaller(c *call, sdp []byte) ([]byte, error) {
	target := c.caller.InviteRequest.Contact()
	if target == nil {
		return nil, errors.New("the caller's INVITE has no Contact")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := sip.NewRequest(sip.INVITE, *target.Address.Clone())
	out.SetBody(sdp)
	out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res, err := c.caller.Do(ctx, out)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, errors.New("the caller answered the re-INVITE " + res.StartLine())
	}
	if err := c.caller.WriteRequest(sip.NewRequest(sip.ACK, *target.Address.Clone())); err != nil {
		return nil, err
	}
	return res.Body(), nil
}
