package contactcenter

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// The e-mail channel's side of the engine (mail.md). Package mail, on
// the leader, finds each new message in the mailbox and commits it as one
// mail.received command carrying the message's UIDVALIDITY/UID and
// Message-ID. Applying it records the message and, in the same step,
// creates its contact: an e-mail Call (Medium "email") waiting in the
// queue of the alias it was sent to, which the ACD routes like any call.
// Because the record and the contact are one committed command, a
// failover or restart can neither make two contacts of one message (the
// engine answers a UID at or below the last recorded, or a Message-ID
// already recorded, as a duplicate) nor lose one (the new leader fetches
// every UID above the last recorded).

// FamilyMail is the e-mail channel's command family (mail.*).
const FamilyMail = "mail"

// TypeMailReceived records a message of the mailbox and creates its
// contact (MailReceivedRequest → MailResult); TypeMailReceivedBatch
// (below) does it for the messages of one fetch at once.
const TypeMailReceived = "mail.received"

// Events of the mail family.
const (
	// EvMailReceived: a message became a contact (MailReceivedEvent).
	EvMailReceived = "mail.received"
	// EvMailSkipped: a message was recorded without a contact
	// (MailSkippedEvent): an auto-reply, bulk or list mail, our own, one
	// the mail server judged spam or infected, one from a blocked sender,
	// or a second copy of a Message-ID already recorded.
	EvMailSkipped = "mail.skipped"
)

// MediumEmail is Call.Medium of an e-mail contact ("" is voice).
const MediumEmail = "email"

// Reasons a message is recorded without a contact (MailReceivedRequest.
// Skip, MailSkippedEvent.Reason).
const (
	MailSkipAutoReply = "auto_reply" // Auto-Submitted other than "no"
	MailSkipBulk      = "bulk"       // Precedence bulk/junk/list, List-Id
	MailSkipOwn       = "own"        // a message this channel sent
	MailSkipSpam      = "spam"       // the mail server's spam verdict (X-Spam-Flag: YES, …)
	MailSkipVirus     = "virus"      // the mail server's virus verdict (X-Virus-Status: Infected)
	MailSkipDuplicate = "duplicate"  // a Message-ID already recorded
	MailSkipBlocked   = "blocked"    // the sender is in mail.blocked_senders
)

// MailSkipReasons are the reasons the edge may give. The engine decides
// duplicate and blocked itself.
var MailSkipReasons = []string{MailSkipAutoReply, MailSkipBulk, MailSkipOwn, MailSkipSpam, MailSkipVirus}

// MaxMailRecipients bounds the recipients a mail.received names.
const MaxMailRecipients = 100

// MaxMessageIDLen bounds a Message-ID (RFC 5322's line limit).
const MaxMessageIDLen = 998

// ErrMailOff refuses mail commands while the channel is not configured.
var ErrMailOff = errors.New("the e-mail channel is not configured")

// ErrMailStale refuses a mail.received proposed on another watermark
// than the engine's: the proposer reads the watermark again.
var ErrMailStale = errors.New("the mailbox watermark moved")

// MailReceivedRequest is the payload of mail.received. Texts are the
// message's headers decoded (the edge cleans them: CleanText).
type MailReceivedRequest struct {
	UIDValidity uint32 `json:"uid_validity"`
	UID         uint32 `json:"uid"`
	// After is the UID the proposer recorded (or read as the watermark)
	// just before this one: the command applies only on that watermark,
	// so two proposers (an old leader still forwarding, a new one) can
	// never commit UIDs out of order and make a lower one look handled.
	After     uint32 `json:"after,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// From is the sender's address, FromName its display name.
	From     string `json:"from,omitempty"`
	FromName string `json:"from_name,omitempty"`
	// To are the addresses the message was sent to (To, Cc,
	// Delivered-To): the first alias among them selects the queue.
	To      []string `json:"to,omitempty"`
	Subject string   `json:"subject,omitempty"`
	// Thread are the Message-IDs the message answers (In-Reply-To, then
	// References, newest first): one of a live contact's messages or
	// replies threads it onto that contact.
	Thread []string `json:"thread,omitempty"`
	// Skip, when set, records the message without a contact
	// (MailSkipReasons).
	Skip string `json:"skip,omitempty"`
}

// MaxMailThread bounds the Message-IDs a mail.received threads on.
const MaxMailThread = 20

// MailResult answers mail.received.
type MailResult struct {
	// Contact is the message's contact: new, or the one a duplicate
	// belongs to ("" for a skipped message).
	Contact   string `json:"contact,omitempty"`
	Queue     string `json:"queue,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Skipped   string `json:"skipped,omitempty"`
	// Threaded: the message answers a live contact's thread and joined
	// that contact (no new one).
	Threaded bool `json:"threaded,omitempty"`
}

