package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandemcc/tandem/internal/apierr"
)

type ctlResult struct {
	code           int
	stdout, stderr string
}

// runCtl runs tandemctl with args and the given environment variables, in
// a fresh working directory (no ./tandem-data/admin.token to find).
func runCtl(t *testing.T, vars map[string]string, args ...string) ctlResult {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{
		getenv: func(k string) string { return vars[k] },
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errb,
	}
	code := run(context.Background(), args, e)
	return ctlResult{code, out.String(), errb.String()}
}

// assertOneLine checks that s is exactly one line.
func assertOneLine(t *testing.T, what, s string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("%s is not one line: %q", what, s)
	}
}

// forbidden is an admin API that fails the test if anything reaches it.
func forbidden(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown global flag", []string{"--bogus", "status"}, "-bogus"},
		{"cluster without subcommand", []string{"cluster"}, "missing subcommand"},
		{"cluster unknown subcommand", []string{"cluster", "merge"}, `unknown subcommand "merge"`},
		{"status with argument", []string{"status", "now"}, `unexpected argument "now"`},
		{"status unknown flag", []string{"status", "--watch"}, "-watch"},
		{"bad output format", []string{"--addr", srv.URL, "--token", "t", "-o", "yaml", "status"}, `"yaml" is not text or json`},
		{"join without member", []string{"cluster", "join"}, "missing argument"},
		{"join two members", []string{"cluster", "join", "a:1", "b:2"}, `unexpected argument "b:2"`},
		{"remove without id", []string{"cluster", "remove"}, "missing argument"},
		{"transfer two ids", []string{"cluster", "transfer-leader", "n1", "n2"}, `unexpected argument "n2"`},
		{"recover without force", []string{"cluster", "recover", "--data-dir", "x"}, "--force-quorum is required"},
		{"recover without data dir", []string{"cluster", "recover", "--force-quorum"}, "--data-dir is required"},
		{"migrate-log without data dir", []string{"cluster", "migrate-log"}, "--data-dir is required"},
		{"apply without file", []string{"apply"}, "-f FILE is required"},
		{"apply flag without value", []string{"apply", "-f"}, "-f"},
		{"misspelt command", []string{"stauts"}, `unknown command "stauts" (did you mean status?)`},
		{"global flag without value", []string{"status", "--addr"}, "flag needs an argument: --addr"},
		{"single-dash long flag", []string{"status", "-addr", srv.URL}, "unknown shorthand flag: 'a' in -addr"},
		{"backup now without level", []string{"backup", "now"}, "--level 0 (full) or --level 1 (incremental) is required"},
		{"backup now bad level", []string{"backup", "now", "--level", "2"}, "--level 0 (full) or --level 1 (incremental) is required"},
		{"backup now level not a number", []string{"backup", "now", "--level", "full"}, `invalid argument "full" for "--level"`},
		{"backup now bad poll", []string{"backup", "now", "--level", "0", "--poll", "0s"}, "--poll must be positive"},
		{"backup verify without id", []string{"backup", "verify"}, "backup verify: missing argument ID"},
		{"backup restore without from", []string{"backup", "restore", "--data-dir", "x"}, "--from and --data-dir are required"},
		{"backup restore not on a terminal", []string{"backup", "restore", "--from", "x", "--data-dir", "y"}, "pass --yes to confirm"},
		{"suspend with rate", []string{"replication", "suspend", "--target", "reporting", "--rate", "5"}, "--rate applies to resume only"},
		{"shutdown with target", []string{"replication", "shutdown", "--target", "reporting"}, "it takes no --target"},
		{"phone provision without phone", []string{"phone", "provision", "2001"}, "phone provision: missing argument PHONE_ID"},
		{"completion of no shell", []string{"completion"}, "completion: missing subcommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCtl(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			assertOneLine(t, "stderr", r.stderr)
			if !strings.HasPrefix(r.stderr, "tandemctl: ") || !strings.Contains(r.stderr, tt.wantIn) {
				t.Errorf("stderr %q: want %q", r.stderr, tt.wantIn)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"status", "-h"}, {"--addr", "x", "help", "status"}, {"status", "--help", "-o", "json"}} {
		r := runCtl(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:\n  tandemctl ") || r.stderr != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyRefusesBadFilesBeforeAnyRequest(t *testing.T) {
	srv := forbidden(t)
	tests := []struct {
		name   string
		body   string
		wantIn []string
	}{
		{"unknown field", "agents:\n  - id: a1\n    nmae: Ann\n", []string{"nmae", "line 3"}},
		{"unknown top-level field", "queus:\n  - id: q1\n", []string{"queus"}},
		{"bad strategy", "queues:\n  - id: q1\n    strategy: random\n", []string{"queues[0].strategy", "random"}},
		{"bad id", "agents:\n  - id: \"a 1\"\n", []string{"agents[0].id"}},
		{"bad extension", "extensions:\n  - number: abc\n", []string{"extensions[0].number"}},
		{"invalid yaml", "queues: [\n", []string{"config:"}},
		{"wrong type", "queues: 7\n", []string{"config:"}},
		{"empty file", "", []string{"empty document"}},
		{"two documents", "queues: []\n---\nagents: []\n", []string{"more than one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "config.yaml", tt.body)
			r := runCtl(t, nil, "--addr", srv.URL, "--token", "secret-token", "apply", "-f", file)
			if r.code == 0 {
				t.Fatalf("apply of a bad file succeeded: %q", r.stdout)
			}
			assertOneLine(t, "stderr", r.stderr)
			if !strings.Contains(r.stderr, file) {
				t.Errorf("stderr %q does not name the file", r.stderr)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		r := runCtl(t, nil, "--addr", srv.URL, "--token", "x", "apply", "-f", filepath.Join(t.TempDir(), "none.yaml"))
		if r.code == 0 || !strings.Contains(r.stderr, "none.yaml") {
			t.Fatalf("code %d stderr %q", r.code, r.stderr)
		}
		assertOneLine(t, "stderr", r.stderr)
	})
}

const goodConfig = "queues:\n  - id: sales\n    strategy: round-robin\n"

func TestApplySendsFile(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/v1/config":
			t.Errorf("request %s %s", r.Method, r.URL)
		case r.Header.Get("Authorization") != "Bearer secret-token":
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		case r.Header.Get("Content-Type") != "application/yaml":
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		case string(body) != goodConfig:
			t.Errorf("body = %q", body)
		}
		prune := r.URL.Query().Get("prune") == "true"
		w.Header().Set("Content-Type", "application/json")
		if prune {
			io.WriteString(w, `{"index":9,"result":{"created":0,"updated":0,"removed":2,"unchanged":1}}`)
			return
		}
		io.WriteString(w, `{"index":7,"result":{"created":1,"updated":0,"removed":0,"unchanged":0}}`)
	}))
	defer srv.Close()
	file := writeFile(t, "config.yaml", goodConfig)

	r := runCtl(t, nil, "--addr", srv.URL, "--token", "secret-token", "apply", "-f", file)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("apply: code %d stderr %q", r.code, r.stderr)
	}
	if want := "applied " + file + ": 1 created, 0 updated, 0 removed, 0 unchanged (index 7)\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	r = runCtl(t, map[string]string{"TANDEM_ADMIN_TOKEN": "secret-token"}, "--addr", srv.URL, "apply", "--prune", "-f", file)
	if r.code != 0 || !strings.Contains(r.stdout, "2 removed") {
		t.Fatalf("apply --prune: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if calls.Load() != 2 {
		t.Errorf("server called %d times, want 2", calls.Load())
	}
}

