package voice

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// handleBye ends both legs of a call whose leg the BYE belongs to.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) bool {
	c, isLeg := s.calls.match(req.CallID().Value())
	if c == nil {
		return false
	}
	var err error
	side := "caller"
	if picker := c.pickerOf(req); picker != nil {
		err, side = picker.ReadBye(req, tx), "picker"
	} else if isLeg {
		if s.consultBye(c, req, tx) {
			return true
		}
		c.mu.Lock()
		leg, chained := c.leg, c.chain && c.transferred
		c.mu.Unlock()
		if leg == nil || leg.InviteRequest.CallID().Value() != req.CallID().Value() {
			return false
		}
		if err := leg.ReadBye(req, tx); err != nil {
			return false
		}
		if chained { // a chain's target hung up: the caller goes back to the operator
			s.chainBack(c, req.CallID().Value())
			return true
		}
		s.endCall(c, "agent")
		return true
	} else {
		err = c.caller.ReadBye(req, tx)
	}
	if err != nil {
		return false
	}
	s.endCall(c, side)
	return true
}

// handleAck confirms the caller's dialog.
func (s *Server) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil {
		return
	}
	if c, isLeg := s.calls.match(req.CallID().Value()); c != nil && !isLeg {
		c.caller.ReadAck(req, tx)
	} else if c != nil {
		if picker := c.pickerOf(req); picker != nil {
			picker.ReadAck(req, tx)
		}
	}
}

// endCall tears a call down: by is the side that hung up ("caller",
// "agent", "picker") or "" when the engine ended it. The other legs get BYE and
// the hang-up is committed.
func (s *Server) endCall(c *call, by string) {
	c.mu.Lock()
	if c.ended && by == "" {
		c.mu.Unlock()
		return
	}
	wasEnded := c.ended
	c.ended = true
	answered, agent, leg, picker, transferred := c.answered, c.agent, c.leg, c.picker, c.transferred
	for _, cancel := range c.ringing {
		cancel()
	}
	// A consultation in progress ends with the call: its target's leg
	// is released and its end committed first (the engine then ends the
	// caller's line as the hang-up says, not the consultation).
	cons := c.consult
	c.consult = nil
	c.mu.Unlock()
	var first func()
	if cons != nil {
		s.calls.dropConsult(cons.id)
		s.bye(c, cons.leg)
		first = func() {
			s.commitRetry("voice:consult-end:"+cons.id, contactcenter.TypeCallRemoteHangup,
				contactcenter.RemoteHangupRequest{Call: cons.id, Side: "target"})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if by != "agent" && leg != nil {
		leg.Bye(ctx)
	}
	if by != "picker" && picker != nil {
		picker.Bye(ctx)
	}
	if by != "caller" && answered {
		c.caller.Bye(ctx)
	}
	if !answered && by == "" {
		c.respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
	}
	var then func()
	switch {
	case by == "caller" && !wasEnded:
		then = func() {
			s.commitRetry("voice:bye:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
		}
	case by == "picker" && !wasEnded, by == "agent" && !wasEnded && (c.direct != "" || transferred):
		then = func() {
			s.commitRetry("voice:bye:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "target"})
		}
	case by == "agent" && !wasEnded:
		then = func() {
			s.commitRetry("voice:bye:"+c.id, contactcenter.TypeCallHangup, map[string]any{"agent": agent, "line": 1})
		}
	}
	if first != nil || then != nil {
		go func() {
			for _, f := range []func(){first, then} {
				if f != nil {
					f()
				}
			}
		}()
	}
	c.closeDone()
}

// commitAsync commits what the network did, retrying with the same key
// until it is committed or refused (bounded).
func (s *Server) commitAsync(key, typ string, payload any) {
	go s.commitRetry(key, typ, payload)
}

// commitRetry is commitAsync's blocking body.
func (s *Server) commitRetry(key, typ string, payload any) {
	for try := 0; try < 5; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
		_, err := s.cfg.Store.Propose(ctx, typ, payload, cluster.WithKey(key))
		cancel()
		var ref *cluster.Refusal
		if err == nil || errors.As(err, &ref) {
			if err != nil {
				s.log.Info("SIP: engine refused", "type", typ, "err", err)
			}
			return
		}
		time.Sleep(time.Second)
	}
	s.log.Warn("SIP: not committed after retries", "type", typ)
}
