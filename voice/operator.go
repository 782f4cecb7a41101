package voice

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// Operator operations with real phones (issue 15.5), by B2BUA
// re-bridging driven by the engine's events; the engine decides every
// move, the edge only re-points the SIP dialogs it holds.
//
//   - Back to an operator. When the engine puts a confirmed call back in
//     a queue (call.queued: a park or a transfer ran out its time, a
//     chain's target hung up, a busy transfer with the operator not
//     free) the call is "requeued": the leg it had is released (BYE),
//     ringing stops, and the next phone to answer an offer of it is
//     bridged by re-INVITEing the caller with that phone's SDP
//     (call.answer committed). A busy transfer that puts the caller on
//     hold on the operator's free line 1 (call.transfer_busy, to hold)
//     rings the operator's phones at once; their answer commits
//     call.retrieve. A call the operator retrieves from supervision or
//     the personal queue in the console rings the operator's phones the
//     same way. So a caller is never left on hold with nobody ringing.
//   - Chain. A chained transfer rings its target like a blind one; when
//     the target's phone hangs up (its BYE) the caller stays and
//     call.remote_hangup{side: target} is committed: the engine brings
//     the call back to the operator (above).
//   - Attended transfer. call.consult rings the target's phones with
//     the operator's phone's SDP; the answer commits call.remote_answer
//     of the consultation and the operator's phone is re-INVITEd with
//     the target's SDP (operator and target talk; the caller, held in
//     the engine, keeps its dialog). call.complete (call.transferred
//     attended, or call.connected of a chain) releases the operator's
//     leg, re-INVITEs the caller with the target's SDP and the target
//     with the caller's answer. A consultation that ends otherwise
//     (cancelled, the target hung up) releases the target's leg and
//     re-INVITEs the operator's phone with the caller's SDP.
//   - Couple. call.couple joins the operator's call with a parked one:
//     the operator's leg is released, each caller is re-INVITEd with the
//     other's SDP; re-INVITEs are relayed between them, a BYE ends both
//     (the engine ends the peer).

// requeue marks a confirmed call as waiting for a new peer: its leg and
// any ringing are released. It runs inside Publish (the offer that
// follows in the same batch must see the call requeued).
func (s *Server) requeue(c *call) {
	c.mu.Lock()
	if c.ended || !c.answered || c.picker != nil || c.peer != nil {
		c.mu.Unlock()
		return
	}
	leg := c.leg
	var cons *sipgo.DialogClientSession
	if c.consult != nil {
		cons = c.consult.leg
		s.calls.dropConsult(c.consult.id)
		c.consult = nil
	}
	c.leg, c.agent, c.transferTo, c.transferred, c.chain, c.requeued = nil, "", "", false, false, true
	for k, cancel := range c.ringing {
		cancel()
		delete(c.ringing, k)
	}
	c.mu.Unlock()
	s.metrics.calls.WithLabelValues("requeued").Inc()
	go s.bye(c, leg, cons)
}

// bye releases legs (nil ones skipped).
func (s *Server) bye(c *call, legs ...*sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, l := range legs {
		if l == nil {
			continue
		}
		if err := l.Bye(ctx); err != nil {
			s.log.Info("SIP: releasing a leg", "call", c.id, "err", err)
		}
	}
}

// ringOperator rings an operator's phones for a requeued call the
// engine put on their line (a busy transfer held on line 1, a retrieval
// from the console).
func (s *Server) ringOperator(c *call, agent string) {
	go func() {
		ext := ""
		s.cfg.Engine.View(func(st *contactcenter.State) {
			if cl := st.Calls[c.id]; cl != nil && cl.Place == contactcenter.PlaceLine && cl.Agent == agent {
				ext = st.Config.Agents[agent].Extension
			}
		})
		if ext != "" {
			s.ringTarget(c, agent, ext)
		}
	}()
}