// MailReceivedEvent is the data of mail.received.
type MailReceivedEvent struct {
	Contact      string `json:"contact"`
	UIDValidity  uint32 `json:"uid_validity"`
	UID          uint32 `json:"uid"`
	MessageID    string `json:"message_id,omitempty"`
	From         string `json:"from,omitempty"`
	FromName     string `json:"from_name,omitempty"`
	Alias        string `json:"alias,omitempty"`
	Subject      string `json:"subject,omitempty"`
	Queue        string `json:"queue"`
	BusinessUnit string `json:"business_unit,omitempty"`
	// Threaded: an answer joined the live contact; Previous: the ended
	// contact of the thread a new contact continues.
	Threaded bool   `json:"threaded,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Agent is, for a threaded answer, the agent holding the contact
	// (Call.Agent): its console is told of the answer.
	Agent string `json:"agent,omitempty"`
}

// MailSkippedEvent is the data of mail.skipped.
type MailSkippedEvent struct {
	UIDValidity uint32 `json:"uid_validity"`
	UID         uint32 `json:"uid"`
	MessageID   string `json:"message_id,omitempty"`
	Reason      string `json:"reason"`
	// Contact is the contact of the Message-ID's first copy (duplicate).
	Contact string `json:"contact,omitempty"`
}

// MailState is what the engine records of the mailbox: the UIDVALIDITY
// and the highest UID recorded under it (every UID up to it is handled),
// and the messages that became contacts, with a Message-ID index, kept
// for the mail retention period after they were received.
type MailState struct {
	UIDValidity uint32 `json:"uid_validity,omitempty"`
	LastUID     uint32 `json:"last_uid,omitempty"`
	// Messages are keyed by contact id.
	Messages map[string]*MailMessage `json:"messages,omitempty"`
	// ByMessageID maps a Message-ID to its contact.
	ByMessageID map[string]string `json:"by_message_id,omitempty"`
	// Received and Skipped count the messages recorded.
	Received uint64 `json:"received,omitempty"`
	Skipped  uint64 `json:"skipped,omitempty"`
	// Outbox holds the replies (mailout.go) by id; Sends the times of the
	// latest attempts, as many as the per-minute limit.
	Outbox map[string]*OutboxEntry `json:"outbox,omitempty"`
	Sends  []int64                 `json:"sends,omitempty"`
}

// MailMessage is a message that became a contact.
type MailMessage struct {
	Contact     string `json:"contact"`
	UIDValidity uint32 `json:"uid_validity"`
	UID         uint32 `json:"uid"`
	MessageID   string `json:"message_id,omitempty"`
	From        string `json:"from,omitempty"`
	Alias       string `json:"alias,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Queue       string `json:"queue"`
	Received    int64  `json:"received"`
	// Previous is the ended contact whose thread this one continues.
	Previous string `json:"previous,omitempty"`
	// References are the Message-IDs the customer's latest message
	// answered, oldest first, separated by spaces (its References and
	// In-Reply-To, at most MaxMailThread): a reply's References continue
	// them.
	References string `json:"references,omitempty"`
	// LastAnswer is the Message-ID of the customer's latest answer that
	// joined the contact ("" none): a reply answers it (In-Reply-To).
	LastAnswer string `json:"last_answer,omitempty"`
	// Answers are the UIDs of the customer's later messages threaded
	// onto this contact.
	Answers []uint32 `json:"answers,omitempty"`
}

// MailContactID is the contact id of the message with UID uid under
// UIDVALIDITY v: one message, one id, whoever proposes it.
func MailContactID(v, uid uint32) string {
	var b [32]byte
	return string(appendMailContactID(b[:0], v, uid))
}

// appendMailContactID appends MailContactID(v, uid) to b.
func appendMailContactID(b []byte, v, uid uint32) []byte {
	return strconv.AppendUint(append(strconv.AppendUint(append(b, "mail-"...), uint64(v), 10), '-'), uint64(uid), 10)
}

