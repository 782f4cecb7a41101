package contactcenter

// Event types the engine emits (besides config.<kind>.created|updated|
// removed and config.settings.updated from config.apply). Times are Unix
// nanoseconds (*_at, until), durations milliseconds (*_ms) or seconds
// (*_seconds). DESIGN.md documents every payload.
const (
	EvAgentStateChanged = "agent.state_changed"
	EvAgentWrapUp       = "agent.wrapup_started"
	EvAgentWrapUpEnded  = "agent.wrapup_ended"
	EvAgentPhoneReset   = "agent.phone_reset"

	EvCallQueued          = "call.queued"
	EvCallOffered         = "call.offered"
	EvCallOfferWithdrawn  = "call.offer_withdrawn"
	EvCallNoAnswer        = "call.no_answer"
	EvCallRejected        = "call.rejected"
	EvCallAnswered        = "call.answered"
	EvCallRinging         = "call.ringing"
	EvCallDialing         = "call.dialing"
	EvCallConnected       = "call.connected"
	EvCallHeld            = "call.held"
	EvCallRetrieved       = "call.retrieved"
	EvCallTransferStarted = "call.transfer_started"
	EvCallTransferBusy    = "call.transfer_busy"
	EvCallTransferred     = "call.transferred"
	EvCallConsultStarted  = "call.consult_started"
	EvCallConsultBusy     = "call.consult_busy"
	EvCallCamped          = "call.camped"
	EvCallParked          = "call.parked"
	EvCallParkRetrieved   = "call.park_retrieved"
	EvCallCoupled         = "call.coupled"
	EvCallReturned        = "call.returned"
	EvCallNoteUpdated     = "call.note_updated"
	EvCallBand            = "call.supervision_band"
	EvCallEnded           = "call.ended"

	EvQueueStats = "queue.stats"

	EvPhoneRegistration  = "phone.registration"
	EvPhoneSecretRotated = "phone.secret_rotated"
	EvPhoneSecretExpired = "phone.secret_expired"
	// EvPhoneSecretGraceEnded: a replaced secret stopped working.
	EvPhoneSecretGraceEnded = "phone.secret_grace_ended"

	EvUserPresence    = "user.presence"
	EvUserForwarding  = "user.forwarding"
	EvUserPreferences = "user.preferences"

	EvProblemReported = "problem.reported"
)

// AgentRef names an agent.
type AgentRef struct {
	Agent string `json:"agent"`
}

// AgentStateEvent is agent.state_changed.
type AgentStateEvent struct {
	Agent    string `json:"agent"`
	State    string `json:"state"`
	Previous string `json:"previous"`
	Reason   string `json:"reason,omitempty"`
	// Auto: the engine changed the state (automatic pause).
	Auto bool `json:"auto,omitempty"`
	// LoggedIn is the number of operators logged in afterwards.
	LoggedIn int `json:"logged_in"`
}

// WrapUpEvent is agent.wrapup_started.
type WrapUpEvent struct {
	Agent string `json:"agent"`
	Until int64  `json:"until"`
}

// PhoneResetEvent is agent.phone_reset: the edge resets the operator's
// phone (hang-up while idle, or report-a-problem with reset).
type PhoneResetEvent struct {
	Agent string   `json:"agent"`
	Ended []string `json:"ended,omitempty"`
}

