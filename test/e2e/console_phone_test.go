package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tandemcc/tandem/console"
)

// TestConsoleUILoginNeedsPhone: log-in is tied to the operator's phone.
// A real sipp phone registers 2001 with the node's SIP edge and
// un-registers it; the console's log-in (Paused) is then refused with
// the spec's message, in the operator's language; once the phone
// registers again the log-in goes through.
func TestConsoleUILoginNeedsPhone(t *testing.T) {
	n := newNode(t, "uiphone")
	startSIPNode(t, n)
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	n.apply(fmt.Sprintf(`
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
	register := func(scenario, want string) {
		t.Helper()
		if r := sipp(t, n.sipAddr, scenario, "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
			t.Fatalf("%s: %v", scenario, r)
		}
		if st := n.lineStatus(t, "2001"); st != want {
			t.Fatalf("after %s 2001 is %s, want %s", scenario, st, want)
		}
	}
	register("register.xml", "free")
	register("unregister.xml", "not_connected")

	b := newBrowser(t, 1280, 800)
	b.must("open the console", chromedp.Navigate("http://"+n.httpAddr+"/console/"))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.must("log in", chromedp.SendKeys("#login-user", "ann"), chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	b.must("Paused", chromedp.Click("#state-paused"))
	b.waitJS(waitShort, "the refusal", `document.getElementById("error").textContent === "Your phone is not connected: check it or restart it." && document.getElementById("state-disconnected").getAttribute("aria-pressed") === "true"`)
	b.shot("phone-not-connected")

	uiEdge(t, n, "preferences", map[string]any{"user": "ann", "revision": 0, "preferences": map[string]any{"language": "es"}})
	b.waitJS(waitShort, "Spanish", `document.documentElement.lang === "es"`)
	b.must("Paused again", chromedp.Click("#state-paused"))
	b.waitJS(waitShort, "the refusal in Spanish", `document.getElementById("error").textContent === "Su teléfono no está conectado: compruébelo o reinícielo."`)

	register("register.xml", "free")
	b.must("Paused with the phone registered", chromedp.Click("#state-paused"))
	b.waitJS(waitShort, "Paused", `document.getElementById("state-paused").getAttribute("aria-pressed") === "true" && document.getElementById("error").textContent === ""`)
	b.noJSErrors()
}