const cannedStatus = `{"node_id":"n1","role":"leader","leader_id":"n1","term":3,"commit_index":42,"applied_index":42,"ready":true,
"nodes":[{"id":"n1","address":"10.0.0.1:7000","suffrage":"voter","admin_addr":"http://10.0.0.1:7070"}],
"replication":{"reporting":{"state":"active","buffer_percent":12.5}},
"backup":{"last_full":"2026-05-01T02:00:00Z","last_incremental":null},"extra":{"x":[1,2]},
"snmp":{"addr":"127.0.0.1:1161","packets":17,"requests":{"get":3,"getbulk":9,"getnext":0,"set":1},"dropped":{"community":4,"host":0},
"reports":2,"traps_sent":{"leaderChange":1},"traps_failed":{},"trap_profile":"noc"}}`

func statusServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			apierr.Write(w, apierr.Errorf(apierr.Unauthorized, "missing or wrong admin token"))
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/v1/status" {
			t.Errorf("request %s %s", r.Method, r.URL)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, cannedStatus)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusJSON(t *testing.T) {
	srv := statusServer(t, "tok-1")
	var want bytes.Buffer
	if err := json.Indent(&want, []byte(cannedStatus), "", "  "); err != nil {
		t.Fatal(err)
	}
	want.WriteByte('\n')
	tests := []struct {
		name string
		vars map[string]string
		args []string
	}{
		{"flags before command", nil, []string{"--addr", srv.URL, "--token", "tok-1", "-o", "json", "status"}},
		{"flags after command", nil, []string{"status", "-o", "json", "--addr", srv.URL, "--token", "tok-1"}},
		{"addr and token from env", map[string]string{"TANDEM_ADDR": srv.URL, "TANDEM_ADMIN_TOKEN": "tok-1"}, []string{"-o", "json", "status"}},
		{"addr without scheme", nil, []string{"--addr", strings.TrimPrefix(srv.URL, "http://"), "--token", "tok-1", "-o", "json", "status"}},
		{"long forms with =", nil, []string{"status", "--output=json", "--addr=" + srv.URL, "--token=tok-1"}},
		{"some before, some after", map[string]string{"TANDEM_ADMIN_TOKEN": "tok-1"}, []string{"--addr", srv.URL, "status", "-ojson"}},
		{"token file", nil, []string{"--addr", srv.URL, "--token-file", writeFile(t, "tok", "tok-1\n"), "status", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCtl(t, tt.vars, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("code %d stderr %q", r.code, r.stderr)
			}
			if r.stdout != want.String() {
				t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want.String())
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	srv := statusServer(t, "tok-1")
	r := runCtl(t, nil, "--addr", srv.URL, "--token", "tok-1", "status")
	if r.code != 0 {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	for _, w := range []string{"n1 (leader)", "term 3", "commit 42", "10.0.0.1:7000", "voter", "reporting", "active", "12.5%", "2026-05-01T02:00:00Z", "last incremental never",
		"127.0.0.1:1161", "packets 17", "requests get 3, getbulk 9, set 1", "reports 2", "dropped community 4\n",
		"traps (noc) sent leaderChange 1", "failed none"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("status text lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestServerErrorIsOneLine(t *testing.T) {
	srv := statusServer(t, "right")
	r := runCtl(t, nil, "--addr", srv.URL, "--token", "wrong", "status")
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	assertOneLine(t, "stderr", r.stderr)
	if !strings.Contains(r.stderr, "missing or wrong admin token (HTTP 401)") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestUnreachableServerIsOneLine(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	r := runCtl(t, nil, "--addr", addr, "--token", "t", "status")
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	assertOneLine(t, "stderr", r.stderr)
	if !strings.Contains(r.stderr, "reaching "+addr) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestMissingToken(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	for _, args := range [][]string{
		{"--addr", srv.URL, "status"},
		{"--addr", srv.URL, "cluster", "remove", "n2"},
		{"--addr", srv.URL, "apply", "-f", writeFile(t, "c.yaml", goodConfig)},
	} {
		r := runCtl(t, nil, args...)
		if r.code != 1 {
			t.Errorf("%v: exit code %d, want 1", args, r.code)
		}
		assertOneLine(t, "stderr", r.stderr)
		if !strings.Contains(r.stderr, "no admin token") || !strings.Contains(r.stderr, "--token") {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tokFile := writeFile(t, "tok", "  from-file\n")
	if err := os.MkdirAll("tandem-data", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("tandem-data", "admin.token"), []byte("from-data-dir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		g       globals
		vars    map[string]string
		want    string
		wantErr string
	}{
		{"flag beats env", globals{token: "from-flag", tokenFile: tokFile}, map[string]string{"TANDEM_ADMIN_TOKEN": "from-env"}, "from-flag", ""},
		{"env beats file", globals{tokenFile: tokFile}, map[string]string{"TANDEM_ADMIN_TOKEN": "from-env"}, "from-env", ""},
		{"token file trimmed", globals{tokenFile: tokFile}, nil, "from-file", ""},
		{"default data dir file", globals{}, nil, "from-data-dir", ""},
		{"missing token file", globals{tokenFile: filepath.Join(dir, "nope")}, nil, "", "reading token file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.g.resolveToken(env{getenv: func(k string) string { return tt.vars[k] }})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveToken = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("resolveToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestClusterCommandsSendRequests(t *testing.T) {
	type seen struct{ path, body string }
	got := make(chan seen, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.Path, strings.TrimSpace(string(b))}
		io.WriteString(w, `{"result":"ok","leader_id":"n2"}`)
	}))
	defer srv.Close()
	tests := []struct {
		args      []string
		want      seen
		wantPrint string
	}{
		{[]string{"cluster", "join", "10.0.0.2:7070"}, seen{"/v1/cluster/join", `{"addr":"http://10.0.0.2:7070"}`}, "joined the cluster of http://10.0.0.2:7070"},
		{[]string{"cluster", "remove", "n3"}, seen{"/v1/cluster/remove", `{"id":"n3"}`}, "removed n3"},
		{[]string{"cluster", "transfer-leader"}, seen{"/v1/cluster/transfer-leader", `{"id":""}`}, "leader is now n2"},
		{[]string{"cluster", "transfer-leader", "n2"}, seen{"/v1/cluster/transfer-leader", `{"id":"n2"}`}, "leader is now n2"},
	}
	for _, tt := range tests {
		r := runCtl(t, nil, append([]string{"--addr", srv.URL, "--token", "t"}, tt.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, tt.wantPrint) {
			t.Errorf("%v: code %d stdout %q stderr %q", tt.args, r.code, r.stdout, r.stderr)
			continue
		}
		if s := <-got; s != tt.want {
			t.Errorf("%v: server saw %+v, want %+v", tt.args, s, tt.want)
		}
	}
}

// A failed request prints one line: the API's message, led by the field
// when the message does not name it, and the status; anything that is
// not the API's error shape verbatim.
func TestAnswerError(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"field in the message", 400, `{"code":"bad_request","message":"agents[0].queues[0]: unknown queue \"suport\"","field":"agents[0].queues[0]"}`,
			`agents[0].queues[0]: unknown queue "suport" (HTTP 400)`},
		{"field not in the message", 400, `{"code":"bad_request","message":"must be a positive duration","field":"run_for"}`,
			"run_for: must be a positive duration (HTTP 400)"},
		{"no field", 409, `{"code":"refused","message":"refusing to remove the last voter"}`,
			"refusing to remove the last voter (HTTP 409)"},
		{"not the API", 502, "<html>Bad Gateway</html>\n", "POST /v1/config: HTTP 502: <html>Bad Gateway</html>"},
		{"empty", 503, "", "POST /v1/config: HTTP 503: Service Unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := answerError("POST", "/v1/config", tt.status, []byte(tt.body))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
