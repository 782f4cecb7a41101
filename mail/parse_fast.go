package mail

import (
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// parseHeadersFast is ParseHeaders for the plain headers most mail has,
// without go-message's reader, header map and address parser (a quarter
// of the leader's CPU during a burst of mail): every line a field ending
// in CRLF, printable ASCII, none folded, the header ended by an empty
// line; the fields it reads used once each; Message-IDs plain
// <dot-atom@dot-atom>; addresses plain local@domain or Name <local@domain>
// with a name of letters and digits. Anything else (ok false) goes to
// go-message; where it answers, it answers as go-message does
// (FuzzParseHeadersFast).
func parseHeadersFast(raw []byte) (out Headers, ok bool) {
	f := fastFields{}
	if !f.split(raw) {
		return Headers{}, false
	}
	if v := f.v[fMessageID]; v != "" {
		id, ok := plainMsgID(v)
		if !ok {
			return Headers{}, false
		}
		out.MessageID = cc.CleanText("<"+id+">", cc.MaxMessageIDLen)
	}
	if v := f.v[fFrom]; v != "" {
		first := true
		if !eachAddress(v, func(name, addr string) {
			if first {
				out.From = cc.CleanText(addr, cc.MaxEmailLen)
				out.FromName = cc.CleanText(name, cc.MaxNameLen)
				first = false
			}
		}) {
			return Headers{}, false
		}
	}
	for _, k := range [...]int{fTo, fCc, fDeliveredTo, fXOriginalTo} {
		v := f.v[k]
		if v == "" {
			continue
		}
		if !eachAddress(v, func(_, addr string) {
			if len(out.To) < cc.MaxMailRecipients && len(addr) <= cc.MaxEmailLen {
				out.To = append(out.To, cc.CleanText(addr, cc.MaxEmailLen))
			}
		}) {
			return Headers{}, false
		}
	}
	subject := f.v[fSubject]
	if strings.Contains(subject, "=?") {
		if s, err := (&mime.WordDecoder{CharsetReader: charsetReader}).DecodeHeader(subject); err == nil {
			subject = s
		}
	}
	out.Subject = cc.CleanText(subject, cc.MaxNoteLen)
	var seen map[string]bool
	for _, k := range [...]int{fInReplyTo, fReferences} {
		v := f.v[k]
		if v == "" {
			continue
		}
		var ids []string
		for id := range strings.SplitSeq(v, " ") {
			id, ok := plainMsgID(id)
			if !ok {
				return Headers{}, false
			}
			ids = append(ids, id)
		}
		if k == fReferences { // newest last: look at the newest first
			for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
		for _, id := range ids {
			id = cc.CleanText("<"+id+">", cc.MaxMessageIDLen)
			if seen == nil {
				seen = map[string]bool{}
			}
			if !seen[id] && len(out.Thread) < cc.MaxMailThread {
				seen[id] = true
				out.Thread = append(out.Thread, id)
			}
		}
	}
	unread := false
	out.Skip = skipReasonOf(func(k string) string {
		for i, name := range fastFieldNames {
			if strings.EqualFold(name, k) {
				return f.v[i]
			}
		}
		unread = true // a field this parser does not read: go-message decides
		return ""
	})
	if unread {
		return Headers{}, false
	}
	return out, true
}

// The fields parseHeadersFast reads (fastFieldNames, in this order).
const (
	fMessageID = iota
	fFrom
	fTo
	fCc
	fDeliveredTo
	fXOriginalTo
	fSubject
	fInReplyTo
	fReferences
	fContact
	fAutoSubmitted
	fXAutoreply
	fXAutorespond
	fPrecedence
	fListID
	fVirusStatus
	fSpamFlag
	fSpamStatus
	fSpam
	fCount
)

var fastFieldNames = [fCount]string{"Message-Id", "From", "To", "Cc", "Delivered-To", "X-Original-To", "Subject",
	"In-Reply-To", "References", HeaderContact, "Auto-Submitted", "X-Autoreply", "X-Autorespond", "Precedence", "List-Id",
	"X-Virus-Status", "X-Spam-Flag", "X-Spam-Status", "X-Spam"}

// fastFields are the values of the fields read, "" when absent.
type fastFields struct {
	v    [fCount]string
	seen [fCount]bool
}

// split reads raw's fields; false when the header is not plain (see
// parseHeadersFast) or a field read appears twice. A folded field's
// lines are joined as go-message joins them: each trimmed of spaces and
// tabs, the non-empty ones joined by one space.
func (f *fastFields) split(raw []byte) bool {
	if len(raw) > maxFastHeader {
		return false
	}
	field := -2 // the field read whose continuation lines may follow (-1 none, -2 before the first line)
	for len(raw) > 0 {
		end := -1
		for i, c := range raw {
			if c == '\r' {
				end = i
				break
			}
			if c != '\t' && (c < ' ' || c > '~') {
				return false
			}
		}
		if end < 0 || end+1 >= len(raw) || raw[end+1] != '\n' {
			return false
		}
		line := raw[:end]
		raw = raw[end+2:]
		if len(line) == 0 {
			return true // the empty line ending the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if field == -2 {
				return false // the first line folded
			}
			if field >= 0 {
				if part := trimSpaceTab(line); len(part) > 0 {
					if f.v[field] != "" {
						f.v[field] += " "
					}
					f.v[field] += string(part)
				}
			}
			continue
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
			if c != '-' && (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
				return false
			}
		}
		if colon <= 0 {
			return false
		}
		key := line[:colon]
		field = -1
		for i, name := range fastFieldNames {
			if len(name) == len(key) && strings.EqualFold(name, string(key)) {
				if f.seen[i] {
					return false
				}
				f.seen[i] = true
				f.v[i] = string(trimSpaceTab(line[colon+1:]))
				field = i
				break
			}
		}
	}
	return false // no empty line
}

// maxFastHeader bounds the header parseHeadersFast reads: go-message
// refuses one of 1 MiB (message.Read, with its read-ahead).
const maxFastHeader = 256 << 10

func trimSpaceTab(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// plainMsgID is the identifier of "<left@right>", both sides non-empty
// runs of letters, digits and "._+-=", without angle brackets.
func plainMsgID(v string) (string, bool) {
	if len(v) < 5 || v[0] != '<' || v[len(v)-1] != '>' {
		return "", false
	}
	id := v[1 : len(v)-1]
	at := strings.IndexByte(id, '@')
	if at <= 0 || at == len(id)-1 || !plainAtoms(id[:at], "._+-=") || !plainAtoms(id[at+1:], "._+-=") {
		return "", false
	}
	return id, true
}

// plainAtoms tells whether s is dot-separated non-empty runs of letters,
// digits and the other bytes of extra.
func plainAtoms(s, extra string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '.' && (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

// eachAddress calls fn with each address of a plain list, "a@b.c" or
// "Name Words <a@b.c>" joined by ", "; false (fn possibly called) when
// the list is not plain.
func eachAddress(v string, fn func(name, addr string)) bool {
	for entry := range strings.SplitSeq(v, ", ") {
		name, addr := "", entry
		if lt := strings.IndexByte(entry, '<'); lt >= 0 {
			if lt < 2 || entry[lt-1] != ' ' || entry[len(entry)-1] != '>' {
				return false
			}
			name, addr = entry[:lt-1], entry[lt+1:len(entry)-1]
			if !plainName(name) {
				return false
			}
		}
		at := strings.IndexByte(addr, '@')
		if at <= 0 || !plainAtoms(addr[:at], "_+-") || !plainAtoms(addr[at+1:], "-") {
			return false
		}
		fn(name, addr)
	}
	return true
}

// plainName tells whether s is words of letters and digits, one space
// between them.
func plainName(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != ' ' && (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// charsetReader is go-message's (its decodeHeader's): UTF-8 and US-ASCII
// as they are, the others through message.CharsetReader.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	charset = strings.ToLower(charset)
	if charset == "utf-8" || charset == "us-ascii" {
		return input, nil
	}
	if message.CharsetReader != nil {
		return message.CharsetReader(charset, input)
	}
	return nil, fmt.Errorf("unhandled charset %q", charset)
}
