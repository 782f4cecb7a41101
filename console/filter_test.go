package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// annScope is operator ann (agent a1, extension 2001) serving sales and
// monitoring mailbox 2009.
func annScope() scope {
	return scope{agent: "a1", user: "ann",
		exts: map[string]bool{"2001": true}, mailboxes: map[string]bool{"2001": true, "2009": true},
		queues: map[string]bool{"sales": true}}
}

func ev(index uint64, seq int, typ, data string) command.Event {
	return command.Event{Index: index, Seq: seq, Type: typ, Data: json.RawMessage(data)}
}

// TestStreamFilterRules: one event at a time, what operator ann sees;
// an integration with the admin token sees everything.
func TestStreamFilterRules(t *testing.T) {
	for _, tc := range []struct {
		typ, data string
		ann       bool
	}{
		// Queues she serves, and only those.
		{cc.EvCallQueued, `{"call":"c1","queue":"sales"}`, true},
		{cc.EvCallQueued, `{"call":"c2","queue":"support"}`, false},
		{cc.EvCallOffered, `{"call":"c2","agents":["a2"],"queue":"support"}`, false},
		{cc.EvCallOffered, `{"call":"c1","agents":["a2"],"queue":"sales"}`, true},
		{cc.EvCallAnswered, `{"call":"c2","agent":"a2","queue":"support"}`, false},
		{cc.EvCallEnded, `{"call":"c2","place":"ringing","queue":"support"}`, false},
		{cc.EvCallEnded, `{"call":"c1","place":"ringing","queue":"sales"}`, true},
		{cc.EvQueueStats, `{"queue":"sales","waiting":1}`, true},
		{cc.EvQueueStats, `{"queue":"support","waiting":1}`, false},
		{cc.EvCallIdentified, `{"call":"c2","number":"+441615550002"}`, false},
		// Her calls: her agent on it, offered to her, her personal queue.
		{cc.EvCallQueued, `{"call":"c3","agent":"a1"}`, true},
		{cc.EvCallQueued, `{"call":"c4","agent":"a2"}`, false},
		{cc.EvCallOffered, `{"call":"c3","agents":["a1"],"personal":true}`, true},
		{cc.EvCallOfferWithdrawn, `{"call":"c1","agents":["a2","a1"]}`, true},
		{cc.EvCallHeld, `{"call":"c1","agent":"a1"}`, true},
		{cc.EvCallHeld, `{"call":"c2","agent":"a2"}`, false},
		{cc.EvCallDialing, `{"call":"d1","agent":"a2","line":1,"number":"3001"}`, false},
		{cc.EvCallNoteUpdated, `{"call":"c2","agent":"a2","note":"x"}`, false},
		{cc.EvCallTransferred, `{"call":"c2","agent":"a2","target":"3001","kind":"attended"}`, false},
		{cc.EvCallConnected, `{"call":"c6","target":"3001"}`, false},
		{cc.EvCallRinging, `{"call":"c7","extension":"2001"}`, true},
		{cc.EvCallRinging, `{"call":"c8","extension":"3001"}`, false},
		{cc.EvCallEnded, `{"call":"c2","place":"line","agent":"a2","queue":"support"}`, false},
		// Web chat: a waiting session's events to its queue's agents, a
		// taken one's to the agent holding it only.
		{cc.EvMailReceived, `{"contact":"mail-1-1","uid_validity":1,"uid":1,"subject":"Quote","queue":"sales"}`, true},
		{cc.EvMailReceived, `{"contact":"mail-1-2","uid_validity":1,"uid":2,"queue":"support"}`, false},
		{cc.EvMailReceived, `{"contact":"mail-1-1","uid_validity":1,"uid":3,"queue":"sales","threaded":true,"agent":"a1"}`, true},
		{cc.EvMailReceived, `{"contact":"mail-1-4","uid_validity":1,"uid":5,"subject":"private","queue":"sales","threaded":true,"agent":"a2"}`, false},
		{cc.EvMailSkipped, `{"uid_validity":1,"uid":6,"reason":"spam"}`, false},
		{cc.EvChatMessage, `{"chat":"s1","seq":1,"from":"customer","queue":"sales","text":"hi"}`, true},
		{cc.EvChatMessage, `{"chat":"s2","seq":1,"from":"customer","queue":"support","text":"hi"}`, false},
		{cc.EvChatMessage, `{"chat":"s1","seq":2,"from":"customer","agent":"a1","queue":"sales","text":"x"}`, true},
		{cc.EvChatMessage, `{"chat":"s3","seq":2,"from":"customer","agent":"a2","queue":"sales","text":"private"}`, false},
		{cc.EvChatTyping, `{"chat":"s3","from":"customer","agent":"a2","queue":"sales"}`, false},
		{cc.EvChatAnswered, `{"chat":"s1","queue":"sales","status":"connected","agent":"a1"}`, true},
		{cc.EvChatEnded, `{"chat":"s3","queue":"sales","status":"ended","agent":"a2"}`, false},
		// The supervised-calls list, whole.
		{cc.EvCallTransferStarted, `{"call":"c2","agent":"a2","target":"3001","kind":"T"}`, true},
		{cc.EvCallTransferred, `{"call":"c2","agent":"a2","target":"3001","kind":"T"}`, true},
		{cc.EvCallParkRetrieved, `{"call":"c2","extension":"3001","by":"3001"}`, true},
		{cc.EvCallRetrieved, `{"call":"c2","agent":"a2","from":"supervision","kind":"P"}`, true},
		{cc.EvCallRetrieved, `{"call":"c2","agent":"a2","from":"hold"}`, false},
		{cc.EvCallConnected, `{"call":"c2","agent":"a2","target":"3001","kind":"C"}`, true},
		{cc.EvCallBand, `{"call":"c2","agent":"a2","band":1}`, true},
		{cc.EvCallEnded, `{"call":"c2","place":"supervised","agent":"a2"}`, true},
		// Her agent.
		{cc.EvAgentStateChanged, `{"agent":"a1","state":"connected"}`, true},
		{cc.EvAgentStateChanged, `{"agent":"a2","state":"connected"}`, false},
		{cc.EvAgentWrapUp, `{"agent":"a2","until":1}`, false},
		{cc.EvProblemReported, `{"id":"r1","agent":"a2","call":"c2"}`, false},
		// Directory line states and presence; her own user, phones, mailboxes.
		{cc.EvPhoneRegistration, `{"extension":"3001","phone":"desk","registered":true}`, true},
		{cc.EvUserPresence, `{"user":"bob","presence":"lunch"}`, true},
		{cc.EvUserForwarding, `{"user":"ann","forwarding":{}}`, true},
		{cc.EvUserForwarding, `{"user":"bob","forwarding":{}}`, false},
		{cc.EvPhoneSecretRotated, `{"extension":"2001","phone":"sec","expires_at":1}`, true},
		{cc.EvPhoneSecretExpired, `{"extension":"3001","phone":"sec","expires_at":1}`, false},
		{cc.EvVoicemailDeposited, `{"mailbox":"2009","message":"m1","folder":"inbox"}`, true},
		{cc.EvVoicemailDeleted, `{"mailbox":"3001","message":"m1","folder":"inbox"}`, false},
		// Configuration: hers, her queues, reference data.
		{"config.user.updated", `{"id":"ann","password_set":true}`, true},
		{"config.user.created", `{"id":"bob"}`, false},
		{"config.agent.updated", `{"id":"a1","queues":["sales"]}`, true},
		{"config.agent.removed", `{"id":"a2"}`, false},
		{"config.queue.created", `{"id":"sales","strategy":"ring-all"}`, true},
		{"config.queue.updated", `{"id":"support","strategy":"ring-all"}`, false},
		{"config.extension.updated", `{"number":"2001","phones":[]}`, true},
		{"config.extension.removed", `{"id":"3001"}`, false},
		{"config.settings.updated", `{"ring_timeout_seconds":15}`, true},
		{"config.pause_reason.created", `{"code":"lunch"}`, true},
		{"config.excluded_number.created", `{"number":"+441615550000"}`, false},
		{"something.new", `{"agent":"a1"}`, false},
		{cc.EvCallQueued, `not json`, false},
	} {
		t.Run(tc.typ+" "+tc.data, func(t *testing.T) {
			batch := []command.Event{ev(7, 0, tc.typ, tc.data)}
			s := annScope()
			if got := len(s.filter(batch)) == 1; got != tc.ann {
				t.Fatalf("ann sees it: %v, want %v", got, tc.ann)
			}
			admin := scope{all: true}
			if len(admin.filter(batch)) != 1 {
				t.Fatal("the admin token does not see it")
			}
		})
	}
}

