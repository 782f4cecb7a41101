package contactcenter

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/jsonin"
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

	TypeUserPresence:    func() any { return new(PresenceRequest) },
	TypeUserForwarding:  func() any { return new(ForwardingRequest) },
	TypeUserPreferences: func() any { return new(PreferencesRequest) },

	TypeVoicemailDeposited: func() any { return new(VoicemailDepositRequest) },
	TypeVoicemailMark:      func() any { return new(VoicemailMarkRequest) },
	TypeVoicemailDelete:    func() any { return new(VoicemailDeleteRequest) },
	TypeVoicemailSetPIN:    func() any { return new(VoicemailPINRequest) },
	TypeVoicemailMonitor:   func() any { return new(VoicemailMonitorRequest) },

	TypeCallbackCreate: func() any { return new(CallbackCreateRequest) },
	TypeCallbackCancel: func() any { return new(CallbackCancelRequest) },

	TypeMailReceived:      func() any { return new(MailReceivedRequest) },
	TypeMailReceivedBatch: func() any { return new(MailReceivedBatchRequest) },
	TypeMailReply:         func() any { return new(MailReplyRequest) },
	TypeMailForward:       func() any { return new(MailReplyRequest) },
	TypeMailReport:        func() any { return new(MailReportRequest) },
	TypeMailSending:       func() any { return new(MailSendingRequest) },
	TypeMailSent:          func() any { return new(MailSentRequest) },
	TypeChatCreate:        func() any { return new(ChatCreateRequest) },
	TypeChatMessage:       func() any { return new(ChatMessageRequest) },
	TypeChatTyping:        func() any { return new(ChatMessageRequest) },
	TypeChatEnd:           func() any { return new(ChatEndRequest) },
	TypeChatTranscript:    func() any { return new(ChatTranscriptRequest) },
}

// CheckPayload is the engine's check of a command before it is proposed:
// the type is one the engine applies, and the payload decodes as Apply
// will decode it — strictly: unknown fields, wrong types and trailing
// data are refused with the field named (a *FieldError) — and every text
// in it is within its kind's limits (limits.go: length, no control or
// bidirectional characters in names and free texts, IDs and extensions
// of their form). A configuration document is at most maxPayloadValues
// values, counted before it is decoded, and is checked field by field
// (Document.Validate), its fields named as in the document
// ("agents[0].name"). What needs the state (does the agent exist, is the
// call ringing) only Apply can tell. Edges call it so that a malformed
// operation never reaches the Raft log; Apply decodes with the same
// types, so the two agree.
func CheckPayload(typ string, payload []byte) error {
	if typ == TypeConfigApply {
		if n := jsonin.Values(payload); n > maxPayloadValues {
			return fieldErr("document", "more than %d values", maxPayloadValues)
		}
		var req ApplyRequest
		if err := jsonin.Decode(payload, &req); err != nil {
			return configPayloadErr(err)
		}
		return req.Document.Validate()
	}
	mk, ok := payloadOf[typ]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownCommand, clip(typ))
	}
	if typ == TypeClockTick && len(payload) == 0 {
		return nil // a tick may carry no payload at all
	}
	return checkDecoded(typ, payload, mk(), nil)
}

// MailBatchChecker is CheckPayload for mail.received_batch payloads that
// reuses its decoding memory from one batch to the next, as Apply does
// (mailScratch): a proposer checks hundreds of messages at a time. The
// zero value is ready; it is safe for concurrent use.
type MailBatchChecker struct {
	mu sync.Mutex
	in interns
}

// Check is CheckPayload(TypeMailReceivedBatch, payload).
func (c *MailBatchChecker) Check(payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.in.mail.release()
	return checkDecoded(TypeMailReceivedBatch, payload, new(MailReceivedBatchRequest), &c.in)
}

// checkDecoded is CheckPayload for a payload of typ (not config.apply)
// decoded into v, with in's strings and memory (nil: none).
func checkDecoded(typ string, payload []byte, v any, in *interns) error {
	if err := decodeWith(command.Envelope{Type: typ, Payload: payload}, v, in); err != nil {
		return err
	}
	if err := checkTexts(v); err != nil {
		return err
	}
	if p, ok := v.(*PreferencesRequest); ok {
		return CheckPreferences(p.Preferences) // needs no state
	}
	return nil
}

// maxPayloadValues bounds the JSON values of a config.apply payload. The
// JSON of a document ParseDocument accepted (at most MaxDocumentNodes
// YAML nodes, keys counted) spells out fields YAML left empty (a phone's
// position, order and kind): at most 5/3 as many values, so twice the
// bound of the text always fits.
const maxPayloadValues = 2 * MaxDocumentNodes

// configPayloadErr is a *FieldError for a decoding error of a
// config.apply payload, its field named as in the document
// ("agents[0].queues", not "document.agents[0].queues"), as Validate
// names it.
func configPayloadErr(err error) error {
	var fe *FieldError
	if errors.As(payloadErr(err), &fe) {
		fe.Field = strings.TrimPrefix(fe.Field, "document.")
		return fe
	}
	return err
}
