// Package contactcenter is Tandem's deterministic contact-center engine:
// configuration (agents, queues, extensions, users, business units) and,
// built on it, agents' states, queues and ACD routing, calls and every
// operator operation, directory, history, multi-device ring plans,
// forwarding, CTI (number normalisation, caller matching, active calls),
// excluded numbers and voicemail lists — the state every node replicates.
//
// The engine is a pure state machine. It is driven only by commands
// (command.Envelope) applied in Raft log order and reports what changed only
// through events (command.Emitter). It must not import network, storage or
// clock code: no I/O, no time.Now, no randomness. Time and IDs arrive in the
// command; time-based rules (ring timeouts, wrap-up, auto-return, secret
// expiry) fire on clock.tick commands. Adapters (SIP, web, mail, consoles)
// import this package; this package never imports them. DESIGN.md lists
// every command and event.
package contactcenter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Command families the engine applies.
const (
	// Family is the configuration family (config.apply).
	Family      = "config"
	FamilyAgent = "agent"
	FamilyCall  = "call"
	FamilyClock = "clock"
	FamilyPhone = "phone"
	FamilyUser  = "user"
	// FamilyVoicemail is the voicemail-list family (voicemail.*).
	FamilyVoicemail = "voicemail"
)

// Command types applied by the engine. Commands named call.remote_* are
// reported by the telephony edge (what happened on the network); the other
// call.* commands are operator operations (console or phone keys).
const (
	// TypeConfigApply declaratively applies a configuration document.
	TypeConfigApply = "config.apply"

	TypeAgentLogin         = "agent.login"
	TypeAgentLogout        = "agent.logout"
	TypeAgentPause         = "agent.pause"
	TypeAgentClose         = "agent.close"
	TypeAgentWrapUpEnd     = "agent.wrapup_end"
	TypeAgentReportProblem = "agent.report_problem"

	TypeCallIncoming      = "call.incoming"
	TypeCallRemoteAnswer  = "call.remote_answer"
	TypeCallRemoteBusy    = "call.remote_busy"
	TypeCallRemoteHangup  = "call.remote_hangup"
	TypeCallAnswer        = "call.answer"
	TypeCallReject        = "call.reject"
	TypeCallHangup        = "call.hangup"
	TypeCallDial          = "call.dial"
	TypeCallHold          = "call.hold"
	TypeCallRetrieve      = "call.retrieve"
	TypeCallTransfer      = "call.transfer"
	TypeCallConsult       = "call.consult"
	TypeCallComplete      = "call.complete"
	TypeCallCancelConsult = "call.cancel_consult"
	TypeCallCampOn        = "call.camp_on"
	TypeCallPark          = "call.park"
	TypeCallParkOn        = "call.park_on"
	TypeCallParkPickup    = "call.park_pickup"
	TypeCallCouple        = "call.couple"
	TypeCallNote          = "call.note"

	TypeClockTick = "clock.tick"

	TypePhoneRegistration = "phone.registration"
	TypePhoneSetSecret    = "phone.set_secret"
	TypePhoneSetOrder     = "phone.set_order"
	TypePhoneSetRinging   = "phone.set_ringing"

	TypeUserPresence    = "user.presence"
	TypeUserForwarding  = "user.forwarding"
	TypeUserPreferences = "user.preferences"
)

type handler func(e *Engine, env command.Envelope) (any, error)

