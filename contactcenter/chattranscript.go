package contactcenter

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// A web chat's transcript e-mailed at the customer's request (web.md,
// "Beyond"): chat.transcript puts a message in the e-mail channel's
// durable outbox (mailout.go), which the leader's sender delivers by
// SMTP like an agent's reply — at most once, within the per-minute
// limit. The text is built here, from the stored transcript, so every
// node queues the same message. Once per session, and only once an agent
// has taken it: the session id is the customer's only credential, and a
// transcript goes to an address the customer gives.

// TypeChatTranscript is the command type.
const TypeChatTranscript = "chat.transcript"

// ChatTranscriptRequest is the payload of chat.transcript: Reply is the
// outbox entry's id (the edge's), To the customer's address.
type ChatTranscriptRequest struct {
	Session string `json:"session"`
	Reply   string `json:"reply"`
	To      string `json:"to"`
}

// CheckEmailAddress is the form of an address a transcript may go to: a
// plain addr-spec, local@domain, printable ASCII without spaces, quotes,
// brackets, commas or angle brackets; the domain dot-separated labels of
// letters, digits and hyphens.
func CheckEmailAddress(a string) *CallbackError {
	bad := func(why string) *CallbackError {
		return chatErr(CodeBadMandatory, "email", "the e-mail address %s", why)
	}
	if a == "" || len(a) > MaxEmailLen {
		return bad(fmt.Sprintf("must be 1-%d characters", MaxEmailLen))
	}
	at := strings.LastIndexByte(a, '@')
	if at < 1 || at > 64 || at == len(a)-1 {
		return bad("must be local-part@domain")
	}
	for i := 0; i < at; i++ {
		c := a[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"(),:;<>@[\\]", c) >= 0 {
			return bad("has a character its local part may not have")
		}
	}
	labels := strings.Split(a[at+1:], ".")
	if len(labels) < 2 {
		return bad("needs a domain with a dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad("has an invalid domain")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad("has an invalid domain")
			}
		}
	}
	return nil
}

// CheckChatTranscriptRequest is the check that needs no state, made by
// the edge before proposing and by Apply.
func CheckChatTranscriptRequest(p *ChatTranscriptRequest) *CallbackError {
	if err := checkID("session", p.Session); err != nil {
		return chatErr(CodeInvalidSession, "session", "invalid session ID")
	}
	if err := checkID("reply", p.Reply); err != nil {
		return chatErr(CodeBadParameter, "reply", "%v", err)
	}
	return CheckEmailAddress(p.To)
}

func (e *Engine) cmdChatTranscript(env command.Envelope) (any, error) {
	var p ChatTranscriptRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if ce := CheckChatTranscriptRequest(&p); ce != nil {
		return nil, ce
	}
	ch, ok := e.st.Chats[p.Session]
	if !ok {
		return nil, chatErr(CodeInvalidSession, "session", "invalid session ID: no such chat session")
	}
	if ch.Agent == "" {
		return nil, chatErr(CodeBadParameter, "session", "a transcript can be sent once an agent has taken the chat")
	}
	if ch.Transcript != "" {
		return nil, chatErr(CodeBadParameter, "session", "the transcript of this chat has been sent already")
	}
	conf := e.st.Config.Mail
	if conf == nil || conf.SMTP.Host == "" {
		return nil, chatErr(CodeBadParameter, "email", "transcripts cannot be e-mailed: no SMTP server is configured")
	}
	if e.st.Mail != nil {
		if _, dup := e.st.Mail.Outbox[p.Reply]; dup {
			return nil, chatErr(CodeBadParameter, "reply", "%q is in the outbox already", p.Reply)
		}
	}
	from := conf.AliasFor(nil).Address
	domain := "tandem.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = from[at+1:]
	}
	o := &OutboxEntry{ID: p.Reply, Contact: ch.ID, Agent: ch.Agent, From: from, To: p.To,
		Subject: "Chat transcript", MessageID: "<" + p.Reply + "." + ch.ID + "@" + domain + ">",
		Body: transcriptText(ch), State: OutboxQueued, Queued: e.now}
	if e.st.Mail == nil {
		e.st.Mail = &MailState{}
	}
	ms := e.st.Mail
	if ms.Outbox == nil {
		ms.Outbox = map[string]*OutboxEntry{}
	}
	ms.Outbox[o.ID] = o
	ch.Transcript = o.ID
	e.emit(EvMailReplyQueued, o.event())
	return o.event(), nil
}

// transcriptText is the transcript as a plain-text message (times in
// UTC), clipped to MaxMailBodyLen.
func transcriptText(ch *Chat) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Chat %s, %s\n\n", ch.ID, time.Unix(0, ch.Created).UTC().Format(time.RFC3339))
	for _, m := range ch.Messages {
		who := "You"
		if m.From == ChatFromAgent {
			who = "Agent"
		}
		fmt.Fprintf(&b, "[%s] %s: %s\n", time.Unix(0, m.At).UTC().Format("2006-01-02 15:04:05"), who, m.Text)
	}
	s := b.String()
	if len(s) > MaxMailBodyLen {
		const more = "\n[…]\n"
		cut := MaxMailBodyLen - len(more)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + more
	}
	return s
}
