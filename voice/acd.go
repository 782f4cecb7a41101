package voice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
)

// Queue calls (issue 15.4). An INVITE whose request-URI user is a
// configured queue's ID, from a trusted gateway or an authenticated
// phone, enters the ACD as call.incoming; the caller hears ringing while
// it waits. When the engine offers the call (call.offered, on the
// leader) the agent's phones ring by the engine's ring plan, wave after
// wave; provisional answers are relayed to the caller; the first phone
// to answer wins (the others get CANCEL), call.answer is committed and
// the caller gets the agent's SDP: Tandem is a B2BUA in signalling,
// media flows end to end. A BYE on either leg ends the other and commits
// the hang-up; a caller who cancels while queued or ringing is committed
// as call.remote_hangup (the engine counts it abandoned).

// call is one inbound queue call this leader handles.
type call struct {
	id     string // engine call id
	direct string // the extension a direct call rings ("" for a queue call)
	caller *sipgo.DialogServerSession
	sdp    []byte // the caller's offer
	from   sip.FromHeader

	mu       sync.Mutex
	ringing  map[string]context.CancelFunc // agent → its branches
	answered bool
	agent    string
	leg      *sipgo.DialogClientSession // the answered agent leg
	ended    bool
	done     chan struct{}
}

// calls indexes the calls by engine id and by the SIP Call-ID of each leg.
type calls struct {
	mu     sync.Mutex
	byID   map[string]*call
	bySIP  map[string]*call
	legOf  map[string]bool // SIP Call-ID → it is an agent leg
	maxLen int
}

func (cs *calls) add(c *call, sipID string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.byID) >= cs.maxLen {
		return false
	}
	cs.byID[c.id] = c
	cs.bySIP[sipID] = c
	return true
}

func (cs *calls) addLeg(c *call, sipID string) {
	cs.mu.Lock()
	cs.bySIP[sipID] = c
	cs.legOf[sipID] = true
	cs.mu.Unlock()
}

func (cs *calls) get(id string) *call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byID[id]
}

func (cs *calls) match(sipID string) (*call, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.bySIP[sipID], cs.legOf[sipID]
}

func (cs *calls) remove(c *call) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.byID, c.id)
	for k, v := range cs.bySIP {
		if v == c {
			delete(cs.bySIP, k)
			delete(cs.legOf, k)
		}
	}
}

// engineCallID is the engine's id of a SIP call: stable for the
// INVITE's retransmissions and retries (it keys the idempotent commit).
func engineCallID(req *sip.Request) string {
	h := sha256.New()
	h.Write([]byte(req.CallID().Value()))
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h.Write([]byte{0})
		h.Write([]byte(tag))
	}
	return "sip-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// queueOf maps a request-URI to a configured queue: its user part is the
// queue's ID.
func (s *Server) queueOf(u sip.Uri) (string, bool) {
	if u.User == "" || len(u.User) > contactcenter.MaxIDLen {
		return "", false
	}
	found := false
	s.cfg.Engine.View(func(st *contactcenter.State) {
		_, found = st.Config.Queues[u.User]
	})
	return u.User, found
}