// handlers maps every command type to its handler. A handler validates
// everything first and mutates only once nothing can fail any more.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		TypeConfigApply: (*Engine).applyConfig,

		TypeAgentLogin:         (*Engine).cmdAgentLogin,
		TypeAgentLogout:        (*Engine).cmdAgentLogout,
		TypeAgentPause:         (*Engine).cmdAgentPause,
		TypeAgentClose:         (*Engine).cmdAgentClose,
		TypeAgentWrapUpEnd:     (*Engine).cmdAgentWrapUpEnd,
		TypeAgentReportProblem: (*Engine).cmdReportProblem,

		TypeCallIncoming:      (*Engine).cmdIncomingCTI,
		TypeCallRemoteAnswer:  (*Engine).cmdRemoteAnswer,
		TypeCallRemoteBusy:    (*Engine).cmdRemoteBusy,
		TypeCallRemoteHangup:  (*Engine).cmdRemoteHangup,
		TypeCallAnswer:        (*Engine).cmdAnswer,
		TypeCallReject:        (*Engine).cmdReject,
		TypeCallHangup:        (*Engine).cmdHangup,
		TypeCallDial:          (*Engine).cmdDial,
		TypeCallHold:          (*Engine).cmdHold,
		TypeCallRetrieve:      (*Engine).cmdRetrieve,
		TypeCallTransfer:      (*Engine).cmdTransfer,
		TypeCallConsult:       (*Engine).cmdConsult,
		TypeCallComplete:      (*Engine).cmdComplete,
		TypeCallCancelConsult: (*Engine).cmdCancelConsult,
		TypeCallCampOn:        (*Engine).cmdCampOn,
		TypeCallPark:          (*Engine).cmdPark,
		TypeCallParkOn:        (*Engine).cmdParkOn,
		TypeCallParkPickup:    (*Engine).cmdParkPickup,
		TypeCallCouple:        (*Engine).cmdCouple,
		TypeCallNote:          (*Engine).cmdNote,

		TypeClockTick: (*Engine).cmdTickRelease,

		TypePhoneRegistration: (*Engine).cmdPhoneRegistration,
		TypePhoneSetSecret:    (*Engine).cmdPhoneSetSecret,
		TypePhoneSetOrder:     (*Engine).cmdPhoneSetOrder,
		TypePhoneSetRinging:   (*Engine).cmdPhoneSetRinging,

		TypeUserPresence:    (*Engine).cmdUserPresence,
		TypeUserForwarding:  (*Engine).cmdUserForwarding,
		TypeUserPreferences: (*Engine).cmdUserPreferences,

		TypeVoicemailDeposited: (*Engine).cmdVoicemailDeposited,
		TypeVoicemailMark:      (*Engine).cmdVoicemailMark,
		TypeVoicemailDelete:    (*Engine).cmdVoicemailDelete,
		TypeVoicemailSetPIN:    (*Engine).cmdVoicemailSetPIN,
		TypeVoicemailMonitor:   (*Engine).cmdVoicemailMonitor,

		TypeCallbackCreate: (*Engine).cmdCallbackCreate,
		TypeCallbackCancel: (*Engine).cmdCallbackCancel,

		TypeMailReceived:      (*Engine).cmdMailReceived,
		TypeMailReceivedBatch: (*Engine).cmdMailReceivedBatch,
		TypeMailReply:         (*Engine).cmdMailReply,
		TypeMailForward:       (*Engine).cmdMailReply,
		TypeMailReport:        (*Engine).cmdMailReport,
		TypeMailSending:       (*Engine).cmdMailSending,
		TypeMailSent:          (*Engine).cmdMailSent,
		TypeChatCreate:        (*Engine).cmdChatCreate,
		TypeChatMessage:       (*Engine).cmdChatMessage,
		TypeChatTyping:        (*Engine).cmdChatTyping,
		TypeChatEnd:           (*Engine).cmdChatEnd,
		TypeChatTranscript:    (*Engine).cmdChatTranscript,
	}
}

// CommandTypes lists every command type the engine applies, sorted.
func CommandTypes() []string { return sortedKeys(handlers) }

