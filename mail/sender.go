package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// OutboxEngine is what the sender reads of the engine.
type OutboxEngine interface {
	MailSettings() *cc.Mail
	// Outbox lists the entries in a state, oldest first.
	Outbox(state string) []cc.OutboxEntry
	// NextSendAt is when the per-minute limit lets an attempt start.
	NextSendAt(now int64) int64
}

// Sender sends the outbox over SMTP on the leader: for each queued reply,
// oldest first, it records the attempt (mail.sending, which the engine
// refuses beyond the per-minute limit), sends, and records the outcome
// (mail.sent). On becoming leader it marks every reply a previous leader
// left "sending" as uncertain: nobody knows whether it went out, so it is
// never sent again by itself — a reply is sent at most once.
type Sender struct {
	Store  Store
	Engine OutboxEngine
	Logger *slog.Logger
	Now    func() time.Time
	// Poll is how often the outbox is looked at (default 100 ms).
	Poll time.Duration
	// Original fetches a contact's message as the server keeps it, which
	// a forward attaches (Channel.Raw: a session of the pool). Without
	// it forwards fail.
	Original func(ctx context.Context, contact string) ([]byte, error)

	mu   sync.Mutex
	sent uint64
	fail uint64
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run sends while this node leads, until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	poll := orDefault(s.Poll, 100*time.Millisecond)
	leading := false
	for ctx.Err() == nil {
		if !s.Store.IsLeader() {
			leading = false
			sleep(ctx, poll)
			continue
		}
		if !leading {
			if err := s.settleUncertain(ctx); err != nil {
				s.log().Warn("mail: outbox: marking interrupted sends", "err", err)
				sleep(ctx, poll)
				continue
			}
			leading = true
		}
		m := s.Engine.MailSettings()
		var next *cc.OutboxEntry
		for _, o := range s.Engine.Outbox(cc.OutboxQueued) {
			if o.RetryAt <= s.now().UnixNano() {
				next = &o
				break
			}
		}
		if m == nil || m.SMTP.Host == "" || next == nil {
			sleep(ctx, poll)
			continue
		}
		if at := s.Engine.NextSendAt(s.now().UnixNano()); at > s.now().UnixNano() {
			sleep(ctx, min(poll, time.Duration(at-s.now().UnixNano())))
			continue
		}
		if err := s.attempt(ctx, *m, *next); err != nil {
			s.log().Warn("mail: outbox", "reply", next.ID, "err", cc.CleanText(err.Error(), 256))
			sleep(ctx, poll)
		}
	}
}

// settleUncertain marks the replies left "sending" uncertain.
func (s *Sender) settleUncertain(ctx context.Context) error {
	for _, o := range s.Engine.Outbox(cc.OutboxSending) {
		_, err := s.Store.Propose(ctx, cc.TypeMailSent, cc.MailSentRequest{Reply: o.ID, Uncertain: true,
			Error: "the leader changed while it was being sent: not sent again"},
			cluster.WithKey(fmt.Sprintf("mail.sent/%s/%d", o.ID, o.Attempts)))
		if err != nil && !refused(err) {
			return err
		}
		s.log().Warn("mail: reply left sending by a previous leader marked uncertain", "reply", o.ID, "contact", o.Contact)
	}
	return nil
}

func refused(err error) bool {
	var r *cluster.Refusal
	return errors.As(err, &r)
}

// attempt records, sends and records the outcome of one reply.
func (s *Sender) attempt(ctx context.Context, m cc.Mail, o cc.OutboxEntry) error {
	attempt := o.Attempts + 1
	// No idempotency key of our own: the store's retries of this one
	// proposal share its random id, but another proposer (an old leader
	// still forwarding) gets its own and is refused by the engine (the
	// entry is no longer queued) — only one of them ever sends.
	if _, err := s.Store.Propose(ctx, cc.TypeMailSending, cc.MailSendingRequest{Reply: o.ID}); err != nil {
		return fmt.Errorf("recording the attempt (not sent): %w", err)
	}
	res := cc.MailSentRequest{Reply: o.ID}
	if err := s.send(ctx, m, o); err != nil {
		res.Error = cc.CleanText(err.Error(), cc.MaxNoteLen)
		var se sendError
		switch {
		case errors.As(err, &se) && se.uncertain:
			res.Uncertain = true
		default:
			res.Retry = temporary(err)
		}
		s.log().Warn("mail: reply not sent", "reply", o.ID, "retry", res.Retry, "uncertain", res.Uncertain, "err", res.Error)
	}
	// The outcome must be recorded: retried while this node leads.
	for ctx.Err() == nil {
		_, err := s.Store.Propose(ctx, cc.TypeMailSent, res, cluster.WithKey(fmt.Sprintf("mail.sent/%s/%d", o.ID, attempt)))
		if err == nil || refused(err) {
			break
		}
		if !s.Store.IsLeader() {
			return fmt.Errorf("recording the outcome: %w (the next leader marks it uncertain)", err)
		}
		sleep(ctx, 200*time.Millisecond)
	}
	s.mu.Lock()
	if res.Error == "" {
		s.sent++
	} else {
		s.fail++
	}
	s.mu.Unlock()
	if res.Error == "" {
		s.log().Info("mail: reply sent", "reply", o.ID, "contact", o.Contact, "to_alias", o.From)
	}
	return nil
}