// trusted reports whether a request comes from a trusted gateway.
func (s *Server) trusted(req *sip.Request) bool {
	src := req.Source()
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return false
	}
	for _, p := range s.cfg.Trusted {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// handleInvite takes a new INVITE (the dialog's re-INVITEs are not
// handled yet: 488... see DESIGN.md).
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction, release func()) {
	if req.To() != nil {
		if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
			release()
			s.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
	}
	if req.From() == nil || req.CallID() == nil || req.CSeq() == nil || req.Contact() == nil {
		release()
		s.metrics.malformed.WithLabelValues("rejected").Inc()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	queue, ok := s.queueOf(req.Recipient)
	direct := ""
	if !ok {
		if ext, isExt := extensionOf(req.Recipient); isExt && s.configuredExtension(ext) {
			direct = ext
		} else {
			release()
			s.respond(req, tx, sip.StatusNotFound, "Not Found")
			return
		}
	}
	if !s.trusted(req) {
		authz := ""
		if h := req.GetHeader("Authorization"); h != nil {
			authz = h.Value()
		}
		_, err := s.auth.verify(authz, string(req.Method), func(user string) []string {
			e, p, ok := contactcenter.ParseSIPUser(user)
			if !ok {
				return nil
			}
			return s.cfg.Engine.PhonePasswords(e, p)
		})
		if err != nil {
			release()
			var ae *authError
			errors.As(err, &ae)
			if ae != nil && ae.Reason != "missing" {
				s.metrics.authFailures.WithLabelValues(ae.Reason).Inc()
			}
			if ae != nil && (ae.Reason == "wrong" || ae.Reason == "unknown_user" || ae.Reason == "replay") {
				s.respond(req, tx, sip.StatusForbidden, "Forbidden")
				return
			}
			s.challenge(req, tx, ae != nil && ae.Stale)
			return
		}
	}
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		release()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	c := &call{id: engineCallID(req), direct: direct, caller: dlg, sdp: req.Body(), from: *req.From(), ringing: map[string]context.CancelFunc{}, done: make(chan struct{})}
	if !s.calls.add(c, req.CallID().Value()) {
		release()
		dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, sip.NewHeader("Retry-After", "5"))
		return
	}
	defer s.calls.remove(c)
	dlg.Respond(sip.StatusTrying, "Trying", nil)
	number := req.From().Address.User
	name := req.From().DisplayName
	in := contactcenter.IncomingRequest{Call: c.id, Number: clip(number, contactcenter.MaxNumberLen), Name: clip(name, contactcenter.MaxNameLen), Queue: queue}
	if direct != "" {
		in.Queue, in.Extension = "", direct
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	_, err = s.cfg.Store.Propose(ctx, contactcenter.TypeCallIncoming, in, cluster.WithKey("voice:incoming:"+c.id))
	cancel()
	release() // the call now waits: it no longer counts as a request in progress
	if err != nil {
		var ref *cluster.Refusal
		if errors.As(err, &ref) {
			s.log.Info("SIP: call refused by the engine", "call", c.id, "queue", queue, "extension", direct, "err", err)
			dlg.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		} else {
			dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, sip.NewHeader("Retry-After", "5"))
		}
		return
	}
	s.metrics.calls.WithLabelValues("queued").Inc()
	dlg.Respond(sip.StatusRinging, "Ringing", nil)
	// The offer may have come with the commit (an agent was free): ring
	// now if the engine already offered it.
	s.ringOffered(c)

	select {
	case <-dlg.Context().Done():
	case <-c.done:
	}
	c.mu.Lock()
	answered, ended := c.answered, c.ended
	c.ended = true
	for _, cancel := range c.ringing {
		cancel()
	}
	c.mu.Unlock()
	if !answered && !ended {
		// The caller went away (CANCEL: sipgo answered 487) before an
		// agent answered: abandoned.
		s.metrics.calls.WithLabelValues("abandoned").Inc()
		s.commitAsync("voice:caller-gone:"+c.id, contactcenter.TypeCallRemoteHangup,
			contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	}
	// Answered calls end by a BYE (handleBye) or by the engine
	// (call.ended): wait for that before the handler returns.
	if answered {
		select {
		case <-c.done:
		case <-time.After(12 * time.Hour):
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ringOffered rings the agents the engine offers the call to now, if it
// does (the call.offered event of call.incoming's own commit may have
// been published before the call was indexed).
func (s *Server) ringOffered(c *call) {
	var agents []string
	ringsExt := false
	s.cfg.Engine.View(func(st *contactcenter.State) {
		if cl := st.Calls[c.id]; cl != nil && cl.Place == contactcenter.PlaceRinging {
			agents = append(agents, cl.Offered...)
		} else if cl != nil && cl.Place == contactcenter.PlaceExtension && cl.State == contactcenter.CallRinging {
			ringsExt = true
		}
	})
	for _, a := range agents {
		s.ring(c, a)
	}
	if ringsExt && c.direct != "" {
		s.ringTarget(c, "ext:"+c.direct, c.direct)
	}
}

// Publish implements cluster.EventSink: on the leader, the engine's
// decisions about the calls this node handles become SIP.
func (s *Server) Publish(evs []command.Event) {
	leading := s.leading.Load()
	for _, ev := range evs {
		if !leading && ev.Type != contactcenter.EvCallEnded {
			continue // a former leader still ends the dialogs it holds
		}
		switch ev.Type {
		case contactcenter.EvCallOffered:
			var o contactcenter.OfferedEvent
			if json.Unmarshal(ev.Data, &o) != nil {
				continue
			}
			if c := s.calls.get(o.Call); c != nil {
				for _, a := range o.Agents {
					s.ring(c, a)
				}
			}
		case contactcenter.EvCallRinging:
			var r contactcenter.RingingEvent
			if json.Unmarshal(ev.Data, &r) != nil {
				continue
			}
			if c := s.calls.get(r.Call); c != nil {
				s.ringTarget(c, "ext:"+r.Extension, r.Extension)
			}
		case contactcenter.EvCallOfferWithdrawn:
			var w contactcenter.WithdrawnEvent
			if json.Unmarshal(ev.Data, &w) != nil {
				continue
			}
			if c := s.calls.get(w.Call); c != nil {
				for _, a := range w.Agents {
					c.stopRinging(a)
				}
			}
		case contactcenter.EvCallNoAnswer, contactcenter.EvCallRejected:
			var a contactcenter.CallAgentEvent
			if json.Unmarshal(ev.Data, &a) != nil {
				continue
			}
			if c := s.calls.get(a.Call); c != nil {
				c.stopRinging(a.Agent)
			}
		case contactcenter.EvCallEnded:
			var e struct {
				Call string `json:"call"`
			}
			if json.Unmarshal(ev.Data, &e) != nil {
				continue
			}
			if c := s.calls.get(e.Call); c != nil {
				go s.endCall(c, "")
			}
		}
	}
}

// releaseOrphans ends, on a new leader, every call that came in over SIP
// (its id is engineCallID's) and whose dialog this node does not hold:
// its caller's dialog died with the former leader, so the engine must
// not keep it queued or ringing forever. Each is committed as the
// caller's hang-up (abandoned when it waited, ended where it talked).
func (s *Server) releaseOrphans() int {
	var orphans []string
	s.cfg.Engine.View(func(st *contactcenter.State) {
		for id := range st.Calls {
			if strings.HasPrefix(id, "sip-") && s.calls.get(id) == nil {
				orphans = append(orphans, id)
			}
		}
	})
	sort.Strings(orphans)
	for _, id := range orphans {
		s.metrics.calls.WithLabelValues("released").Inc()
		s.commitAsync("voice:orphan:"+id, contactcenter.TypeCallRemoteHangup,
			contactcenter.RemoteHangupRequest{Call: id, Side: "remote"})
	}
	if len(orphans) > 0 {
		s.log.Warn("SIP: calls whose dialogs were on the former leader released", "calls", len(orphans))
	}
	return len(orphans)
}

// directUnanswered ends a direct call whose extension's waves all rang
// out or refused: busy (486 to the caller, call.remote_busy) or not
// answered (480, the caller's hang-up committed). Forwarding on busy, no
// answer or not connected is not applied yet.
func (s *Server) directUnanswered(c *call, busy bool) {
	c.mu.Lock()
	if c.answered || c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	if busy {
		c.caller.Respond(sip.StatusBusyHere, "Busy Here", nil)
		s.commitAsync("voice:busy:"+c.id, contactcenter.TypeCallRemoteBusy, contactcenter.CallRequest{Call: c.id})
	} else {
		c.caller.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		s.commitAsync("voice:unanswered:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	}
}

// Sync implements cluster.EventSink: the SIP edge keeps nothing durable.
func (s *Server) Sync() error { return nil }

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
	if c.ended || c.answered || c.ringing[key] != nil {
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
	defer c.stopRinging(agent)
	busy := false
	defer func() {
		if c.direct != "" && ctx.Err() == nil {
			s.directUnanswered(c, busy)
		}
	}()
	plan, err := s.cfg.Engine.RingPlan(ext)
	if err != nil {
		return
	}
	for _, wave := range plan {
		var contacts []string
		for _, ph := range wave {
			if ct := s.reg.Contact(ext, ph); ct != "" {
				contacts = append(contacts, ct)
			}
		}
		if len(contacts) == 0 {
			continue
		}
		wctx, wcancel := context.WithTimeout(ctx, s.cfg.WaveTime)
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
		done := c.answered || c.ended
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
	leg, err := s.dua.Invite(ctx, uri, c.sdp, hdrs...)
	if err != nil {
		s.log.Info("SIP: ringing a phone", "agent", agent, "err", err)
		return sip.StatusServiceUnavailable
	}
	s.calls.addLeg(c, leg.InviteRequest.CallID().Value())
	err = leg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == sip.StatusRinging || res.StatusCode == sip.StatusSessionInProgress {
			var h []sip.Header
			if ct := res.ContentType(); ct != nil && len(res.Body()) > 0 {
				h = append(h, sip.NewHeader("Content-Type", ct.Value()))
			}
			c.caller.Respond(res.StatusCode, res.Reason, res.Body(), h...)
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
	won := !c.answered && !c.ended
	if won {
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
	if err := c.caller.Respond(sip.StatusOK, "OK", leg.InviteResponse.Body(), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		s.log.Info("SIP: answering the caller", "call", c.id, "err", err)
		go s.endCall(c, "caller")
	}
	return sip.StatusOK
}

// handleBye ends both legs of a call whose leg the BYE belongs to.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) bool {
	c, isLeg := s.calls.match(req.CallID().Value())
	if c == nil {
		return false
	}
	var err error
	if isLeg {
		c.mu.Lock()
		leg := c.leg
		c.mu.Unlock()
		if leg == nil {
			return false
		}
		err = leg.ReadBye(req, tx)
	} else {
		err = c.caller.ReadBye(req, tx)
	}
	if err != nil {
		return false
	}
	side := "caller"
	if isLeg {
		side = "agent"
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
	}
}

// endCall tears a call down: by is the side that hung up ("caller",
// "agent") or "" when the engine ended it. The other legs get BYE and
// the hang-up is committed.
func (s *Server) endCall(c *call, by string) {
	c.mu.Lock()
	if c.ended && by == "" {
		c.mu.Unlock()
		return
	}
	wasEnded := c.ended
	c.ended = true
	answered, agent, leg := c.answered, c.agent, c.leg
	for _, cancel := range c.ringing {
		cancel()
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if by != "agent" && leg != nil {
		leg.Bye(ctx)
	}
	if by != "caller" && answered {
		c.caller.Bye(ctx)
	}
	if !answered && by == "" {
		c.caller.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
	}
	switch {
	case by == "caller" && !wasEnded:
		s.commitAsync("voice:bye:"+c.id, contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c.id, Side: "remote"})
	case by == "agent" && !wasEnded && c.direct != "":
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
