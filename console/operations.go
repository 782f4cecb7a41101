package console

import (
	"sort"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// operation maps an operations-API name onto an engine command.
type operation struct {
	typ string
	// actor names the payload field that must be the caller's own agent
	// ("agent"), user ("user") or one of the user's extensions
	// ("extension"); "" for none.
	actor string
	// newID names a payload field the edge fills with a fresh ID when the
	// caller gave none (the engine takes IDs from commands).
	newID string
	// keyedID: with an Idempotency-Key, the new ID is made of the caller
	// and the key (never random), so a retry after the cluster's dedupe
	// window names the same entry, which the engine refuses to make twice.
	keyedID bool
	// edge marks commands of the telephony edge (what happened on the
	// network): only an integration acting with the admin token may send
	// them through this API.
	edge bool
}

// operations lists every operation of the API (DESIGN.md documents them).
var operations = map[string]operation{
	// Agent states (two-step log-in and log-out).
	"login":          {typ: cc.TypeAgentLogin, actor: "agent"},
	"logout":         {typ: cc.TypeAgentLogout, actor: "agent"},
	"pause":          {typ: cc.TypeAgentPause, actor: "agent"},
	"close":          {typ: cc.TypeAgentClose, actor: "agent"},
	"wrapup_end":     {typ: cc.TypeAgentWrapUpEnd, actor: "agent"},
	"report_problem": {typ: cc.TypeAgentReportProblem, actor: "agent", newID: "report"},

	// Operator call operations.
	"answer":         {typ: cc.TypeCallAnswer, actor: "agent"},
	"reject":         {typ: cc.TypeCallReject, actor: "agent"},
	"hangup":         {typ: cc.TypeCallHangup, actor: "agent"},
	"dial":           {typ: cc.TypeCallDial, actor: "agent", newID: "call"},
	"hold":           {typ: cc.TypeCallHold, actor: "agent"},
	"retrieve":       {typ: cc.TypeCallRetrieve, actor: "agent"},
	"transfer":       {typ: cc.TypeCallTransfer, actor: "agent"},
	"consult":        {typ: cc.TypeCallConsult, actor: "agent", newID: "call"},
	"complete":       {typ: cc.TypeCallComplete, actor: "agent"},
	"cancel_consult": {typ: cc.TypeCallCancelConsult, actor: "agent"},
	"camp_on":        {typ: cc.TypeCallCampOn, actor: "agent"},
	"park":           {typ: cc.TypeCallPark, actor: "agent"},
	"park_on":        {typ: cc.TypeCallParkOn, actor: "agent"},
	"couple":         {typ: cc.TypeCallCouple, actor: "agent"},
	"note":           {typ: cc.TypeCallNote, actor: "agent"},

	// Web chat: the agent holding a session writes in it, shows typing,
	// ends it (the engine checks that the session's call is on its line).
	"chat_message": {typ: cc.TypeChatMessage, actor: "agent"},
	"chat_typing":  {typ: cc.TypeChatTyping, actor: "agent"},
	"chat_end":     {typ: cc.TypeChatEnd, actor: "agent"},

	// E-mail: the agent holding an e-mail contact replies to it (from
	// the alias the customer wrote to, threaded) or forwards it (`forward`:
	// the address) through the durable outbox (the engine checks the
	// contact is on the agent's line).
	"mail_reply":   {typ: cc.TypeMailReply, actor: "agent", newID: "reply", keyedID: true},
	"mail_forward": {typ: cc.TypeMailForward, actor: "agent", newID: "reply", keyedID: true},

	// User self-service (portal).
	"presence":      {typ: cc.TypeUserPresence, actor: "user"},
	"forwarding":    {typ: cc.TypeUserForwarding, actor: "user"},
	"preferences":   {typ: cc.TypeUserPreferences, actor: "user"},
	"phone_order":   {typ: cc.TypePhoneSetOrder, actor: "extension"},
	"phone_ringing": {typ: cc.TypePhoneSetRinging, actor: "extension"},
	// The engine checks that the user owns or monitors the mailbox.
	"voicemail_mark":   {typ: cc.TypeVoicemailMark, actor: "user"},
	"voicemail_delete": {typ: cc.TypeVoicemailDelete, actor: "user"},

	// Telephony edge (integrations with the admin token; the SIP edge
	// proposes these in-process).
	"incoming":            {typ: cc.TypeCallIncoming, newID: "call", edge: true},
	"remote_answer":       {typ: cc.TypeCallRemoteAnswer, edge: true},
	"remote_busy":         {typ: cc.TypeCallRemoteBusy, edge: true},
	"remote_hangup":       {typ: cc.TypeCallRemoteHangup, edge: true},
	"park_pickup":         {typ: cc.TypeCallParkPickup, edge: true},
	"voicemail_deposited": {typ: cc.TypeVoicemailDeposited, edge: true},
}

// Operations lists the operation names, sorted.
func Operations() []string {
	out := make([]string, 0, len(operations))
	for k := range operations {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