// Engine holds the replicated contact-center state. Apply must be called
// from one goroutine at a time (the Raft FSM); readers use View and the
// query methods, which take a read lock.
type Engine struct {
	mu sync.RWMutex
	st *State
	// secrets holds the secure phones' system-generated SIP passwords. It
	// is replicated (part of the snapshot) but deliberately kept out of
	// State, so View, Document, events and results can never expose it.
	secrets map[string]*phoneSecret
	// pins holds the voicemail PIN hashes by mailbox (voicemailpin.go),
	// outside State like secrets.
	pins map[string]string
	// audio holds the voicemail recordings by "mailbox/message"
	// (voicemail.go), outside State like secrets: the state stays small
	// to copy, encode and show; audioBytes is their total size.
	audio      map[string]*VoicemailAudio
	audioBytes int
	// maxAudio bounds audioBytes: MaxVoicemailAudioTotal (tests lower it).
	maxAudio int

	// Derived indexes, rebuilt from the state by syncRuntime.
	extAgent map[string]*AgentState // extension -> agent (lowest id)
	extUser  map[string]string      // extension -> user (lowest id)
	loggedIn int                    // agents not Disconnected
	ids      map[string]string      // agent, queue, extension and skill ids (to reuse their strings)
	in       interns                // for decode: st.Agents, st.Queues, ids
	// callers indexes users' and contacts' numbers by their normalised
	// form (CTI caller matching).
	callers map[string][]CallerMatchEntry
	// timed holds the ids of the calls that may have a deadline (a ring
	// timeout, an auto-return): every call with one is in it (offer and
	// supervise add it, detach and the tick drop it), so the leader's
	// NextDeadline and the tick look at these, not at every call — the
	// e-mails waiting in a queue may be tens of thousands.
	timed map[string]struct{}
	// supervised holds the ids of the calls in supervision (supervise
	// adds a call, detach drops it; readers still check the call's place
	// and the tick drops any a call left otherwise), so an operator's
	// supervised calls are found without looking at every call.
	supervised map[string]struct{}
	// extCalls holds the ids of the calls at an extension (ringing or
	// talking there, no agent's): every call put there is added, detach
	// and forget drop it; the line statuses look at these, the agents'
	// lines and the supervised calls, not at every call.
	extCalls map[string]struct{}
	// mailLive counts the e-mail contacts held (applyMailReceived adds,
	// forget drops), for the SNMP agent's contact table.
	mailLive int

	// Per-command scratch: valid only inside Apply.
	now     int64
	pendA   []*AgentState
	pendQ   []*QueueState
	scratch []*AgentState
	// Routing (acd.go): the interned skills (syncRouting) and, inside
	// routeQueue, the queue's free members, those of them it has not
	// recorded, and a call's candidates.
	skillIDs      map[string]int32
	free, unknown memberSet
	look          memberSet // the members routeQueue looks at
	cands         []int
	needs         [][]skillNeed // compiled requirements to reuse (recycleNeed)
	// settleRef, set only by tests, replaces settle with the reference
	// implementation of the routing rules (routing_equiv_test.go).
	settleRef func(*Engine)
	// resultCall names the call whose CallResult answers the command
	// once routing has settled (see deferCall).
	resultCall string
	// req holds the hottest payloads, decoded in place (no allocation
	// per command); a handler must not keep a reference to them.
	req struct {
		incoming     IncomingRequest
		agentCall    AgentCallRequest
		hangup       HangupRequest
		call         CallRequest
		remoteHangup RemoteHangupRequest
	}
	// ids1 is scratch for a list of ids that only an event carries.
	ids1 []string
	// The command's events so far (emit): their data encoded back to back
	// in evBuf, evs where each ends. Apply hands them to the Emitter once
	// the command has succeeded, in one allocation (flushEvents).
	evBuf []byte
	evs   []pendingEvent

	// Web callbacks (callback.go): the compiled routing schedule, open
	// callbacks by queue and normalised number, and how many are open.
	cbPlan      *callbackPlan
	cbOpen      map[string]string
	cbOpenCount int
}

// pendingEvent is an event of the command being applied whose data is
// evBuf[previous end:end] (nil data when null).
type pendingEvent struct {
	typ  string
	end  int
	null bool
}

// State is everything the engine replicates except phone secrets. It is
// serialised whole into snapshots, so every field must be exported and
// deterministic to encode (encoding/json sorts map keys; slices keep the
// engine's own deterministic order).
type State struct {
	Config Config `json:"config"`
	// Applied counts the commands applied (refusals excluded).
	Applied uint64 `json:"applied"`
	// Clock is the latest command time applied (Unix ns). A command whose
	// time is earlier (a new leader's clock a little behind) is applied at
	// Clock, so engine time never goes backwards.
	Clock int64 `json:"clock"`
	// Seq orders entries into waiting places (ties of equal time).
	Seq    uint64                 `json:"seq"`
	Agents map[string]*AgentState `json:"agents"`
	Queues map[string]*QueueState `json:"queues"`
	Calls  map[string]*Call       `json:"calls"`
	// Phones holds registration state, keyed "extension/phone".
	Phones map[string]*PhoneState `json:"phones"`
	// Users holds users' runtime settings: presence and forwarding.
	Users    map[string]*UserState `json:"users"`
	Problems []Problem             `json:"problems,omitempty"`
	// Voicemail holds the voicemail list of each mailbox (extension) that
	// has messages.
	Voicemail map[string]*Mailbox `json:"voicemail,omitempty"`
	// Maintenance is when the next daily data maintenance is due and for
	// which maintenance time it was scheduled (maintenance.go).
	Maintenance MaintenanceState `json:"maintenance,omitzero"`
	// Callbacks holds the web callbacks, open and finished (pruned by the
	// daily maintenance), by id (callback.go).
	Callbacks map[string]*Callback `json:"callbacks,omitempty"`
	// Mail is what the e-mail channel recorded of its mailbox (mail.go).
	Mail *MailState `json:"mail,omitempty"`
	// Chats holds the web chat sessions, open and ended (pruned by the
	// daily maintenance), by session id (chat.go).
	Chats map[string]*Chat `json:"chats,omitempty"`
}

