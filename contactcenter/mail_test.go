package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	mailIMAPPass = "Imap-Pass-Sweep-0123456789"
	mailSMTPPass = "Smtp-Pass-Sweep-9876543210"
)

// mailDoc is baseDoc with the e-mail channel: support@ to support,
// sales@ to sales.
var mailDoc = baseDoc + `
business_units: [{id: bu1}]
mail:
  imap: {host: imap.example.org, tls: starttls, user: desk@example.org, password: ` + mailIMAPPass + `, max_sessions: 15, reserved_sessions: 5}
  smtp: {host: smtp.example.org, user: desk@example.org, password: ` + mailSMTPPass + `, messages_per_minute: 30}
  aliases:
    - {address: support@example.org, queue: support}
    - {address: Sales@Example.org, queue: sales, business_unit: bu1}
  ca_file: /etc/tandem/ca.pem
`

func TestMailSettingsValidation(t *testing.T) {
	good := func() Mail {
		return Mail{IMAP: MailIMAP{Host: "imap.example.org", User: "u", Password: "p"},
			Aliases: []MailAlias{{Address: "a@example.org", Queue: "sales"}}}
	}
	tests := []struct {
		name  string
		edit  func(*Mail)
		field string
	}{
		{"no host", func(m *Mail) { m.IMAP.Host = "" }, "mail.imap.host"},
		{"bad host", func(m *Mail) { m.IMAP.Host = "imap example" }, "mail.imap.host"},
		{"no user", func(m *Mail) { m.IMAP.User = "" }, "mail.imap.user"},
		{"no password", func(m *Mail) { m.IMAP.Password = "" }, "mail.imap.password"},
		{"bad tls", func(m *Mail) { m.IMAP.TLS = "ssl" }, "mail.imap.tls"},
		{"bad port", func(m *Mail) { m.IMAP.Port = 70000 }, "mail.imap.port"},
		{"sessions", func(m *Mail) { m.IMAP.MaxSessions = -1 }, "mail.imap.max_sessions"},
		{"reserved all", func(m *Mail) { m.IMAP.MaxSessions, m.IMAP.ReservedSessions = 5, 5 }, "mail.imap.reserved_sessions"},
		{"poll", func(m *Mail) { m.IMAP.PollSeconds = 4000 }, "mail.imap.poll_seconds"},
		{"smtp without host", func(m *Mail) { m.SMTP.User = "x" }, "mail.smtp.host"},
		{"smtp password without user", func(m *Mail) { m.SMTP = MailSMTP{Host: "smtp", Password: "p"} }, "mail.smtp.user"},
		{"smtp tls", func(m *Mail) { m.SMTP = MailSMTP{Host: "smtp", TLS: "x"} }, "mail.smtp.tls"},
		{"rate", func(m *Mail) { m.SMTP = MailSMTP{Host: "smtp", MessagesPerMinute: -1} }, "mail.smtp.messages_per_minute"},
		{"no aliases", func(m *Mail) { m.Aliases = nil }, "mail.aliases"},
		{"bad address", func(m *Mail) { m.Aliases[0].Address = "nobody" }, "mail.aliases[0].address"},
		{"duplicate address", func(m *Mail) {
			m.Aliases = append(m.Aliases, MailAlias{Address: "A@example.org", Queue: "sales"})
		}, "mail.aliases[1].address"},
		{"bad queue id", func(m *Mail) { m.Aliases[0].Queue = "" }, "mail.aliases[0].queue"},
		{"retention", func(m *Mail) { m.RetentionDays = MaxRetentionDays + 1 }, "mail.retention_days"},
		{"long password", func(m *Mail) { m.IMAP.Password = strings.Repeat("p", MaxMailPasswordLen+1) }, "mail.imap.password"},
		{"blocked not an address", func(m *Mail) { m.BlockedSenders = []string{"ok.example", "a b@example.net"} }, "mail.blocked_senders[1]"},
		{"blocked not a domain", func(m *Mail) { m.BlockedSenders = []string{"example..net"} }, "mail.blocked_senders[0]"},
		{"blocked empty", func(m *Mail) { m.BlockedSenders = []string{" "} }, "mail.blocked_senders[0]"},
		{"blocked hyphen", func(m *Mail) { m.BlockedSenders = []string{"-x.example"} }, "mail.blocked_senders[0]"},
		{"blocked duplicate", func(m *Mail) { m.BlockedSenders = []string{"@Example.net", "example.NET"} }, "mail.blocked_senders[1]"},
		{"verdict header", func(m *Mail) { m.Verdicts = []MailVerdict{{Header: "X Spam", Value: "yes", Reason: "spam"}} }, "mail.verdict_headers[0].header"},
		{"verdict value", func(m *Mail) { m.Verdicts = []MailVerdict{{Header: "X-Spam", Value: " ", Reason: "spam"}} }, "mail.verdict_headers[0].value"},
		{"verdict word and score", func(m *Mail) {
			m.Verdicts = []MailVerdict{{Header: "X-Spam-Score", Value: "yes", AtLeast: 5, Reason: "spam"}}
		}, "mail.verdict_headers[0].at_least"},
		{"verdict reason", func(m *Mail) {
			m.Verdicts = []MailVerdict{{Header: "X-A", Value: "yes", Reason: "virus"}, {Header: "X-B", Value: "yes", Reason: "blocked"}}
		}, "mail.verdict_headers[1].reason"},
		{"verdicts too many", func(m *Mail) {
			for i := 0; i <= MaxMailVerdicts; i++ {
				m.Verdicts = append(m.Verdicts, MailVerdict{Header: fmt.Sprintf("X-V%d", i), Value: "yes", Reason: "spam"})
			}
		}, "mail.verdict_headers"},
		{"blocked too many", func(m *Mail) {
			for i := 0; i <= MaxMailBlockedSenders; i++ {
				m.BlockedSenders = append(m.BlockedSenders, fmt.Sprintf("d%d.example", i))
			}
		}, "mail.blocked_senders"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(&m)
			err := Document{Mail: &m}.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate = %v, want a refusal of %s", err, tc.field)
			}
			if strings.Contains(err.Error(), strings.Repeat("p", 40)) {
				t.Fatalf("the refusal quotes the password: %v", err)
			}
		})
	}
	m := good()
	if err := (Document{Mail: &m}).Validate(); err != nil {
		t.Fatalf("good settings refused: %v", err)
	}
	// Blocked senders are kept in lower case, a domain without its "@".
	b := good()
	b.BlockedSenders = []string{" Spam@Example.NET ", "@Junk.Example", "xn--bcher-kva.example"}
	checked, err := checkMail(b)
	if err != nil || !reflect.DeepEqual(checked.BlockedSenders, []string{"spam@example.net", "junk.example", "xn--bcher-kva.example"}) {
		t.Fatalf("blocked senders checked %q %v", checked.BlockedSenders, err)
	}
	// References are checked by apply: an unknown queue.
	h := newHarness(t, baseDoc)
	m.Aliases[0].Queue = "nope"
	err = h.fail(TypeConfigApply, ApplyRequest{Document: Document{Mail: &m}}, nil)
	if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "mail.aliases[0].queue" {
		t.Fatalf("unknown queue: %v", err)
	}
	// A queue a mail alias uses cannot be pruned away.
	h.config(mailDoc)
	d, _ := ParseDocument([]byte(mailDoc))
	d.Queues = d.Queues[:1] // sales only
	d.Agents = nil
	err = h.fail(TypeConfigApply, ApplyRequest{Document: d, Prune: true}, nil)
	if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "mail.aliases[0].queue" {
		t.Fatalf("dropping a queue mail routes to: %v", err)
	}
}

