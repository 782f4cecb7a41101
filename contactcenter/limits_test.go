package contactcenter

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Each kind of text: the longest value passes, one byte more is refused,
// and names and free texts refuse every control and bidirectional
// character while taking any other Unicode.
func TestTextKinds(t *testing.T) {
	type tc struct {
		v  string
		ok bool
	}
	clean := []string{"Ann O'Neil", "Zoë Ångström", "山田 太郎", "Ferhat Öztürk-Şahin", "☎ +44 (161) 555", "👩‍💼 desk", "\u200d\u00a0nbsp", "a\u2028b"}
	faults := map[string]string{
		"NUL": "a\x00b", "tab": "a\tb", "newline": "a\nb", "CR": "a\rb", "ESC": "\x1b[31m", "unit separator": "a\x1fb",
		"DEL": "a\x7fb", "C1 NEL": "a\u0085b", "C1 CSI": "a\u009bb", "C1 first": "\u0080", "C1 last": "\u009f",
		"LRE": "a\u202ab", "RLE": "a\u202bb", "PDF": "a\u202cb", "LRO": "a\u202db", "RLO": "a\u202eb",
		"LRI": "a\u2066b", "RLI": "a\u2067b", "FSI": "a\u2068b", "PDI": "a\u2069b",
		"invalid UTF-8": "a\xffb", "truncated UTF-8": "a\xe2\x80", "overlong": "\xc0\xaf",
	}
	for k, d := range textKinds {
		kind := textKind(k)
		var cases []tc
		cases = append(cases, tc{"", true})
		switch kind {
		case kindID:
			cases = append(cases, tc{strings.Repeat("a", MaxIDLen), true}, tc{strings.Repeat("a", MaxIDLen+1), false},
				tc{"a-1.b_2", true}, tc{"-a", false}, tc{"a b", false}, tc{"é", false}, tc{"a\u202e", false})
		case kindExtension:
			cases = append(cases, tc{"20", true}, tc{strings.Repeat("9", MaxExtensionLen), true}, tc{strings.Repeat("9", MaxExtensionLen+1), false},
				tc{"2", false}, tc{"20a", false}, tc{"٢٠٠١", false})
		case kindBody:
			// A message's text keeps its lines and tabs; NUL and bytes
			// that are not UTF-8 are refused.
			cases = append(cases, tc{strings.Repeat("x", d.max), true}, tc{strings.Repeat("x", d.max+1), false},
				tc{"Dear Ann,\r\n\n\t10 EUR.\n", true}, tc{"a\x00b", false}, tc{"a\xffb", false}, tc{"\xc0\xaf", false})
		case kindChatText: // chat messages: characters, line feeds and tabs allowed
			cases = append(cases, tc{"a\nb\tc", true}, tc{strings.Repeat("é", MaxChatMessageRunes), true},
				tc{strings.Repeat("é", MaxChatMessageRunes+1), false}, tc{strings.Repeat("😀", MaxChatMessageRunes), true},
				tc{strings.Repeat("x", d.max+1), false}, tc{"a\rb", false}, tc{"a\x00b", false}, tc{"a\u202eb", false},
				tc{"a\xffb", false}, tc{"a\u0085b", false})
		default:
			cases = append(cases, tc{strings.Repeat("x", d.max), true}, tc{strings.Repeat("x", d.max+1), false},
				tc{strings.Repeat("é", d.max/2), true}, tc{strings.Repeat("é", d.max/2) + "x", d.max%2 == 1})
			for _, c := range clean {
				cases = append(cases, tc{c, len(c) <= d.max})
			}
			for _, f := range faults {
				cases = append(cases, tc{f, false})
			}
		}
		for _, c := range cases {
			err := kind.check("f", c.v)
			if (err == nil) != c.ok {
				t.Errorf("kind %d (%s, max %d): check(%q) = %v; want ok=%v", kind, d.noun, d.max, c.v, err, c.ok)
				continue
			}
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "f" {
					t.Errorf("check(%q) = %v: not a FieldError naming the field", c.v, err)
				}
				if !d.quotable && strings.Contains(err.Error(), c.v) && c.v != "" {
					t.Errorf("check(%q) = %v quotes a value that is never quoted", c.v, err)
				}
			}
		}
	}
	for name, f := range faults {
		if err := checkText("note", f, MaxNoteLen); err == nil {
			t.Errorf("checkText accepts %s (%q)", name, f)
		} else if strings.Contains(err.Error(), f) {
			t.Errorf("checkText quotes the text: %v", err)
		}
	}
}

