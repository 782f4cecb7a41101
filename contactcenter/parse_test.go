package contactcenter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// amplifiedDocument is the attack of issue 12.2: one anchored string of
// size bytes and n agents whose names alias it. The text is about size
// bytes; decoded and encoded for the log it would be n times that.
func amplifiedDocument(size, n int) []byte {
	var b strings.Builder
	b.WriteString("queues:\n  - id: q1\n    name: &big ")
	b.WriteString(strings.Repeat("x", size))
	b.WriteString("\nagents:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {id: a%d, name: *big}\n", i)
	}
	return []byte(b.String())
}

// allocated is the bytes f allocates.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAliasAmplification reproduces issue 12.2 at an eighth of its
// scale: a 128 KiB string aliased 999 times, a 154 KiB document. The
// edge's path for POST /v1/config — parse, validate, encode the command
// for the log — allocated 401 MiB for it before the fix, 2,600 times the
// text (the 1 MiB original: about 3 GiB, which killed a node limited to
// 2 GiB). Now the parser refuses the alias before anything is expanded,
// and the whole path allocates a small multiple of the text (about 11×:
// yaml.v3 copies a scalar a few times while it scans it).
func TestAliasAmplification(t *testing.T) {
	doc := amplifiedDocument(128<<10, 999)
	var err error
	n := allocated(func() {
		var d Document
		d, err = ParseDocument(doc)
		if err == nil {
			err = d.Validate()
		}
		if err == nil {
			var b []byte
			b, err = json.Marshal(ApplyRequest{Document: d})
			t.Logf("accepted; the command's payload would be %d MiB", len(b)>>20)
			err = nil
		}
	})
	t.Logf("document %d KiB; the edge's path allocated %d KiB; error: %v", len(doc)>>10, n>>10, err)
	if limit := uint64(16 * len(doc)); n > limit {
		t.Errorf("allocated %d KiB for a %d KiB document (limit %d KiB): the aliases were expanded", n>>10, len(doc)>>10, limit>>10)
	}
	if err == nil || !strings.Contains(err.Error(), "YAML aliases (*name) are not accepted") {
		t.Errorf("error %v; want the refusal of aliases", err)
	}
}

