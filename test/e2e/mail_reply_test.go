package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/tandemcc/tandem/internal/dovecottest"
)

// smtpSink is the tests' tiny SMTP server (peers.md: go-smtp's server),
// keeping every message it accepts.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	got  [][]byte
}

type sinkSession struct{ k *smtpSink }

func (s sinkSession) Reset()                               {}
func (s sinkSession) Logout() error                        { return nil }
func (s sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.k.mu.Lock()
	s.k.got = append(s.k.got, b)
	s.k.mu.Unlock()
	return err
}

func startSMTPSink(t *testing.T) *smtpSink {
	k := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{k}, nil }))
	srv.Domain = "sink.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return k
}

func (k *smtpSink) messages() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][]byte(nil), k.got...)
}

// TestMailReply: a customer's message becomes a contact; an agent's reply
// (POST /v1/mail/replies, sent twice with one Idempotency-Key) goes out
// once over SMTP, from the alias the customer wrote to, threaded on the
// customer's message; the reply coming back into the mailbox (a copy)
// becomes no contact.
func TestMailReply(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	sink := startSMTPSink(t)
	n := newNode(t, "r1")
	n.start()
	waitLeader(t, []*node{n}, 1)
	host, port, _ := net.SplitHostPort(sink.addr)
	doc := strings.Replace(mailDoc(srv), "  aliases:", fmt.Sprintf("  smtp: {host: %s, port: %s, tls: none, messages_per_minute: 30}\n  aliases:", host, port), 1)
	n.apply(doc).ok(t)
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
	body, _ := json.Marshal(map[string]string{"contact": contact, "body": "Dear Ann,\n\n10 EUR.\n"})
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodPost, n.url("/v1/mail/replies"), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+n.tokenValue())
		req.Header.Set("Idempotency-Key", "reply-ann-1")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/mail/replies: %d %s", resp.StatusCode, rb)
		}
	}
	waitFor(t, waitShort, "the reply at the SMTP server", func() (bool, string) {
		return len(sink.messages()) == 1, fmt.Sprintf("%d messages", len(sink.messages()))
	})
	waitFor(t, waitShort, "the outbox to say sent", func() (bool, string) {
		_, ob, _ := n.get("/v1/mail/outbox?state=sent", true)
		return strings.Count(string(ob), `"state":"sent"`) == 1, string(ob)
	})
	if got := len(sink.messages()); got != 1 {
		t.Fatalf("%d replies sent, want 1", got)
	}
	_, metrics, _ := n.get("/metrics", false)
	if !strings.Contains(string(metrics), `tandem_mail_outbox{state="sent"} 1`) || !strings.Contains(string(metrics), `tandem_mail_replies_total{result="sent"} 1`) {
		t.Errorf("/metrics does not count the reply:\n%s", grepLines(string(metrics), "tandem_mail_"))
	}
	reply := sink.messages()[0]
	m, err := gomail.CreateReader(bytes.NewReader(reply))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := m.Header.AddressList("From")
	to, _ := m.Header.AddressList("To")
	irt, _ := m.Header.MsgIDList("In-Reply-To")
	if len(from) != 1 || from[0].Address != "sales@example.org" || len(to) != 1 || to[0].Address != "ann@customer.example" ||
		len(irt) != 1 || irt[0] != "q-1@customer.example" || m.Header.Get("X-Tandem-Contact") != contact {
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
}
