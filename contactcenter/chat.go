package contactcenter

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// Web chat (web.md, "Web chat"; DESIGN.md, "Web chat").
//
// A chat session is replicated state created by chat.create, which the
// web edge proposes with the session's id and the request, the time
// being the leader's. The session enters the ACD as a call (Call.Chat
// names it) exactly as a web callback's attempt does: it waits in a
// queue, is offered to agents and answered with call.answer; from then
// on the agent who holds the call on a line may write in it. Messages of
// both sides are numbered per session in Apply (1, 2, …) and kept as the
// transcript (bounded); typing indicators are events only. The session
// ends with chat.end, or when its call ends (the agent hangs up, the
// queue goes away). A refusal is a *CallbackError carrying web.md's code
// (1007 unknown or ended session, 1010/1011 bad parameter).

// FamilyChat is the web-chat family (chat.*).
const FamilyChat = "chat"

// Command types of web chat.
const (
	TypeChatCreate  = "chat.create"
	TypeChatMessage = "chat.message"
	TypeChatTyping  = "chat.typing"
	TypeChatEnd     = "chat.end"
)

// Events of web chat.
const (
	EvChatCreated  = "chat.created"  // ChatEvent
	EvChatAnswered = "chat.answered" // ChatEvent: an agent took the session
	EvChatMessage  = "chat.message"  // ChatMessageEvent
	EvChatTyping   = "chat.typing"   // ChatTypingEvent
	EvChatEnded    = "chat.ended"    // ChatEvent with reason and messages
	// EvChatRequeued: the session's agent logged out; the session waits
	// in its queue again (ChatEvent with reason, previous and messages).
	EvChatRequeued = "chat.requeued"
)

// Chat statuses and sides.
const (
	ChatQueued    = "queued"    // waiting or ringing for an agent
	ChatConnected = "connected" // an agent answered
	ChatEnded     = "ended"

	ChatFromCustomer = "customer"
	ChatFromAgent    = "agent"
)

// Limits of web chat.
const (
	CodeInvalidSession = 1007
	// MaxChatMessageRunes bounds one message (Unicode characters).
	MaxChatMessageRunes = 2000
	// MaxChatMessages bounds a session's transcript; past it the session
	// refuses messages (1011) until it ends.
	MaxChatMessages = 1000
	// MaxChats bounds the sessions kept, open and ended (ended ones are
	// pruned by the daily maintenance after transcripts_days).
	MaxChats = 50_000
	// MaxChatLanguages bounds chat.languages.
	MaxChatLanguages = 64
	// chatForbidden are the characters web.md forbids in source.
	chatForbidden = "`*,\"!%()_"
)

// ChatSettings is the configuration's chat section: the chat languages
// a session may ask for and the queue sessions enter when their
// destination names none.
type ChatSettings struct {
	Languages []string `yaml:"languages" json:"languages"`
	Queue     string   `yaml:"queue" json:"queue,omitempty"`
}

// ChatCreateRequest is the payload of chat.create. The edge chooses
// Session (an unguessable id) and fills Priority's default.
type ChatCreateRequest struct {
	Session      string          `json:"session"`
	Language     string          `json:"language,omitempty"` // page set
	ChatLanguage string          `json:"chat_language"`
	Priority     int             `json:"priority"`
	CustomerName string          `json:"customer_name,omitempty"`
	Source       string          `json:"source,omitempty"`
	Destination  string          `json:"destination,omitempty"`
	Caption      string          `json:"caption,omitempty"`
	BusinessUnit string          `json:"business_unit,omitempty"`
	ContactData  []CallbackDatum `json:"contact_data,omitempty"`
}

// ChatMessageRequest is the payload of chat.message and chat.typing
// (Text empty for typing). Agent is set when From is "agent".
type ChatMessageRequest struct {
	Session string `json:"session"`
	From    string `json:"from,omitempty"` // customer or agent (default agent when Agent is set)
	Agent   string `json:"agent,omitempty"`
	Text    string `json:"text,omitempty"`
}

// ChatEndRequest is the payload of chat.end.
type ChatEndRequest struct {
	Session string `json:"session"`
	By      string `json:"by,omitempty"` // customer or agent (default agent when Agent is set)
	Agent   string `json:"agent,omitempty"`
}

