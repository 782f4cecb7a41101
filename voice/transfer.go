package voice

import (
	"context"
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
// auto-return timer decides. REFER from a phone is not handled (405).

// blindTransfer releases the agent's leg and rings the target.
func (s *Server) blindTransfer(c *call, target string) {
	c.mu.Lock()
	if c.ended || !c.answered || c.picker != nil {
		c.mu.Unlock()
		return
	}
	leg := c.leg
	c.leg, c.agent, c.transferTo, c.transferred = nil, "", target, false
	c.mu.Unlock()
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
	pending := c.transferTo != "" && !c.ended
	c.mu.Unlock()
	if !pending || ctx.Err() != nil || !busy {
		return
	}
	s.commitAsync("voice:transfer-busy:"+c.id, contactcenter.TypeCallRemoteBusy, contactcenter.CallRequest{Call: c.id})
}
