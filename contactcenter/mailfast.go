package contactcenter

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/tandemcc/tandem/internal/jsonin"
)

// The mail channel's hot path: every node applies each mail.received_batch
// (up to MaxMailBatch messages), and per message the cost was the strict
// decoder's reflection, the reflective text checks and the events'
// json.Marshal. Each has a hand-written equivalent here, held to the
// general one by tests: the fast decoder to encoding/json (FuzzFastDecode,
// falling back to it on anything it is not sure of), the text checks to
// walkTexts (TestMailTextsMatchWalk), the event encoders to json.Marshal
// (TestEventAppendersMatchEncodingJSON).

// fastDecoder is implemented by payload types with a fast path of their
// own (not flat objects): decodeFast reports false, the value then
// partly set, when it cannot decode p exactly as encoding/json would.
type fastDecoder interface {
	decodeFast(p []byte) bool
}

// mailKey bits name the members of a message object, to refuse (leave
// to encoding/json) one given twice.
const (
	mkUIDValidity = 1 << iota
	mkUID
	mkAfter
	mkMessageID
	mkFrom
	mkFromName
	mkTo
	mkSubject
	mkThread
	mkSkip
)

// jstr reads a JSON string as encoding/json decodes it: escapes are
// undone, except \u escapes of surrogates, which (with invalid UTF-8,
// which encoding/json replaces) are refused.
func (f *flatScanner) jstr() (string, bool) {
	p := f.p
	if f.i >= len(p) || p[f.i] != '"' {
		return "", false
	}
	start := f.i + 1
	ascii := true
	j := start
	for ; j < len(p); j++ {
		c := p[j]
		if c == '"' {
			if !ascii && !utf8.Valid(p[start:j]) {
				return "", false
			}
			f.i = j + 1
			return string(p[start:j]), true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if j >= len(p) {
		return "", false
	}
	// Escapes: the plain part so far, then the rest rune by rune.
	if !ascii && !utf8.Valid(p[start:j]) {
		return "", false
	}
	b := make([]byte, 0, j-start+16)
	b = append(b, p[start:j]...)
	for j < len(p) {
		c := p[j]
		switch {
		case c == '"':
			f.i = j + 1
			return string(b), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if j+1 >= len(p) {
				return "", false
			}
			switch e := p[j+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				if j+6 > len(p) {
					return "", false
				}
				r, ok := hex4(p[j+2 : j+6])
				if !ok || (r >= 0xd800 && r <= 0xdfff) {
					return "", false
				}
				b = utf8.AppendRune(b, r)
				j += 6
				continue
			default:
				return "", false
			}
			j += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			j++
		default:
			r, size := utf8.DecodeRune(p[j:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			b = append(b, p[j:j+size]...)
			j += size
		}
	}
	return "", false
}

func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// uint32 reads a non-negative integer that fits a uint32.
func (f *flatScanner) uint32() (uint32, bool) {
	p, i := f.p, f.i
	if i >= len(p) || p[i] < '0' || p[i] > '9' {
		return 0, false
	}
	if p[i] == '0' && i+1 < len(p) && p[i+1] >= '0' && p[i+1] <= '9' {
		return 0, false
	}
	var x uint64
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		x = x*10 + uint64(p[i]-'0')
		if x > 1<<32-1 {
			return 0, false
		}
	}
	if i < len(p) && (p[i] == '.' || p[i] == 'e' || p[i] == 'E') {
		return 0, false
	}
	f.i = i
	return uint32(x), true
}

// strings reads an array of strings (jstr), [] as an empty list.
func (f *flatScanner) strings() ([]string, bool) {
	p := f.p
	if f.i >= len(p) || p[f.i] != '[' {
		return nil, false
	}
	f.i++
	f.skip()
	out := []string{}
	if f.i < len(p) && p[f.i] == ']' {
		f.i++
		return out, true
	}
	for {
		s, ok := f.jstr()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		f.skip()
		if f.i >= len(p) {
			return nil, false
		}
		switch p[f.i] {
		case ',':
			f.i++
			f.skip()
		case ']':
			f.i++
			return out, true
		default:
			return nil, false
		}
	}
}

// members walks an object's members: key reads each value (f at the
// value) and reports false to refuse. The object may be empty.
func (f *flatScanner) members(member func(key []byte) bool) bool {
	p := f.p
	if f.i >= len(p) || p[f.i] != '{' {
		return false
	}
	f.i++
	f.skip()
	if f.i < len(p) && p[f.i] == '}' {
		f.i++
		return true
	}
	for {
		key, ok := f.str()
		if !ok {
			return false
		}
		f.skip()
		if f.i >= len(p) || p[f.i] != ':' {
			return false
		}
		f.i++
		f.skip()
		if !member(key) {
			return false
		}
		f.skip()
		if f.i >= len(p) {
			return false
		}
		switch p[f.i] {
		case ',':
			f.i++
			f.skip()
		case '}':
			f.i++
			return true
		default:
			return false
		}
	}
}

// mailMessage reads one message object into m.
func (f *flatScanner) mailMessage(m *MailReceivedRequest) bool {
	seen := 0
	return f.members(func(key []byte) bool {
		var bit int
		ok := true
		switch string(key) {
		case "uid_validity":
			bit = mkUIDValidity
			m.UIDValidity, ok = f.uint32()
		case "uid":
			bit = mkUID
			m.UID, ok = f.uint32()
		case "after":
			bit = mkAfter
			m.After, ok = f.uint32()
		case "message_id":
			bit = mkMessageID
			m.MessageID, ok = f.jstr()
		case "from":
			bit = mkFrom
			m.From, ok = f.jstr()
		case "from_name":
			bit = mkFromName
			m.FromName, ok = f.jstr()
		case "to":
			bit = mkTo
			m.To, ok = f.strings()
		case "subject":
			bit = mkSubject
			m.Subject, ok = f.jstr()
		case "thread":
			bit = mkThread
			m.Thread, ok = f.strings()
		case "skip":
			bit = mkSkip
			m.Skip, ok = f.jstr()
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		p := f.p
		return f.i >= len(p) || isSpace(p[f.i]) || p[f.i] == ',' || p[f.i] == '}'
	})
}

// decodeFast implements fastDecoder for mail.received.
func (p *MailReceivedRequest) decodeFast(b []byte) bool {
	f := flatScanner{p: b}
	f.skip()
	if !f.mailMessage(p) {
		return false
	}
	f.skip()
	return f.i == len(b)
}

// decodeFast implements fastDecoder for mail.received_batch.
func (p *MailReceivedBatchRequest) decodeFast(b []byte) bool {
	f := flatScanner{p: b}
	f.skip()
	seen := false
	if !f.members(func(key []byte) bool {
		if string(key) != "messages" || seen {
			return false
		}
		seen = true
		if f.i >= len(f.p) || f.p[f.i] != '[' {
			return false
		}
		f.i++
		f.skip()
		// About 200 bytes a message as the channel encodes them.
		p.Messages = make([]MailReceivedRequest, 0, min(len(b)/160+1, MaxMailBatch+1))
		if f.i < len(f.p) && f.p[f.i] == ']' {
			f.i++
			return true
		}
		for {
			p.Messages = append(p.Messages, MailReceivedRequest{})
			if !f.mailMessage(&p.Messages[len(p.Messages)-1]) {
				return false
			}
			f.skip()
			if f.i >= len(f.p) {
				return false
			}
			switch f.p[f.i] {
			case ',':
				f.i++
				f.skip()
			case ']':
				f.i++
				return true
			default:
				return false
			}
		}
	}) {
		return false
	}
	f.skip()
	return f.i == len(b)
}

// checkTextsAt is walkTexts for a message, its fields under path: the
// same checks in the same order, the same fault, without reflection (a
// field's path is spelt only for its fault).
func (p *MailReceivedRequest) checkTextsAt(path string) error {
	one := func(k textKind, name, v string) error {
		if k.check("", v) == nil {
			return nil
		}
		return k.check(jsonin.Join(path, name), v)
	}
	list := func(k textKind, name string, vs []string) error {
		for i, v := range vs {
			if k.check("", v) != nil {
				return k.check(jsonin.Index(jsonin.Join(path, name), i), v)
			}
		}
		return nil
	}
	if err := one(kindMessageID, "message_id", p.MessageID); err != nil {
		return err
	}
	if err := one(kindEmail, "from", p.From); err != nil {
		return err
	}
	if err := one(kindName, "from_name", p.FromName); err != nil {
		return err
	}
	if err := list(kindEmail, "to", p.To); err != nil {
		return err
	}
	if err := one(kindNote, "subject", p.Subject); err != nil {
		return err
	}
	if err := list(kindMessageID, "thread", p.Thread); err != nil {
		return err
	}
	return one(kindKeyword, "skip", p.Skip)
}

// checkTextsAt is walkTexts for a batch.
func (p *MailReceivedBatchRequest) checkTextsAt(path string) error {
	for i := range p.Messages {
		if err := p.Messages[i].checkTextsAt(jsonin.Index(jsonin.Join(path, "messages"), i)); err != nil {
			return err
		}
	}
	return nil
}

// appendUint appends a member whose value is an unsigned integer.
func appendUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(b, key...), v, 10)
}

// AppendJSON implements command.JSONAppender (mail.received).
func (ev MailReceivedEvent) AppendJSON(b []byte) []byte {
	b = appendStr(append(b, '{'), `"contact":`, ev.Contact)
	b = appendUint(b, `,"uid_validity":`, uint64(ev.UIDValidity))
	b = appendUint(b, `,"uid":`, uint64(ev.UID))
	b = appendStrOmit(b, `,"message_id":`, ev.MessageID)
	b = appendStrOmit(b, `,"from":`, ev.From)
	b = appendStrOmit(b, `,"from_name":`, ev.FromName)
	b = appendStrOmit(b, `,"alias":`, ev.Alias)
	b = appendStrOmit(b, `,"subject":`, ev.Subject)
	b = appendStr(b, `,"queue":`, ev.Queue)
	b = appendStrOmit(b, `,"business_unit":`, ev.BusinessUnit)
	b = appendTrueOmit(b, `,"threaded":`, ev.Threaded)
	b = appendStrOmit(b, `,"previous":`, ev.Previous)
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender (mail.skipped).
func (ev MailSkippedEvent) AppendJSON(b []byte) []byte {
	b = appendUint(append(b, '{'), `"uid_validity":`, uint64(ev.UIDValidity))
	b = appendUint(b, `,"uid":`, uint64(ev.UID))
	b = appendStrOmit(b, `,"message_id":`, ev.MessageID)
	b = appendStr(b, `,"reason":`, ev.Reason)
	b = appendStrOmit(b, `,"contact":`, ev.Contact)
	return append(b, '}')
}

// AppendJSON appends the request as json.Marshal encodes it: the mail
// channel encodes a batch of 500 so, without reflection, on the leader.
func (p MailReceivedRequest) AppendJSON(b []byte) []byte {
	b = appendUint(append(b, '{'), `"uid_validity":`, uint64(p.UIDValidity))
	b = appendUint(b, `,"uid":`, uint64(p.UID))
	if p.After != 0 {
		b = appendUint(b, `,"after":`, uint64(p.After))
	}
	b = appendStrOmit(b, `,"message_id":`, p.MessageID)
	b = appendStrOmit(b, `,"from":`, p.From)
	b = appendStrOmit(b, `,"from_name":`, p.FromName)
	if len(p.To) > 0 {
		b = appendJSONStrings(append(b, `,"to":`...), p.To)
	}
	b = appendStrOmit(b, `,"subject":`, p.Subject)
	if len(p.Thread) > 0 {
		b = appendJSONStrings(append(b, `,"thread":`...), p.Thread)
	}
	b = appendStrOmit(b, `,"skip":`, p.Skip)
	return append(b, '}')
}

// AppendJSON appends the batch as json.Marshal encodes it.
func (p MailReceivedBatchRequest) AppendJSON(b []byte) []byte {
	if p.Messages == nil {
		return append(b, `{"messages":null}`...)
	}
	b = append(b, `{"messages":[`...)
	for i := range p.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.Messages[i].AppendJSON(b)
	}
	return append(b, "]}"...)
}

// AppendJSON implements command.JSONAppender (the cluster encodes the
// result of every command it applies).
func (r MailResult) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	n := len(b)
	sep := func(key string) string { // the first member has no comma
		if len(b) == n {
			return key[1:]
		}
		return key
	}
	if r.Contact != "" {
		b = appendStr(b, sep(`,"contact":`), r.Contact)
	}
	if r.Queue != "" {
		b = appendStr(b, sep(`,"queue":`), r.Queue)
	}
	if r.Duplicate {
		b = append(b, sep(`,"duplicate":true`)...)
	}
	if r.Skipped != "" {
		b = appendStr(b, sep(`,"skipped":`), r.Skipped)
	}
	if r.Threaded {
		b = append(b, sep(`,"threaded":true`)...)
	}
	return append(b, '}')
}

// AppendJSON implements command.JSONAppender.
func (r MailBatchResult) AppendJSON(b []byte) []byte {
	if r.Results == nil {
		return append(b, `{"results":null}`...)
	}
	b = append(slices.Grow(b, 14+48*len(r.Results)), `{"results":[`...)
	for i := range r.Results {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.Results[i].AppendJSON(b)
	}
	return append(b, "]}"...)
}
