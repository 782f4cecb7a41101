package contactcenter

import "github.com/tandemcc/tandem/command"

// TransferRequest is the payload of call.transfer: a direct (blind)
// transfer of the call on line 1 to an extension. With Chain, the caller
// comes back to the operator's personal queue when the conversation with
// the target ends.
type TransferRequest struct {
	Agent  string `json:"agent"`
	Target string `json:"target"`
	Chain  bool   `json:"chain,omitempty"`
}

// ConsultRequest is the payload of call.consult: the first step of an
// attended transfer (the caller is held, the target called on line 2
// under the new call id).
type ConsultRequest struct {
	Agent  string `json:"agent"`
	Call   string `json:"call"`
	Target string `json:"target"`
}

// CompleteRequest is the payload of call.complete: confirm the attended
// transfer (or chain) once the target answered on line 2.
type CompleteRequest struct {
	Agent string `json:"agent"`
	Chain bool   `json:"chain,omitempty"`
}

// lineOneCall returns the operator's call on line 1 if it may be
// transferred or parked: in conversation or held, no consultation.
func (e *Engine) lineOneCall(op string, a *AgentState) (*Call, error) {
	if a.Line1 == "" {
		return nil, opErr(ErrNoCall, op, "no call on line 1 of agent %q", a.ID)
	}
	if a.Line2 != "" {
		return nil, opErr(ErrConsultActive, op, "agent %q is consulting on line 2; complete or cancel the consultation first", a.ID)
	}
	c := e.st.Calls[a.Line1]
	if c.State != CallTalking && c.State != CallHeld {
		return nil, opErr(ErrNotTalking, op, "the call on line 1 of agent %q is %s", a.ID, c.State)
	}
	return c, nil
}

// transferTarget checks a transfer's target extension.
func (e *Engine) transferTarget(op string, a *AgentState, target string) error {
	if target == "" {
		return fieldErr("target", "missing")
	}
	if _, ok := e.st.Config.Extensions[target]; !ok {
		return opErr(ErrUnknownExtension, op, "unknown extension %q", target)
	}
	if target == a.conf.Extension {
		return opErr(ErrSelfTransfer, op, "extension %q is agent %q's own", target, a.ID)
	}
	return nil
}

func (e *Engine) supervise(c *Call, owner *AgentState, kind, state, target string, limitSeconds int) {
	c.Place, c.Agent, c.Kind, c.State, c.Target = PlaceSupervised, owner.ID, kind, state, target
	e.supervised[c.ID] = struct{}{}
	c.Since, c.Band = e.now, 0
	c.Deadline = 0
	if limitSeconds > 0 {
		c.Deadline = e.now + int64(limitSeconds)*1e9
		e.timed[c.ID] = struct{}{}
	}
}

func (e *Engine) cmdTransfer(env command.Envelope) (any, error) {
	var p TransferRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("transfer", p.Agent)
	if err != nil {
		return nil, err
	}
	c, err := e.lineOneCall("transfer", a)
	if err != nil {
		return nil, err
	}
	if err := e.transferTarget("transfer", a, p.Target); err != nil {
		return nil, err
	}
	kind, op := KindTransfer, OpTransfer
	if p.Chain {
		kind, op = KindChain, OpChain
	}
	e.history(a, c, op, e.talkMS(c), p.Target)
	e.leaveLine(c)
	e.supervise(c, a, kind, CallRinging, p.Target, e.st.Config.Settings.AutoReturnSeconds)
	e.emit(EvCallTransferStarted, TransferEvent{Call: c.ID, Agent: a.ID, Target: p.Target, Kind: kind, ReturnAt: c.Deadline})
	return e.deferCall(c.ID), nil
}

// transferBusy: the target of a blind transfer (or chain) is busy. The
// outgoing leg is over and the caller is put on hold with the operator —
// on line 1 if it is free and the operator logged in, else in the
// operator's personal queue. No call is lost or stranded: a logged-out
// operator (who may have closed the console) would never retrieve a held
// call, so the personal-queue rule (releaseStranded) moves it on from
// there.
func (e *Engine) transferBusy(c *Call) {
	owner := e.st.Agents[c.Agent]
	target := c.Target
	e.detach(c)
	c.Target = ""
	to := "hold"
	if owner.idle() && owner.State != StateDisconnected {
		c.Place, c.Agent, c.Line, c.State = PlaceLine, owner.ID, 1, CallHeld
		owner.Line1 = c.ID
	} else {
		to = "personal"
		pos := e.enterPersonal(c, owner)
		e.emitQueued(c, pos, "transfer_busy")
	}
	e.emit(EvCallTransferBusy, TransferEvent{Call: c.ID, Agent: owner.ID, Target: target, To: to})
}