// ChatMessage is one message of a transcript.
type ChatMessage struct {
	Seq   int    `json:"seq"`
	From  string `json:"from"`
	Agent string `json:"agent,omitempty"`
	Text  string `json:"text"`
	At    int64  `json:"at"`
}

// Chat is one web chat session.
type Chat struct {
	ID           string          `json:"id"`
	Queue        string          `json:"queue"`
	Language     string          `json:"language,omitempty"`
	ChatLanguage string          `json:"chat_language"`
	Priority     int             `json:"priority"`
	CustomerName string          `json:"customer_name,omitempty"`
	Source       string          `json:"source,omitempty"`
	Destination  string          `json:"destination,omitempty"`
	Caption      string          `json:"caption,omitempty"`
	BusinessUnit string          `json:"business_unit,omitempty"`
	ContactData  []CallbackDatum `json:"contact_data,omitempty"`
	Created      int64           `json:"created"`
	Status       string          `json:"status"`
	Call         string          `json:"call,omitempty"`
	// Agent is the agent the session is connected to, or — queued again
	// after its agent left, or ended — the last one who took it (a
	// transcript may be e-mailed once an agent took it).
	Agent    string        `json:"agent,omitempty"`
	Ended    int64         `json:"ended,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	Messages []ChatMessage `json:"messages,omitempty"`
	// Transcript is the outbox entry of the transcript e-mailed at the
	// customer's request (chattranscript.go), once.
	Transcript string `json:"transcript,omitempty"`
}

// ChatView is what the session's customer sees of it.
type ChatView struct {
	Session  string `json:"session_id"`
	Queue    string `json:"queue"`
	Status   string `json:"status"`
	Agent    string `json:"agent,omitempty"`
	Messages int    `json:"messages"`
	Created  int64  `json:"created_at"`
	Ended    int64  `json:"ended_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// view: a queued session shows no agent (it waits for one).
func (ch *Chat) view() ChatView {
	agent := ch.Agent
	if ch.Status == ChatQueued {
		agent = ""
	}
	return ChatView{Session: ch.ID, Queue: ch.Queue, Status: ch.Status, Agent: agent, Messages: len(ch.Messages),
		Created: ch.Created, Ended: ch.Ended, Reason: ch.Reason}
}

// ChatMessageResult answers chat.message: the message's sequence number.
type ChatMessageResult struct {
	Session string `json:"session_id"`
	Seq     int    `json:"seq"`
}

// ChatEvent is the data of chat.created, chat.answered and chat.ended;
// its names are the reporting database's chats columns.
type ChatEvent struct {
	Session      string `json:"chat"`
	Queue        string `json:"queue"`
	Status       string `json:"status"`
	Call         string `json:"call,omitempty"`
	Agent        string `json:"agent,omitempty"`
	BusinessUnit string `json:"business_unit,omitempty"`
	CustomerName string `json:"customer_name,omitempty"`
	ChatLanguage string `json:"chat_language,omitempty"`
	Priority     int    `json:"priority,omitempty"`
	Reason       string `json:"reason,omitempty"`
	By           string `json:"by,omitempty"`
	Messages     int    `json:"messages,omitempty"`
	// Previous is the agent a requeued session was connected to.
	Previous string `json:"previous,omitempty"`
}

// ChatMessageEvent is chat.message's data: the transcript reaches
// reporting (and the agent's console stream) through it. Agent is the
// agent holding the session (the author of an agent's message), "" while
// it waits; Queue the session's queue (the console stream shows a
// waiting session's messages to the queue's agents, a taken one's to its
// agent only).
type ChatMessageEvent struct {
	Session string `json:"chat"`
	Seq     int    `json:"seq"`
	From    string `json:"from"`
	Agent   string `json:"agent,omitempty"`
	Queue   string `json:"queue"`
	Text    string `json:"text"`
	At      int64  `json:"at"`
}

// ChatTypingEvent is chat.typing's data (Agent, Queue as for messages).
type ChatTypingEvent struct {
	Session string `json:"chat"`
	From    string `json:"from"`
	Agent   string `json:"agent,omitempty"`
	Queue   string `json:"queue"`
}

// holder is the agent whose line holds the session's call ("" if none).
func (e *Engine) holder(ch *Chat) string {
	if c := e.st.Calls[ch.Call]; c != nil && c.Place == PlaceLine {
		return c.Agent
	}
	return ""
}

func chatErr(code int, field, format string, args ...any) *CallbackError {
	return cbErr(code, field, format, args...)
}

// CheckChatSource is web.md's rule for source: printable ASCII without
// ` * , " ! % ( ) _.
func CheckChatSource(s string) *CallbackError {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return chatErr(CodeBadParameter, "source", "source must be printable ASCII (byte %d is not)", i)
		}
		if strings.IndexByte(chatForbidden, c) >= 0 {
			return chatErr(CodeBadParameter, "source", "source must not contain %q", string(c))
		}
	}
	return nil
}

