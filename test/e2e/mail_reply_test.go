package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	gomail "github.com/emersion/go-message/mail"

	"github.com/tandemcc/tandem/internal/dovecottest"
	"github.com/tandemcc/tandem/internal/postfixtest"
)

// startMailPeers starts the e-mail channel's real peers: Dovecot (IMAP
// over implicit TLS with a test CA, and LMTP) and Postfix (STARTTLS with a
// certificate of the same CA; with auth, relaying only after SMTP AUTH
// checked by Dovecot) relaying into Dovecot by LMTP, so every address a
// reply goes to is a mailbox the test reads (srv.Messages).
func startMailPeers(t *testing.T, auth bool) (*dovecottest.Server, *postfixtest.Server) {
	t.Helper()
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true, LMTP: true})
	return srv, postfixtest.Start(t, postfixtest.Options{Dovecot: srv, Auth: auth})
}

// smtpYAML is the mail.smtp line of a configuration sending through pf
// (mailDoc's ca_file, the test CA, lets the channel verify it).
func smtpYAML(pf *postfixtest.Server, perMinute int) string {
	auth := ""
	if pf.User != "" {
		auth = fmt.Sprintf(", user: %q, password: %q", pf.User, pf.Password)
	}
	return fmt.Sprintf("  smtp: {host: 127.0.0.1, port: %d, tls: starttls%s, messages_per_minute: %d}\n", pf.Port, auth, perMinute)
}

// mailDocSMTP is mailDoc(srv) sending through pf.
func mailDocSMTP(srv *dovecottest.Server, pf *postfixtest.Server, perMinute int) string {
	return strings.Replace(mailDoc(srv), "  aliases:", smtpYAML(pf, perMinute)+"  aliases:", 1)
}

// postReply queues a reply through the admin API (POST
// /v1/mail/replies), with the Idempotency-Key key unless it is "".
func postReply(t *testing.T, n *node, req map[string]string, key string) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, n.url("/v1/mail/replies"), bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+n.tokenValue())
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	resp, err := httpClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/mail/replies: %d %s", resp.StatusCode, rb)
	}
}

// mailbox is every message delivered to address so far.
func mailbox(t *testing.T, srv *dovecottest.Server, address string) [][]byte {
	t.Helper()
	msgs, err := srv.Messages(address, "INBOX")
	if err != nil {
		t.Fatalf("reading %s's mailbox: %v\n%s", address, err, srv.Logs())
	}
	return msgs
}

