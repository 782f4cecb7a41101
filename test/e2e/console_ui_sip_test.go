package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The console's failover with real phones: the call comes from a sipp
// caller into the leader's SIP edge and rings the operator's registered
// sipp phone.

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

// uiSIPCase is one run of TestConsoleUISIPFailover.
type uiSIPCase struct {
	name   string
	prefix string // of the nodes' names
	// auto: ann sets automatic failover with grace seconds in the
	// console's preferences dialog before the call; else the console is
	// in manual mode (the default).
	auto  bool
	grace int
	// leader: the console opens the leader's page, so its primary (the
	// node SIGKILLed) is the leader, whose SIP edge holds the calls; else
	// a follower's page, and its primary's death leaves the calls alive.
	leader bool
}

// TestConsoleUISIPFailover is TestConsoleUIFailover's flow with real
// phones, in manual and in automatic mode: a sipp caller calls queue
// sales at the leader's SIP edge, the operator's registered sipp phone
// rings (the console shows it ringing) and answers; the operator, logged
// in in Chromium, parks the call with a note (F7: the phone's leg gets
// BYE, the caller's dialog stays on the leader). Then the console's
// primary is SIGKILLed and the notice appears. Manual: OK (still the
// primary's view), the error icon, the secondary. Automatic (a grace of
// 2 s): the console stays on the primary's view while its notice counts
// the grace down, and switches by itself once the grace has passed
// (watched from inside the page against the console's own failure time,
// not slept through).
//
// When the primary is a follower, the calls live on: through the
// secondary (the leader) the console shows a note committed while it
// moved exactly once, the operator retrieves the parked call (the phone
// rings and answers; the caller is re-INVITEd with the phone's SDP) and
// hangs up (F2): caller and phone get Tandem's BYE.
//
// When the primary is the leader, what the product promises
// (ARCHITECTURE.md "SIP", voice/DESIGN.md "Calls in progress on a leader
// failover") is not the retrieval of the parked call: its SIP dialog died
// with the old leader, so the new leader releases it
// (call.remote_hangup, counted "released"). The console, now on the
// secondary, shows the parked call gone from supervision, its end once,
// and the operator's line free, and the new leader ends the caller's
// dialog with a BYE (from the replicated edge data, Reason "leader
// failover"), which the caller answers 200. Then a new call through the
// new leader rings the same phone (its replicated binding), is answered,
// and the operator hangs it up from the console (F2): the caller and the
// phone get their BYE.
func TestConsoleUISIPFailover(t *testing.T) {
	for _, c := range []uiSIPCase{
		{name: "manual-leader", prefix: "uipml", leader: true},
		{name: "automatic-leader", prefix: "uipal", auto: true, grace: 2, leader: true},
		{name: "manual-follower", prefix: "uipmf"},
		{name: "automatic-follower", prefix: "uipaf", auto: true, grace: 2},
	} {
		t.Run(c.name, func(t *testing.T) { consoleUISIPFailover(t, c) })
	}
}

