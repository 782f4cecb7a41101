package contactcenter

import (
	"strings"

	"github.com/tandemcc/tandem/command"
)

// MaxPriority is the highest caller priority. (The limits of the text
// fields are in limits.go.)
const MaxPriority = 9

// IncomingRequest is the payload of call.incoming: a new inbound call for
// exactly one of a general queue, an agent's personal queue or an
// extension (a direct call, which rings the extension's ring plan).
type IncomingRequest struct {
	Call      string         `json:"call"`
	Number    string         `json:"number,omitempty"`
	Name      string         `json:"name,omitempty"`
	Queue     string         `json:"queue,omitempty"`
	Agent     string         `json:"agent,omitempty"`
	Extension string         `json:"extension,omitempty"`
	Priority  int            `json:"priority,omitempty"`
	Skills    map[string]int `json:"skills,omitempty"`
	Note      string         `json:"note,omitempty"`
	// Edge is data of the edge that took the call, kept with it and never
	// read by the engine (the SIP edge: how a new leader answers the
	// caller of a call whose dialog died with the former leader).
	Edge string `json:"edge,omitempty"`
}

// CallResult answers call commands: where the call is afterwards.
type CallResult struct {
	Call     string   `json:"call"`
	Place    string   `json:"place"`
	State    string   `json:"state,omitempty"`
	Agent    string   `json:"agent,omitempty"`
	Queue    string   `json:"queue,omitempty"`
	Position int      `json:"position,omitempty"`
	Offered  []string `json:"offered,omitempty"`
}

// deferred is returned by a handler whose result is the CallResult of
// e.resultCall computed after the command's routing has settled (Apply
// does it), so it shows where the call ended up.
type deferred struct{}

func (e *Engine) deferCall(id string) any {
	e.resultCall = id
	return deferred{}
}

func (e *Engine) callResult(id string) CallResult {
	c, ok := e.st.Calls[id]
	if !ok {
		return CallResult{Call: id, Place: "ended"}
	}
	r := CallResult{Call: c.ID, Place: c.Place, State: c.State, Agent: c.Agent, Queue: c.Queue, Offered: c.Offered}
	switch c.Place {
	case PlaceQueue:
		r.Position = e.st.Queues[c.Queue].Waiting.position(c)
	case PlacePersonal:
		r.Position = indexOf(e.st.Agents[c.Agent].Personal, c.ID) + 1
	}
	return r
}

func checkCallID(field, id string, calls map[string]*Call) error {
	if err := checkID(field, id); err != nil {
		return err
	}
	if _, dup := calls[id]; dup {
		return fieldErr(field, "%v: %q", ErrCallExists, id)
	}
	return nil
}

func (e *Engine) call(op, id string) (*Call, error) {
	if id == "" {
		return nil, fieldErr("call", "missing")
	}
	c, ok := e.st.Calls[id]
	if !ok {
		return nil, opErr(ErrUnknownCall, op, "no call %q", id)
	}
	return c, nil
}

func (e *Engine) direction(number string) string {
	if e.isInternal(number) {
		return DirInternal
	}
	return DirInbound
}

