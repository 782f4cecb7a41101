package contactcenter

import (
	"errors"
	"strings"

	"github.com/tandemcc/tandem/command"
)

// Voicemail lists: per mailbox (an extension) the messages left in it,
// in two folders, inbox (new) and old (listened to or marked), the counts
// that light a phone's message-waiting lamp, and each message's recording
// (G.711 as the SIP edge received it, deposited with the message). The
// recordings are kept outside State (Engine.audio, like the phone secrets
// and PIN hashes): View, the list, events and results carry only their
// size; the snapshot carries them whole.

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

// Bounds of the recordings (G.711: 8,000 bytes a second).
const (
	// AudioBytesPerSecond is G.711's rate: 8,000 one-byte samples.
	AudioBytesPerSecond = 8000
	// MaxVoicemailAudioSeconds bounds one recording's length.
	MaxVoicemailAudioSeconds = 120
	// MaxVoicemailAudioBytes bounds one recording (120 s of G.711).
	MaxVoicemailAudioBytes = MaxVoicemailAudioSeconds * AudioBytesPerSecond
	// MaxVoicemailAudioTotal bounds the recordings the engine holds, all
	// mailboxes together (32 MiB of G.711: some 70 minutes). A message
	// deposited past it is kept without its recording (audio_bytes 0).
	// The bound is the snapshot's: recordings are encoded (base64 in
	// JSON) with the rest of the state under the apply lock, some
	// 10 ms a MiB here (DESIGN.md, "Voicemail lists").
	MaxVoicemailAudioTotal = 32 << 20
)

// Codecs of a recording: G.711 µ-law and A-law, 8 kHz mono.
const (
	CodecPCMU = "pcmu"
	CodecPCMA = "pcma"
)

// VoicemailAudio is a message's recording.
type VoicemailAudio struct {
	Codec string `json:"codec"`
	Data  []byte `json:"data"`
}

// audioKey keys Engine.audio.
func audioKey(mailbox, message string) string { return mailbox + "/" + message }

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
	// AudioBytes is the size of its recording (0: none kept); the
	// recording itself is VoicemailAudio's.
	AudioBytes int `json:"audio_bytes,omitempty"`
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
	// Codec and Audio are the recording (G.711, CodecPCMU or CodecPCMA,
	// at most MaxVoicemailAudioBytes; base64 in JSON), when the edge
	// recorded one; its duration_seconds then is its length rounded up.
	Codec string `json:"codec,omitempty"`
	Audio []byte `json:"audio,omitempty"`
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
	// AudioBytes (voicemail.deposited) is the size of the recording kept.
	AudioBytes int `json:"audio_bytes,omitempty"`
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
	if len(p.Audio) > 0 {
		if p.Codec != CodecPCMU && p.Codec != CodecPCMA {
			return nil, fieldErr("codec", "%q is not a recording codec (pcmu or pcma)", p.Codec)
		}
		if len(p.Audio) > MaxVoicemailAudioBytes {
			return nil, fieldErr("audio", "%d bytes exceed %d", len(p.Audio), MaxVoicemailAudioBytes)
		}
		if want := (len(p.Audio) + AudioBytesPerSecond - 1) / AudioBytesPerSecond; p.DurationSeconds != want {
			return nil, fieldErr("duration_seconds", "%d is not the recording's %d", p.DurationSeconds, want)
		}
	} else if p.Codec != "" {
		return nil, fieldErr("codec", "given without audio")
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
		for _, d := range dropped {
			e.dropAudio(p.Mailbox, d.ID)
		}
	}
	if len(p.Audio) > 0 && e.audioBytes+len(p.Audio) <= e.maxAudio {
		// The payload is the command's own (decoded for this Apply): kept
		// as it is.
		e.audio[audioKey(p.Mailbox, m.ID)] = &VoicemailAudio{Codec: p.Codec, Data: p.Audio}
		e.audioBytes += len(p.Audio)
		m.AudioBytes = len(p.Audio)
		mb.Messages[len(mb.Messages)-1].AudioBytes = m.AudioBytes
	}
	inbox, old := mb.counts()
	ev := VoicemailEvent{Mailbox: p.Mailbox, Message: m.ID, From: m.From, Name: m.Name, DurationSeconds: m.DurationSeconds, At: m.At, Folder: m.Folder, Inbox: inbox, Old: old, AudioBytes: m.AudioBytes}
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
	e.dropAudio(p.Mailbox, p.Message)
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
			e.dropAudio(ext, m.ID)
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

// dropAudio forgets a message's recording, if it has one.
func (e *Engine) dropAudio(mailbox, message string) {
	k := audioKey(mailbox, message)
	if a := e.audio[k]; a != nil {
		e.audioBytes -= len(a.Data)
		delete(e.audio, k)
	}
}

// syncAudio keeps only the recordings of listed messages and recounts
// their bytes (after a restore or a configuration change).
func (e *Engine) syncAudio() {
	e.audioBytes = 0
	for _, k := range sortedKeys(e.audio) {
		mailbox, message, _ := strings.Cut(k, "/")
		mb := e.st.Voicemail[mailbox]
		if mb == nil || mb.find(message) < 0 || e.audio[k] == nil {
			delete(e.audio, k)
			continue
		}
		e.audioBytes += len(e.audio[k].Data)
	}
}

// VoicemailAudio returns a message's recording (false: no such message,
// or it has none). The data is the engine's: the caller must not modify
// it.
func (e *Engine) VoicemailAudio(mailbox, message string) (VoicemailAudio, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	a := e.audio[audioKey(mailbox, message)]
	if a == nil {
		return VoicemailAudio{}, false
	}
	return *a, true
}