// textTypes are the types whose text fields textFields must cover: the
// document and every payload CheckPayload decodes, with the types they
// contain.
func textTypes() []reflect.Type {
	roots := []reflect.Type{reflect.TypeFor[Document]()}
	for _, mk := range payloadOf {
		roots = append(roots, reflect.TypeOf(mk()).Elem())
	}
	seen := map[reflect.Type]bool{}
	var out []reflect.Type
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == timeType || seen[t] {
			return
		}
		seen[t] = true
		out = append(out, t)
		for i := 0; i < t.NumField(); i++ {
			visit(t.Field(i).Type)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	return out
}

// isText: a string, a list of strings or a map with string keys.
func isText(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return true
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() == reflect.String
	case reflect.Map:
		return t.Key().Kind() == reflect.String
	}
	return false
}

// Every text field of the document and of every payload has a kind, and
// so a documented limit; textFields names no field that does not exist.
func TestTextFieldsComplete(t *testing.T) {
	covered := map[reflect.Type]bool{}
	for _, st := range textTypes() {
		covered[st] = true
		kinds := textFields[st]
		names := map[string]bool{}
		for i := 0; i < st.NumField(); i++ {
			sf := st.Field(i)
			name := jsonName(sf)
			names[name] = true
			if !sf.IsExported() || (sf.Anonymous && name == "") || !isText(sf.Type) {
				continue
			}
			if _, ok := kinds[name]; !ok {
				t.Errorf("%s.%s is a text field without a kind in textFields (limits.go): give it one and document its limit in DESIGN.md", st.Name(), name)
			}
		}
		for name := range kinds {
			if !names[name] {
				t.Errorf("textFields names %s.%s, which does not exist", st.Name(), name)
			}
		}
	}
	for st := range textFields {
		if !covered[st] {
			t.Errorf("textFields has %s, which no document or payload holds", st.Name())
		}
	}
}

