package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries under test and the optional tandemd flags this build knows.
var (
	tandemdBin   string
	tandemctlBin string
	daemonFlags  = map[string]bool{}
)

// Bounds of every wait. They are generous: a slow, shared machine must not
// fail a test, only a wrong answer may.
const (
	waitShort   = 20 * time.Second
	waitCluster = 45 * time.Second
	pollEvery   = 100 * time.Millisecond
)

// sharedToken is the admin token of every cluster the tests start (one
// token per cluster, as members must share it).
const sharedToken = "e2e-token-7f3a9c1d5b2e4f60a8c7"

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir := os.Getenv("TANDEM_BIN_DIR")
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tandem-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		if err := buildBinaries(tmp, os.Getenv("TANDEM_E2E_RACE") != ""); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		dir = tmp
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tandemdBin, tandemctlBin = filepath.Join(abs, "tandemd"), filepath.Join(abs, "tandemctl")
	for _, b := range []string{tandemdBin, tandemctlBin} {
		if _, err := os.Stat(b); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: binary missing (TANDEM_BIN_DIR=%q): %v\n", os.Getenv("TANDEM_BIN_DIR"), err)
			return 1
		}
	}
	if os.Getenv("TANDEM_E2E_RACE") != "" {
		// The race run must not pass on a binary without the detector.
		out, err := exec.Command("go", "version", "-m", tandemdBin).CombinedOutput()
		if err != nil || !regexp.MustCompile(`(?m)^\s*build\s+-race=true\s*$`).Match(out) {
			fmt.Fprintf(os.Stderr, "e2e: TANDEM_E2E_RACE is set but %s is not built with -race (%v)\n%s", tandemdBin, err, out)
			return 1
		}
	}
	// Later builds add listeners (--http-addr, --sip-addr, --snmp-addr)
	// whose defaults would collide between the nodes of one machine; give
	// them free ports when this build has them.
	out, _ := exec.Command(tandemdBin, "--help").CombinedOutput()
	for _, mm := range regexp.MustCompile(`(?m)^\s+--?([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		daemonFlags[mm[1]] = true
	}
	// The package's parallel tests (besideTheBurst) start together once
	// the sequential ones are done, whatever GOMAXPROCS is, unless the
	// run sets -test.parallel itself.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", "64"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return m.Run()
}

// besideTheBurst runs the calling test beside TestMailReplyBurstLeaderKilled,
// which spends three minutes waiting on the provider's limit (100 replies
// at 30 a minute) with its cluster nearly idle, instead of after it. The
// tests that call it measure nothing, assert no timing and share nothing
// with the burst; they run one at a time (the lane), as the rest of the
// package does, after its sequential tests. They and the burst are the
// package's only parallel tests, and runMain lets them all start at once,
// so the burst never waits behind them for one of GOMAXPROCS slots.
func besideTheBurst(t *testing.T) {
	t.Helper()
	t.Parallel()
	start := time.Now()
	burstLane <- struct{}{}
	t.Cleanup(func() { <-burstLane }) // registered first: runs after the test's own cleanups
	if w := time.Since(start); w > time.Second {
		// The test's reported duration includes its turn's wait.
		t.Logf("waited %v for its turn beside the burst", w.Round(time.Second))
	}
}

// burstLane holds the one test that runs beside the burst.
var burstLane = make(chan struct{}, 1)

func buildBinaries(out string, race bool) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	args := []string{"build", "-buildvcs=false"}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "-o", out+string(os.PathSeparator), "./cmd/tandemd", "./cmd/tandemctl")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building tandemd and tandemctl: %v\n%s", err, b)
	}
	return nil
}

// cleanEnv is the test's environment without TANDEM_* variables, so that
// a developer's settings never leak into the processes under test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TANDEM_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// ---------------------------------------------------------------- ports

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a loopback port nobody listens on. It prefers ports
// below the kernel's ephemeral range, so that an outgoing connection cannot
// take the port while a killed node is down and about to restart on it.
func freePort(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	if lo > 21000 {
		for i := 0; i < 500; i++ {
			p := 20000 + rand.IntN(lo-20000)
			if portsUsed[p] || !portFree(p) {
				continue
			}
			portsUsed[p] = true
			return p
		}
	}
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !portsUsed[p] {
			portsUsed[p] = true
			return p
		}
	}
	t.Fatal("no free port found")
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	ln.Close()
	if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
		u.Close()
		return true
	}
	return false
}

func loopback(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// ---------------------------------------------------------------- nodes

// node is one tandemd process (and its restarts) with fixed ports and
// data directory.
type node struct {
	t         *testing.T
	id        string // "" = tandemd's default (the hostname)
	cwd       string // working directory of the process
	dataDir   string // "" = no --data-dir flag (tandemd's ./tandem-data)
	raftAddr  string
	adminAddr string
	httpAddr  string // --http-addr (operations API), when the binary has it
	sipAddr   string // --sip-addr (UDP and TCP), when the binary has it
	sipHost   string // the loopback address --sip-addr binds ("" = 127.0.0.1)
	token     string // "" = let tandemd generate one
	extra     []string
	env       []string // TANDEM_* variables for the process
	rawArgs   []string // when set, replaces the id, dir, address and token flags
	logPath   string

	mu   sync.Mutex
	proc *proc
}

type proc struct {
	cmd   *exec.Cmd
	done  chan struct{}
	state *os.ProcessState
}

type nodeOpt func(*node)

// withID sets --node-id ("" leaves the default).
func withID(id string) nodeOpt { return func(n *node) { n.id = id } }

// withToken sets --admin-token ("" lets tandemd generate one).
func withToken(tok string) nodeOpt { return func(n *node) { n.token = tok } }

// withDefaultDataDir runs without --data-dir (./tandem-data in cwd).
func withDefaultDataDir() nodeOpt { return func(n *node) { n.dataDir = "" } }

// withSIPHost binds the node's SIP on its own loopback address (e.g.
// 127.0.0.3), as separate hosts would.
func withSIPHost(ip string) nodeOpt { return func(n *node) { n.sipHost = ip } }

// withArgs adds flags to every start.
func withArgs(args ...string) nodeOpt { return func(n *node) { n.extra = append(n.extra, args...) } }

// newNode prepares (does not start) a node with fresh ports and dirs. Its
// process is killed, and its log shown if the test failed, at cleanup.
func newNode(t *testing.T, name string, opts ...nodeOpt) *node {
	t.Helper()
	base := t.TempDir()
	n := &node{t: t, id: name, cwd: base, dataDir: filepath.Join(base, "data"),
		raftAddr: loopback(t), adminAddr: loopback(t), token: sharedToken,
		logPath: filepath.Join(base, "tandemd.log")}
	for _, o := range opts {
		o(n)
	}
	if daemonFlags["http-addr"] {
		n.httpAddr = loopback(t)
		n.extra = append(n.extra, "--http-addr", n.httpAddr)
	}
	if daemonFlags["sip-addr"] {
		n.sipAddr = loopback(t)
		if n.sipHost != "" {
			n.sipAddr = strings.Replace(n.sipAddr, "127.0.0.1:", n.sipHost+":", 1)
		}
		n.extra = append(n.extra, "--sip-addr", n.sipAddr)
	}
	if daemonFlags["snmp-addr"] {
		n.extra = append(n.extra, "--snmp-addr=")
	}
	t.Cleanup(func() {
		n.kill()
		// A tandemd built with -race (TANDEM_E2E_RACE) reports a data
		// race on its stderr, the log, and goes on: fail the test here.
		if strings.Contains(n.log(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race (see its log)", n.name())
		}
		if t.Failed() || os.Getenv("TANDEM_E2E_LOGS") != "" {
			n.dumpLog()
		}
	})
	return n
}

func (n *node) name() string {
	if n.id != "" {
		return n.id
	}
	return "node@" + n.adminAddr
}

// args are the flags of a start.
func (n *node) args(more ...string) []string {
	if n.rawArgs != nil {
		return append(append(append([]string{}, n.rawArgs...), n.extra...), more...)
	}
	var a []string
	if n.id != "" {
		a = append(a, "--node-id", n.id)
	}
	if n.dataDir != "" {
		a = append(a, "--data-dir", n.dataDir)
	}
	a = append(a, "--raft-addr", n.raftAddr, "--admin-addr", n.adminAddr)
	if n.token != "" {
		a = append(a, "--admin-token", n.token)
	}
	a = append(a, n.extra...)
	return append(a, more...)
}

// start launches tandemd with the node's flags plus more, and waits until
// its admin API answers /healthz.
func (n *node) start(more ...string) {
	n.t.Helper()
	if err := n.launch(more...); err != nil {
		n.t.Fatalf("%s: %v", n.name(), err)
	}
	n.waitHealthy()
}

func (n *node) launch(more ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		return errors.New("already running")
	}
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	// The marker never shows the arguments: they may hold the token.
	fmt.Fprintf(f, "=== e2e: starting tandemd %s at %s (extra: %s)\n", n.name(),
		time.Now().Format(time.RFC3339Nano), strings.Join(more, " "))
	cmd := exec.Command(tandemdBin, n.args(more...)...)
	cmd.Dir = n.cwd
	cmd.Env = cleanEnv(n.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a node the test froze (SIGSTOP) must not be
	// sent SIGHUP by the kernel when another member of the test's group
	// exits while that group is orphaned (a test run from a detached
	// shell: a frozen node then died of "signal: hangup").
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting tandemd: %w", err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	n.proc = p
	return nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (n *node) current() *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// running reports whether the node's process is alive.
func (n *node) running() bool {
	p := n.current()
	return p != nil && !p.exited()
}

func (n *node) waitHealthy() {
	n.t.Helper()
	waitFor(n.t, waitShort, n.name()+" /healthz", func() (bool, string) {
		if !n.running() {
			n.t.Fatalf("%s exited during start: %s\n%s", n.name(), n.exitText(), n.logTail(40))
		}
		code, body, err := n.get("/healthz", false)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %s", code, body)
	})
}

func (n *node) exitText() string {
	p := n.current()
	if p == nil || !p.exited() {
		return "running"
	}
	return p.state.String()
}

// kill sends SIGKILL and reaps the process.
func (n *node) kill() {
	p := n.current()
	if p == nil || p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(waitShort):
		n.t.Errorf("%s: not reaped %v after SIGKILL", n.name(), waitShort)
	}
}

// signal sends sig to the running process.
func (n *node) signal(sig syscall.Signal) {
	n.t.Helper()
	p := n.current()
	if p == nil || p.exited() {
		n.t.Fatalf("%s: signal %v: not running (%s)", n.name(), sig, n.exitText())
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("%s: signal %v: %v", n.name(), sig, err)
	}
}

// stop sends SIGTERM and returns the exit code (-1 when it did not exit
// within the bound; it is then sent SIGQUIT, so that the Go runtime
// writes every goroutine's stack to its log, and killed).
func (n *node) stop(within time.Duration) int {
	n.t.Helper()
	p := n.current()
	if p == nil || p.exited() {
		n.t.Fatalf("%s: stop: not running", n.name())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.state.ExitCode()
	case <-time.After(within):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			n.kill()
		}
		n.t.Logf("%s did not stop within %v; its goroutines that run Tandem's or Raft's code:\n%s", n.name(), within, ownStacks(n.log()))
		return -1
	}
}

// ownStacks is, from a Go runtime's goroutine dump at the end of log, the
// goroutines with a frame of Tandem or of hashicorp/raft (at most 64 KiB:
// the log dump after a failure keeps only its tail, where they may not
// be).
func ownStacks(log string) string {
	i := strings.LastIndex(log, "SIGQUIT: quit")
	if i < 0 {
		return "(no goroutine dump in the log)"
	}
	var b strings.Builder
	for _, g := range strings.Split(log[i:], "\n\n") {
		if strings.HasPrefix(strings.TrimSpace(g), "goroutine ") &&
			(strings.Contains(g, "tandemcc/tandem/") || strings.Contains(g, "hashicorp/raft.")) &&
			b.Len()+len(g) < 64<<10 {
			b.WriteString(g)
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

func (n *node) log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

func (n *node) logTail(lines int) string {
	l := strings.Split(strings.TrimRight(n.log(), "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (n *node) dumpLog() {
	s := n.log()
	const max = 96 << 10
	if len(s) > max {
		s = "…(cut)…\n" + s[len(s)-max:]
	}
	n.t.Logf("----- log of %s (%s) -----\n%s\n----- end of log of %s -----", n.name(), n.logPath, s, n.name())
}

// ---------------------------------------------------------------- HTTP

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (n *node) url(path string) string { return "http://" + n.adminAddr + path }

// do sends a request to the admin API; auth adds the node's token.
func (n *node) do(method, path string, auth bool, body []byte, contentType string) (int, []byte, error) {
	req, err := http.NewRequest(method, n.url(path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+n.tokenValue())
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (n *node) get(path string, auth bool) (int, []byte, error) {
	return n.do(http.MethodGet, path, auth, nil, "")
}

// tokenValue is the flag's token, or the one tandemd generated.
func (n *node) tokenValue() string {
	if n.token != "" {
		return n.token
	}
	b, err := os.ReadFile(n.tokenFile())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (n *node) effectiveDataDir() string {
	if n.dataDir != "" {
		return n.dataDir
	}
	return filepath.Join(n.cwd, "tandem-data")
}

func (n *node) tokenFile() string { return filepath.Join(n.effectiveDataDir(), "admin.token") }

// statusDoc is the part of GET /v1/status the tests look at.
type statusDoc struct {
	NodeID       string `json:"node_id"`
	Role         string `json:"role"`
	LeaderID     string `json:"leader_id"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Ready        bool   `json:"ready"`
	Removed      string `json:"removed"`
	Nodes        []struct {
		ID        string `json:"id"`
		Address   string `json:"address"`
		Suffrage  string `json:"suffrage"`
		AdminAddr string `json:"admin_addr"`
		State     string `json:"state"`
		// AppliedIndex and LaggingSince: the member's applied index as
		// it reported it, and since when it lags (cluster/lag.go).
		AppliedIndex uint64     `json:"applied_index"`
		LaggingSince *time.Time `json:"lagging_since"`
		// LogFormat: the Raft log entry format the member reads
		// (cluster/entry.go).
		LogFormat int `json:"log_format"`
	} `json:"nodes"`
	Replicas struct {
		Lagging []string `json:"lagging"`
	} `json:"replicas"`
	Clock struct {
		SkewVsLeaderMS int64            `json:"skew_vs_leader_ms"`
		Alarm          bool             `json:"alarm"`
		PeersMS        map[string]int64 `json:"peers_ms"`
	} `json:"clock"`
}

