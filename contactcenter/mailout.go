package contactcenter

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// The e-mail channel's durable outbox. An agent's reply is committed
// (mail.reply) before anything is sent; the leader's sender then records
// each attempt before it talks SMTP (mail.sending: the engine applies the
// per-minute limit there, with the leader's time) and its outcome after
// (mail.sent). A reply is therefore sent at most once: a leader lost
// between the two leaves it "uncertain" (the next leader marks it so and
// never sends it again by itself), never sent twice.

// Command types of the outbox.
const (
	TypeMailReply   = "mail.reply"
	TypeMailForward = "mail.forward"
	TypeMailReport  = "mail.report"
	TypeMailSending = "mail.sending"
	TypeMailSent    = "mail.sent"
)

// Kinds of outbox entries.
const (
	OutboxReply   = "reply"
	OutboxForward = "forward"
	OutboxReport  = "report"
)

// Events of the outbox: the entry (OutboxEntry without its body).
const (
	EvMailReplyQueued = "mail.reply_queued"
	EvMailSending     = "mail.sending"
	EvMailSent        = "mail.sent"
)

// States of an outbox entry.
const (
	OutboxQueued    = "queued"
	OutboxSending   = "sending"
	OutboxSent      = "sent"
	OutboxFailed    = "failed"
	OutboxUncertain = "uncertain"
)

// MaxMailBodyLen bounds a reply's text.
const MaxMailBodyLen = 64 << 10

// ErrMailRate refuses a mail.sending while the per-minute limit is
// reached; the sender waits and proposes it again.
var ErrMailRate = errors.New("the SMTP per-minute limit is reached")

// ErrNoSMTP refuses a reply while no SMTP server is configured.
var ErrNoSMTP = errors.New("no SMTP server is configured")

// MailReplyRequest is the payload of mail.reply (an agent answers an
// e-mail contact) and mail.forward (an agent sends the contact's message,
// attached, with its own text, to Forward). Reply is the new entry's id
// (the edge's, so a retry is one entry). An agent named must hold the
// contact (on its line); an integration with the admin token names none.
type MailReplyRequest struct {
	Reply   string `json:"reply"`
	Contact string `json:"contact"`
	Agent   string `json:"agent,omitempty"`
	// Subject defaults to "Re: " (a forward: "Fwd: ") and the message's
	// subject.
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
	// Forward is the address a mail.forward goes to (only there).
	Forward string `json:"forward,omitempty"`
}

// MailReportRequest is the payload of mail.report: a report e-mailed
// (admin API) to To, shown as From OnBehalfOf when set (the first
// alias sends it: Sender), else from the first alias.
type MailReportRequest struct {
	Reply      string `json:"reply"`
	To         string `json:"to"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
}

// MailSendingRequest is the payload of mail.sending.
type MailSendingRequest struct {
	Reply string `json:"reply"`
}

// MailSentRequest is the payload of mail.sent: Error empty when the SMTP
// server accepted the message; Retry puts a failed attempt back in the
// queue; Uncertain marks an attempt whose outcome nobody knows.
type MailSentRequest struct {
	Reply     string `json:"reply"`
	Error     string `json:"error,omitempty"`
	Retry     bool   `json:"retry,omitempty"`
	Uncertain bool   `json:"uncertain,omitempty"`
}

// OutboxEntry is one reply in the outbox.
type OutboxEntry struct {
	ID string `json:"id"`
	// Kind: reply (the default), forward (the contact's message attached)
	// or report.
	Kind    string `json:"kind,omitempty"`
	Contact string `json:"contact,omitempty"`
	Agent   string `json:"agent,omitempty"`
	// From is the alias the customer wrote to (a report: the address it
	// is sent on behalf of); To the customer (a forward: the address
	// forwarded to). Sender, when set, is the alias that sends a message
	// From another address.
	From    string `json:"from"`
	Sender  string `json:"sender,omitempty"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	// MessageID is the reply's own (<reply.contact@alias-domain>): an
	// answer to it threads onto the contact.
	MessageID string `json:"message_id,omitempty"`
	InReplyTo string `json:"in_reply_to,omitempty"`
	// References are the Message-IDs of the thread, oldest first,
	// separated by spaces: a reply's, those the customer's message
	// answered and then its own (RFC 5322 3.6.4); a forward's, the
	// message forwarded.
	References string `json:"references,omitempty"`
	Body       string `json:"body,omitempty"`
	State      string `json:"state"`
	Queued     int64  `json:"queued"`
	Attempts   int    `json:"attempts,omitempty"`
	SendingAt  int64  `json:"sending_at,omitempty"`
	SentAt     int64  `json:"sent_at,omitempty"`
	// RetryAt is when a reply put back by a temporary failure may be
	// tried again: 2^attempts seconds after it, at most 10 minutes.
	RetryAt int64  `json:"retry_at,omitempty"`
	Error   string `json:"error,omitempty"`
}

// retryBackoff is the wait after the n-th failed attempt.
func retryBackoff(n int) time.Duration {
	if n > 10 {
		return 10 * time.Minute
	}
	return min(time.Duration(1<<n)*time.Second, 10*time.Minute)
}