// The passwords are write-only: the document shows "redacted"; applied
// back they stay; no event, result, error or query carries them; the
// engine holds them.
func TestMailPasswordsRedacted(t *testing.T) {
	h := newHarness(t, mailDoc)
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	if doc.Mail == nil || doc.Mail.IMAP.Password != MailPasswordRedacted || doc.Mail.SMTP.Password != MailPasswordRedacted {
		t.Fatalf("document mail %+v", doc.Mail)
	}
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	res := h.ok(TypeConfigApply, ApplyRequest{Document: doc, Prune: true})
	if r := res.(ApplyResult); r.Changed() {
		t.Fatalf("applying the document read back changed %+v", r)
	}
	m := h.e.MailSettings()
	if m.IMAP.Password != mailIMAPPass || m.SMTP.Password != mailSMTPPass {
		t.Fatalf("passwords held: %q %q", m.IMAP.Password, m.SMTP.Password)
	}
	// A changed setting beside a redacted password keeps the password.
	doc.Mail.IMAP.PollSeconds = 30
	h.ok(TypeConfigApply, ApplyRequest{Document: doc})
	if m := h.e.MailSettings(); m.IMAP.Password != mailIMAPPass || m.IMAP.PollSeconds != 30 {
		t.Fatalf("after an update: %+v", m.IMAP)
	}
	var upd MailEvent
	for _, ev := range h.events {
		if ev.Type == EvConfigMailUpdated {
			if err := json.Unmarshal(ev.Data, &upd); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !upd.IMAPPasswordSet || !upd.SMTPPasswordSet || upd.IMAP.Password != "" {
		t.Fatalf("config.mail.updated %+v", upd)
	}
	// "redacted" cannot give a password to a channel without one.
	h2 := newHarness(t, baseDoc)
	nd := *doc.Mail
	err := h2.fail(TypeConfigApply, ApplyRequest{Document: Document{Mail: &nd}}, nil)
	if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "mail.imap.password" {
		t.Fatalf("redacted without a password: %v", err)
	}
	// Contacts, refusals and queries.
	h.connect("a1")
	res = h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: "<x@y>", From: "c@example.com", To: []string{"support@example.org"}})
	outputs := []any{h.all, res, doc, h.e.Queues(), fmt.Sprintf("%+v", doc)}
	bad := *doc.Mail
	bad.IMAP.Password = mailIMAPPass + strings.Repeat("x", MaxMailPasswordLen)
	verr := Document{Mail: &bad}.Validate() // text limits are the edge's
	if verr == nil {
		t.Fatal("an over-long password was accepted")
	}
	outputs = append(outputs, verr.Error(), CheckPayload(TypeConfigApply, mustJSON(t, ApplyRequest{Document: Document{Mail: &bad}})).Error())
	for i, o := range outputs {
		b, _ := json.Marshal(o)
		if strings.Contains(string(b), mailIMAPPass) || strings.Contains(string(b), mailSMTPPass) {
			t.Errorf("output %d shows a mail password: %s", i, b)
		}
	}
	snap, _ := h.e.Snapshot()
	if !strings.Contains(string(snap), mailIMAPPass) {
		t.Fatal("the snapshot lacks the password: the sweep proves nothing")
	}
}

