package contactcenter

import (
	"sort"

	"github.com/tandemcc/tandem/command"
)

// Agent (operator) states.
const (
	// StateDisconnected: logged out, no incoming calls.
	StateDisconnected = "disconnected"
	// StatePaused: personal-queue calls only (first step of the log-in,
	// a pause with a reason, or an automatic pause).
	StatePaused = "paused"
	// StateConnected: ready for general and personal queue calls.
	StateConnected = "connected"
)

// System pause reasons (configured reasons may not use these codes).
const (
	ReasonLogin    = "login"     // first step of the log-in
	ReasonLogout   = "logout"    // first step of the log-out
	ReasonNoAnswer = "no-answer" // automatic pause after max_no_answer
)

// AgentState is an agent's runtime state.
type AgentState struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Since is when State last changed (Unix ns).
	Since int64 `json:"since"`
	// IdleSince is when the agent last became free (longest-idle order).
	IdleSince int64 `json:"idle_since"`
	// WrapUntil, when set, ends the agent's wrap-up (on a clock.tick).
	WrapUntil int64 `json:"wrap_until,omitempty"`
	// Offer is the call ringing on the agent.
	Offer string `json:"offer,omitempty"`
	// Line1 carries the current call; Line2 only the consultation of an
	// attended transfer (Line1 is then on hold).
	Line1 string `json:"line1,omitempty"`
	Line2 string `json:"line2,omitempty"`
	// Personal is the agent's personal queue, in offer order.
	Personal []string `json:"personal,omitempty"`
	// NoAnswer counts consecutive unanswered offers.
	NoAnswer int `json:"no_answer,omitempty"`
	// Handled counts calls answered since the last log-in (fewest-calls).
	Handled int `json:"handled"`
	// History is a ring of the last HistoryLength operations; once full,
	// HistoryHead indexes the oldest.
	History     []HistoryEntry `json:"history,omitempty"`
	HistoryHead int            `json:"history_head,omitempty"`
	Trend       Trend          `json:"trend"`

	conf   Agent
	queues []*QueueState // sorted by id
	pend   bool
	// Routing's derived state (syncRouting, acd.go): the agent's level in
	// every interned skill, and its index in the members of each of its
	// queues.
	levels []int32
	qidx   []int
}

// idle: nothing ringing, nothing on the lines.
func (a *AgentState) idle() bool { return a.Offer == "" && a.Line1 == "" && a.Line2 == "" }

// free: idle and not in wrap-up — may be offered a call.
func (a *AgentState) free() bool { return a.idle() && a.WrapUntil == 0 }

// generalOK: may be offered a general-queue call. (Connected and free;
// routing asks it of every member of a queue, most of them in
// conversation: Line1 first, beside the other fields asked, usually
// settles it with one cache line.)
func (a *AgentState) generalOK() bool {
	return a.Line1 == "" && a.Offer == "" && a.Line2 == "" && a.WrapUntil == 0 && a.State == StateConnected
}

// personalOK: may be offered a personal-queue call.
func (a *AgentState) personalOK() bool { return a.State != StateDisconnected && a.free() }

// pendAgent marks a for routing: it may have become free (settle routes
// it, and notes it in its queues if it is still free).
func (e *Engine) pendAgent(a *AgentState) {
	if !a.pend {
		a.pend = true
		e.pendA = append(e.pendA, a)
	}
}

func (e *Engine) pendQueue(q *QueueState) {
	if !q.pend {
		q.pend = true
		e.pendQ = append(e.pendQ, q)
	}
}

// LoggedIn counts the operators not Disconnected.
func (s *State) LoggedIn() int {
	n := 0
	for _, a := range s.Agents {
		if a.State != StateDisconnected {
			n++
		}
	}
	return n
}

// AgentRequest is the payload of agent.login, agent.logout and
// agent.wrapup_end.
type AgentRequest struct {
	Agent string `json:"agent"`
}

// PauseRequest is the payload of agent.pause.
type PauseRequest struct {
	Agent  string `json:"agent"`
	Reason string `json:"reason,omitempty"`
}