// validLanguage: a language folder or tag, xx, xxx or xx-YY.
func validLanguage(s string) bool {
	lower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	switch len(s) {
	case 2:
		return lower(s[0]) && lower(s[1])
	case 3:
		return lower(s[0]) && lower(s[1]) && lower(s[2])
	case 5:
		return lower(s[0]) && lower(s[1]) && s[2] == '-' && s[3] >= 'A' && s[3] <= 'Z' && s[4] >= 'A' && s[4] <= 'Z'
	}
	return false
}

// CheckChatRequest makes the checks of a chat request that need no
// state: the web edge runs it before proposing and Apply again.
// Mandatory: chat_language (1010); everything else wrong is 1011.
func CheckChatRequest(p *ChatCreateRequest) *CallbackError {
	if p.Session == "" || len(p.Session) > MaxCallbackIDLen || !validID(p.Session) {
		return chatErr(CodeInternalWeb, "session", "the session id is not an id of 1-%d characters", MaxCallbackIDLen)
	}
	if p.ChatLanguage == "" {
		return chatErr(CodeBadMandatory, "chat_language", "chat_language is missing")
	}
	if !validLanguage(p.ChatLanguage) {
		return chatErr(CodeBadMandatory, "chat_language", "chat_language %q is not a language (xx, xxx or xx-YY)", p.ChatLanguage)
	}
	if p.Language != "" && !validLanguage(p.Language) {
		return chatErr(CodeBadParameter, "language", "language %q is not a page set (xx, xxx or xx-YY)", p.Language)
	}
	if p.Priority < 1 || p.Priority > 100 {
		return chatErr(CodeBadParameter, "priority", "invalid priority %d: must be 1 to 100", p.Priority)
	}
	if err := CheckChatSource(p.Source); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"customer_name", p.CustomerName}, {"destination", p.Destination}, {"caption", p.Caption}} {
		if msg := textFault(f.v); msg != "" {
			return chatErr(CodeBadParameter, f.name, "%s %s", f.name, msg)
		}
	}
	if p.BusinessUnit != "" && !validID(p.BusinessUnit) {
		return chatErr(CodeBadParameter, "business_unit", "business unit %q is not an id", p.BusinessUnit)
	}
	for i, kv := range p.ContactData {
		f := "contact_data." + clip(kv.Key)
		if kv.Key == "" || strings.ContainsAny(kv.Key, "=;") || utf8.RuneCountInString(kv.Key) > maxContactKeyRunes {
			return chatErr(CodeBadParameter, f, "a contact data key is 1-%d characters without = or ;", maxContactKeyRunes)
		}
		if i > 0 && kv.Key <= p.ContactData[i-1].Key {
			return chatErr(CodeBadParameter, f, "contact data keys must be unique and sorted")
		}
		if msg := textFault(kv.Key); msg != "" {
			return chatErr(CodeBadParameter, f, "key %s", msg)
		}
		if msg := textFault(kv.Value); msg != "" {
			return chatErr(CodeBadParameter, f, "value %s", msg)
		}
	}
	if n := ContactDataLength(p.ContactData); n > MaxContactDataRunes {
		return chatErr(CodeBadParameter, "contact_data", "contact data too long: %d characters, at most %d", n, MaxContactDataRunes)
	}
	return nil
}

