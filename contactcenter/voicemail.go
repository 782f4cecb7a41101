package contactcenter

import (
	"errors"

	"github.com/tandemcc/tandem/command"
)

// Voicemail lists: per mailbox (an extension) the messages left in it,
// in two folders, inbox (new) and old (listened to or marked). The audio
// lives at the telephony edge; the engine keeps the list every console and
// the portal show, and the counts that light a phone's message-waiting
// lamp.

// Command types of the voicemail family.
const (
	// TypeVoicemailDeposited: the telephony edge reports a message left in
	// a mailbox.
	TypeVoicemailDeposited = "voicemail.deposited"
	// TypeVoicemailMark moves a message to the old folder or back to the
	// inbox (listened to, or marked by the user).
	TypeVoicemailMark = "voicemail.mark"
	// TypeVoicemailDelete deletes a message.
	TypeVoicemailDelete = "voicemail.delete"
)

// Event types of the voicemail family.
const (
	EvVoicemailDeposited = "voicemail.deposited"
	EvVoicemailMarked    = "voicemail.marked"
	EvVoicemailDeleted   = "voicemail.deleted"
)

// Voicemail folders.
const (
	FolderInbox = "inbox"
	FolderOld   = "old"
)

// MaxVoicemailMessages bounds a mailbox's list (both folders). A message
// deposited into a full mailbox drops the oldest message (by deposit
// order, whatever its folder), announced by voicemail.deleted with reason
// "limit".
const MaxVoicemailMessages = 200

// MaxVoicemailSeconds bounds a message's duration.
const MaxVoicemailSeconds = 86400

// Sentinels of refused voicemail operations.
var (
	ErrUnknownMessage = errors.New("unknown voicemail message")
	ErrMessageExists  = errors.New("voicemail message id already in use")
)

// VoicemailMessage is one message of a mailbox.
type VoicemailMessage struct {
	ID string `json:"id"`
	// From is the caller's number, Name the caller's name, as the edge
	// saw them.
	From            string `json:"from,omitempty"`
	Name            string `json:"name,omitempty"`
	DurationSeconds int    `json:"duration_seconds"`
	// At is when it was deposited (engine time, Unix ns).
	At     int64  `json:"at"`
	Folder string `json:"folder"`
	// Seq is the deposit order within the mailbox.
	Seq uint64 `json:"seq"`
}

// Mailbox is a mailbox's messages in deposit order (oldest first).
type Mailbox struct {
	Messages []VoicemailMessage `json:"messages"`
	// Next is the last deposit sequence number handed out.
	Next uint64 `json:"next"`
}

func (m *Mailbox) counts() (inbox, old int) {
	for _, v := range m.Messages {
		if v.Folder == FolderOld {
			old++
		} else {
			inbox++
		}
	}
	return inbox, old
}

func (m *Mailbox) find(id string) int {
	for i, v := range m.Messages {
		if v.ID == id {
			return i
		}
	}
	return -1
}

// VoicemailDepositRequest is the payload of voicemail.deposited. Mailbox
// is the extension whose mailbox took the message.
type VoicemailDepositRequest struct {
	Mailbox         string `json:"mailbox"`
	Message         string `json:"message"`
	From            string `json:"from,omitempty"`
	Name            string `json:"name,omitempty"`
	DurationSeconds int    `json:"duration_seconds,omitempty"`
}

// VoicemailMarkRequest is the payload of voicemail.mark. User, when
// given, is who marks it (portal, console): the user's own extension or
// one of its monitored mailboxes, else ErrNotYours. The edge leaves it
// empty when a message is listened to on the phone.
type VoicemailMarkRequest struct {
	Mailbox string `json:"mailbox"`
	Message string `json:"message"`
	Folder  string `json:"folder"`
	User    string `json:"user,omitempty"`
}

// VoicemailDeleteRequest is the payload of voicemail.delete (User as in
// VoicemailMarkRequest).
type VoicemailDeleteRequest struct {
	Mailbox string `json:"mailbox"`
	Message string `json:"message"`
	User    string `json:"user,omitempty"`
}

