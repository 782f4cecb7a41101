package voice

import (
	"net"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/contactcenter"
)

// Forwarding of direct calls (issue 15.3). The engine decides
// (Engine.Forward: the user's rules, in its order — unconditional, an
// active calendar entry, not connected, then busy or no answer as the
// edge saw it); the edge applies it. A call to an extension is checked
// before its phones ring (unconditional, calendar, not connected) and
// again when every wave rang out (busy, no answer). A forward to a
// number is a 302 Moved Temporarily to the caller, Contact
// <sip:NUMBER@host:port> — the caller's own address for an outside
// number (its gateway routes it), this node's for an extension (the new
// INVITE rings it through the engine as a new direct call); the first
// call is committed ended (call.remote_hangup, side remote: for the
// engine the caller left that extension). A forward to voicemail is
// answered by this edge itself, which records the message
// (voicemail.go).

// userOfExtension is the user whose extension ext is ("" when none).
func (s *Server) userOfExtension(ext string) string {
	user := ""
	s.cfg.Engine.View(func(st *contactcenter.State) {
		for id, u := range st.Config.Users {
			if u.Extension == ext && (user == "" || id < user) {
				user = id
			}
		}
	})
	return user
}

// forwardDirect applies the forward of a direct call's extension for
// condition ("" before ringing, ForwardBusy, ForwardNoAnswer); false when
// the call is not forwarded.
func (s *Server) forwardDirect(c *call, condition string) bool {
	user := s.userOfExtension(c.direct)
	if user == "" {
		return false
	}
	d, ok := s.cfg.Engine.Forward(user, condition)
	if !ok || (d.Number == "" && !d.Voicemail) {
		return false
	}
	if d.Number == "" {
		return s.voicemail(c, d.Condition)
	}
	c.mu.Lock()
	if c.answered || c.ended {
		c.mu.Unlock()
		return true // someone else decided; nothing to ring
	}
	c.ended = true
	c.mu.Unlock()
	host := c.caller.InviteRequest.Source()
	if s.configuredExtension(d.Number) {
		host = s.dua.ContactHDR.Address.Host + ":" + strconv.Itoa(s.dua.ContactHDR.Address.Port)
	} else if h, p, err := net.SplitHostPort(host); err == nil {
		if ct := c.caller.InviteRequest.Contact(); ct != nil && ct.Address.Host != "" {
			h = ct.Address.Host
			if ct.Address.Port != 0 {
				p = strconv.Itoa(ct.Address.Port)
			}
		}
		host = net.JoinHostPort(h, p)
	}
	s.log.Info("SIP: direct call forwarded", "call", c.id, "extension", c.direct, "condition", d.Condition)
	s.metrics.calls.WithLabelValues("forwarded").Inc()
	c.respond(sip.StatusMovedTemporarily, "Moved Temporarily", nil,
		sip.NewHeader("Contact", "<sip:"+d.Number+"@"+host+">"),
		sip.NewHeader("Diversion", "<sip:"+c.direct+"@"+s.dua.ContactHDR.Address.Host+">;reason="+diversionReason(d.Condition)))
	s.commitAsync("voice:forward:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	return true
}

// noAnswerSeconds is how long a direct call to ext rings before its
// user's forward on no answer applies (0: no such forward, or the waves'
// own time).
func (s *Server) noAnswerSeconds(ext string) int {
	user := s.userOfExtension(ext)
	secs := 0
	s.cfg.Engine.View(func(st *contactcenter.State) {
		if us := st.Users[user]; us != nil && (us.Forwarding.NoAnswer.Number != "" || us.Forwarding.NoAnswer.Voicemail) {
			secs = us.Forwarding.NoAnswerSeconds
		}
	})
	return secs
}

// diversionReason is RFC 5806's reason for a forward condition.
func diversionReason(cond string) string {
	switch cond {
	case contactcenter.ForwardBusy:
		return "user-busy"
	case contactcenter.ForwardNoAnswer:
		return "no-answer"
	case contactcenter.ForwardNotConnected:
		return "unavailable"
	case contactcenter.ForwardCalendar:
		return "time-of-day"
	}
	return "unconditional"
}