// A message becomes one contact in its alias's queue, routed by the ACD
// to a free agent; the same UID or Message-ID again makes none.
func TestMailReceived(t *testing.T) {
	h := newHarness(t, mailDoc)
	h.connect("a3") // support only
	res := h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 9, UID: 4, MessageID: "<a@c>", From: "c@example.com",
		FromName: "Cust", To: []string{"other@example.org", "SUPPORT@example.org"}, Subject: "Invoice"})
	r := res.(MailResult)
	if r.Contact != "mail-9-4" || r.Queue != "support" {
		t.Fatalf("result %+v", r)
	}
	var offered bool
	for _, ev := range h.events {
		if ev.Type == EvCallOffered && strings.Contains(string(ev.Data), `"a3"`) {
			offered = true
		}
	}
	if !offered {
		t.Fatalf("not offered to a3: %v", h.events)
	}
	h.e.View(func(s *State) {
		c := s.Calls["mail-9-4"]
		if c == nil || c.Medium != MediumEmail || c.Note != "Invoice" || c.Name != "Cust" {
			t.Fatalf("call %+v", c)
		}
	})
	for _, tc := range []struct {
		name string
		p    MailReceivedRequest
		want MailResult
	}{
		{"same uid", MailReceivedRequest{UIDValidity: 9, UID: 4, MessageID: "<a@c>"}, MailResult{Contact: "mail-9-4", Duplicate: true}},
		{"lower uid", MailReceivedRequest{UIDValidity: 9, UID: 2}, MailResult{Duplicate: true}},
		{"same message id", MailReceivedRequest{UIDValidity: 9, UID: 5, After: 4, MessageID: "<a@c>"}, MailResult{Contact: "mail-9-4", Duplicate: true, Skipped: MailSkipDuplicate}},
		{"auto-reply", MailReceivedRequest{UIDValidity: 9, UID: 6, After: 5, Skip: MailSkipAutoReply}, MailResult{Skipped: MailSkipAutoReply}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.e.st.Calls)
			if got := h.ok(TypeMailReceived, tc.p).(MailResult); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if len(h.e.st.Calls) != before {
				t.Fatal("a contact was created")
			}
		})
	}
	if v, last := h.e.MailView(); v != 9 || last != 6 {
		t.Fatalf("watermark %d/%d", v, last)
	}
	// An unknown alias goes to the first; a new UIDVALIDITY starts again.
	r = h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 10, UID: 1, To: []string{"nobody@example.org"}}).(MailResult)
	if r.Contact != "mail-10-1" || r.Queue != "support" {
		t.Fatalf("new validity: %+v", r)
	}
	r = h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 10, UID: 2, After: 1, To: []string{"sales@example.org"}}).(MailResult)
	if r.Queue != "sales" {
		t.Fatalf("sales alias: %+v", r)
	}
	// Refusals.
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 0, UID: 1}, nil)
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 0}, nil)
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 10, UID: 5, After: 1}, ErrMailStale) // the watermark is 2
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 11, UID: 5, After: 2}, ErrMailStale) // a new validity starts at 0
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 10, UID: 9, After: 2, Skip: "phishing"}, nil)
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 10, UID: 9, Subject: "a\x00b"}, nil)
	off := newHarness(t, baseDoc)
	off.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 1}, ErrMailOff)

	// The agent answers and ends the contact like a call; after the
	// retention period the daily maintenance forgets the message but the
	// watermark stays.
	if n := h.e.MailContactsLive(); n != 3 {
		t.Fatalf("%d e-mail contacts held, want 3", n)
	}
	h.ok(TypeCallAnswer, AgentCallRequest{Agent: "a3"})
	h.ok(TypeCallHangup, HangupRequest{Agent: "a3"})
	if n, r := h.e.MailContactsLive(), restored(t, h.e).MailContactsLive(); n != 2 || r != 2 {
		t.Fatalf("after one ended: %d e-mail contacts held (restored: %d), want 2", n, r)
	}
	if _, ok := h.e.MailMessageOf("mail-9-4"); !ok {
		t.Fatal("message forgotten at once")
	}
	h.tick()
	h.at(31 * 24 * time.Hour)
	h.at(24 * time.Hour)
	if _, ok := h.e.MailMessageOf("mail-9-4"); ok {
		t.Fatal("message kept after the retention period")
	}
	if _, ok := h.e.MailMessageOf("mail-10-1"); !ok {
		t.Fatal("a message whose contact is still waiting was forgotten")
	}
	if v, last := h.e.MailView(); v != 10 || last != 2 {
		t.Fatalf("watermark %d/%d", v, last)
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\tb\r\n c", "a b c"},
		{"\x00x\u202ey\xff", "x y\ufffd"},
		{"  lead", "lead"},
		{strings.Repeat("é", 10), strings.Repeat("é", 2)},
	} {
		got := CleanText(tc.in, 5)
		if tc.want == strings.Repeat("é", 2) {
			if got != tc.want {
				t.Errorf("CleanText(%q) = %q", tc.in, got)
			}
			continue
		}
		if got != clipText(tc.want, 5) {
			t.Errorf("CleanText(%q) = %q, want %q", tc.in, got, clipText(tc.want, 5))
		}
		if msg := textFault(got); msg != "" {
			t.Errorf("CleanText(%q) = %q: %s", tc.in, got, msg)
		}
	}
}

