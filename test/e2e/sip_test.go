package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/contactcenter"
)

// The SIP edge against sipp (Debian sip-tester), the real UAC of peers.md:
// REGISTER with digest on real tandemd processes.

const sipConfig = `
extensions:
  - number: "2001"
    phones:
      - {id: desk, position: 0, order: 1, password: desk-password-2001}
      - {id: soft, position: 1, order: 2, password: soft-password-2001}
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2002}]
`

// sippRun is one sipp run's outcome.
type sippRun struct {
	code     int
	out      string
	dir      string // where sipp wrote its traces
	scenario string
}

func (r sippRun) trace(kind string) string {
	m, _ := filepath.Glob(filepath.Join(r.dir, strings.TrimSuffix(r.scenario, ".xml")+"_*_"+kind+".log"))
	var b strings.Builder
	for _, f := range m {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

func (r sippRun) String() string {
	return fmt.Sprintf("sipp %s: exit %d\n%s\nerrors:\n%s", r.scenario, r.code, r.out, r.trace("errors"))
}

// sipp runs one call of a scenario of testdata/sipp against addr over
// transport ("u1" UDP, "t1" TCP), bounded: one call (-m 1), a global
// -timeout that counts as an error, and a process deadline.
func sipp(t *testing.T, addr, scenario, transport string, args ...string) sippRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, out, dir := sippCmd(ctx, t, addr, scenario, transport, freePort(t), append([]string{"-recv_timeout", "20s"}, args...))
	err := cmd.Run()
	r := sippRun{out: lastLines(out.String(), 15), dir: dir, scenario: scenario}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running sipp: %v", err)
	}
	return r
}

// sippCmd builds a bounded sipp run of scenario (testdata/sipp) against
// addr over transport, listening on port: one call unless args hold
// "-m N", a global -timeout that counts as an error, its traces in a
// directory of its own.
func sippCmd(ctx context.Context, t *testing.T, addr, scenario, transport string, port int, args []string) (*exec.Cmd, *bytes.Buffer, string) {
	t.Helper()
	calls := "1"
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-m" {
			calls = args[i+1]
			args = append(args[:i:i], args[i+2:]...)
			break
		}
	}
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp is not installed (Debian sip-tester; make deps installs it): %v", err)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	all := append([]string{addr, "-sf", sf, "-m", calls, "-t", transport, "-i", "127.0.0.1", "-p", fmt.Sprint(port),
		"-timeout", "50s", "-timeout_error", "-trace_err", "-trace_msg", "-nostdin"}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Dir = dir
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out, dir
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// lineStatus reads an extension's line status through the console's
// admin mount (linearizable).
func (n *node) lineStatus(t *testing.T, ext string) string {
	t.Helper()
	code, b, err := n.get("/v1/console/line-status?extension="+ext, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("line status of %s: %d %s %v", ext, code, b, err)
	}
	var doc struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Status
}

func sipNode(t *testing.T, n *node) {
	t.Helper()
	if n.sipAddr == "" {
		t.Fatal("this tandemd has no --sip-addr")
	}
}

// startSIPNode starts n, a one-node cluster with SIP, and waits for it
// to lead.
func startSIPNode(t *testing.T, n *node) {
	t.Helper()
	sipNode(t, n)
	n.start()
	waitLeader(t, []*node{n}, 1)
}

// nodeMetric is the value of one sample of n's /metrics (0 when absent).
func nodeMetric(t *testing.T, n *node, name string) float64 {
	t.Helper()
	_, b, err := n.get("/metrics", true)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := metric(string(b), name)
	return v
}

