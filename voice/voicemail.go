package voice

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/voice/media"
)

// Voicemail (issue 17). A direct call whose user forwards it to voicemail
// (the engine's decision, forward.go) is answered by the leader's edge
// itself, with media: the caller's SDP offer is answered for G.711 (PCMU
// or PCMA, in the caller's order; none offered: 488 with a Warning), the
// engine is told the caller left the extension (call.remote_hangup, side
// remote, as for a forward to a number), a short generated beep is
// played and what the caller sends over RTP is recorded, bounded
// (Config.VoicemailMax, at most 120 s: 8,000 bytes a second), until the
// caller's BYE or the bound (then our BYE). The recording is committed
// through Raft as voicemail.deposited with its audio — acknowledged when
// committed — into the mailbox of the called extension, the message id
// the engine's call id (a retry deposits nothing twice). A call that sent
// no audio deposits nothing.

// voicemailWarning tells a caller why a forward to voicemail was not
// followed (RFC 3261 Warning, code 399: miscellaneous).
const voicemailWarning = `399 tandem "Forward to voicemail: no G.711 audio (PCMU or PCMA) offered"`

// beepTime is how long the beep before the recording lasts.
const beepTime = 400 * time.Millisecond

// voicemail answers a direct call forwarded to voicemail (cond: the
// forward's condition) and records the message in the background.
func (s *Server) voicemail(c *call, cond string) bool {
	c.mu.Lock()
	if c.answered || c.ended {
		c.mu.Unlock()
		return true
	}
	c.ended = true
	c.mu.Unlock()
	offer, err := media.ParseOffer(c.sdp)
	var sess *media.Session
	var answer []byte
	if err == nil {
		ip := s.mediaIP(offer.Remote.Addr())
		if sess, err = media.Listen(ip, offer); err == nil {
			var id [8]byte
			rand.Read(id[:])
			answer, err = media.Answer(offer, netip.AddrPortFrom(ip, sess.Local().Port()), binary.BigEndian.Uint64(id[:])>>2)
			if err != nil {
				sess.Close()
			}
		}
	}
	if err != nil {
		s.log.Info("SIP: forward to voicemail refused", "call", c.id, "extension", c.direct, "condition", cond, "err", err)
		s.metrics.calls.WithLabelValues("voicemail_refused").Inc()
		if errors.Is(err, media.ErrNoG711) {
			c.respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil, sip.NewHeader("Warning", voicemailWarning))
		} else {
			c.respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, sip.NewHeader("Retry-After", "5"))
		}
		s.commitAsync("voice:voicemail:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
		return true
	}
	if err := c.respond(sip.StatusOK, "OK", answer, sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		sess.Close()
		s.log.Info("SIP: voicemail answer not sent", "call", c.id, "err", err)
		s.commitAsync("voice:voicemail:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
		return true
	}
	s.log.Info("SIP: forwarded to voicemail, recording", "call", c.id, "extension", c.direct, "condition", cond, "codec", offer.Codec)
	s.metrics.calls.WithLabelValues("voicemail").Inc()
	s.commitAsync("voice:voicemail:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	go s.recordVoicemail(c, sess, offer)
	return true
}

// mediaIP is the address of ours the caller's RTP (at remote) reaches:
// the SIP edge's own (advertised or bound) when it is one, else the one
// the system routes to remote from.
func (s *Server) mediaIP(remote netip.Addr) netip.Addr {
	if ip, err := netip.ParseAddr(s.dua.ContactHDR.Address.Host); err == nil && !ip.IsUnspecified() {
		return ip.Unmap()
	}
	if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9))); err == nil {
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	return netip.IPv4Unspecified()
}

// recordVoicemail plays the beep, records the caller until its BYE or
// the bound, ends the dialog itself at the bound, and deposits the
// message.
func (s *Server) recordVoicemail(c *call, sess *media.Session, o media.Offer) {
	defer sess.Close()
	maxBytes := int(s.cfg.VoicemailMax.Seconds() * media.SampleRate)
	ctx, cancel := context.WithTimeout(c.caller.Context(), s.cfg.VoicemailMax+beepTime+2*time.Second)
	defer cancel()
	go func() {
		select {
		case <-c.done: // the caller's BYE (handleBye → endCall)
			cancel()
		case <-ctx.Done():
		}
	}()
	if o.Hears {
		go sess.Play(ctx, media.Beep(o.Codec, beepTime))
	}
	rec, err := sess.Record(ctx, maxBytes)
	byCaller := c.caller.Context().Err() != nil
	select {
	case <-c.done:
		byCaller = true
	default:
	}
	if !byCaller {
		// The bound: our BYE ends the dialog.
		bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.caller.Bye(bctx); err != nil {
			s.log.Info("SIP: voicemail BYE", "call", c.id, "err", err)
		}
		bcancel()
		c.closeDone()
	}
	if err != nil {
		s.log.Info("SIP: voicemail not deposited", "call", c.id, "extension", c.direct, "err", err)
		s.metrics.calls.WithLabelValues("voicemail_empty").Inc()
		return
	}
	req := contactcenter.VoicemailDepositRequest{Mailbox: c.direct, Message: c.id,
		From: clip(c.from.Address.User, contactcenter.MaxNumberLen), Name: clip(c.from.DisplayName, contactcenter.MaxNameLen),
		DurationSeconds: (len(rec.Audio) + media.SampleRate - 1) / media.SampleRate, Codec: o.Codec, Audio: rec.Audio}
	payload, err := json.Marshal(req)
	if err == nil {
		err = contactcenter.CheckPayload(contactcenter.TypeVoicemailDeposited, payload)
	}
	if err != nil {
		s.log.Warn("SIP: voicemail deposit refused at the edge", "call", c.id, "err", err)
		return
	}
	for try := 0; try < 5; try++ {
		pctx, pcancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
		_, err = s.cfg.Store.Propose(pctx, contactcenter.TypeVoicemailDeposited, json.RawMessage(payload), cluster.WithKey("voice:vm-deposit:"+c.id))
		pcancel()
		var ref *cluster.Refusal
		if err == nil || errors.As(err, &ref) {
			break
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	if err != nil {
		s.log.Warn("SIP: voicemail not deposited", "call", c.id, "extension", c.direct, "err", err)
		return
	}
	s.log.Info("SIP: voicemail deposited", "call", c.id, "extension", c.direct, "bytes", len(rec.Audio), "full", rec.Full)
	s.metrics.calls.WithLabelValues("voicemail_deposited").Inc()
}
