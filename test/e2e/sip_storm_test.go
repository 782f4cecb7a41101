package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stormAgents is how many agents (one extension and phone each) take the
// storm's calls; all their phones are one sipp UAS.
const stormAgents = 10

func stormConfig() string {
	var b strings.Builder
	b.WriteString("settings:\n  ring_timeout_seconds: 10\nextensions:\n")
	for i := 1; i <= stormAgents; i++ {
		fmt.Fprintf(&b, "  - number: \"21%02d\"\n    phones: [{id: desk, position: 0, order: 1, password: storm-password-21%02d}]\n", i, i)
	}
	b.WriteString("users:\n")
	for i := 1; i <= stormAgents; i++ {
		fmt.Fprintf(&b, "  - {id: u%d, name: User %d, extension: \"21%02d\"}\n", i, i, i)
	}
	b.WriteString("queues:\n  - {id: sales, strategy: longest-idle}\nagents:\n")
	for i := 1; i <= stormAgents; i++ {
		fmt.Fprintf(&b, "  - {id: a%d, user: u%d, extension: \"21%02d\", queues: [sales]}\n", i, i, i)
	}
	return b.String()
}

// sippLong is a sipp run in the background bounded by within (the
// process is killed at cleanup); wait returns its outcome.
type sippLong struct {
	cmd    *exec.Cmd
	done   chan error
	run    sippRun
	outBuf func() string
}

func startSippLong(t *testing.T, addr, scenario string, port int, within time.Duration, args ...string) *sippLong {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	cmd, out, dir := sippCmd(ctx, t, addr, scenario, "u1", port, args)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sippLong{cmd: cmd, done: make(chan error, 1), run: sippRun{dir: dir, scenario: scenario}}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		if err, ok := <-s.done; ok {
			s.done <- err
		}
	})
	s.outBuf = func() string { return lastLines(out.String(), 25) }
	return s
}

func (s *sippLong) wait(t *testing.T, within time.Duration) sippRun {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		r := s.run
		r.out = s.outBuf()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
		return r
	case <-time.After(within):
		t.Fatalf("sipp %s still running after %v:\n%s", s.run.scenario, within, s.outBuf())
		return sippRun{}
	}
}

// placedCalls are the Call-IDs of the INVITEs a sipp UAC sent (its
// message trace), each once.
func placedCalls(msgs string) map[string]bool {
	out := map[string]bool{}
	for _, block := range strings.Split(msgs, "-----------------------------------------------") {
		if !strings.Contains(block, "message sent") {
			continue
		}
		body := block[strings.Index(block, "message sent"):]
		lines := strings.Split(body, "\n")
		invite := false
		for _, l := range lines[1:] {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			invite = strings.HasPrefix(l, "INVITE ")
			break
		}
		if !invite {
			continue
		}
		for _, l := range lines {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Call-ID:"); ok {
				out[strings.TrimSpace(v)] = true
			}
		}
	}
	return out
}

var (
	outcomeLine = regexp.MustCompile(`OUTCOME (\w+) (\S+)`)
	byeLine     = regexp.MustCompile(`BYE from Tandem (\S+)`)
)