func TestSIPRegisterWithSipp(t *testing.T) {
	n := newNode(t, "sip1")
	startSIPNode(t, n)
	n.apply(sipConfig).ok(t)

	for _, tr := range []string{"u1", "t1"} {
		// A wrong password: refused, and the phone stays not connected.
		if r := sipp(t, n.sipAddr, "register_refused.xml", tr, "-key", "ext", "2001", "-au", "2001-desk", "-ap", "not-the-password"); r.code != 0 {
			t.Fatalf("%s: wrong password not refused with 403: %v", tr, r)
		}
		if st := n.lineStatus(t, "2001"); st != "not_connected" {
			t.Fatalf("%s: after a refused REGISTER 2001 is %s", tr, st)
		}
		// The right password: 200, and every reader sees the phone.
		if r := sipp(t, n.sipAddr, "register.xml", tr, "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
			t.Fatalf("%s: REGISTER: %v", tr, r)
		}
		if st := n.lineStatus(t, "2001"); st != "free" {
			t.Fatalf("%s: after REGISTER 2001 is %s", tr, st)
		}
		// The same phone's credentials cannot register another extension.
		if r := sipp(t, n.sipAddr, "register_refused.xml", tr, "-key", "ext", "2002", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
			t.Fatalf("%s: another extension's REGISTER not refused: %v", tr, r)
		}
		// Un-REGISTER.
		if r := sipp(t, n.sipAddr, "unregister.xml", tr, "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
			t.Fatalf("%s: un-REGISTER: %v", tr, r)
		}
		if st := n.lineStatus(t, "2001"); st != "not_connected" {
			t.Fatalf("%s: after un-REGISTER 2001 is %s", tr, st)
		}
	}
	// The counters agree, and no password reached the log.
	_, b, err := n.get("/metrics", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tandem_sip_registrations_total{outcome="registered"} 2`, `tandem_sip_registrations_total{outcome="unregistered"} 2`,
		`tandem_sip_auth_failures_total{reason="wrong"} 2`, `tandem_sip_auth_failures_total{reason="other_extension"} 2`,
		`tandem_events_total{type="phone.registration"} 4`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{"desk-password-2001", "not-the-password"} {
		if strings.Contains(n.log(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// Only the leader handles SIP: a follower redirects to the leader's SIP
// address, where the phone registers; every node then shows it. When the
// leader dies the new one starts from the replicated binding (the phone
// stays connected) and takes the phone's next REGISTER.
func TestSIPFollowerRedirects(t *testing.T) {
	nodes := startCluster(t, "sipr", 3, nil)
	for _, n := range nodes {
		sipNode(t, n)
	}
	leader := waitLeader(t, nodes, 3)
	leader.apply(sipConfig).ok(t)
	f := followers(nodes, leader)[0]
	r := sipp(t, f.sipAddr, "redirect.xml", "u1", "-key", "ext", "2001")
	if r.code != 0 {
		t.Fatalf("follower did not redirect: %v", r)
	}
	if msgs := r.trace("messages"); !strings.Contains(msgs, "302 Moved Temporarily") || !strings.Contains(msgs, "Contact: <sip:"+leader.sipAddr+">") {
		t.Fatalf("the redirect does not name the leader's SIP address %s:\n%s", leader.sipAddr, msgs)
	}
	if r := sipp(t, leader.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
		t.Fatalf("REGISTER at the leader: %v", r)
	}
	for _, n := range nodes {
		waitFor(t, waitShort, n.name()+" shows 2001 registered", func() (bool, string) {
			code, b, err := n.get("/v1/console/line-status?extension=2001&consistency=stale", true)
			return err == nil && code == 200 && strings.Contains(string(b), `"free"`), string(b)
		})
	}
	leader.kill()
	rest := followers(nodes, leader)
	next := waitLeader(t, rest, 3)
	waitFor(t, waitShort, "the new leader holds the replicated binding", func() (bool, string) {
		_, b, err := next.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		v, _ := metric(string(b), "tandem_sip_bindings")
		lead, _ := metric(string(b), "tandem_sip_leading")
		return v == 1 && lead == 1, fmt.Sprintf("bindings %v leading %v", v, lead)
	})
	if st := next.lineStatus(t, "2001"); st != "free" {
		t.Fatalf("after the failover 2001 is %s", st)
	}
	if r := sipp(t, next.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
		t.Fatalf("REGISTER at the new leader: %v", r)
	}
}

const queueConfig = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}]
users:
  - {id: ann, name: Ann, extension: "2001"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`

// sippBackground starts sipp on port (a UAS, or a UAC that waits) and
// returns a function that waits for its exit (bounded by the process
// deadline); the process is killed at cleanup.
func sippBackground(t *testing.T, addr, scenario string, port int, args ...string) func() sippRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd, out, dir := sippCmd(ctx, t, addr, scenario, "u1", port, args)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-done })
	// Wait until it listens on its port.
	waitFor(t, waitShort, "sipp UAS listening", func() (bool, string) { return !portFree(port), "" })
	return func() sippRun {
		err := <-done
		r := sippRun{out: lastLines(out.String(), 15), dir: dir, scenario: scenario}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
		done <- err
		return r
	}
}

