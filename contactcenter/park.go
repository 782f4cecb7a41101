package contactcenter

import (
	"github.com/tandemcc/tandem/command"
)

// ParkPickupPrefix: dialling *55<ext> from any phone retrieves the call
// parked on extension <ext> (directed park).
const ParkPickupPrefix = "*55"

// ParkRequest is the payload of call.park (F7): park the call on line 1
// with a note; it shows in supervision.
type ParkRequest struct {
	Agent string `json:"agent"`
	Note  string `json:"note,omitempty"`
}

// ParkOnRequest is the payload of call.park_on (F8, directed park): park
// the call on line 1 onto a user's extension.
type ParkOnRequest struct {
	Agent     string `json:"agent"`
	Extension string `json:"extension"`
	Note      string `json:"note,omitempty"`
}

// ParkPickupRequest is the payload of call.park_pickup, reported by the
// telephony edge when any phone dials *55<extension>. By names the phone
// (or extension) that dialled; the call is connected to it.
type ParkPickupRequest struct {
	Extension string `json:"extension"`
	By        string `json:"by"`
}

// CoupleRequest is the payload of call.couple: connect the call on line 1
// with a parked call.
type CoupleRequest struct {
	Agent string `json:"agent"`
	Call  string `json:"call"`
}

func (e *Engine) cmdPark(env command.Envelope) (any, error) {
	var p ParkRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkText("note", p.Note, MaxNoteLen); err != nil {
		return nil, err
	}
	a, err := e.agent("park", p.Agent)
	if err != nil {
		return nil, err
	}
	c, err := e.lineOneCall("park", a)
	if err != nil {
		return nil, err
	}
	e.park(a, c, KindPark, "", p.Note)
	return e.deferCall(c.ID), nil
}

func (e *Engine) cmdParkOn(env command.Envelope) (any, error) {
	var p ParkOnRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkText("note", p.Note, MaxNoteLen); err != nil {
		return nil, err
	}
	if p.Extension == "" {
		return nil, fieldErr("extension", "missing")
	}
	a, err := e.agent("directed park", p.Agent)
	if err != nil {
		return nil, err
	}
	c, err := e.lineOneCall("directed park", a)
	if err != nil {
		return nil, err
	}
	if _, ok := e.st.Config.Extensions[p.Extension]; !ok {
		return nil, opErr(ErrUnknownExtension, "directed park", "unknown extension %q", p.Extension)
	}
	e.park(a, c, KindDirectedPark, p.Extension, p.Note)
	return e.deferCall(c.ID), nil
}

func (e *Engine) park(a *AgentState, c *Call, kind, ext, note string) {
	if note != "" {
		c.Note = note
	}
	op := OpPark
	if kind == KindDirectedPark {
		op = OpDirectedPark
	}
	e.history(a, c, op, e.talkMS(c), ext)
	e.leaveLine(c)
	e.supervise(c, a, kind, CallParked, ext, e.st.Config.Settings.ParkReturnSeconds)
	e.emit(EvCallParked, ParkedEvent{Call: c.ID, Agent: a.ID, Kind: kind, Extension: ext, Note: c.Note, ReturnAt: c.Deadline})
}

// parkedOn returns the call parked longest on extension ext.
func (e *Engine) parkedOn(op, ext string) (*Call, error) {
	if _, ok := e.st.Config.Extensions[ext]; !ok {
		return nil, opErr(ErrUnknownExtension, op, "unknown extension %q", ext)
	}
	var best *Call
	e.supervisedCalls(func(c *Call) {
		if c.Kind != KindDirectedPark || c.Target != ext {
			return
		}
		if best == nil || c.Since < best.Since || (c.Since == best.Since && c.ID < best.ID) {
			best = c
		}
	})
	if best == nil {
		return nil, opErr(ErrNothingParked, op, "no call is parked on extension %q", ext)
	}
	return best, nil
}

func (e *Engine) cmdParkPickup(env command.Envelope) (any, error) {
	var p ParkPickupRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if p.By == "" {
		return nil, fieldErr("by", "missing")
	}
	if err := checkText("by", p.By, MaxNumberLen); err != nil {
		return nil, err
	}
	c, err := e.parkedOn("park pickup", p.Extension)
	if err != nil {
		return nil, err
	}
	e.detach(c)
	c.Place, c.State, c.Agent, c.Target, c.AnsweredAt = PlaceExtension, CallTalking, "", p.By, e.now
	e.extCalls[c.ID] = struct{}{}
	e.emit(EvCallParkRetrieved, ParkRetrievedEvent{Call: c.ID, Extension: p.Extension, By: p.By})
	return e.deferCall(c.ID), nil
}

func (e *Engine) cmdCouple(env command.Envelope) (any, error) {
	var p CoupleRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("couple", p.Agent)
	if err != nil {
		return nil, err
	}
	c, err := e.lineOneCall("couple", a)
	if err != nil {
		return nil, err
	}
	if c.State != CallTalking {
		return nil, opErr(ErrNotTalking, "couple", "the call on line 1 of agent %q is %s", a.ID, c.State)
	}
	parked, err := e.call("couple", p.Call)
	if err != nil {
		return nil, err
	}
	if parked.Place != PlaceSupervised || (parked.Kind != KindPark && parked.Kind != KindDirectedPark) {
		return nil, opErr(ErrNotParked, "couple", "call %q is %s, not parked", parked.ID, describe(parked))
	}
	e.history(a, c, OpCouple, e.talkMS(c), "")
	e.leaveLine(c)
	e.detach(parked)
	c.Place, c.Agent, c.Peer, c.State = PlaceBridged, "", parked.ID, CallTalking
	parked.Place, parked.Agent, parked.Peer, parked.State, parked.Target = PlaceBridged, "", c.ID, CallTalking, ""
	e.emit(EvCallCoupled, CoupledEvent{Call: c.ID, With: parked.ID, Agent: a.ID})
	return e.deferCall(c.ID), nil
}
