package contactcenter

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLineStatus(t *testing.T) {
	h := newHarness(t, baseDoc)
	want := func(ext, st string) {
		t.Helper()
		if got, _ := h.e.LineStatus(ext); got != st {
			t.Fatalf("line %s = %s, want %s", ext, got, st)
		}
	}
	want("2001", LineNotConnected)
	want("3001", LineFree) // has a mobile phone
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true})
	want("2001", LineFree)
	h.connect("a1")
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Queue: "sales", Number: "+441615550000"})
	want("2001", LineFree) // ringing is not busy
	h.answer("a1")
	want("2001", LineBusyExternal)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d", Number: "3002"})
	want("2001", LineBusyInternal)
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: false})
	want("2001", LineBusyInternal) // busy wins over not connected
	h.fail(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "nope"}, ErrUnknownPhone)
}

func TestDirectorySearchAndPresence(t *testing.T) {
	h := newHarness(t, baseDoc+`
contacts:
  - {id: k1, first_name: Dora, last_name: Acme-Supplier, company: Widgets, phone: "+44 161 5551234"}
`)
	names := func(es []DirectoryEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	cases := []struct {
		q      string
		fields []string
		want   []string
	}{
		{"acme", nil, []string{"k1", "carol", "bob"}}, // company, and last name Acme-Supplier
		{"bob", nil, []string{"bob"}},
		{"b targ", nil, []string{"bob"}},
		{"300", nil, []string{"carol", "bob"}},
		{"300", []string{"last_name"}, nil},
		{"5551234", []string{"phone"}, []string{"k1"}},
		{"operator", nil, []string{"u1", "u2"}},
	}
	for _, tc := range cases {
		got := names(entries(h.e.Directory(tc.q, tc.fields, 0)))
		// Sorted by last name, first name.
		if !reflect.DeepEqual(got, sortedByLast(h, tc.want)) {
			t.Errorf("search %q %v = %v, want %v", tc.q, tc.fields, got, tc.want)
		}
	}
	h.ok(TypeUserPresence, PresenceRequest{User: "bob", Presence: "absent"})
	h.fail(TypeUserPresence, PresenceRequest{User: "bob", Presence: "asleep"}, nil)
	h.fail(TypeUserPresence, PresenceRequest{User: "zed", Presence: "absent"}, ErrUnknownUser)
	es := entries(h.e.Directory("bob", nil, 0))
	if len(es) != 1 || es[0].Presence != "absent" || es[0].LineStatus != LineFree || es[0].Company != "Acme" {
		t.Fatalf("bob %+v", es)
	}
	// Configurable "search all" fields.
	d, _ := ParseDocument([]byte("settings: {directory_fields: [company]}"))
	h.ok(TypeConfigApply, ApplyRequest{Document: d})
	if got := names(entries(h.e.Directory("bob", nil, 0))); len(got) != 0 {
		t.Fatalf("search by company only found %v", got)
	}
	d, _ = ParseDocument([]byte("settings: {directory_fields: [shoe_size]}"))
	h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil)
}

func sortedByLast(h *harness, ids []string) []string {
	var out []string
	for _, e := range entries(h.e.Directory("", nil, 0)) {
		for _, id := range ids {
			if e.ID == id {
				out = append(out, id)
			}
		}
	}
	return out
}

func TestSpeedDials(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(`
users:
  - id: u1
    name: Ann Operator
    first_name: Ann
    last_name: Operator
    extension: "2001"
    speed_dials: [{label: Bob, number: "3001"}, {label: Bank, number: "+44 (20) 7946 0000"}]
`)
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Extension: "3001", Number: "+4412"})
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c"})
	sd, ok := h.e.SpeedDials("u1")
	if !ok || len(sd) != 2 || sd[0].LineStatus != LineBusyExternal || sd[1].LineStatus != "" {
		t.Fatalf("speed dials %+v", sd)
	}
	d, _ := ParseDocument([]byte(`users: [{id: u9, speed_dials: [{label: x, number: "12-34"}]}]`))
	h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil)
}