// ParseDocument refuses what it must with one line that starts with
// "config:", gives the line, names the field when there is one, says what
// is wanted, and names no Go type.
func TestParseDocumentRefuses(t *testing.T) {
	tests := []struct {
		name, doc string
		field     string // "" when the refusal is about no one field
		wantIn    []string
	}{
		{"alias of a scalar", "queues:\n  - {id: q1, name: &n Sales}\n  - {id: q2, name: *n}\n", "", []string{"YAML aliases (*name) are not accepted", "line 3", "*n"}},
		{"alias of a mapping", "x: &a {id: q1}\nqueues: [*a]\n", "", []string{"YAML aliases", "line 2"}},
		{"merge key with an alias", "base: &b {strategy: ring-all}\nqueues:\n  - {id: q1, <<: *b}\n", "", []string{"YAML aliases"}},
		{"merge key inline", "queues:\n  - {id: q1, <<: {strategy: ring-all}}\n", "queues[0]", []string{"merge keys (<<) are not accepted", "line 2"}},
		{"too large", "queues: []\n#" + strings.Repeat("x", MaxDocumentBytes), "", []string{"bytes, at most 2097152"}},
		{"too many values", "excluded_numbers: [" + strings.Repeat("1,", MaxDocumentNodes) + "1]\n", "", []string{"more than 500000 values"}},
		{"too deep", "queues: " + strings.Repeat("[", MaxDocumentDepth+5) + strings.Repeat("]", MaxDocumentDepth+5) + "\n", "", []string{"nested more than 32 levels"}},
		{"unknown field", "agents:\n  - id: a1\n    nmae: Ann\n", "agents[0].nmae", []string{"line 3", "unknown field"}},
		{"unknown top-level field", "queus: []\n", "queus", []string{"line 1", "unknown field"}},
		{"field given twice", "agents:\n  - id: a1\n    id: a2\n", "agents[0].id", []string{"line 3", "given twice (first at line 2)"}},
		{"skill given twice", "queues: [{id: q, skills: {en: 1, en: 2}}]\n", "queues[0].skills.en", []string{"given twice"}},
		{"list of IDs wanted", "agents:\n  - id: a1\n    queues: sales\n", "agents[0].queues", []string{"want a list of IDs, not a string"}},
		{"list of mappings wanted", "queues: 7\n", "queues", []string{"want a list of mappings, not a number"}},
		{"mapping wanted", "settings: [1]\n", "settings", []string{"want a mapping, not a list"}},
		{"integer wanted", "queues: [{id: q, service_level_seconds: soon}]\n", "queues[0].service_level_seconds", []string{"want an integer, not a string"}},
		{"whole number wanted", "queues: [{id: q, service_level_seconds: 2.5}]\n", "queues[0].service_level_seconds", []string{"want an integer, not a number"}},
		{"integer out of range", "queues: [{id: q, service_level_seconds: 99999999999999999999}]\n", "queues[0].service_level_seconds", []string{"want an integer"}},
		{"boolean wanted", "extensions: [{number: '2001', phones: [{id: p, secure: maybe}]}]\n", "extensions[0].phones[0].secure", []string{"want true or false, not a string"}},
		{"name wanted", "agents: [{id: a1, name: [Ann]}]\n", "agents[0].name", []string{"want a name, not a list"}},
		{"skill level wanted", "agents: [{id: a1, skills: {english: high}}]\n", "agents[0].skills.english", []string{"want an integer"}},
		{"complex key", "agents: [{id: a1, skills: {[a]: 1}}]\n", "agents[0].skills", []string{"want plain keys"}},
		{"the document is a list", "[]\n", "", []string{"the document: want a mapping, not a list"}},
		{"invalid YAML", "queues: [\n", "", []string{"config:", "line"}},
		{"two documents", "queues: []\n---\nagents: []\n", "", []string{"more than one YAML document"}},
		{"empty", "", "", []string{"config: empty document"}},
		{"only a comment", "# nothing\n", "", []string{"config: empty document"}},
		{"long unknown field", strings.Repeat("k", 1000) + ": 1\n", strings.Repeat("k", 32) + "…", []string{"unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDocument([]byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			checkMessage(t, msg)
			if !strings.HasPrefix(msg, "config: ") {
				t.Errorf("%q does not start with config:", msg)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not contain %q", msg, w)
				}
			}
			var fe *FieldError
			if got := errors.As(err, &fe); got != (tt.field != "") || (got && fe.Field != tt.field) {
				t.Errorf("%q: field %v; want %q", msg, fe, tt.field)
			}
		})
	}
}

// checkMessage: one line, short, no Go type names.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") || len(msg) > 300 {
		t.Errorf("message is not one short line: %.400q", msg)
	}
	for _, w := range forbiddenInMessages {
		if strings.Contains(msg, w) {
			t.Errorf("%q names a Go type (%q)", msg, w)
		}
	}
}

// What ParseDocument accepts it decodes as yaml.v3 always did.
func TestParseDocumentAccepts(t *testing.T) {
	for _, doc := range []string{
		baseDoc,
		`{"queues":[{"id":"q1","strategy":"ring-all"}],"agents":[{"id":"a1","queues":["q1"],"skills":{"en":2}}]}`,
		"~\n",
		"---\nqueues: []\n",
		"queues:\n  - &unused {id: q1}\n", // an anchor nobody refers to expands nothing
		"extensions: [{number: 2001}]\n",  // a number where text is wanted is its text
		"settings: {ring_timeout_seconds: 0x1e}\n",
	} {
		d, err := ParseDocument([]byte(doc))
		if err != nil {
			t.Errorf("%q: %v", doc, err)
			continue
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%q: Validate: %v", doc, err)
		}
	}
	d, err := ParseDocument([]byte("extensions: [{number: 2001}]\nsettings: {ring_timeout_seconds: 0x1e}\n"))
	if err != nil || d.Extensions[0].Number != "2001" || d.Settings.RingTimeoutSeconds != 30 {
		t.Errorf("decoded %+v %v", d, err)
	}
}

