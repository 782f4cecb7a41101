package voice

import (
	"context"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// A re-INVITE within a bridged call (hold and retrieve, a new codec, a
// session refresh) is relayed to the other leg with its SDP, and the
// other side's answer is relayed back: Tandem stays a B2BUA in
// signalling only. It answers 481 for a dialog it does not hold and 491
// while the call is not yet bridged.
func (s *Server) handleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c, isLeg := s.calls.match(req.CallID().Value())
	if c == nil {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	leg, answered, ended, picker, peer := c.leg, c.answered, c.ended, c.picker, c.peer
	c.mu.Unlock()
	if picker != nil && answered && !ended {
		to := picker // the caller re-INVITEs: relayed to the phone
		if picker.InviteRequest.CallID().Value() == req.CallID().Value() {
			to = c.caller
		}
		s.relayReinviteTo(c, to, req, tx)
		return
	}
	if peer != nil && !ended { // coupled: relayed to the other caller
		s.relayReinviteTo(c, peer.caller, req, tx)
		return
	}
	if !answered || ended || leg == nil || leg.InviteResponse == nil {
		s.respond(req, tx, sip.StatusRequestPending, "Request Pending", sip.NewHeader("Retry-After", "1"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var target *sip.ContactHeader
	if isLeg {
		target = c.caller.InviteRequest.Contact()
	} else {
		target = leg.InviteResponse.Contact()
	}
	if target == nil {
		s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	out := sip.NewRequest(sip.INVITE, *target.Address.Clone())
	out.SetBody(req.Body())
	if ct := req.ContentType(); ct != nil {
		out.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
	}
	var res *sip.Response
	var err error
	if isLeg {
		res, err = c.caller.Do(ctx, out)
	} else {
		res, err = leg.Do(ctx, out)
	}
	if err != nil {
		s.log.Info("SIP: relaying a re-INVITE", "call", c.id, "err", err)
		s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, *target.Address.Clone())
		if isLeg {
			err = c.caller.WriteRequest(ack)
		} else {
			err = leg.WriteRequest(ack)
		}
		if err != nil {
			s.log.Info("SIP: acknowledging a relayed re-INVITE", "call", c.id, "err", err)
		}
	}
	back := sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, res.Body())
	if ct := res.ContentType(); ct != nil && len(res.Body()) > 0 {
		back.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
	}
	if res.IsSuccess() {
		back.AppendHeader(sip.HeaderClone(&s.dua.ContactHDR))
	}
	s.metrics.responses.WithLabelValues(strconv.Itoa(res.StatusCode/100) + "xx").Inc()
	if err := tx.Respond(back); err != nil {
		s.log.Debug("SIP: answering a re-INVITE", "err", err)
	}
}

// relayReinviteTo relays a re-INVITE to a server dialog of Tandem's: a
// retrieved call's caller or the phone that picked it up, or the other
// caller of a coupled pair.
func (s *Server) relayReinviteTo(c *call, to *sipgo.DialogServerSession, req *sip.Request, tx sip.ServerTransaction) {
	target := to.InviteRequest.Contact()
	if target == nil {
		s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := sip.NewRequest(sip.INVITE, *target.Address.Clone())
	out.SetBody(req.Body())
	if ct := req.ContentType(); ct != nil {
		out.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
	}
	res, err := to.Do(ctx, out)
	if err != nil {
		s.log.Info("SIP: relaying a re-INVITE", "call", c.id, "err", err)
		s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	if res.IsSuccess() {
		if err := to.WriteRequest(sip.NewRequest(sip.ACK, *target.Address.Clone())); err != nil {
			s.log.Info("SIP: acknowledging a relayed re-INVITE", "call", c.id, "err", err)
		}
	}
	back := sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, res.Body())
	if ct := res.ContentType(); ct != nil && len(res.Body()) > 0 {
		back.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
	}
	if res.IsSuccess() {
		back.AppendHeader(sip.HeaderClone(&s.dua.ContactHDR))
	}
	s.metrics.responses.WithLabelValues(strconv.Itoa(res.StatusCode/100) + "xx").Inc()
	if err := tx.Respond(back); err != nil {
		s.log.Debug("SIP: answering a re-INVITE", "err", err)
	}
}
