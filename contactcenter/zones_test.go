package contactcenter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// noZoneDatabase makes every zone database unreachable for the test:
// $ZONEINFO an empty directory, no system directory, and legacyZone (the
// only path of Apply that may read one, for old logs) counting its calls
// and failing. It returns the count.
func noZoneDatabase(t *testing.T) *int {
	t.Helper()
	t.Setenv("ZONEINFO", t.TempDir())
	dirs, legacy := ZoneDirs, legacyZone
	calls := new(int)
	ZoneDirs = nil
	legacyZone = func(name string) (*time.Location, error) {
		*calls++
		return nil, errors.New("the zone database was read during apply")
	}
	t.Cleanup(func() { ZoneDirs, legacyZone = dirs, legacy })
	return calls
}

// Apply never reads the zone database: a configuration resolved at the
// edge (ResolveZones) applies, judges callbacks in its zone, survives a
// snapshot and a replay of its log, with no database reachable — even
// under a zone name no database has.
func TestApplyReadsNoZoneDatabase(t *testing.T) {
	d, err := ParseDocument([]byte(cbDoc))
	if err != nil {
		t.Fatal(err)
	}
	if err := ResolveZones(&d); err != nil { // the edge, with the system's database
		t.Fatal(err)
	}
	if len(d.Callbacks.ZoneData) == 0 {
		t.Fatal("no zone data resolved")
	}
	madridData := d.Callbacks.ZoneData
	calls := noZoneDatabase(t)
	if _, err := ZoneData("Europe/Madrid"); err == nil {
		t.Fatal("a zone database is still reachable: the test would prove nothing")
	}

	h := newHarness(t, baseDoc)
	h.ok(TypeConfigApply, ApplyRequest{Document: d})
	// 08:59 Madrid on Monday is closed, 09:00 open (t0 is 10:00 there).
	at := func(hh, mm int) CallbackCreateRequest {
		p := baseCB("cb-" + time.Date(2025, 3, 3, hh, mm, 0, 0, madrid).Format("1504"))
		s := time.Date(2025, 3, 4, hh, mm, 0, 0, madrid)
		p.Schedule = []CallbackWindow{win(s, s.Add(time.Minute))}
		return p
	}
	if _, err := h.apply(TypeCallbackCreate, at(8, 58)); cbCode(err) != CodeOutsideSchedule {
		t.Fatalf("08:58 Madrid: %v", err)
	}
	h.ok(TypeCallbackCreate, at(9, 0))

	// Snapshot and restore; replay of the whole log into a new engine.
	r := restored(t, h.e)
	if r.Hash() != h.e.Hash() {
		t.Fatal("restored state differs")
	}
	h2 := newHarness(t, "")
	h2.check = false
	for _, env := range h.log {
		h2.applyEnv(env)
	}
	if h2.e.Hash() != h.e.Hash() {
		t.Fatal("replayed state differs")
	}

	// A name no database has, with Madrid's rules: Apply uses the rules.
	h3 := newHarness(t, baseDoc)
	cb := *d.Callbacks
	cb.TimeZone, cb.ZoneData = "Tandem/Nowhere", madridData
	h3.ok(TypeConfigApply, ApplyRequest{Document: Document{Callbacks: &cb}})
	if _, err := h3.apply(TypeCallbackCreate, at(8, 58)); cbCode(err) != CodeOutsideSchedule {
		t.Fatalf("08:58 under Tandem/Nowhere: %v", err)
	}
	if *calls != 0 {
		t.Fatalf("Apply read the zone database %d times", *calls)
	}
	// The document shown back has no rules; events carry none.
	var shown Document
	h3.e.View(func(s *State) { shown = s.Config.Document() })
	if shown.Callbacks == nil || shown.Callbacks.ZoneData != nil {
		t.Fatalf("document %+v", shown.Callbacks)
	}
}

// A config.apply logged before commands carried zone rules (no
// zone_data) still applies the same, through legacyZone, and a snapshot
// of that time still restores.
func TestOldZoneCommandsRestore(t *testing.T) {
	old := `{"document":{"callbacks":{"time_zone":"Europe/Madrid","hours":{"monday":["09:00-13:00"],"tuesday":["09:00-13:00"]}}}}`
	h := newHarness(t, baseDoc)
	h.ok(TypeConfigApply, old)
	p := baseCB("cb-1")
	s := time.Date(2025, 3, 4, 8, 0, 0, 0, madrid)
	p.Schedule = []CallbackWindow{win(s, s.Add(30*time.Minute))}
	if _, err := h.apply(TypeCallbackCreate, p); cbCode(err) != CodeOutsideSchedule {
		t.Fatalf("08:00 Madrid under the old command: %v", err)
	}
	snap, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), "zone_data") {
		t.Fatal("an old command grew zone data")
	}
	r := New()
	if err := r.Restore(snap); err != nil || r.Hash() != h.e.Hash() {
		t.Fatalf("restore: %v", err)
	}
}

// The zone rules a command carries are checked like the rest of it.
func TestZoneDataChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		cb   CallbackSettings
	}{
		{"not TZif", CallbackSettings{TimeZone: "Europe/Madrid", ZoneData: []byte("not a zone")}},
		{"rules without a zone", CallbackSettings{ZoneData: []byte("TZif")}},
		{"too large", CallbackSettings{TimeZone: "Europe/Madrid", ZoneData: make([]byte, MaxZoneDataBytes+1)}},
		{"a path", CallbackSettings{TimeZone: "../../etc/passwd", ZoneData: []byte("TZif")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			cb := tc.cb
			err := h.fail(TypeConfigApply, ApplyRequest{Document: Document{Callbacks: &cb}}, nil)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "callbacks.time_zone" {
				t.Fatalf("%v", err)
			}
		})
	}
	for _, name := range []string{"Mars/Olympus", "../etc/passwd", "/etc/localtime", "Local"} {
		d := Document{Callbacks: &CallbackSettings{TimeZone: name}}
		var fe *FieldError
		if err := ResolveZones(&d); !errors.As(err, &fe) || fe.Field != "callbacks.time_zone" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// $ZONEINFO as a directory is read first.
	dir := t.TempDir()
	b, err := ZoneData("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "Tandem"), 0o755)
	os.WriteFile(filepath.Join(dir, "Tandem", "Here"), b, 0o644)
	t.Setenv("ZONEINFO", dir)
	if got, err := ZoneData("Tandem/Here"); err != nil || string(got) != string(b) {
		t.Fatalf("from $ZONEINFO: %v", err)
	}
}
