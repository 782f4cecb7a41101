package replication

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAlarmsTable(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	both := map[string]float64{"reporting": 0, "standby": 0}
	type step struct {
		at       time.Duration
		total    float64
		pending  map[string]float64
		want     bool
		severity string
		stop     []string
	}
	tests := []struct {
		name       string
		configured int
		steps      []step
	}{
		{"below 50 says nothing", 2, []step{
			{0, 10, both, false, "", nil},
			{time.Hour, 49.9, both, false, "", nil},
		}},
		{"50 % errors every hour", 1, []step{
			{0, 50, map[string]float64{"reporting": 50}, true, "error", nil},
			{59 * time.Minute, 55, map[string]float64{"reporting": 55}, false, "", nil},
			{60 * time.Minute, 56, map[string]float64{"reporting": 56}, true, "error", nil},
			{90 * time.Minute, 57, map[string]float64{"reporting": 57}, false, "", nil},
			{120 * time.Minute, 58, map[string]float64{"reporting": 58}, true, "error", nil},
		}},
		{"75 % errors every 15 minutes; single type is not stopped", 1, []step{
			{0, 76, map[string]float64{"reporting": 76}, true, "error", nil},
			{14 * time.Minute, 77, map[string]float64{"reporting": 77}, false, "", nil},
			{15 * time.Minute, 78, map[string]float64{"reporting": 78}, true, "error", nil},
		}},
		{"75 % stops the only type filling", 2, []step{
			{0, 80, map[string]float64{"reporting": 80, "standby": 3}, true, "error", []string{"reporting"}},
		}},
		{"75 % with both filling stops neither", 2, []step{
			{0, 80, map[string]float64{"reporting": 80, "standby": 78}, true, "error", nil},
		}},
		{"95 % warns every 15 minutes and stops all", 2, []step{
			{0, 95, map[string]float64{"reporting": 95, "standby": 90}, true, "warning", []string{"reporting", "standby"}},
			{10 * time.Minute, 96, map[string]float64{}, false, "", nil},
			{15 * time.Minute, 96, map[string]float64{}, true, "warning", nil},
		}},
		{"rising level speaks at once", 1, []step{
			{0, 50, map[string]float64{"reporting": 50}, true, "error", nil},
			{time.Minute, 75, map[string]float64{"reporting": 75}, true, "error", nil},
			{2 * time.Minute, 95, map[string]float64{"reporting": 95}, true, "warning", []string{"reporting"}},
		}},
		{"back below 50 clears once", 1, []step{
			{0, 60, map[string]float64{"reporting": 60}, true, "error", nil},
			{time.Minute, 20, map[string]float64{"reporting": 20}, true, "info", nil},
			{2 * time.Minute, 20, map[string]float64{"reporting": 20}, false, "", nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a Alarms
			for i, s := range tc.steps {
				al, ok := a.Evaluate(t0.Add(s.at), s.total, s.pending, tc.configured, nil)
				if ok != s.want {
					t.Fatalf("step %d: alarm=%v, want %v (%+v)", i, ok, s.want, al)
				}
				if !ok {
					continue
				}
				if al.Severity != s.severity {
					t.Errorf("step %d: severity %q, want %q", i, al.Severity, s.severity)
				}
				if len(al.Stop) != len(s.stop) {
					t.Fatalf("step %d: stop %v, want %v", i, al.Stop, s.stop)
				}
				for j := range s.stop {
					if al.Stop[j] != s.stop[j] {
						t.Errorf("step %d: stop %v, want %v", i, al.Stop, s.stop)
					}
				}
				if al.Message == "" {
					t.Errorf("step %d: empty message", i)
				}
			}
		})
	}
}

func TestLevelOf(t *testing.T) {
	for _, tc := range []struct {
		p    float64
		want Level
	}{{0, LevelNormal}, {49.99, LevelNormal}, {50, Level50}, {74.9, Level50}, {75, Level75}, {94.9, Level75}, {95, Level95}, {100, Level95}} {
		if got := LevelOf(tc.p); got != tc.want {
			t.Errorf("LevelOf(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

// After the 95 % rule stopped replication, the fill drops (a stopped
// target holds no space) but the warning keeps repeating every 15 minutes
// while the target stays auto-stopped; the level clears only once it is
// restarted.
func TestAlarmsRepeatWhileAutoStoppedAt95(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	held := []string{"reporting"}
	steps := []struct {
		at       time.Duration
		total    float64
		held     []string
		want     bool
		severity string
		level    Level
	}{
		{0, 96, nil, true, "warning", Level95}, // stops reporting
		{time.Second, 0, held, false, "", Level95},
		{14 * time.Minute, 0, held, false, "", Level95},
		{15 * time.Minute, 0, held, true, "warning", Level95},
		{29 * time.Minute, 10, held, false, "", Level95},
		{30 * time.Minute, 10, held, true, "warning", Level95},
		{31 * time.Minute, 0, nil, true, "info", LevelNormal}, // restarted by hand
		{50 * time.Minute, 0, nil, false, "", LevelNormal},
	}
	var a Alarms
	for i, s := range steps {
		pending := map[string]float64{}
		if s.held == nil {
			pending["reporting"] = s.total
		}
		al, ok := a.Evaluate(t0.Add(s.at), s.total, pending, 1, s.held)
		if ok != s.want || a.Level() != s.level {
			t.Fatalf("step %d: alarm=%v level %v, want %v level %v (%+v)", i, ok, a.Level(), s.want, s.level, al)
		}
		if !ok {
			continue
		}
		if al.Severity != s.severity {
			t.Fatalf("step %d: severity %q, want %q", i, al.Severity, s.severity)
		}
		if s.held != nil && (!strings.Contains(al.Message, "reporting replication auto-stopped at 95%") || len(al.Stop) != 0) {
			t.Fatalf("step %d: repeated warning %+v", i, al)
		}
	}
}

func TestLevelJSONIsTheStatusString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		err  bool
	}{
		{`"95"`, Level95, false}, {`"normal"`, LevelNormal, false}, {`2`, Level75, false},
		{`"96"`, 0, true}, {`7`, 0, true},
	} {
		var l Level
		err := json.Unmarshal([]byte(tc.in), &l)
		if (err != nil) != tc.err || (!tc.err && l != tc.want) {
			t.Errorf("Unmarshal(%s) = %v, %v", tc.in, l, err)
		}
	}
	b, _ := json.Marshal(Alarm{Level: Level75})
	if !strings.Contains(string(b), `"level":"75"`) {
		t.Errorf("alarm JSON %s: level is not the string form", b)
	}
}
