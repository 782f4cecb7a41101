package apierr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/replication"
)

func TestStatusOfEveryCode(t *testing.T) {
	want := map[apierr.Code]int{
		apierr.BadRequest: 400, apierr.Unauthorized: 401, apierr.Forbidden: 403, apierr.NotFound: 404,
		apierr.MethodNotAllowed: 405, apierr.Refused: 409, apierr.PreconditionFailed: 412, apierr.TooLarge: 413, apierr.HeadersTooLarge: 431, apierr.TooManyRequests: 429, apierr.Canceled: 499,
		apierr.Internal: 500, apierr.NotImplemented: 501, apierr.NotLeader: 503, apierr.Unavailable: 503, apierr.Timeout: 504,
		apierr.NoSpace: 507,
	}
	if len(apierr.Codes()) != len(want) {
		t.Fatalf("Codes() = %v; the table has %d", apierr.Codes(), len(want))
	}
	for _, c := range apierr.Codes() {
		if got := c.Status(); got != want[c] {
			t.Errorf("%s: status %d, want %d", c, got, want[c])
		}
		if back := apierr.CodeOf(c.Status()); back.Status() != c.Status() {
			t.Errorf("CodeOf(%d) = %s, which is answered with %d", c.Status(), back, back.Status())
		}
	}
	if s := apierr.Code("no_such_code").Status(); s != 500 {
		t.Errorf("unknown code: status %d, want 500", s)
	}
	for status, code := range map[int]apierr.Code{418: apierr.BadRequest, 502: apierr.Internal, 503: apierr.Unavailable} {
		if got := apierr.CodeOf(status); got != code {
			t.Errorf("CodeOf(%d) = %s, want %s", status, got, code)
		}
	}
}

// The one mapping: every kind of error the surfaces meet, with the status,
// code, field and message it is answered with.
func TestFrom(t *testing.T) {
	enospc := &os.PathError{Op: "write", Path: "/data/replication/state.json", Err: syscall.ENOSPC}
	tests := []struct {
		name   string
		err    error
		status int
		code   apierr.Code
		field  string
		msg    string
	}{
		{"an API error", apierr.Errorf(apierr.NotFound, "unknown agent %q", "a9"), 404, apierr.NotFound, "", `unknown agent "a9"`},
		{"an API error with context", fmt.Errorf("pause: %w", apierr.Errorf(apierr.Forbidden, "not yours").WithField("agent")),
			403, apierr.Forbidden, "agent", "pause: not yours"},
		{"engine refusal", &cluster.Refusal{Msg: "nothing is ringing"}, 409, apierr.Refused, "", "nothing is ringing"},
		{"engine refusal naming a field", &cluster.Refusal{Msg: `agents[0].queues[0]: unknown queue "x"`, Field: "agents[0].queues[0]"},
			400, apierr.BadRequest, "agents[0].queues[0]", `agents[0].queues[0]: unknown queue "x"`},
		{"wrapped refusal", fmt.Errorf("joining via http://m:7070: %w", &cluster.Refusal{Msg: "already a member"}),
			409, apierr.Refused, "", "joining via http://m:7070: already a member"},
		{"refusal of a stale version", &cluster.Refusal{Msg: "preferences: saved from revision 1, but another console saved revision 2 since", Code: apierr.PreconditionFailed},
			412, apierr.PreconditionFailed, "", "preferences: saved from revision 1, but another console saved revision 2 since"},
		{"replication refusal", &replication.Refusal{Msg: `unknown replication target "x"`}, 409, apierr.Refused, "", `unknown replication target "x"`},
		{"invalid document", &contactcenter.FieldError{Field: "queues[0].strategy", Msg: "unknown strategy"},
			400, apierr.BadRequest, "queues[0].strategy", "queues[0].strategy: unknown strategy"},
		{"bad input wrapped as such", apierr.Wrap(apierr.BadRequest, errors.New("yaml: line 2: did not find expected node")),
			400, apierr.BadRequest, "", "yaml: line 2: did not find expected node"},
		{"no leader", fmt.Errorf("linearizable read: %w", cluster.ErrNoLeader), 503, apierr.NotLeader, "", "linearizable read: no cluster leader"},
		{"raft not leader, classified", apierr.Wrap(apierr.NotLeader, fmt.Errorf("adding n3: %w", raft.ErrNotLeader)),
			503, apierr.NotLeader, "", "adding n3: node is not the leader"},
		{"unavailable", apierr.Wrap(apierr.Unavailable, raft.ErrRaftShutdown), 503, apierr.Unavailable, "", "raft is already shutdown"},
		{"client gone", fmt.Errorf("applying x: %w", context.Canceled), 499, apierr.Canceled, "", "applying x: context canceled"},
		{"deadline", fmt.Errorf("applying x: %w (last error: leadership lost)", context.DeadlineExceeded),
			504, apierr.Timeout, "", "applying x: context deadline exceeded (last error: leadership lost)"},
		{"disk full", fmt.Errorf("saving state: %w", enospc), 507, apierr.NoSpace, "", "saving state: write /data/replication/state.json: no space left on device"},
		{"quota", syscall.EDQUOT, 507, apierr.NoSpace, "", syscall.EDQUOT.Error()},
		{"anything else", errors.New("unexpected apply response"), 500, apierr.Internal, "", "unexpected apply response"},
		{"a stated kind wins over the chain", apierr.Wrap(apierr.NotLeader, fmt.Errorf("x: %w", context.DeadlineExceeded)),
			503, apierr.NotLeader, "", "x: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := apierr.From(tt.err)
			if e.Status() != tt.status || e.Code != tt.code || e.Field != tt.field || e.Message != tt.msg {
				t.Errorf("From(%v) = %d %+v; want %d {%s %q %s}", tt.err, e.Status(), *e, tt.status, tt.code, tt.msg, tt.field)
			}
			if !errors.Is(tt.err, tt.err) {
				t.Errorf("the error lost its identity")
			}
		})
	}
	if apierr.From(nil) != nil {
		t.Error("From(nil) is not nil")
	}
	if err := apierr.Wrap(apierr.Timeout, nil); err != nil {
		t.Errorf("Wrap(nil) = %v", err)
	}
	inner := &cluster.Refusal{Msg: "m"}
	var ref *cluster.Refusal
	if w := apierr.Wrap(apierr.NoSpace, inner); !errors.As(w, &ref) || ref != inner {
		t.Error("Wrap hides the error it wraps from errors.As")
	}
}