func TestHistoryAndMissedFilter(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	h.incoming("c1", "sales")
	h.at(15 * time.Second)                                      // MISSED, offered again
	h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c1"}) // MISSED (caller gave up while ringing)
	h.incoming("c2", "sales")
	h.answer("a1")
	h.advance(42 * time.Second)
	h.ok(TypeCallPark, ParkRequest{Agent: "a1", Note: "n"})
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d", Number: "3001"})
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	v, _ := h.e.History("a1", false)
	var ops []string
	for _, e := range v.Entries {
		ops = append(ops, e.Op+":"+e.Call)
	}
	want := []string{"HANGUP:d", "DIAL:d", "PARK:c2", "ANSWER:c2", "MISSED:c1", "MISSED:c1"}
	if !reflect.DeepEqual(ops, want) {
		t.Fatalf("history %v, want %v", ops, want)
	}
	if v.Entries[2].DurationMS != 42000 || v.Entries[2].Note != "n" {
		t.Fatalf("park entry %+v", v.Entries[2])
	}
	if v.Trend != (Trend{Made: 1, Answered: 1, Missed: 2}) {
		t.Fatalf("trend %+v", v.Trend)
	}
	m, _ := h.e.History("a1", true)
	if len(m.Entries) != 2 || m.Entries[0].Op != OpMissed {
		t.Fatalf("missed %+v", m.Entries)
	}
	// Bounded.
	for i := 0; i < 3*HistoryLength; i++ {
		h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "x", Number: "3001"})
		h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	}
	v, _ = h.e.History("a1", false)
	if len(v.Entries) != HistoryLength || len(h.agent("a1").History) != HistoryLength || v.Entries[0].Op != OpHangup {
		t.Fatalf("history length %d / %d", len(v.Entries), len(h.agent("a1").History))
	}
}

func TestNormalizeNumber(t *testing.T) {
	cases := []struct{ in, want string }{
		{"44 161 5527789", "441615527789"},
		{"+44 (161) 5527789", "+441615527789"},
		{"2001", "2001"},
		{"*552001", "*552001"},
		{"44-161", ""},
		{"+44 (161 55", ""},
		{"(161) 55", ""},
		{"+", ""},
		{"* 55", ""},
		{"abc", ""},
	}
	for _, tc := range cases {
		got, err := NormalizeNumber(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if DigitsOf("+44 (0)161-552 7789 ext.") != "4401615527789" {
		t.Fatal("DigitsOf")
	}
}

// TestDirectorySearchFields: the console's search fields (field, label,
// default) are checked, naming the field, and a search by them wants
// every term in its own field ("all": the "search all" fields).
func TestDirectorySearchFields(t *testing.T) {
	for _, tc := range []struct {
		fields, field string
	}{
		{`[{field: last_name, label: Surname, default: Operator}, {field: all, label: Anything}]`, ""},
		{`[{field: shoe_size, label: Shoe}]`, "settings.directory_search[0].field"},
		{`[{field: company, label: A}, {field: company, label: B}]`, "settings.directory_search[1].field"},
		{`[{field: company}]`, "settings.directory_search[0].label"},
		{`[{field: company, label: " "}]`, "settings.directory_search[0].label"},
		{`[{field: company, label: "` + strings.Repeat("l", MaxLabelLen+1) + `"}]`, "settings.directory_search[0].label"},
		{`[{field: company, label: C, default: "` + strings.Repeat("d", MaxNameLen+1) + `"}]`, "settings.directory_search[0].default"},
		{`[{field: company, label: "a\u202eb"}]`, "settings.directory_search[0].label"},
		{`[{field: company, label: C, colour: red}]`, "settings.directory_search[0].colour"},
		{`[{field: all, label: a}, {field: first_name, label: b}, {field: last_name, label: c}, {field: name, label: d}, {field: company, label: e}, {field: extension, label: f}, {field: mobile, label: g}, {field: phone, label: h}, {field: phone, label: i}]`, "settings.directory_search"},
	} {
		d, err := ParseDocument([]byte(`settings: {directory_search: ` + tc.fields + `}`))
		if err == nil {
			err = d.Validate()
		}
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%.60s: %v", tc.fields, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%.60s: %v, want field %s", tc.fields, err, tc.field)
		}
	}

	h := newHarness(t, baseDoc+`
contacts:
  - {id: k1, first_name: Dora, last_name: Operator, company: Widgets, phone: "+44 161 5551234"}
`)
	h.config(`settings: {directory_search: [{field: last_name, label: Surname, default: Operator}, {field: all, label: Anything}]}`)
	h.e.View(func(s *State) {
		want := []DirectorySearchField{{Field: "last_name", Label: "Surname", Default: "Operator"}, {Field: "all", Label: "Anything"}}
		if !reflect.DeepEqual(s.Config.Settings.DirectorySearch, want) {
			t.Fatalf("settings %+v", s.Config.Settings.DirectorySearch)
		}
		if doc := s.Config.Document(); !reflect.DeepEqual(doc.Settings.DirectorySearch, want) {
			t.Fatalf("document settings %+v", doc.Settings.DirectorySearch)
		}
	})
	ids := func(es []DirectoryEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return strings.Join(out, " ")
	}
	everyone := ids(entries(h.e.Directory("", nil, 0)))
	for _, tc := range []struct {
		terms map[string]string
		want  string
	}{
		{map[string]string{"last_name": "operator"}, "u1 u2 k1"},
		{map[string]string{"last_name": "operator", "all": "widg"}, "k1"},
		{map[string]string{"last_name": "operator", "first_name": "ben"}, "u2"},
		{map[string]string{"company": "operator"}, ""},
		{map[string]string{"all": "ann operator"}, "u1"},
		{map[string]string{"phone": "5551234"}, "k1"},
		{map[string]string{"shoe_size": "9"}, ""},
		{map[string]string{"last_name": " "}, everyone},
		{nil, everyone},
	} {
		if got := ids(entries(h.e.DirectoryByField(tc.terms, 0))); got != tc.want {
			t.Errorf("search %v = %s, want %s", tc.terms, got, tc.want)
		}
	}
}