func (s statusDoc) voters() []string {
	var v []string
	for _, n := range s.Nodes {
		if n.Suffrage == "voter" {
			v = append(v, n.ID)
		}
	}
	sort.Strings(v)
	return v
}

// status reads /v1/status over HTTP (cheap enough to poll).
func (n *node) status() (statusDoc, error) {
	var st statusDoc
	return st, n.getJSON("/v1/status", &st)
}

// getJSON decodes into v what GET path (with the admin token) answers
// with 200.
func (n *node) getJSON(path string, v any) error {
	code, b, err := n.get(path, true)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, code, b)
	}
	return json.Unmarshal(b, v)
}

// ctlStatus runs `tandemctl status -o json` against the node.
func (n *node) ctlStatus() statusDoc {
	n.t.Helper()
	st, err := n.tryCtlStatus()
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

func (n *node) tryCtlStatus() (statusDoc, error) {
	var st statusDoc
	r := n.ctl("status", "-o", "json")
	if r.code != 0 {
		return st, fmt.Errorf("%v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return st, fmt.Errorf("tandemctl status -o json on %s: %v\n%s", n.name(), err, r.stdout)
	}
	return st, nil
}

// waitCtlAgree waits until `tandemctl status -o json` on every node names
// the same leader (one of nodes, which calls itself leader while the others
// call themselves followers) and the given voters. (Polled, because a
// loaded machine may see an extra election.)
func waitCtlAgree(t *testing.T, nodes []*node, voters int) *node {
	t.Helper()
	var leader *node
	waitFor(t, waitCluster, fmt.Sprintf("tandemctl status on %d nodes to agree on a leader and %d voters", len(nodes), voters), func() (bool, string) {
		sts := map[*node]statusDoc{}
		var seen []string
		leader = nil
		for _, n := range nodes {
			st, err := n.tryCtlStatus()
			if err != nil {
				return false, err.Error()
			}
			sts[n] = st
			seen = append(seen, fmt.Sprintf("%s: node_id=%s role=%s leader=%q voters=%v", n.name(), st.NodeID, st.Role, st.LeaderID, st.voters()))
			if st.NodeID != n.id {
				return false, strings.Join(seen, "; ")
			}
		}
		for _, n := range nodes {
			if n.id == sts[nodes[0]].LeaderID {
				leader = n
			}
		}
		for _, n := range nodes {
			st := sts[n]
			wantRole := "follower"
			if n == leader {
				wantRole = "leader"
			}
			if leader == nil || st.LeaderID != leader.id || st.Role != wantRole || len(st.voters()) != voters {
				return false, strings.Join(seen, "; ")
			}
		}
		return true, ""
	})
	return leader
}

// config reads GET /v1/config at the given consistency, canonicalised.
func (n *node) config(consistency string) (string, error) {
	code, b, err := n.get("/v1/config?consistency="+consistency, true)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET /v1/config?consistency=%s on %s: HTTP %d: %s", consistency, n.name(), code, bytes.TrimSpace(b))
	}
	return canonJSON(b)
}

func (n *node) mustConfig(consistency string) string {
	n.t.Helper()
	c, err := n.config(consistency)
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

func canonJSON(b []byte) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("decoding %q: %w", b, err)
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// ---------------------------------------------------------------- tandemctl

type ctlResult struct {
	args           []string
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r ctlResult) String() string {
	return fmt.Sprintf("tandemctl %s: exit %d after %v\nstdout: %s\nstderr: %s", redact(r.args), r.code,
		r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

func (r ctlResult) ok(t *testing.T) ctlResult {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if i > 0 && args[i-1] == "--token" {
			out[i] = "<token>"
		}
	}
	return strings.Join(out, " ")
}

// runCtl runs tandemctl in dir with args (bounded to a minute).
func runCtl(dir string, args ...string) ctlResult {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tandemctlBin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	r := ctlResult{args: args, stdout: so.String(), stderr: se.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		r.code = -1
		r.stderr += "\n(run error: " + err.Error() + ")"
	}
	return r
}

// ctl runs tandemctl against the node's admin API with its token.
func (n *node) ctl(args ...string) ctlResult {
	all := append([]string{"--addr", "http://" + n.adminAddr, "--token", n.tokenValue()}, args...)
	return runCtl(n.cwd, all...)
}

// apply runs `tandemctl apply -f` with the YAML text through the node.
func (n *node) apply(yaml string, more ...string) ctlResult {
	f := writeTemp(n.t, "config-*.yaml", yaml)
	return n.ctl(append([]string{"apply", "-f", f}, more...)...)
}

func writeTemp(t *testing.T, pattern, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), pattern)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

// ---------------------------------------------------------------- waits

// waitFor polls cond until it reports true or the bound passes; then the
// test fails with what cond last said.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", within, what, last)
		}
		time.Sleep(pollEvery)
	}
}

