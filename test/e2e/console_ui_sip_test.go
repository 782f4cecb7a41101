package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tandemcc/tandem/console"
)

// The console's failover with real phones: the call comes from a sipp
// caller into the leader's SIP edge and rings the operator's registered
// sipp phone.

// uiSIPCluster is uiCluster with SIP: every node trusts loopback as a
// gateway, and the operator's extension has a phone password.
func uiSIPCluster(t *testing.T, prefix string) []*node {
	t.Helper()
	trusted := withArgs("--sip-trusted", "127.0.0.1")
	nodes := startCluster(t, prefix, 3, map[int][]nodeOpt{0: {trusted}, 1: {trusted}, 2: {trusted}})
	leader := waitLeader(t, nodes, 3)
	for _, n := range nodes {
		sipNode(t, n)
	}
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	leader.apply(fmt.Sprintf(`
settings: {ring_timeout_seconds: 300, auto_return_seconds: 900, park_return_seconds: 900}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}]
users:
  - {id: ann, name: Ann Smith, extension: "2001", password_hash: "%s"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`, hash)).ok(t)
	waitFor(t, waitCluster, "every member's http URL in the cluster metadata", func() (bool, string) {
		_, raw, err := leader.get("/v1/status", true)
		if err != nil {
			return false, err.Error()
		}
		var doc struct {
			Nodes []struct {
				HTTPURL string `json:"http_url"`
			} `json:"nodes"`
		}
		json.Unmarshal(raw, &doc)
		for _, n := range doc.Nodes {
			if n.HTTPURL == "" {
				return false, string(raw)
			}
		}
		return len(doc.Nodes) == 3, string(raw)
	})
	return nodes
}

// sippFlow is sippBackground for a run that lasts a whole browser flow
// with a failover: its own deadline (3 minutes) and sipp's -timeout
// raised to match.
func sippFlow(t *testing.T, addr, scenario string, port int, args ...string) func() sippRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd, out, dir := sippCmd(ctx, t, addr, scenario, "u1", port, append(args, "-timeout", "170s"))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-done })
	return func() sippRun {
		var err error
		select {
		case err = <-done:
		case <-time.After(waitCluster):
			t.Fatalf("sipp %s still running", scenario)
		}
		done <- err
		r := sippRun{out: lastLines(out.String(), 15), dir: dir, scenario: scenario}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
		return r
	}
}

