package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSNMPWebContacts: the web edge's contacts in the SNMP contact table
// (net-snmp's snmpget and snmpwalk against a real tandemd) and in
// /metrics: web chats and callbacks in progress and ended, the create
// requests accepted and refused; a chat's call is not a voice contact.
func TestSNMPWebContacts(t *testing.T) {
	snmpTool(t, "snmpwalk")
	nodes, addrs := startSNMPCluster(t, "sw", 1, nil)
	n, addr := nodes[0], addrs[0]
	n.apply(`
queues:
  - {id: sales, strategy: longest-idle}
chat: {languages: [en, es], queue: sales}
`).ok(t)
	web := &webClient{t: t, node: n}
	var sessions []string
	for _, body := range []string{`{"chat_language":"en","customer_name":"Ana"}`, `{"chat_language":"es"}`} {
		a := web.do("POST", "/chats", body)
		if a.status != http.StatusCreated {
			t.Fatalf("chat: %d %s", a.status, a.raw)
		}
		sessions = append(sessions, a.body["session_id"].(string))
	}
	if a := web.do("POST", "/chats", `{"chat_language":"fr"}`); a.code() != 1011 {
		t.Fatalf("chat fr: %d %s", a.status, a.raw)
	}
	cb := web.do("POST", "/callbacks", `{"queue":"sales","phone":"+44 161 555 0001"}`)
	if cb.status != http.StatusCreated {
		t.Fatalf("callback: %d %s", cb.status, cb.raw)
	}
	if a := web.do("POST", "/callbacks", `{"queue":"sales","phone":"+44 161 555 0002","customer_name":"`+strings.Repeat("é", 76)+`"}`); a.code() != 17030 {
		t.Fatalf("callback 76 characters: %d %s", a.status, a.raw)
	}
	if a := web.do("DELETE", "/callbacks/"+cb.body["id"].(string), ""); a.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", a.status, a.raw)
	}
	// The customer ends the first chat.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/api/v1/chats/%s/ws", n.httpAddr, sessions[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"end"}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the end: %v", err)
		}
		if strings.Contains(string(b), `"ended"`) {
			break
		}
	}

	want := map[string]string{
		"tandemContactCounted.callback":          "INTEGER: true(1)",
		"tandemContactCounted.chat":              "INTEGER: true(1)",
		"tandemContactsCurrent.chat":             "Gauge32: 1",
		"tandemContactsLastHour.chat":            "Gauge32: 1",
		"tandemContactsLastDay.chat":             "Gauge32: 1",
		"tandemContactsCurrent.callback":         "Gauge32: 0",
		"tandemContactsLastHour.callback":        "Gauge32: 1",
		"tandemContactRequestsAccepted.chat":     "Counter32: 2",
		"tandemContactRequestsRefused.chat":      "Counter32: 1",
		"tandemContactRequestsAccepted.callback": "Counter32: 1",
		"tandemContactRequestsRefused.callback":  "Counter32: 1",
		"tandemContactRequestsAccepted.voice":    "Counter32: 0",
		"tandemContactsCurrent.voice":            "Gauge32: 0", // a chat's call is not a voice contact
		"tandemContactsLastHour.voice":           "Gauge32: 0",
	}
	var names []string
	for k := range want {
		names = append(names, "TANDEM-MIB::"+k)
	}
	waitFor(t, waitShort, "the web contacts in snmpget", func() (bool, string) {
		got, _ := snmpLines(t, snmp(t, "snmpget", snmpCommunity, addr, names...))
		for k, v := range want {
			if got[k] != v {
				return false, fmt.Sprintf("%s = %q, want %q", k, got[k], v)
			}
		}
		return true, ""
	})
	walk, _ := snmpLines(t, snmp(t, "snmpwalk", snmpCommunity, addr, "TANDEM-MIB::tandemContactTable"))
	for _, k := range []string{"tandemContactRequestsRefused.chat", "tandemContactsLastHour.callback", "tandemContactRequestsRefused.email"} {
		if _, ok := walk[k]; !ok {
			t.Errorf("the walk of tandemContactTable has no %s: %v", k, walk)
		}
	}
	code, body, err := n.get("/metrics", false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for series, v := range map[string]float64{
		`tandem_web_contacts{medium="chat",window="current"}`:                           1,
		`tandem_web_contacts{medium="callback",window="last_hour"}`:                     1,
		`tandem_web_requests_total{code="17030",op="callback_create",result="refused"}`: 1,
		`tandem_web_requests_total{code="1011",op="chat_create",result="refused"}`:      1,
		`tandem_web_requests_total{code="0",op="chat_create",result="accepted"}`:        2,
	} {
		if got, ok := labelled(string(body), series); !ok || got != v {
			t.Errorf("/metrics %s = %v (%v), want %v", series, got, ok, v)
		}
	}
}
