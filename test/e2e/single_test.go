package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baseConfig is a small but complete configuration document.
const baseConfig = `business_units:
  - id: bu1
    name: Sales
extensions:
  - number: "2001"
    phones:
      - id: desk
        position: 0
        order: 1
users:
  - id: alice
    name: Alice
    extension: "2001"
    business_unit: bu1
queues:
  - id: support
    business_unit: bu1
    strategy: round-robin
agents:
  - id: a1
    user: alice
    extension: "2001"
    queues: [support]
    skills: {english: 5}
`

// TestSingleNodeDefaults: tandemd with nothing but its ports, in a working
// directory of its own, keeps its state in ./tandem-data, generates a 0600
// admin token it never logs, serves health, readiness and metrics without
// a token and everything else only with it, and after SIGKILL and a restart
// has every committed change back. SIGTERM exits 0.
func TestSingleNodeDefaults(t *testing.T) {
	n := newNode(t, "", withID(""), withToken(""), withDefaultDataDir())
	n.start()

	dataDir := filepath.Join(n.cwd, "tandem-data")
	if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
		t.Fatalf("default data dir ./tandem-data not created: %v", err)
	}
	fi, err := os.Stat(n.tokenFile())
	if err != nil {
		t.Fatalf("admin.token: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("admin.token mode = %o, want 600", perm)
	}
	token := n.tokenValue()
	if len(token) < 16 {
		t.Fatalf("generated token %d characters long, want at least 16", len(token))
	}

	waitFor(t, waitShort, "/readyz", func() (bool, string) {
		code, body, err := n.get("/readyz", false)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, string(body)
	})
	// The bench route exists only with --bench-api.
	if code, _, err := n.do(http.MethodPost, "/v1/bench/commit", true, []byte("x"), "application/octet-stream"); err != nil || code != http.StatusNotFound {
		t.Errorf("POST /v1/bench/commit without --bench-api: HTTP %d, %v; want 404", code, err)
	}
	code, body, err := n.get("/metrics", false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics without token: HTTP %d, %v", code, err)
	}
	for name, want := range map[string]float64{
		"tandem_raft_is_leader": 1, "tandem_cluster_voters": 1, "tandem_ready": 1, "tandem_clock_skew_alarm": 0,
	} {
		if v, ok := metric(string(body), name); !ok || v != want {
			t.Errorf("/metrics %s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{"tandem_raft_term", "tandem_raft_commit_index", "tandem_raft_applied_index"} {
		if v, ok := metric(string(body), name); !ok || v < 1 {
			t.Errorf("/metrics %s = %v (present %v), want ≥ 1", name, v, ok)
		}
	}

	// The token guards everything under /v1/.
	for _, p := range []string{"/v1/status", "/v1/config", "/v1/internal/clock"} {
		if code, _, err := n.get(p, false); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: HTTP %d, %v; want 401", p, code, err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, n.url("/v1/status"), nil)
	req.Header.Set("Authorization", "Bearer not-the-token-at-all-0000")
	if resp, err := httpClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/status with a wrong token: %v %v; want 401", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	if code, _, err := n.get("/v1/status", true); err != nil || code != http.StatusOK {
		t.Errorf("GET /v1/status with the token: HTTP %d, %v", code, err)
	}

	// Headers over the limit are refused by the listener itself, before
	// any route, and still in the error shape (issue 12.4).
	for _, addr := range []string{n.adminAddr, n.httpAddr} {
		if addr == "" {
			continue
		}
		code, ctype, body := oversizedHeaders(t, addr)
		if code != http.StatusRequestHeaderFieldsTooLarge || ctype != "application/json" || !strings.Contains(body, `"code":"headers_too_large"`) {
			t.Errorf("%s: 80 KiB of headers answered %d %q %s; want 431 application/json headers_too_large", addr, code, ctype, body)
		}
	}

	// tandemctl finds ./tandem-data/admin.token by itself.
	r := runCtl(n.cwd, "--addr", n.adminAddr, "status", "-o", "json").ok(t)
	if !strings.Contains(r.stdout, `"role": "leader"`) {
		t.Errorf("tandemctl status (default token file) does not show a leader:\n%s", r.stdout)
	}

	r = n.apply(baseConfig).ok(t)
	if !strings.Contains(r.stdout, "5 created") {
		t.Errorf("first apply: want 5 created, got %q", r.stdout)
	}
	before := n.mustConfig("linearizable")
	for _, want := range []string{`"support"`, `"alice"`, `"a1"`, `"2001"`, `"bu1"`} {
		if !strings.Contains(before, want) {
			t.Errorf("config after apply lacks %s: %s", want, before)
		}
	}

	// SIGKILL loses nothing that was acknowledged.
	n.kill()
	n.start()
	waitFor(t, waitShort, "restarted node to be ready", func() (bool, string) {
		st, err := n.status()
		if err != nil {
			return false, err.Error()
		}
		return st.Ready && st.Role == "leader", st.Role
	})
	if got := n.mustConfig("stale"); got != before {
		t.Errorf("stale config after SIGKILL and restart:\n got %s\nwant %s", got, before)
	}
	if got := n.mustConfig("linearizable"); got != before {
		t.Errorf("linearizable config after SIGKILL and restart:\n got %s\nwant %s", got, before)
	}
	code, body, err = n.get("/readyz", false)
	if err != nil || code != http.StatusOK {
		t.Errorf("/readyz after restart: HTTP %d %s %v", code, body, err)
	}
	if tok := n.tokenValue(); tok != token {
		t.Errorf("token changed across restart")
	}
	r = n.apply(baseConfig).ok(t)
	if !strings.Contains(r.stdout, "no changes") {
		t.Errorf("re-applying after restart: want no changes, got %q", r.stdout)
	}

	if code := n.stop(waitShort); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
	logs := n.log()
	if strings.Contains(logs, token) {
		t.Errorf("the admin token appears in the log")
	}
	if !strings.Contains(logs, "admin.token") {
		t.Errorf("the log does not name the token file")
	}
}

// TestBadFlags: a bad flag, value, environment variable or config file
// stops tandemd at once with one line naming the culprit and a non-zero
// exit; so do tandemctl's.
func TestBadFlags(t *testing.T) {
	besideTheBurst(t)
	dir := t.TempDir()
	ports := []string{"--raft-addr", loopback(t), "--admin-addr", loopback(t), "--data-dir", filepath.Join(dir, "data")}
	badYAML := writeTemp(t, "bad-*.yaml", "raft-addrr: 127.0.0.1:1\n")
	badValue := writeTemp(t, "badval-*.yaml", "clock-offset: soon\n")
	cases := []struct {
		name string
		args []string
		env  []string
		want string // must appear in the one line
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, "no-such-flag"},
		{"invalid duration", []string{"--clock-offset", "banana"}, nil, "clock-offset"},
		{"invalid bool", []string{"--force-quorum=perhaps"}, nil, "force-quorum"},
		{"raft addr not host:port", []string{"--raft-addr", "nonsense"}, nil, "--raft-addr"},
		{"raft addr wildcard", []string{"--raft-addr", "0.0.0.0:7000"}, nil, "--raft-addr"},
		{"admin addr without port", []string{"--admin-addr", "127.0.0.1"}, nil, "--admin-addr"},
		{"short token", []string{"--admin-token", "short"}, nil, "--admin-token"},
		{"bad node id", []string{"--node-id", "no spaces please"}, nil, "--node-id"},
		{"bad join", []string{"--join", "::not a url::"}, nil, "--join"},
		{"force quorum with join", []string{"--force-quorum", "--join", "127.0.0.1:7070"}, nil, "--force-quorum"},
		{"stray argument", []string{"extra"}, nil, "extra"},
		{"bad env value", nil, []string{"TANDEM_CLOCK_OFFSET=banana"}, "TANDEM_CLOCK_OFFSET"},
		{"config unknown field", []string{"--config", badYAML}, nil, "raft-addrr"},
		{"config bad value", []string{"--config", badValue}, nil, "clock-offset"},
		{"config missing", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "--config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The bad flag comes last so it overrides the good defaults.
			code, stdout, stderr := runDaemon(t, dir, append(append([]string{}, ports...), c.args...), c.env)
			lines := nonEmptyLines(stderr)
			if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("tandemd %s: exit %d, stderr %d lines %q, stdout %q; want non-zero exit and one line naming %q",
					strings.Join(c.args, " "), code, len(lines), stderr, stdout, c.want)
			}
		})
	}

	// A data dir that belongs to another node is refused, naming --node-id.
	n := newNode(t, "owner")
	n.start()
	if code := n.stop(waitShort); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	args := n.args()
	for i := range args {
		if args[i] == "--node-id" {
			args[i+1] = "intruder"
		}
	}
	code, _, stderr := runDaemon(t, n.cwd, args, nil)
	if lines := nonEmptyLines(stderr); code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "--node-id") {
		t.Errorf("another node id on owner's data: exit %d, stderr %q; want one line naming --node-id", code, stderr)
	}

	// Ports already taken fail at start with a line naming the flag.
	busy := newNode(t, "busy")
	busy.start()
	for _, c := range []struct{ flag, addr string }{{"--admin-addr", busy.adminAddr}, {"--raft-addr", busy.raftAddr}} {
		other := []string{"--node-id", "other", "--data-dir", filepath.Join(t.TempDir(), "d"), "--admin-token", sharedToken,
			"--raft-addr", loopback(t), "--admin-addr", loopback(t), c.flag, c.addr}
		code, _, stderr := runDaemon(t, dir, other, nil)
		lines := nonEmptyLines(stderr)
		if code == 0 || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], c.flag) {
			t.Errorf("%s in use: exit %d, stderr %q; want non-zero exit, last line naming %s", c.flag, code, stderr, c.flag)
		} else if len(lines) != 1 {
			t.Errorf("%s in use: want one line on stderr, got %d: %q", c.flag, len(lines), stderr)
		}
	}

	// A second tandemd on a running node's data dir fails (it does not
	// hang), naming the directory.
	twin := []string{"--node-id", "busy", "--data-dir", busy.dataDir, "--admin-token", sharedToken,
		"--raft-addr", loopback(t), "--admin-addr", loopback(t)}
	code, _, stderr = runDaemon(t, dir, twin, nil)
	if lines := nonEmptyLines(stderr); code == 0 || len(lines) != 1 || !strings.Contains(lines[0], busy.dataDir) {
		t.Errorf("second tandemd on a data dir in use: exit %d, stderr %q; want one line naming %s", code, stderr, busy.dataDir)
	}
	if code, _, err := busy.get("/v1/status", true); err != nil || code != http.StatusOK {
		t.Errorf("the running node suffered from the refused twin: HTTP %d %v", code, err)
	}

	// tandemctl: same rule.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", "status"}, "bogus"},
		{[]string{"-o", "yaml", "--token", sharedToken, "status"}, "-o"},
		{[]string{"--token", sharedToken, "frobnicate"}, "frobnicate"},
		{[]string{"cluster", "recover", "--data-dir", dir}, "--force-quorum"},
		{[]string{"--token", sharedToken, "apply"}, "-f"},
	} {
		r := runCtl(dir, c.args...)
		lines := nonEmptyLines(r.stderr)
		if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("%v\nwant non-zero exit and one line naming %q", r, c.want)
		}
	}
}

