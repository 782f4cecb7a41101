package web

import (
	"bytes"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/snmp"
)

// Contacts counts one web medium's contacts — web callbacks or web chats
// — for the SNMP agent's contact table (snmp.Sources.Callback and .Chat)
// and /metrics: those in progress now (from the engine) and those that
// ended in the last hour and day. It is a cluster.EventSink on every
// node: each applies the same log, so each counts the same (from the
// entries it applied since it started).
type Contacts struct {
	// Live counts the contacts in progress (Engine.CallbacksOpen,
	// Engine.ChatsOpen).
	Live   func() int
	ended  func(command.Event) bool
	window snmp.ContactWindow
	// requests that create one (callback_create, chat_create) answered
	// by this node: counted by Metrics.
	accepted, refused atomic.Uint64
}

// request counts a create request's answer (code 0: accepted).
func (c *Contacts) request(code int) {
	if c == nil {
		return
	}
	if code == 0 {
		c.accepted.Add(1)
	} else {
		c.refused.Add(1)
	}
}

// NewCallbackContacts counts web callbacks: open ones (scheduled,
// queued, dialing), and those finished (completed, failed, cancelled,
// expired) by the time of the command that finished them.
func NewCallbackContacts(live func() int) *Contacts {
	return &Contacts{Live: live, ended: func(ev command.Event) bool {
		if ev.Type != cc.EvCallbackUpdated || !mayEnd(ev.Data) {
			return false
		}
		var d struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(ev.Data, &d) != nil {
			return false
		}
		switch d.Status {
		case cc.CallbackCompleted, cc.CallbackFailed, cc.CallbackCancelled, cc.CallbackExpired:
			return true
		}
		return false
	}}
}

// endedStatuses are the final statuses of a callback as JSON strings.
var endedStatuses = [][]byte{[]byte(`"` + cc.CallbackCompleted + `"`), []byte(`"` + cc.CallbackFailed + `"`),
	[]byte(`"` + cc.CallbackCancelled + `"`), []byte(`"` + cc.CallbackExpired + `"`)}

// mayEnd: the event data may carry a final status. Without an escape
// such a status is written as one of endedStatuses, so data with none of
// them (every update while a callback is open) need not be decoded.
func mayEnd(data []byte) bool {
	if bytes.IndexByte(data, '\\') >= 0 {
		return true
	}
	for _, s := range endedStatuses {
		if bytes.Contains(data, s) {
			return true
		}
	}
	return false
}

// NewChatContacts counts web chats: sessions not ended, and those ended.
func NewChatContacts(live func() int) *Contacts {
	return &Contacts{Live: live, ended: func(ev command.Event) bool { return ev.Type == cc.EvChatEnded }}
}

// Publish implements cluster.EventSink.
func (c *Contacts) Publish(evs []command.Event) {
	for i := range evs {
		if c.ended != nil && c.ended(evs[i]) {
			c.window.Add(time.Unix(0, evs[i].Time))
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
	n.Accepted, n.Refused = c.accepted.Load(), c.refused.Load()
	return n
}

var (
	_ cluster.EventSink = (*Contacts)(nil)
	_ snmp.Contacts     = (*Contacts)(nil)
)

// contactsCollector shows the web media's contacts in /metrics as
// tandem_web_contacts{medium, window}: window "current" (in progress),
// "last_hour", "last_day" (ended).
type contactsCollector struct {
	desc  *prometheus.Desc
	media map[string]*Contacts
	now   func() time.Time
}

// RegisterContacts shows the contact counts of callbacks and chats in
// /metrics (tandem_web_contacts).
func RegisterContacts(reg prometheus.Registerer, callbacks, chats *Contacts) {
	registerContacts(reg, time.Now, callbacks, chats)
}

func registerContacts(reg prometheus.Registerer, now func() time.Time, callbacks, chats *Contacts) {
	reg.MustRegister(&contactsCollector{
		desc: prometheus.NewDesc("tandem_web_contacts",
			"Web contacts by medium (callback, chat): in progress now (window current) and ended in the last hour and day (last_hour, last_day), as the SNMP tandemContactTable counts them.",
			[]string{"medium", "window"}, nil),
		media: map[string]*Contacts{"callback": callbacks, "chat": chats},
		now:   now,
	})
}

func (c *contactsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *contactsCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for medium, ct := range c.media {
		if ct == nil {
			continue
		}
		n := ct.ContactCounts(now)
		for _, w := range []struct {
			name string
			v    int
		}{{"current", n.Current}, {"last_hour", n.LastHour}, {"last_day", n.LastDay}} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(w.v), medium, w.name)
		}
	}
}