// QueuedEvent is call.queued: a call entered a general queue (Queue) or a
// personal queue (Agent).
type QueuedEvent struct {
	Call     string `json:"call"`
	Queue    string `json:"queue,omitempty"`
	Agent    string `json:"agent,omitempty"`
	Number   string `json:"number,omitempty"`
	Name     string `json:"name,omitempty"`
	Note     string `json:"note,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Position int    `json:"position"`
	// Waiting is the queue's waiting counter afterwards; Level its colour.
	Waiting             int   `json:"waiting"`
	Level               int   `json:"level,omitempty"`
	ExpectedWaitSeconds int64 `json:"expected_wait_seconds"`
	// Reason: new, auto_return, chain_return, transfer_busy, logout, login,
	// retrieve.
	Reason string `json:"reason"`
}

// OfferedEvent is call.offered: ring these agents' phones.
type OfferedEvent struct {
	Call   string   `json:"call"`
	Agents []string `json:"agents"`
	Queue  string   `json:"queue,omitempty"`
	// Personal: offered from the agent's personal queue.
	Personal  bool   `json:"personal,omitempty"`
	Number    string `json:"number,omitempty"`
	Name      string `json:"name,omitempty"`
	Note      string `json:"note,omitempty"`
	RingUntil int64  `json:"ring_until"`
}

// WithdrawnEvent is call.offer_withdrawn: stop ringing these agents.
type WithdrawnEvent struct {
	Call   string   `json:"call"`
	Agents []string `json:"agents"`
	// Reason: answered_elsewhere, logout, reset, retrieve.
	Reason string `json:"reason"`
}

// CallAgentEvent names a call and an agent (call.no_answer,
// call.rejected, call.held).
type CallAgentEvent struct {
	Call  string `json:"call"`
	Agent string `json:"agent"`
}

// AnsweredEvent is call.answered.
type AnsweredEvent struct {
	Call   string `json:"call"`
	Agent  string `json:"agent"`
	Queue  string `json:"queue,omitempty"`
	WaitMS int64  `json:"wait_ms"`
}

// RingingEvent is call.ringing: a direct call rings an extension.
type RingingEvent struct {
	Call      string     `json:"call"`
	Extension string     `json:"extension"`
	Number    string     `json:"number,omitempty"`
	Waves     [][]string `json:"waves"`
}

// DialingEvent is call.dialing (a dial, or the consultation leg).
type DialingEvent struct {
	Call   string `json:"call"`
	Agent  string `json:"agent"`
	Line   int    `json:"line"`
	Number string `json:"number"`
}

// ConnectedEvent is call.connected: an outgoing leg was answered.
type ConnectedEvent struct {
	Call   string `json:"call"`
	Agent  string `json:"agent,omitempty"`
	Line   int    `json:"line,omitempty"`
	Target string `json:"target,omitempty"`
	Kind   string `json:"kind,omitempty"`
}

// RetrievedEvent is call.retrieved.
type RetrievedEvent struct {
	Call  string `json:"call"`
	Agent string `json:"agent"`
	// From: hold, supervision, personal.
	From string `json:"from"`
	Kind string `json:"kind,omitempty"`
}

// TransferEvent is call.transfer_started, call.transferred,
// call.transfer_busy and call.camped.
type TransferEvent struct {
	Call   string `json:"call"`
	Agent  string `json:"agent,omitempty"`
	Target string `json:"target"`
	// Kind: T (blind), C (chain), O (camp-on); for call.transferred also
	// "attended".
	Kind     string `json:"kind,omitempty"`
	ReturnAt int64  `json:"return_at,omitempty"`
	// To (call.transfer_busy): "hold" or "personal".
	To string `json:"to,omitempty"`
}

// ConsultEvent is call.consult_started and call.consult_busy.
type ConsultEvent struct {
	Call   string `json:"call"`
	Caller string `json:"caller"`
	Agent  string `json:"agent"`
	Target string `json:"target"`
}

// ParkedEvent is call.parked.
type ParkedEvent struct {
	Call      string `json:"call"`
	Agent     string `json:"agent"`
	Kind      string `json:"kind"`
	Extension string `json:"extension,omitempty"`
	Note      string `json:"note,omitempty"`
	ReturnAt  int64  `json:"return_at"`
}

// ParkRetrievedEvent is call.park_retrieved (*55<ext>).
type ParkRetrievedEvent struct {
	Call      string `json:"call"`
	Extension string `json:"extension"`
	By        string `json:"by"`
	Agent     string `json:"agent,omitempty"`
}

// CoupledEvent is call.coupled.
type CoupledEvent struct {
	Call  string `json:"call"`
	With  string `json:"with"`
	Agent string `json:"agent"`
}

// ReturnedEvent is call.returned: a call came back from supervision.
type ReturnedEvent struct {
	Call  string `json:"call"`
	Agent string `json:"agent"`
	Kind  string `json:"kind"`
	// Reason: auto_return, chain_return.
	Reason string `json:"reason"`
}

// NoteEvent is call.note_updated.
type NoteEvent struct {
	Call  string `json:"call"`
	Agent string `json:"agent"`
	Note  string `json:"note"`
}

// BandEvent is call.supervision_band.
type BandEvent struct {
	Call       string `json:"call"`
	Agent      string `json:"agent"`
	Band       int    `json:"band"`
	ElapsedPct int    `json:"elapsed_pct"`
}

// CallEndedEvent is call.ended.
type CallEndedEvent struct {
	Call string `json:"call"`
	// Reason: hangup, abandoned, busy, reset, merged, cancelled,
	// peer_hangup.
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
	Place  string `json:"place"`
	Agent  string `json:"agent,omitempty"`
	// Queue is the general queue the call came through, if any: the
	// consoles of that queue's operators learn that a call they saw
	// waiting or ringing is gone (console stream filter).
	Queue string `json:"queue,omitempty"`
	// Medium is MediumEmail for an e-mail contact ("" for a call).
	Medium     string `json:"medium,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// PhoneRegEvent is phone.registration.
type PhoneRegEvent struct {
	Extension  string `json:"extension"`
	Phone      string `json:"phone"`
	Registered bool   `json:"registered"`
}

// SecretEvent is phone.secret_rotated, phone.secret_expired and
// phone.secret_grace_ended. It never carries a secret. ExpiresAt is the
// current secret's expiry (grace ended: when the previous one stopped
// working); GraceUntil, on a rotation, is until when the replaced secret
// still works (0: it did not work any more).
type SecretEvent struct {
	Extension  string `json:"extension"`
	Phone      string `json:"phone"`
	ExpiresAt  int64  `json:"expires_at"`
	GraceUntil int64  `json:"grace_until,omitempty"`
}

// PresenceEvent is user.presence.
type PresenceEvent struct {
	User     string `json:"user"`
	Presence string `json:"presence"`
}

// ForwardingEvent is user.forwarding.
type ForwardingEvent struct {
	User       string     `json:"user"`
	Forwarding Forwarding `json:"forwarding"`
}