// The outbox: a reply is queued with the threading of the message it
// answers, from the alias it was written to; attempts are recorded
// within the per-minute limit (engine time); outcomes move it on.
func TestMailOutbox(t *testing.T) {
	h := newHarness(t, mailDoc)
	h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: "<q@cust>", From: "cust@example.com",
		To: []string{"sales@example.org"}, Subject: "Price?"})
	body := "Dear customer,\n\tthe price is 10.\n"
	o := h.ok(TypeMailReply, MailReplyRequest{Reply: "r1", Contact: "mail-1-1", Body: body}).(OutboxEntry)
	want := OutboxEntry{ID: "r1", Contact: "mail-1-1", From: "Sales@Example.org", To: "cust@example.com",
		Subject: "Re: Price?", MessageID: "<r1.mail-1-1@Example.org>", InReplyTo: "<q@cust>", References: "<q@cust>", State: OutboxQueued, Queued: h.now.UnixNano()}
	if o != want {
		t.Fatalf("entry\n%+v\nwant\n%+v", o, want)
	}
	if got := h.e.Outbox(OutboxQueued); len(got) != 1 || got[0].Body != body {
		t.Fatalf("outbox %+v", got)
	}
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r1", Contact: "mail-1-1", Body: "x"}, nil)            // same id
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r2", Contact: "mail-9-9", Body: "x"}, ErrUnknownCall) // no such contact
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r2", Contact: "mail-1-1", Body: "a\x00b"}, nil)       // NUL
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r2", Contact: "mail-1-1", Body: "x", Agent: "zz"}, ErrUnknownAgent)
	if err := CheckPayload(TypeMailReply, mustJSON(t, MailReplyRequest{Reply: "r2", Contact: "c", Body: body})); err != nil {
		t.Fatalf("a body with lines refused at the edge: %v", err)
	}
	// 30 a minute: the 31st attempt within the minute is refused until
	// the first is a minute old.
	for i := 2; i <= 32; i++ {
		h.ok(TypeMailReply, MailReplyRequest{Reply: fmt.Sprintf("r%d", i), Contact: "mail-1-1", Body: "x"})
	}
	start := h.now
	for i := 1; i <= 30; i++ {
		h.ok(TypeMailSending, MailSendingRequest{Reply: fmt.Sprintf("r%d", i)})
		h.advance(time.Second)
	}
	h.fail(TypeMailSending, MailSendingRequest{Reply: "r31"}, ErrMailRate)
	if at := h.e.NextSendAt(h.now.UnixNano()); at != start.Add(time.Minute).UnixNano() {
		t.Fatalf("NextSendAt = %v, want %v", time.Unix(0, at), start.Add(time.Minute))
	}
	h.now = start.Add(time.Minute - time.Nanosecond)
	h.fail(TypeMailSending, MailSendingRequest{Reply: "r31"}, ErrMailRate)
	h.advance(time.Nanosecond) // the first attempt is a minute old: out of the window
	h.ok(TypeMailSending, MailSendingRequest{Reply: "r31"})
	h.fail(TypeMailSending, MailSendingRequest{Reply: "r31"}, ErrAgentState) // sending already
	for _, tc := range []struct {
		p     MailSentRequest
		state string
	}{
		{MailSentRequest{Reply: "r1"}, OutboxSent},
		{MailSentRequest{Reply: "r2", Error: "451 later", Retry: true}, OutboxQueued},
		{MailSentRequest{Reply: "r3", Error: "550 unknown user"}, OutboxFailed},
		{MailSentRequest{Reply: "r4", Uncertain: true}, OutboxUncertain},
	} {
		if got := h.ok(TypeMailSent, tc.p).(OutboxEntry); got.State != tc.state {
			t.Fatalf("%+v: state %s, want %s", tc.p, got.State, tc.state)
		}
	}
	h.fail(TypeMailSent, MailSentRequest{Reply: "r1"}, ErrAgentState) // sent already: never twice
	// No SMTP server: no reply.
	noSMTP := strings.Replace(mailDoc, "  smtp: {host: smtp.example.org, user: desk@example.org, password: "+mailSMTPPass+", messages_per_minute: 30}\n", "", 1)
	h2 := newHarness(t, noSMTP)
	h2.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 1, From: "c@example.com"})
	h2.fail(TypeMailReply, MailReplyRequest{Reply: "r1", Contact: "mail-1-1", Body: "x"}, ErrNoSMTP)
}