func (e *Engine) cmdMailReceived(env command.Envelope) (any, error) {
	var p MailReceivedRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	var validity, last uint32
	if ms := e.st.Mail; ms != nil {
		validity, last = ms.UIDValidity, ms.LastUID
	}
	dup, err := e.checkMailReceived(&p, -1, validity, last)
	if err != nil {
		return nil, err
	}
	if dup {
		// Recorded already (a retry, or a new leader fetching again).
		id := MailContactID(p.UIDValidity, p.UID)
		if _, ok := e.st.Mail.Messages[id]; !ok {
			id = ""
		}
		return MailResult{Contact: id, Duplicate: true}, nil
	}
	return e.applyMailReceived(&p), nil
}

// MailReceivedBatchRequest is the payload of mail.received_batch: the
// messages of one fetch, in UID order, each naming the one before it
// (After), the first the watermark.
type MailReceivedBatchRequest struct {
	Messages []MailReceivedRequest `json:"messages"`
}

// MailBatchResult answers mail.received_batch: one result a message.
type MailBatchResult struct {
	Results []MailResult `json:"results"`
}

// MaxMailBatch bounds the messages of one mail.received_batch.
const MaxMailBatch = 1000

// TypeMailReceivedBatch records several messages at once, all or none
// (one Raft entry instead of one a message).
const TypeMailReceivedBatch = "mail.received_batch"

func (e *Engine) cmdMailReceivedBatch(env command.Envelope) (any, error) {
	var p MailReceivedBatchRequest
	defer e.in.mail.release() // the decoding's memory, for the next batch
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if len(p.Messages) == 0 || len(p.Messages) > MaxMailBatch {
		return nil, fieldErr("messages", "%d messages, want 1..%d", len(p.Messages), MaxMailBatch)
	}
	var validity, last uint32
	if ms := e.st.Mail; ms != nil {
		validity, last = ms.UIDValidity, ms.LastUID
	}
	// Every message is checked on the watermark the ones before it leave
	// before anything changes: the batch applies whole or not at all.
	for i := range p.Messages {
		m := &p.Messages[i]
		dup, err := e.checkMailReceived(m, i, validity, last)
		if err != nil {
			return nil, err
		}
		if dup {
			return nil, opErr(ErrMailStale, "mail", "UID %d is recorded already: read the mailbox again", m.UID)
		}
		validity, last = m.UIDValidity, m.UID
	}
	res := MailBatchResult{Results: make([]MailResult, len(p.Messages))}
	// The events' encoding at once: about twice the payload (a contact's
	// mail.received repeats its message, its call.queued names it).
	e.reserveEvBuf(2 * len(env.Payload))
	e.evs = slices.Grow(e.evs, 2*len(p.Messages))
	for i := range p.Messages {
		res.Results[i] = e.applyMailReceived(&p.Messages[i])
	}
	return res, nil
}

// checkMailReceived checks p as it would apply on the watermark
// (validity, last): dup when its UID is recorded already. i is its index
// in a batch, whose fields are named "messages[i].…" (-1: not a batch).
func (e *Engine) checkMailReceived(p *MailReceivedRequest, i int, validity, last uint32) (dup bool, err error) {
	f := func(name string) string { // spelt only for a refusal
		if i < 0 {
			return name
		}
		return "messages[" + strconv.Itoa(i) + "]." + name
	}
	if p.UIDValidity == 0 {
		return false, fieldErr(f("uid_validity"), "required (a nonzero UIDVALIDITY)")
	}
	if p.UID == 0 {
		return false, fieldErr(f("uid"), "required (a nonzero UID)")
	}
	if len(p.To) > MaxMailRecipients {
		return false, fieldErr(f("to"), "%d recipients, at most %d", len(p.To), MaxMailRecipients)
	}
	if len(p.Thread) > MaxMailThread {
		return false, fieldErr(f("thread"), "%d Message-IDs, at most %d", len(p.Thread), MaxMailThread)
	}
	if err := checkTexts(p); err != nil {
		return false, err
	}
	if p.Skip != "" && !contains(MailSkipReasons, p.Skip) {
		return false, fieldErr(f("skip"), "unknown reason %q (one of %s)", p.Skip, strings.Join(MailSkipReasons, ", "))
	}
	conf := e.st.Config.Mail
	if conf == nil {
		return false, opErr(ErrMailOff, "mail", "the e-mail channel is not configured")
	}
	if p.UIDValidity == validity && p.UID <= last {
		return true, nil
	}
	cur := uint32(0)
	if p.UIDValidity == validity {
		cur = last
	}
	if p.After != cur {
		return false, opErr(ErrMailStale, "mail", "UID %d proposed after UID %d, but the last recorded is %d: read the mailbox again", p.UID, p.After, cur)
	}
	alias := conf.AliasFor(p.To)
	if _, ok := e.st.Queues[alias.Queue]; !ok && p.Skip == "" {
		return false, opErr(ErrUnknownQueue, "mail", "unknown queue %q", alias.Queue)
	}
	var b [32]byte
	if _, dup := e.st.Calls[string(appendMailContactID(b[:0], p.UIDValidity, p.UID))]; dup && p.Skip == "" {
		return false, fieldErr(f("uid"), "%v: %q", ErrCallExists, MailContactID(p.UIDValidity, p.UID))
	}
	return false, nil
}

