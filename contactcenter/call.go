package contactcenter

// Places a call can be in. Every live call is in exactly one place; the
// place's own structure (queue list, agent field) refers back to it.
const (
	// PlaceQueue: waiting in general queue Call.Queue (QueueState.Waiting).
	PlaceQueue = "queue"
	// PlacePersonal: waiting in agent Call.Agent's personal queue.
	PlacePersonal = "personal"
	// PlaceRinging: offered to the agents in Call.Offered (each agent's
	// Offer names the call); Call.Origin says where it goes back to.
	PlaceRinging = "ringing"
	// PlaceLine: on line Call.Line (1 or 2) of agent Call.Agent.
	PlaceLine = "line"
	// PlaceSupervised: in operator Call.Agent's supervision, of type
	// Call.Kind (KindTransfer, KindChain, KindPark, KindDirectedPark,
	// KindCampOn).
	PlaceSupervised = "supervised"
	// PlaceExtension: ringing or talking at extension Call.Target, with no
	// operator involved (a completed transfer, a direct call).
	PlaceExtension = "extension"
	// PlaceBridged: coupled with call Call.Peer, no operator involved.
	PlaceBridged = "bridged"
)

// Origins of a ringing call: where it goes back if nobody answers.
const (
	OriginQueue    = "queue"
	OriginPersonal = "personal"
)

// Call states within a place.
const (
	CallDialing = "dialing" // outgoing leg not answered yet (line, extension)
	CallTalking = "talking"
	CallHeld    = "held"
	CallBusy    = "busy"    // line 2: the consulted party is busy
	CallRinging = "ringing" // supervised transfer/chain: target ringing
	CallParked  = "parked"
	CallWaiting = "waiting" // camp-on: waiting for the target
)

// Supervision types, as the supervised-calls list shows them.
const (
	KindTransfer     = "T" // blind transfer not answered yet
	KindChain        = "C" // chained call (ringing or talking with target)
	KindPark         = "P"
	KindDirectedPark = "D"
	KindCampOn       = "O" // attended transfer camped on a busy target
)

// Directions.
const (
	DirInbound  = "inbound"
	DirOutbound = "outbound"
	DirInternal = "internal"
)

// Call is one call the engine tracks, from its arrival (or dialling) to
// its end.
type Call struct {
	ID string `json:"id"`
	// Medium is MediumEmail for an e-mail contact, "" for a call.
	Medium    string         `json:"medium,omitempty"`
	Number    string         `json:"number,omitempty"`
	Name      string         `json:"name,omitempty"`
	Direction string         `json:"direction"`
	Priority  int            `json:"priority,omitempty"`
	Skills    map[string]int `json:"skills,omitempty"`
	Note      string         `json:"note,omitempty"`
	// Edge is the opaque data of the edge that took the call
	// (IncomingRequest.Edge).
	Edge string `json:"edge,omitempty"`
	// Queue is the general queue the call came through ("" if none).
	Queue   string `json:"queue,omitempty"`
	Created int64  `json:"created"`
	// Enqueued and Seq order the call in its waiting place.
	Enqueued int64  `json:"enqueued,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`

	Place  string `json:"place"`
	Origin string `json:"origin,omitempty"`
	// Agent: the personal queue's owner, the line's agent, or the
	// supervising operator, depending on Place.
	Agent string `json:"agent,omitempty"`
	Line  int    `json:"line,omitempty"`
	State string `json:"state,omitempty"`
	Kind  string `json:"kind,omitempty"`
	// Target is the extension the call is transferred, parked, camped on
	// or connected to.
	Target string `json:"target,omitempty"`
	// Peer: the coupled call (bridged), or the held caller (a line-2
	// consultation).
	Peer    string   `json:"peer,omitempty"`
	Offered []string `json:"offered,omitempty"`
	// Missed lists agents who let this call ring out or rejected it; they
	// are offered it again only when no other agent can take it.
	Missed []string `json:"missed,omitempty"`
	// Answerer is the agent who answered the call from an offer and is
	// still in conversation with it (wrap-up and handle time follow).
	Answerer   string `json:"answerer,omitempty"`
	AnsweredAt int64  `json:"answered_at,omitempty"`
	// Since is when the call entered supervision; Deadline is its ring
	// timeout (ringing) or auto-return time (supervised), 0 for none.
	Since    int64 `json:"since,omitempty"`
	Deadline int64 `json:"deadline,omitempty"`
	// Band is the supervision colour band: share of the auto-return limit
	// elapsed 0: < 60 %, 1: 60–80 %, 2: > 80 %.
	Band int `json:"band,omitempty"`
	// Callback is the web callback this call is an attempt of.
	Callback string `json:"callback,omitempty"`
	// Chat is the web chat session this call carries (chat.go).
	Chat string `json:"chat,omitempty"`
}

