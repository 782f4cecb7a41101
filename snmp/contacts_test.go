package snmp

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
)

func TestContactWindow(t *testing.T) {
	var w ContactWindow
	for _, d := range []time.Duration{
		-10 * time.Second, -59 * time.Minute, // the last hour
		-61 * time.Minute, -23 * time.Hour, // the day
		-25 * time.Hour,  // too old
		30 * time.Second, // a leader's clock a little ahead
		10 * time.Minute, // far ahead: not counted until it is due
	} {
		w.Add(testNow.Add(d))
	}
	for _, tc := range []struct {
		at        time.Duration
		hour, day int
	}{
		{0, 3, 5},
		{2 * time.Minute, 2, 5},
		{10 * time.Minute, 3, 6},
		{23*time.Hour + 30*time.Minute, 0, 3},
		{48 * time.Hour, 0, 0},
	} {
		if h, d := w.Counts(testNow.Add(tc.at)); h != tc.hour || d != tc.day {
			t.Errorf("at %v: hour %d day %d, want %d %d", tc.at, h, d, tc.hour, tc.day)
		}
	}
	// A bucket reused a day later (the one of +30 s) starts again from
	// zero; the one of +10 min is still within the day.
	w.Add(testNow.Add(24 * time.Hour))
	if h, d := w.Counts(testNow.Add(24 * time.Hour)); h != 1 || d != 2 {
		t.Errorf("a day later: %d %d", h, d)
	}
}

type fakeContacts ContactCounts

func (f fakeContacts) ContactCounts(time.Time) ContactCounts { return ContactCounts(f) }

type fakeBackups BackupStatus

func (f fakeBackups) BackupStatus() BackupStatus { return BackupStatus(f) }

// TestContactsAndBackupsServed: voice from the engine's events and calls,
// the other media from their channels, backups from the backup package.
func TestContactsAndBackupsServed(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	ended := func(at time.Time, reason string) command.Event {
		b, _ := json.Marshal(contactcenter.CallEndedEvent{Call: "c", Reason: reason})
		return command.Event{Type: contactcenter.EvCallEnded, Time: at.UnixNano(), Data: b}
	}
	a.ContactEvents().Publish([]command.Event{
		ended(testNow.Add(-time.Minute), "hangup"),
		ended(testNow.Add(-2*time.Hour), "abandoned"),
		ended(testNow.Add(-time.Minute), "merged"), // goes on as another call
		{Type: contactcenter.EvCallEnded, Time: testNow.UnixNano(), // an e-mail contact: the mail channel counts it
			Data: []byte(`{"call":"mail-1-1","reason":"hangup","place":"line","medium":"email","duration_ms":1}`)},
		{Type: contactcenter.EvCallAnswered, Time: testNow.UnixNano()},
		// a web chat's call: the web edge counts it (Sources.Chat)
		{Type: contactcenter.EvChatCreated, Time: testNow.UnixNano(), Data: []byte(`{"chat":"s1","queue":"q","status":"queued"}`)},
		{Type: contactcenter.EvCallEnded, Time: testNow.UnixNano(), Data: []byte(`{"call":"s1","reason":"hangup","place":"line","duration_ms":1}`)},
	})
	src.Chat = fakeContacts{Current: 4, LastHour: 9, LastDay: 30, Accepted: 7, Refused: 3}
	src.Backups = fakeBackups{
		Full:        BackupRun{At: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)},
		Incremental: BackupRun{At: time.Date(2026, 12, 1, 9, 30, 15, 0, time.FixedZone("CET", 3600)), Failed: true, Error: "disk full"},
	}
	for _, tc := range []struct {
		name string
		oid  string
		want any
	}{
		{"voice current", oidOf(t, a, "tandemContactEntry", 3, MediumVoice), uint(2)},
		{"voice last hour", oidOf(t, a, "tandemContactEntry", 4, MediumVoice), uint(1)},
		{"voice last day", oidOf(t, a, "tandemContactEntry", 5, MediumVoice), uint(2)},
		{"chat counted", oidOf(t, a, "tandemContactEntry", 2, MediumChat), 1},
		{"chat current", oidOf(t, a, "tandemContactEntry", 3, MediumChat), uint(4)},
		{"chat last day", oidOf(t, a, "tandemContactEntry", 5, MediumChat), uint(30)},
		{"chat requests accepted", oidOf(t, a, "tandemContactEntry", 6, MediumChat), uint(7)},
		{"chat requests refused", oidOf(t, a, "tandemContactEntry", 7, MediumChat), uint(3)},
		{"voice requests", oidOf(t, a, "tandemContactEntry", 6, MediumVoice), uint(0)},
		{"e-mail not counted", oidOf(t, a, "tandemContactEntry", 2, MediumEmail), 2},
		{"full ok", oidOf(t, a, "tandemBackupEntry", 3, 1), 2},
		{"full time", oidOf(t, a, "tandemBackupEntry", 2, 1), string([]byte{0x07, 0xea, 12, 1, 2, 0, 0, 0, '+', 0, 0})},
		{"incremental failed", oidOf(t, a, "tandemBackupEntry", 3, 2), 3},
		{"incremental time in UTC", oidOf(t, a, "tandemBackupEntry", 2, 2), string([]byte{0x07, 0xea, 12, 1, 8, 30, 15, 0, '+', 0, 0})},
		{"incremental error", oidOf(t, a, "tandemBackupEntry", 4, 2), "disk full"},
	} {
		p := ask(t, a, src, gosnmp.GetRequest, 0, 0, tc.oid)
		got := p.Variables[0].Value
		if b, ok := got.([]byte); ok {
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("%s: %#v, want %#v", tc.name, got, tc.want)
		}
	}
}