// applyMailReceived records a checked message and, unless it is skipped
// or joins its thread's contact, creates its contact.
func (e *Engine) applyMailReceived(p *MailReceivedRequest) MailResult {
	conf := e.st.Config.Mail
	alias := conf.AliasFor(p.To)
	q := e.st.Queues[alias.Queue]
	id := MailContactID(p.UIDValidity, p.UID)
	ms := e.st.Mail
	// Nothing can fail from here.
	if ms == nil {
		ms = &MailState{}
		e.st.Mail = ms
	}
	if p.UIDValidity != ms.UIDValidity {
		// A new mailbox (or one rebuilt): its UIDs start again; the
		// Message-IDs recorded still catch copies of handled messages.
		ms.UIDValidity, ms.LastUID = p.UIDValidity, 0
	}
	ms.LastUID = p.UID
	skip := p.Skip
	if skip == "" && conf.Blocks(p.From) {
		skip = MailSkipBlocked
	}
	first := ""
	if skip == "" && p.MessageID != "" {
		if first = ms.ByMessageID[p.MessageID]; first != "" {
			skip = MailSkipDuplicate
		}
	}
	if skip != "" {
		ms.Skipped++
		e.evBuf = MailSkippedEvent{UIDValidity: p.UIDValidity, UID: p.UID, MessageID: p.MessageID, Reason: skip, Contact: first}.AppendJSON(e.evBuf)
		e.emitted(EvMailSkipped)
		return MailResult{Contact: first, Duplicate: skip == MailSkipDuplicate, Skipped: skip}
	}
	// An answer in a thread: onto its live contact, or a new contact
	// that continues the ended one.
	previous := ""
	for _, tid := range p.Thread {
		c := ms.ByMessageID[tid]
		if c == "" {
			continue
		}
		if call, live := e.st.Calls[c]; live && ms.Messages[c] != nil {
			m := ms.Messages[c]
			m.Answers = append(m.Answers, p.UID)
			if p.MessageID != "" {
				m.LastAnswer, m.References = p.MessageID, threadRefs(p.Thread)
				if ms.ByMessageID == nil {
					ms.ByMessageID = map[string]string{}
				}
				ms.ByMessageID[p.MessageID] = c
			}
			ms.Received++
			e.evBuf = MailReceivedEvent{Contact: c, UIDValidity: p.UIDValidity, UID: p.UID, MessageID: p.MessageID,
				From: p.From, FromName: p.FromName, Alias: m.Alias, Subject: p.Subject, Queue: call.Queue, Threaded: true, Agent: call.Agent}.AppendJSON(e.evBuf)
			e.emitted(EvMailReceived)
			return MailResult{Contact: c, Queue: call.Queue, Threaded: true}
		}
		if previous == "" {
			previous = c
		}
	}
	name := p.FromName
	if name == "" {
		name = p.From
	}
	c := &Call{ID: id, Medium: MediumEmail, Name: clipText(name, MaxNameLen), Direction: DirInbound,
		Note: clipText(p.Subject, MaxNoteLen), Created: e.now}
	e.st.Calls[id] = c
	e.mailLive++
	pos := e.enterQueue(c, q)
	e.emitQueued(c, pos, "new")
	m := &MailMessage{Contact: id, UIDValidity: p.UIDValidity, UID: p.UID, MessageID: p.MessageID, From: p.From,
		Alias: alias.Address, Subject: p.Subject, Queue: q.ID, Received: e.now, Previous: previous, References: threadRefs(p.Thread)}
	if ms.Messages == nil {
		ms.Messages = map[string]*MailMessage{}
	}
	ms.Messages[id] = m
	if p.MessageID != "" {
		if ms.ByMessageID == nil {
			ms.ByMessageID = map[string]string{}
		}
		ms.ByMessageID[p.MessageID] = id
	}
	ms.Received++
	e.evBuf = MailReceivedEvent{Contact: id, UIDValidity: p.UIDValidity, UID: p.UID, MessageID: p.MessageID,
		From: p.From, FromName: p.FromName, Alias: alias.Address, Subject: p.Subject, Queue: q.ID, BusinessUnit: alias.BusinessUnit,
		Previous: previous}.AppendJSON(e.evBuf)
	e.emitted(EvMailReceived)
	return MailResult{Contact: id, Queue: q.ID}
}