func (c *Call) missed(agent string) bool {
	for _, m := range c.Missed {
		if m == agent {
			return true
		}
	}
	return false
}

// forget deletes an ended call from the state (its place detached).
func (e *Engine) forget(c *Call) {
	delete(e.st.Calls, c.ID)
	delete(e.extCalls, c.ID) // detach dropped it on every path so far: kept exact whatever the next
	if c.Medium == MediumEmail {
		e.mailLive--
	}
}

// detach removes c from its place's structures and clears the place.
// Side effects of leaving (wrap-up, statistics) are the caller's.
func (e *Engine) detach(c *Call) {
	switch c.Place {
	case PlaceQueue:
		q := e.st.Queues[c.Queue]
		e.removeWaiting(q, c)
		q.Dirty = true
	case PlacePersonal:
		a := e.st.Agents[c.Agent]
		a.Personal = removeID(a.Personal, c.ID)
	case PlaceRinging:
		for _, id := range c.Offered {
			a := e.st.Agents[id]
			a.Offer = ""
			e.pendAgent(a)
		}
		c.Offered = nil
		if c.Origin == OriginQueue {
			q := e.st.Queues[c.Queue]
			q.Offering--
			q.Dirty = true
		}
		c.Deadline = 0
	case PlaceLine:
		a := e.st.Agents[c.Agent]
		if c.Line == 2 {
			a.Line2 = ""
		} else {
			a.Line1 = ""
		}
		c.Line = 0
	case PlaceSupervised:
		c.Kind, c.Since, c.Deadline, c.Band = "", 0, 0, 0
	}
	c.Place, c.State, c.Origin = "", "", ""
	delete(e.timed, c.ID)
	delete(e.supervised, c.ID)
	delete(e.extCalls, c.ID)
}

// fromQueue reports whether c waits or rings for general queue c.Queue.
func (c *Call) fromQueue() bool {
	return c.Place == PlaceQueue || (c.Place == PlaceRinging && c.Origin == OriginQueue)
}

// waitedMS is how long c has waited in its current waiting place.
func (e *Engine) waitedMS(c *Call) int64 { return (e.now - c.Enqueued) / 1e6 }

// leaveLine takes the call off its agent's line. When line 1 empties while
// line 2 still carries a consultation, the consultation becomes line 1.
// The agent is released (wrap-up, routing) once both lines are empty.
func (e *Engine) leaveLine(c *Call) {
	a := e.st.Agents[c.Agent]
	line := c.Line
	wrap := false
	if c.Answerer == a.ID {
		wrap = true
		e.recordTalk(c)
	}
	e.detach(c)
	if line == 1 && a.Line2 != "" {
		c2 := e.st.Calls[a.Line2]
		if c2.State == CallBusy {
			// A busy consultation has nobody to talk to: it ends too.
			e.detach(c2)
			e.forget(c2)
			e.emitEnded(CallEndedEvent{Call: c2.ID, Reason: "busy", By: "system", Place: PlaceLine, Agent: a.ID, Queue: c2.Queue, Medium: c2.Medium, DurationMS: (e.now - c2.Created) / 1e6})
			e.agentReleased(a, wrap)
			return
		}
		a.Line1, a.Line2 = a.Line2, ""
		c2.Line, c2.Peer = 1, ""
		return
	}
	if line == 2 && a.Line1 != "" {
		// The consultation ended: the caller stays on hold on line 1 —
		// unless the operator has logged out, when nobody would retrieve
		// it: marked, the personal-queue rule moves it on at the end of
		// the command (releaseStranded).
		if a.State == StateDisconnected {
			e.pendAgent(a)
		}
		return
	}
	e.agentReleased(a, wrap)
}