// ---------------------------------------------------------------- clusters

// startCluster starts size nodes: the first bootstraps, the others join it
// through its admin address; it returns once every node agrees on one
// leader and size voters and is ready.
func startCluster(t *testing.T, prefix string, size int, opts map[int][]nodeOpt) []*node {
	t.Helper()
	nodes := make([]*node, size)
	for i := range nodes {
		nodes[i] = newNode(t, fmt.Sprintf("%s%d", prefix, i+1), opts[i]...)
	}
	nodes[0].start()
	waitLeader(t, nodes[:1], 1)
	for _, n := range nodes[1:] {
		n.start("--join", nodes[0].adminAddr)
	}
	waitLeader(t, nodes, size)
	return nodes
}

// waitLeader waits until every node reports the same leader (one of
// nodes), the given number of voters, and readiness; it returns the
// leader.
func waitLeader(t *testing.T, nodes []*node, voters int) *node {
	t.Helper()
	var leader *node
	waitFor(t, waitCluster, fmt.Sprintf("%d nodes to agree on a leader with %d voters", len(nodes), voters), func() (bool, string) {
		leaderID := ""
		var seen []string
		for _, n := range nodes {
			st, err := n.status()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", n.name(), err)
			}
			seen = append(seen, fmt.Sprintf("%s: role=%s leader=%q voters=%v ready=%v commit=%d applied=%d",
				st.NodeID, st.Role, st.LeaderID, st.voters(), st.Ready, st.CommitIndex, st.AppliedIndex))
			if st.LeaderID == "" || (leaderID != "" && st.LeaderID != leaderID) || len(st.voters()) != voters || !st.Ready {
				return false, strings.Join(seen, "; ")
			}
			leaderID = st.LeaderID
		}
		for _, n := range nodes {
			if n.id == leaderID {
				leader = n
			}
		}
		if leader == nil {
			return false, "leader " + leaderID + " is not among the nodes: " + strings.Join(seen, "; ")
		}
		st, err := leader.status()
		if err != nil || st.Role != "leader" {
			return false, fmt.Sprintf("%s does not call itself leader (%+v, %v)", leaderID, st.Role, err)
		}
		return true, ""
	})
	return leader
}

func followers(nodes []*node, leader *node) []*node {
	var f []*node
	for _, n := range nodes {
		if n != leader {
			f = append(f, n)
		}
	}
	return f
}

// metric returns the value of an unlabelled metric line in /metrics.
func metric(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// stderrLines splits output into its non-empty lines.
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
