package contactcenter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// Web callbacks (web.md, "Web callback"; DESIGN.md, "Web callbacks").
//
// A callback is replicated state created by callback.create, which the
// web edge proposes with the callback's id and the request, the time
// being the leader's. Every rule that needs the state — the queue, the
// routing schedule, the excluded numbers, an open duplicate — is decided
// here, inside Apply, so two concurrent duplicates cannot both be
// accepted. A refusal is a *CallbackError carrying web.md's code.

// FamilyCallback is the web-callback family (callback.*).
const FamilyCallback = "callback"

// Command types of web callbacks.
const (
	TypeCallbackCreate = "callback.create"
	TypeCallbackCancel = "callback.cancel"
)

// Events of web callbacks.
const (
	// EvCallbackCreated: an accepted request (CallbackEvent).
	EvCallbackCreated = "callback.created"
	// EvCallbackUpdated: the callback's status changed (CallbackEvent).
	EvCallbackUpdated = "callback.updated"
	// EvCallbackDial: an agent took the callback; the telephony edge (or
	// an integration) dials the customer and reports call.remote_answer,
	// call.remote_busy or call.remote_hangup on the call (CallbackEvent).
	EvCallbackDial = "callback.dial"
)

// Callback statuses. Open ones (scheduled, queued, dialing) count for the
// duplicate rule.
const (
	CallbackScheduled = "scheduled" // waiting for its next slot (schedule ∩ opening hours)
	CallbackQueued    = "queued"    // a call in the ACD, offered to agents
	CallbackDialing   = "dialing"   // an agent took it; the customer is being dialled
	CallbackCompleted = "completed" // the customer answered
	CallbackFailed    = "failed"    // no attempt answered (MaxAttempts), or its queue is gone
	CallbackCancelled = "cancelled" // cancelled by the customer
	CallbackExpired   = "expired"   // its schedule passed before it could be made
)

// Codes of web.md that the engine decides (the web edge defines the rest).
const (
	CodeBadMandatory      = 1010
	CodeBadParameter      = 1011
	CodeInternalWeb       = 1012
	CodeDuplicate         = 17006
	CodeCallbackInternal  = 17021
	CodeUnknownQueue      = 17027
	CodeInvalidSchedule   = 17028
	CodeOutsideSchedule   = 17029
	CodeNameTooLong       = 17030
	CodeExcludedNumber    = 17031
	CodeDescTooLong       = 17032
	CodeContactDataLong   = 17033
	CodeInvalidPriority   = 17035
	CodeScheduleExpired   = 17040
	CodeScheduleTooFar    = 17047
	MaxCustomerNameRunes  = 75
	MaxCallbackDescRunes  = 100
	MaxContactDataRunes   = 1000
	MaxCallbackWindows    = 10
	MaxCallbackIDLen      = 48
	MaxOpenCallbacks      = 200_000
	CallbackHorizon       = 180 * 24 * time.Hour
	DefaultCallbackPrio   = 50
	maxContactKeyRunes    = 64
	callbackErrorPrefix   = "callback "
	callbackFinishedLimit = 100_000
)

// CallbackError is a refused callback request: Code is web.md's number.
// Its message is "callback <code>: <text>", which survives the cluster's
// peer protocol unchanged (ParseCallbackError reads it back).
type CallbackError struct {
	Code  int
	Field string
	Msg   string
}

func (e *CallbackError) Error() string {
	return callbackErrorPrefix + strconv.Itoa(e.Code) + ": " + e.Msg
}

// FieldName is the request field at fault ("" for none).
func (e *CallbackError) FieldName() string { return e.Field }

func cbErr(code int, field, format string, args ...any) *CallbackError {
	return &CallbackError{Code: code, Field: field, Msg: fmt.Sprintf(format, clipArgs(format, args)...)}
}

