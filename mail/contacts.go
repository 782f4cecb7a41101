package mail

import (
	"encoding/json"
	"time"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/snmp"
)

// Contacts counts e-mail contacts for the SNMP agent's contact table
// (snmp.Sources.Email): those the engine holds now, and those ended in
// the last hour and day. It is a cluster.EventSink on every node (each
// applies the same log, so each counts the same).
type Contacts struct {
	// Live counts the e-mail contacts held now (Engine.MailContactsLive).
	Live   func() int
	window snmp.ContactWindow
}

// Publish implements cluster.EventSink: every call.ended of an e-mail
// contact.
func (c *Contacts) Publish(evs []command.Event) {
	for _, ev := range evs {
		if ev.Type != cc.EvCallEnded {
			continue
		}
		var e struct {
			Medium string `json:"medium"`
		}
		if json.Unmarshal(ev.Data, &e) == nil && e.Medium == cc.MediumEmail {
			c.window.Add(time.Unix(0, ev.Time))
		}
	}
}

// Sync implements cluster.EventSink: the counts need no durability.
func (c *Contacts) Sync() error { return nil }

// ContactCounts implements snmp.Contacts.
func (c *Contacts) ContactCounts(now time.Time) snmp.ContactCounts {
	var n snmp.ContactCounts
	if c.Live != nil {
		n.Current = c.Live()
	}
	n.LastHour, n.LastDay = c.window.Counts(now)
	return n
}
