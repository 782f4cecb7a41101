package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/tandemcc/tandem/console"
	"github.com/tandemcc/tandem/internal/dovecottest"
	"github.com/tandemcc/tandem/internal/postfixtest"
)

// TestMailConsoleReplyForward: a customer's message in Dovecot becomes a
// contact offered to agent a1's console; the agent answers it and, through
// the console API, replies (sent twice with one Idempotency-Key: one
// reply) and forwards it, through Postfix (STARTTLS) into Dovecot. The
// reply is delivered once into the customer's mailbox, from the alias the
// customer wrote to, threaded on the customer's message (In-Reply-To;
// References: the thread it answered, then it; X-Tandem-Contact); the forward is delivered to the address
// given, with the customer's message (fetched from Dovecot) attached. A report e-mailed on behalf of another address (admin API)
// shows that From, sent by the first alias. Requests the edge refuses (a contact not held, a forward
// without an address) commit nothing.
func TestMailConsoleReplyForward(t *testing.T) {
	srv, pf := startMailPeers(t, false)
	n := mailAgentNode(t, "mc1", srv, pf)

	c := &consoleClient{t: t, node: n}
	code, out := c.do("POST", "/session", map[string]string{"user": "ann", "password": "ann-secret-1"})
	if code != 200 || out["agent"] != "a1" {
		t.Fatalf("login: %d %v", code, out)
	}
	c.token = out["token"].(string)
	code, state := c.do("GET", "/state", nil)
	if code != 200 {
		t.Fatalf("state: %d %v", code, state)
	}
	c.follow(state["since"].(string))
	c.op("login", nil)
	c.op("login", nil)
	c.until("agent.state_changed", 10*time.Second)

	customer := []byte("From: Zoe <zoe@customer.example>\r\nTo: Sales <sales@example.org>\r\nSubject: Quote\r\n" +
		"Message-ID: <q-1@customer.example>\r\nReferences: <q-0@customer.example>\r\n\r\nHow much for 12?\r\n")
	uid, err := srv.Append("INBOX", customer)
	if err != nil {
		t.Fatal(err)
	}
	offered := c.until("call.offered", 20*time.Second)
	contact, _ := offered["call"].(string)
	if !strings.HasPrefix(contact, "mail-") || !strings.HasSuffix(contact, fmt.Sprintf("-%d", uid)) {
		t.Fatalf("offered %v, want the e-mail contact of UID %d", offered, uid)
	}

	// Not held yet (offered, not answered): refused, nothing queued.
	if code, out := c.do("POST", "/ops/mail_reply", map[string]string{"contact": contact, "body": "too early"}); code != http.StatusConflict {
		t.Fatalf("reply before answering: %d %v", code, out)
	}
	c.op("answer", nil)
	c.until("call.answered", 10*time.Second)
	for _, tc := range []struct {
		op    string
		body  map[string]string
		code  int
		field string
	}{
		{"mail_forward", map[string]string{"contact": contact, "body": "x"}, 400, "forward"},
		{"mail_forward", map[string]string{"contact": contact, "body": "x", "forward": "not an address"}, 400, "forward"},
		{"mail_reply", map[string]string{"contact": contact, "body": "x", "bcc": "a@b.example"}, 400, ""},
		{"mail_reply", map[string]string{"contact": "mail-1-99999", "body": "x"}, 409, ""},
		{"mail_reply", map[string]string{"contact": contact, "body": "x", "agent": "a2"}, 403, "agent"},
	} {
		code, out := c.do("POST", "/ops/"+tc.op, tc.body)
		if code != tc.code || (tc.field != "" && out["field"] != tc.field) {
			t.Errorf("%s %v: %d %v, want %d field %q", tc.op, tc.body, code, out, tc.code, tc.field)
		}
	}
	_, ob, _ := n.get("/v1/mail/outbox", true)
	if strings.TrimSpace(string(ob)) != "[]" {
		t.Fatalf("refused requests queued something: %s", ob)
	}

	// The reply, sent twice with one key (a console retrying after a
	// timeout): one reply.
	for i := 0; i < 2; i++ {
		b, _ := json.Marshal(map[string]string{"contact": contact, "body": "Dear Zoe,\n\n120 EUR.\n"})
		req, _ := http.NewRequest(http.MethodPost, c.url("/ops/mail_reply"), bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Idempotency-Key", "zoe-reply-1")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("mail_reply: %d %s", resp.StatusCode, rb)
		}
	}
	c.op("mail_forward", map[string]string{"contact": contact, "forward": "tech@partner.example", "body": "Can we do 12?"})

	delivered := func() [][]byte {
		return append(mailbox(t, srv, "zoe@customer.example"), mailbox(t, srv, "tech@partner.example")...)
	}
	waitFor(t, waitShort, "the reply and the forward in their mailboxes, recorded sent", func() (bool, string) {
		_, ob, _ := n.get("/v1/mail/outbox?state=sent", true)
		got := len(delivered())
		return got == 2 && strings.Count(string(ob), `"state":"sent"`) == 2, fmt.Sprintf("%d messages; %s\n%s", got, ob, pf.Logs())
	})
	byTo := map[string]*gomail.Reader{}
	for _, raw := range delivered() {
		m, err := gomail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		to, _ := m.Header.AddressList("To")
		if len(to) != 1 {
			t.Fatalf("To %v", m.Header.Map())
		}
		if _, dup := byTo[to[0].Address]; dup {
			t.Fatalf("two messages to %s", to[0].Address)
		}
		byTo[to[0].Address] = m
	}
	reply, fwd := byTo["zoe@customer.example"], byTo["tech@partner.example"]
	if reply == nil || fwd == nil {
		t.Fatalf("recipients %v", byTo)
	}
	from, _ := reply.Header.AddressList("From")
	irt, _ := reply.Header.MsgIDList("In-Reply-To")
	refs, _ := reply.Header.MsgIDList("References")
	subject, _ := reply.Header.Subject()
	if len(from) != 1 || from[0].Address != "sales@example.org" || fmt.Sprint(irt) != "[q-1@customer.example]" ||
		fmt.Sprint(refs) != "[q-0@customer.example q-1@customer.example]" || reply.Header.Get("X-Tandem-Contact") != contact || subject != "Re: Quote" {
		t.Fatalf("reply headers: %v", reply.Header.Map())
	}
	from, _ = fwd.Header.AddressList("From")
	refs, _ = fwd.Header.MsgIDList("References")
	subject, _ = fwd.Header.Subject()
	if len(from) != 1 || from[0].Address != "sales@example.org" || fmt.Sprint(refs) != "[q-1@customer.example]" ||
		fwd.Header.Get("X-Tandem-Contact") != contact || subject != "Fwd: Quote" {
		t.Fatalf("forward headers: %v", fwd.Header.Map())
	}
	var note, attached string
	for {
		p, err := fwd.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			note = string(b)
		case *gomail.AttachmentHeader:
			if ct, _, _ := h.ContentType(); ct == "message/rfc822" {
				attached = string(b)
			}
		}
	}
	if !strings.Contains(note, "Can we do 12?") || !strings.Contains(attached, "Message-ID: <q-1@customer.example>") || !strings.Contains(attached, "How much for 12?") {
		t.Fatalf("forward parts: note %q, attached %q", note, attached)
	}
}

