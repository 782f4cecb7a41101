package contactcenter

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestOwnSpeedDials: the configuration's speed dials are the defaults,
// placed on a page and position; once the operator saves its own
// (preferences, through the log) they replace them — none included —
// until it goes back to the defaults; they are kept in the state and so
// in snapshots.
func TestOwnSpeedDials(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(`
users:
  - id: u1
    name: Ann Operator
    extension: "2001"
    speed_dials:
      - {label: Bob, number: "3001"}
      - {label: Bank, label2: Head office, number: "+44 (20) 7946 0000", colour: blue, page: 2, position: 3}
      - {label: Desk, number: "3002", position: 1}
`)
	view := func(user string) string {
		t.Helper()
		sds, ok := h.e.SpeedDials(user)
		if !ok {
			t.Fatalf("no user %s", user)
		}
		var out []string
		for _, sd := range sds {
			d := ""
			if sd.Default {
				d = "*"
			}
			out = append(out, strings.Join([]string{d + sd.Label, sd.Label2, sd.Number, sd.Colour, strconv.Itoa(sd.Page), strconv.Itoa(sd.Position)}, "|"))
		}
		return strings.Join(out, " ; ")
	}
	if got, want := view("u1"), "*Desk||3002||1|1 ; *Bob||3001||1|2 ; *Bank|Head office|+44 (20) 7946 0000|blue|2|3"; got != want {
		t.Fatalf("defaults:\n got %s\nwant %s", got, want)
	}
	own := []SpeedDial{
		{Label: "Reception", Label2: "front desk", Number: "3001", Colour: "green", Page: 2, Position: 1},
		{Label: "Bob", Number: "3002", Colour: "red", Page: 1, Position: 4},
	}
	prefs := Preferences{Language: "es", SpeedDialLineState: true, OwnSpeedDials: true, SpeedDials: own}
	steps := []struct {
		name string
		p    Preferences
		want string
	}{
		{"own replace the defaults", prefs, "Bob||3002|red|1|4 ; Reception|front desk|3001|green|2|1"},
		{"other preferences alone keep the defaults", Preferences{Language: "es"}, "*Desk||3002||1|1 ; *Bob||3001||1|2 ; *Bank|Head office|+44 (20) 7946 0000|blue|2|3"},
		{"own and none", Preferences{OwnSpeedDials: true}, ""},
		{"own again", prefs, "Bob||3002|red|1|4 ; Reception|front desk|3001|green|2|1"},
	}
	for _, s := range steps {
		h.ok(TypeUserPreferences, PreferencesRequest{User: "u1", Preferences: s.p})
		if got := view("u1"); got != s.want {
			t.Fatalf("%s:\n got %s\nwant %s", s.name, got, s.want)
		}
	}
	if sds, _ := h.e.SpeedDials("u1"); sds[1].LineStatus != LineFree { // 3001 has a mobile phone
		t.Fatalf("line status %+v", sds[1])
	}
	if got := view("u2"); got != "" {
		t.Fatalf("u2 has %s", got)
	}

	// Through a snapshot, as a new member gets them.
	e2 := restored(t, h.e)
	got, _, _ := e2.UserPreferences("u1")
	if !reflect.DeepEqual(got, prefs) {
		t.Fatalf("restored %+v, want %+v", got, prefs)
	}
	if a, b := e2.Hash(), h.e.Hash(); a != b {
		t.Fatal("restored engine differs")
	}

	// Refused at the edge (CheckPayload) and by Apply alike, naming the
	// field, changing nothing.
	before := h.e.Hash()
	long := strings.Repeat("x", MaxLabelLen+1)
	many := make([]string, 0, MaxSpeedDials+1)
	for i := range MaxSpeedDials + 1 {
		many = append(many, `{"number":"3001","page":`+strconv.Itoa(i%2+1)+`,"position":`+strconv.Itoa(i/2%50+1)+`}`)
	}
	for _, tc := range []struct {
		sds, field string
	}{
		{`[{"number":"3001","page":1,"position":1,"colour":"magenta"}]`, "preferences.speed_dials[0].colour"},
		{`[{"number":"30-01","page":1,"position":1}]`, "preferences.speed_dials[0].number"},
		{`[{"number":"3001","page":3,"position":1}]`, "preferences.speed_dials[0].page"},
		{`[{"number":"3001","page":0,"position":1}]`, "preferences.speed_dials[0].page"},
		{`[{"number":"3001","page":1,"position":0}]`, "preferences.speed_dials[0].position"},
		{`[{"number":"3001","page":1,"position":51}]`, "preferences.speed_dials[0].position"},
		{`[{"number":"3001","page":1,"position":2},{"number":"3002","page":1,"position":2}]`, "preferences.speed_dials[1].position"},
		{`[{"number":"3001","page":1,"position":1,"label":"` + long + `"}]`, "preferences.speed_dials[0].label"},
		{`[{"number":"3001","page":1,"position":1,"label2":"a\u202eb"}]`, "preferences.speed_dials[0].label2"},
		{`[{"number":"3001","page":1,"position":1,"shape":"round"}]`, "preferences.speed_dials[0].shape"},
		{`[` + strings.Join(many, ",") + `]`, "preferences.speed_dials"},
	} {
		payload := `{"user":"u1","preferences":{"own_speed_dials":true,"speed_dials":` + tc.sds + `}}`
		err := CheckPayload(TypeUserPreferences, []byte(payload))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("CheckPayload %.80s: %v, want field %s", tc.sds, err, tc.field)
		}
		if !strings.Contains(tc.field, "label") { // texts are the edge's (limits.go)
			h.fail(TypeUserPreferences, payload, nil)
		}
	}
	// Speed dials without own_speed_dials would silently not show.
	if err := CheckPayload(TypeUserPreferences, []byte(`{"user":"u1","preferences":{"speed_dials":[{"number":"3001","page":1,"position":1}]}}`)); err == nil ||
		!strings.Contains(err.Error(), "own_speed_dials") {
		t.Errorf("speed dials without own_speed_dials: %v", err)
	}
	if h.e.Hash() != before {
		t.Fatal("a refused request changed the state")
	}
}

// TestConfigSpeedDials: the configuration's speed dials take the same
// fields, page and position optional but in range and distinct.
func TestConfigSpeedDials(t *testing.T) {
	for _, tc := range []struct {
		sds, field string
	}{
		{`[{label: a, number: "3001"}, {label: b, number: "3002"}]`, ""},
		{`[{label: a, label2: b, number: "3001", colour: teal, page: 2, position: 50}]`, ""},
		{`[{number: "3001", colour: pink}]`, "users[0].speed_dials[0].colour"},
		{`[{number: "3001", page: 3}]`, "users[0].speed_dials[0].page"},
		{`[{number: "3001", position: 51}]`, "users[0].speed_dials[0].position"},
		{`[{number: "3001", position: 2}, {number: "3002", page: 1, position: 2}]`, "users[0].speed_dials[1].position"},
		{`[{number: "3001", label2: "` + strings.Repeat("y", MaxLabelLen+1) + `"}]`, "users[0].speed_dials[0].label2"},
	} {
		d, err := ParseDocument([]byte(`users: [{id: u9, speed_dials: ` + tc.sds + `}]`))
		if err == nil {
			err = d.Validate()
		}
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.sds, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%s: %v, want field %s", tc.sds, err, tc.field)
		}
	}
}