// A document whose texts break the limits is refused naming the field,
// the same way through Validate (POST /v1/config, tandemctl) and through
// CheckPayload (the config.apply command at the edge), and by Apply.
func TestDocumentTextLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		doc   Document
		field string
		msg   string
	}{
		{"agent name", Document{Agents: []Agent{{ID: "a1", Name: long(MaxNameLen + 1)}}}, "agents[0].name", "too long: 129 bytes, at most 128"},
		{"agent name bidi", Document{Agents: []Agent{{ID: "a1", Name: "Ann\u202egnp.exe"}}}, "agents[0].name", "bidirectional control U+202E"},
		{"queue name", Document{Queues: []Queue{{ID: "q"}, {ID: "q2", Name: "a\u2066b"}}}, "queues[1].name", "U+2066"},
		{"business unit name", Document{BusinessUnits: []BusinessUnit{{ID: "b", Name: long(1 << 20)}}}, "business_units[0].name", "1048576 bytes"},
		{"agent queue reference", Document{Agents: []Agent{{ID: "a1", Queues: []string{"sales", "bad id"}}}}, "agents[1-1].queues[1]", "not a valid id"},
		{"agent user reference", Document{Agents: []Agent{{ID: "a1", User: long(65)}}}, "agents[0].user", "at most 64"},
		{"agent extension", Document{Agents: []Agent{{ID: "a1", Extension: "20x"}}}, "agents[0].extension", "not an extension number"},
		{"agent skill", Document{Agents: []Agent{{ID: "a1", Skills: map[string]int{"ok": 1, "not ok": 2}}}}, "agents[0].skills", "not a valid id"},
		{"user email", Document{Users: []User{{ID: "u", Email: long(MaxEmailLen-8) + "@example"}, {ID: "v", Email: long(MaxEmailLen) + "@x"}}}, "users[1].email", "at most 254"},
		{"user mobile", Document{Users: []User{{ID: "u", Mobile: long(MaxNumberLen + 1)}}}, "users[0].mobile", "at most 64"},
		{"user business unit", Document{Users: []User{{ID: "u", BusinessUnit: "a/b"}}}, "users[0].business_unit", "not a valid id"},
		{"speed dial label", Document{Users: []User{{ID: "u", SpeedDials: []SpeedDial{{Label: "a\u0085", Number: "1"}}}}}, "users[0].speed_dials[0].label", "U+0085"},
		{"contact first name", Document{Contacts: []Contact{{ID: "c", FirstName: "\x1b[2J"}}}, "contacts[0].first_name", "U+001B"},
		{"contact phone", Document{Contacts: []Contact{{ID: "c", Phone: long(65)}}}, "contacts[0].phone", "at most 64"},
		{"pause reason name", Document{PauseReasons: []PauseReason{{Code: "lunch", Name: "a\u202db"}}}, "pause_reasons[0].name", "U+202D"},
		{"phone kind", Document{Extensions: []Extension{{Number: "2001", Phones: []Phone{{ID: "p", Kind: long(33)}}}}}, "extensions[0].phones[0].kind", "at most 32"},
		{"excluded number", Document{ExcludedNumbers: []string{"123", long(65)}}, "excluded_numbers[1]", "at most 64"},
		{"password hash", Document{Users: []User{{ID: "u", PasswordHash: long(MaxPasswordHashLen + 1)}}}, "users[0].password_hash", "at most 256"},
		{"settings prefix", Document{Settings: &Settings{OutsideLinePrefix: long(40)}}, "settings.outside_line_prefix", "at most 32"},
		{"settings directory field", Document{Settings: &Settings{DirectoryFields: []string{"name", "a\x00"}}}, "settings.directory_fields[1]", "U+0000"},
	}
	tests[4].field = "agents[0].queues[1]"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(how string, err error) {
				t.Helper()
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
					t.Errorf("%s: %v; want field %s and %q", how, err, tt.field, tt.msg)
				}
				if err != nil && len(err.Error()) > 200 {
					t.Errorf("%s: a message of %d bytes", how, len(err.Error()))
				}
			}
			check("Validate", tt.doc.Validate())
			payload, err := json.Marshal(ApplyRequest{Document: tt.doc})
			if err != nil {
				t.Fatal(err)
			}
			check("CheckPayload", CheckPayload(TypeConfigApply, payload))
			// The engine's apply keeps the rules of earlier builds (an
			// old log must replay alike): the limits are the edge's.
			h := newHarness(t, baseDoc)
			before := h.e.Hash()
			if _, err = h.apply(TypeConfigApply, ApplyRequest{Document: tt.doc}); err != nil && h.e.Hash() != before {
				t.Error("a refused apply changed the state")
			}
		})
	}
	// The limits are inclusive.
	ok := Document{
		Agents:   []Agent{{ID: strings.Repeat("a", MaxIDLen), Name: strings.Repeat("é", MaxNameLen/2)}},
		Users:    []User{{ID: "u", Email: strings.Repeat("x", MaxEmailLen-4) + "@x.y", Mobile: strings.Repeat("1", MaxNumberLen)}},
		Contacts: []Contact{{ID: "c", Company: strings.Repeat("x", MaxNameLen)}},
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("a document at every limit: %v", err)
	}
}

