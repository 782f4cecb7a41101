package ops_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// goTypeNames are what no error message of any surface may contain: Go
// type, struct and package names, as encoding/json and yaml.v3 put them
// in their errors.
var goTypeNames = []string{"Go struct", "Go value", " of type ", "main.", "contactcenter.", "cluster.", "command.", "console.",
	"ops.", "[]string", "[]int", "map[", "interface {", "RawMessage", "int64", "Envelope.", "Request.", "Document.", "Agent.", "!!str", "!!seq", "!!map"}

// hugeEnvelope is a peer-protocol envelope whose payload is a document
// with a list where a string is wanted.
func envelopeWith(t *testing.T, payload string) string {
	t.Helper()
	env, err := command.New(contactcenter.TypeConfigApply, cluster.NewID(), time.Now(), json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every surface that decodes a JSON or YAML body answers a hostile or
// mistyped one in the error shape with one short line that names the
// field, says what it wants, quotes at most a short prefix of what it
// refuses and names no Go type: the admin API (configuration and its
// JSON routes), the peer protocol (package cluster's own decoding, seen
// by a client), the console on both mounts.
func TestHostileBodiesOfEverySurface(t *testing.T) {
	r := newRig(t)
	const (
		admin   = "admin"
		session = "session"
	)
	huge := strings.Repeat("Z", 512<<10)
	amplified := "queues:\n  - id: q1\n    name: &big " + strings.Repeat("x", 64<<10) + "\nagents:\n" +
		strings.Repeat("  - {id: a1, name: *big}\n", 200)
	tests := []struct {
		surface, name string
		method, path  string
		auth, body    string
		status        int
		field         string
		wantIn        string
	}{
		// POST /v1/config: the YAML path.
		{"config", "aliases", "POST", "/v1/config", admin, amplified, 400, "", "YAML aliases (*name) are not accepted"},
		{"config", "merge key", "POST", "/v1/config", admin, "queues:\n  - {id: q1, <<: {strategy: ring-all}}\n", 400, "queues[0]", "merge keys"},
		{"config", "list wanted", "POST", "/v1/config", admin, "agents:\n  - id: a1\n    queues: sales\n", 400, "agents[0].queues", "want a list of IDs, not a string"},
		{"config", "list wanted, JSON", "POST", "/v1/config", admin, `{"agents":[{"id":"a1","queues":"sales"}]}`, 400, "agents[0].queues", "want a list of IDs"},
		{"config", "integer wanted", "POST", "/v1/config", admin, "queues: [{id: q, service_level_seconds: [1]}]\n", 400, "queues[0].service_level_seconds", "want an integer, not a list"},
		{"config", "mapping wanted", "POST", "/v1/config", admin, "settings: soon\n", 400, "settings", "want a mapping, not a string"},
		{"config", "unknown field", "POST", "/v1/config", admin, "agents:\n  - id: a1\n    nmae: Ann\n", 400, "agents[0].nmae", "unknown field"},
		{"config", "long name", "POST", "/v1/config", admin, "agents:\n  - {id: a1, name: " + strings.Repeat("N", 5000) + "}\n", 400, "agents[0].name", "at most 128"},
		{"config", "bidi override", "POST", "/v1/config", admin, "queues:\n  - {id: q1, name: \"Sales\\u202e\"}\n", 400, "queues[0].name", "U+202E"},
		{"config", "control character", "POST", "/v1/config", admin, "users:\n  - {id: u1, company: \"Acme\\x1b[2J\"}\n", 400, "users[0].company", "U+001B"},
		{"config", "huge id", "POST", "/v1/config", admin, "agents:\n  - id: " + strings.Repeat("a", 1<<20) + "\n", 400, "agents[0].id", "at most 64"},
		{"config", "huge strategy", "POST", "/v1/config", admin, "queues:\n  - {id: q, strategy: " + strings.Repeat("s", 30) + "\\u2066}\n", 400, "queues[0].strategy", ""},

		// The admin API's JSON routes.
		{"admin", "string wanted", "POST", "/v1/cluster/remove", admin, `{"id":7}`, 400, "id", "want a string, not a number"},
		{"admin", "object wanted", "POST", "/v1/cluster/join", admin, `[1]`, 400, "", "want an object, not a list"},
		{"admin", "unknown long field", "POST", "/v1/cluster/remove", admin, `{"` + huge + `":1}`, 400, strings.Repeat("Z", 32) + "…", "unknown field"},
		{"admin", "trailing data", "POST", "/v1/cluster/transfer-leader", admin, `{"id":"n1"} {"id":"n2"}`, 400, "", "trailing data"},
		{"replication", "string wanted", "POST", "/v1/replication/suspend", admin, `{"target":["reporting"]}`, 400, "target", "want a string, not a list"},
		{"replication", "huge duration", "POST", "/v1/replication/sync", admin, `{"target":"reporting","all":true,"run_for":"` + huge + `"}`, 400, "run_for", "positive duration"},

		// The peer protocol: package cluster decodes its envelope itself.
		{"peer", "envelope field of the wrong type", "POST", "/v1/internal/apply", admin, `{"type":"config.apply","v":"one","time":1,"id":"x"}`, 400, "", "want an integer, not a string"},
		{"peer", "document of the wrong shape", "POST", "/v1/internal/apply", admin, envelopeWith(t, `{"document":{"agents":[{"id":"a1","queues":"sales"}]}}`), 400, "agents[0].queues", "want a list of strings, not a string"},
		{"peer", "join of the wrong type", "POST", "/v1/internal/join", admin, `{"id":["n9"]}`, 400, "", "want a string, not a list"},

		// The console on its admin mount.
		{"console/admin", "note of the wrong type", "POST", "/v1/console/ops/note", admin, `{"agent":"a1","call":"c1","note":5}`, 400, "note", "want a string, not a number"},
		{"console/admin", "bidi note", "POST", "/v1/console/ops/note", admin, `{"agent":"a1","call":"c1","note":"see \u202e"}`, 400, "note", "U+202E"},
		{"console/admin", "huge call id", "POST", "/v1/console/ops/note", admin, `{"agent":"a1","call":"` + huge + `","note":"n"}`, 400, "call", "at most 64"},
		{"console/admin", "skills of the wrong type", "POST", "/v1/console/ops/incoming", admin, `{"call":"c9","queue":"sales","skills":["en"]}`, 400, "skills", "want an object, not a list"},
		{"console/admin", "forwarding time", "POST", "/v1/console/ops/forwarding", admin, `{"user":"ann","forwarding":{"calendar":[{"id":"c","start":"` + huge + `"}]}}`, 400, "forwarding.calendar[0].start", "want a time"},
		{"console/admin", "unknown long operation", "POST", "/v1/console/ops/" + strings.Repeat("o", 4000), admin, `{}`, 404, "", "unknown operation"},
		{"console/admin", "long query value", "GET", "/v1/console/line-status?extension=" + strings.Repeat("9", 4000), admin, "", 404, "", "unknown extension"},

		// The console on its public address.
		{"console/public", "reason of the wrong type", "POST", "public:/ops/pause", session, `{"reason":["lunch"]}`, 400, "reason", "want a string, not a list"},
		{"console/public", "acting for another, hugely", "POST", "public:/ops/answer", session, `{"agent":"` + huge + `"}`, 403, "agent", "you act as agent"},
		{"console/public", "PIN of the wrong type", "POST", "public:/voicemail/pin", session, `{"pin":123456}`, 400, "pin", "want a string, not a number"},
		{"console/public", "huge mailbox to monitor", "POST", "public:/voicemail/monitor", session, `{"mailbox":"` + huge + `","pin":"123456","monitor":true}`, 400, "mailbox", "at most 15"},
		{"console/public", "preferences grace of the wrong type", "POST", "public:/ops/preferences", session, `{"preferences":{"failover_grace_seconds":"5"}}`, 400, "preferences.failover_grace_seconds", "want an integer, not a string"},
		{"console/public", "log-in of the wrong type", "POST", "public:/session", "", `{"user":5,"password":[]}`, 400, "", "want"},
		{"console/public", "long position", "GET", "public:/events?since=" + strings.Repeat("1", 4000) + "x", session, "", 400, "since", "is not INDEX"},
	}
	for _, tt := range tests {
		t.Run(tt.surface+"/"+tt.name, func(t *testing.T) {
			url := r.admin + tt.path
			if p, ok := strings.CutPrefix(tt.path, "public:"); ok {
				url = r.public + p
			}
			bearer := tt.auth
			switch tt.auth {
			case admin:
				bearer = token
			case session:
				bearer = r.session
			}
			start := time.Now()
			code, body := r.do(t, tt.method, url, bearer, tt.body)
			took := time.Since(start)
			if code != tt.status {
				t.Errorf("HTTP %d %s; want %d", code, trim(body), tt.status)
			}
			var e apierr.Error
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", trim(body), err)
			}
			if e.Field != tt.field {
				t.Errorf("field %q; want %q (message %q)", e.Field, tt.field, e.Message)
			}
			if !strings.Contains(e.Message, tt.wantIn) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantIn)
			}
			checkHostileMessage(t, e.Message)
			if took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// checkHostileMessage: one line of at most apierr.MaxMessageRunes, no Go
// type names, no more than a short prefix of any hostile value.
func checkHostileMessage(t *testing.T, msg string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") || len([]rune(msg)) > apierr.MaxMessageRunes {
		t.Errorf("message is not one short line: %.300q", msg)
	}
	for _, w := range goTypeNames {
		if strings.Contains(msg, w) {
			t.Errorf("message %q names a Go type (%q)", msg, w)
		}
	}
	for _, c := range "ZaNxso9" {
		if strings.Contains(msg, strings.Repeat(string(c), 40)) {
			t.Errorf("message quotes more than a short prefix: %.200q", msg)
		}
	}
}

// The message of every error is one short line without Go types, however
// the layer that failed built it (apierr.Message is the last word).
func TestMessageOfAnyError(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("decoding request: json: cannot unmarshal string into Go struct field Envelope.v of type int"),
		fmt.Errorf("yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `x` into []string"),
		fmt.Errorf("%s", strings.Repeat("long ", 1000)),
	} {
		checkHostileMessage(t, apierr.From(err).Message)
	}
}
