package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tandemcc/tandem/console"
)

// widgetTexts are what the bundled chat widget shows in a language
// (web/pages/<lang>/strings.json).
type widgetTexts struct {
	title, connected, typing, ended, badParameter, transcriptSent string
}

var widgetLangs = map[string]widgetTexts{
	"en": {"Chat with us", "An agent is with you.", "The agent is typing…", "The chat has ended. Thank you.", "One of the fields is not valid.",
		"The transcript is on its way to your e-mail."},
	"es": {"Hable con nosotros", "Un agente le atiende.", "El agente está escribiendo…", "El chat ha terminado. Gracias.", "Uno de los campos no es válido.",
		"La conversación está de camino a su correo."},
}

// TestChatWidgetInChromium: the bundled chat widget, served by a real
// tandemd, in headless Debian Chromium, in English and in Spanish: a
// refused parameter shown as its code's message in the page's language;
// a customer starts a chat in the page, an agent takes it on the console
// API; messages go both ways, the agent's typing shows; tandemd is
// restarted under the page, which reconnects and resumes (nothing lost
// or twice, a message written meanwhile arrives); the agent ends it; the
// customer asks for the transcript by e-mail, which the e-mail channel's
// outbox sends through Postfix into the customer's mailbox in Dovecot.
func TestChatWidgetInChromium(t *testing.T) {
	imap, pf := startMailPeers(t, false)
	n := newNode(t, "widget1")
	n.start()
	waitLeader(t, []*node{n}, 1)
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	n.apply(fmt.Sprintf(`
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
chat: {languages: [en, es], queue: sales}
mail:
  imap: {host: 127.0.0.1, port: %d, tls: implicit, user: %q, password: %q, poll_seconds: 2}
%s  aliases:
    - {address: chat@example.org, queue: sales}
  ca_file: %s
`, hash, imap.Port, imap.User, imap.Password, smtpYAML(pf, 30), imap.CAFile)).ok(t)

	agent := &consoleClient{t: t, node: n}
	login := func() {
		t.Helper()
		code, out := agent.do("POST", "/session", map[string]string{"user": "ann", "password": "ann-secret-1"})
		if code != 200 {
			t.Fatalf("login: %d %v", code, out)
		}
		agent.token = out["token"].(string)
	}
	login()
	_, state := agent.do("GET", "/state", nil)
	agent.follow(state["since"].(string))
	agent.op("login", nil)
	agent.op("login", nil)

	b := newBrowser(t, 1000, 800)
	js := func(expr string) string {
		t.Helper()
		v, err := eval[string](b, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	messages := func() string {
		return js(`Array.from(document.querySelectorAll("#messages li")).map(li => li.getAttribute("data-seq") + ":" + li.className + ":" + li.querySelector(".text").textContent).join("|")`)
	}
	base := "http://" + n.httpAddr + "/chat/"
	for _, lang := range []string{"en", "es"} {
		tx := widgetLangs[lang]
		{ // one page after the other (the helpers fail the whole test)
			// An undefined chat language: 1011 in the page's language.
			b.must("open the page", chromedp.Navigate(base+lang+"/?chat_language=fr&source=shop"))
			b.waitJS(waitShort, "the page", `document.title === `+jsString(tx.title))
			b.must("start (refused)", chromedp.SetValue(chromedp.ID("customer_name"), "Ana Pérez"), chromedp.Click(chromedp.ID("start")))
			b.waitJS(waitShort, "1011", `document.getElementById("result").getAttribute("data-code") === "1011"`)
			if got := js(`document.getElementById("result").textContent`); got != tx.badParameter {
				t.Fatalf("1011 shown as %q", got)
			}

			// A chat: the page's parameters and the query's extra keys.
			b.must("open the page", chromedp.Navigate(base+lang+"/?source=shop&destination=web&order=A-17&priority=60"))
			b.waitJS(waitShort, "the page", `document.title === `+jsString(tx.title))
			b.must("start", chromedp.SetValue(chromedp.ID("customer_name"), "Ana Pérez"),
				chromedp.SetValue(chromedp.ID("caption"), "¿Dónde está mi pedido?"), chromedp.Click(chromedp.ID("start")))
			b.waitJS(waitShort, "the session", `document.getElementById("state").getAttribute("data-status") === "queued"`)
			b.must("write", chromedp.SetValue(chromedp.ID("text"), "Hello from "+lang),
				jsDo(`document.getElementById("text").dispatchEvent(new Event("input"))`), chromedp.Click(chromedp.ID("send")))
			b.waitJS(waitShort, "the customer's message", `document.querySelector("#messages li.customer[data-seq='1']")`)

			offered := agent.until("call.offered", waitShort)
			agentSees(agent, "Hello from "+lang) // the session's messages reach the offered agent
			agent.op("answer", nil)
			answered := agent.until("chat.answered", waitShort)
			session, _ := answered["chat"].(string)
			if session == "" {
				t.Fatalf("chat.answered %v (offered %v)", answered, offered)
			}
			b.waitJS(waitShort, "connected", `document.getElementById("state").textContent === `+jsString(tx.connected))

			agent.op("chat_typing", map[string]string{"session": session})
			b.waitJS(waitShort, "the agent typing", `!document.getElementById("typing").hidden && document.getElementById("typing").textContent === `+jsString(tx.typing))
			agent.op("chat_message", map[string]string{"session": session, "text": "Hola Ana, ¿en qué le ayudo?"})
			b.waitJS(waitShort, "the agent's message", `document.querySelector("#messages li.agent[data-seq='2']")`)

			if lang == "en" {
				// tandemd restarts under the page: it reconnects with since
				// and goes on; the agent's message written meanwhile (before
				// the page is back) arrives once.
				n.kill()
				b.waitJS(waitShort, "reconnecting", `document.getElementById("state").getAttribute("data-status") === "reconnecting"`)
				n.start()
				waitLeader(t, []*node{n}, 1)
				login()
				agent.follow("")
				agent.op("chat_message", map[string]string{"session": session, "text": "Still here."})
				b.waitJS(waitCluster, "the message written during the restart", `document.querySelector("#messages li.agent[data-seq='3']")`)
				b.waitJS(waitShort, "connected again", `document.getElementById("state").getAttribute("data-status") !== "reconnecting"`)
			}
			next := 3
			if lang == "en" {
				next = 4
			}
			b.must("write again", chromedp.SetValue(chromedp.ID("text"), "Gracias / thanks"), chromedp.Click(chromedp.ID("send")))
			b.waitJS(waitShort, "the second message", fmt.Sprintf(`document.querySelector("#messages li.customer[data-seq='%d']")`, next))
			agentSees(agent, "Gracias / thanks")

			want := []string{"1:customer:Hello from " + lang, "2:agent:Hola Ana, ¿en qué le ayudo?"}
			if lang == "en" {
				want = append(want, "3:agent:Still here.")
			}
			want = append(want, fmt.Sprintf("%d:customer:Gracias / thanks", next))
			if got := messages(); got != strings.Join(want, "|") {
				t.Fatalf("the page shows %q, want %q", got, strings.Join(want, "|"))
			}

			agent.op("chat_end", map[string]string{"session": session})
			b.waitJS(waitShort, "ended", `document.getElementById("state").textContent === `+jsString(tx.ended)+` && document.getElementById("send").disabled`)
			agent.until("call.ended", waitShort)
			// The transcript by e-mail: malformed address first (1010).
			b.waitJS(waitShort, "the transcript form", `!document.getElementById("transcript-form").hidden`)
			b.must("a bad address", chromedp.SetValue(chromedp.ID("email"), "ana@localhost"), jsDo(`document.getElementById("transcript").click()`))
			b.waitJS(waitShort, "1010", `document.getElementById("result").getAttribute("data-code") === "1010"`)
			to := "ana-" + lang + "@customer.example"
			b.must("the transcript", chromedp.SetValue(chromedp.ID("email"), to), jsDo(`document.getElementById("transcript").click()`))
			b.waitJS(waitShort, "the transcript queued", `document.getElementById("result").textContent === `+jsString(tx.transcriptSent))
			waitFor(t, waitShort, "the transcript in "+to+"'s mailbox", func() (bool, string) {
				got := mailbox(t, imap, to)
				for _, m := range got {
					if strings.Contains(string(m), "To: <"+to+">") && strings.Contains(string(m), "Gracias / thanks") {
						return true, ""
					}
				}
				return false, fmt.Sprintf("%d messages\n%s", len(got), pf.Logs())
			})
			b.shot("chat-" + lang)
			// The page holds no secret: no token, no password hash.
			page := js(`document.documentElement.outerHTML`)
			for _, secret := range []string{agent.token, hash, "ann-secret-1", sharedToken} {
				if secret != "" && strings.Contains(page, secret) {
					t.Fatal("the page shows a secret")
				}
			}
			// The page's own errors only (network errors while tandemd
			// restarted are expected and not counted).
			b.noJSErrors()
		}
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
