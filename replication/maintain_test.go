package replication

import (
	"reflect"
	"testing"
	"time"
)

// TestMaintainAppliesTheClusterRetention: with the cluster's retention
// configured (Config.Retention), the hourly prune leaves the archive to
// the daily maintenance, which removes the months older than the period
// it announces; a reporting sync compares against the same period.
func TestMaintainAppliesTheClusterRetention(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)}
	days := 30
	m := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: newHist()}, func(c *Config) {
		c.Retention = func() time.Duration { return time.Duration(days) * 24 * time.Hour }
	})
	m.Publish(datedEvents(1, 5, time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC)))
	m.Publish(datedEvents(6, 5, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)))
	m.Publish(datedEvents(11, 5, clk.now()))
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	m.Tick(clk.now()) // would prune by HistoryRetention (396 days): nothing anyway
	if got := m.Status().Archive.Months; len(got) != 3 {
		t.Fatalf("months before maintenance: %v", got)
	}
	if m.retention() != 30*24*time.Hour {
		t.Fatalf("sync compares against %v, want the cluster's 30 days", m.retention())
	}
	m.Maintain(clk.now(), time.Duration(days)*24*time.Hour)
	if got, want := m.Status().Archive.Months, []string{"2026-11", "2026-12"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("months after maintenance with 30 days: %v, want %v", got, want)
	}
}