// TestSIPFailoverCallStorm: a storm of queue calls from a sipp UAC into a
// 3-node cluster (each node's SIP on its own loopback address), agents'
// phones a registered sipp UAS; the leader is SIGKILLed mid-storm (the
// UAC stops placing calls just before). Every call the UAC placed is
// accounted for by what the caller saw: answered (200), released (an
// error final response from Tandem — the new leader's answer to calls
// whose dialogs died with the old one — or a BYE from Tandem before any
// final response, when the old leader died between connecting the call
// and sending its 200) or abandoned (the caller's own
// CANCEL, answered 487); none is "lost" (a CANCEL nobody answers: a call
// left ringing); the calls talking at the failover are ended by a BYE
// from the new leader. Then the engine on the new leader holds no waiting or
// ringing call and no call on any agent, and the new leader takes new
// calls.
func TestSIPFailoverCallStorm(t *testing.T) {
	const calls = 200
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{withArgs("--sip-trusted", "127.0.0.1"), withSIPHost(fmt.Sprintf("127.0.0.%d", i+2))}
	}
	nodes := startCluster(t, "sipst", 3, opts)
	leader := waitLeader(t, nodes, 3)
	leader.apply(stormConfig()).ok(t)

	phonePort := freePort(t)
	for i := 1; i <= stormAgents; i++ {
		ext := fmt.Sprintf("21%02d", i)
		if r := sipp(t, leader.sipAddr, "register.xml", "u1", "-key", "ext", ext, "-au", ext+"-desk", "-ap", "storm-password-"+ext,
			"-p", fmt.Sprint(phonePort)); r.code != 0 {
			t.Fatalf("REGISTER %s: %v", ext, r)
		}
		for j := 0; j < 2; j++ { // disconnected → paused → connected
			if code, out, err := leader.do("POST", "/v1/console/ops/login", true, []byte(fmt.Sprintf(`{"agent":"a%d"}`, i)), "application/json"); err != nil || code != 200 {
				t.Fatalf("login a%d: %d %s %v", i, code, out, err)
			}
		}
	}
	agents := startSippLong(t, leader.sipAddr, "agent_storm.xml", phonePort, 5*time.Minute, "-m", "100000", "-timeout", "300s")
	waitFor(t, waitShort, "the agents' sipp listening", func() (bool, string) { return !portFree(phonePort), "" })

	uac := startSippLong(t, leader.sipAddr, "caller_storm.xml", freePort(t), 4*time.Minute,
		"-key", "queue", "sales", "-m", fmt.Sprint(calls), "-r", "10", "-l", fmt.Sprint(calls), "-trace_logs", "-timeout", "200s")
	rest := followers(nodes, leader)
	waitFor(t, waitCluster, "the storm to be under way", func() (bool, string) {
		code, b, err := rest[0].get("/v1/console/queues?consistency=stale", true)
		v := nodeMetric(t, leader, `tandem_sip_calls_total{outcome="queued"}`)
		return v >= calls/3, fmt.Sprintf("queued %v; %d %s %v", v, code, b, err)
	})
	// Mid-storm: the UAC stops placing new calls (those in progress go
	// on), and the leader dies a moment later.
	if err := uac.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	leader.kill()
	next := waitLeader(t, rest, 3)

	r := uac.wait(t, 3*time.Minute)
	placed := placedCalls(r.trace("messages"))
	outcomes := map[string]string{}
	count := map[string]int{}
	var twice []string
	for _, m := range outcomeLine.FindAllStringSubmatch(r.trace("logs"), -1) {
		if _, seen := outcomes[m[2]]; seen {
			twice = append(twice, m[2])
		}
		outcomes[m[2]] = m[1]
		count[m[1]]++
	}
	t.Logf("storm: %d calls placed; outcomes %v; sipp exit %d", len(placed), count, r.code)
	if len(placed) < calls/3 {
		t.Fatalf("only %d calls placed: %v", len(placed), r)
	}
	var missing []string
	for id := range placed {
		if _, ok := outcomes[id]; !ok {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 || len(twice) > 0 || len(outcomes) != len(placed) {
		t.Fatalf("calls not accounted for: %d without an outcome %v, %d with two %v; %d outcomes for %d calls\n%v",
			len(missing), missing, len(twice), twice, len(outcomes), len(placed), r)
	}
	if count["lost"] > 0 {
		t.Fatalf("%d calls were left ringing (their CANCEL got no answer): %v", count["lost"], count)
	}
	// The calls talking when the leader died (the agents are all busy
	// mid-storm: calls come faster than ten agents' three seconds of
	// talk) are ended by the new leader's BYE, each once, each an
	// answered call.
	byes := map[string]bool{}
	for _, m := range byeLine.FindAllStringSubmatch(r.trace("logs"), -1) {
		if byes[m[1]] || outcomes[m[1]] != "answered" {
			t.Fatalf("a BYE from Tandem to call %s (outcome %q, twice: %v)", m[1], outcomes[m[1]], byes[m[1]])
		}
		byes[m[1]] = true
	}
	t.Logf("storm: %d answered calls ended by the new leader's BYE", len(byes))
	if len(byes) == 0 {
		t.Fatalf("no caller talking at the failover got a BYE from the new leader: %v", count)
	}
	if r.code != 0 {
		t.Fatalf("the storm's sipp failed calls: %v", r)
	}

	// The engine on the new leader: nothing waiting or ringing, no call
	// left on an agent, bounded.
	waitFor(t, waitCluster, "the new leader's engine to hold no call", func() (bool, string) {
		code, b, err := next.get("/v1/console/queues", true)
		if err != nil || code != 200 {
			return false, fmt.Sprint(code, err)
		}
		if !strings.Contains(string(b), `"waiting":0`) || !strings.Contains(string(b), `"ringing":0`) {
			return false, string(b)
		}
		for i := 1; i <= stormAgents; i++ {
			code, b, err := next.get(fmt.Sprintf("/v1/console/state?agent=a%d", i), true)
			if err != nil || code != 200 || strings.Contains(string(b), `"line1":`) || strings.Contains(string(b), `"offer":`) {
				return false, fmt.Sprintf("a%d: %d %s %v", i, code, b, err)
			}
		}
		return true, ""
	})
	t.Logf("new leader: released %v, answered %v, abandoned %v", nodeMetric(t, next, `tandem_sip_calls_total{outcome="released"}`),
		nodeMetric(t, next, `tandem_sip_calls_total{outcome="answered"}`), nodeMetric(t, next, `tandem_sip_calls_total{outcome="abandoned"}`))

	// The new leader takes new calls, ringing the phones at the bindings
	// it learnt from the log.
	after := sipp(t, next.sipAddr, "caller_storm.xml", "u1", "-key", "queue", "sales", "-m", "5", "-r", "5", "-l", "5", "-trace_logs")
	if after.code != 0 || strings.Count(after.trace("logs"), "OUTCOME answered") != 5 {
		t.Fatalf("calls after the failover: %v\n%s", after, after.trace("logs"))
	}
	agents.cmd.Process.Signal(syscall.SIGUSR1) // the phones' sipp ends at cleanup either way
}