// A customer's answer threads by Message-ID alone (servers may strip our
// X- header): onto the contact while it lives, else a new contact that
// names the previous one.
func TestMailThreading(t *testing.T) {
	h := newHarness(t, mailDoc)
	h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: "<q@cust>", From: "cust@example.com",
		To: []string{"support@example.org"}, Subject: "Help"})
	o := h.ok(TypeMailReply, MailReplyRequest{Reply: "r1", Contact: "mail-1-1", Body: "Which model?"}).(OutboxEntry)
	if o.MessageID != "<r1.mail-1-1@example.org>" {
		t.Fatalf("reply Message-ID %q", o.MessageID)
	}
	calls := func() int { return len(h.e.st.Calls) }
	r := h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 2, After: 1, MessageID: "<a1@cust>", From: "cust@example.com",
		Thread: []string{o.MessageID, "<q@cust>"}, Subject: "Re: Help"}).(MailResult)
	if !r.Threaded || r.Contact != "mail-1-1" || calls() != 1 {
		t.Fatalf("answer to our reply: %+v, %d calls", r, calls())
	}
	// By the customer's own first message only (References).
	r = h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 3, After: 2, MessageID: "<a2@cust>", Thread: []string{"<unknown@x>", "<q@cust>"}}).(MailResult)
	if !r.Threaded || r.Contact != "mail-1-1" {
		t.Fatalf("answer by References: %+v", r)
	}
	if m, _ := h.e.MailMessageOf("mail-1-1"); fmt.Sprint(m.Answers) != "[2 3]" {
		t.Fatalf("answers %v", m.Answers)
	}
	// A reply now answers the customer's latest message, continuing its
	// thread.
	o = h.ok(TypeMailReply, MailReplyRequest{Reply: "r1b", Contact: "mail-1-1", Body: "Noted."}).(OutboxEntry)
	if o.InReplyTo != "<a2@cust>" || o.References != "<q@cust> <unknown@x> <a2@cust>" {
		t.Fatalf("reply after answers: in-reply-to %q, references %q", o.InReplyTo, o.References)
	}
	// The contact ends; the next answer is a new contact continuing it.
	h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "mail-1-1"})
	r = h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 4, After: 3, MessageID: "<a3@cust>", From: "cust@example.com", Thread: []string{"<a2@cust>"}}).(MailResult)
	if r.Threaded || r.Contact != "mail-1-4" {
		t.Fatalf("answer after the end: %+v", r)
	}
	if m, _ := h.e.MailMessageOf("mail-1-4"); m.Previous != "mail-1-1" {
		t.Fatalf("previous %q", m.Previous)
	}
	// A reply's References continue the thread the message answered
	// (oldest first), then the message; a forward's name the message.
	h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 5, After: 4, MessageID: "<c3@cust>", From: "cust@example.com",
		Thread: []string{"<c2@cust>", "<c1@cust>", "<c0@cust>"}})
	o = h.ok(TypeMailReply, MailReplyRequest{Reply: "r2", Contact: "mail-1-5", Body: "Yes."}).(OutboxEntry)
	if o.InReplyTo != "<c3@cust>" || o.References != "<c0@cust> <c1@cust> <c2@cust> <c3@cust>" {
		t.Fatalf("reply threading: in-reply-to %q, references %q", o.InReplyTo, o.References)
	}
	o = h.ok(TypeMailForward, MailReplyRequest{Reply: "f2", Contact: "mail-1-5", Forward: "tech@partner.example", Body: "FYI"}).(OutboxEntry)
	if o.InReplyTo != "" || o.References != "<c3@cust>" {
		t.Fatalf("forward threading: in-reply-to %q, references %q", o.InReplyTo, o.References)
	}
	if o := h.ok(TypeMailReply, MailReplyRequest{Reply: "r3", Contact: "mail-1-4", Body: "x"}).(OutboxEntry); o.References != "<a2@cust> <a3@cust>" {
		t.Fatalf("reply to a one-message thread: references %q", o.References)
	}
}