// CloseRequest is the payload of agent.close (the console is closing).
type CloseRequest struct {
	Agent   string `json:"agent"`
	Confirm bool   `json:"confirm,omitempty"`
}

// AgentResult answers the agent.* state commands.
type AgentResult struct {
	Agent    string `json:"agent"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	LoggedIn int    `json:"logged_in"`
}

func (e *Engine) agent(op, id string) (*AgentState, error) {
	if id == "" {
		return nil, fieldErr("agent", "missing")
	}
	if a := e.in.agent; a != nil && a.ID == id {
		return a, nil // the payload's agent, found by decode
	}
	a, ok := e.st.Agents[id]
	if !ok {
		return nil, opErr(ErrUnknownAgent, op, "unknown agent %q", id)
	}
	return a, nil
}

func (e *Engine) agentResult(a *AgentState) AgentResult {
	return AgentResult{Agent: a.ID, State: a.State, Reason: a.Reason, LoggedIn: e.loggedIn}
}

// cmdAgentLogin is one step of the two-step log-in: Disconnected → Paused
// (personal queue only), Paused → Connected (all calls).
func (e *Engine) cmdAgentLogin(env command.Envelope) (any, error) {
	var p AgentRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("login", p.Agent)
	if err != nil {
		return nil, err
	}
	switch a.State {
	case StateDisconnected:
		if !e.phoneConnected(a) {
			return nil, opErr(ErrPhoneNotConnected, "login", "%s", MsgPhoneNotConnected)
		}
		a.Handled = 0
		a.NoAnswer = 0
		e.setState(a, StatePaused, ReasonLogin, false)
		e.reclaimUnattended(a)
	case StatePaused:
		a.NoAnswer = 0
		e.setState(a, StateConnected, "", false)
	default:
		return nil, opErr(ErrAgentState, "login", "agent %q is already connected", a.ID)
	}
	return e.agentResult(a), nil
}

// MsgPhoneNotConnected is the spec's message for a log-in refused because
// the operator's phone is not registered.
const MsgPhoneNotConnected = "your phone is not connected: check it or restart it"

// phoneConnected reports whether the agent's phone lets it log in: once
// the voice edge has reported the registration of any phone of the
// agent's extension (phone.registration, replicated), at least one of
// them must be registered now. An agent without an extension, with no
// phones configured, or whose phones were never reported (a cluster
// whose telephony edge does not report registrations, such as the
// telephony-edge API alone) is not held back: "unknown" is not "not
// registered".
func (e *Engine) phoneConnected(a *AgentState) bool {
	ext := e.st.Config.Agents[a.ID].Extension
	x, ok := e.st.Config.Extensions[ext]
	if ext == "" || !ok {
		return true
	}
	known := false
	for _, p := range x.Phones {
		if ps := e.st.Phones[phoneKey(ext, p.ID)]; ps != nil {
			if ps.Registered {
				return true
			}
			known = true
		}
	}
	return !known
}

// cmdAgentLogout is one step of the two-step log-out: Connected → Paused
// (finish current calls, personal calls still come), Paused →
// Disconnected (no more incoming calls).
func (e *Engine) cmdAgentLogout(env command.Envelope) (any, error) {
	var p AgentRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("logout", p.Agent)
	if err != nil {
		return nil, err
	}
	switch a.State {
	case StateConnected:
		e.setState(a, StatePaused, ReasonLogout, false)
	case StatePaused:
		e.disconnect(a)
	default:
		return nil, opErr(ErrAgentState, "logout", "agent %q is not logged in", a.ID)
	}
	return e.agentResult(a), nil
}

// cmdAgentPause pauses a Connected agent with a reason code (or changes
// the reason of a Paused one).
func (e *Engine) cmdAgentPause(env command.Envelope) (any, error) {
	var p PauseRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("pause", p.Agent)
	if err != nil {
		return nil, err
	}
	if p.Reason != "" {
		if len(e.st.Config.PauseReasons) > 0 {
			if _, ok := e.st.Config.PauseReasons[p.Reason]; !ok {
				return nil, fieldErr("reason", "unknown pause reason %q", p.Reason)
			}
		} else if err := checkID("reason", p.Reason); err != nil {
			return nil, err
		}
	}
	if a.State == StateDisconnected {
		return nil, opErr(ErrAgentState, "pause", "agent %q is not logged in", a.ID)
	}
	if a.State == StatePaused && a.Reason == p.Reason {
		return e.agentResult(a), nil
	}
	e.setState(a, StatePaused, p.Reason, false)
	return e.agentResult(a), nil
}

// cmdAgentClose is the console closing. While the operator is still
// logged in it is refused with the warning ErrStillLoggedIn; confirmed, it
// logs the operator out at once (the phone leaves every queue; calls in
// conversation go on).
func (e *Engine) cmdAgentClose(env command.Envelope) (any, error) {
	var p CloseRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("close", p.Agent)
	if err != nil {
		return nil, err
	}
	if a.State != StateDisconnected {
		if !p.Confirm {
			return nil, opErr(ErrStillLoggedIn, "close", "operator %q is still logged in (%s); confirm to remove the phone from the queues", a.ID, a.State)
		}
		e.disconnect(a)
	}
	return e.agentResult(a), nil
}

// cmdAgentWrapUpEnd ends the agent's wrap-up early.
func (e *Engine) cmdAgentWrapUpEnd(env command.Envelope) (any, error) {
	var p AgentRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	a, err := e.agent("wrap-up end", p.Agent)
	if err != nil {
		return nil, err
	}
	if a.WrapUntil == 0 {
		return nil, opErr(ErrAgentState, "wrap-up end", "agent %q is not in wrap-up", a.ID)
	}
	e.endWrapUp(a)
	return e.agentResult(a), nil
}

// setState moves an agent to a new state and announces it.
func (e *Engine) setState(a *AgentState, state, reason string, auto bool) {
	prev := a.State
	a.State, a.Reason, a.Since = state, reason, e.now
	switch {
	case prev == StateDisconnected && state != StateDisconnected:
		e.loggedIn++
	case prev != StateDisconnected && state == StateDisconnected:
		e.loggedIn--
	}
	if (prev == StateConnected) != (state == StateConnected) {
		d := 1
		if prev == StateConnected {
			d = -1
		}
		for _, q := range a.queues {
			q.connected += d
		}
	}
	if prev == StateDisconnected || state == StateConnected {
		if a.free() {
			a.IdleSince = e.now
		}
	}
	e.pendAgent(a)
	e.emit(EvAgentStateChanged, AgentStateEvent{
		Agent: a.ID, State: state, Previous: prev, Reason: reason, Auto: auto, LoggedIn: e.loggedIn,
	})
}

// disconnect logs an agent out at once: a ringing offer goes back where it
// came from, personal-queue calls that came through a general queue go
// back to it, the others and a call on hold follow releaseStranded; calls
// in conversation go on.
func (e *Engine) disconnect(a *AgentState) {
	if a.Offer != "" {
		e.withdrawAgent(e.st.Calls[a.Offer], a, "logout")
	}
	keep := a.Personal[:0:0]
	for _, id := range a.Personal {
		c := e.st.Calls[id]
		if q, ok := e.st.Queues[c.Queue]; ok {
			c.Place = ""
			pos := e.enterQueue(c, q)
			e.emitQueued(c, pos, "logout")
			continue
		}
		keep = append(keep, id)
	}
	if len(keep) == 0 {
		keep = nil
	}
	a.Personal = keep
	e.setState(a, StateDisconnected, "", false)
	e.releaseStranded(a)
}

// agentReleased is called when an agent's lines empty: wrap-up starts
// after a conversation it took from an offer (wrap), else it is free.
func (e *Engine) agentReleased(a *AgentState, wrap bool) {
	if !a.idle() {
		return
	}
	if wrap && a.conf.WrapUpSeconds > 0 {
		a.WrapUntil = e.now + int64(a.conf.WrapUpSeconds)*1e9
		e.emit(EvAgentWrapUp, WrapUpEvent{Agent: a.ID, Until: a.WrapUntil})
		return
	}
	a.IdleSince = e.now
	e.pendAgent(a)
}

func (e *Engine) endWrapUp(a *AgentState) {
	a.WrapUntil = 0
	a.IdleSince = e.now
	e.pendAgent(a)
	e.emit(EvAgentWrapUpEnded, AgentRef{Agent: a.ID})
}

// noAnswer counts an unanswered offer and pauses the agent automatically
// once max_no_answer consecutive offers went unanswered.
func (e *Engine) noAnswer(a *AgentState) {
	a.NoAnswer++
	if n := a.conf.MaxNoAnswer; n > 0 && a.NoAnswer >= n && a.State == StateConnected {
		a.NoAnswer = 0
		e.setState(a, StatePaused, ReasonNoAnswer, true)
	}
}

// Personal-queue calls of a logged-out operator.
//
// A Disconnected operator takes no calls, so no call may wait in its
// personal queue: it would wait unseen until the next log-in. Whenever a
// call lands there (at the log-out, or later: an auto-return, a chain
// return or a busy transfer target bringing a call back to an operator who
// has left), releaseStranded moves it on at once. So does a call held
// alone on its line 1 (held at the log-out, or left on hold when a
// consultation ends afterwards): the operator may have closed the
// console, and nobody else can take a call off another's line. In this
// order:
//
//  1. a call that came through a general queue goes back into it (reason
//     "logout"), where any agent can take it;
//  2. else, when the operator's user has a forward that applies to a
//     logged-out operator — unconditional, an active calendar entry, or
//     "not connected" (logged out counts as not connected) — the call is
//     forwarded: it rings at the forward's number, or at the user's
//     extension for voicemail (place extension), and call.forwarded tells
//     the telephony edge where to send it;
//  3. else it waits in the operator's supervision as type U
//     ("unattended"), with no auto-return: every operator sees it under
//     "show all supervised calls" and may retrieve it (call.retrieve), and
//     when its operator logs in again it goes back to the head of the
//     personal queue in its original order (call.queued reason "login").

// KindUnattended is the supervision type of a call that waited in the
// personal queue of an operator who logged out (see releaseStranded).
const KindUnattended = "U"

// Events of the personal-queue rule.
const (
	EvCallForwarded  = "call.forwarded"
	EvCallUnattended = "call.unattended"
)

// ForwardedEvent is call.forwarded: the telephony edge sends the call to
// Number, or to the voicemail of Mailbox.
type ForwardedEvent struct {
	Call      string `json:"call"`
	Agent     string `json:"agent"`
	User      string `json:"user"`
	Condition string `json:"condition"`
	Calendar  string `json:"calendar,omitempty"`
	Voicemail bool   `json:"voicemail,omitempty"`
	Mailbox   string `json:"mailbox,omitempty"`
	Number    string `json:"number,omitempty"`
	// Reason: logout (the call's operator is logged out).
	Reason string `json:"reason"`
}

// UnattendedEvent is call.unattended: the call waits in supervision for
// any operator (its own is logged out).
type UnattendedEvent struct {
	Call   string `json:"call"`
	Agent  string `json:"agent"`
	Number string `json:"number,omitempty"`
	Name   string `json:"name,omitempty"`
	Note   string `json:"note,omitempty"`
	Since  int64  `json:"since"`
}

// heldAlone returns the call held on a's line 1 with no consultation on
// line 2 (nil if none): a call that waits for its operator to retrieve it.
func (e *Engine) heldAlone(a *AgentState) *Call {
	if a.Line1 == "" || a.Line2 != "" {
		return nil
	}
	if c := e.st.Calls[a.Line1]; c.State == CallHeld {
		return c
	}
	return nil
}

// chatOnLine returns a chat call on one of a's lines (nil if none).
func (e *Engine) chatOnLine(a *AgentState) *Call {
	for _, id := range [2]string{a.Line1, a.Line2} {
		if id != "" {
			if c := e.st.Calls[id]; c.Chat != "" {
				return c
			}
		}
	}
	return nil
}

// stranded reports whether a logged-out agent holds calls nobody would
// serve: personal-queue calls, a call held alone on line 1, or a chat on
// a line (a chat lives only in the console).
func (e *Engine) stranded(a *AgentState) bool {
	return a.State == StateDisconnected && (len(a.Personal) > 0 || e.heldAlone(a) != nil || e.chatOnLine(a) != nil)
}

// releaseStranded moves every call waiting in the personal queue of a
// logged-out agent on (see above). A call held alone on its line 1 (held
// before the log-out, or left there when a consultation on line 2 ended)
// waits for the operator just the same, so it joins the personal queue
// first and moves on with it. It does nothing for a logged-in agent.
func (e *Engine) releaseStranded(a *AgentState) {
	if !e.stranded(a) {
		return
	}
	for c := e.chatOnLine(a); c != nil; c = e.chatOnLine(a) {
		e.requeueChat(c, a) // talking or held: back to its queue
	}
	if c := e.heldAlone(a); c != nil {
		e.leaveLine(c)
		e.enterPersonal(c, a)
	}
	ids := append([]string(nil), a.Personal...)
	var fwd ForwardDecision
	var forward bool
	mailbox := ""
	if user := a.conf.User; user != "" {
		fwd, forward = e.forwardAt(user, "", e.now, true)
		if forward && fwd.Voicemail {
			mailbox = e.st.Config.Users[user].Extension
			if mailbox == "" {
				mailbox = a.conf.Extension
			}
			forward = mailbox != ""
		}
	}
	for _, id := range ids {
		c := e.st.Calls[id]
		e.detach(c)
		if q, ok := e.st.Queues[c.Queue]; ok {
			pos := e.enterQueue(c, q)
			e.emitQueued(c, pos, "logout")
			continue
		}
		if forward {
			target := fwd.Number
			if fwd.Voicemail {
				target = mailbox
			}
			c.Place, c.State, c.Agent, c.Target = PlaceExtension, CallRinging, "", target
			e.extCalls[c.ID] = struct{}{}
			e.emit(EvCallForwarded, ForwardedEvent{
				Call: c.ID, Agent: a.ID, User: a.conf.User, Condition: fwd.Condition, Calendar: fwd.Calendar,
				Voicemail: fwd.Voicemail, Mailbox: mailbox, Number: fwd.Number, Reason: "logout",
			})
			continue
		}
		e.supervise(c, a, KindUnattended, CallWaiting, "", 0)
		e.emit(EvCallUnattended, UnattendedEvent{Call: c.ID, Agent: a.ID, Number: c.Number, Name: c.Name, Note: c.Note, Since: c.Since})
	}
}

// reclaimUnattended gives an operator who logs in again the calls that
// waited unattended in its supervision, back into its personal queue in
// their original order.
func (e *Engine) reclaimUnattended(a *AgentState) {
	var mine []*Call
	e.supervisedCalls(func(c *Call) {
		if c.Kind == KindUnattended && c.Agent == a.ID {
			mine = append(mine, c)
		}
	})
	sort.Slice(mine, func(i, j int) bool { return before(mine[i], mine[j]) })
	for _, c := range mine {
		e.detach(c)
		pos := e.placeInPersonal(c, a)
		e.emitQueued(c, pos, "login")
	}
}

// releaseStrandedPending applies releaseStranded to the agents the
// command touched (every call entering a personal queue marks its agent):
// run by Apply before routing settles.
func (e *Engine) releaseStrandedPending() {
	for i := 0; i < len(e.pendA); i++ {
		if a := e.pendA[i]; e.stranded(a) {
			e.releaseStranded(a)
		}
	}
}

// releaseStrandedAll applies releaseStranded to every agent, in id order
// (after a clock.tick, whose timers settle routing themselves).
func (e *Engine) releaseStrandedAll() {
	var ids []string
	for id, a := range e.st.Agents {
		if e.stranded(a) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		e.releaseStranded(e.st.Agents[id])
	}
}