func (o OutboxEntry) event() OutboxEntry {
	o.Body = ""
	return o
}

func (e *Engine) outboxEntry(field, id string) (*OutboxEntry, error) {
	if err := checkID(field, id); err != nil {
		return nil, err
	}
	if ms := e.st.Mail; ms != nil {
		if o, ok := ms.Outbox[id]; ok {
			return o, nil
		}
	}
	return nil, opErr(ErrUnknownCall, "mail", "no reply %q in the outbox", id)
}

func (e *Engine) cmdMailReply(env command.Envelope) (any, error) {
	var p MailReplyRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkTexts(&p); err != nil {
		return nil, err
	}
	forward := env.Type == TypeMailForward
	switch {
	case forward && !plausibleAddress(p.Forward):
		return nil, fieldErr("forward", "%q is not an address to forward to (local@domain)", p.Forward)
	case !forward && p.Forward != "":
		return nil, fieldErr("forward", "a reply goes to the customer: use mail.forward to forward")
	}
	conf, ms, err := e.outboxReady(p.Reply, p.Body)
	if err != nil {
		return nil, err
	}
	var m *MailMessage
	if ms != nil {
		m = ms.Messages[p.Contact]
	}
	if m == nil {
		return nil, opErr(ErrUnknownCall, "mail", "no e-mail contact %q", p.Contact)
	}
	if m.From == "" && !forward {
		return nil, opErr(ErrUnknownCall, "mail", "e-mail contact %q has no sender to reply to", p.Contact)
	}
	if p.Agent != "" {
		if _, ok := e.st.Agents[p.Agent]; !ok {
			return nil, opErr(ErrUnknownAgent, "mail", "unknown agent %q", p.Agent)
		}
		if c := e.st.Calls[p.Contact]; c == nil || c.Place != PlaceLine || c.Agent != p.Agent {
			return nil, opErr(ErrNotYours, "mail", "agent %q does not hold e-mail contact %q", p.Agent, p.Contact)
		}
	}
	subject, prefix := p.Subject, "Re: "
	if forward {
		prefix = "Fwd: "
	}
	if subject == "" {
		subject = m.Subject
		if !strings.HasPrefix(strings.ToLower(subject), strings.ToLower(strings.TrimSpace(prefix))) {
			subject = clipText(prefix+subject, MaxNoteLen)
		}
	}
	from := m.Alias
	if from == "" {
		from = conf.AliasFor(nil).Address
	}
	o := &OutboxEntry{ID: p.Reply, Contact: p.Contact, Agent: p.Agent, From: from, To: m.From, Subject: subject,
		MessageID: "<" + p.Reply + "." + p.Contact + "@" + domainOf(from) + ">",
		InReplyTo: m.MessageID, Body: p.Body, State: OutboxQueued, Queued: e.now}
	if m.LastAnswer != "" {
		o.InReplyTo = m.LastAnswer // the customer's latest message
	}
	o.References = joinRefs(m.References, o.InReplyTo)
	if forward {
		o.Kind, o.To, o.InReplyTo, o.References = OutboxForward, p.Forward, "", m.MessageID
	}
	return e.queueOutbox(ms, o), nil
}

// cmdMailReport queues a report e-mail, From the address it is sent on
// behalf of (the first alias sends it), else from the first alias.
func (e *Engine) cmdMailReport(env command.Envelope) (any, error) {
	var p MailReportRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkTexts(&p); err != nil {
		return nil, err
	}
	if !plausibleAddress(p.To) {
		return nil, fieldErr("to", "%q is not an address to send the report to (local@domain)", p.To)
	}
	if p.OnBehalfOf != "" && !plausibleAddress(p.OnBehalfOf) {
		return nil, fieldErr("on_behalf_of", "%q is not an address (local@domain)", p.OnBehalfOf)
	}
	conf, ms, err := e.outboxReady(p.Reply, p.Body)
	if err != nil {
		return nil, err
	}
	alias := conf.AliasFor(nil).Address
	o := &OutboxEntry{ID: p.Reply, Kind: OutboxReport, From: alias, To: p.To, Subject: p.Subject,
		MessageID: "<" + p.Reply + "@" + domainOf(alias) + ">", Body: p.Body, State: OutboxQueued, Queued: e.now}
	if p.OnBehalfOf != "" && !strings.EqualFold(p.OnBehalfOf, alias) {
		o.From, o.Sender = p.OnBehalfOf, alias
	}
	return e.queueOutbox(ms, o), nil
}

// outboxReady checks what every new outbox entry needs: a fresh id, a
// body, the channel and an SMTP server configured.
func (e *Engine) outboxReady(id, body string) (*Mail, *MailState, error) {
	if err := checkID("reply", id); err != nil {
		return nil, nil, err
	}
	if len(body) > MaxMailBodyLen || !utf8.ValidString(body) || strings.ContainsRune(body, 0) {
		return nil, nil, fieldErr("body", "want UTF-8 text of at most %d bytes without NUL", MaxMailBodyLen)
	}
	conf := e.st.Config.Mail
	if conf == nil {
		return nil, nil, opErr(ErrMailOff, "mail", "the e-mail channel is not configured")
	}
	if conf.SMTP.Host == "" {
		return nil, nil, opErr(ErrNoSMTP, "mail", "no SMTP server is configured (mail.smtp.host)")
	}
	ms := e.st.Mail
	if ms != nil {
		if _, dup := ms.Outbox[id]; dup {
			return nil, nil, fieldErr("reply", "%q is in the outbox already", id)
		}
	}
	return conf, ms, nil
}