// New returns an empty engine.
func New() *Engine {
	e := &Engine{st: newState(), secrets: map[string]*phoneSecret{}, pins: map[string]string{}, audio: map[string]*VoicemailAudio{}, maxAudio: MaxVoicemailAudioTotal}
	e.syncRuntime(nil)
	return e
}

func newState() *State {
	return &State{
		Config: emptyConfig(),
		Agents: map[string]*AgentState{},
		Queues: map[string]*QueueState{},
		Calls:  map[string]*Call{},
		Phones: map[string]*PhoneState{},
		Users:  map[string]*UserState{},

		Voicemail: map[string]*Mailbox{},
		Callbacks: map[string]*Callback{},
		Chats:     map[string]*Chat{},
	}
}

func (s *State) normalize() {
	s.Config.normalize()
	if s.Agents == nil {
		s.Agents = map[string]*AgentState{}
	}
	if s.Queues == nil {
		s.Queues = map[string]*QueueState{}
	}
	if s.Calls == nil {
		s.Calls = map[string]*Call{}
	}
	if s.Phones == nil {
		s.Phones = map[string]*PhoneState{}
	}
	if s.Users == nil {
		s.Users = map[string]*UserState{}
	}
	if s.Voicemail == nil {
		s.Voicemail = map[string]*Mailbox{}
	}
	if s.Callbacks == nil {
		s.Callbacks = map[string]*Callback{}
	}
	if s.Chats == nil {
		s.Chats = map[string]*Chat{}
	}
	// A snapshot of an engine before chat.requeued may hold a session
	// still "connected" while its call waits in a queue (a parked chat
	// returned there): it is queued. (A chat left on the line of a
	// logged-out agent moves at the next clock.tick, releaseStrandedAll.)
	for _, ch := range s.Chats {
		if c := s.Calls[ch.Call]; ch.Status == ChatConnected && c != nil && c.Chat == ch.ID && c.Place == PlaceQueue {
			ch.Status, ch.Queue = ChatQueued, c.Queue
		}
	}
}

// Families lists the command families the engine applies.
func (e *Engine) Families() []string {
	return []string{Family, FamilyAgent, FamilyCall, FamilyClock, FamilyPhone, FamilyUser, FamilyVoicemail, FamilyCallback, FamilyMail, FamilyChat}
}

// Apply applies one command. A returned error is a refusal: the state is
// unchanged and no events are emitted. The result is returned to the
// proposer.
func (e *Engine) Apply(env command.Envelope, em *command.Emitter) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := handlers[env.Type]
	if !ok {
		em.Reset()
		return nil, fmt.Errorf("%w: %q", ErrUnknownCommand, clip(env.Type))
	}
	e.now = env.Time
	if e.now < e.st.Clock {
		e.now = e.st.Clock
	}
	if len(e.evs) > 0 {
		e.dropEvents() // left by a command that panicked
	}
	res, err := h(e, env)
	if err != nil {
		for _, a := range e.pendA {
			a.pend = false
		}
		for _, q := range e.pendQ {
			q.pend = false
		}
		e.pendA, e.pendQ = e.pendA[:0], e.pendQ[:0]
		e.dropEvents()
		em.Reset()
		return nil, err
	}
	// No call may wait in a logged-out operator's personal queue.
	e.releaseStrandedPending()
	e.settle()
	if _, ok := res.(deferred); ok {
		res = e.callResult(e.resultCall)
	}
	e.st.Clock = e.now
	e.st.Applied++
	e.flushEvents(em)
	return res, nil
}