// ParseCallbackError reads a CallbackError back from its message (a
// refusal forwarded between nodes keeps only message and field).
func ParseCallbackError(msg string) (code int, text string, ok bool) {
	rest, found := strings.CutPrefix(msg, callbackErrorPrefix)
	if !found {
		return 0, "", false
	}
	num, text, found := strings.Cut(rest, ": ")
	if !found || len(num) < 4 || len(num) > 5 {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1000 {
		return 0, "", false
	}
	return n, text, true
}

// CallbackWindow is a window in which the customer may be called: Unix
// ns, [Start, End).
type CallbackWindow struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// CallbackDatum is one key/value pair of a callback's contact data.
type CallbackDatum struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// CallbackCreateRequest is the payload of callback.create. The edge
// chooses Callback (an unguessable id) and fills Priority's default.
type CallbackCreateRequest struct {
	Callback     string           `json:"callback"`
	Queue        string           `json:"queue"`
	CustomerName string           `json:"customer_name,omitempty"`
	Phone        string           `json:"phone"`
	Description  string           `json:"description,omitempty"`
	ContactData  []CallbackDatum  `json:"contact_data,omitempty"`
	Priority     int              `json:"priority"`
	Schedule     []CallbackWindow `json:"schedule,omitempty"`
}

// CallbackCancelRequest is the payload of callback.cancel.
type CallbackCancelRequest struct {
	Callback string `json:"callback"`
}

// Callback is one web callback.
type Callback struct {
	ID           string           `json:"id"`
	Queue        string           `json:"queue"`
	CustomerName string           `json:"customer_name,omitempty"`
	Phone        string           `json:"phone"`
	Description  string           `json:"description,omitempty"`
	ContactData  []CallbackDatum  `json:"contact_data,omitempty"`
	Priority     int              `json:"priority"`
	Schedule     []CallbackWindow `json:"schedule,omitempty"`
	Created      int64            `json:"created"`
	Status       string           `json:"status"`
	// Outcome says how a finished callback ended (answered, no_answer,
	// busy, cancelled, queue_removed, schedule_passed) or why the last
	// attempt failed while it is open again.
	Outcome  string `json:"outcome,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// Call is the current attempt's call, Agent the agent who took it.
	Call  string `json:"call,omitempty"`
	Agent string `json:"agent,omitempty"`
	// Due: when a scheduled callback enters its queue; Until: when a
	// queued one leaves it (its slot ends).
	Due   int64 `json:"due,omitempty"`
	Until int64 `json:"until,omitempty"`
	Ended int64 `json:"ended,omitempty"`
}

// waitingForAgent: c waits or rings for an agent (a general queue, a
// personal queue after a retrieve redirected it, an offer).
func (c *Call) waitingForAgent() bool {
	return c.Place == PlaceQueue || c.Place == PlacePersonal || c.Place == PlaceRinging
}

func (cb *Callback) open() bool {
	switch cb.Status {
	case CallbackScheduled, CallbackQueued, CallbackDialing:
		return true
	}
	return false
}

// CallbackView is what the customer's status query shows: no phone
// number, name or contact data (the id is the only credential).
type CallbackView struct {
	ID       string           `json:"id"`
	Queue    string           `json:"queue"`
	Status   string           `json:"status"`
	Outcome  string           `json:"outcome,omitempty"`
	Attempts int              `json:"attempts"`
	Priority int              `json:"priority"`
	Created  int64            `json:"created_at"`
	Due      int64            `json:"next_attempt_at,omitempty"`
	Ended    int64            `json:"ended_at,omitempty"`
	Schedule []CallbackWindow `json:"schedule,omitempty"`
}

func (cb *Callback) view() CallbackView {
	return CallbackView{ID: cb.ID, Queue: cb.Queue, Status: cb.Status, Outcome: cb.Outcome, Attempts: cb.Attempts,
		Priority: cb.Priority, Created: cb.Created, Due: cb.Due, Ended: cb.Ended, Schedule: cb.Schedule}
}

// CallbackEvent is the data of every callback.* event; its field names
// are those of the reporting database's callbacks table.
type CallbackEvent struct {
	Callback     string `json:"callback"`
	Queue        string `json:"queue"`
	Status       string `json:"status"`
	Outcome      string `json:"reason,omitempty"`
	Attempt      int    `json:"attempt,omitempty"`
	Call         string `json:"call,omitempty"`
	Agent        string `json:"agent,omitempty"`
	CustomerName string `json:"customer_name,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Priority     int    `json:"priority,omitempty"`
	Due          int64  `json:"due_at,omitempty"`
}

func (e *Engine) emitCallback(typ string, cb *Callback) {
	ev := CallbackEvent{Callback: cb.ID, Queue: cb.Queue, Status: cb.Status, Outcome: cb.Outcome, Attempt: cb.Attempts,
		Call: cb.Call, Agent: cb.Agent, Due: cb.Due}
	if typ != EvCallbackUpdated {
		ev.CustomerName, ev.Phone, ev.Priority = cb.CustomerName, cb.Phone, cb.Priority
	}
	e.emit(typ, ev)
}

// ContactDataLength is the length of contact data as web.md's 1000
// limit counts it: the pairs written "key=value", joined by ";", in
// Unicode characters (runes).
func ContactDataLength(d []CallbackDatum) int {
	n := 0
	for i, kv := range d {
		if i > 0 {
			n++
		}
		n += utf8.RuneCountInString(kv.Key) + 1 + utf8.RuneCountInString(kv.Value)
	}
	return n
}

// CheckCallbackRequest makes the checks of a callback request that need
// no state, in web.md's terms: the web edge runs it before proposing and
// Apply again (the same function), so what it refuses never reaches the
// log and a command an edge let through is judged alike on every node.
// Lengths are Unicode characters.
func CheckCallbackRequest(p *CallbackCreateRequest) *CallbackError {
	if p.Callback == "" || len(p.Callback) > MaxCallbackIDLen || !validID(p.Callback) {
		return cbErr(CodeInternalWeb, "callback", "the callback id is not an id of 1-%d characters", MaxCallbackIDLen)
	}
	if p.Queue == "" {
		return cbErr(CodeBadMandatory, "queue", "queue is missing")
	}
	if !validID(p.Queue) {
		return cbErr(CodeBadMandatory, "queue", "queue %q is not a queue id", p.Queue)
	}
	if err := CheckCallbackPhone(p.Phone); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(p.CustomerName); n > MaxCustomerNameRunes {
		return cbErr(CodeNameTooLong, "customer_name", "customer name too long: %d characters, at most %d", n, MaxCustomerNameRunes)
	}
	if msg := textFault(p.CustomerName); msg != "" {
		return cbErr(CodeBadParameter, "customer_name", "customer name %s", msg)
	}
	if n := utf8.RuneCountInString(p.Description); n > MaxCallbackDescRunes {
		return cbErr(CodeDescTooLong, "description", "description too long: %d characters, at most %d", n, MaxCallbackDescRunes)
	}
	if msg := textFault(p.Description); msg != "" {
		return cbErr(CodeBadParameter, "description", "description %s", msg)
	}
	for i, kv := range p.ContactData {
		f := fmt.Sprintf("contact_data.%s", clip(kv.Key))
		if kv.Key == "" || strings.ContainsAny(kv.Key, "=;") || utf8.RuneCountInString(kv.Key) > maxContactKeyRunes {
			return cbErr(CodeBadParameter, f, "a contact data key is 1-%d characters without = or ;", maxContactKeyRunes)
		}
		if i > 0 && kv.Key <= p.ContactData[i-1].Key {
			return cbErr(CodeBadParameter, f, "contact data keys must be unique and sorted")
		}
		if msg := textFault(kv.Key); msg != "" {
			return cbErr(CodeBadParameter, f, "key %s", msg)
		}
		if msg := textFault(kv.Value); msg != "" {
			return cbErr(CodeBadParameter, f, "value %s", msg)
		}
	}
	if n := ContactDataLength(p.ContactData); n > MaxContactDataRunes {
		return cbErr(CodeContactDataLong, "contact_data", "contact data too long: %d characters (key=value pairs joined by ;), at most %d", n, MaxContactDataRunes)
	}
	if p.Priority < 1 || p.Priority > 100 {
		return cbErr(CodeInvalidPriority, "priority", "invalid priority %d: must be 1 to 100", p.Priority)
	}
	if len(p.Schedule) > MaxCallbackWindows {
		return cbErr(CodeInvalidSchedule, "schedule", "%d windows, at most %d", len(p.Schedule), MaxCallbackWindows)
	}
	for i, w := range p.Schedule {
		if w.End <= w.Start {
			return cbErr(CodeInvalidSchedule, fmt.Sprintf("schedule[%d]", i), "the window ends before it starts")
		}
		if i > 0 && w.Start < p.Schedule[i-1].End {
			return cbErr(CodeInvalidSchedule, fmt.Sprintf("schedule[%d]", i), "windows must be in order and must not overlap")
		}
	}
	return nil
}

// CheckCallbackPhone checks the customer's number as written: digits, a
// leading +, spaces and ( ) - . /, 1-32 digits, at most 64 bytes (the
// rule of the excluded-numbers list, so both normalise alike).
func CheckCallbackPhone(phone string) *CallbackError {
	if phone == "" {
		return cbErr(CodeBadMandatory, "phone", "phone is missing")
	}
	if err := checkExcludedEntry("phone", phone); err != nil {
		msg := err.Error()
		if fe, ok := err.(*FieldError); ok {
			msg = fe.Msg
		}
		return cbErr(CodeBadMandatory, "phone", "%s", msg)
	}
	return nil
}

// callbackPriority maps web.md's priority (1-100) to a call's caller
// priority (0-MaxPriority): 1-10 → 0, …, 91-100 → 9.
func callbackPriority(p int) int { return min(max((p-1)/10, 0), MaxPriority) }

func (e *Engine) cmdCallbackCreate(env command.Envelope) (any, error) {
	var p CallbackCreateRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := CheckCallbackRequest(&p); err != nil {
		return nil, err
	}
	if _, taken := e.st.Callbacks[p.Callback]; taken {
		return nil, cbErr(CodeCallbackInternal, "callback", "callback id %q is in use", p.Callback)
	}
	if e.cbOpenCount >= MaxOpenCallbacks || len(e.st.Callbacks) >= MaxOpenCallbacks+callbackFinishedLimit {
		return nil, cbErr(CodeCallbackInternal, "", "too many callbacks are open; try again later")
	}
	plan := e.cbPlan
	if _, ok := e.st.Queues[p.Queue]; !ok || (plan.queues != nil && !plan.queues[p.Queue]) {
		return nil, cbErr(CodeUnknownQueue, "queue", "the callback queue %q does not exist", p.Queue)
	}
	now := e.now
	limit := now + int64(CallbackHorizon)
	for i, w := range p.Schedule {
		if w.End <= now {
			return nil, cbErr(CodeScheduleExpired, fmt.Sprintf("schedule[%d]", i), "the schedule has already expired")
		}
	}
	for i, w := range p.Schedule {
		if w.Start > limit || w.End > limit {
			return nil, cbErr(CodeScheduleTooFar, fmt.Sprintf("schedule[%d]", i), "a callback cannot be scheduled more than 180 days ahead")
		}
	}
	for i, w := range p.Schedule {
		if _, _, ok := plan.firstSlot(max(w.Start, now), w.End); !ok {
			return nil, cbErr(CodeOutsideSchedule, fmt.Sprintf("schedule[%d]", i), "the window is outside the callback routing schedule of the contact center")
		}
	}
	if len(p.Schedule) == 0 {
		if _, _, ok := plan.firstSlot(now, limit); !ok {
			return nil, cbErr(CodeOutsideSchedule, "schedule", "the contact center has no callback hours in the next 180 days")
		}
	}
	canon := e.canonical(p.Phone)
	if e.isExcluded(canon) {
		return nil, cbErr(CodeExcludedNumber, "phone", "the phone number is on the excluded-numbers list")
	}
	key := p.Queue + "\x00" + canon
	if _, dup := e.cbOpen[key]; dup {
		return nil, cbErr(CodeDuplicate, "phone", "a callback to this number is already open in queue %q", p.Queue)
	}
	// Accepted: nothing below can fail.
	cb := &Callback{ID: p.Callback, Queue: p.Queue, CustomerName: p.CustomerName, Phone: p.Phone, Description: p.Description,
		ContactData: p.ContactData, Priority: p.Priority, Schedule: p.Schedule, Created: now, Status: CallbackScheduled}
	e.st.Callbacks[cb.ID] = cb
	e.cbOpen[key] = cb.ID
	e.cbOpenCount++
	e.scheduleCallback(cb, now)
	e.emitCallback(EvCallbackCreated, cb)
	if cb.Status == CallbackScheduled && cb.Due <= now {
		e.enqueueCallback(cb)
	}
	return cb.view(), nil
}

func (e *Engine) cmdCallbackCancel(env command.Envelope) (any, error) {
	var p CallbackCancelRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	cb, ok := e.st.Callbacks[p.Callback]
	if !ok {
		return nil, cbErr(CodeBadParameter, "callback", "unknown callback %q", p.Callback)
	}
	if !cb.open() {
		return nil, cbErr(CodeBadParameter, "callback", "the callback is %s and cannot be cancelled", cb.Status)
	}
	callID := cb.Call
	e.finishCallback(cb, CallbackCancelled, "cancelled")
	if c, ok := e.st.Calls[callID]; ok {
		e.endCall(c, "cancelled", "customer")
	}
	return cb.view(), nil
}

// Callback returns a callback's status view.
func (e *Engine) Callback(id string) (CallbackView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	cb, ok := e.st.Callbacks[id]
	if !ok {
		return CallbackView{}, false
	}
	return cb.view(), true
}

// syncCallbacks rebuilds the callbacks' derived state after a
// config.apply or a restore: the compiled routing schedule and the index
// of open callbacks by queue and number (normalised with the current
// CTI settings).
func (e *Engine) syncCallbacks() {
	e.cbPlan = compileCallbackPlan(e.st.Config.Callbacks)
	e.cbOpen = map[string]string{}
	e.cbOpenCount = 0
	for _, id := range sortedKeys(e.st.Callbacks) {
		cb := e.st.Callbacks[id]
		if cb.open() {
			e.cbOpen[cb.Queue+"\x00"+e.canonical(cb.Phone)] = id
			e.cbOpenCount++
		}
	}
}

// scheduleCallback sets the next slot of an open callback from time
// from: the earliest open instant of the routing schedule inside one of
// its windows (or, without windows, within 180 days of its creation). No
// slot left: the callback expires.
func (e *Engine) scheduleCallback(cb *Callback, from int64) {
	start, end, ok := e.nextSlot(cb, from)
	if !ok {
		e.finishCallback(cb, CallbackExpired, "schedule_passed")
		return
	}
	cb.Status, cb.Due, cb.Until, cb.Call, cb.Agent = CallbackScheduled, start, end, "", ""
}

func (e *Engine) nextSlot(cb *Callback, from int64) (start, end int64, ok bool) {
	if len(cb.Schedule) == 0 {
		return e.cbPlan.firstSlot(from, cb.Created+int64(CallbackHorizon))
	}
	for _, w := range cb.Schedule {
		if w.End <= from {
			continue
		}
		if start, end, ok = e.cbPlan.firstSlot(max(w.Start, from), w.End); ok {
			return start, end, true
		}
	}
	return 0, 0, false
}

// enqueueCallback makes the callback's next attempt a call waiting in
// its queue, routed like any other call.
func (e *Engine) enqueueCallback(cb *Callback) {
	q, ok := e.st.Queues[cb.Queue]
	if !ok {
		e.finishCallback(cb, CallbackFailed, "queue_removed")
		return
	}
	cb.Attempts++
	id := fmt.Sprintf("%s.%d", cb.ID, cb.Attempts)
	for n := 0; e.st.Calls[id] != nil && n < 100; n++ {
		id += "r" // a call id an edge chose collides: deterministic way out
	}
	c := &Call{ID: id, Number: cb.Phone, Name: cb.CustomerName, Direction: DirOutbound,
		Priority: callbackPriority(cb.Priority), Note: cb.Description, Created: e.now, Callback: cb.ID}
	e.st.Calls[id] = c
	cb.Status, cb.Call, cb.Due = CallbackQueued, id, 0
	pos := e.enterQueue(c, q)
	e.emitQueued(c, pos, "callback")
	e.emitCallback(EvCallbackUpdated, cb)
}

// finishCallback ends a callback for good with status and outcome.
func (e *Engine) finishCallback(cb *Callback, status, outcome string) {
	if cb.open() {
		delete(e.cbOpen, cb.Queue+"\x00"+e.canonical(cb.Phone))
		e.cbOpenCount--
	}
	cb.Status, cb.Outcome, cb.Due, cb.Until, cb.Ended = status, outcome, 0, 0, e.now
	e.emitCallback(EvCallbackUpdated, cb)
}

// callbackAnswered: an agent answered the callback's call from an offer.
// The call stays on the agent's line, dialling the customer: call.dialing
// and callback.dial tell the telephony edge (or an integration) to place
// the call, which reports back with call.remote_answer / remote_busy /
// remote_hangup.
func (e *Engine) callbackAnswered(c *Call, a *AgentState) {
	cb, ok := e.st.Callbacks[c.Callback]
	if !ok || cb.Call != c.ID || cb.Status != CallbackQueued {
		return // a completed callback's conversation answered again (after a transfer): an ordinary call
	}
	c.State, c.Target = CallDialing, cb.Phone
	cb.Status, cb.Agent, cb.Until = CallbackDialing, a.ID, 0
	e.emit(EvCallDialing, DialingEvent{Call: c.ID, Agent: a.ID, Line: 1, Number: cb.Phone})
	e.emitCallback(EvCallbackDial, cb)
}

// callbackConnected: the customer answered.
func (e *Engine) callbackConnected(c *Call) {
	if cb, ok := e.st.Callbacks[c.Callback]; ok && cb.Call == c.ID && cb.Status == CallbackDialing {
		e.finishCallback(cb, CallbackCompleted, "answered")
	}
}

// callbackCallEnded: the attempt's call ended (endCall) for reason. An
// attempt whose slot closed goes back to its schedule without counting;
// an unanswered one is retried after the retry interval while attempts
// remain, else the callback fails.
func (e *Engine) callbackCallEnded(cbID, callID, reason string) {
	cb, ok := e.st.Callbacks[cbID]
	if !ok || cb.Call != callID || !cb.open() {
		return
	}
	if reason == "window_closed" {
		cb.Attempts--
		cb.Outcome = "window_closed"
		e.scheduleCallback(cb, e.now)
		if cb.open() {
			e.emitCallback(EvCallbackUpdated, cb)
		}
		return
	}
	outcome := "no_answer"
	if reason == "busy" {
		outcome = "busy"
	}
	if cb.Attempts >= e.cbPlan.attempts {
		e.finishCallback(cb, CallbackFailed, outcome)
		return
	}
	cb.Outcome = outcome
	e.scheduleCallback(cb, e.now+e.cbPlan.retry)
	if cb.open() {
		e.emitCallback(EvCallbackUpdated, cb)
	}
}

// tickCallbacks (clock.tick): scheduled callbacks whose slot has come
// enter their queue; queued ones whose slot has ended leave it (offered
// to agents only inside their windows), in (time, id) order.
func (e *Engine) tickCallbacks() {
	if len(e.st.Callbacks) == 0 {
		return
	}
	now := e.now
	var list []due
	for id, cb := range e.st.Callbacks {
		switch {
		case cb.Status == CallbackScheduled && cb.Due <= now:
			list = append(list, due{cb.Due, 0, id})
		case cb.Status == CallbackQueued && cb.Until > 0 && cb.Until <= now:
			list = append(list, due{cb.Until, 1, id})
		}
	}
	sortDue(list)
	for _, d := range list {
		cb := e.st.Callbacks[d.id]
		switch {
		case d.kind == 0 && cb.Status == CallbackScheduled:
			e.enqueueCallback(cb)
		case d.kind == 1 && cb.Status == CallbackQueued:
			if c, ok := e.st.Calls[cb.Call]; ok && c.waitingForAgent() {
				e.endCall(c, "window_closed", "system")
			}
		}
	}
}

// callbackDeadline is the earliest callback timer (0: none).
func (e *Engine) callbackDeadline() int64 {
	var at int64
	for _, cb := range e.st.Callbacks {
		t := int64(0)
		switch cb.Status {
		case CallbackScheduled:
			t = cb.Due
		case CallbackQueued:
			t = cb.Until
		}
		if t > 0 && (at == 0 || t < at) {
			at = t
		}
	}
	return at
}

// pruneCallbacks forgets finished callbacks that ended before cutoff
// (the daily maintenance, by the contacts retention).
func (e *Engine) pruneCallbacks(cutoff int64) {
	for id, cb := range e.st.Callbacks {
		if !cb.open() && cb.Ended < cutoff {
			delete(e.st.Callbacks, id)
		}
	}
}

func sortDue(list []due) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].at != list[j].at {
			return list[i].at < list[j].at
		}
		if list[i].kind != list[j].kind {
			return list[i].kind < list[j].kind
		}
		return list[i].id < list[j].id
	})
}