// The bounds hold in memory: the largest document of the densest kind
// (2 MiB of one-byte values) is refused after parsing, without decoding,
// in bounded memory.
func TestParseDocumentMemory(t *testing.T) {
	dense := []byte("excluded_numbers: [" + strings.Repeat("1,", (MaxDocumentBytes-32)/2) + "1]\n")
	var err error
	n := allocated(func() { _, err = ParseDocument(dense) })
	t.Logf("%d KiB of one-byte values: %d MiB allocated; %v", len(dense)>>10, n>>20, err)
	if err == nil || !strings.Contains(err.Error(), "more than 500000 values") {
		t.Errorf("error %v", err)
	}
	if n > 400<<20 {
		t.Errorf("allocated %d MiB", n>>20)
	}
}

// FuzzParseDocument: whatever the text, ParseDocument does not panic,
// refuses in one short line naming no Go type, never accepts an alias,
// and what it accepts and Validate passes, the edge's check of the
// config.apply command (JSON) passes too.
func FuzzParseDocument(f *testing.F) {
	for _, s := range []string{
		baseDoc, amplifiedDocumentSeed, "", "~", "[]", "queues: 7", "agents: [{id: a1, queues: sales}]",
		"x: &a [1]\nqueues: *a", "queues: [{id: q, <<: {strategy: ring-all}}]", "agents: [{id: a1, id: a2}]",
		`{"queues":[{"id":"q1"}],"agents":[{"id":"a1","name":"Ann\u202e"}]}`, "queues: [\n", "a: b\n---\nc: d",
		"users: [{id: u, speed_dials: [{label: x, number: '12'}]}]", "settings: {directory_fields: [name], ring_timeout_seconds: 1.5}",
		"extensions: [{number: '2001', phones: [{id: p, order: 1, secure: yes}]}]", "agents: [[[[1]]]]", "? [a]\n: b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDocument(b)
		if err != nil {
			checkMessage(t, err.Error())
			return
		}
		if bytes.Contains(b, []byte("*")) {
			var n yaml.Node
			if yaml.Unmarshal(b, &n) == nil && hasAlias(&n) {
				t.Fatalf("accepted an alias: %q", b)
			}
		}
		if err := d.Validate(); err != nil {
			checkMessage(t, err.Error())
			return
		}
		payload, err := json.Marshal(ApplyRequest{Document: d})
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPayload(TypeConfigApply, payload); err != nil {
			t.Fatalf("ParseDocument and Validate accept %q; CheckPayload refuses it as JSON: %v", b, err)
		}
	})
}

const amplifiedDocumentSeed = "queues:\n  - id: q1\n    name: &big xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nagents:\n  - {id: a1, name: *big}\n  - {id: a2, name: *big}\n"

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// The config.apply payload is counted before it is decoded: a payload of
// too many values is refused without building them.
func TestConfigPayloadBound(t *testing.T) {
	p := []byte(`{"document":{"agents":[` + strings.Repeat("{},", maxPayloadValues) + `{}]}}`)
	var err error
	n := allocated(func() { err = CheckPayload(TypeConfigApply, p) })
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "document" || !strings.Contains(fe.Msg, "more than 1000000 values") {
		t.Errorf("CheckPayload: %v", err)
	}
	if n > 1<<20 {
		t.Errorf("allocated %d KiB for a payload refused by its count", n>>10)
	}
}