// TestStreamFilterCommands: within one command, the events of a call the
// scope sees are all shown (screen pop, ring-out); never across commands.
func TestStreamFilterCommands(t *testing.T) {
	s := annScope()
	batch := []command.Event{
		ev(5, 0, cc.EvCallQueued, `{"call":"c1","queue":"sales"}`),
		ev(5, 1, cc.EvCallIdentified, `{"call":"c1","number":"3001"}`),
		ev(6, 0, cc.EvCallQueued, `{"call":"c2","queue":"support"}`),
		ev(6, 1, cc.EvCallIdentified, `{"call":"c2","number":"3001"}`),
		ev(7, 0, cc.EvCallNoAnswer, `{"call":"c1","agent":"a4"}`),
		ev(7, 1, cc.EvAgentStateChanged, `{"agent":"a4","state":"paused"}`),
		ev(7, 2, cc.EvCallOffered, `{"call":"c1","agents":["a2"],"queue":"sales"}`),
		ev(8, 0, cc.EvCallIdentified, `{"call":"c1","number":"3001"}`),
	}
	var got []string
	for _, e := range s.filter(batch) {
		got = append(got, fmt.Sprintf("%d.%d", e.Index, e.Seq))
	}
	if want := "5.0 5.1 7.0 7.2"; strings.Join(got, " ") != want {
		t.Fatalf("shown %v, want %s", got, want)
	}
}

const filterDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "3001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001"}
  - {id: ben, name: Ben, extension: "2002"}
queues:
  - {id: sales, strategy: longest-idle}
  - {id: support, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [support]}
`

// TestStreamFilterEngine runs real engine commands for two operators in
// two queues: ann's stream has every event of her queue's calls and none
// of the other queue's; the admin token's stream has every event.
func TestStreamFilterEngine(t *testing.T) {
	e := cc.New()
	var all []command.Event
	index := uint64(0)
	now := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	apply := func(typ string, payload any) {
		t.Helper()
		index++
		now = now.Add(time.Second)
		env, err := command.New(typ, fmt.Sprintf("cmd-%d", index), now, payload)
		if err != nil {
			t.Fatal(err)
		}
		em := command.NewEmitter(index, env)
		if _, err := e.Apply(env, em); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		all = append(all, em.Events()...)
	}
	d, err := cc.ParseDocument([]byte(filterDoc))
	if err != nil {
		t.Fatal(err)
	}
	apply(cc.TypeConfigApply, cc.ApplyRequest{Document: d})
	for _, a := range []string{"a1", "a1", "a2", "a2"} {
		apply(cc.TypeAgentLogin, cc.AgentRequest{Agent: a})
	}
	// Each queue: a call answered, held, retrieved and hung up; a call
	// abandoned while ringing; one rung out (rejected) and abandoned.
	for _, q := range []struct{ queue, agent string }{{"sales", "a1"}, {"support", "a2"}} {
		c := q.queue + "-1"
		apply(cc.TypeCallIncoming, cc.IncomingRequest{Call: c, Queue: q.queue, Number: "3001"})
		apply(cc.TypeCallAnswer, cc.AgentCallRequest{Agent: q.agent})
		apply(cc.TypeCallHold, cc.AgentCallRequest{Agent: q.agent})
		apply(cc.TypeCallRetrieve, cc.RetrieveRequest{Agent: q.agent})
		apply(cc.TypeCallNote, cc.NoteRequest{Agent: q.agent, Call: c, Note: "n"})
		apply(cc.TypeCallHangup, cc.HangupRequest{Agent: q.agent})
		apply(cc.TypeCallIncoming, cc.IncomingRequest{Call: q.queue + "-2", Queue: q.queue, Number: "+441615550002"})
		apply(cc.TypeCallRemoteHangup, cc.RemoteHangupRequest{Call: q.queue + "-2"})
		apply(cc.TypeCallIncoming, cc.IncomingRequest{Call: q.queue + "-3", Queue: q.queue})
		apply(cc.TypeCallReject, cc.AgentCallRequest{Agent: q.agent})
		apply(cc.TypeCallRemoteHangup, cc.RemoteHangupRequest{Call: q.queue + "-3"})
	}

	var st scope
	e.View(func(s *cc.State) { st = scopeOf(Actor{User: "ann", Agent: "a1"}, s) })
	shown := st.filter(all)
	perCall := map[string][]string{}
	for _, x := range shown {
		var r refs
		json.Unmarshal(x.Data, &r)
		if strings.HasPrefix(r.Call, "support") || r.Queue == "support" || r.Agent == "a2" || r.ID == "support" || r.ID == "a2" {
			t.Errorf("ann sees %s %s", x.Type, x.Data)
		}
		perCall[r.Call] = append(perCall[r.Call], x.Type)
	}
	// Every event of her queue's calls reaches her.
	for _, x := range all {
		var r refs
		json.Unmarshal(x.Data, &r)
		if strings.HasPrefix(r.Call, "sales") && !contains(perCall[r.Call], x.Type) {
			t.Errorf("ann misses %s %s", x.Type, x.Data)
		}
	}
	if !contains(perCall["sales-2"], cc.EvCallEnded) || !contains(perCall["sales-3"], cc.EvCallEnded) {
		t.Fatalf("ann does not learn her queue's abandoned calls ended: %v", perCall)
	}
	admin := scopeOf(Actor{Admin: true}, nil)
	if got := admin.filter(all); len(got) != len(all) {
		t.Fatalf("admin sees %d of %d events", len(got), len(all))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