// Write answers exactly {"code","message"[,"field"]} with the code's
// status, and Decode reads it back.
func TestWriteAndDecode(t *testing.T) {
	for _, err := range []error{
		apierr.Errorf(apierr.Unauthorized, "missing or wrong admin token"),
		&cluster.Refusal{Msg: `unknown queue "<b>"`, Field: "agents[0].queues[0]"},
		errors.New("boom"),
	} {
		rec := httptest.NewRecorder()
		apierr.Write(rec, err)
		want := apierr.From(err)
		if rec.Code != want.Status() || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%v: %d %q", err, rec.Code, rec.Header().Get("Content-Type"))
		}
		checkShape(t, rec.Body.Bytes(), want.Code, want.Field)
		got, ok := apierr.Decode(rec.Code, rec.Body.Bytes())
		if !ok || *got != *want {
			t.Errorf("Decode(%s) = %+v %v, want %+v", rec.Body, got, ok, want)
		}
	}
	for _, tt := range []struct {
		status int
		body   string
		want   apierr.Error
	}{
		{503, "starting\n", apierr.Error{Code: apierr.Unavailable, Message: "starting"}},
		{404, "", apierr.Error{Code: apierr.NotFound, Message: "Not Found"}},
		{409, `{"error":"an older build's shape"}`, apierr.Error{Code: apierr.Refused, Message: `{"error":"an older build's shape"}`}},
	} {
		got, ok := apierr.Decode(tt.status, []byte(tt.body))
		if ok || *got != tt.want {
			t.Errorf("Decode(%d, %q) = %+v %v, want %+v false", tt.status, tt.body, got, ok, tt.want)
		}
	}
}

// A request no route matches is answered in the error shape too.
func TestMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a")) })
	mux.HandleFunc("POST /b/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.PathValue("id"))) })
	mux.HandleFunc("/sub/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("sub")) })
	h := apierr.Mux(mux)
	for _, tt := range []struct {
		method, path string
		status       int
		code         apierr.Code
		allow        string
	}{
		{"GET", "/a", 200, "", ""},
		{"POST", "/b/7", 200, "", ""},
		{"GET", "/sub/x", 200, "", ""},
		{"GET", "/sub", 3, "", ""}, // a redirect to /sub/ (its status depends on the Go release)
		{"GET", "/nope", 404, apierr.NotFound, ""},
		{"DELETE", "/a", 405, apierr.MethodNotAllowed, "GET, HEAD"},
		{"GET", "/b/7", 405, apierr.MethodNotAllowed, "POST"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if (rec.Code != tt.status && rec.Code/100 != tt.status) || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q; want %d Allow %q", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), tt.status, tt.allow)
		}
		if tt.code != "" {
			checkShape(t, rec.Body.Bytes(), tt.code, "")
		}
	}
}

// checkShape checks that body is exactly {"code","message"[,"field"]}.
func checkShape(t *testing.T, body []byte, code apierr.Code, field string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("body %s: %v", body, err)
		return
	}
	want := 2
	if field != "" {
		want = 3
	}
	if len(m) != want || m["code"] != string(code) || m["message"] == "" || m["message"] == nil || (field != "" && m["field"] != field) {
		t.Errorf("body %s; want exactly code %q, a message and field %q", body, code, field)
	}
}

// Every message is one line of at most MaxMessageRunes naming no Go type,
// however the failing layer built it; fields are bounded too.
func TestMessage(t *testing.T) {
	long := strings.Repeat("é", 3000)
	for _, tt := range []struct{ in, want string }{
		{"decoding request: json: cannot unmarshal string into Go struct field Envelope.v of type int", "decoding request: v: want an integer, not a string"},
		{"json: cannot unmarshal array into Go value of type map[string]interface {}", "want an object, not a list"},
		{"config: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `x` into []string\n  line 4: cannot unmarshal !!seq into int",
			"config: yaml: unmarshal errors:; line 3: a value of the wrong kind (str); line 4: a value of the wrong kind (seq)"},
		{"a\r\nb", "a; b"},
		{"plain", "plain"},
		{long, long[:2*(apierr.MaxMessageRunes-1)] + "…"},
	} {
		if got := apierr.Message(tt.in); got != tt.want {
			t.Errorf("Message(%.60q) = %.80q, want %.80q", tt.in, got, tt.want)
		}
	}
	e := apierr.From(&contactcenter.FieldError{Field: strings.Repeat("f", 1000), Msg: long})
	if n := len([]rune(e.Message)); n > apierr.MaxMessageRunes {
		t.Errorf("message of %d runes", n)
	}
	if n := len([]rune(e.Field)); n > apierr.MaxFieldRunes {
		t.Errorf("field of %d runes", n)
	}
	if q := apierr.Quote(long); q != `"`+strings.Repeat("é", 32)+`…"` {
		t.Errorf("Quote = %q", q)
	}
}
