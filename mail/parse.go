package mail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // non-UTF-8 charsets (ISO-8859-x, Windows-125x, …)
	gomail "github.com/emersion/go-message/mail"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// HeaderContact is the header this channel puts on every message it
// sends, naming the contact: a message that carries it is ours and is
// never ingested as a new contact.
const HeaderContact = "X-Tandem-Contact"

// Limits of what is read from a message.
const (
	// MaxBodyBytes bounds the text kept of a message's text parts.
	MaxBodyBytes = 1 << 20
	// MaxParts bounds the parts of a message that are looked at.
	MaxParts = 200
)

// Headers is what ingestion needs of a message: its identity, who sent
// it to which address, the subject, and whether it must not become a
// contact. Texts are decoded (RFC 2047, any charset go-message knows) and
// cleaned to the engine's limits.
type Headers struct {
	MessageID string   `json:"message_id,omitempty"`
	From      string   `json:"from,omitempty"`
	FromName  string   `json:"from_name,omitempty"`
	To        []string `json:"to,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	// Thread are the Message-IDs it answers: In-Reply-To, then
	// References newest first (at most contactcenter.MaxMailThread).
	Thread []string `json:"thread,omitempty"`
	// Skip is a contactcenter.MailSkip* reason, or "".
	Skip string `json:"skip,omitempty"`
}

// ParseHeaders reads a message's header (the message itself, or only its
// header section). A header it cannot read at all is an error; a field it
// cannot decode is left empty.
func ParseHeaders(raw []byte) (Headers, error) {
	if h, ok := parseHeadersFast(raw); ok {
		return h, nil
	}
	return parseHeadersMessage(raw)
}

// parseHeadersMessage is ParseHeaders through go-message.
func parseHeadersMessage(raw []byte) (Headers, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return Headers{}, fmt.Errorf("reading the message header: %w", err)
	}
	h := gomail.Header{Header: e.Header}
	var out Headers
	if id, err := h.MessageID(); err == nil && id != "" {
		out.MessageID = cc.CleanText("<"+id+">", cc.MaxMessageIDLen)
	}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		out.From = cc.CleanText(from[0].Address, cc.MaxEmailLen)
		out.FromName = cc.CleanText(from[0].Name, cc.MaxNameLen)
	}
	for _, k := range []string{"To", "Cc", "Delivered-To", "X-Original-To"} {
		as, err := h.AddressList(k)
		if err != nil {
			continue
		}
		for _, a := range as {
			if len(out.To) < cc.MaxMailRecipients && a.Address != "" && len(a.Address) <= cc.MaxEmailLen {
				out.To = append(out.To, cc.CleanText(a.Address, cc.MaxEmailLen))
			}
		}
	}
	if s, err := h.Subject(); err == nil {
		out.Subject = cc.CleanText(s, cc.MaxNoteLen)
	} else {
		out.Subject = cc.CleanText(h.Get("Subject"), cc.MaxNoteLen)
	}
	seen := map[string]bool{}
	for _, k := range []string{"In-Reply-To", "References"} {
		ids, err := h.MsgIDList(k)
		if err != nil {
			continue
		}
		if k == "References" { // newest last: look at the newest first
			for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
		for _, id := range ids {
			id = cc.CleanText("<"+id+">", cc.MaxMessageIDLen)
			if !seen[id] && len(out.Thread) < cc.MaxMailThread {
				seen[id] = true
				out.Thread = append(out.Thread, id)
			}
		}
	}
	out.Skip = skipReasonOf(h.Get)
	return out, nil
}

// skipReasonOf, from the header's fields (get): ours (HeaderContact),
// the mail server's verdict that it carries a virus (clamav-milter's
// X-Virus-Status: Infected) or is spam (SpamAssassin's X-Spam-Flag: YES
// and X-Spam-Status: Yes, Rspamd's X-Spam: Yes), an auto-reply
// (Auto-Submitted other than "no", RFC 3834; X-Autoreply,
// X-Autorespond), or bulk and list mail (Precedence bulk/junk/list,
// List-Id).
func skipReasonOf(get func(string) string) string {
	if get(HeaderContact) != "" {
		return cc.MailSkipOwn
	}
	if verdict(get("X-Virus-Status"), "infected") {
		return cc.MailSkipVirus
	}
	if verdict(get("X-Spam-Flag"), "yes") || verdict(get("X-Spam-Status"), "yes") || verdict(get("X-Spam"), "yes") {
		return cc.MailSkipSpam
	}
	if v := strings.ToLower(strings.TrimSpace(get("Auto-Submitted"))); v != "" && v != "no" {
		return cc.MailSkipAutoReply
	}
	if get("X-Autoreply") != "" || get("X-Autorespond") != "" {
		return cc.MailSkipAutoReply
	}
	switch strings.ToLower(strings.TrimSpace(get("Precedence"))) {
	case "bulk", "junk", "list":
		return cc.MailSkipBulk
	}
	if get("List-Id") != "" {
		return cc.MailSkipBulk
	}
	return ""
}

// verdictOf is the reason the operator's verdict rules give a message
// (its header; "" none): the first rule one of whose fields says its
// word. Read only when rules are configured.
func verdictOf(header []byte, rules []cc.MailVerdict) string {
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(header))).ReadMIMEHeader() // what was read, even if malformed after
	for _, r := range rules {
		for _, v := range h.Values(r.Header) {
			if r.AtLeast != 0 {
				if n, ok := leadingScore(v); ok && n >= r.AtLeast {
					return r.Reason
				}
			} else if verdict(v, r.Value) {
				return r.Reason
			}
		}
	}
	return ""
}

// leadingScore is the number a verdict field's value starts with ("7.2",
// "-0.5 (required 5)", "9").
func leadingScore(v string) (float64, bool) {
	v = strings.TrimSpace(v)
	end := 0
	if end < len(v) && (v[end] == '-' || v[end] == '+') {
		end++
	}
	digits := 0
	for end < len(v) && (v[end] >= '0' && v[end] <= '9' || v[end] == '.') {
		end++
		digits++
	}
	if digits == 0 {
		return 0, false
	}
	n, err := strconv.ParseFloat(v[:end], 64)
	return n, err == nil
}

// verdict tells whether a verdict field's value says word: it starts
// with it (without case), followed by nothing or not a letter
// ("Yes, score=7.2", "Infected (Eicar-Signature)").
func verdict(v, word string) bool {
	v = strings.TrimSpace(v)
	if len(v) < len(word) || !strings.EqualFold(v[:len(word)], word) {
		return false
	}
	if len(v) == len(word) {
		return true
	}
	c := v[len(word)] | 0x20
	return c < 'a' || c > 'z'
}

// Content is a message as an agent reads it: its text (the text parts,
// decoded to UTF-8) and its attachments.
type Content struct {
	Headers
	Text        string       `json:"text"`
	HTML        string       `json:"html,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Truncated: the text was longer than MaxBodyBytes.
	Truncated bool `json:"truncated,omitempty"`
	// UID is the message's in the mailbox; Answers are the UIDs of the
	// customer's answers that joined its contact (Channel.Content).
	UID     uint32   `json:"uid,omitempty"`
	Answers []uint32 `json:"answers,omitempty"`
}