// checkCallbacks is the callbacks' invariant (Engine.Check): a queued
// callback's call waits or rings for its queue, a dialling one is on its
// agent's line 1 dialling, a scheduled one has a due time and no call;
// the open index lists exactly the open callbacks; every live call that
// names a callback is that callback's current attempt.
func (e *Engine) checkCallbacks() error {
	open := 0
	for _, id := range sortedKeys(e.st.Callbacks) {
		cb := e.st.Callbacks[id]
		c := e.st.Calls[cb.Call]
		switch cb.Status {
		case CallbackQueued:
			if c == nil || !c.waitingForAgent() || c.Callback != id || cb.Until <= 0 {
				return fmt.Errorf("callback %s: queued, but its call %q is not waiting", id, cb.Call)
			}
		case CallbackDialing:
			if c == nil || c.Place != PlaceLine || c.Line != 1 || c.State != CallDialing || c.Agent != cb.Agent {
				return fmt.Errorf("callback %s: dialing, but its call %q is not dialling on %s's line 1", id, cb.Call, cb.Agent)
			}
		case CallbackScheduled:
			if cb.Due <= 0 || cb.Until <= cb.Due || cb.Call != "" {
				return fmt.Errorf("callback %s: scheduled without a slot (due %d, until %d, call %q)", id, cb.Due, cb.Until, cb.Call)
			}
		}
		if cb.open() {
			open++
			if k := cb.Queue + "\x00" + e.canonical(cb.Phone); e.cbOpen[k] != id {
				return fmt.Errorf("callback %s: open but not in the duplicate index (%q holds %q)", id, k, e.cbOpen[k])
			}
		}
	}
	if open != e.cbOpenCount || open != len(e.cbOpen) {
		return fmt.Errorf("callbacks: %d open, counted %d, indexed %d", open, e.cbOpenCount, len(e.cbOpen))
	}
	for _, id := range sortedKeys(e.st.Calls) {
		c := e.st.Calls[id]
		if c.Callback == "" {
			continue
		}
		if cb, ok := e.st.Callbacks[c.Callback]; ok && cb.Call == id && cb.open() {
			continue
		}
		if cb, ok := e.st.Callbacks[c.Callback]; ok && cb.Status == CallbackCompleted && cb.Call == id {
			continue // the conversation goes on
		}
		return fmt.Errorf("call %s: an attempt of callback %s that is not its current one", id, c.Callback)
	}
	return nil
}

// CallbacksOpen counts the callbacks not finished yet (scheduled,
// queued, dialing): the web callbacks in progress.
func (e *Engine) CallbacksOpen() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cbOpenCount
}