// reofferAnswered commits an operator's phone answering a requeued call
// and bridges the caller to it.
func (s *Server) reofferAnswered(c *call, leg *sipgo.DialogClientSession, agent string) int {
	typ, payload := contactcenter.TypeCallAnswer, any(map[string]string{"agent": agent})
	onLine := false
	s.cfg.Engine.View(func(st *contactcenter.State) {
		cl := st.Calls[c.id]
		if cl != nil && cl.Place == contactcenter.PlaceLine && cl.Agent == agent {
			onLine = true
			if cl.State == contactcenter.CallHeld {
				typ, payload = contactcenter.TypeCallRetrieve, contactcenter.RetrieveRequest{Agent: agent}
			}
		}
	})
	var err error
	if !onLine || typ == contactcenter.TypeCallRetrieve {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
		_, err = s.cfg.Store.Propose(ctx, typ, payload,
			cluster.WithKey("voice:reoffer:"+c.id+":"+leg.InviteRequest.CallID().Value()))
		cancel()
	}
	if err != nil {
		s.log.Info("SIP: a returned call's answer not committed; releasing the phone", "call", c.id, "agent", agent, "err", err)
		c.mu.Lock()
		if c.leg == leg {
			c.leg, c.agent, c.requeued = nil, "", true
		}
		c.mu.Unlock()
		s.bye(c, leg)
		return sip.StatusServiceUnavailable
	}
	if _, err := s.reofferCaller(c, leg.InviteResponse.Body()); err != nil {
		s.log.Info("SIP: re-bridging a returned call", "call", c.id, "err", err)
		go s.endCall(c, "caller")
		return sip.StatusInternalServerError
	}
	s.metrics.calls.WithLabelValues("reoffered").Inc()
	return sip.StatusOK
}

// chainBack takes the BYE of a chained call's target: the caller stays,
// the engine brings the call back to the operator.
func (s *Server) chainBack(c *call, legID string) {
	c.mu.Lock()
	c.leg, c.transferred, c.chain = nil, false, false
	c.mu.Unlock()
	s.commitAsync("voice:chain-back:"+c.id+":"+legID, contactcenter.TypeCallRemoteHangup,
		contactcenter.RemoteHangupRequest{Call: c.id, Side: "target"})
}

// couple bridges the operator's call c with the parked call p.
func (s *Server) couple(c, p *call) {
	c.mu.Lock()
	leg := c.leg
	ok := !c.ended && c.answered
	if ok {
		c.leg, c.agent, c.peer = nil, "", p
	}
	c.mu.Unlock()
	p.mu.Lock()
	ok = ok && !p.ended && p.answered
	if ok {
		p.leg, p.agent, p.requeued, p.peer = nil, "", false, c
	}
	p.mu.Unlock()
	s.bye(c, leg)
	if !ok {
		return
	}
	answer, err := s.reofferCaller(c, p.sdp)
	if err == nil {
		_, err = s.reofferCaller(p, answer)
	}
	if err != nil {
		s.log.Info("SIP: coupling two calls", "call", c.id, "with", p.id, "err", err)
		go s.endCall(c, "")
		go s.endCall(p, "")
		return
	}
	s.metrics.calls.WithLabelValues("coupled").Inc()
}

// dialog is what a re-INVITE needs of a client or server dialog.
type dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
}

// reinvite sends a re-INVITE with sdp within d to target and ACKs a
// success; it returns the answer's SDP.
func reinvite(d dialog, target *sip.ContactHeader, sdp []byte) ([]byte, error) {
	if target == nil {
		return nil, errors.New("the dialog has no Contact")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := sip.NewRequest(sip.INVITE, *target.Address.Clone())
	out.SetBody(sdp)
	out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res, err := d.Do(ctx, out)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, errors.New("re-INVITE answered " + res.StartLine())
	}
	if err := d.WriteRequest(sip.NewRequest(sip.ACK, *target.Address.Clone())); err != nil {
		return nil, err
	}
	return res.Body(), nil
}

// waitsForPhone reports whether a call the operator retrieved (from:
// hold, supervision, personal) has no phone of theirs to talk on: a
// parked or returned call, or one held after a busy transfer.
func (c *call) waitsForPhone(from string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || !c.answered || c.picker != nil || c.peer != nil {
		return false
	}
	return c.requeued || (from != "hold" && c.leg == nil) || c.transferTo != ""
}
