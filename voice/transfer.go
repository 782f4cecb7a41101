package voice

import (
	"context"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// Blind transfer of an operator's call with B2BUA re-bridging (issue
// 15.5, part). The console commits call.transfer{agent, target}; on the
// engine's call.transfer_started (kind T) for a call this leader holds,
// the agent's leg gets BYE and the target extension's phones ring by its
// ring plan, offered the caller's original SDP. The first answer commits
// call.remote_answer (the engine: transferred, the call now talks on
// that extension) and the caller is re-INVITEd with the answering
// phone's SDP: caller and target are bridged, Tandem a B2BUA in
// signalling. When every wave rang out with a busy phone,
// call.remote_busy (the engine puts the caller on hold with the
// operator or in the personal queue); unanswered, the engine's
// auto-return timer decides. A REFER from the agent's phone within its
// leg (Refer-To: an extension) is the same transfer: committed as
// call.transfer{agent, target}, answered 202, and the phone gets its
// NOTIFY (message/sipfrag "SIP/2.0 200 OK", subscription terminated)
// before its leg's BYE; refused, NOTIFY 603 and the call stays.

// blindTransfer releases the agent's leg and rings the target.
func (s *Server) blindTransfer(c *call, target string, chain bool) {
	c.mu.Lock()
	if c.ended || !c.answered || c.picker != nil {
		c.mu.Unlock()
		return
	}
	leg, notify := c.leg, c.referDone
	c.leg, c.agent, c.transferTo, c.transferred, c.referDone, c.chain = nil, "", target, false, nil, chain
	c.requeued = false
	c.mu.Unlock()
	if notify != nil {
		notify(sip.StatusOK)
	}
	if leg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := leg.Bye(ctx); err != nil {
			s.log.Info("SIP: releasing a transferred call's agent leg", "call", c.id, "err", err)
		}
		cancel()
	}
	s.ringTarget(c, "xfer:"+target, target)
}

// transferAnswered commits the target's answer and re-bridges the caller.
func (s *Server) transferAnswered(c *call, leg *sipgo.DialogClientSession, target string) int {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	_, err := s.cfg.Store.Propose(ctx, contactcenter.TypeCallRemoteAnswer, contactcenter.CallRequest{Call: c.id},
		cluster.WithKey("voice:transfer-answer:"+c.id+":"+target))
	cancel()
	if err != nil {
		s.log.Info("SIP: transfer answer not committed; ending the call", "call", c.id, "err", err)
		go s.endCall(c, "")
		return sip.StatusServiceUnavailable
	}
	if _, err := s.reofferCaller(c, leg.InviteResponse.Body()); err != nil {
		s.log.Info("SIP: re-bridging a transferred call", "call", c.id, "err", err)
		go s.endCall(c, "caller")
		return sip.StatusInternalServerError
	}
	s.metrics.calls.WithLabelValues("transferred").Inc()
	return sip.StatusOK
}

// transferUnanswered reports a transfer whose waves all rang out.
func (s *Server) transferUnanswered(ctx context.Context, c *call, busy bool) {
	c.mu.Lock()
	target := c.transferTo
	pending := target != "" && !c.ended
	c.mu.Unlock()
	if !pending || ctx.Err() != nil {
		return
	}
	if s.campedOn(c.id) {
		// Camp-on: the engine keeps the caller waiting on the target
		// until it answers or the auto-return limit brings the call back
		// to the operator; the target is rung again after a pause.
		go s.campOnRetry(c, target)
		return
	}
	if busy {
		s.commitAsync("voice:transfer-busy:"+c.id, contactcenter.TypeCallRemoteBusy, contactcenter.CallRequest{Call: c.id})
	}
}

// campOnRetry is how long a camped-on call waits before its target is
// rung again.
const campOnRetry = 3 * time.Second

// campedOn reports whether the engine has the call camped on its target.
func (s *Server) campedOn(id string) bool {
	camped := false
	s.cfg.Engine.View(func(st *contactcenter.State) {
		cl := st.Calls[id]
		camped = cl != nil && cl.Place == contactcenter.PlaceSupervised && cl.Kind == contactcenter.KindCampOn
	})
	return camped
}

// campOnRetry rings a camped-on call's target again, while the engine
// still has it camped there.
func (s *Server) campOnRetry(c *call, target string) {
	select {
	case <-time.After(campOnRetry):
	case <-c.done:
		return
	}
	c.mu.Lock()
	same := c.transferTo == target && !c.ended
	c.mu.Unlock()
	if same && s.campedOn(c.id) {
		s.ringTarget(c, "xfer:"+target, target)
	}
}

// handleRefer takes an agent's REFER within its leg: a blind transfer.
func (s *Server) handleRefer(req *sip.Request, tx sip.ServerTransaction) {
	id := req.CallID().Value()
	c, isLeg := s.calls.match(id)
	var leg *sipgo.DialogClientSession
	agent := ""
	if c != nil && isLeg {
		c.mu.Lock()
		leg, agent = c.leg, c.agent
		c.mu.Unlock()
	}
	if leg == nil || agent == "" || leg.InviteRequest.CallID().Value() != id {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	h := req.GetHeader("Refer-To")
	var uri sip.Uri
	if h == nil {
		s.respond(req, tx, sip.StatusBadRequest, "Missing Refer-To")
		return
	}
	if _, err := sip.ParseAddressValue(h.Value(), &uri, nil); err != nil {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Refer-To")
		return
	}
	if replacesOf(uri) {
		// An attended transfer the phone made itself (its own consult
		// call, then REFER with Replaces): not supported — the console's
		// consult/complete does it (operator.go). Refused, the call stays.
		s.respond(req, tx, sip.StatusNotImplemented, "Attended Transfer By Replaces Not Supported")
		return
	}
	target, ok := extensionOf(uri)
	if !ok || !s.configuredExtension(target) {
		s.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return
	}
	notify := func(code int) {
		reason := "OK"
		if code != sip.StatusOK {
			reason = "Decline"
		}
		ct := leg.InviteResponse.Contact()
		if ct == nil {
			return
		}
		n := sip.NewRequest(sip.NOTIFY, *ct.Address.Clone())
		n.AppendHeader(sip.NewHeader("Event", "refer"))
		n.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
		n.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
		n.SetBody([]byte("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := leg.Do(ctx, n); err != nil {
			s.log.Info("SIP: NOTIFY of a REFER", "call", c.id, "err", err)
		}
	}
	s.respond(req, tx, sip.StatusAccepted, "Accepted")
	c.mu.Lock()
	c.referDone = notify
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	_, err := s.cfg.Store.Propose(ctx, contactcenter.TypeCallTransfer, contactcenter.TransferRequest{Agent: agent, Target: target},
		cluster.WithKey("voice:refer:"+id+":"+req.CSeq().Value()))
	cancel()
	if err != nil {
		c.mu.Lock()
		pending := c.referDone != nil
		c.referDone = nil
		c.mu.Unlock()
		s.log.Info("SIP: REFER not committed", "call", c.id, "err", err)
		if pending {
			notify(sip.StatusGlobalDecline)
		}
	}
}

// replacesOf reports whether a Refer-To URI carries a Replaces header
// (RFC 3891: an attended transfer by the phone).
func replacesOf(uri sip.Uri) bool {
	if uri.Headers == nil {
		return false
	}
	for _, k := range []string{"Replaces", "replaces"} {
		if _, ok := uri.Headers.Get(k); ok {
			return true
		}
	}
	return false
}
