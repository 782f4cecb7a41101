package contactcenter

import (
	"strings"
	"testing"
)

// A transcript e-mailed at the customer's request: refused before an
// agent took the chat, without SMTP, to a malformed address, for an
// unknown session, and a second time; once accepted it is a queued
// outbox entry to the customer with the conversation as its text (and
// no body in the event).
func TestChatTranscript(t *testing.T) {
	h := newChatHarness(t, "")
	h.check = true
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "hello"})
	req := ChatTranscriptRequest{Session: "s1", Reply: "t1", To: "ana@example.com"}
	if _, err := h.apply(TypeChatTranscript, req); cbCode(err) != CodeBadParameter {
		t.Fatalf("before an agent: %v", err)
	}
	h.answer("a3")
	h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "¿en qué le ayudo?"})
	if _, err := h.apply(TypeChatTranscript, req); cbCode(err) != CodeBadParameter || !strings.Contains(err.Error(), "SMTP") {
		t.Fatalf("without SMTP: %v", err)
	}
	h.config("mail:\n  imap: {host: imap.example.org, user: u, password: p}\n  smtp: {host: smtp.example.org, messages_per_minute: 30}\n  aliases: [{address: chat@example.org, queue: support}]\n")
	for _, tc := range []struct {
		to   string
		code int
	}{
		{"", CodeBadMandatory}, {"ana", CodeBadMandatory}, {"ana@localhost", CodeBadMandatory}, {"a na@example.com", CodeBadMandatory},
		{"<ana@example.com>", CodeBadMandatory}, {"ana@example.com\r\nBcc: x@y.z", CodeBadMandatory}, {"ana@-x.com", CodeBadMandatory},
		{"ana@exa_mple.com", CodeBadMandatory}, {strings.Repeat("a", 65) + "@example.com", CodeBadMandatory},
	} {
		if _, err := h.apply(TypeChatTranscript, ChatTranscriptRequest{Session: "s1", Reply: "t1", To: tc.to}); cbCode(err) != tc.code {
			t.Errorf("%q: %v", tc.to, err)
		}
	}
	if _, err := h.apply(TypeChatTranscript, ChatTranscriptRequest{Session: "nope", Reply: "t1", To: "ana@example.com"}); cbCode(err) != CodeInvalidSession {
		t.Fatalf("unknown session: %v", err)
	}
	res := h.ok(TypeChatTranscript, req)
	if o := res.(OutboxEntry); o.Body != "" || o.To != "ana@example.com" || o.From != "chat@example.org" || o.State != OutboxQueued {
		t.Fatalf("result %+v", o)
	}
	out := h.e.Outbox(OutboxQueued)
	if len(out) != 1 || out[0].Contact != "s1" || !strings.Contains(out[0].Body, "You: hello") || !strings.Contains(out[0].Body, "Agent: ¿en qué le ayudo?") {
		t.Fatalf("outbox %+v", out)
	}
	if _, err := h.apply(TypeChatTranscript, ChatTranscriptRequest{Session: "s1", Reply: "t2", To: "other@example.com"}); cbCode(err) != CodeBadParameter {
		t.Fatalf("a second transcript: %v", err)
	}
	// The sender's path: sending, sent.
	h.ok(TypeMailSending, MailSendingRequest{Reply: "t1"})
	h.ok(TypeMailSent, MailSentRequest{Reply: "t1"})
}