// A call to a queue from a trusted gateway (sipp UAC) is queued,
// offered to the logged-in agent, rings the agent's registered phone
// (sipp UAS), which answers: the caller gets the agent's SDP (Tandem is a
// B2BUA in signalling only), they talk, the caller hangs up and the
// agent's leg gets its BYE. The engine accounts for the call: answered,
// then ended.
func TestSIPQueueCallWithSipp(t *testing.T) {
	n := newNode(t, "sipq", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(queueConfig).ok(t)
	phonePort := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(phonePort)); r.code != 0 {
		t.Fatalf("agent phone REGISTER: %v", r)
	}
	for i := 0; i < 2; i++ { // disconnected → paused → connected
		code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json")
		if err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", phonePort, "-key", "ext", "2001")
	caller := sipp(t, n.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "sales")
	if caller.code != 0 {
		t.Fatalf("caller: %v\nagent: %v", caller, agent())
	}
	if a := agent(); a.code != 0 {
		t.Fatalf("agent phone: %v", a)
	}
	if msgs := caller.trace("messages"); !strings.Contains(msgs, "o=agent") {
		t.Fatalf("the caller did not get the agent's SDP:\n%s", msgs)
	}
	waitFor(t, waitShort, "the engine to account for the call", func() (bool, string) {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		ans, _ := metric(string(b), `tandem_events_total{type="call.answered"}`)
		end, _ := metric(string(b), `tandem_events_total{type="call.ended"}`)
		return ans == 1 && end == 1, fmt.Sprintf("answered %v ended %v", ans, end)
	})
	code, b, err := n.get("/v1/console/queues", true)
	if err != nil || code != 200 || !strings.Contains(string(b), `"answered":1`) {
		t.Fatalf("queues: %d %s %v", code, b, err)
	}
}

// A caller who hangs up while queued (nobody logged in) is abandoned:
// CANCEL gets 200 and the INVITE 487, and the engine ends the call as
// abandoned. A caller neither trusted nor authenticated is challenged.
func TestSIPQueueAbandonWithSipp(t *testing.T) {
	n := newNode(t, "sipa", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(queueConfig).ok(t)
	if r := sipp(t, n.sipAddr, "caller_cancel.xml", "u1", "-key", "queue", "sales"); r.code != 0 {
		t.Fatalf("caller: %v", r)
	}
	waitFor(t, waitShort, "the engine to end the call as abandoned", func() (bool, string) {
		code, b, err := n.get("/v1/console/queues", true)
		if err != nil || code != 200 {
			return false, fmt.Sprint(code, err)
		}
		return strings.Contains(string(b), `"abandoned":1`), string(b)
	})
	if v := nodeMetric(t, n, `tandem_events_total{type="call.ended"}`); v != 1 {
		t.Fatalf("call.ended events: %v", v)
	}
}

// Calls in progress when the leader dies: the engine's state survives but
// the caller's dialog was on the dead node, so the new leader releases
// the call (abandoned while it waited) instead of leaving it queued
// forever; and it takes new calls at once, ringing a phone that
// registered with the dead leader at its replicated binding.
func TestSIPLeaderFailoverReleasesCalls(t *testing.T) {
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{withArgs("--sip-trusted", "127.0.0.1")}
	}
	nodes := startCluster(t, "sipf", 3, opts)
	leader := waitLeader(t, nodes, 3)
	leader.apply(queueConfig).ok(t)
	// The agent's phone registers with the first leader.
	phonePort := freePort(t)
	if r := sipp(t, leader.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(phonePort)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	sippBackground(t, leader.sipAddr, "caller_wait.xml", freePort(t), "-key", "queue", "sales")
	rest := followers(nodes, leader)
	waitFor(t, waitShort, "the call to wait in the queue", func() (bool, string) {
		code, b, err := rest[0].get("/v1/console/queues?consistency=stale", true)
		return err == nil && code == 200 && strings.Contains(string(b), `"waiting":1`), string(b)
	})
	leader.kill()
	next := waitLeader(t, rest, 3)
	waitFor(t, waitCluster, "the new leader to release the call", func() (bool, string) {
		code, b, err := next.get("/v1/console/queues", true)
		return err == nil && code == 200 && strings.Contains(string(b), `"abandoned":1`) && strings.Contains(string(b), `"waiting":0`), string(b)
	})
	// New calls are taken by the new leader, which rings the phone at the
	// binding it learnt from the log (the phone has not registered with it).
	for i := 0; i < 2; i++ {
		if code, out, err := next.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	phone := sippBackground(t, next.sipAddr, "agent_uas.xml", phonePort, "-key", "ext", "2001")
	if r := sipp(t, next.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "sales"); r.code != 0 {
		t.Fatalf("a call after the failover: %v\nphone: %v", r, phone())
	}
	if r := phone(); r.code != 0 {
		t.Fatalf("phone after the failover: %v", r)
	}
}

// Two phones of the agent's extension in one wave ring together; the
// first to answer wins and the other gets CANCEL (both real sipp UAS).
func TestSIPWaveFirstAnswerWins(t *testing.T) {
	n := newNode(t, "sipw", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(strings.Replace(queueConfig, `phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}]`,
		`phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}, {id: soft, position: 1, order: 1, password: soft-password-2001}]`, 1)).ok(t)
	deskPort, softPort := freePort(t), freePort(t)
	for _, p := range []struct {
		phone string
		port  int
	}{{"desk", deskPort}, {"soft", softPort}} {
		if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-"+p.phone, "-ap", p.phone+"-password-2001",
			"-p", fmt.Sprint(p.port)); r.code != 0 {
			t.Fatalf("%s REGISTER: %v", p.phone, r)
		}
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	desk := sippBackground(t, n.sipAddr, "agent_uas.xml", deskPort, "-key", "ext", "2001")
	soft := sippBackground(t, n.sipAddr, "phone_cancelled.xml", softPort, "-key", "ext", "2001")
	if r := sipp(t, n.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "sales"); r.code != 0 {
		t.Fatalf("caller: %v", r)
	}
	if r := desk(); r.code != 0 {
		t.Fatalf("the answering phone: %v", r)
	}
	if r := soft(); r.code != 0 {
		t.Fatalf("the other phone of the wave did not get CANCEL: %v", r)
	}
}

// No answer ⇒ the next agent: the first agent's phone rings until the
// engine's ring timeout (call.no_answer), then gets CANCEL, and the call
// is offered to the second agent, whose phone answers.
func TestSIPNoAnswerNextAgent(t *testing.T) {
	n := newNode(t, "sipn", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(`
settings:
  ring_timeout_seconds: 2
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2002}]
users:
  - {id: ann, name: Ann, extension: "2001"}
  - {id: bob, name: Bob, extension: "2002"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: bob, extension: "2002", queues: [sales]}
`).ok(t)
	ports := map[string]int{"2001": freePort(t), "2002": freePort(t)}
	for ext, port := range ports {
		if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", ext, "-au", ext+"-desk", "-ap", "desk-password-"+ext,
			"-p", fmt.Sprint(port)); r.code != 0 {
			t.Fatalf("%s REGISTER: %v", ext, r)
		}
	}
	for _, a := range []string{"a1", "a2"} { // a1 first: the longest idle
		for i := 0; i < 2; i++ {
			if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"`+a+`"}`), "application/json"); err != nil || code != 200 {
				t.Fatalf("login %s: %d %s %v", a, code, out, err)
			}
		}
	}
	first := sippBackground(t, n.sipAddr, "phone_cancelled.xml", ports["2001"], "-key", "ext", "2001")
	second := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2002"], "-key", "ext", "2002")
	if r := sipp(t, n.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "sales"); r.code != 0 {
		t.Fatalf("caller: %v", r)
	}
	if r := first(); r.code != 0 {
		t.Fatalf("the first agent's phone (no answer, then CANCEL): %v", r)
	}
	if r := second(); r.code != 0 {
		t.Fatalf("the second agent's phone: %v", r)
	}
	if v := nodeMetric(t, n, `tandem_events_total{type="call.no_answer"}`); v != 1 {
		t.Fatalf("call.no_answer events: %v", v)
	}
}

// A direct call to an extension rings its registered phone, which
// answers (call.remote_answer) and later hangs up with the caller's BYE;
// a busy phone (486) makes the caller hear busy and the engine end the
// call as busy.
func TestSIPDirectCallWithSipp(t *testing.T) {
	n := newNode(t, "sipd", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(queueConfig).ok(t)
	port := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(port)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	phone := sippBackground(t, n.sipAddr, "agent_uas.xml", port, "-key", "ext", "2001")
	if r := sipp(t, n.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "2001"); r.code != 0 {
		t.Fatalf("caller: %v\nphone: %v", r, phone())
	}
	if r := phone(); r.code != 0 {
		t.Fatalf("phone: %v", r)
	}
	busy := sippBackground(t, n.sipAddr, "phone_busy.xml", port, "-key", "ext", "2001")
	if r := sipp(t, n.sipAddr, "caller_busy.xml", "u1", "-key", "queue", "2001"); r.code != 0 {
		t.Fatalf("caller of a busy phone: %v", r)
	}
	if r := busy(); r.code != 0 {
		t.Fatalf("busy phone: %v", r)
	}
	waitFor(t, waitShort, "both calls ended in the engine", func() (bool, string) {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		ended, _ := metric(string(b), `tandem_events_total{type="call.ended"}`)
		ringing, _ := metric(string(b), `tandem_events_total{type="call.ringing"}`)
		return ended == 2 && ringing == 2, fmt.Sprintf("ended %v ringing %v", ended, ringing)
	})
}

// A secure phone registers with the password the leader gave it
// (`tandemctl phone provision`); after a rotation (the node's clock 31
// days on) the new password works and the old one still does during its
// grace; once the grace has passed the old one is refused (403) and the
// new one still registers.
func TestSIPSecurePhoneRotationWithSipp(t *testing.T) {
	n := newNode(t, "sips")
	startSIPNode(t, n)
	n.apply(`
settings: {phone_secrets: {grace_seconds: 3600}}
extensions:
  - number: "2001"
    phones: [{id: sec, position: 0, order: 1, secure: true}]
`).ok(t)
	register := func(scenario, password string) sippRun {
		return sipp(t, n.sipAddr, scenario, "u1", "-key", "ext", "2001", "-au", "2001-sec", "-ap", password)
	}
	first := provisioned(t, n, "2001", "sec")
	if r := register("register.xml", first.Password); r.code != 0 {
		t.Fatalf("REGISTER with the provisioned password: %v", r)
	}
	restart := func(offset string) {
		t.Helper()
		if code := n.stop(30 * time.Second); code != 0 {
			t.Fatalf("stop: exit %d", code)
		}
		n.start("--clock-offset", offset)
		waitLeader(t, []*node{n}, 1)
	}
	restart("744h")
	var second contactcenter.PhoneProvisioning
	waitFor(t, 30*time.Second, "the rotation", func() (bool, string) {
		second = provisioned(t, n, "2001", "sec")
		return second.Password != first.Password, "not rotated yet"
	})
	if r := register("register.xml", second.Password); r.code != 0 {
		t.Fatalf("REGISTER with the new password: %v", r)
	}
	if r := register("register.xml", first.Password); r.code != 0 {
		t.Fatalf("REGISTER with the old password during its grace: %v", r)
	}
	restart("746h") // two hours on: past the one-hour grace
	waitFor(t, 30*time.Second, "the old password to be refused", func() (bool, string) {
		r := register("register_refused.xml", first.Password)
		return r.code == 0, r.String()
	})
	if r := register("register.xml", second.Password); r.code != 0 {
		t.Fatalf("REGISTER with the new password after the grace: %v", r)
	}
	for _, pw := range []string{first.Password, second.Password} {
		if strings.Contains(n.log(), pw) {
			t.Fatal("a phone password is in tandemd's log")
		}
	}
}

// Several callers at once to one agent with one phone: they queue, the
// agent's phone (one sipp UAS taking the calls in turn) answers each in
// order, and every call is accounted for: answered and ended, none left.
func TestSIPQueueSeveralCallsWithSipp(t *testing.T) {
	const calls = 5
	n := newNode(t, "sipm", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(queueConfig).ok(t)
	port := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(port)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	phone := sippBackground(t, n.sipAddr, "agent_uas.xml", port, "-key", "ext", "2001", "-m", fmt.Sprint(calls))
	if r := sipp(t, n.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "sales", "-m", fmt.Sprint(calls), "-r", "5", "-l", fmt.Sprint(calls)); r.code != 0 {
		t.Fatalf("callers: %v\nphone: %v", r, phone())
	}
	if r := phone(); r.code != 0 {
		t.Fatalf("phone: %v", r)
	}
	waitFor(t, waitShort, "every call answered and ended", func() (bool, string) {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		ans, _ := metric(string(b), `tandem_events_total{type="call.answered"}`)
		end, _ := metric(string(b), `tandem_events_total{type="call.ended"}`)
		return ans == calls && end == calls, fmt.Sprintf("answered %v ended %v", ans, end)
	})
	code, b, err := n.get("/v1/console/state?agent=a1", true)
	if err != nil || code != 200 || strings.Contains(string(b), `"line1":`) || strings.Contains(string(b), `"offer":`) {
		t.Fatalf("a call is left on the agent: %d %s %v", code, b, err)
	}
}

// A phone that is not a trusted gateway calls a queue: challenged, it
// authenticates with its own credentials and is put through; with a
// wrong password it is refused and nothing reaches the engine.
func TestSIPAuthenticatedCallerWithSipp(t *testing.T) {
	n := newNode(t, "sipc") // no trusted gateways
	startSIPNode(t, n)
	n.apply(strings.Replace(queueConfig, `extensions:`, `extensions:
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2002}]`, 1)).ok(t)
	port := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(port)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	// sipp 3.6 computes an INVITE's digest uri as sip:host:port, without
	// the request-URI's user, which the edge refuses (400: the uri must be
	// the request-URI's, TestSIPDigestURIMismatchWithSipp); -auth_uri makes
	// it answer for the request-URI, as phones do.
	authURI := "sales@" + n.sipAddr
	// A wrong password: the second INVITE is refused (sipp expects a 200:
	// the run fails), and no call reaches the engine.
	if r := sipp(t, n.sipAddr, "caller_auth.xml", "u1", "-key", "queue", "sales", "-au", "2002-desk", "-ap", "wrong-password", "-auth_uri", authURI); r.code == 0 ||
		!strings.Contains(r.trace("messages"), "SIP/2.0 403 Forbidden") {
		t.Fatalf("a wrong password was not refused with 403: %v\n%s", r, r.trace("messages"))
	}
	phone := sippBackground(t, n.sipAddr, "agent_uas.xml", port, "-key", "ext", "2001")
	if r := sipp(t, n.sipAddr, "caller_auth.xml", "u1", "-key", "queue", "sales", "-au", "2002-desk", "-ap", "desk-password-2002", "-auth_uri", authURI); r.code != 0 {
		t.Fatalf("authenticated caller: %v\nphone: %v", r, phone())
	}
	if r := phone(); r.code != 0 {
		t.Fatalf("phone: %v", r)
	}
	if v := nodeMetric(t, n, `tandem_events_total{type="call.queued"}`); v != 1 {
		t.Fatalf("call.queued events: %v, want 1 (the refused caller never reached the engine)", v)
	}
}

// The agent hangs up first: its BYE ends the caller's leg (BYE to the
// caller) and the engine's call (the agent's hang-up).
func TestSIPAgentHangsUpWithSipp(t *testing.T) {
	n := newNode(t, "siph", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(queueConfig).ok(t)
	port := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(port)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	phone := sippBackground(t, n.sipAddr, "agent_hangs_up.xml", port, "-key", "ext", "2001")
	if r := sipp(t, n.sipAddr, "caller_hung_up.xml", "u1", "-key", "queue", "sales"); r.code != 0 {
		t.Fatalf("caller: %v\nphone: %v", r, phone())
	}
	if r := phone(); r.code != 0 {
		t.Fatalf("phone: %v", r)
	}
	waitFor(t, waitShort, "the call to end in the engine", func() (bool, string) {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		end, _ := metric(string(b), `tandem_events_total{type="call.ended"}`)
		return end == 1, fmt.Sprintf("ended %v", end)
	})
}

// Hold in the middle of a bridged call: the caller's re-INVITE
// (a=sendonly) is relayed to the agent's phone, whose answer
// (a=recvonly) comes back to the caller; then the caller hangs up.
func TestSIPReinviteRelayedWithSipp(t *testing.T) {
	n := newNode(t, "sipr", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(queueConfig).ok(t)
	port := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(port)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	phone := sippBackground(t, n.sipAddr, "agent_held.xml", port, "-key", "ext", "2001")
	r := sipp(t, n.sipAddr, "caller_hold.xml", "u1", "-key", "queue", "sales")
	if r.code != 0 {
		t.Fatalf("caller: %v\nphone: %v", r, phone())
	}
	if p := phone(); p.code != 0 {
		t.Fatalf("phone: %v", p)
	}
	if !strings.Contains(r.trace("messages"), "a=recvonly") {
		t.Fatal("the agent's answer to the hold did not reach the caller")
	}
}

// Every node's SNMP agent counts the phone a sipp REGISTER registered at
// the leader, and stops counting it after the un-REGISTER: the counters
// follow the one committed phone.registration.
func TestSIPRegistrationsInSNMP(t *testing.T) {
	nodes, addrs := startSNMPCluster(t, "sipsn", 3, nil)
	leader := waitLeader(t, nodes, 3)
	leader.apply(sipConfig).ok(t)
	registered := func(want string) {
		t.Helper()
		for i := range nodes {
			waitFor(t, waitShort, nodes[i].name()+" tandemExtensionsRegistered "+want, func() (bool, string) {
				r := snmp(t, "snmpget", snmpCommunity, addrs[i], "TANDEM-MIB::tandemExtensionsRegistered.0")
				if r.code != 0 {
					return false, r.String()
				}
				v, _ := snmpLines(t, r)
				return v["tandemExtensionsRegistered.0"] == want, r.stdout
			})
		}
	}
	registered("Gauge32: 0")
	if r := sipp(t, leader.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	registered("Gauge32: 1")
	if r := sipp(t, leader.sipAddr, "unregister.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
		t.Fatalf("un-REGISTER: %v", r)
	}
	registered("Gauge32: 0")
}

const parkConfig = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2002}]
  - number: "2003"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2003}]
users:
  - {id: ann, name: Ann, extension: "2001"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`

// A queue call answered by an agent is parked by the operator onto
// extension 2002 (call.park_on from the console): the agent's phone gets
// BYE. Another phone dials *552002: call.park_pickup is committed, the
// caller is re-INVITEd with that phone's SDP and the phone gets the
// caller's answer; when the caller hangs up the phone gets BYE and the
// engine ends the call.
func TestSIPParkPickupWithSipp(t *testing.T) {
	n := newNode(t, "sipk", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(parkConfig).ok(t)
	phonePort := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(phonePort)); r.code != 0 {
		t.Fatalf("agent phone REGISTER: %v", r)
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	metricOf := func(name string) float64 {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return -1
		}
		v, _ := metric(string(b), `tandem_events_total{type="`+name+`"}`)
		return v
	}
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", phonePort, "-key", "ext", "2001")
	caller := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	waitFor(t, waitShort, "the agent to answer", func() (bool, string) {
		v := metricOf("call.answered")
		return v == 1, fmt.Sprint("answered ", v)
	})
	if code, out, err := n.do("POST", "/v1/console/ops/park_on", true, []byte(`{"agent":"a1","extension":"2002"}`), "application/json"); err != nil || code != 200 {
		t.Fatalf("park_on: %d %s %v", code, out, err)
	}
	if a := agent(); a.code != 0 {
		t.Fatalf("the agent's phone did not get its BYE on park: %v", a)
	}
	// Nothing parked on 2003: 404.
	if r := sipp(t, n.sipAddr, "caller_busy.xml", "u1", "-key", "queue", "*552003"); !strings.Contains(r.trace("messages"), "404 Nothing Parked") {
		t.Logf("pickup of an empty park: %v\n%s", r, r.trace("messages"))
		t.Fatal("*552003 with nothing parked is not a 404")
	}
	picker := sipp(t, n.sipAddr, "pickup.xml", "u1", "-key", "park", "2002", "-key", "ext", "2003")
	if picker.code != 0 {
		t.Fatalf("pickup: %v\ncaller: %v", picker, caller())
	}
	c := caller()
	if c.code != 0 {
		t.Fatalf("caller: %v", c)
	}
	if !strings.Contains(picker.trace("messages"), "o=caller 53655765 2353687638") {
		t.Fatalf("the phone that picked up did not get the caller's answer:\n%s", picker.trace("messages"))
	}
	if !strings.Contains(c.trace("messages"), "o=picker") {
		t.Fatalf("the caller was not re-INVITEd with the picking phone's SDP:\n%s", c.trace("messages"))
	}
	waitFor(t, waitShort, "the engine to account for the retrieval and the end", func() (bool, string) {
		p, e := metricOf("call.park_retrieved"), metricOf("call.ended")
		return p == 1 && e == 1, fmt.Sprintf("park_retrieved %v ended %v", p, e)
	})
}

const forwardConfig = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2002}]
users:
  - {id: ann, name: Ann, extension: "2001"}
  - {id: bob, name: Bob, extension: "2002"}
`

// Forwarding of direct calls: Ann forwards to extension 2002 when not
// connected and to an outside number after 2 s without an answer. A call
// to 2001 while no phone of hers is registered gets 302 to 2002 at
// Tandem (Diversion reason unavailable); once her phone is registered it
// rings, is cancelled after 2 s, and the caller gets 302 to the outside
// number at its own address (reason no-answer). Both calls end in the
// engine.
func TestSIPForwardingWithSipp(t *testing.T) {
	n := newNode(t, "sipf", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(forwardConfig).ok(t)
	fwd := `{"user":"ann","forwarding":{"not_connected":{"number":"2002"},"no_answer":{"number":"+441615550199"},"no_answer_seconds":2}}`
	if code, out, err := n.do("POST", "/v1/console/ops/forwarding", true, []byte(fwd), "application/json"); err != nil || code != 200 {
		t.Fatalf("forwarding: %d %s %v", code, out, err)
	}
	// Not connected.
	r := sipp(t, n.sipAddr, "caller_forwarded.xml", "u1", "-key", "queue", "2001")
	if r.code != 0 {
		t.Fatalf("not connected: %v\n%s", r, r.trace("messages"))
	}
	msgs := r.trace("messages")
	if !strings.Contains(msgs, "Contact: <sip:2002@"+n.sipAddr+">") || !strings.Contains(msgs, "reason=unavailable") {
		t.Fatalf("the 302 does not forward to 2002 at %s:\n%s", n.sipAddr, msgs)
	}
	// No answer.
	port := freePort(t)
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-p", fmt.Sprint(port)); r.code != 0 {
		t.Fatalf("REGISTER: %v", r)
	}
	phone := sippBackground(t, n.sipAddr, "phone_cancelled.xml", port, "-key", "ext", "2001")
	callerPort := freePort(t)
	r = sipp(t, n.sipAddr, "caller_forwarded.xml", "u1", "-key", "queue", "2001", "-p", fmt.Sprint(callerPort))
	if r.code != 0 {
		t.Fatalf("no answer: %v\n%s", r, r.trace("messages"))
	}
	if p := phone(); p.code != 0 {
		t.Fatalf("the phone was not rung then cancelled: %v", p)
	}
	msgs = r.trace("messages")
	if !strings.Contains(msgs, fmt.Sprintf("Contact: <sip:+441615550199@127.0.0.1:%d>", callerPort)) || !strings.Contains(msgs, "reason=no-answer") {
		t.Fatalf("the 302 does not forward to the outside number at the caller:\n%s", msgs)
	}
	waitFor(t, waitShort, "both calls ended in the engine", func() (bool, string) {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		ended, _ := metric(string(b), `tandem_events_total{type="call.ended"}`)
		return ended == 2, fmt.Sprintf("ended %v", ended)
	})
}

// A queue call answered by agent a1 is blind-transferred by the operator
// to extension 2002 (call.transfer from the console): the agent's phone
// gets BYE, 2002's phone rings with the caller's offer and answers, the
// caller is re-INVITEd with that phone's SDP (o=target); the engine
// counts the call transferred, and the caller's BYE reaches 2002's phone.
func TestSIPBlindTransferWithSipp(t *testing.T) {
	n := newNode(t, "sipt", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(parkConfig).ok(t)
	agentPort, targetPort := freePort(t), freePort(t)
	for _, reg := range []struct {
		ext  string
		port int
	}{{"2001", agentPort}, {"2002", targetPort}} {
		if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", reg.ext, "-au", reg.ext+"-desk", "-ap", "desk-password-"+reg.ext,
			"-p", fmt.Sprint(reg.port)); r.code != 0 {
			t.Fatalf("REGISTER %s: %v", reg.ext, r)
		}
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	events := func(name string) float64 {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return -1
		}
		v, _ := metric(string(b), `tandem_events_total{type="`+name+`"}`)
		return v
	}
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", agentPort, "-key", "ext", "2001")
	target := sippBackground(t, n.sipAddr, "target_uas.xml", targetPort, "-key", "ext", "2002")
	caller := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	waitFor(t, waitShort, "the agent to answer", func() (bool, string) {
		v := events("call.answered")
		return v == 1, fmt.Sprint("answered ", v)
	})
	if code, out, err := n.do("POST", "/v1/console/ops/transfer", true, []byte(`{"agent":"a1","target":"2002"}`), "application/json"); err != nil || code != 200 {
		t.Fatalf("transfer: %d %s %v", code, out, err)
	}
	if a := agent(); a.code != 0 {
		t.Fatalf("the agent's phone did not get its BYE on transfer: %v", a)
	}
	c := caller()
	if c.code != 0 {
		t.Fatalf("caller: %v\ntarget: %v", c, target())
	}
	if tr := target(); tr.code != 0 {
		t.Fatalf("target phone: %v", tr)
	}
	if !strings.Contains(c.trace("messages"), "o=target") {
		t.Fatalf("the caller was not re-INVITEd with the target phone's SDP:\n%s", c.trace("messages"))
	}
	waitFor(t, waitShort, "the engine to count the transfer and the end", func() (bool, string) {
		tr, e := events("call.transferred"), events("call.ended")
		return tr == 1 && e == 1, fmt.Sprintf("transferred %v ended %v", tr, e)
	})
}

// The agent's own phone blind-transfers its call with REFER (Refer-To:
// 2002): 202, NOTIFY with sipfrag 200, its leg released; 2002's phone
// answers and the caller is re-INVITEd with its SDP; the engine counts
// the call transferred.
func TestSIPReferTransferWithSipp(t *testing.T) {
	n := newNode(t, "sipre", withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(parkConfig).ok(t)
	agentPort, targetPort := freePort(t), freePort(t)
	for _, reg := range []struct {
		ext  string
		port int
	}{{"2001", agentPort}, {"2002", targetPort}} {
		if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", reg.ext, "-au", reg.ext+"-desk", "-ap", "desk-password-"+reg.ext,
			"-p", fmt.Sprint(reg.port)); r.code != 0 {
			t.Fatalf("REGISTER %s: %v", reg.ext, r)
		}
	}
	for i := 0; i < 2; i++ {
		if code, out, err := n.do("POST", "/v1/console/ops/login", true, []byte(`{"agent":"a1"}`), "application/json"); err != nil || code != 200 {
			t.Fatalf("login: %d %s %v", code, out, err)
		}
	}
	agent := sippBackground(t, n.sipAddr, "agent_refer.xml", agentPort, "-key", "ext", "2001", "-key", "target", "2002")
	target := sippBackground(t, n.sipAddr, "target_uas.xml", targetPort, "-key", "ext", "2002")
	c := sipp(t, n.sipAddr, "caller_parked.xml", "u1", "-key", "queue", "sales")
	if c.code != 0 {
		t.Fatalf("caller: %v\nagent: %v\ntarget: %v", c, agent(), target())
	}
	a := agent()
	if a.code != 0 {
		t.Fatalf("agent phone (REFER): %v\n%s", a, a.trace("messages"))
	}
	if tr := target(); tr.code != 0 {
		t.Fatalf("target phone: %v", tr)
	}
	if !strings.Contains(a.trace("messages"), "SIP/2.0 200 OK\r\n") || !strings.Contains(a.trace("messages"), "message/sipfrag") {
		t.Fatalf("the agent's phone got no NOTIFY with a sipfrag:\n%s", a.trace("messages"))
	}
	if !strings.Contains(c.trace("messages"), "o=target") {
		t.Fatalf("the caller was not re-INVITEd with the target phone's SDP:\n%s", c.trace("messages"))
	}
	waitFor(t, waitShort, "the engine to count the transfer and the end", func() (bool, string) {
		_, b, err := n.get("/metrics", true)
		if err != nil {
			return false, err.Error()
		}
		tr, _ := metric(string(b), `tandem_events_total{type="call.transferred"}`)
		e, _ := metric(string(b), `tandem_events_total{type="call.ended"}`)
		return tr == 1 && e == 1, fmt.Sprintf("transferred %v ended %v", tr, e)
	})
}
