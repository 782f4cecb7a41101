package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/dovecottest"
)

// smtpSink is the tiny SMTP server of the tests (peers.md): go-smtp's
// server, with PLAIN authentication, keeping what it receives; a
// recipient's local part "tempfail…" or "reject…" is answered 451 or 550.
type smtpSink struct {
	addr       string
	user, pass string
	mu         sync.Mutex
	got        [][]byte
	authed     int
}

func startSink(t *testing.T) *smtpSink { return startSinkTLS(t, nil) }

// startSinkTLS is startSink offering STARTTLS with tc (and then
// authentication only over TLS).
func startSinkTLS(t *testing.T, tc *tls.Config) *smtpSink {
	k := &smtpSink{user: "sender@example.org", pass: "Smtp-Sink-Pass-42"}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }))
	s.Domain, s.AllowInsecureAuth, s.TLSConfig = "sink.test", tc == nil, tc
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return k
}

func (k *smtpSink) messages() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][]byte(nil), k.got...)
}

type sinkSession struct {
	k    *smtpSink
	auth bool
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.k.user || pass != s.k.pass {
			return errors.New("invalid credentials")
		}
		s.auth = true
		s.k.mu.Lock()
		s.k.authed++
		s.k.mu.Unlock()
		return nil
	}), nil
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "tempfail"):
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	case strings.HasPrefix(to, "reject"):
		return &smtp.SMTPError{Code: 550, Message: "no such user"}
	}
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	s.k.got = append(s.k.got, b)
	s.k.mu.Unlock()
	return nil
}

// fakeClock is the leader's clock of the in-process store and the
// sender's: the per-minute limit is engine time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func senderConfig(sink *smtpSink, perMinute int) string {
	host, port, _ := net.SplitHostPort(sink.addr)
	return fmt.Sprintf(`
queues: [{id: support}]
mail:
  imap: {host: imap.example.org, user: u, password: p}
  smtp: {host: %s, port: %s, tls: none, user: %q, password: %q, messages_per_minute: %d}
  aliases: [{address: support@example.org, queue: support}]
`, host, port, sink.user, sink.pass, perMinute)
}