// runDaemon runs tandemd expecting it to stop by itself (bounded).
func runDaemon(t *testing.T, dir string, args, env []string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	cmd := exec.CommandContext(ctx, tandemdBin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("tandemd %v did not exit within %v (it should have refused to start)\n%s", args, waitShort, se.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running tandemd: %v", err)
	}
	return code, so.String(), se.String()
}

// TestApplyReferencesExistingObjects: apply upserts what a document names
// (contactcenter.Document), so a later document may refer to objects an
// earlier apply created — through tandemctl and through the API.
func TestApplyReferencesExistingObjects(t *testing.T) {
	besideTheBurst(t)
	n := newNode(t, "refs")
	n.start()
	n.apply(baseConfig).ok(t)
	doc := "agents:\n  - id: a2\n    user: alice\n    queues: [support]\n"
	if r := n.apply(doc); r.code != 0 {
		t.Errorf("agent referring to the existing queue \"support\" and user \"alice\" refused by tandemctl:\n%v", r)
	}
	code, body, err := n.do(http.MethodPost, "/v1/config", true, []byte(doc), "application/yaml")
	if err != nil || code != http.StatusOK {
		t.Errorf("POST /v1/config with an agent referring to existing objects: HTTP %d %s %v", code, body, err)
	}
	if got := n.mustConfig("linearizable"); code == http.StatusOK && !strings.Contains(got, `"a2"`) {
		t.Errorf("agent a2 not in the config: %s", got)
	}
}

// TestFlagsFromEnvAndConfig: every flag may come from TANDEM_<FLAG> or a
// --config YAML file; a flag beats the environment, which beats the file.
func TestFlagsFromEnvAndConfig(t *testing.T) {
	n := newNode(t, "from-flag")
	cfg := writeTemp(t, "tandemd-*.yaml", fmt.Sprintf("node-id: from-file\nraft-addr: %q\nadmin-addr: 127.0.0.1:1\n", n.raftAddr))
	// Node id: flag wins over env and file. Admin address: env wins over
	// the file's unusable one. Raft address: only in the file. Token:
	// only in the environment.
	n.rawArgs = []string{"--config", cfg, "--node-id", "from-flag", "--data-dir", n.dataDir}
	n.env = []string{"TANDEM_NODE_ID=from-env", "TANDEM_ADMIN_ADDR=" + n.adminAddr, "TANDEM_ADMIN_TOKEN=" + sharedToken}
	n.start()
	st := waitLeader(t, []*node{n}, 1)
	s := st.ctlStatus()
	if s.NodeID != "from-flag" || len(s.Nodes) != 1 || s.Nodes[0].Address != n.raftAddr {
		t.Errorf("status: node_id %q nodes %+v; want from-flag at %s", s.NodeID, s.Nodes, n.raftAddr)
	}
	if code := n.stop(waitShort); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
}

// TestOneNodeAdministration: handing leadership over on a one-node
// cluster is one clear line, not a 500; the node's log (not a terminal:
// JSON) has one format, the Raft library's lines included (issue 12.6).
func TestOneNodeAdministration(t *testing.T) {
	besideTheBurst(t)
	n := newNode(t, "solo")
	n.start()
	waitLeader(t, []*node{n}, 1)
	r := n.ctl("cluster", "transfer-leader")
	lines := nonEmptyLines(r.stderr)
	if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "this cluster has one voter: there is no other node to hand leadership to") {
		t.Fatalf("transfer-leader on one node: %v", r)
	}
	if st := n.ctlStatus(); st.Role != "leader" {
		t.Fatalf("after the refused transfer: %+v", st)
	}
	// A no-op apply commits nothing: the second apply of the same file
	// is answered "no changes" and the commit index does not move.
	doc := "queues:\n  - {id: q1, name: Queue one}\n"
	n.apply(doc).ok(t)
	var before uint64
	waitFor(t, waitShort, "the commit index to settle", func() (bool, string) {
		a := n.ctlStatus().CommitIndex
		time.Sleep(300 * time.Millisecond)
		before = n.ctlStatus().CommitIndex
		return a == before, fmt.Sprintf("%d then %d", a, before)
	})
	if r := n.apply(doc).ok(t); !strings.Contains(r.stdout, "no changes") {
		t.Errorf("a repeated apply: %q", r.stdout)
	}
	if after := n.ctlStatus().CommitIndex; after != before {
		t.Errorf("a no-op apply moved the commit index from %d to %d", before, after)
	}
	raftLines := 0
	for _, line := range nonEmptyLines(n.log()) {
		if strings.HasPrefix(line, "=== e2e:") {
			continue // the harness's own marker
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil || rec["time"] == nil {
			t.Errorf("log line not in the node's JSON format: %s", line)
			continue
		}
		if rec["component"] == "raft" {
			raftLines++
		}
		if k := repeatedKey(line); k != "" {
			t.Errorf("log line has the key %q twice: %s", k, line)
		}
	}
	if raftLines == 0 {
		t.Errorf("no line of the Raft library in the node's log:\n%s", n.log())
	}
}

// oversizedHeaders sends a request with 80 KiB of headers to addr and
// returns the reply's status, content type and body.
func oversizedHeaders(t *testing.T, addr string) (int, string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	req.WriteString("GET /healthz HTTP/1.1\r\nHost: x\r\n")
	for i := range 80 {
		fmt.Fprintf(&req, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", 1024))
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatalf("sending 80 KiB of headers to %s: %v", addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to 80 KiB of headers from %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// repeatedKey returns a key that appears twice at the top level of the
// JSON object line, "" when none does (or line is not an object).
func repeatedKey(line string) string {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := tok.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
