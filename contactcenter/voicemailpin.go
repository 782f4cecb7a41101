package contactcenter

import (
	"slices"

	"github.com/tandemcc/tandem/command"
)

// Voicemail PINs and the mailboxes an operator picks to monitor (spec
// "Voicemail in the console": the operator picks which extensions'
// mailboxes to monitor and enters each mailbox PIN).
//
// A mailbox's PIN is set by the user whose extension it is; the edge
// checks the PIN's form (and the current PIN when one is set), derives a
// PBKDF2 hash (no randomness here) and proposes only the hash. The engine
// keeps the hashes outside State, as it keeps phone secrets: no View,
// event, result or document carries them; the snapshot does ("pins"),
// and MailboxPINHash hands one to the edge that checks a PIN. Monitoring
// a mailbox is proposed by the edge once the PIN given is right; the
// mailboxes a user picked add to those the configuration names.
const (
	TypeVoicemailSetPIN  = "voicemail.set_pin"
	TypeVoicemailMonitor = "voicemail.monitor"

	EvVoicemailPINSet    = "voicemail.pin_set"
	EvVoicemailMonitored = "voicemail.monitored"
)

// VoicemailPINRequest is the payload of voicemail.set_pin: the hash of
// the new PIN of the user's own mailbox (its extension).
type VoicemailPINRequest struct {
	User    string `json:"user"`
	PINHash string `json:"pin_hash"`
}

// VoicemailMonitorRequest is the payload of voicemail.monitor: the user
// starts (Monitor) or stops monitoring a mailbox.
type VoicemailMonitorRequest struct {
	User    string `json:"user"`
	Mailbox string `json:"mailbox"`
	Monitor bool   `json:"monitor"`
}

// VoicemailPINEvent is voicemail.pin_set: the mailbox has a new PIN
// (never the PIN or its hash).
type VoicemailPINEvent struct {
	Mailbox string `json:"mailbox"`
	User    string `json:"user"`
}

// VoicemailMonitorEvent is voicemail.monitored.
type VoicemailMonitorEvent struct {
	Mailbox string `json:"mailbox"`
	User    string `json:"user"`
	Monitor bool   `json:"monitor"`
}

func (e *Engine) cmdVoicemailSetPIN(env command.Envelope) (any, error) {
	var p VoicemailPINRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkID("user", p.User); err != nil {
		return nil, err
	}
	if !passwordHashRE.MatchString(p.PINHash) {
		return nil, fieldErr("pin_hash", "not a PBKDF2-SHA256 hash of at least 100000 iterations")
	}
	u, ok := e.st.Config.Users[p.User]
	if !ok {
		return nil, opErr(ErrUnknownUser, "set PIN", "unknown user %q", p.User)
	}
	if u.Extension == "" {
		return nil, opErr(ErrUnknownExtension, "set PIN", "user %q has no extension, so no mailbox", p.User)
	}
	e.pins[u.Extension] = p.PINHash
	ev := VoicemailPINEvent{Mailbox: u.Extension, User: p.User}
	e.emit(EvVoicemailPINSet, ev)
	return ev, nil
}

func (e *Engine) cmdVoicemailMonitor(env command.Envelope) (any, error) {
	var p VoicemailMonitorRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkID("user", p.User); err != nil {
		return nil, err
	}
	u, ok := e.st.Config.Users[p.User]
	if !ok {
		return nil, opErr(ErrUnknownUser, "monitor", "unknown user %q", p.User)
	}
	if _, ok := e.st.Config.Extensions[p.Mailbox]; !ok {
		return nil, opErr(ErrUnknownExtension, "monitor", "unknown mailbox %q", p.Mailbox)
	}
	if p.Mailbox == u.Extension {
		return nil, fieldErr("mailbox", "%q is the user's own mailbox", p.Mailbox)
	}
	us := e.userState(p.User)
	has := slices.Contains(us.Monitored, p.Mailbox)
	if p.Monitor && !has {
		if len(us.Monitored) >= MaxMonitoredMailboxes {
			return nil, fieldErr("mailbox", "a user monitors at most %d mailboxes", MaxMonitoredMailboxes)
		}
		us.Monitored = append(us.Monitored, p.Mailbox)
		slices.Sort(us.Monitored)
	}
	if !p.Monitor && has {
		us.Monitored = slices.DeleteFunc(us.Monitored, func(m string) bool { return m == p.Mailbox })
		if len(us.Monitored) == 0 {
			us.Monitored = nil
		}
	}
	ev := VoicemailMonitorEvent{Mailbox: p.Mailbox, User: p.User, Monitor: p.Monitor}
	e.emit(EvVoicemailMonitored, ev)
	return ev, nil
}

// MailboxPINHash returns the hash of a mailbox's PIN ("" when none is
// set): for the edge that checks a PIN, never to be shown.
func (e *Engine) MailboxPINHash(mailbox string) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.pins[mailbox]
}

// MonitoredByUser returns the mailboxes a user picked to monitor.
func (e *Engine) MonitoredByUser(user string) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if u := e.st.Users[user]; u != nil {
		return slices.Clone(u.Monitored)
	}
	return nil
}
