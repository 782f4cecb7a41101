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

// directUnanswered ends a direct call whose extension's waves all rang
// out or refused and no forward applies (forward.go): busy (486 to the
// caller, call.remote_busy) or not answered (480, the caller's hang-up
// committed).
func (s *Server) directUnanswered(c *call, busy bool) {
	c.mu.Lock()
	if c.answered || c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	if busy {
		c.respond(sip.StatusBusyHere, "Busy Here", nil)
		s.commitAsync("voice:busy:"+c.id, contactcenter.TypeCallRemoteBusy, contactcenter.CallRequest{Call: c.id})
	} else {
		c.respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		s.commitAsync("voice:unanswered:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	}
}

func (c *call) stopRinging(agent string) {
	c.mu.Lock()
	if cancel := c.ringing[agent]; cancel != nil {
		cancel()
		delete(c.ringing, agent)
	}
	c.mu.Unlock()
}

// ring starts ringing an agent's phones for the call (once per offer).
// It does not block: Publish calls it inside the FSM's apply loop.
func (s *Server) ring(c *call, agent string) {
	go func() {
		ext, offered := "", false
		s.cfg.Engine.View(func(st *contactcenter.State) {
			ext = st.Config.Agents[agent].Extension
			if cl := st.Calls[c.id]; cl != nil && cl.Place == contactcenter.PlaceRinging {
				for _, a := range cl.Offered {
					offered = offered || a == agent
				}
			}
		})
		// Still offered to this agent (a withdrawal in the same batch of
		// events may have come first).
		if ext != "" && offered {
			s.ringTarget(c, agent, ext)
		}
	}()
}

// ringTarget rings an extension for the call under key (an agent's ID,
// or "ext:<number>" for a direct call), once at a time.
func (s *Server) ringTarget(c *call, key, ext string) {
	c.mu.Lock()
	if c.settledFor(key) || c.ringing[key] != nil {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.ringing[key] = cancel
	c.mu.Unlock()
	go s.ringWaves(ctx, c, key, ext)
}

// configuredExtension reports whether ext is a configured extension.
func (s *Server) configuredExtension(ext string) bool {
	ok := false
	s.cfg.Engine.View(func(st *contactcenter.State) { _, ok = st.Config.Extensions[ext] })
	return ok
}

// ringWaves rings the agent's extension wave by wave (the engine's ring
// plan): each wave's registered phones in parallel until one answers,
// all fail, or the wave time passes; then the next wave. A busy,
// declining, unanswered or unreachable extension is left to the engine's
// ring timeout (call.no_answer, which counts toward the agent's
// automatic pause): rejecting at once would have the engine offer the
// call straight back to a lone agent, a loop at network speed.
func (s *Server) ringWaves(ctx context.Context, c *call, agent, ext string) {
	defer func() {
		// Cancelled: whoever cancelled removed the entry (or the call
		// ended), and a new ringing may hold the key by now.
		if ctx.Err() == nil {
			c.stopRinging(agent)
		}
	}()
	busy := false
	c.mu.Lock()
	// Only the first ringing of a direct call is forwarded: a transfer,
	// a consultation or a re-offer to an operator rings a confirmed
	// caller's call.
	confirmed := c.answered || c.transferTo != ""
	transfer := c.transferTo != ""
	c.mu.Unlock()
	switch {
	case strings.HasPrefix(agent, consultKey):
		defer func() { s.consultUnanswered(ctx, c, busy) }()
	case transfer:
		defer func() { s.transferUnanswered(ctx, c, busy) }()
	case c.direct != "" && !confirmed && s.forwardDirect(c, ""):
		return
	}
	defer func() {
		if c.direct != "" && !confirmed && !strings.HasPrefix(agent, consultKey) && ctx.Err() == nil {
			cond := contactcenter.ForwardNoAnswer
			if busy {
				cond = contactcenter.ForwardBusy
			}
			if !s.forwardDirect(c, cond) {
				s.directUnanswered(c, busy)
			}
		}
	}()
	plan, err := s.cfg.Engine.RingPlan(ext)
	if err != nil {
		return
	}
	ringCtx := ctx
	if c.direct != "" {
		// A forward on no answer after its own time (no_answer_seconds).
		if secs := s.noAnswerSeconds(c.direct); secs > 0 {
			var cancel context.CancelFunc
			ringCtx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			defer cancel()
		}
	}
	for _, wave := range plan {
		if ringCtx.Err() != nil {
			return
		}
		var contacts []string
		for _, ph := range wave {
			if ct := s.reg.Contact(ext, ph); ct != "" {
				contacts = append(contacts, ct)
			}
		}
		if len(contacts) == 0 {
			continue
		}
		wctx, wcancel := context.WithTimeout(ringCtx, s.cfg.WaveTime)
		results := make(chan int, len(contacts))
		for _, ct := range contacts {
			go func(ct string) { results <- s.branch(wctx, c, agent, ct, wcancel) }(ct)
		}
		for range contacts {
			switch <-results {
			case sip.StatusBusyHere, sip.StatusGlobalBusyEverywhere, sip.StatusGlobalDecline:
				busy = true
			}
		}
		wcancel()
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		done := c.settledFor(agent)
		c.mu.Unlock()
		if done {
			return
		}
	}
}

// branch rings one phone. It returns the final status (200 when it won,
// 487 when cancelled).
func (s *Server) branch(ctx context.Context, c *call, agent, contact string, cancelWave context.CancelFunc) int {
	var uri sip.Uri
	if sip.ParseUri(contact, &uri) != nil {
		return sip.StatusBadRequest
	}
	hdrs := []sip.Header{sip.NewHeader("Content-Type", "application/sdp"),
		sip.NewHeader("From", c.from.Value()), sip.NewHeader("Max-Forwards", "70")}
	offer := c.sdp
	consulting := strings.HasPrefix(agent, consultKey)
	if consulting {
		offer = s.consultOffer(c)
	}
	leg, err := s.dua.Invite(ctx, uri, offer, hdrs...)
	if err != nil {
		s.log.Info("SIP: ringing a phone", "agent", agent, "err", err)
		return sip.StatusServiceUnavailable
	}
	s.calls.addLeg(c, leg.InviteRequest.CallID().Value())
	err = leg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		c.mu.Lock()
		confirmed := c.answered || c.transferTo != "" // nothing more to tell the caller
		c.mu.Unlock()
		if !confirmed && (res.StatusCode == sip.StatusRinging || res.StatusCode == sip.StatusSessionInProgress) {
			var h []sip.Header
			if ct := res.ContentType(); ct != nil && len(res.Body()) > 0 {
				h = append(h, sip.NewHeader("Content-Type", ct.Value()))
			}
			c.respond(res.StatusCode, res.Reason, res.Body(), h...)
		}
		return nil
	}})
	if err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return de.Res.StatusCode
		}
		return sip.StatusRequestTerminated
	}
	c.mu.Lock()
	won := !c.settledFor(agent)
	xfer, requeued := c.transferTo, c.requeued
	switch {
	case won && consulting:
		c.consult.leg = leg
	case won && xfer != "":
		c.leg, c.agent, c.transferTo, c.transferred = leg, "", "", true
	case won && requeued:
		c.requeued, c.agent, c.leg = false, agent, leg
	case won:
		c.answered, c.agent, c.leg = true, agent, leg
	}
	c.mu.Unlock()
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	leg.Ack(bctx)
	if !won {
		leg.Bye(bctx)
		return sip.StatusRequestTerminated
	}
	cancelWave() // the other phones of the wave get CANCEL
	switch {
	case consulting:
		return s.consultAnswered(c, leg)
	case xfer != "":
		return s.transferAnswered(c, leg, xfer)
	case requeued:
		return s.reofferAnswered(c, leg, agent)
	}
	ctx2, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	if c.direct != "" {
		_, err = s.cfg.Store.Propose(ctx2, contactcenter.TypeCallRemoteAnswer, contactcenter.CallRequest{Call: c.id},
			cluster.WithKey("voice:answer:"+c.id))
	} else {
		_, err = s.cfg.Store.Propose(ctx2, contactcenter.TypeCallAnswer, map[string]string{"agent": agent},
			cluster.WithKey("voice:answer:"+c.id+":"+agent))
	}
	cancel()
	if err != nil {
		s.log.Info("SIP: answer not committed; releasing the agent's leg", "call", c.id, "agent", agent, "err", err)
		leg.Bye(bctx)
		c.mu.Lock()
		c.answered, c.agent, c.leg = false, "", nil
		c.mu.Unlock()
		return sip.StatusServiceUnavailable
	}
	s.metrics.calls.WithLabelValues("answered").Inc()
	if err := c.respond(sip.StatusOK, "OK", leg.InviteResponse.Body(), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		s.log.Info("SIP: answering the caller", "call", c.id, "err", err)
		go s.endCall(c, "caller")
	}
	return sip.StatusOK
}