// entries drops Directory's total.
func entries(es []DirectoryEntry, _ int) []DirectoryEntry { return es }

// manyContacts puts n generated contacts into the engine's directory (as a
// config.apply of them would).
func manyContacts(e *Engine, n int) {
	last := []string{"Smith", "jones", "Taylor", "brown", "Wilson", "Evans", "thomas", "Roberts"}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("k%07d", i)
		e.st.Config.Contacts[id] = Contact{ID: id, FirstName: fmt.Sprintf("Ann%d", i%977), LastName: last[i%len(last)], Company: fmt.Sprintf("Firm %d", i%101), Phone: fmt.Sprintf("+44161%07d", i)}
	}
}

// TestDirectoryLimit: the first limit matches are those of the whole
// sorted result, whatever the limit, and total counts every match.
func TestDirectoryLimit(t *testing.T) {
	h := newHarness(t, baseDoc)
	manyContacts(h.e, 3000)
	for _, q := range []string{"", "smith", "firm 7", "ann1 jones", "nobody"} {
		all, total := h.e.Directory(q, nil, 0)
		if total != len(all) {
			t.Fatalf("%q: total %d, %d entries without a limit", q, total, len(all))
		}
		for _, limit := range []int{1, 2, 20, 100, total + 5} {
			got, n := h.e.Directory(q, nil, limit)
			want := all[:min(limit, len(all))]
			if n != total || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q limit %d: %d entries (total %d), want the first %d of %d", q, limit, len(got), n, len(want), total)
			}
		}
	}
	if _, total := h.e.Directory("smith", nil, 0); total != 3000/8 {
		t.Fatalf("smith: %d matches, want %d", total, 3000/8)
	}
}

// BenchmarkDirectory is one keystroke's search at 100,000 contacts, as the
// console asks it (the first 20).
func BenchmarkDirectory(b *testing.B) {
	h := newHarness(b, baseDoc)
	manyContacts(h.e, 100_000)
	for _, q := range []string{"", "smi", "ann12 jones"} {
		b.Run(fmt.Sprintf("q=%q", q), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h.e.Directory(q, nil, 20)
			}
		})
	}
}

// BenchmarkLineStatus: an extension's line status (the console's
// line-status request, call forwarding's not-connected check, the SNMP
// extension counts) with 20,000 e-mails waiting, found among the calls on
// agents' lines, at extensions and in supervision only (220 µs when every
// call was looked at, 127 ns now).
func BenchmarkLineStatus(b *testing.B) {
	h := mailWaiting(b, 20)
	b.ResetTimer()
	for range b.N {
		h.e.LineStatus("3001")
	}
}
