package voice

import (
	"context"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// Attended transfer from the console (issue 15.5; operator.go has the
// overview): call.consult rings the target with the operator's phone's
// SDP, its answer re-points the operator's phone; call.complete
// re-bridges the caller with the target; any other end of the
// consultation gives the operator's phone the caller back.

// consultKey prefixes the ring key of a consultation's target.
const consultKey = "consult:"

// consult is the line-2 consultation of an attended transfer.
type consult struct {
	id, agent, target string
	leg               *sipgo.DialogClientSession // the target's, once answered
}

// startConsult rings a consultation's target for the operator's call c.
func (s *Server) startConsult(c *call, ev contactcenter.ConsultEvent) {
	c.mu.Lock()
	if c.ended || c.leg == nil || c.consult != nil {
		c.mu.Unlock()
		s.log.Info("SIP: a consultation without the operator's phone on the call", "call", c.id)
		return
	}
	c.consult = &consult{id: ev.Call, agent: ev.Agent, target: ev.Target}
	c.mu.Unlock()
	s.calls.addConsult(ev.Call, c)
	s.ringTarget(c, consultKey+ev.Target, ev.Target)
}

// consultOffer is what the consultation's target is offered: the
// operator's phone's SDP.
func (s *Server) consultOffer(c *call) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leg == nil || c.leg.InviteResponse == nil {
		return c.sdp
	}
	return c.leg.InviteResponse.Body()
}

// consultAnswered commits the target's answer and points the operator's
// phone at it.
func (s *Server) consultAnswered(c *call, leg *sipgo.DialogClientSession) int {
	c.mu.Lock()
	cons, agentLeg := c.consult, c.leg
	c.mu.Unlock()
	if cons == nil {
		s.bye(c, leg)
		return sip.StatusRequestTerminated
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	_, err := s.cfg.Store.Propose(ctx, contactcenter.TypeCallRemoteAnswer, contactcenter.CallRequest{Call: cons.id},
		cluster.WithKey("voice:consult-answer:"+cons.id))
	cancel()
	if err != nil {
		s.log.Info("SIP: consultation answer not committed; releasing the target", "call", cons.id, "err", err)
		c.mu.Lock()
		if c.consult == cons {
			cons.leg = nil
		}
		c.mu.Unlock()
		s.bye(c, leg)
		return sip.StatusServiceUnavailable
	}
	if agentLeg != nil {
		if _, err := reinvite(agentLeg, agentLeg.InviteResponse.Contact(), leg.InviteResponse.Body()); err != nil {
			s.log.Info("SIP: pointing the operator's phone at the consulted target", "call", c.id, "err", err)
		}
	}
	s.metrics.calls.WithLabelValues("consulted").Inc()
	return sip.StatusOK
}

// consultUnanswered reports a consultation whose waves rang out busy.
func (s *Server) consultUnanswered(ctx context.Context, c *call, busy bool) {
	c.mu.Lock()
	cons := c.consult
	pending := cons != nil && cons.leg == nil && !c.ended
	c.mu.Unlock()
	if !pending || ctx.Err() != nil || !busy {
		return
	}
	s.commitAsync("voice:consult-busy:"+cons.id, contactcenter.TypeCallRemoteBusy, contactcenter.CallRequest{Call: cons.id})
}

// consultEnded ends a consultation the engine ended other than by
// completing it: the target's leg is released and the operator's phone
// gets the caller back.
func (s *Server) consultEnded(c *call, id string) {
	c.mu.Lock()
	cons := c.consult
	if cons == nil || cons.id != id {
		c.mu.Unlock()
		return
	}
	c.consult = nil
	if cancel := c.ringing[consultKey+cons.target]; cancel != nil {
		cancel()
		delete(c.ringing, consultKey+cons.target)
	}
	agentLeg, sdp := c.leg, c.sdp
	c.mu.Unlock()
	s.calls.dropConsult(id)
	if cons.leg == nil {
		return
	}
	s.bye(c, cons.leg)
	if agentLeg != nil {
		if _, err := reinvite(agentLeg, agentLeg.InviteResponse.Contact(), sdp); err != nil {
			s.log.Info("SIP: giving the operator's phone the caller back", "call", c.id, "err", err)
			return
		}
	}
	s.metrics.calls.WithLabelValues("consult_ended").Inc()
}

// consultBye takes the consulted target's BYE.
func (s *Server) consultBye(c *call, req *sip.Request, tx sip.ServerTransaction) bool {
	c.mu.Lock()
	cons := c.consult
	c.mu.Unlock()
	if cons == nil || cons.leg == nil || cons.leg.InviteRequest.CallID().Value() != req.CallID().Value() {
		return false
	}
	if cons.leg.ReadBye(req, tx) != nil {
		return false
	}
	c.mu.Lock()
	if c.consult == cons {
		// The engine's call.ended of the consultation gives the operator
		// the caller back; the leg is gone already.
		c.consult = &consult{id: cons.id, agent: cons.agent, target: cons.target}
	}
	c.mu.Unlock()
	s.commitAsync("voice:consult-bye:"+cons.id, contactcenter.TypeCallRemoteHangup,
		contactcenter.RemoteHangupRequest{Call: cons.id, Side: "target"})
	// Without a leg consultEnded would not re-point the operator's phone.
	go func() {
		c.mu.Lock()
		agentLeg := c.leg
		c.mu.Unlock()
		if agentLeg != nil {
			if _, err := reinvite(agentLeg, agentLeg.InviteResponse.Contact(), c.sdp); err != nil {
				s.log.Info("SIP: giving the operator's phone the caller back", "call", c.id, "err", err)
			}
		}
	}()
	return true
}

// completeConsult bridges the caller with the consulted target (an
// attended transfer, or a chain when chain).
func (s *Server) completeConsult(c *call, chain bool) {
	c.mu.Lock()
	cons := c.consult
	if cons == nil || cons.leg == nil || c.ended {
		c.mu.Unlock()
		return
	}
	agentLeg := c.leg
	c.consult = nil
	c.leg, c.agent, c.transferred, c.chain = cons.leg, "", true, chain
	c.mu.Unlock()
	s.calls.dropConsult(cons.id)
	s.bye(c, agentLeg)
	answer, err := s.reofferCaller(c, cons.leg.InviteResponse.Body())
	if err == nil {
		_, err = reinvite(cons.leg, cons.leg.InviteResponse.Contact(), answer)
	}
	if err != nil {
		s.log.Info("SIP: bridging an attended transfer", "call", c.id, "err", err)
		go s.endCall(c, "")
		return
	}
	s.metrics.calls.WithLabelValues("transferred").Inc()
}

// consulting reports whether a consultation's target answered.
func (c *call) consulting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consult != nil && c.consult.leg != nil
}
