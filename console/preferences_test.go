package console

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// TestPreferencesAPI: an operator's preferences are committed as its
// user's command, come back in its state document (from the replicated
// state, so on any member), are checked at the edge (form, bounds, the
// console's actions and columns) with nothing changed on a refusal, and
// are neither in another operator's state nor in its stream.
func TestPreferencesAPI(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	ann, ben := r.login("ann", "ann-password"), r.login("ben", "ben-password")
	state := func(tok string) StateDoc {
		t.Helper()
		rep := r.call("GET", r.public.URL+PublicPrefix+"/state", tok, nil)
		if rep.code != 200 {
			t.Fatalf("state: %d %s", rep.code, rep.raw)
		}
		var d StateDoc
		if err := json.Unmarshal([]byte(rep.raw), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := state(ann); d.Preferences != nil {
		t.Fatalf("before any: %+v", d.Preferences)
	}
	d0 := state(ben)
	benStream := r.stream(ben, d0.Since)
	annStream := r.stream(ann, d0.Since)

	want := cc.Preferences{Language: "es", AutoFailover: true, FailoverGraceSeconds: 3, SupervisionGeneral: true,
		HiddenColumns: []string{"supervision.note", "queues.longest"},
		Shortcuts: []cc.Shortcut{{State: "connected", Key: "F4", Action: "hangup"}, {State: "paused", Key: "F9", Action: "state_connected"},
			{State: "global", Key: "Ctrl+K", Action: "park"}}}
	if rep := r.op(ann, "preferences", map[string]any{"preferences": want}); rep.code != 200 {
		t.Fatalf("save: %d %s", rep.code, rep.raw)
	}
	if d := state(ann); d.Preferences == nil || fmt.Sprint(*d.Preferences) != fmt.Sprint(want) {
		t.Fatalf("state preferences %+v, want %+v", d.Preferences, want)
	}
	if d := state(ben); d.Preferences != nil {
		t.Fatalf("ben sees %+v", d.Preferences)
	}
	annStream.until(cc.EvUserPreferences)

	before := r.engine.Hash()
	for _, tc := range []struct {
		body  string
		field string
		code  int
	}{
		{`{"preferences":{"hidden_columns":["supervision.colour"]}}`, "preferences.hidden_columns[0]", 400},
		{`{"preferences":{"shortcuts":[{"state":"paused","key":"F4","action":"explode"}]}}`, "preferences.shortcuts[0].action", 400},
		{`{"preferences":{"shortcuts":[{"state":"paused","key":"F99","action":"hangup"}]}}`, "preferences.shortcuts[0].key", 400},
		{`{"preferences":{"failover_grace_seconds":601}}`, "preferences.failover_grace_seconds", 400},
		{`{"preferences":{"language":"x\u202e"}}`, "preferences.language", 400},
		{`{"preferences":{},"extra":1}`, "extra", 400},
		{`{"user":"ben","preferences":{}}`, "", 403},
	} {
		var body map[string]any
		json.Unmarshal([]byte(tc.body), &body)
		rep := r.op(ann, "preferences", body)
		if rep.code != tc.code || (tc.field != "" && rep.body["field"] != tc.field) {
			t.Errorf("%s: %d %s, want %d field %s", tc.body, rep.code, rep.raw, tc.code, tc.field)
		}
	}
	if r.engine.Hash() != before {
		t.Fatal("a refused preferences request changed the state")
	}

	// Ben's stream got nothing of Ann's preferences (a later event of its
	// own shows the stream went past them).
	r.op(ben, "preferences", map[string]any{"preferences": map[string]any{"language": "en"}})
	benStream.until(cc.EvUserPreferences)
	for _, m := range benStream.raw {
		if strings.Contains(m, `"ann"`) || strings.Contains(m, "Ctrl+K") {
			t.Fatalf("ben's stream carries ann's preferences: %s", m)
		}
	}
}

// TestLoginNeedsRegisteredPhone: with the phone's registration known
// (replicated phone.registration, as the voice edge proposes it), a
// log-in while it is not registered is refused with the spec's message.
func TestLoginNeedsRegisteredPhone(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	ann := r.login("ann", "ann-password")
	reg := func(on bool) {
		t.Helper()
		if _, err := r.store.Propose(context.Background(), cc.TypePhoneRegistration,
			cc.PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: on}); err != nil {
			t.Fatal(err)
		}
	}
	reg(true)
	reg(false)
	rep := r.op(ann, "login", nil)
	if rep.code != 409 || !strings.Contains(rep.raw, "your phone is not connected: check it or restart it") {
		t.Fatalf("login with the phone down: %d %s", rep.code, rep.raw)
	}
	reg(true)
	if rep := r.op(ann, "login", nil); rep.code != 200 {
		t.Fatalf("login with the phone up: %d %s", rep.code, rep.raw)
	}
}

// TestWaitingInSupervision: the state document lists every operator's
// personal-queue calls (type Q, shown under "show all") and, with the
// preference, the general queue's waiting calls (type G).
func TestWaitingInSupervision(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	ann, ben := r.login("ann", "ann-password"), r.login("ben", "ben-password")
	r.op(ben, "login", nil) // paused: personal-queue calls ring ben
	r.edge("incoming", map[string]any{"call": "p0", "agent": "a2", "number": "+44 161 5527788"})
	if rep := r.op(ben, "answer", nil); rep.code != 200 {
		t.Fatalf("answer: %d %s", rep.code, rep.raw)
	}
	// Ben is on a call: the next one waits in his personal queue.
	r.edge("incoming", map[string]any{"call": "p1", "agent": "a2", "number": "+44 161 5527789"})
	r.edge("incoming", map[string]any{"call": "g1", "queue": "sales", "number": "+44 161 5527790"})
	rows := func(tok string) string {
		rep := r.call("GET", r.public.URL+PublicPrefix+"/state", tok, nil)
		var d StateDoc
		json.Unmarshal([]byte(rep.raw), &d)
		var out []string
		for _, w := range d.Waiting {
			out = append(out, w.Type+":"+w.Call+":"+w.Owner+":"+w.Queue)
		}
		return strings.Join(out, " ")
	}
	if got := rows(ann); got != "Q:p1:a2:" {
		t.Fatalf("ann's waiting rows %q", got)
	}
	r.op(ann, "preferences", map[string]any{"preferences": map[string]any{"supervision_general": true}})
	if got := rows(ann); got != "G:g1::sales Q:p1:a2:" { // same time: by call id
		t.Fatalf("ann's waiting rows with the general queue %q", got)
	}
	if got := rows(ben); got != "Q:p1:a2:" {
		t.Fatalf("ben's waiting rows %q", got)
	}
	// Another operator's personal-queue call is shown, not taken.
	if rep := r.op(ann, "retrieve", map[string]any{"call": "p1"}); rep.code != 409 {
		t.Fatalf("ann retrieving ben's personal call: %d %s", rep.code, rep.raw)
	}
}