// Attachment is one attachment of a message.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// ParseContent reads a whole message: its headers, its text and HTML
// parts decoded to UTF-8 (quoted-printable, base64, any charset
// go-message knows), and its attachments' names, types and sizes. A
// malformed part ends the reading with what was read so far and an error.
func ParseContent(raw []byte) (Content, error) {
	h, err := ParseHeaders(raw)
	if err != nil {
		return Content{}, err
	}
	c := Content{Headers: h}
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil && r == nil {
		return c, fmt.Errorf("reading the message: %w", err)
	}
	var text, html strings.Builder
	for n := 0; n < MaxParts; n++ {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && p == nil {
			c.Text, c.HTML = text.String(), html.String()
			return c, fmt.Errorf("reading part %d: %w", n+1, err)
		}
		switch ph := p.Header.(type) {
		case *gomail.InlineHeader:
			t, _, _ := ph.ContentType()
			dst := &text
			if t == "text/html" {
				dst = &html
			}
			room := MaxBodyBytes - dst.Len()
			b, rerr := io.ReadAll(io.LimitReader(p.Body, int64(room)+1))
			if len(b) > room {
				b, c.Truncated = b[:room], true
			}
			dst.WriteString(strings.ToValidUTF8(string(b), "\uFFFD"))
			if rerr != nil {
				c.Text, c.HTML = text.String(), html.String()
				return c, fmt.Errorf("reading part %d: %w", n+1, rerr)
			}
		case *gomail.AttachmentHeader:
			name, _ := ph.Filename()
			t, _, _ := ph.ContentType()
			size, rerr := io.Copy(io.Discard, p.Body)
			c.Attachments = append(c.Attachments, Attachment{Filename: cc.CleanText(name, cc.MaxNameLen),
				ContentType: cc.CleanText(t, cc.MaxNameLen), Size: size})
			if rerr != nil {
				c.Text, c.HTML = text.String(), html.String()
				return c, fmt.Errorf("reading part %d: %w", n+1, rerr)
			}
		}
	}
	c.Text, c.HTML = text.String(), html.String()
	return c, nil
}
