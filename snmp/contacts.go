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
// the last hour and the last day; for the web media, the requests of
// the public web API that create one, accepted and refused by this node
// since it started.
type ContactCounts struct {
	Current, LastHour, LastDay int
	Accepted, Refused          uint64
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
	// web are the calls of the web media — those that carry a web chat
	// (chat.created names them) and a web callback's attempts
	// (callback.updated names them) — which the web edge counts
	// (Sources.Chat, Sources.Callback); a node restarted from a snapshot
	// does not know those begun before it and counts their end as voice.
	web map[string]bool
}

// Publish implements cluster.EventSink.
func (v *voiceContacts) Publish(evs []command.Event) {
	for _, ev := range evs {
		if ev.Type == contactcenter.EvChatCreated || ev.Type == contactcenter.EvCallbackUpdated {
			var c struct {
				Chat   string `json:"chat"`
				Call   string `json:"call"`
				Status string `json:"status"`
			}
			if json.Unmarshal(ev.Data, &c) == nil {
				if v.web == nil {
					v.web = map[string]bool{}
				}
				if ev.Type == contactcenter.EvChatCreated && c.Chat != "" {
					v.web[c.Chat] = true
				} else if ev.Type == contactcenter.EvCallbackUpdated && c.Call != "" && c.Status == contactcenter.CallbackQueued {
					// an attempt's call begins (queued); its later updates
					// may still name it after it ended
					v.web[c.Call] = true
				}
			}
			continue
		}
		if ev.Type != contactcenter.EvCallEnded {
			continue
		}
		var e struct {
			Call   string `json:"call"`
			Reason string `json:"reason"`
			Medium string `json:"medium"`
		}
		if json.Unmarshal(ev.Data, &e) != nil {
			continue
		}
		if v.web[e.Call] {
			delete(v.web, e.Call)
			continue
		}
		// A call merged into another goes on as that one; an e-mail
		// contact is the mail channel's to count (Sources.Email).
		if e.Reason == "merged" || e.Medium != "" {
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