// A burst of replies under a 3-a-minute limit: exactly 3 go out in each
// minute of the leader's clock, each from the alias the customer wrote
// to, threaded on the customer's message, marked as ours, once.
func TestSenderRateAndThreading(t *testing.T) {
	sink := startSink(t)
	clock := &fakeClock{t: time.Now().Add(time.Hour)} // after the configuration's (real) time
	st := newEngineStore(t, senderConfig(sink, 3))
	st.now = clock.Now
	ctx := context.Background()
	if _, err := st.Propose(ctx, cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: "<q1@cust.example>",
		From: "cust@example.com", To: []string{"support@example.org"}, Subject: "Broken"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 7; i++ {
		if _, err := st.Propose(ctx, cc.TypeMailReply, cc.MailReplyRequest{Reply: fmt.Sprintf("r%d", i), Contact: "mail-1-1",
			Body: fmt.Sprintf("Reply %d.\nRegards", i)}); err != nil {
			t.Fatal(err)
		}
	}
	snd := &Sender{Store: st, Engine: st.e, Now: clock.Now, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { snd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for minute, want := range []int{3, 6, 7} {
		waitFor(t, fmt.Sprintf("%d messages in minute %d", want, minute), 20*time.Second, func() bool { return len(sink.messages()) >= want })
		time.Sleep(200 * time.Millisecond) // the sender keeps polling: nothing more may go out this minute
		if got := len(sink.messages()); got != want {
			t.Fatalf("minute %d: %d messages sent, want %d", minute, got, want)
		}
		clock.Add(time.Minute)
	}
	if got := st.e.Outbox(cc.OutboxSent); len(got) != 7 {
		t.Fatalf("%d sent in the outbox", len(got))
	}
	m, err := gomail.CreateReader(strings.NewReader(string(sink.messages()[0])))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := m.Header.AddressList("From")
	irt, _ := m.Header.MsgIDList("In-Reply-To")
	refs, _ := m.Header.MsgIDList("References")
	subj, _ := m.Header.Subject()
	if len(from) != 1 || from[0].Address != "support@example.org" || m.Header.Get(HeaderContact) != "mail-1-1" ||
		len(irt) != 1 || irt[0] != "q1@cust.example" || len(refs) != 1 || subj != "Re: Broken" {
		t.Fatalf("headers %v", m.Header.Map())
	}
	// The channel never ingests its own reply.
	if h, _ := ParseHeaders(sink.messages()[0]); h.Skip != cc.MailSkipOwn {
		t.Fatalf("our reply parses as %q", h.Skip)
	}
}

// Outcomes: a 451 is retried, a 550 fails; a reply a previous leader left
// "sending" is marked uncertain and never sent.
func TestSenderOutcomesAndFailover(t *testing.T) {
	sink := startSink(t)
	st := newEngineStore(t, senderConfig(sink, 100))
	ctx := context.Background()
	for i, from := range []string{"tempfail@example.com", "reject@example.com", "ok@example.com"} {
		if _, err := st.Propose(ctx, cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: uint32(i + 1), After: uint32(i), From: from}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct{ id, contact string }{{"interrupted", "mail-1-3"}, {"temp", "mail-1-1"}, {"rej", "mail-1-2"}, {"ok", "mail-1-3"}} {
		if _, err := st.Propose(ctx, cc.TypeMailReply, cc.MailReplyRequest{Reply: r.id, Contact: r.contact, Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// A previous leader recorded the attempt and died.
	if _, err := st.Propose(ctx, cc.TypeMailSending, cc.MailSendingRequest{Reply: "interrupted"}); err != nil {
		t.Fatal(err)
	}
	snd := &Sender{Store: st, Engine: st.e, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { snd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	state := func(id string) cc.OutboxEntry {
		for _, o := range st.e.Outbox("") {
			if o.ID == id {
				return o
			}
		}
		return cc.OutboxEntry{}
	}
	waitFor(t, "the outcomes", 20*time.Second, func() bool {
		return state("ok").State == cc.OutboxSent && state("rej").State == cc.OutboxFailed && state("temp").Attempts >= 2
	})
	if o := state("interrupted"); o.State != cc.OutboxUncertain {
		t.Fatalf("interrupted: %+v", o)
	}
	if o := state("temp"); o.State == cc.OutboxSent || o.State == cc.OutboxFailed {
		t.Fatalf("temp: %+v", o)
	}
	if got := sink.messages(); len(got) != 1 {
		t.Fatalf("%d messages delivered, want only ok's", len(got))
	}
	if e := state("rej").Error; !strings.Contains(e, "550") || strings.Contains(e, sink.pass) {
		t.Fatalf("rej error %q", e)
	}
}

// STARTTLS (the default SMTP mode) with a custom CA, then PLAIN: the
// reply goes out over TLS.
func TestSenderStartTLS(t *testing.T) {
	certs := dovecottest.Start(t, dovecottest.Options{TLS: true}) // its test CA and 127.0.0.1 certificate
	cert, err := tls.LoadX509KeyPair(filepath.Join(certs.Dir, "server.pem"), filepath.Join(certs.Dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	sink := startSinkTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	doc := strings.Replace(senderConfig(sink, 30), "tls: none, ", "", 1) + "  ca_file: " + certs.CAFile + "\n"
	st := newEngineStore(t, doc)
	if m := st.e.MailSettings(); m.SMTP.TLS != cc.MailTLSStartTLS {
		t.Fatalf("default SMTP TLS mode %q", m.SMTP.TLS)
	}
	ctx := context.Background()
	if _, err := st.Propose(ctx, cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: 1, From: "c@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Propose(ctx, cc.TypeMailReply, cc.MailReplyRequest{Reply: "r1", Contact: "mail-1-1", Body: "over TLS"}); err != nil {
		t.Fatal(err)
	}
	snd := &Sender{Store: st, Engine: st.e, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { snd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the reply over STARTTLS, recorded sent", 20*time.Second, func() bool {
		return len(sink.messages()) == 1 && len(st.e.Outbox(cc.OutboxSent)) == 1
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.authed != 1 {
		t.Fatalf("authenticated %d times", sink.authed)
	}
}

// nodeStore is one node's view of the in-process cluster: its own
// leadership; killAt makes the node lose it (and the proposal fail) when
// it records the outcome of that reply — a leader gone between SMTP and
// mail.sent.
type nodeStore struct {
	*engineStore
	mu     sync.Mutex
	leader bool
	killAt string
	killed chan struct{}
}

func (n *nodeStore) IsLeader() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.leader }

func (n *nodeStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	n.mu.Lock()
	if !n.leader {
		n.mu.Unlock()
		return cluster.Result{}, errors.New("not the leader")
	}
	if p, ok := payload.(cc.MailSentRequest); ok && typ == cc.TypeMailSent && p.Reply == n.killAt {
		n.leader = false
		n.mu.Unlock()
		close(n.killed)
		return cluster.Result{}, errors.New("leadership lost")
	}
	n.mu.Unlock()
	return n.engineStore.Propose(ctx, typ, payload, opts...)
}

// A burst of 100 replies under the provider's 30 a minute, with the
// leader's clock injected (no sleeps decide anything): 30 attempts in
// each minute window and 10 in the fourth, each reply delivered exactly
// once; the leader is lost after delivering the 45th and before
// recording it, and the next leader marks that one uncertain instead of
// sending it again, then goes on within the same window's budget.
func TestSenderBurstUnderLimitAcrossFailover(t *testing.T) {
	sink := startSink(t)
	clock := &fakeClock{t: time.Now().Add(time.Hour)}
	st := newEngineStore(t, senderConfig(sink, 30))
	st.now = clock.Now
	ctx := context.Background()
	if _, err := st.Propose(ctx, cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: "<q1@cust.example>",
		From: "cust@example.com", To: []string{"support@example.org"}, Subject: "Order"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		if _, err := st.Propose(ctx, cc.TypeMailReply, cc.MailReplyRequest{Reply: fmt.Sprintf("r%03d", i), Contact: "mail-1-1", Body: fmt.Sprint("Reply ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	a := &nodeStore{engineStore: st, leader: true, killAt: "r045", killed: make(chan struct{})}
	b := &nodeStore{engineStore: st, killed: make(chan struct{})}
	for _, n := range []*nodeStore{a, b} {
		snd := &Sender{Store: n, Engine: st.e, Now: clock.Now, Poll: 5 * time.Millisecond}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { snd.Run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	attempted := func() int {
		n := 0
		for _, o := range st.e.Outbox("") {
			if o.Attempts > 0 && o.State != cc.OutboxSending {
				n++
			}
		}
		return n
	}
	start := clock.Now()
	for window, want := range []int{30, 60, 90, 100} {
		if window == 1 {
			select {
			case <-a.killed:
			case <-time.After(20 * time.Second):
				t.Fatal("the first leader never reached r045")
			}
			if o := st.e.Outbox(cc.OutboxSending); len(o) != 1 || o[0].ID != "r045" {
				t.Fatalf("left sending: %+v", o)
			}
			b.mu.Lock()
			b.leader = true // the next leader
			b.mu.Unlock()
		}
		waitFor(t, fmt.Sprintf("%d attempts in window %d", want, window), 20*time.Second, func() bool { return attempted() == want })
		if got := len(sink.messages()); got != want {
			t.Fatalf("window %d: %d delivered, want %d", window, got, want)
		}
		// The limit is reached: the engine refuses one more attempt now.
		if want < 100 {
			if _, err := st.Propose(ctx, cc.TypeMailSending, cc.MailSendingRequest{Reply: fmt.Sprintf("r%03d", want+1)}); err == nil || !strings.Contains(err.Error(), "the limit is 30") {
				t.Fatalf("window %d: a 31st attempt: %v", window, err)
			}
		}
		clock.Add(time.Minute)
	}
	perWindow := map[int64]int{}
	states := map[string]int{}
	for _, o := range st.e.Outbox("") {
		perWindow[(o.SendingAt-start.UnixNano())/int64(time.Minute)]++
		states[o.State]++
		if o.Attempts != 1 {
			t.Errorf("%s: %d attempts", o.ID, o.Attempts)
		}
	}
	if fmt.Sprint(perWindow) != "map[0:30 1:30 2:30 3:10]" {
		t.Fatalf("attempts per minute window %v", perWindow)
	}
	if states[cc.OutboxSent] != 99 || states[cc.OutboxUncertain] != 1 {
		t.Fatalf("outbox states %v", states)
	}
	seen := map[string]int{}
	for _, m := range sink.messages() {
		h, err := gomail.CreateReader(strings.NewReader(string(m)))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := h.Header.MessageID()
		seen[id]++
	}
	if len(seen) != 100 {
		t.Fatalf("%d distinct replies delivered, want 100", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
}

// Compose by kind: a forward carries the agent's text and the message
// attached, threaded by References, marked as ours; it needs the
// message; a report on behalf of another address shows that From, the
// alias as Sender.
func TestComposeForwardAndReport(t *testing.T) {
	date := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	original := []byte("From: c@example.com\r\nMessage-ID: <q@c>\r\nSubject: Help\r\n\r\nIt broke.\r\n")
	fwd := cc.OutboxEntry{ID: "f1", Kind: cc.OutboxForward, Contact: "mail-1-1", From: "support@example.org", To: "tech@partner.example",
		Subject: "Fwd: Help", MessageID: "<f1.mail-1-1@example.org>", References: "<q@c>", Body: "Please look."}
	if _, err := Compose(fwd, date, nil); err == nil {
		t.Fatal("a forward without its message composed")
	}
	m, b := composed(t, fwd, date, original)
	refs, _ := m.Header.MsgIDList("References")
	if fmt.Sprint(refs) != "[q@c]" || m.Header.Get("In-Reply-To") != "" || m.Header.Get(HeaderContact) != "mail-1-1" {
		t.Fatalf("forward headers %v", m.Header.Map())
	}
	var parts []string
	for {
		p, err := m.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		ct, _, _ := p.Header.(interface {
			ContentType() (string, map[string]string, error)
		}).ContentType()
		parts = append(parts, ct+":"+strings.TrimSpace(string(body)))
	}
	if len(parts) != 2 || parts[0] != "text/plain:Please look." || !strings.HasPrefix(parts[1], "message/rfc822:From: c@example.com") {
		t.Fatalf("forward parts %q", parts)
	}
	if h, _ := ParseHeaders(b); h.Skip != cc.MailSkipOwn {
		t.Fatalf("our forward parses as %q", h.Skip)
	}
	rep := cc.OutboxEntry{ID: "p1", Kind: cc.OutboxReport, From: "ceo@example.org", Sender: "support@example.org", To: "boss@example.com",
		Subject: "Daily", MessageID: "<p1@example.org>", Body: "42 calls"}
	m, _ = composed(t, rep, date, nil)
	from, _ := m.Header.AddressList("From")
	sender, _ := m.Header.AddressList("Sender")
	if len(from) != 1 || from[0].Address != "ceo@example.org" || len(sender) != 1 || sender[0].Address != "support@example.org" || m.Header.Get(HeaderContact) != "" {
		t.Fatalf("report headers %v", m.Header.Map())
	}
}

// A reply's References list the thread, oldest first, as the engine
// recorded it (space-separated, each in angle brackets).
func TestComposeReplyReferences(t *testing.T) {
	o := cc.OutboxEntry{ID: "r1", Contact: "mail-1-3", From: "support@example.org", To: "c@example.com", Subject: "Re: Help",
		MessageID: "<r1.mail-1-3@example.org>", InReplyTo: "<c3@cust>", References: "<c0@cust> <c1@cust>  <c3@cust>", Body: "Done."}
	m, b := composed(t, o, time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), nil)
	refs, _ := m.Header.MsgIDList("References")
	irt, _ := m.Header.MsgIDList("In-Reply-To")
	if fmt.Sprint(refs) != "[c0@cust c1@cust c3@cust]" || fmt.Sprint(irt) != "[c3@cust]" {
		t.Fatalf("references %v, in-reply-to %v:\n%s", refs, irt, b)
	}
}

// composed is Compose's message for o, and it read back.
func composed(t *testing.T, o cc.OutboxEntry, date time.Time, original []byte) (*gomail.Reader, []byte) {
	t.Helper()
	b, err := Compose(o, date, original)
	if err != nil {
		t.Fatal(err)
	}
	m, err := gomail.CreateReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}
