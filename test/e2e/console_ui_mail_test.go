package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	gomail "github.com/emersion/go-message/mail"
)

// TestConsoleUIMail: in the web console (Chromium), the e-mail contact
// offered to the operator shows its sender, subject, text and attachment,
// read from Dovecot through the console API; reply and forward wait until
// it is accepted; the reply the operator types goes out through Postfix
// into the customer's mailbox in Dovecot, threaded on the customer's
// message, and the console says it is in the outbox; the customer's
// answer, joining the contact, shows in the page by itself; the forward,
// to the address typed, carries the customer's message attached.
func TestConsoleUIMail(t *testing.T) {
	srv, pf := startMailPeers(t, false)
	n := mailAgentNode(t, "uim1", srv, pf)

	b := newBrowser(t, 1280, 900)
	b.must("open the console", chromedp.Navigate("http://"+n.httpAddr+"/console/"))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.must("log in", chromedp.SendKeys("#login-user", "ann"), chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	b.must("go Connected", chromedp.Click("#state-connected"))
	b.waitJS(waitShort, "Connected", `document.getElementById("state-connected").getAttribute("aria-pressed") === "true"`)
	if hidden, _ := eval[bool](b, `document.getElementById("mail").hidden`); !hidden {
		t.Fatal("the e-mail panel shows with no e-mail contact")
	}

	customer := "From: Zoe <zoe@customer.example>\r\nTo: Sales <sales@example.org>\r\nSubject: Quote for 12\r\n" +
		"Message-ID: <ui-1@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHow much for 12 cups?\r\n" +
		"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=plan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
	if _, err := srv.Append("INBOX", []byte(customer)); err != nil {
		t.Fatal(err)
	}
	b.waitJS(waitShort, "the e-mail offered on line 1", `document.getElementById("line1").dataset.state === "ringing" &&
		document.querySelector("#line1 .line-state").textContent === "Incoming e-mail" && document.querySelector("#line1 .line-number").textContent === "E-mail"`)
	b.waitJS(waitShort, "its message shown", `(() => { const m = document.getElementById("mail");
		return !m.hidden && m.dataset.loaded !== "" && document.getElementById("mail-from").textContent === "Zoe <zoe@customer.example>" &&
			document.getElementById("mail-subject").textContent === "Quote for 12" &&
			document.getElementById("mail-text").textContent.includes("How much for 12 cups?") &&
			document.getElementById("mail-attachments").textContent.includes("plan.pdf"); })()`)
	if off, _ := eval[bool](b, `document.getElementById("btn-mail-reply").disabled && document.getElementById("btn-mail-forward").disabled`); !off {
		t.Fatal("reply and forward are offered before the e-mail is accepted")
	}
	b.shot("mail-offered")
	b.must("accept", chromedp.Click("#btn-accept"))
	b.waitJS(waitShort, "reply offered once accepted", `!document.getElementById("btn-mail-reply").disabled && document.getElementById("line1").dataset.state !== "ringing"`)
	if voice, _ := eval[bool](b, `!document.getElementById("btn-hold").disabled`); voice {
		t.Fatal("Hold is offered for an e-mail")
	}
	b.must("reply", chromedp.Click("#btn-mail-reply"))
	b.waitJS(waitShort, "the reply dialog", `!document.getElementById("modal").hidden && document.activeElement.id === "modal-field-body"`)
	b.must("type the reply", chromedp.SendKeys("#modal-field-body", "Dear Zoe,\n12 cups are 30 EUR."), chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the console says it is in the outbox", `document.getElementById("status").textContent === "The reply is in the outbox."`)
	b.shot("mail-replied")
	// Zoe answers: the answer joins the contact, the console is told and
	// shows it, and the first message is a click away.
	answer := "From: Zoe <zoe@customer.example>\r\nTo: sales@example.org\r\nSubject: Re: Quote for 12\r\n" +
		"Message-ID: <ui-2@customer.example>\r\nIn-Reply-To: <ui-1@customer.example>\r\n\r\nMake it 24 cups.\r\n"
	uid2, err := srv.Append("INBOX", []byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	b.waitJS(waitShort, "the answer shown", fmt.Sprintf(`document.getElementById("mail-text").textContent.includes("Make it 24 cups.") &&
		document.getElementById("mail").dataset.loaded.endsWith("#%d") && document.querySelectorAll("#mail-messages button").length === 2 &&
		document.getElementById("status").textContent === "zoe@customer.example answered the e-mail."`, uid2))
	b.shot("mail-answered")
	b.must("the first message", chromedp.Click(`#mail-messages button[data-uid="0"]`))
	b.waitJS(waitShort, "the first message shown again", `document.getElementById("mail-text").textContent.includes("How much for 12 cups?") &&
		document.querySelector('#mail-messages button[data-uid="0"]').getAttribute("aria-pressed") === "true"`)
	b.must("forward", chromedp.Click("#btn-mail-forward"))
	b.waitJS(waitShort, "the forward dialog", `!document.getElementById("modal").hidden && document.activeElement.id === "modal-field-forward"`)
	b.must("type the forward", chromedp.SendKeys("#modal-field-forward", "tech@partner.example"),
		chromedp.SendKeys("#modal-field-body", "Please quote."), chromedp.Click("#modal-ok"))
	b.waitJS(waitShort, "the console says the forward is in the outbox", `document.getElementById("status").textContent === "The forward is in the outbox."`)
	b.noJSErrors()
	waitFor(t, waitShort, "the forward in the partner's mailbox", func() (bool, string) {
		msgs := mailbox(t, srv, "tech@partner.example")
		return len(msgs) == 1 && bytes.Contains(msgs[0], []byte("Please quote.")) && bytes.Contains(msgs[0], []byte("message/rfc822")),
			fmt.Sprintf("%d messages\n%s", len(msgs), pf.Logs())
	})

	const zoe = "zoe@customer.example"
	waitFor(t, waitShort, "the reply in Zoe's mailbox", func() (bool, string) {
		got := len(mailbox(t, srv, zoe))
		return got == 1, fmt.Sprintf("%d messages\n%s", got, pf.Logs())
	})
	m, err := gomail.CreateReader(bytes.NewReader(mailbox(t, srv, zoe)[0]))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := m.Header.AddressList("From")
	irt, _ := m.Header.MsgIDList("In-Reply-To")
	subject, _ := m.Header.Subject()
	part, err := m.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	text.ReadFrom(part.Body)
	if len(from) != 1 || from[0].Address != "sales@example.org" || fmt.Sprint(irt) != "[ui-1@customer.example]" || subject != "Re: Quote for 12" ||
		!strings.Contains(text.String(), "12 cups are 30 EUR.") {
		t.Fatalf("the reply: From %v, In-Reply-To %v, Subject %q, text %q", from, irt, subject, text.String())
	}
}
