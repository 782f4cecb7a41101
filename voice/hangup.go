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
		c.mu.Lock()
		leg := c.leg
		c.mu.Unlock()
		if leg == nil {
			return false
		}
		err, side = leg.ReadBye(req, tx), "agent"
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
	c.mu.Unlock()
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
	switch {
	case by == "caller" && !wasEnded:
		s.commitAsync("voice:bye:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	case by == "picker" && !wasEnded, by == "agent" && !wasEnded && (c.direct != "" || transferred):
		s.commitAsync("voice:bye:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "target"})
	case by == "agent" && !wasEnded:
		s.commitAsync("voice:bye:"+c.id, contactcenter.TypeCallHangup, map[string]any{"agent": agent})
	}
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

// commitAsync commits what the network did, retrying with the same key
// until it is committed or refused (bounded).
func (s *Server) commitAsync(key, typ string, payload any) {
	go func() {
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
	}()
}