// CheckChatText checks a message: 1-MaxChatMessageRunes characters,
// UTF-8, no control characters but line feed and tab, no bidirectional
// controls.
func CheckChatText(text string) *CallbackError {
	if strings.TrimSpace(text) == "" {
		return chatErr(CodeBadMandatory, "text", "the message is empty")
	}
	if n := utf8.RuneCountInString(text); n > MaxChatMessageRunes {
		return chatErr(CodeBadParameter, "text", "the message is %d characters, at most %d", n, MaxChatMessageRunes)
	}
	if msg := textFault(strings.NewReplacer("\n", " ", "\t", " ").Replace(text)); msg != "" {
		return chatErr(CodeBadParameter, "text", "the message %s", msg)
	}
	return nil
}

// chatQueue is the queue a session enters: its destination when that
// names a queue, else the configured chat queue.
func (e *Engine) chatQueue(p *ChatCreateRequest) (*QueueState, *CallbackError) {
	if q, ok := e.st.Queues[p.Destination]; ok && p.Destination != "" {
		return q, nil
	}
	cs := e.st.Config.Chat
	if cs != nil && cs.Queue != "" {
		if q, ok := e.st.Queues[cs.Queue]; ok {
			return q, nil
		}
	}
	return nil, chatErr(CodeBadParameter, "destination", "no queue takes this chat: the destination names none and no chat queue is configured")
}

func (e *Engine) cmdChatCreate(env command.Envelope) (any, error) {
	var p ChatCreateRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := CheckChatRequest(&p); err != nil {
		return nil, err
	}
	if _, taken := e.st.Chats[p.Session]; taken {
		return nil, chatErr(CodeInternalWeb, "session", "session id %q is in use", p.Session)
	}
	if len(e.st.Chats) >= MaxChats {
		return nil, chatErr(1013, "", "too many chat sessions are kept; try again later")
	}
	cs := e.st.Config.Chat
	if cs == nil || !containsString(cs.Languages, p.ChatLanguage) {
		return nil, chatErr(CodeBadParameter, "chat_language", "chat language %q is not defined in the configuration", p.ChatLanguage)
	}
	if len(e.st.Config.BusinessUnits) > 0 {
		if p.BusinessUnit == "" {
			return nil, chatErr(CodeBadMandatory, "business_unit", "business_unit is missing (the contact center has business units)")
		}
		if _, ok := e.st.Config.BusinessUnits[p.BusinessUnit]; !ok {
			return nil, chatErr(CodeBadParameter, "business_unit", "unknown business unit %q", p.BusinessUnit)
		}
	}
	q, cerr := e.chatQueue(&p)
	if cerr != nil {
		return nil, cerr
	}
	if _, used := e.st.Calls[p.Session]; used {
		return nil, chatErr(CodeInternalWeb, "session", "session id %q is in use", p.Session)
	}
	// Accepted: nothing below can fail.
	ch := &Chat{ID: p.Session, Queue: q.ID, Language: p.Language, ChatLanguage: p.ChatLanguage, Priority: p.Priority,
		CustomerName: p.CustomerName, Source: p.Source, Destination: p.Destination, Caption: p.Caption,
		BusinessUnit: p.BusinessUnit, ContactData: p.ContactData, Created: e.now, Status: ChatQueued, Call: p.Session}
	e.st.Chats[ch.ID] = ch
	c := &Call{ID: p.Session, Name: clipRunes(p.CustomerName, MaxNameLen/4), Direction: DirInbound,
		Priority: callbackPriority(p.Priority), Note: clipRunes(p.Caption, MaxNoteLen/4), Created: e.now, Chat: ch.ID}
	e.st.Calls[c.ID] = c
	e.emitChat(EvChatCreated, ch, "", "")
	pos := e.enterQueue(c, q)
	e.emitQueued(c, pos, "chat")
	return ch.view(), nil
}