func (e *Engine) cmdIncoming(env command.Envelope) (any, error) {
	p := &e.req.incoming
	*p = IncomingRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	if err := checkCallID("call", p.Call, e.st.Calls); err != nil {
		return nil, err
	}
	if err := checkText("number", p.Number, MaxNumberLen); err != nil {
		return nil, err
	}
	if err := checkText("name", p.Name, MaxNameLen); err != nil {
		return nil, err
	}
	if err := checkText("note", p.Note, MaxNoteLen); err != nil {
		return nil, err
	}
	if p.Priority < 0 || p.Priority > MaxPriority {
		return nil, fieldErr("priority", "%d is out of range 0..%d", p.Priority, MaxPriority)
	}
	if err := checkSkills("skills", p.Skills); err != nil {
		return nil, err
	}
	n := 0
	for _, s := range []string{p.Queue, p.Agent, p.Extension} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fieldErr("queue", "exactly one of queue, agent and extension must be given")
	}
	c := &Call{
		ID: p.Call, Number: p.Number, Name: p.Name, Direction: e.direction(p.Number),
		Priority: p.Priority, Note: p.Note, Created: e.now, Edge: p.Edge,
	}
	if len(p.Skills) > 0 {
		c.Skills = p.Skills
	}
	switch {
	case p.Queue != "":
		q, ok := e.queueNamed(p.Queue)
		if !ok {
			return nil, opErr(ErrUnknownQueue, "incoming", "unknown queue %q", p.Queue)
		}
		e.st.Calls[c.ID] = c
		pos := e.enterQueue(c, q)
		e.emitQueued(c, pos, "new")
	case p.Agent != "":
		a, ok := e.st.Agents[p.Agent]
		if !ok {
			return nil, opErr(ErrUnknownAgent, "incoming", "unknown agent %q", p.Agent)
		}
		if a.State == StateDisconnected {
			return nil, opErr(ErrAgentState, "incoming", "agent %q is logged out and takes no calls", a.ID)
		}
		e.st.Calls[c.ID] = c
		pos := e.enterPersonal(c, a)
		e.emitQueued(c, pos, "new")
	default:
		if _, ok := e.st.Config.Extensions[p.Extension]; !ok {
			return nil, opErr(ErrUnknownExtension, "incoming", "unknown extension %q", p.Extension)
		}
		c.Place, c.State, c.Target = PlaceExtension, CallRinging, p.Extension
		e.extCalls[c.ID] = struct{}{}
		e.st.Calls[c.ID] = c
		e.emit(EvCallRinging, RingingEvent{Call: c.ID, Extension: p.Extension, Number: c.Number, Waves: e.ringPlan(p.Extension)})
	}
	return e.deferCall(c.ID), nil
}

// AgentCallRequest is the payload of operator operations that need only
// the operator: call.answer, call.reject, call.hold, call.cancel_consult,
// call.camp_on.
type AgentCallRequest struct {
	Agent string `json:"agent"`
}

func (e *Engine) cmdAnswer(env command.Envelope) (any, error) {
	p := &e.req.agentCall
	*p = AgentCallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	a, err := e.agent("answer", p.Agent)
	if err != nil {
		return nil, err
	}
	if a.Offer == "" {
		return nil, opErr(ErrNothingRinging, "answer", "nothing is ringing on agent %q", a.ID)
	}
	c := e.st.Calls[a.Offer]
	var others []string // only for the event, encoded at once: scratch
	if len(c.Offered) > 1 {
		others = e.ids1[:0]
		for _, id := range c.Offered {
			if id != a.ID {
				others = append(others, id)
			}
		}
	}
	wait := e.waitedMS(c)
	fromQueue := c.Origin == OriginQueue
	e.detach(c)
	if len(others) > 0 {
		e.evBuf = WithdrawnEvent{Call: c.ID, Agents: others, Reason: "answered_elsewhere"}.AppendJSON(e.evBuf)
		e.emitted(EvCallOfferWithdrawn)
		clear(others)
		e.ids1 = others[:0]
	}
	ev := AnsweredEvent{Call: c.ID, Agent: a.ID, WaitMS: wait}
	if fromQueue {
		q := e.st.Queues[c.Queue]
		q.Stats.Answered++
		if wait <= int64(q.conf.ServiceLevelSeconds)*1000 {
			q.Stats.AnsweredInSL++
		}
		if wait > q.Stats.MaxWaitMS {
			q.Stats.MaxWaitMS = wait
		}
		ev.Queue = q.ID
	}
	c.Place, c.Agent, c.Line, c.State = PlaceLine, a.ID, 1, CallTalking
	c.Answerer, c.AnsweredAt, c.Missed = a.ID, e.now, nil

	a.Line1 = c.ID
	a.NoAnswer = 0
	a.Handled++
	e.history(a, c, OpAnswer, 0, "")
	e.evBuf = ev.AppendJSON(e.evBuf)
	e.emitted(EvCallAnswered)
	if c.Callback != "" {
		e.callbackAnswered(c, a) // the customer is dialled now
	}
	if c.Chat != "" {
		e.chatTaken(c, a)
	}
	return CallResult{Call: c.ID, Place: PlaceLine, State: c.State, Agent: a.ID, Queue: ev.Queue}, nil
}