// A fetch's messages in one command: all or none, each on the watermark
// the one before leaves.
func TestMailReceivedBatch(t *testing.T) {
	h := newHarness(t, mailDoc)
	msg := func(uid, after uint32) MailReceivedRequest {
		return MailReceivedRequest{UIDValidity: 3, UID: uid, After: after, MessageID: fmt.Sprintf("<b%d@c>", uid), From: "c@example.com"}
	}
	auto := msg(5, 2)
	auto.Skip = MailSkipAutoReply
	r := h.ok(TypeMailReceivedBatch, MailReceivedBatchRequest{Messages: []MailReceivedRequest{msg(2, 0), auto, msg(9, 5)}}).(MailBatchResult)
	if len(r.Results) != 3 || r.Results[0].Contact != "mail-3-2" || r.Results[1].Skipped != MailSkipAutoReply || r.Results[2].Contact != "mail-3-9" {
		t.Fatalf("results %+v", r.Results)
	}
	if v, last := h.e.MailView(); v != 3 || last != 9 {
		t.Fatalf("watermark %d/%d", v, last)
	}
	for name, b := range map[string][]MailReceivedRequest{
		"broken chain": {msg(10, 9), msg(12, 11)},
		"recorded UID": {msg(9, 5), msg(10, 9)},
		"stale start":  {msg(10, 5)},
		"bad message":  {msg(10, 9), {UIDValidity: 3, UID: 11, After: 10, Skip: "phishing"}},
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			h.fail(TypeMailReceivedBatch, MailReceivedBatchRequest{Messages: b}, wantBatchRefusal(name))
		})
	}
	if v, last := h.e.MailView(); v != 3 || last != 9 || len(h.e.st.Calls) != 2 {
		t.Fatalf("a refused batch changed something: %d/%d, %d calls", v, last, len(h.e.st.Calls))
	}
}

// wantBatchRefusal is the refusal each bad batch gets: stale, or a field error.
func wantBatchRefusal(name string) error {
	switch name {
	case "broken chain", "recorded UID", "stale start":
		return ErrMailStale
	}
	return nil
}

// Forwards and reports: an agent replies to or forwards only a contact it
// holds; a forward goes to the address given, threaded by References, the
// message attached by the sender; a report sent on behalf of another
// address shows that From, sent by the first alias.
func TestMailForwardAndReport(t *testing.T) {
	h := newHarness(t, mailDoc)
	h.connect("a3") // support only
	h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: "<q@cust>", From: "cust@example.com",
		To: []string{"support@example.org"}, Subject: "Broken"})
	// Offered, not yet answered: not held.
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r0", Contact: "mail-1-1", Agent: "a3", Body: "x"}, ErrNotYours)
	h.ok(TypeCallAnswer, AgentCallRequest{Agent: "a3"})
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r0", Contact: "mail-1-1", Agent: "a1", Body: "x"}, ErrNotYours)
	h.fail(TypeMailReply, MailReplyRequest{Reply: "r0", Contact: "mail-1-1", Agent: "a3", Body: "x", Forward: "x@y.org"}, nil)
	h.fail(TypeMailForward, MailReplyRequest{Reply: "f0", Contact: "mail-1-1", Agent: "a3", Body: "x"}, nil)
	h.fail(TypeMailForward, MailReplyRequest{Reply: "f0", Contact: "mail-1-1", Agent: "a3", Body: "x", Forward: "not an address"}, nil)
	r := h.ok(TypeMailReply, MailReplyRequest{Reply: "r1", Contact: "mail-1-1", Agent: "a3", Body: "On it."}).(OutboxEntry)
	if r.Kind != "" || r.From != "support@example.org" || r.To != "cust@example.com" || r.InReplyTo != "<q@cust>" || r.Subject != "Re: Broken" {
		t.Fatalf("reply %+v", r)
	}
	f := h.ok(TypeMailForward, MailReplyRequest{Reply: "f1", Contact: "mail-1-1", Agent: "a3", Body: "Please look.", Forward: "tech@partner.example"}).(OutboxEntry)
	want := OutboxEntry{ID: "f1", Kind: OutboxForward, Contact: "mail-1-1", Agent: "a3", From: "support@example.org", To: "tech@partner.example",
		Subject: "Fwd: Broken", MessageID: "<f1.mail-1-1@example.org>", References: "<q@cust>", State: OutboxQueued, Queued: h.now.UnixNano()}
	if f != want {
		t.Fatalf("forward\n%+v\nwant\n%+v", f, want)
	}
	h.ok(TypeCallHangup, HangupRequest{Agent: "a3"})
	h.fail(TypeMailForward, MailReplyRequest{Reply: "f2", Contact: "mail-1-1", Agent: "a3", Body: "x", Forward: "a@b.org"}, ErrNotYours)
	// An integration (no agent) still may.
	h.ok(TypeMailForward, MailReplyRequest{Reply: "f2", Contact: "mail-1-1", Body: "x", Forward: "a@b.org"})

	rep := h.ok(TypeMailReport, MailReportRequest{Reply: "p1", To: "boss@example.com", OnBehalfOf: "ceo@example.org", Subject: "Daily", Body: "42 calls"}).(OutboxEntry)
	if rep.Kind != OutboxReport || rep.From != "ceo@example.org" || rep.Sender != "support@example.org" || rep.To != "boss@example.com" || rep.Contact != "" {
		t.Fatalf("report %+v", rep)
	}
	rep = h.ok(TypeMailReport, MailReportRequest{Reply: "p2", To: "boss@example.com", Subject: "Daily", Body: "42 calls"}).(OutboxEntry)
	if rep.From != "support@example.org" || rep.Sender != "" {
		t.Fatalf("report without on_behalf_of %+v", rep)
	}
	h.fail(TypeMailReport, MailReportRequest{Reply: "p3", To: "boss", Subject: "x", Body: "x"}, nil)
	h.fail(TypeMailReport, MailReportRequest{Reply: "p3", To: "boss@example.com", OnBehalfOf: "a b@c", Subject: "x", Body: "x"}, nil)
	if err := CheckPayload(TypeMailReport, []byte(`{"reply":"p4","to":"b@example.com","subject":"s","body":"b","from":"x@y"}`)); err == nil {
		t.Fatal("an unknown field passed the edge")
	}
}