func (e *Engine) cmdConsult(env command.Envelope) (any, error) {
	var p ConsultRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("consult", p.Agent)
	if err != nil {
		return nil, err
	}
	caller, err := e.lineOneCall("consult", a)
	if err != nil {
		return nil, err
	}
	if err := e.transferTarget("consult", a, p.Target); err != nil {
		return nil, err
	}
	if err := checkCallID("call", p.Call, e.st.Calls); err != nil {
		return nil, err
	}
	if caller.State == CallTalking {
		caller.State = CallHeld
		e.emit(EvCallHeld, CallAgentEvent{Call: caller.ID, Agent: a.ID})
	}
	c := &Call{
		ID: p.Call, Number: p.Target, Direction: DirInternal, Created: e.now,
		Place: PlaceLine, Agent: a.ID, Line: 2, State: CallDialing, Target: p.Target, Peer: caller.ID,
	}
	e.st.Calls[c.ID] = c
	a.Line2 = c.ID
	e.history(a, caller, OpConsult, 0, p.Target)
	e.emit(EvCallConsultStarted, ConsultEvent{Call: c.ID, Caller: caller.ID, Agent: a.ID, Target: p.Target})
	return e.deferCall(c.ID), nil
}

// endConsult ends the line-2 consultation (the caller stays on line 1).
func (e *Engine) endConsult(a *AgentState, reason string) {
	c := e.st.Calls[a.Line2]
	e.detach(c)
	e.forget(c)
	e.emitEnded(CallEndedEvent{Call: c.ID, Reason: reason, By: "agent", Place: PlaceLine, Agent: a.ID, Queue: c.Queue, Medium: c.Medium, DurationMS: (e.now - c.Created) / 1e6})
}

func (e *Engine) consultation(op string, a *AgentState) (*Call, error) {
	if a.Line2 == "" {
		return nil, opErr(ErrNoConsult, op, "no consultation on line 2 of agent %q", a.ID)
	}
	return e.st.Calls[a.Line2], nil
}

func (e *Engine) cmdComplete(env command.Envelope) (any, error) {
	var p CompleteRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("complete transfer", p.Agent)
	if err != nil {
		return nil, err
	}
	consult, err := e.consultation("complete transfer", a)
	if err != nil {
		return nil, err
	}
	if consult.State != CallTalking {
		return nil, opErr(ErrNotAnswered, "complete transfer", "extension %q has not answered on line 2 (%s)", consult.Target, consult.State)
	}
	caller := e.st.Calls[a.Line1]
	target := consult.Target
	op := OpTransfer
	if p.Chain {
		op = OpChain
	}
	e.history(a, caller, op, e.talkMS(caller), target)
	e.endConsult(a, "merged")
	e.leaveLine(caller)
	if p.Chain {
		e.supervise(caller, a, KindChain, CallTalking, target, 0)
		e.emit(EvCallConnected, ConnectedEvent{Call: caller.ID, Agent: a.ID, Target: target, Kind: KindChain})
	} else {
		caller.Place, caller.State, caller.Agent, caller.Target, caller.AnsweredAt = PlaceExtension, CallTalking, "", target, e.now
		e.extCalls[caller.ID] = struct{}{}
		e.emit(EvCallTransferred, TransferEvent{Call: caller.ID, Agent: a.ID, Target: target, Kind: "attended"})
	}
	return e.deferCall(caller.ID), nil
}

func (e *Engine) cmdCancelConsult(env command.Envelope) (any, error) {
	p := &e.req.agentCall
	*p = AgentCallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	a, err := e.agent("cancel consultation", p.Agent)
	if err != nil {
		return nil, err
	}
	if _, err := e.consultation("cancel consultation", a); err != nil {
		return nil, err
	}
	e.endConsult(a, "cancelled")
	caller := e.st.Calls[a.Line1]
	caller.State = CallTalking
	e.emit(EvCallRetrieved, RetrievedEvent{Call: caller.ID, Agent: a.ID, From: "hold"})
	return e.deferCall(caller.ID), nil
}

// cmdCampOn (observe / camp-on): the consulted target is busy; the
// transfer waits on the target's extension, shown in supervision, and
// returns to the operator after the auto-return limit.
func (e *Engine) cmdCampOn(env command.Envelope) (any, error) {
	p := &e.req.agentCall
	*p = AgentCallRequest{}
	if err := e.decode(env, p); err != nil {
		return nil, err
	}
	a, err := e.agent("camp on", p.Agent)
	if err != nil {
		return nil, err
	}
	consult, err := e.consultation("camp on", a)
	if err != nil {
		return nil, err
	}
	if consult.State != CallBusy {
		return nil, opErr(ErrNotBusy, "camp on", "extension %q is not busy (%s)", consult.Target, consult.State)
	}
	caller := e.st.Calls[a.Line1]
	target := consult.Target
	e.history(a, caller, OpCampOn, e.talkMS(caller), target)
	e.endConsult(a, "busy")
	e.leaveLine(caller)
	e.supervise(caller, a, KindCampOn, CallWaiting, target, e.st.Config.Settings.AutoReturnSeconds)
	e.emit(EvCallCamped, TransferEvent{Call: caller.ID, Agent: a.ID, Target: target, Kind: KindCampOn, ReturnAt: caller.Deadline})
	return e.deferCall(caller.ID), nil
}
