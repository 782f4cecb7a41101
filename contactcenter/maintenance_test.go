package contactcenter

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDailyMaintenance: the first tick schedules the maintenance at the
// configured time (UTC); a tick at it prunes the call histories older than
// the contacts retention and emits EvMaintenance with the periods, once;
// a changed maintenance time reschedules it. Time is injected, never slept.
func TestDailyMaintenance(t *testing.T) {
	h := talking(t, "c")
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	a := h.e.st.Agents["a1"]
	if len(a.History) == 0 {
		t.Fatal("no call history to prune")
	}
	h.ok(TypeConfigApply, ApplyRequest{Document: Document{Settings: &Settings{
		Retention: Retention{ContactsDays: 2, EventsDays: 30}, MaintenanceTime: "04:30"}}})
	h.tick()
	at, ok := h.e.NextDeadline()
	next := time.Unix(0, at).UTC()
	if !ok || next.Format("15:04") != "04:30" || !next.After(h.now) || next.Sub(h.now) > 24*time.Hour {
		t.Fatalf("next maintenance %v (now %v)", next, h.now)
	}
	// One nanosecond early: nothing.
	h.now = time.Unix(0, at-1)
	h.tick()
	if h.hasEvent(EvMaintenance) {
		t.Fatal("maintenance ran early")
	}
	// At the time, one day later: the history is kept (2 days).
	h.now = time.Unix(0, at)
	h.tick()
	if !h.hasEvent(EvMaintenance) || len(h.e.st.Agents["a1"].History) == 0 {
		t.Fatalf("first run: %v, history %d", h.types(), len(h.e.st.Agents["a1"].History))
	}
	var ev MaintenanceEvent
	for _, e := range h.events {
		if e.Type == EvMaintenance {
			json.Unmarshal(e.Data, &ev)
		}
	}
	if ev.ContactsDays != 2 || ev.EventsDays != 30 || ev.HistoryPruned != 0 || ev.TranscriptsDays != DefaultTranscriptsDays {
		t.Fatalf("maintenance event %+v", ev)
	}
	// Two days on, the entries are older than the retention: pruned.
	for range 2 {
		at, _ = h.e.NextDeadline()
		h.now = time.Unix(0, at)
		h.tick()
	}
	if n := len(h.e.st.Agents["a1"].History); n != 0 {
		t.Fatalf("history after its retention: %d entries", n)
	}
	// A new time reschedules.
	h.ok(TypeConfigApply, ApplyRequest{Document: Document{Settings: &Settings{
		Retention: Retention{ContactsDays: 2, EventsDays: 30}, MaintenanceTime: "23:15"}}})
	h.tick()
	if at, _ := h.e.NextDeadline(); time.Unix(0, at).UTC().Format("15:04") != "23:15" {
		t.Fatalf("after changing the time: next %v", time.Unix(0, at).UTC())
	}
	if err := h.e.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestMaintenanceSettingsRefused(t *testing.T) {
	for _, st := range []Settings{
		{MaintenanceTime: "25:00"}, {MaintenanceTime: "3:00"}, {Retention: Retention{EventsDays: MaxRetentionDays + 1}},
		{Retention: Retention{ContactsDays: -1}},
	} {
		if err := (Document{Settings: &st}).Validate(); err == nil {
			t.Errorf("settings %+v accepted", st)
		}
	}
}