// TestMailTextsMatchWalk: the hand-written text checks of mail.received
// and mail.received_batch (mailfast.go) refuse exactly what walkTexts
// refuses, naming the same field with the same message.
func TestMailTextsMatchWalk(t *testing.T) {
	texts := append([]string{"", "c@example.com", "<m1@example.com>", "Café", "bulk", "a b", strings.Repeat("x", MaxMessageIDLen+1),
		strings.Repeat("y", 2000), "bad\x00", "\u202e", "not an address", "x@y"}, hostileStrings...)
	r := rand.New(rand.NewPCG(7, 18))
	pick := func() string { return texts[r.IntN(len(texts))] }
	picks := func() []string {
		if r.IntN(3) == 0 {
			return nil
		}
		s := make([]string, r.IntN(4))
		for i := range s {
			s[i] = pick()
		}
		return s
	}
	msg := func() MailReceivedRequest {
		m := MailReceivedRequest{UIDValidity: 1, UID: 2}
		for _, f := range []*string{&m.MessageID, &m.From, &m.FromName, &m.Subject, &m.Skip} {
			if r.IntN(2) == 0 {
				*f = pick()
			}
		}
		m.To, m.Thread = picks(), picks()
		return m
	}
	same := func(got, want error) bool {
		return (got == nil) == (want == nil) && (got == nil || got.Error() == want.Error())
	}
	refused := 0
	for range 5000 {
		m := msg()
		want := walkTexts(reflect.ValueOf(&m), "", kindNone)
		if got := checkTexts(&m); !same(got, want) {
			t.Fatalf("%+v: checkTexts %v, walkTexts %v", m, got, want)
		}
		if want != nil {
			refused++
		}
		b := MailReceivedBatchRequest{Messages: []MailReceivedRequest{msg(), m, msg()}}
		want = walkTexts(reflect.ValueOf(&b), "", kindNone)
		if got := checkTexts(&b); !same(got, want) {
			t.Fatalf("%+v: checkTexts %v, walkTexts %v", b, got, want)
		}
	}
	if refused < 500 || refused > 4500 {
		t.Fatalf("%d of 5000 messages refused: the cases do not cover both", refused)
	}
}

// TestMailBatchAppendJSON: a batch encodes as json.Marshal encodes it
// (its messages are held to json.Marshal with the event encoders), and
// decodes back through the fast path.
func TestMailBatchAppendJSON(t *testing.T) {
	for _, b := range []MailReceivedBatchRequest{{}, {Messages: []MailReceivedRequest{}},
		{Messages: []MailReceivedRequest{{UIDValidity: 1, UID: 2, To: []string{}, Thread: []string{"<a&b>"}}, {UID: 3, After: 2, Subject: "\u2028\xff"}}}} {
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.AppendJSON([]byte("x")); string(got) != "x"+string(want) {
			t.Fatalf("AppendJSON %s, json.Marshal %s", got[1:], want)
		}
	}
	for _, r := range []MailBatchResult{{}, {Results: []MailResult{}}, {Results: []MailResult{{}, {Contact: "mail-1-2", Queue: "q<1>"}, {Skipped: MailSkipBulk, Threaded: true}}}} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON %s, json.Marshal %s", got, want)
		}
	}
	for _, env := range MailBenchBatches(t, 2, 50) {
		var b MailReceivedBatchRequest
		if !decodeFast(env.Payload, &b, nil) {
			t.Fatalf("fast path not taken")
		}
		if got := b.AppendJSON(nil); string(got) != string(env.Payload) {
			t.Fatalf("AppendJSON %s, json.Marshal %s", got, env.Payload)
		}
	}
}