// TestMailReply: a customer's message becomes a contact; an agent's reply
// (POST /v1/mail/replies, sent twice with one Idempotency-Key) goes out
// once through Postfix (STARTTLS, SMTP AUTH) and is delivered once into
// the customer's mailbox in Dovecot, from the alias the customer wrote
// to, threaded on the customer's message; the reply coming back into the
// channel's mailbox (a copy) becomes no contact; the customer's answer
// joins the contact, and the next reply answers it (In-Reply-To,
// References continuing its thread).
func TestMailReply(t *testing.T) {
	srv, pf := startMailPeers(t, true)
	n := newNode(t, "r1")
	n.start()
	waitLeader(t, []*node{n}, 1)
	n.apply(mailDocSMTP(srv, pf, 30)).ok(t)
	customer := []byte("From: Ann <ann@customer.example>\r\nTo: Sales <sales@example.org>\r\nSubject: Quote\r\nMessage-ID: <q-1@customer.example>\r\n\r\nHow much?\r\n")
	uid, err := srv.Append("INBOX", customer)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(map[string][2]int{"sales": {1, 1}, "support": {0, 0}})
	waitFor(t, waitShort, "the contact", func() (bool, string) {
		got, err := n.queueCounts()
		return err == nil && fmt.Sprint(got) == want, fmt.Sprintf("%v %v", got, err)
	})
	var st struct {
		Mail struct {
			UIDValidity uint32 `json:"uid_validity"`
		} `json:"mail"`
	}
	_, b, _ := n.get("/v1/status", true)
	json.Unmarshal(b, &st)
	contact := fmt.Sprintf("mail-%d-%d", st.Mail.UIDValidity, uid)
	for i := 0; i < 2; i++ {
		postReply(t, n, map[string]string{"contact": contact, "body": "Dear Ann,\n\n10 EUR.\n"}, "reply-ann-1")
	}
	const ann = "ann@customer.example"
	waitFor(t, waitShort, "the reply in Ann's mailbox", func() (bool, string) {
		got := len(mailbox(t, srv, ann))
		return got == 1, fmt.Sprintf("%d messages\n%s", got, pf.Logs())
	})
	waitFor(t, waitShort, "the outbox to say sent", func() (bool, string) {
		_, ob, _ := n.get("/v1/mail/outbox?state=sent", true)
		return strings.Count(string(ob), `"state":"sent"`) == 1, string(ob)
	})
	if got := len(mailbox(t, srv, ann)); got != 1 {
		t.Fatalf("%d replies delivered, want 1", got)
	}
	_, metrics, _ := n.get("/metrics", false)
	if !strings.Contains(string(metrics), `tandem_mail_outbox{state="sent"} 1`) || !strings.Contains(string(metrics), `tandem_mail_replies_total{result="sent"} 1`) {
		t.Errorf("/metrics does not count the reply:\n%s", grepLines(string(metrics), "tandem_mail_"))
	}
	reply := mailbox(t, srv, ann)[0]
	if _, err := postfixtest.ReceivedAt(reply); err != nil || !strings.Contains(string(reply), "(using TLS") {
		t.Fatalf("the reply did not come through Postfix over TLS (%v):\n%s", err, reply)
	}
	m, err := gomail.CreateReader(bytes.NewReader(reply))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := m.Header.AddressList("From")
	to, _ := m.Header.AddressList("To")
	irt, _ := m.Header.MsgIDList("In-Reply-To")
	refs, _ := m.Header.MsgIDList("References")
	if len(from) != 1 || from[0].Address != "sales@example.org" || len(to) != 1 || to[0].Address != ann ||
		len(irt) != 1 || irt[0] != "q-1@customer.example" || fmt.Sprint(refs) != "[q-1@customer.example]" || m.Header.Get("X-Tandem-Contact") != contact {
		t.Fatalf("reply headers: %v", m.Header.Map())
	}
	// Our reply comes back into the mailbox (a copy): no new contact.
	if _, err := srv.Append("INBOX", reply); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitShort, "the copy recorded", func() (bool, string) {
		ms, _, _ := n.mailStatus()
		return ms.LastUID == uid+1, fmt.Sprintf("%+v", ms)
	})
	if got, _ := n.queueCounts(); fmt.Sprint(got) != want {
		t.Fatalf("our own reply became a contact: %v", got)
	}
	// Ann answers; her server keeps only the standard headers (no
	// X-Tandem-Contact): the answer joins the contact by In-Reply-To.
	replyID, _ := m.Header.MessageID()
	answer := fmt.Sprintf("From: Ann <ann@customer.example>\r\nTo: sales@example.org\r\nSubject: Re: Quote\r\nMessage-ID: <q-2@customer.example>\r\nIn-Reply-To: <%s>\r\nReferences: <q-1@customer.example> <%s>\r\n\r\nOK, deal.\r\n", replyID, replyID)
	if _, err := srv.Append("INBOX", []byte(answer)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitShort, "the answer recorded", func() (bool, string) {
		ms, _, _ := n.mailStatus()
		return ms.LastUID == uid+2, fmt.Sprintf("%+v", ms)
	})
	if got, _ := n.queueCounts(); fmt.Sprint(got) != want {
		t.Fatalf("the customer's answer became a second contact: %v", got)
	}
	if !strings.Contains(n.log(), "mail: answer joined its contact") {
		t.Fatalf("the answer did not join contact %s", contact)
	}
	// The next reply answers Ann's answer, continuing its thread.
	postReply(t, n, map[string]string{"contact": contact, "body": "Deal.\n"}, "")
	waitFor(t, waitShort, "the second reply in Ann's mailbox", func() (bool, string) {
		got := len(mailbox(t, srv, ann))
		return got == 2, fmt.Sprintf("%d messages\n%s", got, pf.Logs())
	})
	m, err = gomail.CreateReader(bytes.NewReader(mailbox(t, srv, ann)[1]))
	if err != nil {
		t.Fatal(err)
	}
	irt, _ = m.Header.MsgIDList("In-Reply-To")
	refs, _ = m.Header.MsgIDList("References")
	if fmt.Sprint(irt) != "[q-2@customer.example]" || fmt.Sprint(refs) != fmt.Sprintf("[q-1@customer.example %s q-2@customer.example]", replyID) {
		t.Fatalf("second reply: In-Reply-To %v, References %v", irt, refs)
	}
}
