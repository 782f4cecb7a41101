package snmp

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
)

// Media of tandemContactTable, in index order.
const (
	MediumVoice = iota + 1
	MediumCallback
	MediumChat
	MediumEmail
)

// ContactCounts are one medium's contacts: in progress now, and ended in
// the last hour and the last day.
type ContactCounts struct {
	Current, LastHour, LastDay int
}

// Contacts is a medium's contact counter. Voice is counted here, from
// the engine; the callback, chat and e-mail channels implement it (with a
// ContactWindow, for instance) and tandemd passes them in Sources.
type Contacts interface {
	ContactCounts(now time.Time) ContactCounts
}

// ContactWindow counts contacts ended in the last day, per minute. It is
// safe for concurrent use; the zero value is ready.
type ContactWindow struct {
	mu      sync.Mutex
	minutes [windowMinutes]int64 // the minute each bucket counts (Unix minutes)
	counts  [windowMinutes]int
}

const windowMinutes = 24 * 60

// Add counts one contact ended at t.
func (w *ContactWindow) Add(t time.Time) {
	m := t.Unix() / 60
	i := int(((m % windowMinutes) + windowMinutes) % windowMinutes)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.minutes[i] != m {
		if w.minutes[i] > m {
			return // older than the day the bucket holds now
		}
		w.minutes[i], w.counts[i] = m, 0
	}
	w.counts[i]++
}

// Counts returns the contacts ended in the hour and in the day up to now
// (a contact stamped up to a minute ahead, by a leader whose clock is a
// little ahead, is counted).
func (w *ContactWindow) Counts(now time.Time) (hour, day int) {
	n := now.Unix() / 60
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, m := range w.minutes {
		if m > n+1 || m <= n-windowMinutes || w.counts[i] == 0 {
			continue
		}
		day += w.counts[i]
		if m > n-60 {
			hour += w.counts[i]
		}
	}
	return hour, day
}

// voiceContacts counts calls: those the engine holds now, and those that
// ended (call.ended, at the time of the command that ended them) in the
// window. It is a cluster.EventSink on every node: each applies the same
// log, so each counts the same, from the events it applied since it
// started (a restarted node recounts from the entries after its last
// snapshot).
type voiceContacts struct {
	window ContactWindow
}

// Publish implements cluster.EventSink.
func (v *voiceContacts) Publish(evs []command.Event) {
	for _, ev := range evs {
		if ev.Type != contactcenter.EvCallEnded {
			continue
		}
		var e struct {
			Reason string `json:"reason"`
			Medium string `json:"medium"`
		}
		// A call merged into another goes on as that one; an e-mail
		// contact is the mail channel's to count (Sources.Email).
		if json.Unmarshal(ev.Data, &e) == nil && (e.Reason == "merged" || e.Medium != "") {
			continue
		}
		v.window.Add(time.Unix(0, ev.Time))
	}
}

// Sync implements cluster.EventSink: the counts need no durability.
func (v *voiceContacts) Sync() error { return nil }

var _ cluster.EventSink = (*voiceContacts)(nil)

// ContactEvents is the sink tandemd adds to the cluster's event sinks so
// that the agent counts voice contacts (tandemContactTable).
func (a *Agent) ContactEvents() cluster.EventSink { return &a.voice }