// emit records an event of the command being applied. Its data is
// encoded at once, into e.evBuf: by its hand-written encoder (encode.go)
// when it has one, else by json.Marshal — the same bytes either way, and
// the same the Emitter's Emit would produce. The events reach the
// Emitter, in order, when the command has succeeded (flushEvents).
func (e *Engine) emit(typ string, data any) {
	switch d := data.(type) {
	case nil:
	case command.JSONAppender:
		e.evBuf = d.AppendJSON(e.evBuf)
	default:
		b, err := json.Marshal(data)
		if err != nil {
			panic(fmt.Sprintf("contactcenter: event %s: %v", typ, err))
		}
		e.evBuf = append(e.evBuf, b...)
	}
	e.evs = append(e.evs, pendingEvent{typ: typ, end: len(e.evBuf), null: data == nil})
}

// maxKeptEvBuf bounds the encoding buffer kept from one command to the
// next (a large config.apply's events are not held on to).
const maxKeptEvBuf = 64 << 10

// flushEvents hands the command's events to em: their data is copied
// once, into one array, of which each event gets its own part.
func (e *Engine) flushEvents(em *command.Emitter) {
	if len(e.evs) > 0 {
		var data []byte
		switch {
		case cap(e.evBuf) > maxKeptEvBuf:
			// Not kept anyway (dropEvents): the events take the buffer
			// itself rather than a copy (a batch's, hundreds of KB).
			data, e.evBuf = e.evBuf, nil
		case len(e.evBuf) > 0:
			data = make([]byte, len(e.evBuf))
			copy(data, e.evBuf)
		}
		start := 0
		for _, ev := range e.evs {
			if ev.null {
				em.EmitOwned(ev.typ, nil)
			} else {
				em.EmitOwned(ev.typ, data[start:ev.end:ev.end])
			}
			start = ev.end
		}
	}
	e.dropEvents()
}

// reserveEvBuf makes room for n more bytes of event data. make zeroes
// only memory the heap reuses; slices.Grow clears the room it adds
// always: a mail batch's ~200 KB on every node, cleared and then
// written over at once, mostly on fresh pages the kernel has zeroed.
func (e *Engine) reserveEvBuf(n int) {
	if cap(e.evBuf)-len(e.evBuf) >= n {
		return
	}
	b := make([]byte, len(e.evBuf), len(e.evBuf)+n)
	copy(b, e.evBuf)
	e.evBuf = b
}

// dropEvents forgets the command's events (flushed, or a refusal's).
func (e *Engine) dropEvents() {
	clear(e.evs) // the types' strings
	e.evs = e.evs[:0]
	e.evBuf = e.evBuf[:0]
	if cap(e.evBuf) > maxKeptEvBuf {
		e.evBuf = nil
	}
	if cap(e.evs) > maxKeptEvBuf/16 {
		e.evs = nil
	}
}

// emitted records an event whose data the caller has just appended to
// e.evBuf with its hand-written encoder (encode.go): the hottest events
// are encoded so, from a value on the stack, neither boxed nor copied.
func (e *Engine) emitted(typ string) {
	e.evs = append(e.evs, pendingEvent{typ: typ, end: len(e.evBuf)})
}

func (e *Engine) emitEnded(ev CallEndedEvent) {
	e.evBuf = ev.AppendJSON(e.evBuf)
	e.emitted(EvCallEnded)
}

// View runs fn with read access to the state. fn must not keep references
// into the state after it returns, nor modify it.
func (e *Engine) View(fn func(*State)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.st)
}

// snapshotDoc is the snapshot's encoding: the state's fields at the top
// level (so older snapshots, which were the bare state, still restore)
// plus the phone secrets.
type snapshotDoc struct {
	*State
	Secrets map[string]*phoneSecret `json:"secrets,omitempty"`
	PINs    map[string]string       `json:"pins,omitempty"`
	// Audio is the voicemail recordings (base64 in JSON).
	Audio map[string]*VoicemailAudio `json:"voicemail_audio,omitempty"`
}