// VoicemailEvent is voicemail.deposited, voicemail.marked and
// voicemail.deleted; Inbox and Old are the mailbox's counts afterwards
// (the message-waiting lamp is on while Inbox > 0).
type VoicemailEvent struct {
	Mailbox         string `json:"mailbox"`
	Message         string `json:"message"`
	From            string `json:"from,omitempty"`
	Name            string `json:"name,omitempty"`
	DurationSeconds int    `json:"duration_seconds,omitempty"`
	At              int64  `json:"at,omitempty"`
	Folder          string `json:"folder"`
	// Reason (voicemail.deleted): deleted, limit (dropped as the oldest
	// of a full mailbox), mailbox_removed (its extension was removed from
	// the configuration).
	Reason string `json:"reason,omitempty"`
	Inbox  int    `json:"inbox"`
	Old    int    `json:"old"`
}

// mailboxExt checks a mailbox names a configured extension.
func (e *Engine) mailboxExt(op, mailbox string) error {
	if mailbox == "" {
		return fieldErr("mailbox", "missing")
	}
	if _, ok := e.st.Config.Extensions[mailbox]; !ok {
		return opErr(ErrUnknownExtension, op, "no mailbox: unknown extension %q", mailbox)
	}
	return nil
}

// mailboxMessage finds a message, refusing an unknown one, and checks the
// optional user's access.
func (e *Engine) mailboxMessage(op, mailbox, message, user string) (*Mailbox, int, error) {
	if err := e.mailboxExt(op, mailbox); err != nil {
		return nil, 0, err
	}
	if message == "" {
		return nil, 0, fieldErr("message", "missing")
	}
	if user != "" {
		if _, ok := e.st.Config.Users[user]; !ok {
			return nil, 0, opErr(ErrUnknownUser, op, "unknown user %q", user)
		}
		if !e.mayAccessMailbox(user, mailbox) {
			return nil, 0, opErr(ErrNotYours, op, "user %q neither owns nor monitors mailbox %q", user, mailbox)
		}
	}
	mb := e.st.Voicemail[mailbox]
	i := -1
	if mb != nil {
		i = mb.find(message)
	}
	if i < 0 {
		return nil, 0, opErr(ErrUnknownMessage, op, "no message %q in mailbox %q", message, mailbox)
	}
	return mb, i, nil
}

func (e *Engine) cmdVoicemailDeposited(env command.Envelope) (any, error) {
	var p VoicemailDepositRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkID("message", p.Message); err != nil {
		return nil, err
	}
	if err := checkText("from", p.From, MaxNumberLen); err != nil {
		return nil, err
	}
	if err := checkText("name", p.Name, MaxNameLen); err != nil {
		return nil, err
	}
	if p.DurationSeconds < 0 || p.DurationSeconds > MaxVoicemailSeconds {
		return nil, fieldErr("duration_seconds", "%d is out of range 0..%d", p.DurationSeconds, MaxVoicemailSeconds)
	}
	if err := e.mailboxExt("voicemail", p.Mailbox); err != nil {
		return nil, err
	}
	mb := e.st.Voicemail[p.Mailbox]
	if mb != nil && mb.find(p.Message) >= 0 {
		return nil, opErr(ErrMessageExists, "voicemail", "mailbox %q already has message %q", p.Mailbox, p.Message)
	}
	if mb == nil {
		mb = &Mailbox{}
		e.st.Voicemail[p.Mailbox] = mb
	}
	mb.Next++
	m := VoicemailMessage{ID: p.Message, From: p.From, Name: p.Name, DurationSeconds: p.DurationSeconds, At: e.now, Folder: FolderInbox, Seq: mb.Next}
	mb.Messages = append(mb.Messages, m)
	var dropped []VoicemailMessage
	if n := len(mb.Messages) - MaxVoicemailMessages; n > 0 {
		dropped = append(dropped, mb.Messages[:n]...)
		mb.Messages = append([]VoicemailMessage(nil), mb.Messages[n:]...)
	}
	inbox, old := mb.counts()
	ev := VoicemailEvent{Mailbox: p.Mailbox, Message: m.ID, From: m.From, Name: m.Name, DurationSeconds: m.DurationSeconds, At: m.At, Folder: m.Folder, Inbox: inbox, Old: old}
	e.emit(EvVoicemailDeposited, ev)
	for _, d := range dropped {
		e.emit(EvVoicemailDeleted, VoicemailEvent{Mailbox: p.Mailbox, Message: d.ID, Folder: d.Folder, Reason: "limit", Inbox: inbox, Old: old})
	}
	return ev, nil
}

