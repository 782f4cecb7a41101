package contactcenter

import (
	"encoding/json"
	"fmt"

	"github.com/tandemcc/tandem/command"
)

// payloadOf names, for every command type but config.apply, the payload
// type its handler decodes. CheckPayload decodes into it exactly as the
// handler does (TestPayloadRegistry keeps the two in step).
var payloadOf = map[string]func() any{
	TypeAgentLogin:         func() any { return new(AgentRequest) },
	TypeAgentLogout:        func() any { return new(AgentRequest) },
	TypeAgentPause:         func() any { return new(PauseRequest) },
	TypeAgentClose:         func() any { return new(CloseRequest) },
	TypeAgentWrapUpEnd:     func() any { return new(AgentRequest) },
	TypeAgentReportProblem: func() any { return new(ReportProblemRequest) },

	TypeCallIncoming:      func() any { return new(IncomingRequest) },
	TypeCallRemoteAnswer:  func() any { return new(CallRequest) },
	TypeCallRemoteBusy:    func() any { return new(CallRequest) },
	TypeCallRemoteHangup:  func() any { return new(RemoteHangupRequest) },
	TypeCallAnswer:        func() any { return new(AgentCallRequest) },
	TypeCallReject:        func() any { return new(AgentCallRequest) },
	TypeCallHangup:        func() any { return new(HangupRequest) },
	TypeCallDial:          func() any { return new(DialRequest) },
	TypeCallHold:          func() any { return new(AgentCallRequest) },
	TypeCallRetrieve:      func() any { return new(RetrieveRequest) },
	TypeCallTransfer:      func() any { return new(TransferRequest) },
	TypeCallConsult:       func() any { return new(ConsultRequest) },
	TypeCallComplete:      func() any { return new(CompleteRequest) },
	TypeCallCancelConsult: func() any { return new(AgentCallRequest) },
	TypeCallCampOn:        func() any { return new(AgentCallRequest) },
	TypeCallPark:          func() any { return new(ParkRequest) },
	TypeCallParkOn:        func() any { return new(ParkOnRequest) },
	TypeCallParkPickup:    func() any { return new(ParkPickupRequest) },
	TypeCallCouple:        func() any { return new(CoupleRequest) },
	TypeCallNote:          func() any { return new(NoteRequest) },

	TypeClockTick: func() any { return new(struct{}) },

	TypePhoneRegistration: func() any { return new(PhoneRegistrationRequest) },
	TypePhoneSetSecret:    func() any { return new(SetSecretRequest) },
	TypePhoneSetOrder:     func() any { return new(PhoneOrderRequest) },
	TypePhoneSetRinging:   func() any { return new(PhoneRingingRequest) },

	TypeUserPresence:   func() any { return new(PresenceRequest) },
	TypeUserForwarding: func() any { return new(ForwardingRequest) },

	TypeVoicemailDeposited: func() any { return new(VoicemailDepositRequest) },
	TypeVoicemailMark:      func() any { return new(VoicemailMarkRequest) },
	TypeVoicemailDelete:    func() any { return new(VoicemailDeleteRequest) },
}

// CheckPayload is the engine's check of a command before it is proposed:
// the type is one the engine applies, and the payload decodes as Apply
// will decode it — strictly: unknown fields, wrong types and trailing
// data are refused with the field named (a *FieldError). A configuration
// document is also checked field by field (Document.Validate). What needs
// the state (does the agent exist, is the call ringing) only Apply can
// tell. Edges call it so that a malformed operation never reaches the
// Raft log; Apply decodes with the same types, so the two agree.
func CheckPayload(typ string, payload []byte) error {
	if typ == TypeConfigApply {
		var req ApplyRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return fieldErr("payload", "%v", err)
		}
		return req.Document.Validate()
	}
	mk, ok := payloadOf[typ]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownCommand, typ)
	}
	if typ == TypeClockTick && len(payload) == 0 {
		return nil // a tick may carry no payload at all
	}
	return decodeWith(command.Envelope{Type: typ, Payload: payload}, mk(), nil)
}
