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
	if rep := r.op(ann, "preferences", map[string]any{"preferences": want, "revision": 0}); rep.code != 200 {
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
		{`{"preferences":{}}`, "revision", 400},
		{`{"preferences":{},"revision":null}`, "revision", 400},
		{`{"preferences":{},"revision":"1"}`, "revision", 400},
		{`{"preferences":{},"revision":-1}`, "revision", 400},
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
	r.op(ben, "preferences", map[string]any{"preferences": map[string]any{"language": "en"}, "revision": 0})
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
	r.op(ann, "preferences", map[string]any{"preferences": map[string]any{"supervision_general": true}, "revision": 0})
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

// TestSpeedDialSetUpAPI: GET /speed-dials shows the configuration's
// speed dials (the defaults, placed) until the operator saves its own in
// its preferences (through the log: the same on every member), which
// then replace them; a bad one is refused at the edge naming the field,
// nothing saved.
func TestSpeedDialSetUpAPI(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(strings.Replace(fmt.Sprintf(rigDoc, annHash, benHash), `password_hash: "`+annHash+`"}`,
		`password_hash: "`+annHash+`", speed_dials: [{label: Bob, number: "3001"}]}`, 1))
	ann := r.login("ann", "ann-password")
	dials := func() string {
		t.Helper()
		rep := r.call("GET", r.public.URL+PublicPrefix+"/speed-dials", ann, nil)
		if rep.code != 200 {
			t.Fatalf("speed dials: %d %s", rep.code, rep.raw)
		}
		var v []cc.SpeedDialView
		json.Unmarshal([]byte(rep.raw), &v)
		var out []string
		for _, sd := range v {
			out = append(out, fmt.Sprintf("%s/%s/%s/%s/%d.%d/%v", sd.Label, sd.Label2, sd.Number, sd.Colour, sd.Page, sd.Position, sd.Default))
		}
		return strings.Join(out, " ")
	}
	own := map[string]any{"speed_dial_line_state": true, "own_speed_dials": true, "speed_dials": []map[string]any{
		{"label": "Bob", "number": "3001", "page": 1, "position": 1},
		{"label": "Reception", "label2": "front desk", "number": "2002", "colour": "green", "page": 2, "position": 1}}}
	for _, tc := range []struct {
		name  string
		prefs any
		code  int
		field string
		want  string
	}{
		{"the defaults", nil, 0, "", "Bob//3001//1.1/true"},
		{"own", own, 200, "", "Bob//3001//1.1/false Reception/front desk/2002/green/2.1/false"},
		{"a colour not of the palette", map[string]any{"own_speed_dials": true, "speed_dials": []map[string]any{{"number": "2002", "colour": "#ff0000", "page": 1, "position": 1}}},
			400, "preferences.speed_dials[0].colour", "Bob//3001//1.1/false Reception/front desk/2002/green/2.1/false"},
		{"page 3", map[string]any{"own_speed_dials": true, "speed_dials": []map[string]any{{"number": "2002", "page": 3, "position": 1}}},
			400, "preferences.speed_dials[0].page", "Bob//3001//1.1/false Reception/front desk/2002/green/2.1/false"},
		{"a label too long", map[string]any{"own_speed_dials": true, "speed_dials": []map[string]any{{"number": "2002", "page": 1, "position": 1, "label2": strings.Repeat("x", 65)}}},
			400, "preferences.speed_dials[0].label2", "Bob//3001//1.1/false Reception/front desk/2002/green/2.1/false"},
		{"a number that is not one", map[string]any{"own_speed_dials": true, "speed_dials": []map[string]any{{"number": "call me", "page": 1, "position": 1}}},
			400, "preferences.speed_dials[0].number", "Bob//3001//1.1/false Reception/front desk/2002/green/2.1/false"},
		{"none of its own", map[string]any{"own_speed_dials": true}, 200, "", ""},
		{"back to the defaults", map[string]any{}, 200, "", "Bob//3001//1.1/true"},
	} {
		if tc.prefs != nil {
			before := r.engine.Hash()
			rep := r.op(ann, "preferences", map[string]any{"preferences": tc.prefs, "revision": r.prefsRevision(ann)})
			if rep.code != tc.code || (tc.field != "" && rep.body["field"] != tc.field) {
				t.Fatalf("%s: %d %s, want %d field %s", tc.name, rep.code, rep.raw, tc.code, tc.field)
			}
			if tc.code != 200 && r.engine.Hash() != before {
				t.Fatalf("%s: a refused request changed the state", tc.name)
			}
		}
		if got := dials(); got != tc.want {
			t.Errorf("%s: speed dials %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestDirectorySearchFieldsAPI: the state document carries the
// configured search fields (label, default) and GET /directory searches
// by them, one parameter per field; mixing them with q is refused,
// naming q.
func TestDirectorySearchFieldsAPI(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash) + `
contacts:
  - {id: k1, first_name: Dora, last_name: Diaz, company: Widgets, phone: "+44 161 5551234"}
  - {id: k2, first_name: Dan, last_name: Diaz, company: Acme, phone: "+44 161 5551235"}
settings: {directory_search: [{field: last_name, label: Surname, default: Diaz}, {field: company, label: Firm}]}
`)
	ann := r.login("ann", "ann-password")
	rep := r.call("GET", r.public.URL+PublicPrefix+"/state", ann, nil)
	var d StateDoc
	json.Unmarshal([]byte(rep.raw), &d)
	want := []cc.DirectorySearchField{{Field: "last_name", Label: "Surname", Default: "Diaz"}, {Field: "company", Label: "Firm"}}
	if fmt.Sprint(d.DirectorySearch) != fmt.Sprint(want) {
		t.Fatalf("state directory_search %+v", d.DirectorySearch)
	}
	for _, tc := range []struct {
		query string
		code  int
		want  string
		total string // X-Total-Count, when checked
	}{
		{"last_name=diaz", 200, "k2 k1", "2"},
		{"last_name=diaz&limit=1", 200, "k2", "2"},
		{"q=dora&limit=0", 400, "limit", ""},
		{"q=dora&limit=1001", 400, "limit", ""},
		{"last_name=diaz&limit=x", 400, "limit", ""},
		{"last_name=diaz&company=widg", 200, "k1", "1"},
		{"last_name=diaz&company=", 200, "k2 k1", ""},
		{"all=acme", 200, "k2", ""},
		{"company=dora", 200, "", "0"},
		{"q=dora", 200, "k1", "1"},
		{"q=dora&company=widg", 400, "q", ""},
	} {
		rep := r.call("GET", r.public.URL+PublicPrefix+"/directory?"+tc.query, ann, nil)
		if rep.code != tc.code {
			t.Fatalf("%s: %d %s", tc.query, rep.code, rep.raw)
		}
		if tc.code != 200 {
			if rep.body["field"] != tc.want {
				t.Errorf("%s: %s, want field %s", tc.query, rep.raw, tc.want)
			}
			continue
		}
		var es []cc.DirectoryEntry
		json.Unmarshal([]byte(rep.raw), &es)
		var ids []string
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		if got := strings.Join(ids, " "); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.query, got, tc.want)
		}
		if got := rep.header.Get("X-Total-Count"); tc.total != "" && got != tc.total {
			t.Errorf("%s: X-Total-Count %q, want %s", tc.query, got, tc.total)
		}
	}
}

// prefsRevision reads the revision of the session user's preferences
// (GET /preferences), checking that the ETag says the same.
func (r *rig) prefsRevision(tok string) uint64 {
	r.t.Helper()
	rep := r.call("GET", r.public.URL+PublicPrefix+"/preferences", tok, nil)
	var d PreferencesDoc
	if rep.code != 200 || json.Unmarshal([]byte(rep.raw), &d) != nil {
		r.t.Fatalf("preferences: %d %s", rep.code, rep.raw)
	}
	if tag := rep.header.Get("ETag"); tag != fmt.Sprintf(`"%d"`, d.Revision) {
		r.t.Fatalf("preferences: ETag %s, revision %d", tag, d.Revision)
	}
	return d.Revision
}

// TestPreferencesLostUpdate: two consoles of one operator read the same
// preferences; A saves its speed dials, then B saves from what it read
// (stale) and is refused 412 precondition_failed with nothing changed;
// B reads again (state document and GET /preferences with its ETag:
// A's speed dials, revision 1) and its save from there is accepted. The
// revision may come as If-Match instead of the body's field; a save
// naming none is a 400 naming revision.
func TestPreferencesLostUpdate(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	consoleA, consoleB := r.login("ann", "ann-password"), r.login("ann", "ann-password")
	state := func(tok string) StateDoc {
		t.Helper()
		rep := r.call("GET", r.public.URL+PublicPrefix+"/state", tok, nil)
		var d StateDoc
		if rep.code != 200 || json.Unmarshal([]byte(rep.raw), &d) != nil {
			t.Fatalf("state: %d %s", rep.code, rep.raw)
		}
		return d
	}
	revA, revB := state(consoleA).PreferencesRevision, r.prefsRevision(consoleB)
	if revA != 0 || revB != 0 {
		t.Fatalf("before any save: revisions %d %d", revA, revB)
	}
	dials := map[string]any{"own_speed_dials": true, "speed_dials": []map[string]any{{"label": "Bob", "number": "3001", "page": 1, "position": 1}}}
	if rep := r.op(consoleA, "preferences", map[string]any{"preferences": dials, "revision": revA}); rep.code != 200 {
		t.Fatalf("A's save: %d %s", rep.code, rep.raw)
	}

	stale := map[string]any{"language": "es"}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		hdr   []string
		code  int
		kind  string
		field string
	}{
		{"B from what it read", map[string]any{"preferences": stale, "revision": revB}, nil, 412, "precondition_failed", ""},
		{"B by If-Match", map[string]any{"preferences": stale}, []string{"If-Match", `"0"`}, 412, "precondition_failed", ""},
		{"B from a revision not reached", map[string]any{"preferences": stale, "revision": 5}, nil, 412, "precondition_failed", ""},
		{"no revision", map[string]any{"preferences": stale}, nil, 400, "bad_request", "revision"},
		{"If-Match not an ETag", map[string]any{"preferences": stale}, []string{"If-Match", "1"}, 400, "bad_request", "If-Match"},
		{"If-Match any", map[string]any{"preferences": stale}, []string{"If-Match", "*"}, 400, "bad_request", "If-Match"},
		{"If-Match and body differ", map[string]any{"preferences": stale, "revision": 0}, []string{"If-Match", `"1"`}, 400, "bad_request", "If-Match"},
	} {
		before := r.engine.Hash()
		rep := r.op(consoleB, "preferences", tc.body, tc.hdr...)
		if rep.code != tc.code || rep.body["code"] != tc.kind || (rep.body["field"] != nil && rep.body["field"] != tc.field) ||
			(tc.field != "" && rep.body["field"] != tc.field) {
			t.Errorf("%s: %d %s, want %d %s field %q", tc.name, rep.code, rep.raw, tc.code, tc.kind, tc.field)
		}
		if r.engine.Hash() != before {
			t.Fatalf("%s: the refused save changed the state", tc.name)
		}
	}
	if rep := r.op(consoleB, "pause", map[string]any{}, "If-Match", `"1"`); rep.code != 400 || rep.body["field"] != "If-Match" {
		t.Errorf("If-Match on another operation: %d %s", rep.code, rep.raw)
	}

	// B reloads: A's save is there, at revision 1; B applies its change
	// over it (by If-Match) and nothing of A's is lost.
	d := state(consoleB)
	if d.PreferencesRevision != 1 || d.Preferences == nil || len(d.Preferences.SpeedDials) != 1 || r.prefsRevision(consoleB) != 1 {
		t.Fatalf("B reloaded revision %d %+v", d.PreferencesRevision, d.Preferences)
	}
	merged := *d.Preferences
	merged.Language = "es"
	if rep := r.op(consoleB, "preferences", map[string]any{"preferences": merged}, "If-Match", `"1"`); rep.code != 200 {
		t.Fatalf("B's save after reloading: %d %s", rep.code, rep.raw)
	}
	if d := state(consoleA); d.PreferencesRevision != 2 || d.Preferences.Language != "es" || len(d.Preferences.SpeedDials) != 1 {
		t.Fatalf("after both saves: revision %d %+v", d.PreferencesRevision, d.Preferences)
	}
	// A is stale now in turn.
	if rep := r.op(consoleA, "preferences", map[string]any{"preferences": dials, "revision": 1}); rep.code != 412 {
		t.Fatalf("A from revision 1: %d %s", rep.code, rep.raw)
	}

	// The admin mount reads any user's, with the ETag.
	rep := r.call("GET", r.admin.URL+"/v1/console/preferences?user=ann", "", nil)
	if rep.code != 200 || rep.header.Get("ETag") != `"2"` || rep.body["revision"] != float64(2) {
		t.Fatalf("admin read: %d %v %s", rep.code, rep.header.Get("ETag"), rep.raw)
	}
	if rep := r.call("GET", r.admin.URL+"/v1/console/preferences?user=nobody", "", nil); rep.code != 404 {
		t.Fatalf("unknown user: %d %s", rep.code, rep.raw)
	}
}