// Snapshot serialises the whole state.
func (e *Engine) Snapshot() ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	b, err := json.Marshal(snapshotDoc{State: e.st, Secrets: e.secrets, PINs: e.pins, Audio: e.audio})
	if err != nil {
		return nil, fmt.Errorf("encoding engine snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the state with a snapshot's.
func (e *Engine) Restore(b []byte) error {
	doc := snapshotDoc{State: newState()}
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("decoding engine snapshot: %w", err)
	}
	doc.State.normalize()
	if doc.Secrets == nil {
		doc.Secrets = map[string]*phoneSecret{}
	}
	if doc.PINs == nil {
		doc.PINs = map[string]string{}
	}
	if doc.Audio == nil {
		doc.Audio = map[string]*VoicemailAudio{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st, e.secrets, e.pins, e.audio = doc.State, doc.Secrets, doc.PINs, doc.Audio
	e.now = e.st.Clock
	e.syncRuntime(nil)
	// A restore is not a command: nothing is routed or emitted.
	for _, a := range e.pendA {
		a.pend = false
	}
	for _, q := range e.pendQ {
		q.pend = false
	}
	e.pendA, e.pendQ = e.pendA[:0], e.pendQ[:0]
	return nil
}

// Hash is a digest of the whole state: two engines that applied the same
// log have the same hash.
func (e *Engine) Hash() string {
	b, err := e.Snapshot()
	if err != nil {
		return "error:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// syncRuntime makes the runtime maps agree with the configuration (an
// AgentState per configured agent, a QueueState per queue), rebuilds the
// derived indexes and marks everything for routing. Called after a
// config.apply (which has checked that nothing it removes is in use) and a
// restore.
func (e *Engine) syncRuntime(ch *configChange) {
	st := e.st
	cfg := &st.Config
	// A removed extension takes its mailbox's PIN and its monitors with
	// it (a new extension of that number starts without either). A
	// contacts-only change removes no extension.
	//
	// The loops over whole maps below go in the keys' order only where
	// the order shows (a queue's members, the first agent or user of an
	// extension, what is pended); the others change each entry on its own
	// and go in the map's order: sorting every kind on every change was
	// most of a one-entity change on a large configuration
	// (BenchmarkConfigApplyOne).
	if ch == nil || !ch.contactsOnly {
		for m := range e.pins {
			if _, ok := cfg.Extensions[m]; !ok {
				delete(e.pins, m)
			}
		}
		for _, us := range st.Users {
			us.Monitored = slices.DeleteFunc(us.Monitored, func(m string) bool { _, ok := cfg.Extensions[m]; return !ok })
			if len(us.Monitored) == 0 {
				us.Monitored = nil
			}
		}
	}
	for id := range cfg.Queues {
		if _, ok := st.Queues[id]; !ok {
			st.Queues[id] = &QueueState{ID: id}
		}
	}
	for id, q := range st.Queues {
		c, ok := cfg.Queues[id]
		if !ok {
			delete(st.Queues, id)
			continue
		}
		q.conf = c
		q.strategy = strategyCode(c.Strategy)
		q.members = q.members[:0]
		q.connected = 0
	}
	for id := range cfg.Agents {
		if _, ok := st.Agents[id]; !ok {
			st.Agents[id] = &AgentState{ID: id, State: StateDisconnected, Since: e.now}
		}
	}
	e.extAgent = map[string]*AgentState{}
	e.loggedIn = st.LoggedIn()
	e.timed = map[string]struct{}{}
	e.supervised = map[string]struct{}{}
	e.extCalls = map[string]struct{}{}
	e.mailLive = 0
	for id, c := range st.Calls {
		if c.Place == PlaceExtension {
			e.extCalls[id] = struct{}{}
		}
		if c.Medium == MediumEmail {
			e.mailLive++
		}
		if c.Deadline > 0 {
			e.timed[id] = struct{}{}
		}
		if c.Place == PlaceSupervised {
			e.supervised[id] = struct{}{}
		}
	}
	for id := range st.Agents {
		if _, ok := cfg.Agents[id]; !ok {
			delete(st.Agents, id)
		}
	}
	// From here on the agents and queues are those of the configuration.
	agents, queues := sortedKeys(st.Agents), sortedKeys(st.Queues)
	for _, id := range agents {
		a := st.Agents[id]
		c := cfg.Agents[id]
		a.conf = c
		a.queues = a.queues[:0]
		for _, qid := range c.Queues {
			q := st.Queues[qid]
			a.queues = append(a.queues, q)
			q.members = append(q.members, a)
			if a.State == StateConnected {
				q.connected++
			}
		}
		if c.Extension != "" {
			if _, taken := e.extAgent[c.Extension]; !taken {
				e.extAgent[c.Extension] = a
			}
		}
	}
	e.ids = make(map[string]string, len(st.Agents)+len(st.Queues)+len(cfg.Extensions))
	for id := range st.Agents {
		e.ids[id] = id
	}
	for id := range st.Queues {
		e.ids[id] = id
	}
	for id := range cfg.Extensions {
		e.ids[id] = id
	}
	e.in = interns{agents: st.Agents, queues: st.Queues, ids: e.ids}
	e.extUser = map[string]string{}
	for id, u := range cfg.Users {
		if u.Extension != "" {
			// An extension's user is the first of its users in the IDs'
			// order.
			if first, taken := e.extUser[u.Extension]; !taken || id < first {
				e.extUser[u.Extension] = id
			}
		}
	}
	for id := range st.Users {
		if _, ok := cfg.Users[id]; !ok {
			delete(st.Users, id)
		}
	}
	for key := range st.Phones {
		if _, ok := e.phoneConf(key); !ok {
			delete(st.Phones, key)
		}
	}
	for key := range e.secrets {
		if p, ok := e.phoneConf(key); !ok || !p.Secure {
			delete(e.secrets, key)
		}
	}
	for ext, vm := range st.Voicemail {
		if _, ok := cfg.Extensions[ext]; !ok || len(vm.Messages) == 0 {
			delete(st.Voicemail, ext)
		}
	}
	e.syncAudio()
	if ch != nil && ch.callersKept && e.callers != nil {
		e.updateCallerIndex(ch.contacts, ch.previous)
	} else {
		e.buildCallerIndex()
	}
	e.syncCallbacks()
	e.syncRouting(queues, agents)
	for _, id := range agents {
		e.pendAgent(st.Agents[id])
	}
	for _, id := range queues {
		e.pendQueue(st.Queues[id])
	}
}

// checkRemovals refuses a configuration that would remove an agent or a
// queue the running state still uses, naming the first in the IDs' order
// (only those removed are sorted).
func (e *Engine) checkRemovals(next Config) error {
	var agents, queues []string
	for id := range e.st.Agents {
		if _, ok := next.Agents[id]; !ok {
			agents = append(agents, id)
		}
	}
	for id := range e.st.Queues {
		if _, ok := next.Queues[id]; !ok {
			queues = append(queues, id)
		}
	}
	slices.Sort(agents)
	slices.Sort(queues)
	for _, id := range agents {
		a := e.st.Agents[id]
		if a.State != StateDisconnected || !a.idle() || len(a.Personal) > 0 || e.ownsSupervised(id) {
			return fieldErr("agents."+id, "agent %q is logged in or has calls; log it out and clear its calls first", id)
		}
	}
	for _, id := range queues {
		if q := e.st.Queues[id]; q.Waiting.Len()+q.Offering > 0 {
			return fieldErr("queues."+id, "queue %q has %d calls waiting", id, q.Waiting.Len()+q.Offering)
		}
	}
	return nil
}

func (e *Engine) ownsSupervised(agent string) bool {
	owns := false
	e.supervisedCalls(func(c *Call) { owns = owns || c.Agent == agent })
	return owns
}

// decode reads a command payload strictly: unknown fields and trailing
// data are refused, naming the field where possible.
func (e *Engine) decode(env command.Envelope, v any) error { return decodeWith(env, v, &e.in) }

// decodeWith is decode reusing the strings of in (nil: none).
func decodeWith(env command.Envelope, v any, in *interns) error {
	if in != nil {
		in.agent, in.queue = nil, nil
	}
	if decodeFast(env.Payload, v, in) {
		return nil // the payload was an object: not missing
	}
	if len(bytes.TrimSpace(env.Payload)) == 0 {
		return fieldErr("payload", "missing")
	}
	if err := jsonin.Decode(env.Payload, v); err != nil {
		return payloadErr(err)
	}
	return nil
}

// payloadErr is a *FieldError for a decoding error of jsonin: the field
// at fault, or "payload" for the payload as a whole.
func payloadErr(err error) error {
	var je *jsonin.Error
	if !errors.As(err, &je) {
		return fieldErr("payload", "%v", err)
	}
	if je.Field == "" {
		return fieldErr("payload", "%s", je.Msg)
	}
	return fieldErr(je.Field, "%s", je.Msg)
}

// cmdTickRelease is clock.tick followed by the personal-queue rule: a
// timer may have returned a call to an operator who has logged out.
func (e *Engine) cmdTickRelease(env command.Envelope) (any, error) {
	res, err := e.cmdTick(env)
	if err == nil {
		e.releaseStrandedAll()
		e.maintain()
	}
	return res, err
}
