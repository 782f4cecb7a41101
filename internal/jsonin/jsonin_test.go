package jsonin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type rule struct {
	Number string `json:"number,omitempty"`
}

type entry struct {
	rule
	ID    string    `json:"id"`
	Start time.Time `json:"start,omitempty"`
}

type agent struct {
	ID     string          `json:"id"`
	Queues []string        `json:"queues,omitempty"`
	Skills map[string]int  `json:"skills,omitempty"`
	Wrap   int             `json:"wrap_up_seconds,omitempty"`
	Order  uint8           `json:"order,omitempty"`
	Secure bool            `json:"secure,omitempty"`
	Ratio  float64         `json:"ratio,omitempty"`
	Raw    json.RawMessage `json:"raw,omitempty"`
	Any    any             `json:"any,omitempty"`
}

type doc struct {
	Agents   []agent `json:"agents"`
	Calendar []entry `json:"calendar"`
	Settings *struct {
		Fields []string `json:"directory_fields"`
	} `json:"settings,omitempty"`
}

// goTypeNames are what no message may contain: Go type and package names.
var goTypeNames = []string{"Go struct", "Go value", "[]string", "map[", "main.", "jsonin.", "int64", "uint8", "float64", "struct {", "*"}

func TestDecodeExplains(t *testing.T) {
	long := strings.Repeat("k", 200)
	tests := []struct {
		name, in     string
		field, inMsg string
	}{
		{"list wanted", `{"agents":[{"id":"a1"},{"id":"a2","queues":"sales"}]}`, "agents[1].queues", "want a list of strings, not a string"},
		{"string wanted", `{"agents":[{"id":7}]}`, "agents[0].id", "want a string, not a number"},
		{"object wanted", `{"agents":["a1"]}`, "agents[0]", "want an object, not a string"},
		{"list of objects wanted", `{"agents":{"id":"a1"}}`, "agents", "want a list of objects, not an object"},
		{"integer wanted", `{"agents":[{"wrap_up_seconds":1.5}]}`, "agents[0].wrap_up_seconds", "want an integer, not 1.5"},
		{"integer out of range", `{"agents":[{"order":300}]}`, "agents[0].order", "want a non-negative integer, not 300"},
		{"bool wanted", `{"agents":[{"secure":"yes"}]}`, "agents[0].secure", "want true or false, not a string"},
		{"number wanted", `{"agents":[{"ratio":[]}]}`, "agents[0].ratio", "want a number, not a list"},
		{"map value", `{"agents":[{"skills":{"english":"high"}}]}`, "agents[0].skills.english", "want an integer, not a string"},
		{"time", `{"calendar":[{"id":"c","start":"monday"}]}`, "calendar[0].start", `want a time (RFC 3339, e.g. 2026-01-02T15:04:05Z), not "monday"`},
		{"embedded field", `{"calendar":[{"id":"c","number":5}]}`, "calendar[0].number", "want a string, not a number"},
		{"pointer to struct", `{"settings":{"directory_fields":[1]}}`, "settings.directory_fields[0]", "want a string, not a number"},
		{"unknown field, nested", `{"agents":[{"id":"a1","queuez":[]}]}`, "agents[0].queuez", "unknown field"},
		{"unknown field, clipped", `{"` + long + `":1}`, strings.Repeat("k", 32) + "…", "unknown field"},
		{"syntax", `{"agents":[}`, "", "not valid JSON at byte 12: invalid character '}' looking for beginning of value"},
		{"cut short", `{"agents":[`, "", "the JSON ends too early"},
		{"empty", `  `, "", "empty: want an object"},
		{"not an object", `[1]`, "", "want an object, not a list"},
		{"trailing data", `{"agents":[]} {}`, "", "trailing data after the JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tt.in), &d)
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Decode(%s) = %v (%T); want an *Error", tt.in, err, err)
			}
			if e.Field != tt.field || !strings.Contains(e.Msg, tt.inMsg) {
				t.Errorf("Decode(%s) = field %q msg %q; want field %q and %q", tt.in, e.Field, e.Msg, tt.field, tt.inMsg)
			}
			for _, w := range goTypeNames {
				if strings.Contains(err.Error(), w) {
					t.Errorf("message %q names a Go type (%q)", err, w)
				}
			}
		})
	}
	var d doc
	if err := Decode([]byte(`{"Agents":[{"ID":"a1","raw":{"x":[1]},"any":[{}]}]}`), &d); err != nil || d.Agents[0].ID != "a1" {
		t.Errorf("keys matched as encoding/json matches them: %v %+v", err, d)
	}
}

// Explain without strictness lets unknown keys pass, as json.Unmarshal
// does.
func TestExplainLax(t *testing.T) {
	in := []byte(`{"agents":[{"extra":{"deep":[1,2]},"queues":[1]}]}`)
	var d doc
	err := json.Unmarshal(in, &d)
	if err == nil {
		t.Fatal("json.Unmarshal accepted it")
	}
	e := Explain(in, &d, err, false)
	if e.Field != "agents[0].queues[0]" || e.Msg != "want a string, not a number" {
		t.Errorf("Explain = %+v", e)
	}
}

func TestScrub(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"decoding request: json: cannot unmarshal string into Go struct field Envelope.v of type int", "decoding request: v: want an integer, not a string"},
		{"json: cannot unmarshal number into Go struct field Agent.queues of type []string", "queues: want a list, not a number"},
		{"json: cannot unmarshal array into Go value of type map[string]interface {}", "want an object, not a list"},
		{"json: cannot unmarshal number 1.5 into Go struct field Doc.document.agents.wrap of type int", "document.agents.wrap: want an integer, not a number"},
		{"nothing to do", "nothing to do"},
	} {
		if got := Scrub(tt.in); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{strings.Repeat("a", 32), strings.Repeat("a", 32)},
		{strings.Repeat("a", 33), strings.Repeat("a", 32) + "…"},
		{strings.Repeat("é", 40), strings.Repeat("é", 32) + "…"},
		{strings.Repeat("\xff", 40), strings.Repeat("\xff", 32) + "…"},
	} {
		if got := Clip(tt.in); got != tt.want {
			t.Errorf("Clip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if q := Quote(strings.Repeat("x", 1<<20)); len(q) > 40 {
		t.Errorf("Quote of 1 MiB is %d bytes", len(q))
	}
}

func TestValues(t *testing.T) {
	for _, tt := range []struct {
		in   string
		min  int // the real number of values
		want int
	}{
		{`1`, 1, 1},
		{`[]`, 1, 2},
		{`[1,2,3]`, 4, 4},
		{`{"a":[{},{}],"b":"x,y[{"}`, 5, 7},
		{`["\",[{"]`, 2, 2},
	} {
		if got := Values([]byte(tt.in)); got != tt.want || got < tt.min {
			t.Errorf("Values(%s) = %d, want %d (≥ %d)", tt.in, got, tt.want, tt.min)
		}
	}
}