func consoleUISIPFailover(t *testing.T, c uiSIPCase) {
	nodes := uiCluster(t, c.prefix, uiOpts{sip: true})
	leader := waitLeader(t, nodes, 3)
	primary := leader
	if !c.leader {
		primary = followers(nodes, leader)[0]
	}
	phonePort := freePort(t)
	mustRun(t, "the operator's phone REGISTER", sipp(t, leader.sipAddr, "register.xml", "u1", "-key", "ext", "2001",
		"-au", "2001-desk", "-ap", phonePassword, "-p", fmt.Sprint(phonePort)))

	b := newBrowser(t, 1280, 800)
	page := "http://" + primary.httpAddr + "/console/"
	b.must("open the console", chromedp.Navigate(page))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.must("log in",
		chromedp.SendKeys("#login-user", "ann"),
		chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	b.waitJS(waitShort, "PRIMARY in the title", fmt.Sprintf(`document.title.includes("PRIMARY") && document.title.includes(%q)`, primary.id))
	b.waitJS(waitCluster, "a standby connection", `window.tandemConsole.standby !== ""`)
	b.waitJS(waitShort, "manual failover (the default)", `window.tandemConsole.failoverMode === "manual"`)
	b.shot("logged-in")
	if c.auto {
		setAutoFailover(t, b, c.grace)
	}
	b.must("go Connected", chromedp.Click("#state-connected"))
	b.waitJS(waitShort, "Connected", `document.getElementById("state-connected").getAttribute("aria-pressed") === "true"`)
	b.shot("connected")

	// The call: the sipp caller at the leader, the operator's phone rings
	// for two seconds and answers.
	phone := sippFlow(t, leader.sipAddr, "phone_rings.xml", phonePort, "-key", "ext", "2001")
	waitFor(t, waitShort, "the operator's phone listening", func() (bool, string) { return !portFree(phonePort), "" })
	callerScenario := "caller_retrieved.xml"
	if c.leader {
		callerScenario = "caller_leader_lost.xml"
	}
	caller := sippFlow(t, leader.sipAddr, callerScenario, freePort(t), "-key", "queue", "sales",
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

	// The console's primary dies.
	primaryID, _ := eval[string](b, `window.tandemConsole.listening`)
	standbyID, _ := eval[string](b, `window.tandemConsole.standby`)
	standby := nodeByID(nodes, standbyID)
	if primaryID != primary.id || standby == nil || standby == primary || (!c.leader && standby != leader) {
		t.Fatalf("console listens to %q with standby %q; its page is %s's, the leader is %s", primaryID, standbyID, primary.id, leader.id)
	}
	var third *node
	for _, n := range nodes {
		if n != primary && n != standby {
			third = n
		}
	}
	if c.auto {
		watchGrace(t, b, primaryID)
	}
	primary.kill()
	b.waitJS(waitShort, "the failover notice", `!document.getElementById("notice").hidden && !document.getElementById("failover-icon").hidden`)
	b.shot("notice")
	if !c.leader {
		// Something happens while the console moves (committed through
		// the leader, which lives): it must show once.
		uiEdge(t, leader, "note", map[string]any{"agent": "a1", "call": call, "note": "changed during the switch"})
	}
	if c.auto {
		checkGrace(t, b, primaryID, standbyID, time.Duration(c.grace)*time.Second)
	} else {
		b.must("OK", chromedp.Click("#notice-ok"))
		b.waitJS(waitShort, "the notice gone", `document.getElementById("notice").hidden`)
		time.Sleep(500 * time.Millisecond) // a switch, if OK made one, would show by now
		b.waitJS(waitShort, "still on the primary", fmt.Sprintf(`document.title.includes("PRIMARY") && window.tandemConsole.listening === %q && !document.getElementById("failover-icon").hidden`, primaryID))
		b.shot("ok-still-primary")
		b.must("click the error icon", chromedp.Click("#failover-icon"))
	}
	b.waitJS(waitCluster, "SECONDARY in the title", fmt.Sprintf(`document.title.includes("SECONDARY") && document.title.includes(%q) && window.tandemConsole.listening === %q`, standbyID, standbyID))
	b.waitJS(waitShort, "the notice and the error icon gone", `document.getElementById("notice").hidden && document.getElementById("failover-icon").hidden`)
	b.shot("switched")
	b.waitJS(waitCluster, "a new standby", fmt.Sprintf(`window.tandemConsole.standby === %q`, third.id))

	if c.leader {
		parkedCallReleased(t, b, nodes, leader, standby, phonePort, call, caller)
	} else {
		parkedCallRetrieved(t, b, leader, phonePort, call, caller)
	}
	b.noJSErrors()
}

// setAutoFailover sets automatic failover with grace seconds, and auto
// log-in, in the console's preferences dialog; the console takes them
// back from the server (the mode in force is read from the page, the
// dialog opened again shows what was kept).
func setAutoFailover(t *testing.T, b *browser, grace int) {
	t.Helper()
	b.must("preferences", chromedp.Click("#prefs-button"))
	b.waitJS(waitShort, "the preferences dialog", `!document.getElementById("modal").hidden && document.getElementById("modal-field-auto") !== null && !document.getElementById("modal-field-auto").checked`)
	b.must("automatic failover, its grace, auto log-in",
		chromedp.Click("#modal-field-auto"),
		chromedp.SetValue("#modal-field-graceSeconds", fmt.Sprint(grace)),
		chromedp.Click("#modal-field-autoLogin"))
	b.shot("preferences-automatic")
	b.must("save the preferences", chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the dialog closed", `document.getElementById("modal").hidden`)
	b.waitJS(waitShort, "automatic failover in force", fmt.Sprintf(`window.tandemConsole.failoverMode === "automatic" && window.tandemConsole.graceSeconds === %d`, grace))
	b.must("preferences again", chromedp.Click("#prefs-button"))
	b.waitJS(waitShort, "the saved preferences", fmt.Sprintf(`!document.getElementById("modal").hidden && document.getElementById("modal-field-auto").checked && document.getElementById("modal-field-graceSeconds").value === "%d" && document.getElementById("modal-field-autoLogin").checked`, grace))
	b.must("close them", chromedp.KeyEvent(kb.Escape))
	b.waitJS(waitShort, "the dialog closed again", `document.getElementById("modal").hidden`)
}

// watchGrace starts sampling, inside the page every 25 ms, the title,
// the node listened to, the notice's text and the failure time the
// console recorded, until a little after the console leaves the primary
// (at most 2400 samples, a minute).
func watchGrace(t *testing.T, b *browser, primaryID string) {
	t.Helper()
	if err := b.run(waitShort, jsDo(fmt.Sprintf(`(() => {
  const w = { samples: [], switchAt: 0 };
  const take = () => {
    const n = document.getElementById("notice");
    const s = { t: Date.now(), title: document.title, listening: window.tandemConsole.listening,
      notice: n.hidden ? "" : document.getElementById("notice-text").textContent,
      failedAt: Number(n.dataset.failedAt || 0), graceMs: Number(n.dataset.graceMs || -1) };
    w.samples.push(s);
    if (!w.switchAt && s.listening !== %q) w.switchAt = s.t;
    if (w.samples.length >= 2400 || (w.switchAt && s.t - w.switchAt > 200)) clearInterval(w.timer);
  };
  w.timer = setInterval(take, 25);
  window.graceWatch = w;
})()`, primaryID))); err != nil {
		t.Fatalf("watching the grace: %v", err)
	}
}

// graceSample is one of watchGrace's samples.
type graceSample struct {
	T         int64  `json:"t"`
	Title     string `json:"title"`
	Listening string `json:"listening"`
	Notice    string `json:"notice"`
	FailedAt  int64  `json:"failedAt"`
	GraceMs   int64  `json:"graceMs"`
}

var countdownRE = regexp.MustCompile(`Switching to (\S+) in (\d+) s\.`)

// checkGrace: the console, in automatic mode, stays on the primary (its
// title PRIMARY and the primary's id, listening to it) until grace has
// passed since the failure it recorded, while its notice counts down the
// whole seconds left (each shown value right within the 200 ms redraw),
// and then switches by itself to the standby. Nothing is clicked.
func checkGrace(t *testing.T, b *browser, primaryID, standbyID string, grace time.Duration) {
	t.Helper()
	b.waitJS(waitShort, "the automatic notice", fmt.Sprintf(`document.getElementById("notice-text").textContent.includes("Switching to %s in")`, standbyID))
	b.shot("notice-counting-down")
	b.waitJS(waitCluster, "the switch seen by the watch", `window.graceWatch.switchAt > 0 && window.graceWatch.samples.at(-1).t - window.graceWatch.switchAt > 200`)
	raw, err := eval[string](b, `JSON.stringify({switchAt: window.graceWatch.switchAt, samples: window.graceWatch.samples})`)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		SwitchAt int64         `json:"switchAt"`
		Samples  []graceSample `json:"samples"`
	}
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		t.Fatal(err)
	}
	var failedAt int64
	for _, s := range w.Samples {
		if s.FailedAt != 0 {
			failedAt = s.FailedAt
			if s.GraceMs != grace.Milliseconds() {
				t.Fatalf("the notice's grace is %d ms, want %v", s.GraceMs, grace)
			}
			break
		}
	}
	if failedAt == 0 {
		t.Fatalf("no sample saw the failure recorded: %+v", w.Samples)
	}
	due := failedAt + grace.Milliseconds()
	const slack = 20 // ms: Date.now() against the page's monotonic timer
	if w.SwitchAt < due-slack {
		t.Fatalf("switched at %d, %d ms after the failure: before the grace of %v", w.SwitchAt, w.SwitchAt-failedAt, grace)
	}
	if w.SwitchAt > due+2000 {
		t.Fatalf("switched %d ms after the failure: not by itself after the grace of %v", w.SwitchAt-failedAt, grace)
	}
	during, shown := 0, map[int64]bool{}
	for _, s := range w.Samples {
		if s.T >= due-slack {
			break
		}
		if s.Listening != primaryID || !strings.Contains(s.Title, "PRIMARY") || !strings.Contains(s.Title, primaryID) {
			t.Fatalf("%d ms before the grace was over the console listened to %q, title %q", due-s.T, s.Listening, s.Title)
		}
		if s.FailedAt == 0 || s.Notice == "" {
			continue
		}
		during++
		m := countdownRE.FindStringSubmatch(s.Notice)
		if m == nil || m[1] != standbyID {
			t.Fatalf("the notice during the grace reads %q, want a countdown to %s", s.Notice, standbyID)
		}
		left, _ := strconv.ParseInt(m[2], 10, 64)
		lo, hi := (due-s.T+999)/1000, (due-s.T+250+999)/1000
		if left < lo || left > hi {
			t.Fatalf("%d ms before the switch the notice reads %q (want %d..%d s)", due-s.T, s.Notice, lo, hi)
		}
		shown[left] = true
	}
	if during < 10 {
		t.Fatalf("only %d samples during the grace: %+v", during, w.Samples)
	}
	for s := int64(1); s <= int64(grace/time.Second); s++ {
		if !shown[s] {
			t.Fatalf("the countdown never showed %d s: %+v", s, w.Samples)
		}
	}
	t.Logf("failure seen %d ms into the watch; switched by itself %d ms after it (grace %v); %d samples on the primary during the grace, countdown %v",
		failedAt-w.Samples[0].T, w.SwitchAt-failedAt, grace, during, shown)
}

// parkedCallRetrieved: through the secondary (the leader, alive) the
// note committed during the switch shows once, the operator retrieves
// the parked call (the phone rings again and answers; the caller is
// re-INVITEd with the phone's SDP) and hangs up; caller and phone get
// Tandem's BYE, and the call's end shows once.
func parkedCallRetrieved(t *testing.T, b *browser, leader *node, phonePort int, call string, caller func() sippRun) {
	t.Helper()
	b.waitJS(waitShort, "the note changed meanwhile", fmt.Sprintf(`document.querySelector('#sup-rows tr[data-call=%q] .sup-note').textContent === "changed during the switch"`, call))
	activityOnce(t, b, "call.note_updated", "changed during the switch")
	phone := sippFlow(t, leader.sipAddr, "agent_uas.xml", phonePort, "-key", "ext", "2001")
	waitFor(t, waitShort, "the operator's phone listening again", func() (bool, string) { return !portFree(phonePort), "" })
	b.must("select the parked call", chromedp.Click(fmt.Sprintf(`#sup-rows tr[data-call=%q]`, call)))
	b.must("retrieve", chromedp.Click("#btn-retrieve-sup"))
	b.waitJS(waitShort, "the call back on line 1", fmt.Sprintf(`document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call === %q`, call))
	leader.sipCalls(t, "reoffered", 1)
	b.shot("retrieved")
	b.must("hang up (F2)", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free again, the call gone", fmt.Sprintf(`document.getElementById("line1").dataset.state === "idle" && !document.querySelector('#sup-rows tr[data-call=%q]')`, call))
	b.shot("hung-up")
	cr := mustRun(t, "the caller (answered, re-INVITEd with the phone's SDP on the retrieval, BYE from Tandem)", caller())
	mustSee(t, "the BYE did not come from the leader", cr, "BYE sip:")
	mustSee(t, "Tandem's requests did not come from the leader", cr, "Via: SIP/2.0/UDP "+leader.sipAddr+";")
	mustRun(t, "the operator's phone (rung again on the retrieval, BYE from Tandem)", phone())
	b.waitJS(waitShort, "the call's end shown", fmt.Sprintf(`[...document.querySelectorAll("#activity li")].some(li => li.dataset.type === "call.ended" && li.textContent.includes(%q))`, call))
	activityOnce(t, b, "call.ended", call)
	activityOnce(t, b, "call.note_updated", "changed during the switch")
	if st := leader.opState(t); st.Agent.Line1 != "" || len(st.Supervised) != 0 {
		t.Fatalf("after the hang-up the operator still has a call: %+v", st)
	}
}

// parkedCallReleased: the new leader releases the parked call whose
// dialog died with the old one; the console on the secondary shows it
// gone and its end once; the caller gets the new leader's BYE; a new call
// through the new leader rings the same phone and is hung up from the
// console.
func parkedCallReleased(t *testing.T, b *browser, nodes []*node, old, standby *node, phonePort int, call string, caller func() sippRun) {
	t.Helper()
	next := waitLeader(t, followers(nodes, old), 3)
	next.sipCalls(t, "released", 1)
	b.waitJS(waitShort, "the parked call released, line 1 free", fmt.Sprintf(`!document.querySelector('#sup-rows tr[data-call=%q]') && document.getElementById("line1").dataset.state === "idle"`, call))
	b.waitJS(waitShort, "the release shown", fmt.Sprintf(`[...document.querySelectorAll("#activity li")].some(li => li.dataset.type === "call.ended" && li.textContent.includes(%q))`, call))
	activityOnce(t, b, "call.ended", call)
	b.shot("call-released")
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
	phone := sippFlow(t, next.sipAddr, "agent_uas.xml", phonePort, "-key", "ext", "2001")
	waitFor(t, waitShort, "the operator's phone listening again", func() (bool, string) { return !portFree(phonePort), "" })
	caller = sippFlow(t, next.sipAddr, "caller_hung_up.xml", freePort(t), "-key", "queue", "sales")
	b.waitJS(waitShort, "the second call answered", fmt.Sprintf(`document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call.startsWith("sip-") && document.getElementById("line1").dataset.call !== %q`, call))
	b.shot("second-call-answered")
	b.must("hang up (F2)", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free again", `document.getElementById("line1").dataset.state === "idle"`)
	b.shot("hung-up")
	mustRun(t, "the second caller (answered, BYE from Tandem)", caller())
	mustRun(t, "the operator's phone (answered, BYE from Tandem)", phone())
	activityOnce(t, b, "call.ended", call)
}
