package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tandemcc/tandem/console"
)

// uiOpts are uiCluster's options.
type uiOpts struct {
	// sip: every node's SIP edge trusts loopback as a gateway (sipp
	// callers), and extension 2001's phone has a password (a sipp phone
	// registers as 2001-desk with phonePassword).
	sip bool
}

// phonePassword is extension 2001's phone password under uiOpts.sip.
const phonePassword = "desk-password-2001"

// uiCluster is a 3-node cluster configured with one operator (ann, agent
// a1 on extension 2001, serving queue sales) and a colleague (bob on
// 2002, ann's speed dial), whose members all know each other's web
// addresses (the console fails over to them).
func uiCluster(t *testing.T, prefix string, o uiOpts) []*node {
	t.Helper()
	var opts map[int][]nodeOpt
	phone := ""
	if o.sip {
		trusted := withArgs("--sip-trusted", "127.0.0.1")
		opts = map[int][]nodeOpt{0: {trusted}, 1: {trusted}, 2: {trusted}}
		phone = ", password: " + phonePassword
	}
	nodes := startCluster(t, prefix, 3, opts)
	leader := waitLeader(t, nodes, 3)
	if leader.httpAddr == "" {
		t.Fatal("tandemd has no --http-addr")
	}
	if o.sip {
		for _, n := range nodes {
			sipNode(t, n)
		}
	}
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	bobHash, err := console.HashPassword("bob-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	leader.apply(fmt.Sprintf(`
settings:
  ring_timeout_seconds: 300
  auto_return_seconds: 900
  park_return_seconds: 900
  directory_search: [{field: last_name, label: Surname, default: Jones}, {field: company, label: Firm}]
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1%s}]
  - number: "2002"
    phones: [{id: desk2, position: 0, order: 1}]