// TestConsoleUISIPFailover is TestConsoleUIFailover's manual flow with
// real phones: a sipp caller calls queue sales at the leader's SIP edge,
// the operator's registered sipp phone rings (the console shows it
// ringing) and answers; the operator, logged in in Chromium on the
// leader's page, parks the call with a note (F7: the phone's leg gets
// BYE, the caller's dialog stays on the leader). Then the console's
// primary, the leader, is SIGKILLed: the notice, OK (still the primary's
// view), the error icon, the secondary.
//
// What the product promises here (ARCHITECTURE.md "SIP", voice/DESIGN.md
// "Calls in progress on a leader failover") is not the retrieval of the
// parked call: its SIP dialog died with the old leader, so the new
// leader releases it (call.remote_hangup, counted "released"). The
// console, now on the secondary, shows the parked call gone from
// supervision and the operator's line free, and the new leader ends the
// caller's dialog with a BYE (from the replicated edge data, Reason
// "leader failover"), which the caller answers 200. Then a new call through the
// new leader rings the same phone (its replicated binding), is answered,
// and the operator hangs it up from the console (F2): the caller and the
// phone get their BYE.
func TestConsoleUISIPFailover(t *testing.T) {
	nodes := uiSIPCluster(t, "uip")
	leader := waitLeader(t, nodes, 3)
	phonePort := freePort(t)
	mustRun(t, "the operator's phone REGISTER", sipp(t, leader.sipAddr, "register.xml", "u1", "-key", "ext", "2001",
		"-au", "2001-desk", "-ap", "desk-password-2001", "-p", fmt.Sprint(phonePort)))

	b := newBrowser(t, 1280, 800)
	page := "http://" + leader.httpAddr + "/console/"
	b.must("open the console", chromedp.Navigate(page))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.must("log in",
		chromedp.SendKeys("#login-user", "ann"),
		chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	b.waitJS(waitShort, "PRIMARY in the title", fmt.Sprintf(`document.title.includes("PRIMARY") && document.title.includes(%q)`, leader.id))
	b.waitJS(waitCluster, "a standby connection", `window.tandemConsole.standby !== ""`)
	b.shot("logged-in")
	b.must("go Connected", chromedp.Click("#state-connected"))
	b.waitJS(waitShort, "Connected", `document.getElementById("state-connected").getAttribute("aria-pressed") === "true"`)
	b.shot("connected")

	// The call: the sipp caller at the leader, the operator's phone rings
	// for two seconds and answers.
	phone := sippFlow(t, leader.sipAddr, "phone_rings.xml", phonePort, "-key", "ext", "2001")
	waitFor(t, waitShort, "the operator's phone listening", func() (bool, string) { return !portFree(phonePort), "" })
	callerPort := freePort(t)
	caller := sippFlow(t, leader.sipAddr, "caller_leader_lost.xml", callerPort, "-key", "queue", "sales",
		"-cid_str", "uisip-%u@%s")
	b.waitJS(waitShort, "the call ringing on line 1", `document.getElementById("line1").dataset.state === "ringing" || document.getElementById("line1").dataset.state === "talking"`)
	b.shot("ringing")
	b.waitJS(waitShort, "the call answered by the phone", `document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call.startsWith("sip-")`)
	call, _ := eval[string](b, `document.getElementById("line1").dataset.call`)
	b.waitJS(waitShort, "the ringing shown before the answer", `[...document.querySelectorAll("#activity li")].some(li => li.dataset.type === "call.offered")`)
	b.shot("answered")

	// Park with a note (F7): the phone's leg is released.
	b.must("park (F7)", chromedp.KeyEvent(kb.F7))
	b.waitJS(waitShort, "the park dialog", `!document.getElementById("modal").hidden`)
	b.must("park note", chromedp.SendKeys("#modal-field-note", "VIP caller, call back"), chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "the parked call in supervision", fmt.Sprintf(`(() => { const r = document.querySelector('#sup-rows tr[data-call=%q]'); return r && r.textContent.includes("VIP caller, call back"); })()`, call))
	b.waitJS(waitShort, "line 1 free", `document.getElementById("line1").dataset.state === "idle"`)
	b.shot("parked")
	p := phone()
	mustRun(t, "the operator's phone (INVITE answered, BYE on the park)", p)
	mustSee(t, "the phone was not offered the caller's SDP", p, "o=caller")

	// The console's primary, the leader, dies.
	primaryID, _ := eval[string](b, `window.tandemConsole.listening`)
	standbyID, _ := eval[string](b, `window.tandemConsole.standby`)
	standby := nodeByID(nodes, standbyID)
	if primaryID != leader.id || standby == nil || standby == leader {
		t.Fatalf("console listens to %q with standby %q; the leader is %s", primaryID, standbyID, leader.id)
	}
	leader.kill()
	b.waitJS(waitShort, "the failover notice", `!document.getElementById("notice").hidden && !document.getElementById("failover-icon").hidden`)
	b.shot("notice")
	b.must("OK", chromedp.Click("#notice-ok"))
	b.waitJS(waitShort, "the notice gone", `document.getElementById("notice").hidden`)
	time.Sleep(500 * time.Millisecond) // a switch, if OK made one, would show by now
	b.waitJS(waitShort, "still on the primary", fmt.Sprintf(`document.title.includes("PRIMARY") && window.tandemConsole.listening === %q && !document.getElementById("failover-icon").hidden`, primaryID))
	b.shot("ok-still-primary")

	// The new leader releases the call whose dialog it does not hold.
	next := waitLeader(t, followers(nodes, leader), 3)
	next.sipCalls(t, "released", 1)

	b.must("click the error icon", chromedp.Click("#failover-icon"))
	b.waitJS(waitCluster, "SECONDARY in the title", fmt.Sprintf(`document.title.includes("SECONDARY") && document.title.includes(%q) && window.tandemConsole.listening === %q`, standbyID, standbyID))
	b.waitJS(waitShort, "the parked call released, line 1 free", fmt.Sprintf(`!document.querySelector('#sup-rows tr[data-call=%q]') && document.getElementById("line1").dataset.state === "idle"`, call))
	b.waitJS(waitShort, "the release shown once", fmt.Sprintf(`[...document.querySelectorAll("#activity li")].filter(li => li.dataset.type === "call.ended" && li.textContent.includes(%q)).length === 1`, call))
	b.shot("switched-call-released")
	if st := standby.opState(t); st.Agent.Line1 != "" || len(st.Supervised) != 0 {
		t.Fatalf("after the release the operator still has a call: %+v", st)
	}

	// The caller's dialog died with the old leader; the new leader ends
	// it with a BYE built from the replicated edge data (its Via names
	// the new leader's SIP address), and the caller answers 200.
	c := mustRun(t, "the caller (answered, then a BYE from the new leader answered 200)", caller())
	mustSee(t, "the caller was not answered with the phone's SDP", c, "o=agent")
	mustSee(t, "the caller got no BYE from the new leader", c, "Via: SIP/2.0/UDP "+next.sipAddr+";")
	mustSee(t, "the BYE gives no reason", c, `Reason: SIP;cause=503;text="Tandem leader failover"`)
	if v := nodeMetric(t, next, `tandem_sip_requests_total{method="BYE"}`); v != 0 {
		t.Fatalf("the new leader got %v BYEs, want none (it sent the BYE)", v)
	}

	// A new call through the new leader rings the same phone (replicated
	// binding); the operator hangs it up from the console on the
	// secondary.
	phone = sippFlow(t, next.sipAddr, "agent_uas.xml", phonePort, "-key", "ext", "2001")
	waitFor(t, waitShort, "the operator's phone listening again", func() (bool, string) { return !portFree(phonePort), "" })
	caller = sippFlow(t, next.sipAddr, "caller_hung_up.xml", freePort(t), "-key", "queue", "sales")
	b.waitJS(waitShort, "the second call answered", fmt.Sprintf(`document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call.startsWith("sip-") && document.getElementById("line1").dataset.call !== %q`, call))
	b.shot("second-call-answered")
	b.must("hang up (F2)", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free again", `document.getElementById("line1").dataset.state === "idle"`)
	b.shot("hung-up")
	mustRun(t, "the second caller (answered, BYE from Tandem)", caller())
	mustRun(t, "the operator's phone (answered, BYE from Tandem)", phone())
	b.noJSErrors()
}