// sendError is a failure after the message data was handed over: the
// server may have accepted it.
type sendError struct {
	err       error
	uncertain bool
}

func (e sendError) Error() string { return e.err.Error() }
func (e sendError) Unwrap() error { return e.err }

// temporary: a 4xx answer or a network failure before the data.
func temporary(err error) bool {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code >= 400 && se.Code < 500
	}
	return true
}

// Compose builds an outbox entry's message. A reply: From the alias, To
// the customer, threaded on the message answered (In-Reply-To, and
// References: the thread it answered and itself). A forward: From the alias, To the address forwarded to,
// References the message, which original is, attached
// (message/rfc822) after the agent's text. Both carry our
// X-Tandem-Contact. A report: From the address it is sent on behalf of,
// Sender the alias. The Message-ID is made of the entry's id (the same
// on every attempt).
func Compose(o cc.OutboxEntry, date time.Time, original []byte) ([]byte, error) {
	var h gomail.Header
	h.SetDate(date)
	h.SetAddressList("From", []*gomail.Address{{Address: o.From}})
	if o.Sender != "" {
		h.SetAddressList("Sender", []*gomail.Address{{Address: o.Sender}})
	}
	h.SetAddressList("To", []*gomail.Address{{Address: o.To}})
	h.SetSubject(o.Subject)
	if id := strings.Trim(o.MessageID, "<>"); id != "" {
		h.SetMessageID(id)
	}
	if id := strings.Trim(o.InReplyTo, "<>"); id != "" {
		h.SetMsgIDList("In-Reply-To", []string{id})
	}
	var refs []string
	for id := range strings.FieldsSeq(o.References) {
		if id = strings.Trim(id, "<>"); id != "" {
			refs = append(refs, id)
		}
	}
	if len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	if o.Contact != "" {
		h.Set(HeaderContact, o.Contact)
	}
	var buf bytes.Buffer
	if o.Kind != cc.OutboxForward {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w, err := gomail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, fmt.Errorf("composing %s: %w", o.ID, err)
		}
		if _, err := w.Write([]byte(o.Body)); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if len(original) == 0 {
		return nil, fmt.Errorf("composing forward %s: the message of %s is missing", o.ID, o.Contact)
	}
	mw, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("composing forward %s: %w", o.ID, err)
	}
	var th gomail.InlineHeader
	th.Set("Content-Type", "text/plain; charset=utf-8")
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(o.Body)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var ah gomail.AttachmentHeader
	ah.Set("Content-Type", "message/rfc822")
	ah.SetFilename(o.Contact + ".eml")
	aw, err := mw.CreateAttachment(ah)
	if err != nil {
		return nil, err
	}
	if _, err := aw.Write(original); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// send delivers one reply to the SMTP server.
func (s *Sender) send(ctx context.Context, m cc.Mail, o cc.OutboxEntry) error {
	var original []byte
	if o.Kind == cc.OutboxForward {
		if s.Original == nil {
			return fmt.Errorf("forward %s: no way to fetch the message of %s", o.ID, o.Contact)
		}
		var err error
		if original, err = s.Original(ctx, o.Contact); err != nil {
			return fmt.Errorf("fetching the message of %s to forward: %w", o.Contact, err)
		}
	}
	msg, err := Compose(o, s.now(), original)
	if err != nil {
		return err
	}
	sm := m.SMTP
	addr := net.JoinHostPort(sm.Host, strconv.Itoa(sm.Port))
	var c *smtp.Client
	switch sm.TLS {
	case cc.MailTLSNone:
		c, err = smtp.Dial(addr)
	default:
		tc, terr := tlsConfig(m, sm.Host)
		if terr != nil {
			return terr
		}
		if sm.TLS == cc.MailTLSImplicit {
			c, err = smtp.DialTLS(addr, tc)
		} else {
			c, err = smtp.DialStartTLS(addr, tc)
		}
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	guard := time.AfterFunc(commandTimeout, func() { c.Close() })
	defer guard.Stop()
	if sm.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", sm.User, sm.Password)); err != nil {
			return fmt.Errorf("authenticating to %s as %s: %w", addr, cc.CleanText(sm.User, 64), err)
		}
	}
	envelopeFrom := o.From
	if o.Sender != "" {
		envelopeFrom = o.Sender // the alias sends on behalf of From
	}
	if err := c.Mail(envelopeFrom, nil); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(o.To, nil); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return sendError{fmt.Errorf("writing the message: %w", err), true}
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return fmt.Errorf("end of data: %w", err) // the server refused it: not sent
		}
		return sendError{fmt.Errorf("end of data: %w", err), true}
	}
	_ = c.Quit()
	return nil
}
