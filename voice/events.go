package voice

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
)

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
		case contactcenter.EvCallParked:
			var p contactcenter.ParkedEvent
			if json.Unmarshal(ev.Data, &p) != nil {
				continue
			}
			if c := s.calls.get(p.Call); c != nil {
				go s.parkCall(c)
			}
		case contactcenter.EvCallTransferStarted:
			var tr contactcenter.TransferEvent
			if json.Unmarshal(ev.Data, &tr) != nil || (tr.Kind != contactcenter.KindTransfer && tr.Kind != contactcenter.KindChain) {
				continue
			}
			if c := s.calls.get(tr.Call); c != nil {
				go s.blindTransfer(c, tr.Target, tr.Kind == contactcenter.KindChain)
			}
		case contactcenter.EvCallCamped:
			// Camp-on: the operator's leg is released and the busy
			// target rung until it answers (transfer.go).
			var tr contactcenter.TransferEvent
			if json.Unmarshal(ev.Data, &tr) != nil {
				continue
			}
			if c := s.calls.get(tr.Call); c != nil {
				go s.blindTransfer(c, tr.Target, false)
			}
		case contactcenter.EvCallQueued:
			// A confirmed call back in a queue (a park or transfer
			// returned, a chain came back): waits for a new phone.
			if id, ok := leadingCall(ev.Data); ok && s.calls.get(id) == nil {
				continue // not a call of this edge (every new contact, e-mails too)
			}
			var q contactcenter.QueuedEvent
			if json.Unmarshal(ev.Data, &q) == nil {
				if c := s.calls.get(q.Call); c != nil {
					s.requeue(c)
				}
			}
		case contactcenter.EvCallTransferBusy:
			var tr contactcenter.TransferEvent
			if json.Unmarshal(ev.Data, &tr) != nil {
				continue
			}
			if c := s.calls.get(tr.Call); c != nil {
				s.requeue(c)
				if tr.To == "hold" { // on the operator's free line 1: ring them
					s.ringOperator(c, tr.Agent)
				}
			}
		case contactcenter.EvCallRetrieved:
			var r contactcenter.RetrievedEvent
			if json.Unmarshal(ev.Data, &r) != nil {
				continue
			}
			if c := s.calls.get(r.Call); c != nil && c.waitsForPhone(r.From) {
				s.requeue(c)
				s.ringOperator(c, r.Agent)
			}
		case contactcenter.EvCallConsultStarted:
			var co contactcenter.ConsultEvent
			if json.Unmarshal(ev.Data, &co) != nil {
				continue
			}
			if c := s.calls.get(co.Caller); c != nil {
				s.startConsult(c, co)
			}
		case contactcenter.EvCallTransferred:
			var tr contactcenter.TransferEvent
			if json.Unmarshal(ev.Data, &tr) != nil || tr.Kind != "attended" {
				continue
			}
			if c := s.calls.get(tr.Call); c != nil {
				go s.completeConsult(c, false)
			}
		case contactcenter.EvCallConnected:
			var co contactcenter.ConnectedEvent
			if json.Unmarshal(ev.Data, &co) != nil || co.Kind != contactcenter.KindChain {
				continue
			}
			if c := s.calls.get(co.Call); c != nil && c.consulting() {
				go s.completeConsult(c, true)
			}
		case contactcenter.EvCallCoupled:
			var cp contactcenter.CoupledEvent
			if json.Unmarshal(ev.Data, &cp) != nil {
				continue
			}
			c, p := s.calls.get(cp.Call), s.calls.get(cp.With)
			if c != nil && p != nil {
				go s.couple(c, p)
			} else if c != nil {
				// The parked call is not a SIP call of this node: nothing
				// to bridge to; the operator's leg is released.
				s.log.Info("SIP: coupled with a call this node does not hold", "call", cp.Call, "with", cp.With)
			}
		case contactcenter.EvCallEnded:
			var e struct {
				Call   string `json:"call"`
				Reason string `json:"reason"`
			}
			if json.Unmarshal(ev.Data, &e) != nil {
				continue
			}
			if c := s.calls.get(e.Call); c != nil {
				go s.endCall(c, "")
			} else if c := s.calls.consultOf(e.Call); c != nil && e.Reason != "merged" {
				go s.consultEnded(c, e.Call)
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
	type orphan struct {
		id, edge string
		answered bool
		cseq     uint32 // of a BYE to an answered caller (bye.go)
	}
	var orphans []orphan
	var consults []string
	s.cfg.Engine.View(func(st *contactcenter.State) {
		for id, c := range st.Calls {
			switch {
			case strings.HasPrefix(id, "sip-") && s.calls.get(id) == nil:
				// Not yet answered at the SIP level: waiting in a queue,
				// ringing an agent or its extension.
				waiting := c.Place == contactcenter.PlaceQueue || c.Place == contactcenter.PlacePersonal ||
					c.Place == contactcenter.PlaceRinging || (c.Place == contactcenter.PlaceExtension && c.State == contactcenter.CallRinging)
				o := orphan{id: id, edge: c.Edge, answered: !waiting}
				if o.answered {
					o.cseq = byeCSeq(inviteCSeq(c.Edge), st.Clock-c.Created)
				}
				orphans = append(orphans, o)
			case c.Place == contactcenter.PlaceLine && c.Line == 2 && strings.HasPrefix(c.Peer, "sip-") && s.calls.get(c.Peer) == nil:
				// The consultation of an orphaned SIP call: its target's
				// leg died with the former leader too.
				consults = append(consults, id)
			}
		}
	})
	sort.Slice(orphans, func(i, j int) bool { return orphans[i].id < orphans[j].id })
	sort.Strings(consults)
	for _, id := range consults {
		s.metrics.calls.WithLabelValues("released").Inc()
		s.commitAsync("voice:orphan:"+id, contactcenter.TypeCallRemoteHangup,
			contactcenter.RemoteHangupRequest{Call: id, Side: "target"})
	}
	told, byes := 0, 0
	for _, o := range orphans {
		s.metrics.calls.WithLabelValues("released").Inc()
		s.commitAsync("voice:orphan:"+o.id, contactcenter.TypeCallRemoteHangup,
			contactcenter.RemoteHangupRequest{Call: o.id, Side: "remote"})
		// A caller still waiting for a final response is told (release.go).
		if !o.answered && s.releaseCaller(o.edge) {
			told++
		}
		// One that was answered gets a BYE (bye.go).
		if o.answered && s.byeCaller(o.id, o.edge, o.cseq) {
			byes++
		}
	}
	if n := len(orphans) + len(consults); n > 0 {
		s.log.Warn("SIP: calls whose dialogs were on the former leader released", "calls", n, "callers_told", told, "callers_sent_bye", byes)
	}
	return len(orphans) + len(consults)
}

// Sync implements cluster.EventSink: the SIP edge keeps nothing durable.
func (s *Server) Sync() error { return nil }

// leadingCall is the call an event's data names first, as the engine
// encodes it (`{"call":"<id>",…`, the id without escapes): a cheap look at
// whether the event concerns a call of this edge before decoding it all.
func leadingCall(data []byte) (string, bool) {
	const prefix = `{"call":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}