users:
  - {id: ann, name: Ann Smith, extension: "2001", password_hash: "%s", speed_dials: [{label: Bob, number: "2002"}]}
  - {id: bob, name: Bob Jones, first_name: Bob, last_name: Jones, extension: "2002", password_hash: "%s"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`, phone, hash, bobHash)).ok(t)
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

// uiEdge reports a telephony-edge event through the admin mount of via,
// retried while the cluster elects a leader.
func uiEdge(t *testing.T, via *node, op string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	waitFor(t, waitCluster, "edge "+op+" via "+via.name(), func() (bool, string) {
		code, out, err := via.do("POST", "/v1/console/ops/"+op, true, b, "application/json")
		if err != nil || code != 200 {
			return false, fmt.Sprintf("%d %s %v", code, out, err)
		}
		return true, ""
	})
}

func nodeByID(nodes []*node, id string) *node {
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// autoPrefs makes ann's console switch automatically with no grace.
var autoPrefs = map[string]any{"user": "ann", "revision": 0, "preferences": map[string]any{"language": "en", "auto_failover": true, "failover_grace_seconds": 0}}

// TestConsoleUIFailover clicks the web console in Chromium against a real
// 3-node cluster: log in on the leader's page, go Connected, answer a
// call, park it with a note, SIGKILL the console's primary, see the
// notice, press OK (the console stays on the primary's view), click the
// toolbar's error icon, and through the secondary retrieve the parked
// call and hang up. The event stream resumes from the last position: an
// event committed while the console moved shows once. Then the same
// flow in automatic mode with a zero grace.
//
// "stopped" is the automatic flow with the primary SIGSTOPped instead:
// its sockets stay open, and the console's health poll finds it hung.
func TestConsoleUIFailover(t *testing.T) {
	for _, mode := range []string{"manual", "automatic", "stopped"} {
		t.Run(mode, func(t *testing.T) { consoleUIFailover(t, mode) })
	}
}

func consoleUIFailover(t *testing.T, mode string) {
	auto := mode != "manual"
	prefix := map[string]string{"manual": "uim", "automatic": "uia", "stopped": "uis"}[mode]
	nodes := uiCluster(t, prefix, uiOpts{})
	leader := waitLeader(t, nodes, 3)
	b := newBrowser(t, 1280, 800)
	page := "http://" + leader.httpAddr + "/console/"

	// Log in. Automatic mode is ann's preference, kept by the cluster
	// (an integration sets it here; the console reads it with its state).
	if auto {
		uiEdge(t, leader, "preferences", autoPrefs)
	}
	b.must("open the console", chromedp.Navigate(page))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.shot("login")
	b.must("log in",
		chromedp.SendKeys("#login-user", "ann"),
		chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	b.waitJS(waitShort, "PRIMARY in the title", fmt.Sprintf(`document.title.includes("PRIMARY") && document.title.includes(%q)`, leader.id))
	b.waitJS(waitCluster, "a standby connection", `window.tandemConsole.standby !== ""`)
	b.shot("logged-in")

	// Connected (two steps: Paused, then Connected).
	b.must("go Connected", chromedp.Click("#state-connected"))
	b.waitJS(waitShort, "Connected", `document.getElementById("state-connected").getAttribute("aria-pressed") === "true"`)
	b.waitJS(waitShort, "logged-in count", `document.getElementById("logged-in").textContent.includes("1")`)
	b.shot("connected")

	// A call arrives and is answered with Enter.
	uiEdge(t, leader, "incoming", map[string]any{"call": "c1", "queue": "sales", "number": "+44 161 5527789", "name": "Carol Caller"})
	b.waitJS(waitShort, "the call ringing on line 1", `document.getElementById("line1").dataset.state === "ringing"`)
	b.waitJS(waitShort, "queue row coloured", `document.querySelector('#queue-rows tr[data-queue="sales"]').dataset.level === "1"`)
	b.shot("ringing")
	b.must("accept with Enter", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "the call answered", `document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call === "c1"`)
	b.shot("answered")

	// Park with a note (F7).
	b.must("park (F7)", chromedp.KeyEvent(kb.F7))
	b.waitJS(waitShort, "the park dialog", `!document.getElementById("modal").hidden`)
	b.must("park note", chromedp.SendKeys("#modal-field-note", "VIP caller, call back"), chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "the parked call in supervision", `(() => { const r = document.querySelector('#sup-rows tr[data-call="c1"]'); return r && r.textContent.includes("VIP caller, call back") && r.dataset.band === "0"; })()`)
	b.waitJS(waitShort, "line 1 free", `document.getElementById("line1").dataset.state === "idle"`)
	b.shot("parked")

	// The console's primary dies.
	primaryID, _ := eval[string](b, `window.tandemConsole.listening`)
	standbyID, _ := eval[string](b, `window.tandemConsole.standby`)
	primary, standby := nodeByID(nodes, primaryID), nodeByID(nodes, standbyID)
	if primary == nil || standby == nil || primary == standby {
		t.Fatalf("console listens to %q with standby %q", primaryID, standbyID)
	}
	if mode == "stopped" {
		primary.signal(syscall.SIGSTOP)
		t.Cleanup(primary.kill)
	} else {
		primary.kill()
	}
	var third *node
	for _, n := range nodes {
		if n != primary && n != standby {
			third = n
		}
	}
	if !auto {
		b.waitJS(waitShort, "the failover notice", `!document.getElementById("notice").hidden && !document.getElementById("failover-icon").hidden`)
		b.shot("notice")
		// OK does not switch: the console still shows the primary.
		b.must("OK", chromedp.Click("#notice-ok"))
		b.waitJS(waitShort, "the notice gone", `document.getElementById("notice").hidden`)
		time.Sleep(500 * time.Millisecond) // a switch, if OK made one, would show by now
		b.waitJS(waitShort, "still on the primary", fmt.Sprintf(`document.title.includes("PRIMARY") && window.tandemConsole.listening === %q && !document.getElementById("failover-icon").hidden`, primaryID))
		b.shot("ok-still-primary")
	}
	// Something happens while the console moves: it must show once.
	uiEdge(t, standby, "note", map[string]any{"agent": "a1", "call": "c1", "note": "changed during the switch"})
	if !auto {
		b.must("click the error icon", chromedp.Click("#failover-icon"))
	}
	b.waitJS(waitCluster, "SECONDARY in the title", fmt.Sprintf(`document.title.includes("SECONDARY") && document.title.includes(%q) && window.tandemConsole.listening === %q`, standbyID, standbyID))
	b.waitJS(waitShort, "the note changed meanwhile", `document.querySelector('#sup-rows tr[data-call="c1"] .sup-note').textContent === "changed during the switch"`)
	b.waitJS(waitCluster, "a new standby", fmt.Sprintf(`window.tandemConsole.standby === %q`, third.id))
	b.shot("switched")
	checkActivity(t, b)

	// Retrieve the parked call through the secondary, then hang up (F2).
	b.must("select the parked call", chromedp.Click(`#sup-rows tr[data-call="c1"]`))
	b.must("retrieve", chromedp.Click("#btn-retrieve-sup"))
	b.waitJS(waitShort, "the call back on line 1", `document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call === "c1"`)
	b.shot("retrieved")
	b.must("hang up (F2)", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free again", `document.getElementById("line1").dataset.state === "idle" && !document.querySelector('#sup-rows tr[data-call="c1"]')`)
	b.shot("hung-up")
	checkActivity(t, b)
	if !auto {
		consoleUIDetails(t, b, standby, third)
	}
	b.noJSErrors()
}

// consoleUIDetails: the page fits 1280×800 and 1920×1080, shows nobody's
// secrets, speaks Spanish when asked, takes per-state and global
// shortcuts, hides a column, and warns before logging out from Paused
// (keyboard only). The preferences, saved through via, are the same on
// other's page after a new log-in there (kept by the cluster).
func consoleUIDetails(t *testing.T, b *browser, via, other *node) {
	t.Helper()
	for _, size := range [][2]int64{{1280, 800}, {1920, 1080}} {
		b.must("viewport", chromedp.EmulateViewport(size[0], size[1]))
		b.waitJS(waitShort, fmt.Sprintf("no horizontal scrolling at %d×%d", size[0], size[1]),
			`document.documentElement.scrollWidth <= window.innerWidth && document.querySelector(".toolbar").getBoundingClientRect().height < 60`)
		b.shot(fmt.Sprintf("layout-%dx%d", size[0], size[1]))
	}
	b.must("viewport", chromedp.EmulateViewport(1280, 800))
	secret, _ := eval[string](b, `JSON.parse(sessionStorage.getItem("tandem.console.token")).token`)
	if !strings.HasPrefix(secret, "tks1.") {
		t.Fatalf("session token %q", secret)
	}
	page, _ := eval[string](b, `document.documentElement.outerHTML + document.body.innerText + JSON.stringify(localStorage) + JSON.stringify(window.tandemConsole)`)
	for _, s := range []string{"ann-secret-1", secret, "pbkdf2", sharedToken} {
		if strings.Contains(page, s) {
			t.Fatalf("the page shows a secret (%.12s…)", s)
		}
	}

	// Attended transfer with the keyboard only: Enter accepts, Enter
	// holds, typing finds the one colleague, Enter consults on line 2,
	// Enter confirms once the colleague answered.
	uiEdge(t, via, "incoming", map[string]any{"call": "c2", "queue": "sales", "number": "+34 91 123 4567", "name": "Dora Diaz"})
	b.waitJS(waitShort, "c2 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept (Enter)", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c2 answered", `document.getElementById("line1").dataset.state === "talking" && document.getElementById("line1").dataset.call === "c2"`)
	b.must("hold (Enter)", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c2 held, focus on the search", `document.getElementById("line1").dataset.state === "held" && document.activeElement.id === "target"`)
	b.must("search Bob", chromedp.KeyEvent("Bob"))
	b.waitJS(waitShort, "one directory match with its line status", `(() => { const o = document.querySelectorAll("#directory [role=option]"); return o.length === 1 && o[0].dataset.number === "2002" && o[0].textContent.includes("Bob Jones"); })()`)
	b.shot("directory")
	b.must("consult (Enter)", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "line 2 dialling 2002", `document.getElementById("line2").dataset.state === "dialing" && document.querySelector("#line2 .line-number").textContent === "2002"`)
	consult, _ := eval[string](b, `document.getElementById("line2").dataset.call`)
	uiEdge(t, via, "remote_answer", map[string]any{"call": consult})
	b.waitJS(waitShort, "line 2 talking", `document.getElementById("line2").dataset.state === "talking"`)
	b.shot("consulting")
	b.must("confirm (Enter)", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "both lines free", `document.getElementById("line1").dataset.state === "idle" && document.getElementById("line2").dataset.state === "idle"`)

	// Blind transfer: the call waits in supervision until the target
	// answers.
	uiEdge(t, via, "incoming", map[string]any{"call": "c3", "queue": "sales", "number": "+34 91 765 4321", "name": "Eve Early"})
	b.waitJS(waitShort, "c3 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept", chromedp.Click("#btn-accept"))
	b.waitJS(waitShort, "c3 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("transfer to 2002", chromedp.SendKeys("#target", "2002"), chromedp.Click("#btn-transfer"))
	b.waitJS(waitShort, "c3 in supervision as a transfer", `(() => { const r = document.querySelector('#sup-rows tr[data-call="c3"]'); return r && r.textContent.includes("Transfer") && r.textContent.includes("2002"); })()`)
	b.shot("transfer")
	uiEdge(t, via, "remote_answer", map[string]any{"call": "c3"})
	b.waitJS(waitShort, "c3 gone from supervision", `!document.querySelector('#sup-rows tr[data-call="c3"]')`)

	// Directed park (F8) onto Bob's extension: it waits in supervision
	// until someone dials *552002 (the telephony edge reports the pickup).
	uiEdge(t, via, "incoming", map[string]any{"call": "c6", "queue": "sales", "number": "+34 91 555 6666", "name": "Gil Guest"})
	b.waitJS(waitShort, "c6 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c6", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c6 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("directed park (F8)", chromedp.KeyEvent(kb.F8))
	b.waitJS(waitShort, "the directed park dialog", `!document.getElementById("modal").hidden`)
	b.must("park on 2002", chromedp.SendKeys("#modal-field-extension", "2002"), chromedp.SendKeys("#modal-field-note", "for Bob"), chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "c6 parked on 2002", `(() => { const r = document.querySelector('#sup-rows tr[data-call="c6"]'); return r && r.textContent.includes("Directed park") && r.textContent.includes("for Bob") && r.textContent.includes("2002"); })()`)
	b.shot("directed-park")
	uiEdge(t, via, "park_pickup", map[string]any{"extension": "2002", "by": "2002"})
	b.waitJS(waitShort, "c6 picked up", `!document.querySelector('#sup-rows tr[data-call="c6"]')`)

	// Couple: park one caller, answer another, join them.
	uiEdge(t, via, "incoming", map[string]any{"call": "c7", "queue": "sales", "number": "+34 91 777 8888"})
	b.waitJS(waitShort, "c7 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c7", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c7 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("park c7", chromedp.Click("#btn-park"))
	b.waitJS(waitShort, "the park dialog", `!document.getElementById("modal").hidden`)
	b.must("park without a note", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c7 parked", `!!document.querySelector('#sup-rows tr[data-call="c7"]')`)
	uiEdge(t, via, "incoming", map[string]any{"call": "c8", "queue": "sales", "number": "+34 91 999 0000"})
	b.waitJS(waitShort, "c8 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c8", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c8 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("select c7 and couple", chromedp.Click(`#sup-rows tr[data-call="c7"]`), chromedp.Click("#btn-couple"))
	b.waitJS(waitShort, "c7 and c8 coupled", `!document.querySelector('#sup-rows tr[data-call="c7"]') && document.getElementById("line1").dataset.state === "idle" && [...document.querySelectorAll("#activity li")].some(li => li.dataset.type === "call.coupled")`)

	// Observe (F10): the consulted colleague is busy, so the caller
	// waits on his extension, shown in supervision.
	uiEdge(t, via, "incoming", map[string]any{"call": "c9", "queue": "sales", "number": "+34 91 121 2121"})
	b.waitJS(waitShort, "c9 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c9", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c9 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("consult 2002", chromedp.SendKeys("#target", "2002"), chromedp.Click("#btn-consult"))
	b.waitJS(waitShort, "line 2 dialling", `document.getElementById("line2").dataset.state === "dialing"`)
	consult, _ = eval[string](b, `document.getElementById("line2").dataset.call`)
	uiEdge(t, via, "remote_busy", map[string]any{"call": consult})
	b.waitJS(waitShort, "line 2 busy", `document.getElementById("line2").dataset.state === "busy" && !document.getElementById("btn-observe").disabled`)
	b.must("observe (F10)", chromedp.KeyEvent(kb.F10))
	b.waitJS(waitShort, "c9 observed in supervision", `(() => { const r = document.querySelector('#sup-rows tr[data-call="c9"]'); return r && r.textContent.includes("Observe") && r.textContent.includes("2002"); })() && document.getElementById("line1").dataset.state === "idle"`)
	uiEdge(t, via, "remote_answer", map[string]any{"call": "c9"})
	b.waitJS(waitShort, "c9 put through", `!document.querySelector('#sup-rows tr[data-call="c9"]')`)

	// Chain: the caller is put through to Bob and comes back to ann's
	// personal queue when that conversation ends.
	uiEdge(t, via, "incoming", map[string]any{"call": "c10", "queue": "sales", "number": "+34 91 131 3131", "name": "Hal Hopper"})
	b.waitJS(waitShort, "c10 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c10", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c10 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("chain to 2002", chromedp.SendKeys("#target", "2002"), chromedp.Click("#btn-chain"))
	b.waitJS(waitShort, "c10 chained", `(() => { const r = document.querySelector('#sup-rows tr[data-call="c10"]'); return r && r.textContent.includes("Chain"); })()`)
	uiEdge(t, via, "remote_answer", map[string]any{"call": "c10"})
	uiEdge(t, via, "remote_hangup", map[string]any{"call": "c10", "side": "target"})
	b.waitJS(waitShort, "c10 back with ann", `document.getElementById("line1").dataset.call === "c10" && document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c10 again", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c10 answered again", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("hang up c10", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free after the chain", `document.getElementById("line1").dataset.state === "idle"`)

	// A call for ann personally while she talks waits in her personal
	// queue, shown in supervision; it rings once she hangs up.
	uiEdge(t, via, "incoming", map[string]any{"call": "c4", "queue": "sales", "number": "+34 91 111 2222"})
	b.waitJS(waitShort, "c4 ringing", `document.getElementById("line1").dataset.state === "ringing"`)
	b.must("accept c4", chromedp.Click("#btn-accept"))
	b.waitJS(waitShort, "c4 answered", `document.getElementById("line1").dataset.state === "talking"`)
	uiEdge(t, via, "incoming", map[string]any{"call": "c5", "agent": "a1", "number": "+34 91 333 4444", "name": "Fay Personal"})
	b.waitJS(waitShort, "c5 in the personal queue", `(() => { const r = document.querySelector('#sup-rows tr[data-call="c5"]'); return r && r.textContent.includes("Personal queue") && r.textContent.includes("Fay Personal"); })()`)
	b.shot("personal-queue")
	b.must("hang up c4", chromedp.Click("#btn-hangup"))
	b.waitJS(waitShort, "c5 ringing", `document.getElementById("line1").dataset.state === "ringing" && document.getElementById("line1").dataset.call === "c5"`)
	b.must("accept c5", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "c5 answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("hang up c5", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free", `document.getElementById("line1").dataset.state === "idle"`)

	// Report a problem about a recent call.
	b.must("report a problem", chromedp.Click("#btn-report"))
	b.waitJS(waitShort, "the report dialog", `!document.getElementById("modal").hidden && document.querySelectorAll("#modal-field-call option").length > 0`)
	b.must("describe", chromedp.SendKeys("#modal-field-description", "caller heard an echo"), chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the report sent", `document.getElementById("status").textContent === "Problem reported." && [...document.querySelectorAll("#activity li")].some(li => li.dataset.type === "problem.reported")`)

	// Voicemail: a message arrives in ann's mailbox; she marks it heard,
	// then deletes it after confirming.
	b.must("voicemail tab", chromedp.Click("#tab-voicemail"))
	uiEdge(t, via, "voicemail_deposited", map[string]any{"mailbox": "2001", "message": "m1", "from": "+44 161 5527789", "name": "Carol Caller"})
	b.waitJS(waitShort, "the new message", `(() => { const r = document.querySelector('#voicemail-rows tr[data-message="m1"]'); return r && r.dataset.folder === "inbox" && r.textContent.includes("Carol Caller"); })()`)
	b.shot("voicemail")
	b.must("mark heard", chromedp.Click(`#voicemail-rows tr[data-message="m1"] .vm-old`))
	b.waitJS(waitShort, "the message heard", `document.querySelector('#voicemail-rows tr[data-message="m1"]').dataset.folder === "old"`)
	b.must("delete", chromedp.Click(`#voicemail-rows tr[data-message="m1"] .vm-delete`))
	b.waitJS(waitShort, "the delete confirmation", `!document.getElementById("modal").hidden`)
	b.must("confirm", chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the message gone", `!document.querySelector('#voicemail-rows tr[data-message="m1"]')`)

	// Voicemail PINs: ann sets her mailbox's PIN; bob (through his own
	// session) sets his; ann monitors bob's mailbox: red with a wrong
	// PIN, green with the right one, and then sees its messages.
	const annPIN, bobPIN = "470931", "582064"
	b.must("my mailbox PIN", chromedp.Click("#vm-set-pin"))
	b.waitJS(waitShort, "the PIN dialog", `!document.getElementById("modal").hidden`)
	b.must("a new PIN", chromedp.SendKeys("#modal-field-pin", annPIN), chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the PIN set", `document.getElementById("vm-pin-result").className === "pin-right" && document.getElementById("vm-pin-result").textContent === "Your mailbox PIN is set."`)
	setBobPIN(t, via, bobPIN)
	b.must("monitor 2002 with a wrong PIN", chromedp.SendKeys("#vm-ext", "2002"), chromedp.SendKeys("#vm-pin", "111111"), chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "red: wrong PIN", `document.getElementById("vm-pin-result").className === "pin-wrong" && document.getElementById("vm-pin-result").textContent === "Wrong PIN for mailbox 2002." && document.getElementById("vm-pin").getAttribute("aria-invalid") === "true"`)
	b.shot("voicemail-pin-wrong")
	b.must("the right PIN", chromedp.SendKeys("#vm-pin", bobPIN), chromedp.Click("#vm-monitor-btn"))
	b.waitJS(waitShort, "green: monitoring", `document.getElementById("vm-pin-result").className === "pin-right" && document.getElementById("vm-pin").value === ""`)
	uiEdge(t, via, "voicemail_deposited", map[string]any{"mailbox": "2002", "message": "m2", "from": "+44 161 5550000", "name": "Ivy Inbox"})
	b.waitJS(waitShort, "bob's message in ann's list", `(() => { const r = document.querySelector('#voicemail-rows tr[data-message="m2"]'); return r && r.textContent.includes("2002") && r.textContent.includes("Ivy Inbox"); })()`)
	b.must("its details", chromedp.Click(`#voicemail-rows tr[data-message="m2"] .vm-details`))
	b.waitJS(waitShort, "the details", `!document.getElementById("modal").hidden && document.getElementById("modal-text").textContent.includes("+44 161 5550000")`)
	b.must("close the details", chromedp.KeyEvent(kb.Escape))
	b.shot("voicemail-monitored")
	page, _ = eval[string](b, `document.documentElement.outerHTML + document.body.innerText + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)
	for _, n := range []*node{via, other} {
		page += n.log()
	}
	for _, s := range []string{annPIN, bobPIN} {
		if strings.Contains(page, s) {
			t.Fatalf("a voicemail PIN reached the page or a node's log")
		}
	}

	// Speed dials, with the line status of their numbers.
	b.must("speed dials tab", chromedp.Click("#tab-speed"))
	b.waitJS(waitShort, "Bob's speed dial", `(() => { const d = document.querySelector('#speed-dials button[data-number="2002"]'); return d && d.textContent.startsWith("Bob"); })()`)
	b.must("dial Bob by his speed dial", chromedp.Click(`#speed-dials button[data-number="2002"]`))
	b.waitJS(waitShort, "dialling 2002 on line 1", `document.getElementById("line1").dataset.state === "dialing" && document.querySelector("#line1 .line-number").textContent === "2002"`)
	dialled, _ := eval[string](b, `document.getElementById("line1").dataset.call`)
	uiEdge(t, via, "remote_answer", map[string]any{"call": dialled})
	b.waitJS(waitShort, "Bob answered", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("hang up (F2)", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free after the dial", `document.getElementById("line1").dataset.state === "idle"`)

	// Speed-dial set-up: ann makes her own key on page 2 with label 2
	// and a colour (the administrator's Bob becomes her own too), shows
	// the line state on the keys, and dials from the new key.
	b.must("set up speed dials", chromedp.Click("#speed-setup"))
	b.waitJS(waitShort, "the set-up table with the default key", `!document.getElementById("speed-editor").hidden && document.querySelector('#speed-rows tr[data-number="2002"][data-page="1"]') !== null`)
	b.must("page 2", chromedp.Click("#speed-page-2"))
	b.waitJS(waitShort, "page 2, empty", `document.getElementById("speed-page-2").getAttribute("aria-pressed") === "true" && !document.querySelector("#speed-dials button")`)
	b.must("add a key", chromedp.Click("#speed-add"))
	b.waitJS(waitShort, "the speed-dial dialog, focus on label 1", `!document.getElementById("modal").hidden && document.activeElement.id === "modal-field-label" && document.getElementById("modal-field-page").value === "2"`)
	b.must("label 1, label 2, the number, green", chromedp.SendKeys("#modal-field-label", "Reception"), chromedp.SendKeys("#modal-field-label2", "Front desk"),
		chromedp.SendKeys("#modal-field-number", "2002"), chromedp.Click(`#modal-field-colour input[value="green"]`))
	b.shot("speed-dial-dialog")
	b.must("save it (Enter)", chromedp.Focus("#modal-field-number"), chromedp.KeyEvent("\r"))
	newKey := `document.querySelector('#speed-dials button[data-page="2"][data-number="2002"]')`
	b.waitJS(waitShort, "the new key on page 2, green, with both labels", `(() => { const k = `+newKey+`; return k && k.classList.contains("sd-green") && k.querySelector(".sd-label").textContent === "Reception" && k.querySelector(".sd-label2").textContent === "Front desk" && !k.querySelector(".sd-line"); })()`)
	b.must("show the line state", chromedp.Click("#speed-line-state"))
	b.waitJS(waitShort, "the line state on the key", `(() => { const k = `+newKey+`; return k && k.querySelector(".sd-line") && k.querySelector(".sd-line").textContent !== ""; })()`)
	b.shot("speed-dial-page-2")
	b.must("dial from the new key", chromedp.Click(`#speed-dials button[data-page="2"][data-number="2002"]`))
	b.waitJS(waitShort, "dialling 2002 from page 2", `document.getElementById("line1").dataset.state === "dialing" && document.querySelector("#line1 .line-number").textContent === "2002"`)
	dialled, _ = eval[string](b, `document.getElementById("line1").dataset.call`)
	uiEdge(t, via, "remote_answer", map[string]any{"call": dialled})
	b.waitJS(waitShort, "Bob answered the key's call", `document.getElementById("line1").dataset.state === "talking"`)
	b.must("hang up (F2)", chromedp.KeyEvent(kb.F2))
	b.waitJS(waitShort, "line 1 free after the key's call", `document.getElementById("line1").dataset.state === "idle"`)
	b.must("page 1", chromedp.Click("#speed-page-1"))
	b.waitJS(waitShort, "Bob's key kept on page 1, now ann's own", `document.querySelector('#speed-dials button[data-page="1"][data-number="2002"]') !== null && document.getElementById("speed-source").textContent === "These are your own speed dials."`)

	// The directory's search fields, labelled and filled with their
	// configured defaults, searched together.
	b.must("directory tab", chromedp.Click("#tab-directory"))
	b.waitJS(waitShort, "the search fields with their labels and defaults, and Bob found", `(() => {
		const l = (f) => document.querySelector('#dir-search label[for="dir-field-' + f + '"]').textContent;
		return l("last_name") === "Surname" && l("company") === "Firm" && document.getElementById("dir-field-last_name").value === "Jones" &&
			document.getElementById("dir-field-company").value === "" && document.querySelector('#dir-rows tr[data-id="bob"]') !== null && !document.querySelector('#dir-rows tr[data-id="ann"]'); })()`)
	b.shot("directory-fields")
	b.must("a surname nobody has", chromedp.SetValue("#dir-field-last_name", "Nobody"), chromedp.Click(`#dir-search button[type="submit"]`))
	b.waitJS(waitShort, "nobody found", `!document.querySelector('#dir-rows tr[data-id="bob"]') && document.getElementById("dir-rows").textContent.includes("Nobody matches.")`)

	// The receptionists tab and the call history.
	b.must("receptionists tab", chromedp.Click("#tab-receptionists"))
	b.waitJS(waitShort, "ann among the receptionists", `(() => { const r = document.querySelector('#receptionist-rows tr[data-agent="a1"]'); return r && r.dataset.state === "connected" && r.textContent.includes("Ann Smith") && r.textContent.includes("sales"); })()`)
	b.shot("receptionists")
	b.must("history tab", chromedp.Click("#tab-history"))
	b.waitJS(waitShort, "the call in the history", `[...document.querySelectorAll("#history-rows tr")].some(r => r.textContent.includes("Carol Caller"))`)
	b.shot("history")

	// Spanish, through the preferences dialog.
	b.must("preferences", chromedp.Click("#prefs-button"))
	b.waitJS(waitShort, "the preferences dialog", `!document.getElementById("modal").hidden`)
	// A shortcut the engine would refuse is refused at the edge, named,
	// and nothing is saved.
	b.must("a bad shortcut", chromedp.SetValue("#modal-field-keys-global", "F13=report"), chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the refusal", `document.getElementById("error").textContent.includes("preferences.shortcuts[0].key")`)
	b.must("preferences again", chromedp.Click("#prefs-button"))
	b.waitJS(waitShort, "the preferences dialog again", `!document.getElementById("modal").hidden && document.getElementById("modal-field-keys-global").value === ""`)
	b.must("Spanish, large text, times since the previous event, shortcuts, a hidden column", chromedp.SetValue("#modal-field-lang", "es"),
		chromedp.SetValue("#modal-field-textSize", "large"), chromedp.SetValue("#modal-field-timeFormat", "previous"),
		chromedp.SetValue("#modal-field-keys-connected", "F4=report"), chromedp.SetValue("#modal-field-keys-global", "F6=prefs"),
		chromedp.Click("#modal-field-col-supervision-owner"), chromedp.Click("#modal-ok"))
	spanish := `document.title.includes("SECUNDARIO") && document.getElementById("state-connected").textContent === "Conectado" && document.documentElement.lang === "es" && document.documentElement.style.fontSize === "18px" && document.querySelector('table[data-list="supervision"] th[data-col="owner"]').hidden && !document.querySelector('table[data-list="supervision"] th[data-col="note"]').hidden`
	b.waitJS(waitShort, "Spanish strings, the owner column hidden", spanish)
	b.shot("spanish")
	b.must("a Connected shortcut (F4)", chromedp.KeyEvent(kb.F4))
	b.waitJS(waitShort, "the report dialog by shortcut", `!document.getElementById("modal").hidden && document.getElementById("modal-title").textContent === "Informar de un problema"`)
	b.must("close it", chromedp.KeyEvent(kb.Escape))
	b.waitJS(waitShort, "the dialog closed", `document.getElementById("modal").hidden`)
	b.must("Paused (the predefined Shift+F9)", chromedp.KeyEvent(kb.F9, chromedp.KeyModifiers(chromedp.ModifierShift)))
	b.waitJS(waitShort, "Paused, timed since the previous event", `document.getElementById("state-paused").getAttribute("aria-pressed") === "true" && document.querySelector("#activity li").textContent.startsWith("+")`)
	// F4 is Connected's only: in Paused it does nothing, so the global F6
	// that follows opens the preferences (not stopped by an open dialog).
	b.must("F4 then F6 while Paused", chromedp.KeyEvent(kb.F4), chromedp.KeyEvent(kb.F6))
	b.waitJS(waitShort, "the preferences by the global shortcut", `!document.getElementById("modal").hidden && document.getElementById("modal-title").textContent === "Preferencias"`)
	b.must("close them", chromedp.KeyEvent(kb.Escape))
	b.waitJS(waitShort, "the preferences closed", `document.getElementById("modal").hidden`)

	// Log-out from Connected warns first: Escape keeps the session,
	// Enter confirms (keyboard only).
	b.must("focus log-out", chromedp.Focus("#logout-button"), chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "the log-out warning", `!document.getElementById("modal").hidden && document.getElementById("modal-text").textContent.includes("En pausa")`)
	b.shot("logout-warning")
	b.must("keep the session", chromedp.KeyEvent(kb.Escape))
	b.waitJS(waitShort, "still logged in", `document.getElementById("modal").hidden && !document.getElementById("app").hidden`)
	b.must("log out", chromedp.Focus("#logout-button"), chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "the log-out warning again", `!document.getElementById("modal").hidden`)
	b.must("confirm", chromedp.KeyEvent("\r"))
	b.waitJS(waitShort, "the log-in form", `!document.getElementById("login").hidden && document.getElementById("app").hidden`)
	b.shot("logged-out")
	waitFor(t, waitShort, "agent a1 disconnected", func() (bool, string) {
		code, out, err := via.get("/v1/console/state?agent=a1", true)
		return err == nil && code == 200 && strings.Contains(string(out), `"state":"disconnected"`), fmt.Sprintf("%d %s %v", code, out, err)
	})

	// Another member's page (another origin: nothing of this page's
	// storage): after a log-in there ann's preferences are the same.
	b.must("open the console on "+other.id, chromedp.Navigate("http://"+other.httpAddr+"/console/"))
	b.waitJS(waitShort, "log-in form on "+other.id, `!document.getElementById("login").hidden`)
	b.must("log in on "+other.id, chromedp.SendKeys("#login-user", "ann"), chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console on "+other.id, `document.body.dataset.ready === "1"`)
	b.waitJS(waitShort, "the same preferences on "+other.id, strings.Replace(spanish, "SECUNDARIO", "PRIMARIO", 1))
	b.must("the global F6 there", chromedp.KeyEvent(kb.F6))
	b.waitJS(waitShort, "the preferences by F6 there", `!document.getElementById("modal").hidden && document.getElementById("modal-field-keys-connected").value === "F4=report"`)
	b.must("close them there", chromedp.KeyEvent(kb.Escape))
	b.shot("preferences-on-another-node")

	// Ann's own speed dials are there too, and after a reload.
	for _, step := range []string{"on " + other.id, "after a reload"} {
		if step == "after a reload" {
			b.must("reload", chromedp.Reload())
			b.waitJS(waitShort, "the console again "+step, `document.body.dataset.ready === "1"`)
		}
		b.must("speed dials tab "+step, chromedp.Click("#tab-speed"), chromedp.Click("#speed-page-2"))
		b.waitJS(waitShort, "the page-2 key "+step, `(() => { const k = `+newKey+`; return k && k.classList.contains("sd-green") && k.textContent.includes("Reception") && k.textContent.includes("Front desk") && k.querySelector(".sd-line") !== null; })()`)
	}
	b.shot("speed-dial-after-reload")
}

// setBobPIN logs bob in on via's public API and sets his mailbox's PIN.
func setBobPIN(t *testing.T, via *node, pin string) {
	t.Helper()
	post := func(path, token string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+via.httpAddr+console.PublicPrefix+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	tok, _ := post("/session", "", map[string]string{"user": "bob", "password": "bob-secret-1"})["token"].(string)
	post("/voicemail/pin", tok, map[string]string{"pin": pin})
}

// checkActivity: every event the console showed came once, in stream
// order, and the note changed during the switch is among them once.
func checkActivity(t *testing.T, b *browser) {
	t.Helper()
	activityOnce(t, b, "call.note_updated", "changed during the switch")
}

// activityOnce: every event the console's activity list shows came once,
// in stream order (positions strictly increasing), and exactly one of
// them is of type typ with text in its line.
func activityOnce(t *testing.T, b *browser, typ, text string) {
	t.Helper()
	raw, err := eval[string](b, `JSON.stringify([...document.querySelectorAll("#activity li")].reverse().map(li => [li.dataset.pos, li.dataset.type, li.textContent]))`)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][3]string
	json.Unmarshal([]byte(raw), &rows)
	var lastI, lastS int64 = -1, -1
	once := 0
	for _, r := range rows {
		var i, s int64
		fmt.Sscanf(r[0], "%d.%d", &i, &s)
		if i < lastI || (i == lastI && s <= lastS) {
			t.Fatalf("event %s (%s) after %d.%d: shown twice or out of order: %v", r[0], r[1], lastI, lastS, rows)
		}
		lastI, lastS = i, s
		if r[1] == typ && strings.Contains(r[2], text) {
			once++
		}
	}
	if once != 1 {
		t.Fatalf("%s %q shows %d times: %v", typ, text, once, rows)
	}
}

// TestConsoleUIPreferencesTwoPages: two consoles of one operator (two
// Chromium tabs, each with its own session, on two members). Page B
// opens its preferences and makes the text large; meanwhile page A sets
// up a speed dial of its own and changes the activity list's times. B's
// save, made from what it read, is refused by the cluster (412
// precondition_failed, nothing saved): B says so, reloads, and shows its
// own change over A's in the dialog again; saved, nothing of A's is
// lost (A's key and times, B's text size, on both pages and in the
// cluster). A speed-dial set-up made from an old list is refused the
// same way, the list reloaded with the other page's change.
func TestConsoleUIPreferencesTwoPages(t *testing.T) {
	nodes := uiCluster(t, "uip", uiOpts{})
	leader := waitLeader(t, nodes, 3)
	var follower *node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	pageA := newBrowser(t, 1280, 800)
	pageB := pageA.newTab("page-b")
	for _, p := range []struct {
		b    *browser
		n    *node
		name string
	}{{pageA, leader, "A"}, {pageB, follower, "B"}} {
		p.b.must(p.name+": open the console", chromedp.Navigate("http://"+p.n.httpAddr+"/console/"))
		p.b.waitJS(waitShort, p.name+": log-in form", `!document.getElementById("login").hidden`)
		p.b.must(p.name+": log in", chromedp.SendKeys("#login-user", "ann"), chromedp.SendKeys("#login-password", "ann-secret-1"),
			chromedp.Click("#login-submit"))
		p.b.waitJS(waitShort, p.name+": the console's state", `document.body.dataset.ready === "1"`)
	}
	// cluster reads ann's preferences as the cluster keeps them.
	type kept struct {
		Revision    int `json:"revision"`
		Preferences struct {
			TimeFormat string `json:"time_format"`
			TextSize   string `json:"text_size"`
			RingTone   bool   `json:"ring_tone"`
			SpeedDials []struct {
				Label  string `json:"label"`
				Number string `json:"number"`
			} `json:"speed_dials"`
		} `json:"preferences"`
	}
	cluster := func() kept {
		t.Helper()
		code, raw, err := leader.get("/v1/console/preferences?user=ann", true)
		var k kept
		if err != nil || code != 200 || json.Unmarshal(raw, &k) != nil {
			t.Fatalf("ann's preferences: %d %s %v", code, raw, err)
		}
		return k
	}
	labels := func(k kept) string {
		var out []string
		for _, sd := range k.Preferences.SpeedDials {
			out = append(out, sd.Label+"="+sd.Number)
		}
		return strings.Join(out, " ")
	}

	// B opens its preferences (read at revision 0) and makes the text
	// large, not saved yet.
	pageB.must("B: preferences", chromedp.Click("#prefs-button"))
	pageB.waitJS(waitShort, "B: the preferences dialog", `!document.getElementById("modal").hidden`)
	pageB.must("B: large text", chromedp.SetValue("#modal-field-textSize", "large"))

	// Meanwhile A sets up a key of its own (the default Bob becomes its
	// own too) and changes the activity list's times.
	pageA.must("A: speed dials tab", chromedp.Click("#tab-speed"))
	pageA.must("A: set up", chromedp.Click("#speed-setup"))
	pageA.waitJS(waitShort, "A: the set-up table", `!document.getElementById("speed-editor").hidden`)
	pageA.must("A: add a key", chromedp.Click("#speed-add"))
	pageA.waitJS(waitShort, "A: the speed-dial dialog", `!document.getElementById("modal").hidden && document.activeElement.id === "modal-field-label"`)
	pageA.must("A: Reception, 2002", chromedp.SendKeys("#modal-field-label", "Reception"), chromedp.SendKeys("#modal-field-number", "2002"),
		chromedp.Focus("#modal-field-number"), chromedp.KeyEvent("\r"))
	receptionKey := `(() => { const k = [...document.querySelectorAll("#speed-dials button")].find((b) => b.querySelector(".sd-label").textContent === "Reception"); return k !== undefined; })()`
	pageA.waitJS(waitShort, "A: its key", receptionKey)
	pageA.must("A: preferences", chromedp.Click("#prefs-button"))
	pageA.waitJS(waitShort, "A: the preferences dialog", `!document.getElementById("modal").hidden`)
	pageA.must("A: times since the previous event", chromedp.SetValue("#modal-field-timeFormat", "previous"), chromedp.Click("#modal-ok"))
	pageA.waitJS(waitShort, "A: saved", `document.getElementById("status").textContent === "Preferences saved."`)
	if k := cluster(); k.Revision != 2 || k.Preferences.TimeFormat != "previous" || labels(k) != "Bob=2002 Reception=2002" {
		t.Fatalf("after A's saves: %+v", k)
	}
	// B's page follows A's saves live (its stream), its dialog still open
	// with what it read.
	pageB.waitJS(waitShort, "B: A's key on its page", receptionKey)
	pageB.waitJS(waitShort, "B: its dialog still open", `!document.getElementById("modal").hidden && document.getElementById("modal-field-timeFormat").value === "clock"`)
	pageB.shot("b-before-save")

	// B saves from revision 0: refused, told, reloaded, its change shown
	// over A's.
	pageB.must("B: save", chromedp.Click("#modal-ok"))
	stale := `Your preferences were changed in another console meanwhile, so nothing was saved.`
	pageB.waitJS(waitShort, "B: told, the dialog again with A's times and its large text",
		`!document.getElementById("modal").hidden && document.getElementById("modal-text").textContent.startsWith(`+fmt.Sprintf("%q", stale)+`) &&
		document.getElementById("status").textContent.startsWith(`+fmt.Sprintf("%q", stale)+`) &&
		document.getElementById("modal-field-timeFormat").value === "previous" && document.getElementById("modal-field-textSize").value === "large"`)
	pageB.shot("b-told")
	if k := cluster(); k.Revision != 2 || k.Preferences.TextSize == "large" || k.Preferences.TimeFormat != "previous" || labels(k) != "Bob=2002 Reception=2002" {
		t.Fatalf("the stale save changed something: %+v", k)
	}
	pageB.must("B: save again", chromedp.Click("#modal-ok"))
	pageB.waitJS(waitShort, "B: saved, large text", `document.getElementById("modal").hidden && document.getElementById("status").textContent === "Preferences saved." && document.documentElement.style.fontSize === "18px"`)
	if k := cluster(); k.Revision != 3 || k.Preferences.TextSize != "large" || k.Preferences.TimeFormat != "previous" || labels(k) != "Bob=2002 Reception=2002" {
		t.Fatalf("after B's save: %+v", k)
	}
	pageA.waitJS(waitShort, "A: B's large text, its key kept", `document.documentElement.style.fontSize === "18px" && `+receptionKey)

	// A speed-dial set-up from an old list: B opens the add dialog, A
	// saves a preference meanwhile, B's key is refused, B's list is
	// reloaded, and B adds it again.
	pageB.must("B: speed dials tab", chromedp.Click("#tab-speed"))
	pageB.must("B: set up", chromedp.Click("#speed-setup"))
	pageB.waitJS(waitShort, "B: the set-up table", `!document.getElementById("speed-editor").hidden`)
	pageB.must("B: add a key", chromedp.Click("#speed-add"))
	pageB.waitJS(waitShort, "B: the speed-dial dialog", `!document.getElementById("modal").hidden && document.activeElement.id === "modal-field-label"`)
	pageB.must("B: Desk, 2001", chromedp.SendKeys("#modal-field-label", "Desk"), chromedp.SendKeys("#modal-field-number", "2001"))
	pageA.must("A: preferences again", chromedp.Click("#prefs-button"))
	pageA.waitJS(waitShort, "A: the preferences dialog again", `!document.getElementById("modal").hidden`)
	pageA.must("A: ring tone", chromedp.Click("#modal-field-ringTone"), chromedp.Click("#modal-ok"))
	pageA.waitJS(waitShort, "A: saved again", `document.getElementById("modal").hidden && document.getElementById("status").textContent === "Preferences saved."`)
	pageB.must("B: save the key", chromedp.Focus("#modal-field-number"), chromedp.KeyEvent("\r"))
	pageB.waitJS(waitShort, "B: told, no Desk key", `document.getElementById("modal").hidden && document.getElementById("error").textContent.startsWith("Your speed dials were changed in another console meanwhile") && `+receptionKey+` && !document.querySelector('#speed-dials button[data-number="2001"]')`)
	if k := cluster(); k.Revision != 4 || !k.Preferences.RingTone || labels(k) != "Bob=2002 Reception=2002" {
		t.Fatalf("the stale set-up changed something: %+v", k)
	}
	pageB.must("B: add the key again", chromedp.Click("#speed-add"))
	pageB.waitJS(waitShort, "B: the speed-dial dialog again", `!document.getElementById("modal").hidden && document.activeElement.id === "modal-field-label"`)
	pageB.must("B: Desk, 2001 again", chromedp.SendKeys("#modal-field-label", "Desk"), chromedp.SendKeys("#modal-field-number", "2001"),
		chromedp.Focus("#modal-field-number"), chromedp.KeyEvent("\r"))
	pageB.waitJS(waitShort, "B: its key", `document.querySelector('#speed-dials button[data-number="2001"]') !== null && `+receptionKey)
	if k := cluster(); k.Revision != 5 || !k.Preferences.RingTone || k.Preferences.TextSize != "large" || k.Preferences.TimeFormat != "previous" ||
		labels(k) != "Bob=2002 Reception=2002 Desk=2001" {
		t.Fatalf("at the end: %+v", k)
	}
	pageA.waitJS(waitShort, "A: B's key too", `document.querySelector('#speed-dials button[data-number="2001"]') !== null && `+receptionKey)
	pageA.shot("a-end")
	pageB.shot("b-end")
	pageA.noJSErrors()
	pageB.noJSErrors()
}