// queueOutbox adds o to the outbox and its Message-ID to the index (an
// answer to it threads onto its contact).
// joinRefs is a thread's Message-IDs followed by id, separated by spaces
// (either may be empty).
func joinRefs(thread, id string) string {
	switch {
	case thread == "":
		return id
	case id == "":
		return thread
	}
	return thread + " " + id
}

func (e *Engine) queueOutbox(ms *MailState, o *OutboxEntry) OutboxEntry {
	if ms == nil {
		ms = &MailState{}
		e.st.Mail = ms
	}
	if ms.Outbox == nil {
		ms.Outbox = map[string]*OutboxEntry{}
	}
	ms.Outbox[o.ID] = o
	if o.Contact != "" {
		if ms.ByMessageID == nil {
			ms.ByMessageID = map[string]string{}
		}
		ms.ByMessageID[o.MessageID] = o.Contact
	}
	e.emit(EvMailReplyQueued, o.event())
	return o.event()
}

func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return "tandem.invalid"
}

// sendsInWindow counts the attempts recorded in the minute up to now.
func (ms *MailState) sendsInWindow(now int64) int {
	n := 0
	for _, t := range ms.Sends {
		if t > now-int64(time.Minute) {
			n++
		}
	}
	return n
}

// NextSendAt is when the per-minute limit lets the next attempt start
// (Unix ns; 0: now), after the attempts recorded so far.
func (e *Engine) NextSendAt(now int64) int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ms, conf := e.st.Mail, e.st.Config.Mail
	if ms == nil || conf == nil || conf.SMTP.MessagesPerMinute == 0 {
		return 0
	}
	limit := conf.SMTP.MessagesPerMinute
	if ms.sendsInWindow(now) < limit || len(ms.Sends) < limit {
		return 0
	}
	return ms.Sends[len(ms.Sends)-limit] + int64(time.Minute)
}

func (e *Engine) cmdMailSending(env command.Envelope) (any, error) {
	var p MailSendingRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	o, err := e.outboxEntry("reply", p.Reply)
	if err != nil {
		return nil, err
	}
	if o.State != OutboxQueued {
		return nil, opErr(ErrAgentState, "mail", "reply %q is %s, not queued", o.ID, o.State)
	}
	conf, ms := e.st.Config.Mail, e.st.Mail
	if conf == nil || conf.SMTP.Host == "" {
		return nil, opErr(ErrNoSMTP, "mail", "no SMTP server is configured (mail.smtp.host)")
	}
	limit := conf.SMTP.MessagesPerMinute
	if limit > 0 && ms.sendsInWindow(e.now) >= limit {
		return nil, opErr(ErrMailRate, "mail", "%d messages in the last minute, the limit is %d", limit, limit)
	}
	o.State, o.SendingAt = OutboxSending, e.now
	o.Attempts++
	ms.Sends = append(ms.Sends, e.now)
	if keep := max(limit, 1); len(ms.Sends) > keep {
		ms.Sends = append(ms.Sends[:0], ms.Sends[len(ms.Sends)-keep:]...)
	}
	e.emit(EvMailSending, o.event())
	return o.event(), nil
}

func (e *Engine) cmdMailSent(env command.Envelope) (any, error) {
	var p MailSentRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkTexts(&p); err != nil {
		return nil, err
	}
	o, err := e.outboxEntry("reply", p.Reply)
	if err != nil {
		return nil, err
	}
	if o.State != OutboxSending {
		return nil, opErr(ErrAgentState, "mail", "reply %q is %s, not sending", o.ID, o.State)
	}
	o.Error = p.Error
	switch {
	case p.Uncertain:
		o.State = OutboxUncertain
	case p.Error == "":
		o.State, o.SentAt = OutboxSent, e.now
	case p.Retry:
		o.State, o.RetryAt = OutboxQueued, e.now+int64(retryBackoff(o.Attempts))
	default:
		o.State = OutboxFailed
	}
	e.emit(EvMailSent, o.event())
	return o.event(), nil
}

// Outbox lists the outbox's entries in state (all when ""), oldest
// first (bodies included: for the sender).
func (e *Engine) Outbox(state string) []OutboxEntry {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ms := e.st.Mail
	if ms == nil {
		return nil
	}
	var out []OutboxEntry
	for _, id := range sortedKeys(ms.Outbox) {
		if o := ms.Outbox[id]; state == "" || o.State == state {
			out = append(out, *o)
		}
	}
	sortOutbox(out)
	return out
}

func sortOutbox(out []OutboxEntry) {
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].Queued < out[j-1].Queued || (out[j].Queued == out[j-1].Queued && out[j].ID < out[j-1].ID)); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
}
