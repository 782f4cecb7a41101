package web

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// The web media's contact counts: in progress from the engine, ended
// from the applied events (callbacks finished in any way, chats ended),
// create requests accepted and refused from the answers; the same in
// /metrics (tandem_web_contacts) as for SNMP.
func TestWebContacts(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ev := func(typ string, at time.Time, v any) command.Event {
		b, _ := json.Marshal(v)
		return command.Event{Type: typ, Time: at.UnixNano(), Data: b}
	}
	cbs := NewCallbackContacts(func() int { return 2 })
	chats := NewChatContacts(func() int { return 5 })
	evs := []command.Event{
		ev(cc.EvCallbackUpdated, now.Add(-time.Minute), cc.CallbackEvent{Callback: "a", Status: cc.CallbackCompleted}),
		ev(cc.EvCallbackUpdated, now.Add(-2*time.Hour), cc.CallbackEvent{Callback: "b", Status: cc.CallbackCancelled}),
		ev(cc.EvCallbackUpdated, now.Add(-time.Minute), cc.CallbackEvent{Callback: "c", Status: cc.CallbackQueued}),  // still open
		ev(cc.EvCallbackUpdated, now.Add(-25*time.Hour), cc.CallbackEvent{Callback: "d", Status: cc.CallbackFailed}), // over a day ago
		ev(cc.EvCallbackCreated, now, cc.CallbackEvent{Callback: "e", Status: cc.CallbackScheduled}),
		ev(cc.EvChatEnded, now.Add(-3*time.Minute), cc.ChatEvent{Session: "s1", Status: cc.ChatEnded}),
		ev(cc.EvChatMessage, now, map[string]any{"chat": "s2"}),
	}
	cbs.Publish(evs)
	chats.Publish(evs)
	m := NewMetrics(prometheus.NewRegistry())
	m.Callbacks, m.Chats = cbs, chats
	for _, code := range []int{0, 0, CodeNameTooLong} {
		m.count("callback_create", code)
	}
	m.count("callback_status", 0) // not a create
	for _, code := range []int{0, CodeBadMandatory, CodeBadParameter, CodeCallbackServer} {
		m.count("chat_create", code)
	}
	m.count("chat_frame", 0)
	if got := cbs.ContactCounts(now); got.Current != 2 || got.LastHour != 1 || got.LastDay != 2 || got.Accepted != 2 || got.Refused != 1 {
		t.Fatalf("callbacks %+v", got)
	}
	if got := chats.ContactCounts(now); got.Current != 5 || got.LastHour != 1 || got.LastDay != 1 || got.Accepted != 1 || got.Refused != 3 {
		t.Fatalf("chats %+v", got)
	}

	reg := prometheus.NewRegistry()
	registerContacts(reg, func() time.Time { return now }, cbs, chats)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range mt.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[mf.GetName()+"/"+l["medium"]+"/"+l["window"]] = mt.GetGauge().GetValue()
		}
	}
	if got["tandem_web_contacts/callback/current"] != 2 || got["tandem_web_contacts/chat/current"] != 5 || got["tandem_web_contacts/chat/last_day"] != 1 {
		t.Fatalf("/metrics %v", got)
	}
	if len(got) != 6 {
		t.Fatalf("%d series, want 6: %v", len(got), got)
	}
}

// A callback.updated event is counted as an ended callback exactly when
// its status is final, whether or not the decoding is skipped (mayEnd).
func TestCallbackEndedShortcut(t *testing.T) {
	ended := NewCallbackContacts(nil).ended
	for _, tc := range []struct {
		data string
		want bool
	}{
		{`{"callback":"a","queue":"q","status":"queued","attempt":1,"call":"a.1"}`, false},
		{`{"callback":"a","queue":"q","status":"completed","reason":"answered"}`, true},
		{`{"callback":"a","queue":"q","status":"failed","reason":"no_answer"}`, true},
		{`{"callback":"a","queue":"q","status":"cancelled"}`, true},
		{`{"callback":"a","queue":"q","status":"expired"}`, true},
		{`{"callback":"a","queue":"q","status":"\u0065xpired"}`, true},          // escaped: decoded
		{`{"callback":"failed","queue":"expired","status":"scheduled"}`, false}, // a final word elsewhere: decoded
		{`{"callback":"a","queue":"q","status":"scheduled","reason":"\"failed\""}`, false},
		{`{"callback":"a","status":"completed"`, false}, // not JSON
	} {
		if got := ended(command.Event{Type: cc.EvCallbackUpdated, Data: []byte(tc.data)}); got != tc.want {
			t.Errorf("%s: ended %v, want %v", tc.data, got, tc.want)
		}
	}
	if ended(command.Event{Type: cc.EvCallbackCreated, Data: []byte(`{"status":"completed"}`)}) {
		t.Error("callback.created counted as ended")
	}
}