func (e *Engine) cmdVoicemailMark(env command.Envelope) (any, error) {
	var p VoicemailMarkRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if p.Folder != FolderInbox && p.Folder != FolderOld {
		return nil, fieldErr("folder", "%q is not a folder (inbox or old)", p.Folder)
	}
	mb, i, err := e.mailboxMessage("voicemail mark", p.Mailbox, p.Message, p.User)
	if err != nil {
		return nil, err
	}
	changed := mb.Messages[i].Folder != p.Folder
	mb.Messages[i].Folder = p.Folder
	inbox, old := mb.counts()
	ev := VoicemailEvent{Mailbox: p.Mailbox, Message: p.Message, Folder: p.Folder, Inbox: inbox, Old: old}
	if changed {
		e.emit(EvVoicemailMarked, ev)
	}
	return ev, nil
}

func (e *Engine) cmdVoicemailDelete(env command.Envelope) (any, error) {
	var p VoicemailDeleteRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	mb, i, err := e.mailboxMessage("voicemail delete", p.Mailbox, p.Message, p.User)
	if err != nil {
		return nil, err
	}
	folder := mb.Messages[i].Folder
	mb.Messages = append(mb.Messages[:i:i], mb.Messages[i+1:]...)
	inbox, old := mb.counts()
	if len(mb.Messages) == 0 {
		delete(e.st.Voicemail, p.Mailbox)
	}
	ev := VoicemailEvent{Mailbox: p.Mailbox, Message: p.Message, Folder: folder, Reason: "deleted", Inbox: inbox, Old: old}
	e.emit(EvVoicemailDeleted, ev)
	return ev, nil
}

// dropRemovedMailboxes deletes the lists of mailboxes whose extension the
// configuration no longer has, announcing each message (config.apply).
func (e *Engine) dropRemovedMailboxes(next Config) {
	for _, ext := range sortedKeys(e.st.Voicemail) {
		if _, ok := next.Extensions[ext]; ok {
			continue
		}
		for _, m := range e.st.Voicemail[ext].Messages {
			e.emit(EvVoicemailDeleted, VoicemailEvent{Mailbox: ext, Message: m.ID, Folder: m.Folder, Reason: "mailbox_removed"})
		}
		delete(e.st.Voicemail, ext)
	}
}

// mayAccessMailbox: the user's own extension or a monitored mailbox.
func (e *Engine) mayAccessMailbox(user, mailbox string) bool {
	u, ok := e.st.Config.Users[user]
	if !ok {
		return false
	}
	if u.Extension == mailbox || contains(u.MonitoredMailboxes, mailbox) {
		return true
	}
	us := e.st.Users[user]
	return us != nil && contains(us.Monitored, mailbox)
}

// VoicemailView is a mailbox's list, each folder newest first.
type VoicemailView struct {
	Mailbox string             `json:"mailbox"`
	Inbox   []VoicemailMessage `json:"inbox"`
	Old     []VoicemailMessage `json:"old"`
}

// Voicemail returns a mailbox's messages (false: no such extension).
func (e *Engine) Voicemail(mailbox string) (VoicemailView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, ok := e.st.Config.Extensions[mailbox]; !ok {
		return VoicemailView{}, false
	}
	v := VoicemailView{Mailbox: mailbox, Inbox: []VoicemailMessage{}, Old: []VoicemailMessage{}}
	if mb := e.st.Voicemail[mailbox]; mb != nil {
		for i := len(mb.Messages) - 1; i >= 0; i-- {
			m := mb.Messages[i]
			if m.Folder == FolderOld {
				v.Old = append(v.Old, m)
			} else {
				v.Inbox = append(v.Inbox, m)
			}
		}
	}
	return v, true
}

// UserMailboxes lists the mailboxes a user may watch: the own extension
// first, then the monitored mailboxes in order (false: unknown user).
func (e *Engine) UserMailboxes(user string) ([]string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	u, ok := e.st.Config.Users[user]
	if !ok {
		return nil, false
	}
	out := []string{}
	if u.Extension != "" {
		out = append(out, u.Extension)
	}
	for _, m := range u.MonitoredMailboxes {
		if m != u.Extension {
			out = append(out, m)
		}
	}
	if us := e.st.Users[user]; us != nil {
		for _, m := range us.Monitored {
			if !contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out, true
}

// MayAccessMailbox reports whether user owns or monitors mailbox (the
// portal and consoles check it before showing a list).
func (e *Engine) MayAccessMailbox(user, mailbox string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mayAccessMailbox(user, mailbox)
}
