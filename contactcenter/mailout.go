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
	TypeMailSending = "mail.sending"
	TypeMailSent    = "mail.sent"
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

// MailReplyRequest is the payload of mail.reply: an agent answers an
// e-mail contact. Reply is the new entry's id (the edge's, so a retry is
// one entry).
type MailReplyRequest struct {
	Reply   string `json:"reply"`
	Contact string `json:"contact"`
	Agent   string `json:"agent,omitempty"`
	// Subject defaults to "Re: " and the message's subject.
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
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
	ID      string `json:"id"`
	Contact string `json:"contact"`
	Agent   string `json:"agent,omitempty"`
	// From is the alias the customer wrote to; To the customer.
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	// MessageID is the reply's own (<reply.contact@alias-domain>): an
	// answer to it threads onto the contact.
	MessageID  string `json:"message_id,omitempty"`
	InReplyTo  string `json:"in_reply_to,omitempty"`
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
	if err := checkID("reply", p.Reply); err != nil {
		return nil, err
	}
	if len(p.Body) > MaxMailBodyLen || !utf8.ValidString(p.Body) || strings.ContainsRune(p.Body, 0) {
		return nil, fieldErr("body", "want UTF-8 text of at most %d bytes without NUL", MaxMailBodyLen)
	}
	conf := e.st.Config.Mail
	if conf == nil {
		return nil, opErr(ErrMailOff, "mail", "the e-mail channel is not configured")
	}
	if conf.SMTP.Host == "" {
		return nil, opErr(ErrNoSMTP, "mail", "no SMTP server is configured (mail.smtp.host)")
	}
	ms := e.st.Mail
	if ms != nil {
		if _, dup := ms.Outbox[p.Reply]; dup {
			return nil, fieldErr("reply", "%q is in the outbox already", p.Reply)
		}
	}
	var m *MailMessage
	if ms != nil {
		m = ms.Messages[p.Contact]
	}
	if m == nil {
		return nil, opErr(ErrUnknownCall, "mail", "no e-mail contact %q", p.Contact)
	}
	if m.From == "" {
		return nil, opErr(ErrUnknownCall, "mail", "e-mail contact %q has no sender to reply to", p.Contact)
	}
	if p.Agent != "" {
		if _, ok := e.st.Agents[p.Agent]; !ok {
			return nil, opErr(ErrUnknownAgent, "mail", "unknown agent %q", p.Agent)
		}
	}
	subject := p.Subject
	if subject == "" {
		subject = m.Subject
		if !strings.HasPrefix(strings.ToLower(subject), "re:") {
			subject = clipText("Re: "+subject, MaxNoteLen)
		}
	}
	from := m.Alias
	if from == "" {
		from = conf.AliasFor(nil).Address
	}
	domain := "tandem.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = from[at+1:]
	}
	o := &OutboxEntry{ID: p.Reply, Contact: p.Contact, Agent: p.Agent, From: from, To: m.From, Subject: subject,
		MessageID: "<" + p.Reply + "." + p.Contact + "@" + domain + ">",
		InReplyTo: m.MessageID, References: m.MessageID, Body: p.Body, State: OutboxQueued, Queued: e.now}
	if ms.Outbox == nil {
		ms.Outbox = map[string]*OutboxEntry{}
	}
	ms.Outbox[o.ID] = o
	if ms.ByMessageID == nil {
		ms.ByMessageID = map[string]string{}
	}
	ms.ByMessageID[o.MessageID] = o.Contact
	e.emit(EvMailReplyQueued, o.event())
	return o.event(), nil
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