// Every operation payload's texts are checked at the edge, naming the
// field.
func TestPayloadTextLimits(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		typ, payload, field, msg string
	}{
		{TypeCallNote, `{"agent":"a1","call":"c1","note":"` + strings.Repeat("n", MaxNoteLen+1) + `"}`, "note", "at most 500"},
		{TypeCallNote, `{"agent":"a1","call":"c1","note":"fine\u202e"}`, "note", "U+202E"},
		{TypeCallIncoming, `{"call":"c1","queue":"sales","name":"\u0007"}`, "name", "U+0007"},
		{TypeCallIncoming, `{"call":"c1","queue":"sales","number":"` + long + `"}`, "number", "at most 64"},
		{TypeCallIncoming, `{"call":"c1","queue":"sales","skills":{"en glish":1}}`, "skills", "not a valid id"},
		{TypeCallIncoming, `{"call":"c 1","queue":"sales"}`, "call", "not a valid id"},
		{TypeAgentLogin, `{"agent":"` + long + `"}`, "agent", "at most 64"},
		{TypeCallTransfer, `{"agent":"a1","target":"bob"}`, "target", "not an extension number"},
		{TypeCallParkOn, `{"agent":"a1","extension":"3001","note":"a\u2069"}`, "note", "U+2069"},
		{TypeCallParkPickup, `{"extension":"3001","by":"\u0085"}`, "by", "U+0085"},
		{TypeAgentReportProblem, `{"agent":"a1","call":"c1","report":"r1","description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `"}`, "description", "at most 2000"},
		{TypeAgentPause, `{"agent":"a1","reason":"` + strings.Repeat("r", 65) + `"}`, "reason", "at most 64"},
		{TypeUserPresence, `{"user":"u1","presence":"` + strings.Repeat("p", 33) + `"}`, "presence", "at most 32"},
		{TypeUserForwarding, `{"user":"u1","forwarding":{"busy":{"number":"\u202a1"}}}`, "forwarding.busy.number", "U+202A"},
		{TypeUserForwarding, `{"user":"u1","forwarding":{"calendar":[{"id":"c","from":"09:00\u0000"}]}}`, "forwarding.calendar[0].from", "U+0000"},
		{TypePhoneSetSecret, `{"extension":"3001","phone":"desk","secret":"` + strings.Repeat("s", MaxSecretLen+1) + `"}`, "secret", "at most 256"},
		{TypeVoicemailDeposited, `{"mailbox":"3001","message":"m1","name":"a\u2067b"}`, "name", "U+2067"},
		{TypeVoicemailMark, `{"mailbox":"mailbox","message":"m1","folder":"old"}`, "mailbox", "not an extension number"},
	}
	for _, tt := range tests {
		err := CheckPayload(tt.typ, []byte(tt.payload))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
			t.Errorf("%s %.80s: %v; want field %s and %q", tt.typ, tt.payload, err, tt.field, tt.msg)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("%s: a message of %d bytes", tt.typ, len(err.Error()))
		}
	}
}

// forbiddenInMessages are what no error message may contain: Go type,
// package and struct names.
var forbiddenInMessages = []string{"Go struct", "Go value", " of type ", "main.", "contactcenter.", "command.", "cluster.",
	"[]string", "[]int", "map[", "interface {", "RawMessage", "int64", "*contactcenter", "Request.", "Document.", "Agent."}

// badValues are JSON values of each kind; for each field of each payload
// the test sends the ones of another kind than the field's.
var badValues = map[string]string{"string": `"x"`, "number": `7`, "bool": `true`, "list": `[1]`, "object": `{"k":1}`}

func jsonKindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "string"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice:
		return "list"
	}
	return "object"
}

// A value of the wrong kind in any field of any payload, and in the
// fields of a configuration document, is refused naming the field and
// what it wants, never a Go type, through CheckPayload and through Apply.
func TestWrongKindsNameNoGoTypes(t *testing.T) {
	type probe struct{ typ, payload, field string }
	var probes []probe
	for typ, mk := range payloadOf {
		st := reflect.TypeOf(mk()).Elem()
		for i := 0; i < st.NumField(); i++ {
			sf := st.Field(i)
			name := jsonName(sf)
			if sf.Anonymous || name == "" {
				continue
			}
			for kind, v := range badValues {
				if kind == jsonKindOf(sf.Type) {
					continue
				}
				probes = append(probes, probe{typ, `{"` + name + `":` + v + `}`, name})
			}
		}
	}
	for _, p := range []struct{ path, value, field string }{
		{`{"agents":[{"id":"a1","queues":%s}]}`, "", "agents[0].queues"},
		{`{"agents":[{"id":"a1","skills":%s}]}`, "", "agents[0].skills"},
		{`{"users":[{"id":"u","speed_dials":[%s]}]}`, "", "users[0].speed_dials[0]"},
		{`{"extensions":[{"number":"2001","phones":[{"id":"p","order":%s}]}]}`, "", "extensions[0].phones[0].order"},
		{`{"settings":%s}`, "", "settings"},
		{`{"excluded_numbers":%s}`, "", "excluded_numbers"},
	} {
		want := map[string]string{"agents[0].queues": "list", "agents[0].skills": "object", "users[0].speed_dials[0]": "object",
			"extensions[0].phones[0].order": "number", "settings": "object", "excluded_numbers": "list"}[p.field]
		for kind, v := range badValues {
			if kind == want {
				continue
			}
			probes = append(probes, probe{TypeConfigApply, `{"document":` + strings.Replace(p.path, "%s", v, 1) + `}`, p.field})
		}
	}
	sort.Slice(probes, func(i, j int) bool { return probes[i].typ+probes[i].payload < probes[j].typ+probes[j].payload })
	h := newHarness(t, baseDoc)
	for _, p := range probes {
		for how, err := range map[string]error{"CheckPayload": CheckPayload(p.typ, []byte(p.payload)), "Apply": func() error {
			_, err := h.applyEnv(h.env(p.typ, json.RawMessage(p.payload)))
			return err
		}()} {
			if err == nil {
				t.Errorf("%s %s %s: accepted", how, p.typ, p.payload)
				continue
			}
			msg := err.Error()
			for _, w := range forbiddenInMessages {
				if strings.Contains(msg, w) {
					t.Errorf("%s %s %s: %q names a Go type (%q)", how, p.typ, p.payload, msg, w)
				}
			}
			if !strings.Contains(msg, "want ") {
				t.Errorf("%s %s %s: %q does not say what is wanted", how, p.typ, p.payload, msg)
			}
			var fe interface{ FieldName() string }
			if !errors.As(err, &fe) || !strings.HasSuffix(fe.FieldName(), p.field) {
				t.Errorf("%s %s %s: %v does not name field %s", how, p.typ, p.payload, err, p.field)
			}
		}
	}
}