// clipRunes is s cut to at most n runes (a call's name and note repeat
// the session's, which may be longer).
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// chatFor finds an open session and checks that the sender may write in
// it: the customer always, an agent only while the session's call is on
// one of its lines.
func (e *Engine) chatFor(p *ChatMessageRequest, op string) (*Chat, error) {
	if p.From == "" && p.Agent != "" {
		p.From = ChatFromAgent // an operator's console names only its agent
	}
	ch, ok := e.st.Chats[p.Session]
	if !ok || ch.Status == ChatEnded {
		return nil, chatErr(CodeInvalidSession, "session", "invalid session ID: no open chat session %q", p.Session)
	}
	switch p.From {
	case ChatFromCustomer:
		if p.Agent != "" {
			return nil, chatErr(CodeBadParameter, "agent", "a customer's %s names no agent", op)
		}
	case ChatFromAgent:
		c := e.st.Calls[ch.Call]
		if c == nil || c.Place != PlaceLine || c.Agent != p.Agent || p.Agent == "" {
			return nil, opErr(ErrNotYours, op, "agent %q is not in chat %q", p.Agent, p.Session)
		}
	default:
		return nil, chatErr(CodeBadParameter, "from", "from must be customer or agent, not %q", p.From)
	}
	return ch, nil
}

func (e *Engine) cmdChatMessage(env command.Envelope) (any, error) {
	var p ChatMessageRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	ch, err := e.chatFor(&p, "chat message")
	if err != nil {
		return nil, err
	}
	if cerr := CheckChatText(p.Text); cerr != nil {
		return nil, cerr
	}
	if len(ch.Messages) >= MaxChatMessages {
		return nil, chatErr(CodeBadParameter, "text", "the session has %d messages, the most it may hold", MaxChatMessages)
	}
	m := ChatMessage{Seq: len(ch.Messages) + 1, From: p.From, Agent: p.Agent, Text: p.Text, At: e.now}
	ch.Messages = append(ch.Messages, m)
	e.emit(EvChatMessage, ChatMessageEvent{Session: ch.ID, Seq: m.Seq, From: m.From, Agent: e.holder(ch), Queue: ch.Queue, Text: m.Text, At: m.At})
	return ChatMessageResult{Session: ch.ID, Seq: m.Seq}, nil
}

func (e *Engine) cmdChatTyping(env command.Envelope) (any, error) {
	var p ChatMessageRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if p.Text != "" {
		return nil, chatErr(CodeBadParameter, "text", "a typing indicator carries no text")
	}
	ch, err := e.chatFor(&p, "chat typing")
	if err != nil {
		return nil, err
	}
	e.emit(EvChatTyping, ChatTypingEvent{Session: ch.ID, From: p.From, Agent: e.holder(ch), Queue: ch.Queue})
	return ChatMessageResult{Session: ch.ID, Seq: len(ch.Messages)}, nil
}

func (e *Engine) cmdChatEnd(env command.Envelope) (any, error) {
	var p ChatEndRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	req := ChatMessageRequest{Session: p.Session, From: p.By, Agent: p.Agent}
	ch, err := e.chatFor(&req, "chat end")
	if err != nil {
		return nil, err
	}
	if c, ok := e.st.Calls[ch.Call]; ok {
		e.endCall(c, "hangup", req.From) // chatCallEnded ends the session
	} else {
		e.finishChat(ch, "hangup", req.From)
	}
	return ch.view(), nil
}

// finishChat ends a session for good.
func (e *Engine) finishChat(ch *Chat, reason, by string) {
	if ch.Status == ChatEnded {
		return
	}
	agent := ch.view().Agent // none while it waited (its queue's agents see the end)
	ch.Status, ch.Ended, ch.Reason = ChatEnded, e.now, reason
	e.emitChatAs(EvChatEnded, ch, agent, reason, by)
}

// chatTaken: the session's call came onto agent a's line 1 — answered
// from an offer, or retrieved from supervision or the personal queue
// (call.retrieve, *55). The session is connected to a (chat.answered,
// unless it already was).
func (e *Engine) chatTaken(c *Call, a *AgentState) {
	if c.Chat == "" {
		return
	}
	ch, ok := e.st.Chats[c.Chat]
	if !ok || ch.Call != c.ID || ch.Status == ChatEnded || (ch.Status == ChatConnected && ch.Agent == a.ID) {
		return
	}
	ch.Status, ch.Agent = ChatConnected, a.ID
	e.emitChat(EvChatAnswered, ch, "", "")
}