// TestMailReportOnBehalf: a report e-mailed (admin API POST
// /v1/mail/reports) on behalf of another address shows that From; the
// first alias sends it (Sender); a malformed address is refused with its
// field.
func TestMailReportOnBehalf(t *testing.T) {
	srv, pf := startMailPeers(t, false)
	n := newNode(t, "mr1")
	n.start()
	waitLeader(t, []*node{n}, 1)
	n.apply(mailDocSMTP(srv, pf, 30)).ok(t)
	post := func(body string) (int, string) {
		code, b, err := n.do(http.MethodPost, "/v1/mail/reports", true, []byte(body), "application/json")
		if err != nil {
			t.Fatal(err)
		}
		return code, string(b)
	}
	if code, b := post(`{"to":"boss@example.com","on_behalf_of":"not an address","subject":"Daily","body":"x"}`); code != 400 || !strings.Contains(b, `"field":"on_behalf_of"`) {
		t.Fatalf("bad on_behalf_of: %d %s", code, b)
	}
	if code, b := post(`{"to":"boss@example.com","on_behalf_of":"ceo@example.org","subject":"Daily report","body":"42 calls."}`); code != 200 {
		t.Fatalf("report: %d %s", code, b)
	}
	waitFor(t, waitShort, "the report in the boss's mailbox", func() (bool, string) {
		got := len(mailbox(t, srv, "boss@example.com"))
		return got == 1, fmt.Sprintf("%d messages\n%s", got, pf.Logs())
	})
	m, err := gomail.CreateReader(bytes.NewReader(mailbox(t, srv, "boss@example.com")[0]))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := m.Header.AddressList("From")
	sender, _ := m.Header.AddressList("Sender")
	to, _ := m.Header.AddressList("To")
	if len(from) != 1 || from[0].Address != "ceo@example.org" || len(sender) != 1 || sender[0].Address != "support@example.org" ||
		len(to) != 1 || to[0].Address != "boss@example.com" {
		t.Fatalf("report headers: %v", m.Header.Map())
	}
}

// mailAgentNode starts one tandemd whose e-mail channel watches srv and
// sends through pf (30 a minute), with operator ann (password
// ann-secret-1), agent a1 of queue sales.
func mailAgentNode(t *testing.T, name string, srv *dovecottest.Server, pf *postfixtest.Server) *node {
	t.Helper()
	n := newNode(t, name)
	n.start()
	waitLeader(t, []*node{n}, 1)
	if n.httpAddr == "" {
		t.Fatal("tandemd has no --http-addr")
	}
	hash, err := console.HashPassword("ann-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	n.apply(mailDocSMTP(srv, pf, 30) + fmt.Sprintf(`extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`, hash)).ok(t)
	return n
}