// recordTalk closes the conversation c had with the agent who answered it
// from an offer: its handle time feeds the queue's expected waits.
func (e *Engine) recordTalk(c *Call) {
	if q, ok := e.st.Queues[c.Queue]; ok && c.AnsweredAt > 0 {
		q.Stats.TalkMS += (e.now - c.AnsweredAt) / 1e6
		q.Stats.Talked++
		q.Dirty = true
	}
	c.Answerer, c.AnsweredAt = "", 0
}

// endCall ends c wherever it is, with the side effects of leaving its
// place: an abandoned queue call counts as abandoned, a line is released,
// a coupled peer ends too.
func (e *Engine) endCall(c *Call, reason, by string) {
	if c.Callback != "" {
		defer e.callbackCallEnded(c.Callback, c.ID, reason)
	}
	if c.Chat != "" {
		defer e.chatCallEnded(c.Chat, c.ID, reason, by)
	}
	place, agent := c.Place, c.Agent
	switch c.Place {
	case PlaceQueue, PlaceRinging:
		if c.fromQueue() {
			q := e.st.Queues[c.Queue]
			q.Stats.Abandoned++
			if w := e.waitedMS(c); w > q.Stats.MaxWaitMS {
				q.Stats.MaxWaitMS = w
			}
			q.Dirty = true
		}
		if c.Place == PlaceRinging {
			for _, id := range c.Offered {
				a := e.st.Agents[id]
				e.history(a, c, OpMissed, 0, "")
			}
		}
		e.detach(c)
	case PlaceLine:
		a := e.st.Agents[c.Agent]
		e.history(a, c, OpHangup, e.talkMS(c), "")
		e.leaveLine(c)
	case PlaceBridged:
		peer := e.st.Calls[c.Peer]
		e.detach(c)
		e.forget(c)
		e.emitEnded(CallEndedEvent{Call: c.ID, Reason: reason, By: by, Place: place, Agent: agent, Queue: c.Queue, Medium: c.Medium, DurationMS: (e.now - c.Created) / 1e6})
		if peer != nil {
			peer.Peer = ""
			e.endCall(peer, "peer_hangup", "system")
		}
		return
	default:
		e.detach(c)
	}
	e.forget(c)
	e.emitEnded(CallEndedEvent{Call: c.ID, Reason: reason, By: by, Place: place, Agent: agent, Queue: c.Queue, Medium: c.Medium, DurationMS: (e.now - c.Created) / 1e6})
}

func (e *Engine) talkMS(c *Call) int64 {
	if c.AnsweredAt > 0 {
		return (e.now - c.AnsweredAt) / 1e6
	}
	return 0
}

// returnToOperator brings a call back to its operator: into the personal
// queue, or — when the operator has logged out and the call came through
// a general queue — back into that queue.
func (e *Engine) returnToOperator(c *Call, owner *AgentState, reason string) {
	e.detach(c)
	if owner.State == StateDisconnected {
		if q, ok := e.st.Queues[c.Queue]; ok {
			pos := e.enterQueue(c, q)
			e.emitQueued(c, pos, reason)
			return
		}
	}
	pos := e.enterPersonal(c, owner)
	e.emitQueued(c, pos, reason)
}

func (e *Engine) emitQueued(c *Call, pos int, reason string) {
	ev := QueuedEvent{Call: c.ID, Number: c.Number, Name: c.Name, Priority: c.Priority, Position: pos, Reason: reason, Note: c.Note}
	if c.Place == PlaceQueue {
		q := e.st.Queues[c.Queue]
		ev.Queue, ev.Waiting, ev.Level = q.ID, q.Waiting.Len()+q.Offering, WaitingLevel(q.Waiting.Len()+q.Offering)
		ev.ExpectedWaitSeconds = q.expectedWait(pos)
	} else {
		a := e.st.Agents[c.Agent]
		ev.Agent, ev.Waiting, ev.ExpectedWaitSeconds = a.ID, len(a.Personal), -1
	}
	e.evBuf = ev.AppendJSON(e.evBuf)
	e.emitted(EvCallQueued)
}