// chatNeedsLogin refuses to put a chat on the line of a logged-out
// operator (retrieve, *55): a chat is served only from a logged-in
// console, and the personal-queue rule would send it back at once.
func chatNeedsLogin(op string, a *AgentState, c *Call) error {
	if c.Chat != "" && a.State == StateDisconnected {
		return opErr(ErrAgentState, op, "agent %q is logged out: a chat is served only from a logged-in console; log in to take chat %q", a.ID, c.Chat)
	}
	return nil
}

// Chats of a logged-out operator (DESIGN.md, "Web chat": "An agent who
// logs out with a chat").
//
// A voice call in conversation goes on when its operator logs out: it
// lives on the phone. A chat lives only in the console, so once its
// agent is Disconnected nobody could write in it. releaseStranded takes
// it off the line and gives it back to its queue with its original
// entry time and priority (a chat already served comes before the
// chats that asked after it), keeps its transcript, sets the session
// back to queued and records chat.requeued; routing settles in the same
// command, so a free agent is offered it at once.

// ReasonAgentLogout is chat.requeued's reason: the agent holding the
// session logged out (agent.logout's last step or agent.close).
const ReasonAgentLogout = "agent_logout"

// requeueChat gives chat call c, on a line of logged-out agent a, back
// to its queue (the configured chat queue when its own was removed);
// with no queue at all the session ends (reason no_queue), transcript
// kept, as a removed queue ends a waiting one.
func (e *Engine) requeueChat(c *Call, a *AgentState) {
	q, ok := e.st.Queues[c.Queue]
	if !ok {
		if cs := e.st.Config.Chat; cs != nil {
			q, ok = e.st.Queues[cs.Queue]
		}
	}
	if !ok {
		e.endCall(c, "no_queue", "system")
		return
	}
	e.leaveLine(c)
	c.Queue = q.ID
	q.Stats.Entered++ // a new entry of the queue; Enqueued and Seq are kept
	pos := e.placeInQueue(c, q)
	e.emitQueued(c, pos, "logout")
}

// chatWaiting: chat call c enters general queue c.Queue again
// (placeInQueue). A session still connected to an agent — left on the
// line of an agent who logged out, or parked, transferred or in the
// personal queue of one and sent back to its queue — is queued again
// and chat.requeued records it (previous: the agent it was connected
// to). A session already queued (an offer not answered) is left alone.
func (e *Engine) chatWaiting(c *Call, reason string) {
	ch, ok := e.st.Chats[c.Chat]
	if !ok || ch.Call != c.ID || ch.Status != ChatConnected {
		return
	}
	previous := ch.Agent
	ch.Status, ch.Queue = ChatQueued, c.Queue // Agent stays: the last who took it
	ev := ChatEvent{Session: ch.ID, Queue: c.Queue, Status: ch.Status, Call: ch.Call, Reason: reason, Previous: previous, Messages: len(ch.Messages)}
	e.emit(EvChatRequeued, ev)
}

// chatCallEnded: the session's call ended (endCall) for reason.
func (e *Engine) chatCallEnded(chatID, callID, reason, by string) {
	if ch, ok := e.st.Chats[chatID]; ok && ch.Call == callID {
		e.finishChat(ch, reason, by)
	}
}

func (e *Engine) emitChat(typ string, ch *Chat, reason, by string) {
	e.emitChatAs(typ, ch, ch.view().Agent, reason, by)
}

// emitChatAs is emitChat naming agent as the session's.
func (e *Engine) emitChatAs(typ string, ch *Chat, agent, reason, by string) {
	ev := ChatEvent{Session: ch.ID, Queue: ch.Queue, Status: ch.Status, Call: ch.Call, Agent: agent, Reason: reason, By: by}
	switch typ {
	case EvChatCreated:
		ev.BusinessUnit, ev.CustomerName, ev.ChatLanguage, ev.Priority = ch.BusinessUnit, ch.CustomerName, ch.ChatLanguage, ch.Priority
	case EvChatEnded:
		ev.Messages = len(ch.Messages)
	}
	e.emit(typ, ev)
}