// Error messages quote at most a short prefix of what they refuse: a
// 1 MiB value anywhere gives a message of a few dozen bytes.
func TestMessagesQuoteShortPrefix(t *testing.T) {
	big := "z" + strings.Repeat("é", 1<<19)
	h := newHarness(t, baseDoc)
	docs := []Document{
		{Agents: []Agent{{ID: big}}},
		{Queues: []Queue{{ID: "q", Strategy: big[:30] + "\u202e"}}},
		{Queues: []Queue{{ID: "q", Strategy: big[:31]}}},
		{Users: []User{{ID: "u", ForwardingCategory: big[:31]}}},
		{Extensions: []Extension{{Number: big[:15]}}},
		{Extensions: []Extension{{Number: "2001", Phones: []Phone{{ID: "p", Kind: big[:31]}}}}},
		{Settings: &Settings{DirectoryFields: []string{big[:31]}}},
		{Settings: &Settings{DefaultCountryCode: big[:31]}},
		{Agents: []Agent{{ID: "a9", Queues: []string{strings.Repeat("q", 64)}}}},
	}
	for i, d := range docs {
		_, err := h.apply(TypeConfigApply, ApplyRequest{Document: d})
		if err == nil {
			t.Errorf("document %d accepted", i)
			continue
		}
		if msg := err.Error(); len(msg) > 200 || strings.Contains(msg, strings.Repeat("é", 33)) || strings.Contains(msg, strings.Repeat("q", 33)) {
			t.Errorf("document %d: message of %d bytes: %.300s", i, len(msg), msg)
		}
	}
	for _, p := range []struct{ typ, payload string }{
		{TypeCallAnswer, `{"agent":"` + strings.Repeat("a", 64) + `"}`},
		{TypeCallRemoteHangup, `{"call":"c1","side":"` + strings.Repeat("s", 32) + `"}`},
		{TypeUserPresence, `{"user":"u1","presence":"` + strings.Repeat("p", 32) + `"}`},
		{TypeCallIncoming, `{"call":"c9","queue":"` + strings.Repeat("q", 64) + `"}`},
		{"call." + strings.Repeat("x", 1<<20), `{}`},
		{TypeAgentLogin, `{"` + strings.Repeat("k", 1<<20) + `":1}`},
		{TypeUserForwarding, `{"user":"u1","forwarding":{"calendar":[{"id":"c","start":"` + strings.Repeat("t", 1<<20) + `"}]}}`},
	} {
		// The edge refuses what it can tell; Apply refuses all of them
		// (unknown agent, queue, presence, side, …).
		for how, err := range map[string]error{"CheckPayload": CheckPayload(p.typ, []byte(p.payload)), "Apply": func() error {
			_, err := h.applyEnv(h.env(p.typ, json.RawMessage(p.payload)))
			if err == nil {
				t.Errorf("Apply %.40s: accepted", p.payload)
			}
			return err
		}()} {
			if err == nil {
				continue
			}
			if msg := err.Error(); len(msg) > 300 {
				t.Errorf("%s %.40s: message of %d bytes: %.300s", how, p.payload, len(msg), msg)
			}
		}
	}
}