func (e *Engine) cmdReject(env command.Envelope) (any, error) {
	p := &e.req.agentCall
	*p = AgentCallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	a, err := e.agent("reject", p.Agent)
	if err != nil {
		return nil, err
	}
	if a.Offer == "" {
		return nil, opErr(ErrNothingRinging, "reject", "nothing is ringing on agent %q", a.ID)
	}
	c := e.st.Calls[a.Offer]
	e.ringOut(c, a, true)
	return CallResult{Call: c.ID, Place: c.Place}, nil
}

// HangupRequest is the payload of call.hangup. Line 0 means the active
// line: line 2 during a consultation, else line 1. With nothing on the
// lines, a ringing offer is rejected; with nothing at all the phone is
// reset (clears calls stuck on the phone).
type HangupRequest struct {
	Agent string `json:"agent"`
	Line  int    `json:"line,omitempty"`
}

// HangupResult answers call.hangup.
type HangupResult struct {
	Agent string `json:"agent"`
	// Ended is the call hung up; Rejected the offer declined; Reset
	// reports a reset of an idle phone.
	Ended    string `json:"ended,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	Reset    bool   `json:"reset,omitempty"`
}

func (e *Engine) cmdHangup(env command.Envelope) (any, error) {
	p := &e.req.hangup
	*p = HangupRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	if p.Line < 0 || p.Line > 2 {
		return nil, fieldErr("line", "%d is not a line (1, 2, or 0 for the active one)", p.Line)
	}
	a, err := e.agent("hang up", p.Agent)
	if err != nil {
		return nil, err
	}
	id := ""
	switch p.Line {
	case 1:
		if a.Line1 == "" {
			return nil, opErr(ErrNoCall, "hang up", "no call on line 1 of agent %q", a.ID)
		}
		id = a.Line1
	case 2:
		if a.Line2 == "" {
			return nil, opErr(ErrNoConsult, "hang up", "no call on line 2 of agent %q", a.ID)
		}
		id = a.Line2
	default:
		id = a.Line2
		if id == "" {
			id = a.Line1
		}
	}
	if id != "" {
		e.endCall(e.st.Calls[id], "hangup", "agent")
		return HangupResult{Agent: a.ID, Ended: id}, nil
	}
	if a.Offer != "" {
		c := e.st.Calls[a.Offer]
		e.ringOut(c, a, true)
		return HangupResult{Agent: a.ID, Rejected: c.ID}, nil
	}
	e.emit(EvAgentPhoneReset, PhoneResetEvent{Agent: a.ID})
	return HangupResult{Agent: a.ID, Reset: true}, nil
}

// DialRequest is the payload of call.dial: the operator dials a number
// (from the phone, a directory entry, the number field or a speed dial).
// Dialling *55<ext> retrieves the call parked on <ext> instead.
type DialRequest struct {
	Agent  string `json:"agent"`
	Call   string `json:"call"`
	Number string `json:"number"`
}

func (e *Engine) cmdDial(env command.Envelope) (any, error) {
	var p DialRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("dial", p.Agent)
	if err != nil {
		return nil, err
	}
	num, err := NormalizeNumber(p.Number)
	if err != nil {
		return nil, fieldErr("number", "%v", err)
	}
	if err := e.lineFree("dial", a); err != nil {
		return nil, err
	}
	if ext, ok := strings.CutPrefix(num, ParkPickupPrefix); ok {
		c, err := e.parkedOn("dial", ext)
		if err != nil {
			return nil, err
		}
		if err := chatNeedsLogin("dial", a, c); err != nil {
			return nil, err
		}
		e.detach(c)
		c.Place, c.Agent, c.Line, c.State, c.Target = PlaceLine, a.ID, 1, CallTalking, ""
		a.Line1 = c.ID
		e.history(a, c, OpRetrieve, 0, ext)
		e.emit(EvCallParkRetrieved, ParkRetrievedEvent{Call: c.ID, Extension: ext, By: a.conf.Extension, Agent: a.ID})
		e.chatTaken(c, a)
		return e.deferCall(c.ID), nil
	}
	if err := checkCallID("call", p.Call, e.st.Calls); err != nil {
		return nil, err
	}
	dir := DirOutbound
	if e.isInternal(num) {
		dir = DirInternal
	}
	c := &Call{ID: p.Call, Number: num, Direction: dir, Created: e.now, Place: PlaceLine, Agent: a.ID, Line: 1, State: CallDialing}
	e.st.Calls[c.ID] = c
	a.Line1 = c.ID
	a.Trend.Made++
	e.history(a, c, OpDial, 0, "")
	e.emit(EvCallDialing, DialingEvent{Call: c.ID, Agent: a.ID, Line: 1, Number: num})
	return e.deferCall(c.ID), nil
}

// lineFree refuses an operation needing an idle line 1 and no offer.
func (e *Engine) lineFree(op string, a *AgentState) error {
	if a.Line1 != "" || a.Line2 != "" {
		return opErr(ErrLineBusy, op, "agent %q already has a call on line 1", a.ID)
	}
	if a.Offer != "" {
		return opErr(ErrLineBusy, op, "a call is ringing on agent %q; answer or reject it first", a.ID)
	}
	return nil
}

func (e *Engine) cmdHold(env command.Envelope) (any, error) {
	p := &e.req.agentCall
	*p = AgentCallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	a, err := e.agent("hold", p.Agent)
	if err != nil {
		return nil, err
	}
	if a.Line1 == "" {
		return nil, opErr(ErrNoCall, "hold", "no call on line 1 of agent %q", a.ID)
	}
	c := e.st.Calls[a.Line1]
	if c.State != CallTalking {
		return nil, opErr(ErrNotTalking, "hold", "the call on line 1 of agent %q is %s", a.ID, c.State)
	}
	if a.State == StateDisconnected {
		// A logged-out operator only finishes its calls: a call held
		// there would wait for nobody (invariant 6).
		return nil, opErr(ErrAgentState, "hold", "agent %q is logged out: a held call would wait for nobody; transfer or park it", a.ID)
	}
	c.State = CallHeld
	e.emit(EvCallHeld, CallAgentEvent{Call: c.ID, Agent: a.ID})
	return e.deferCall(c.ID), nil
}

// RetrieveRequest is the payload of call.retrieve. Without a call it
// takes the held call on line 1 back; with one it brings that call from
// supervision (any operator's) or the operator's own personal queue onto
// line 1 — only when the operator is not in a conversation. A call
// ringing on the operator meanwhile is redirected to its personal queue
// (see redirectOffer).
type RetrieveRequest struct {
	Agent string `json:"agent"`
	Call  string `json:"call,omitempty"`
}

func (e *Engine) cmdRetrieve(env command.Envelope) (any, error) {
	var p RetrieveRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("retrieve", p.Agent)
	if err != nil {
		return nil, err
	}
	if p.Call == "" {
		if a.Line1 == "" {
			return nil, opErr(ErrNoCall, "retrieve", "no call on line 1 of agent %q", a.ID)
		}
		if a.Line2 != "" {
			return nil, opErr(ErrConsultActive, "retrieve", "agent %q is consulting on line 2; cancel the consultation to retrieve the caller", a.ID)
		}
		c := e.st.Calls[a.Line1]
		if c.State != CallHeld {
			return nil, opErr(ErrNotHeld, "retrieve", "the call on line 1 of agent %q is not on hold", a.ID)
		}
		c.State = CallTalking
		e.emit(EvCallRetrieved, RetrievedEvent{Call: c.ID, Agent: a.ID, From: "hold"})
		return e.deferCall(c.ID), nil
	}
	c, err := e.call("retrieve", p.Call)
	if err != nil {
		return nil, err
	}
	if a.Line1 != "" || a.Line2 != "" {
		return nil, opErr(ErrLineBusy, "retrieve", "agent %q is in a conversation", a.ID)
	}
	from := ""
	switch {
	case c.Place == PlaceSupervised && !(c.Kind == KindChain && c.State == CallTalking):
		from = "supervision"
	case c.Place == PlacePersonal && c.Agent == a.ID:
		from = "personal"
	default:
		return nil, opErr(ErrNotRetrievable, "retrieve", "call %q is %s, not in supervision or agent %q's personal queue", c.ID, describe(c), a.ID)
	}
	if err := chatNeedsLogin("retrieve", a, c); err != nil {
		return nil, err
	}
	if a.Offer != "" {
		e.redirectOffer(e.st.Calls[a.Offer], a)
	}
	kind := c.Kind
	e.detach(c)
	c.Place, c.Agent, c.Line, c.State, c.Target = PlaceLine, a.ID, 1, CallTalking, ""
	a.Line1 = c.ID
	e.history(a, c, OpRetrieve, 0, "")
	e.emit(EvCallRetrieved, RetrievedEvent{Call: c.ID, Agent: a.ID, From: from, Kind: kind})
	e.chatTaken(c, a)
	return e.deferCall(c.ID), nil
}

// redirectOffer handles the call ringing on operator a when it retrieves
// another one. contactcenter.md: "while retrieving, other incoming calls
// are redirected to the personal queue" — so the call waits for a in its
// personal queue (keeping its entry time: the caller has waited that
// long), whether it came from there or from a general queue; a
// general-queue call leaves that queue's count as Redirected. A ring-all
// call still ringing on other agents only stops ringing on a: it was
// never a's alone, and the others may take it at once.
func (e *Engine) redirectOffer(c *Call, a *AgentState) {
	if len(c.Offered) > 1 || c.Origin == OriginPersonal {
		e.withdrawAgent(c, a, "retrieve") // a personal call goes back to a's personal queue
		return
	}
	q := e.st.Queues[c.Queue]
	e.detach(c)
	q.Stats.Redirected++
	pos := e.placeInPersonal(c, a)
	e.emit(EvCallOfferWithdrawn, WithdrawnEvent{Call: c.ID, Agents: []string{a.ID}, Reason: "retrieve"})
	e.emitQueued(c, pos, "retrieve")
}

func describe(c *Call) string {
	s := c.Place
	if c.Kind != "" {
		s += " (" + c.Kind + ")"
	}
	if c.State != "" {
		s += " " + c.State
	}
	return s
}

// CallRequest is the payload of the edge's call.remote_answer and
// call.remote_busy.
type CallRequest struct {
	Call string `json:"call"`
}

// cmdRemoteAnswer: the far side of an outgoing leg answered (a dial, a
// consultation, a transfer/chain/camp-on target, a direct call).
func (e *Engine) cmdRemoteAnswer(env command.Envelope) (any, error) {
	p := &e.req.call
	*p = CallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	c, err := e.call("remote answer", p.Call)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Place == PlaceLine && c.State == CallDialing:
		c.State, c.AnsweredAt = CallTalking, e.now
		e.emit(EvCallConnected, ConnectedEvent{Call: c.ID, Agent: c.Agent, Line: c.Line, Target: c.Target})
		if c.Callback != "" {
			e.callbackConnected(c)
		}
	case c.Place == PlaceSupervised && c.State == CallRinging && c.Kind == KindTransfer,
		c.Place == PlaceSupervised && c.Kind == KindCampOn:
		kind, owner, target := c.Kind, c.Agent, c.Target
		e.detach(c)
		c.Place, c.State, c.Agent, c.Target, c.AnsweredAt = PlaceExtension, CallTalking, "", target, e.now
		e.extCalls[c.ID] = struct{}{}
		e.emit(EvCallTransferred, TransferEvent{Call: c.ID, Agent: owner, Target: target, Kind: kind})
	case c.Place == PlaceSupervised && c.State == CallRinging && c.Kind == KindChain:
		c.State, c.Deadline, c.Band = CallTalking, 0, 0
		e.emit(EvCallConnected, ConnectedEvent{Call: c.ID, Agent: c.Agent, Target: c.Target, Kind: KindChain})
	case c.Place == PlaceExtension && c.State == CallRinging:
		c.State, c.AnsweredAt = CallTalking, e.now
		e.emit(EvCallConnected, ConnectedEvent{Call: c.ID, Target: c.Target})
	default:
		return nil, opErr(ErrNotOutgoing, "remote answer", "call %q is %s", c.ID, describe(c))
	}
	return e.deferCall(c.ID), nil
}

// cmdRemoteBusy: the far side of an outgoing leg is busy.
func (e *Engine) cmdRemoteBusy(env command.Envelope) (any, error) {
	p := &e.req.call
	*p = CallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	c, err := e.call("remote busy", p.Call)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Place == PlaceLine && c.State == CallDialing && c.Line == 2:
		c.State = CallBusy
		e.emit(EvCallConsultBusy, ConsultEvent{Call: c.ID, Caller: c.Peer, Agent: c.Agent, Target: c.Target})
	case c.Place == PlaceLine && c.State == CallDialing,
		c.Place == PlaceExtension && c.State == CallRinging:
		e.endCall(c, "busy", "remote")
	case c.Place == PlaceSupervised && c.State == CallRinging:
		e.transferBusy(c)
	case c.Place == PlaceSupervised && c.Kind == KindCampOn:
		// Still busy: the call keeps waiting on the target.
	default:
		return nil, opErr(ErrNotOutgoing, "remote busy", "call %q is %s", c.ID, describe(c))
	}
	return e.deferCall(c.ID), nil
}

// RemoteHangupRequest is the payload of call.remote_hangup. Side is
// "remote" (default: the call's outside party — the caller, or the called
// party of a dial) or "target" (the extension a transferred, chained or
// direct call is connected to).
type RemoteHangupRequest struct {
	Call string `json:"call"`
	Side string `json:"side,omitempty"`
}

func (e *Engine) cmdRemoteHangup(env command.Envelope) (any, error) {
	p := &e.req.remoteHangup
	*p = RemoteHangupRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	if p.Side != "" && p.Side != "remote" && p.Side != "target" {
		return nil, fieldErr("side", "%q is not a side (remote or target)", p.Side)
	}
	c, err := e.call("remote hang-up", p.Call)
	if err != nil {
		return nil, err
	}
	if p.Side == "target" {
		switch {
		case c.Place == PlaceExtension, c.Place == PlaceLine, c.Place == PlaceBridged:
			e.endCall(c, "hangup", "target")
		case c.Place == PlaceSupervised && c.Kind == KindChain && c.State == CallTalking:
			owner := e.st.Agents[c.Agent]
			e.returnToOperator(c, owner, "chain_return")
			e.emit(EvCallReturned, ReturnedEvent{Call: c.ID, Agent: owner.ID, Kind: KindChain, Reason: "chain_return"})
		case c.Place == PlaceSupervised && c.State == CallRinging:
			// The target declined: as busy.
			e.transferBusy(c)
		default:
			return nil, opErr(ErrNotOutgoing, "remote hang-up", "call %q (%s) has no target to hang up", c.ID, describe(c))
		}
		return e.deferCall(c.ID), nil
	}
	reason := "hangup"
	if c.Place == PlaceQueue || c.Place == PlacePersonal || c.Place == PlaceRinging {
		reason = "abandoned"
	}
	e.endCall(c, reason, "remote")
	return e.deferCall(c.ID), nil
}

// NoteRequest is the payload of call.note: update a call's note (it
// travels with the call). Any operator may note a supervised call; other
// calls only on the operator's own lines or personal queue.
type NoteRequest struct {
	Agent string `json:"agent"`
	Call  string `json:"call"`
	Note  string `json:"note"`
}

func (e *Engine) cmdNote(env command.Envelope) (any, error) {
	var p NoteRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkText("note", p.Note, MaxNoteLen); err != nil {
		return nil, err
	}
	a, err := e.agent("note", p.Agent)
	if err != nil {
		return nil, err
	}
	c, err := e.call("note", p.Call)
	if err != nil {
		return nil, err
	}
	own := (c.Place == PlaceLine || c.Place == PlacePersonal) && c.Agent == a.ID
	if !own && c.Place != PlaceSupervised {
		return nil, opErr(ErrNotYours, "note", "call %q is not on agent %q's lines, personal queue or in supervision", c.ID, a.ID)
	}
	c.Note = p.Note
	e.emit(EvCallNoteUpdated, NoteEvent{Call: c.ID, Agent: a.ID, Note: p.Note})
	return e.deferCall(c.ID), nil
}