// Chat returns a session's view.
func (e *Engine) Chat(id string) (ChatView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ch, ok := e.st.Chats[id]
	if !ok {
		return ChatView{}, false
	}
	return ch.view(), true
}

// ChatMessages returns up to max messages of a session's transcript
// after sequence number since, with the session's view.
func (e *Engine) ChatMessages(id string, since, limit int) ([]ChatMessage, ChatView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ch, ok := e.st.Chats[id]
	if !ok {
		return nil, ChatView{}, false
	}
	since = min(max0(since), len(ch.Messages))
	end := min(len(ch.Messages), since+limit)
	out := append([]ChatMessage(nil), ch.Messages[since:end]...)
	return out, ch.view(), true
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// pruneChats forgets ended sessions that ended before cutoff (the daily
// maintenance, by the transcripts retention).
func (e *Engine) pruneChats(cutoff int64) {
	for id, ch := range e.st.Chats {
		if ch.Status == ChatEnded && ch.Ended < cutoff {
			delete(e.st.Chats, id)
		}
	}
}

// checkChats is the sessions' invariant (Engine.Check): an open session
// has a live call naming it that waits or rings for an agent (queued) or
// is held by an operator (connected); messages are numbered 1..n; every
// live call naming a session is that session's open call.
func (e *Engine) checkChats() error {
	for _, id := range sortedKeys(e.st.Chats) {
		ch := e.st.Chats[id]
		for i, m := range ch.Messages {
			if m.Seq != i+1 {
				return fmt.Errorf("chat %s: message %d has seq %d", id, i, m.Seq)
			}
		}
		if ch.Status == ChatEnded {
			continue
		}
		c := e.st.Calls[ch.Call]
		if c == nil || c.Chat != id {
			return fmt.Errorf("chat %s: %s, but its call %q is gone", id, ch.Status, ch.Call)
		}
		if c.Place == PlaceQueue && (ch.Status != ChatQueued || ch.Queue != c.Queue) {
			return fmt.Errorf("chat %s: waits in queue %s but is %s (queue %s)", id, c.Queue, ch.Status, ch.Queue)
		}
		if c.Place == PlaceLine && (ch.Status != ChatConnected || ch.Agent != c.Agent) {
			return fmt.Errorf("chat %s: on line %d of %s but is %s (agent %q)", id, c.Line, c.Agent, ch.Status, ch.Agent)
		}
	}
	for _, id := range sortedKeys(e.st.Calls) {
		c := e.st.Calls[id]
		if c.Chat == "" {
			continue
		}
		if ch, ok := e.st.Chats[c.Chat]; !ok || ch.Call != id || ch.Status == ChatEnded {
			return fmt.Errorf("call %s: names chat %s, which is not open on it", id, c.Chat)
		}
	}
	return nil
}

// checkChatSettings validates the chat section (the queue is checked
// with the other references).
func checkChatSettings(cs ChatSettings) (ChatSettings, error) {
	if len(cs.Languages) == 0 || len(cs.Languages) > MaxChatLanguages {
		return cs, fieldErr("chat.languages", "list 1-%d chat languages", MaxChatLanguages)
	}
	seen := map[string]bool{}
	for i, l := range cs.Languages {
		if !validLanguage(l) {
			return cs, fieldErr(fmt.Sprintf("chat.languages[%d]", i), "%q is not a language (xx, xxx or xx-YY)", l)
		}
		if seen[l] {
			return cs, fieldErr(fmt.Sprintf("chat.languages[%d]", i), "%q is listed twice", l)
		}
		seen[l] = true
	}
	if cs.Queue != "" && !validID(cs.Queue) {
		return cs, fieldErr("chat.queue", "%q is not a queue id", cs.Queue)
	}
	cs.Languages = append([]string(nil), cs.Languages...)
	return cs, nil
}

// ChatsOpen counts the chat sessions not ended (queued or connected).
func (e *Engine) ChatsOpen() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := 0
	for _, ch := range e.st.Chats {
		if ch.Status != ChatEnded {
			n++
		}
	}
	return n
}
