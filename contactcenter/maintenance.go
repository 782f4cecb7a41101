package contactcenter

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Data maintenance (replication.md, "Retention and data maintenance"). The
// cluster keeps history for a retention period per kind — contacts (the
// engine's call histories), events (each node's event archive, which
// `replication sync` re-sends) and transcripts (chat and e-mail bodies,
// when those channels exist) — and applies the periods once a day at the
// maintenance time. The run is part of a clock.tick, so it is
// deterministic and happens at the same log position on every node: the
// engine prunes what it holds and emits EvMaintenance, which each node's
// edges act on for what they hold (the event archive). The periods are
// also what a reporting sync compares the reporting database's retention
// against.

// EvMaintenance is the daily data maintenance (payload MaintenanceEvent).
const EvMaintenance = "maintenance.ran"

// DefaultMaintenanceTime is when the daily maintenance runs (UTC).
const DefaultMaintenanceTime = "03:00"

// Retention periods, in days: their defaults and bounds.
const (
	DefaultContactsDays    = 400
	DefaultEventsDays      = 396 // 13 months, the event archive's default
	DefaultTranscriptsDays = 90
	MaxRetentionDays       = 3650
)

// Retention is how long the cluster keeps each kind of history.
type Retention struct {
	ContactsDays    int `yaml:"contacts_days" json:"contacts_days"`
	EventsDays      int `yaml:"events_days" json:"events_days"`
	TranscriptsDays int `yaml:"transcripts_days" json:"transcripts_days"`
}

func (r Retention) withDefaults() Retention {
	if r.ContactsDays == 0 {
		r.ContactsDays = DefaultContactsDays
	}
	if r.EventsDays == 0 {
		r.EventsDays = DefaultEventsDays
	}
	if r.TranscriptsDays == 0 {
		r.TranscriptsDays = DefaultTranscriptsDays
	}
	return r
}

func (r Retention) check() error {
	for _, f := range []struct {
		name string
		days int
	}{{"contacts_days", r.ContactsDays}, {"events_days", r.EventsDays}, {"transcripts_days", r.TranscriptsDays}} {
		if f.days < 1 || f.days > MaxRetentionDays {
			return fieldErr("settings.retention."+f.name, "%d is out of range 1..%d days", f.days, MaxRetentionDays)
		}
	}
	return nil
}

// Events is the retention of the event archive.
func (r Retention) Events() time.Duration { return time.Duration(r.EventsDays) * 24 * time.Hour }

// MaintenanceState is when the next maintenance is due (Unix ns) and the
// maintenance time it was scheduled for: a changed time reschedules it.
type MaintenanceState struct {
	Next int64  `json:"next,omitempty"`
	For  string `json:"for,omitempty"`
	// Last is when the last maintenance ran (Unix ns).
	Last int64 `json:"last,omitempty"`
}

// MaintenanceEvent is the payload of EvMaintenance.
type MaintenanceEvent struct {
	At              int64 `json:"at"`
	ContactsDays    int   `json:"contacts_days"`
	EventsDays      int   `json:"events_days"`
	TranscriptsDays int   `json:"transcripts_days"`
	// HistoryPruned counts the call-history entries dropped.
	HistoryPruned int `json:"history_pruned"`
	// MailPruned counts the handled e-mail messages forgotten after the
	// mail retention period (mail.go).
	MailPruned int `json:"mail_pruned,omitempty"`
}

// maintenanceClock parses "HH:MM".
func maintenanceClock(s string) (h, m int, ok bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// nextMaintenance is the first maintenance time strictly after now.
func nextMaintenance(now int64, at string) int64 {
	h, m, ok := maintenanceClock(at)
	if !ok {
		h, m, _ = maintenanceClock(DefaultMaintenanceTime)
	}
	t := time.Unix(0, now).UTC()
	next := time.Date(t.Year(), t.Month(), t.Day(), h, m, 0, 0, time.UTC)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	return next.UnixNano()
}

// maintenanceDeadline is when the ticker must tick for maintenance: the
// next run, or now when none is scheduled yet (the first tick schedules
// it). An engine that never applied a command has no time yet.
func (e *Engine) maintenanceDeadline() int64 {
	ms := e.st.Maintenance
	if e.st.Clock == 0 {
		return 0
	}
	if ms.Next == 0 || ms.For != e.st.Config.Settings.MaintenanceTime {
		return e.st.Clock
	}
	return ms.Next
}

// maintain runs at each clock.tick: it schedules the next maintenance
// and, when one is due, prunes the call histories older than the contacts
// retention and emits EvMaintenance.
func (e *Engine) maintain() {
	st := e.st.Config.Settings
	ms := &e.st.Maintenance
	if ms.Next == 0 || ms.For != st.MaintenanceTime {
		ms.Next, ms.For = nextMaintenance(e.now, st.MaintenanceTime), st.MaintenanceTime
		return
	}
	if e.now < ms.Next {
		return
	}
	r := st.Retention
	cutoff := e.now - int64(r.ContactsDays)*int64(24*time.Hour)
	pruned := 0
	for _, id := range sortedKeys(e.st.Agents) {
		pruned += e.st.Agents[id].pruneHistory(cutoff)
	}
	e.pruneCallbacks(cutoff)
	e.pruneChats(e.now - int64(r.TranscriptsDays)*int64(24*time.Hour))
	ms.Last = e.now
	ms.Next = nextMaintenance(e.now, st.MaintenanceTime)
	e.emit(EvMaintenance, MaintenanceEvent{At: e.now, ContactsDays: r.ContactsDays, EventsDays: r.EventsDays,
		TranscriptsDays: r.TranscriptsDays, HistoryPruned: pruned, MailPruned: e.pruneMail()})
}

// shortText is at most 32 runes of s, for error messages.
func shortText(s string) string {
	if utf8.RuneCountInString(s) <= 32 {
		return s
	}
	r := []rune(s)
	return string(r[:32]) + "…"
}
