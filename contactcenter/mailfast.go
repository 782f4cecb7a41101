package contactcenter

import (
	"encoding/json"
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

// scratchDecoder is a fastDecoder that can decode into the engine's
// scratch memory (interns.mail) rather than allocate its own each time.
type scratchDecoder interface {
	decodeScratch(p []byte, s *mailScratch) bool
}

// mailScratch is the memory a mail.received_batch's decoding reuses from
// one batch to the next, on every node, for every batch: the messages'
// array, the text before it becomes the batch's one string, and the
// arena's lists — a third of what applying a batch allocated. Nothing
// of it outlives the command (the engine keeps only the strings, cut
// from the string done makes); release forgets what it referred to.
type mailScratch struct {
	a    strArena
	msgs []MailReceivedRequest
}

// release makes the scratch ready for the next batch, dropping its
// references to this one's strings.
func (s *mailScratch) release() {
	clear(s.msgs)
	clear(s.a.set)
	clear(s.a.lists[:cap(s.a.lists)])
	s.msgs, s.a.set, s.a.lists = s.msgs[:0], s.a.set[:0], s.a.lists[:0]
	s.a.buf, s.a.spans = s.a.buf[:0], s.a.spans[:0]
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

// jstr reads a JSON string as encoding/json decodes it, appending its
// text to b: escapes are undone, except \u escapes of surrogates, which
// (with invalid UTF-8, which encoding/json replaces) are refused.
func (f *flatScanner) jstr(b []byte) ([]byte, bool) {
	p := f.p
	if f.i >= len(p) || p[f.i] != '"' {
		return b, false
	}
	start := f.i + 1
	ascii := true
	j := start
	for ; j < len(p); j++ {
		c := p[j]
		if c == '"' {
			if !ascii && !utf8.Valid(p[start:j]) {
				return b, false
			}
			f.i = j + 1
			return append(b, p[start:j]...), true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return b, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if j >= len(p) {
		return b, false
	}
	// Escapes: the plain part so far, then the rest rune by rune.
	if !ascii && !utf8.Valid(p[start:j]) {
		return b, false
	}
	b = append(b, p[start:j]...)
	for j < len(p) {
		c := p[j]
		switch {
		case c == '"':
			f.i = j + 1
			return b, true
		case c < 0x20:
			return b, false
		case c == '\\':
			if j+1 >= len(p) {
				return b, false
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
					return b, false
				}
				r, ok := hex4(p[j+2 : j+6])
				if !ok || (r >= 0xd800 && r <= 0xdfff) {
					return b, false
				}
				b = utf8.AppendRune(b, r)
				j += 6
				continue
			default:
				return b, false
			}
			j += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			j++
		default:
			r, size := utf8.DecodeRune(p[j:])
			if r == utf8.RuneError && size == 1 {
				return b, false
			}
			b = append(b, p[j:j+size]...)
			j += size
		}
	}
	return b, false
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

// strArena holds the text of every string a payload decodes, to make
// them one string (one allocation, not one a field): set are the strings
// to point into it once it is complete, spans the elements of the list
// being read.
type strArena struct {
	buf   []byte
	set   []pendingStr
	spans [][2]int
	lists []string // the lists' elements, a chunk at a time
}

// list is a new list of n strings, cut from the current chunk (a full
// chunk is left to the lists cut from it, never moved).
func (a *strArena) list(n int) []string {
	if cap(a.lists)-len(a.lists) < n {
		a.lists = make([]string, 0, max(n, 256))
	}
	l := len(a.lists)
	a.lists = a.lists[:l+n]
	return a.lists[l : l+n : l+n]
}

// pendingStr is a string to set: *dst, or (dst nil) field of message
// msg — the messages' array may still move while the batch is read.
type pendingStr struct {
	dst      *string
	msg      int
	field    int
	from, to int
}

// done sets every string read, from one string of the arena's text;
// field is where message k's field (a mk bit) is now.
func (a *strArena) done(field func(k, bit int) *string) {
	s := string(a.buf)
	for _, p := range a.set {
		dst := p.dst
		if dst == nil {
			dst = field(p.msg, p.field)
		}
		*dst = s[p.from:p.to]
	}
}

// messageField is where a message's string field (an mk bit) is.
func (p *MailReceivedRequest) messageField(bit int) *string {
	switch bit {
	case mkMessageID:
		return &p.MessageID
	case mkFrom:
		return &p.From
	case mkFromName:
		return &p.FromName
	case mkSubject:
		return &p.Subject
	}
	return &p.Skip
}

// strTo reads a string into field bit of message k (set by done).
func (f *flatScanner) strTo(a *strArena, k, bit int) bool {
	from := len(a.buf)
	var ok bool
	if a.buf, ok = f.jstr(a.buf); !ok {
		return false
	}
	a.set = append(a.set, pendingStr{msg: k, field: bit, from: from, to: len(a.buf)})
	return true
}

// stringsTo reads an array of strings into *dst (its elements set by
// done), [] as an empty list.
func (f *flatScanner) stringsTo(a *strArena, dst *[]string) bool {
	a.spans = a.spans[:0]
	if !f.elements(func() bool {
		from := len(a.buf)
		var ok bool
		if a.buf, ok = f.jstr(a.buf); !ok {
			return false
		}
		a.spans = append(a.spans, [2]int{from, len(a.buf)})
		return true
	}) {
		return false
	}
	if len(a.spans) == 0 {
		*dst = []string{}
		return true
	}
	out := a.list(len(a.spans))
	for i, sp := range a.spans {
		a.set = append(a.set, pendingStr{dst: &out[i], from: sp[0], to: sp[1]})
	}
	*dst = out
	return true
}

// members walks an object's members: key reads each value (f at the
// value) and reports false to refuse. The object may be empty.
func (f *flatScanner) members(member func(key []byte) bool) bool {
	return f.walk('{', '}', func() bool {
		key, ok := f.str()
		if !ok {
			return false
		}
		f.skip()
		if f.i >= len(f.p) || f.p[f.i] != ':' {
			return false
		}
		f.i++
		f.skip()
		return member(key)
	})
}

// elements walks an array's elements: elem reads each (f at it) and
// reports false to refuse. The array may be empty.
func (f *flatScanner) elements(elem func() bool) bool { return f.walk('[', ']', elem) }

// walk walks a container from open to close: item reads each entry (f
// at it) and reports false to refuse. The container may be empty.
func (f *flatScanner) walk(open, close byte, item func() bool) bool {
	p := f.p
	if f.i >= len(p) || p[f.i] != open {
		return false
	}
	f.i++
	f.skip()
	if f.i < len(p) && p[f.i] == close {
		f.i++
		return true
	}
	for {
		if !item() {
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
		case close:
			f.i++
			return true
		default:
			return false
		}
	}
}

// mailMessage reads one message object into m, message k (its strings
// set by a's done).
func (f *flatScanner) mailMessage(a *strArena, k int, m *MailReceivedRequest) bool {
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
			ok = f.strTo(a, k, mkMessageID)
		case "from":
			bit = mkFrom
			ok = f.strTo(a, k, mkFrom)
		case "from_name":
			bit = mkFromName
			ok = f.strTo(a, k, mkFromName)
		case "to":
			bit = mkTo
			ok = f.stringsTo(a, &m.To)
		case "subject":
			bit = mkSubject
			ok = f.strTo(a, k, mkSubject)
		case "thread":
			bit = mkThread
			ok = f.stringsTo(a, &m.Thread)
		case "skip":
			bit = mkSkip
			ok = f.strTo(a, k, mkSkip)
		default:
			return false
		}
		return f.memberRead(ok, &seen, bit)
	})
}

// memberRead ends a member of bit (a bit of seen) read with ok: false
// when it failed, was given twice, or its value runs on past it.
func (f *flatScanner) memberRead(ok bool, seen *int, bit int) bool {
	if !ok || *seen&bit != 0 {
		return false
	}
	*seen |= bit
	p := f.p
	return f.i >= len(p) || isSpace(p[f.i]) || p[f.i] == ',' || p[f.i] == '}'
}

// decodeFast implements fastDecoder for mail.received.
func (p *MailReceivedRequest) decodeFast(b []byte) bool {
	f := flatScanner{p: b}
	a := strArena{buf: make([]byte, 0, len(b))}
	f.skip()
	if !f.mailMessage(&a, 0, p) {
		return false
	}
	f.skip()
	if f.i != len(b) {
		return false
	}
	a.done(func(_, bit int) *string { return p.messageField(bit) })
	return true
}

// decodeFast implements fastDecoder for mail.received_batch.
func (p *MailReceivedBatchRequest) decodeFast(b []byte) bool {
	return p.decodeScratch(b, &mailScratch{})
}

// decodeScratch implements scratchDecoder for mail.received_batch: s's
// memory, when large enough, is used rather than new (s.release readies
// it for the next batch once this one has applied).
func (p *MailReceivedBatchRequest) decodeScratch(b []byte, s *mailScratch) bool {
	f := flatScanner{p: b}
	// The text is never longer than the payload: one buffer, one string.
	// Grown with a quarter to spare: the next batch's is a little longer
	// (its UIDs and ids have more digits).
	a := &s.a
	if cap(a.buf) < len(b) {
		a.buf = make([]byte, 0, len(b)+len(b)/4)
	}
	seen := false
	f.skip()
	if !f.members(func(key []byte) bool {
		if string(key) != "messages" || seen {
			return false
		}
		seen = true
		// About 200 bytes a message as the channel encodes them.
		n := min(len(b)/160+1, MaxMailBatch+1)
		if cap(s.msgs) < n {
			s.msgs = make([]MailReceivedRequest, 0, min(n+n/4, MaxMailBatch+1))
		}
		if cap(a.set) < 6*n {
			a.set = make([]pendingStr, 0, 6*cap(s.msgs))
		}
		p.Messages = s.msgs[:0]
		return f.elements(func() bool {
			p.Messages = append(p.Messages, MailReceivedRequest{})
			k := len(p.Messages) - 1
			return f.mailMessage(a, k, &p.Messages[k])
		})
	}) {
		return false
	}
	f.skip()
	if f.i != len(b) {
		return false
	}
	a.done(func(k, bit int) *string { return p.Messages[k].messageField(bit) })
	s.msgs = p.Messages[:0] // grown by append, the array to clear and reuse
	return true
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
	b = appendStrOmit(b, `,"agent":`, ev.Agent)
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

// UnmarshalJSON decodes a mail.received_batch result as encoding/json
// does: the form AppendJSON writes (strings without escapes, true flags)
// without reflection — the leader's mail channel reads one for every
// batch it commits — anything else through encoding/json.
// FuzzMailBatchResult holds the two to each other.
func (r *MailBatchResult) UnmarshalJSON(b []byte) error {
	if r.decodeFast(b) {
		return nil
	}
	type plain MailBatchResult // without this method
	p := plain(*r)
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = MailBatchResult(p)
	return nil
}

func (r *MailBatchResult) decodeFast(b []byte) bool {
	f := flatScanner{p: b}
	f.skip()
	seen := false
	var out []MailResult
	var queue string // the queue named last: a batch's messages mostly share one
	if !f.members(func(key []byte) bool {
		if string(key) != "results" || seen {
			return false
		}
		seen = true
		p := f.p
		if f.i+4 <= len(p) && string(p[f.i:f.i+4]) == "null" {
			f.i += 4
			return true
		}
		out = make([]MailResult, 0, min(len(p)/16+1, MaxMailBatch))
		return f.elements(func() bool {
			out = append(out, MailResult{})
			return f.mailResult(&out[len(out)-1], &queue)
		})
	}) || !seen {
		return false
	}
	f.skip()
	if f.i != len(b) {
		return false
	}
	r.Results = out
	return true
}

// mailResult reads one result object as AppendJSON writes it; queue is
// the queue string read last, reused when it names the same.
func (f *flatScanner) mailResult(m *MailResult, queue *string) bool {
	seen := 0
	return f.members(func(key []byte) bool {
		var bit int
		var s []byte
		ok := true
		switch string(key) {
		case "contact":
			bit = 1
			s, ok = f.str()
			m.Contact = string(s)
		case "queue":
			bit = 2
			s, ok = f.str()
			if string(s) != *queue {
				*queue = string(s)
			}
			m.Queue = *queue
		case "skipped":
			bit = 4
			s, ok = f.str()
			m.Skipped = string(s)
		case "duplicate":
			bit = 8
			m.Duplicate, ok = f.trueLit()
		case "threaded":
			bit = 16
			m.Threaded, ok = f.trueLit()
		default:
			return false
		}
		return f.memberRead(ok, &seen, bit)
	})
}

// trueLit reads the literal true (AppendJSON writes no false).
func (f *flatScanner) trueLit() (bool, bool) {
	if f.i+4 <= len(f.p) && string(f.p[f.i:f.i+4]) == "true" {
		f.i += 4
		return true, true
	}
	return false, false
}