// FuzzCleanText holds CleanText's shortcut for plain text to the rune by
// rune cleaning.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "a", " a", "a ", "a  b", "a b", "a\tb", "caf\u00e9", "\x7f", "~!", "a\u202eb"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%600 + 600
		if got, want := CleanText(s, max), cleanText(s, max); got != want {
			t.Fatalf("CleanText(%q, %d) = %q, rune by rune %q", s, max, got, want)
		}
	})
}

func TestMailBlocks(t *testing.T) {
	m := &Mail{BlockedSenders: []string{"spam@example.net", "junk.example", "co"}}
	for _, tc := range []struct {
		from string
		want bool
	}{
		{"spam@example.net", true},
		{"SPAM@Example.Net", true},
		{"ham@example.net", false},
		{"a@junk.example", true},
		{"a@mail.JUNK.example", true},
		{"a@notjunk.example", false},
		{"a@junk.example.org", false},
		{"a@x.co", true},
		{"a@co", true},
		{"a@x.com", false},
		{"", false},
		{"junk.example", true}, // no "@": the whole is the domain
	} {
		if got := m.Blocks(tc.from); got != tc.want {
			t.Errorf("Blocks(%q) = %v, want %v", tc.from, got, tc.want)
		}
	}
	if (*Mail)(nil).Blocks("a@junk.example") || (&Mail{}).Blocks("a@junk.example") {
		t.Error("no settings or no list blocks mail")
	}
}

// A blocked sender's message, and one the mail server judged spam or
// infected, is recorded (its UID) but routed nowhere: no
// contact, mail.skipped with the reason; an answer of a blocked sender in
// a live thread does not join it either. Unblocked, the sender's next
// message is a contact.
func TestMailBlockedAndVerdicts(t *testing.T) {
	h := newHarness(t, mailDoc+"  blocked_senders: [spam@example.net, '@Junk.example']\n")
	r := h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 3, UID: 1, MessageID: "<t@c>", From: "c@example.com", To: []string{"support@example.org"}}).(MailResult)
	if r.Contact != "mail-3-1" {
		t.Fatalf("first message %+v", r)
	}
	for i, tc := range []struct {
		p    MailReceivedRequest
		want string
	}{
		{MailReceivedRequest{From: "Spam@example.net", MessageID: "<s1@x>"}, MailSkipBlocked},
		{MailReceivedRequest{From: "x@mx.junk.example", MessageID: "<s2@x>", Thread: []string{"<t@c>"}}, MailSkipBlocked},
		{MailReceivedRequest{From: "c@example.com", MessageID: "<s3@x>", Skip: MailSkipSpam}, MailSkipSpam},
		{MailReceivedRequest{From: "c@example.com", MessageID: "<s4@x>", Skip: MailSkipVirus}, MailSkipVirus},
	} {
		tc.p.UIDValidity, tc.p.UID, tc.p.After = 3, uint32(i+2), uint32(i+1)
		tc.p.To = []string{"support@example.org"}
		h.events = nil
		got := h.ok(TypeMailReceived, tc.p).(MailResult)
		if got != (MailResult{Skipped: tc.want}) {
			t.Fatalf("%s: %+v, want skipped %s", tc.p.From, got, tc.want)
		}
		if len(h.events) != 1 || h.events[0].Type != EvMailSkipped || !strings.Contains(string(h.events[0].Data), `"reason":"`+tc.want+`"`) {
			t.Fatalf("%s: events %v", tc.p.From, h.events)
		}
	}
	h.e.View(func(s *State) {
		if len(s.Calls) != 1 || len(s.Mail.Messages["mail-3-1"].Answers) != 0 || s.Mail.LastUID != 5 {
			t.Fatalf("calls %d, answers %v, last UID %d", len(s.Calls), s.Mail.Messages["mail-3-1"].Answers, s.Mail.LastUID)
		}
	})
	// Unblocked (the list applied without the domain).
	h.config(mailDoc + "  blocked_senders: [spam@example.net]\n")
	r = h.ok(TypeMailReceived, MailReceivedRequest{UIDValidity: 3, UID: 6, After: 5, From: "x@junk.example", To: []string{"support@example.org"}}).(MailResult)
	if r.Contact != "mail-3-6" {
		t.Fatalf("after unblocking: %+v", r)
	}
	// The edge cannot give the engine's own reasons.
	h.fail(TypeMailReceived, MailReceivedRequest{UIDValidity: 3, UID: 7, After: 6, Skip: MailSkipBlocked}, nil)
}