// threadRefs is a message's thread (MailReceivedRequest.Thread: newest
// first) oldest first, separated by spaces; "" for none.
func threadRefs(thread []string) string {
	switch len(thread) {
	case 0:
		return ""
	case 1:
		return thread[0]
	}
	n := len(thread) - 1
	for _, id := range thread {
		n += len(id)
	}
	b := make([]byte, 0, n)
	for i := len(thread) - 1; i >= 0; i-- {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, thread[i]...)
	}
	return string(b)
}

// pruneMail forgets, at the daily maintenance, the messages received
// before the mail retention period whose contact has ended (the UID
// watermark stays: those UIDs remain handled).
func (e *Engine) pruneMail() int {
	ms, conf := e.st.Mail, e.st.Config.Mail
	if ms == nil {
		return 0
	}
	days := DefaultMailRetentionDays
	if conf != nil {
		days = conf.RetentionDays
	}
	cutoff := e.now - int64(days)*int64(24*time.Hour)
	n := 0
	for _, id := range sortedKeys(ms.Messages) {
		m := ms.Messages[id]
		if _, live := e.st.Calls[id]; live || m.Received >= cutoff {
			continue
		}
		delete(ms.Messages, id)
		if m.MessageID != "" && ms.ByMessageID[m.MessageID] == id {
			delete(ms.ByMessageID, m.MessageID)
		}
		n++
	}
	for _, id := range sortedKeys(ms.Outbox) {
		if o := ms.Outbox[id]; o.Queued < cutoff && o.State != OutboxQueued && o.State != OutboxSending {
			delete(ms.Outbox, id)
			n++
		}
	}
	return n
}

// MailView is the engine's mail state for the channel: the watermark
// and, for a contact, its message.
func (e *Engine) MailView() (uidValidity, lastUID uint32) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if ms := e.st.Mail; ms != nil {
		return ms.UIDValidity, ms.LastUID
	}
	return 0, 0
}

// MailMessageOf is the message a contact was made of.
func (e *Engine) MailMessageOf(contact string) (MailMessage, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if ms := e.st.Mail; ms != nil {
		if m, ok := ms.Messages[contact]; ok {
			return *m, true
		}
	}
	return MailMessage{}, false
}

// LastMaintenance is when the daily data maintenance last ran (Unix ns;
// 0 never): the e-mail channel expunges handled messages once after each.
func (e *Engine) LastMaintenance() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.st.Maintenance.Last
}

// MailSettings is the channel's configuration (nil: off), passwords
// included: for package mail only, never to be shown.
func (e *Engine) MailSettings() *Mail {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.st.Config.Mail == nil {
		return nil
	}
	m := e.st.Config.Mail.clone()
	return &m
}

// CleanText makes s a valid text of at most max bytes: control and
// bidirectional characters become spaces, invalid UTF-8 U+FFFD, runs of
// spaces one, and it is cut at a rune boundary. The edges use it on text
// from outside (e-mail headers) before proposing it.
func CleanText(s string, max int) string {
	if plainText(s) {
		return clipText(s, max) // already clean: no copy
	}
	return cleanText(s, max)
}

// plainText tells whether CleanText would keep s as it is (before the
// cut): printable ASCII, words separated by one space, none at the
// edges.
func plainText(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return s == ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' || (c == ' ' && s[i+1] == ' ') {
			return false
		}
	}
	return true
}

// cleanText is CleanText rune by rune.
func cleanText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		bad := r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
		if bad || r == ' ' {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r) // an invalid byte arrives as U+FFFD
	}
	return clipText(strings.TrimRight(b.String(), " "), max)
}

// clipText cuts s to at most max bytes at a rune boundary.
func clipText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// MailContactLive tells whether a contact is still held (not ended).
func (e *Engine) MailContactLive(contact string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, ok := e.st.Calls[contact]
	return ok
}

// MailContactsLive counts the e-mail contacts the engine holds now.
func (e *Engine) MailContactsLive() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mailLive
}
