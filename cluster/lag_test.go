package cluster

import (
	"reflect"
	"testing"
	"time"
)

func TestLagWatch(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type report struct {
		sec     int
		applied uint64
	}
	// This node's commit index: 10 at second 0, 20 at second 1, ... 120
	// at second 11.
	var commits []uint64
	for i := 0; i <= 11; i++ {
		commits = append(commits, uint64(10*(i+1)))
	}
	tests := []struct {
		name    string
		reports []report // what member "b" reported, and when
		up      bool
		want    bool // b lagging after the last report
	}{
		{"caught up", []report{{6, 70}, {11, 120}}, true, false},
		{"behind the last commits only", []report{{6, 20}, {11, 70}}, true, false},
		{"behind what was committed 5 s before, for 5 s", []report{{6, 19}, {8, 30}, {11, 69}}, true, true},
		{"behind for less than 5 s (a restart's replay)", []report{{8, 20}, {11, 69}}, true, false},
		{"behind with a break", []report{{6, 19}, {8, 40}, {11, 69}}, true, false},
		{"not yet 5 s of samples", []report{{2, 0}, {4, 0}}, true, false},
		{"down: not lagging", []report{{6, 5}, {11, 5}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLagWatch()
			last := tt.reports[len(tt.reports)-1].sec
			for i := 0; i <= last; i++ {
				l.noteCommit(at(i), commits[i])
			}
			var changes []lagChange
			for _, r := range tt.reports {
				l.noteApplied("b", at(r.sec), r.applied)
				changes = append(changes, l.judge(at(r.sec), map[string]bool{"b": tt.up})...)
			}
			if got := len(l.lagging()) == 1; got != tt.want {
				t.Fatalf("lagging %v, want %v (changes %+v)", got, tt.want, changes)
			}
			if !tt.want {
				return
			}
			if want := commits[last-5]; len(changes) != 1 || !changes[0].lagging || changes[0].commit != want {
				t.Errorf("changes %+v, want b lagging behind %d", changes, want)
			}
		})
	}
}

// TestLagWatchRecovers: a lagging member is reported once when it starts
// and once when it catches up; a member that goes down is forgotten.
func TestLagWatchRecovers(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	l := newLagWatch()
	for i := 0; i <= 20; i++ {
		l.noteCommit(sec(i), uint64(100*i))
	}
	up := map[string]bool{"b": true, "c": true}
	report := func(s int, b uint64) []lagChange {
		l.noteApplied("b", sec(s), b)
		l.noteApplied("c", sec(s), uint64(100*s)) // current
		return l.judge(sec(s), up)
	}
	if got := report(8, 50); len(got) != 0 { // behind 300, not yet for long
		t.Fatalf("first judgement %+v", got)
	}
	if got := report(13, 50); !reflect.DeepEqual(got, []lagChange{{id: "b", lagging: true, applied: 50, commit: 800}}) {
		t.Fatalf("behind for 5 s: %+v", got)
	}
	if got := report(14, 60); len(got) != 0 {
		t.Fatalf("a second judgement reported again: %+v", got)
	}
	if applied, since := l.member("b"); applied != 60 || !since.Equal(sec(13)) {
		t.Errorf("member b: applied %d since %v", applied, since)
	}
	if got := report(15, 1500); !reflect.DeepEqual(got, []lagChange{{id: "b", applied: 1500}}) {
		t.Fatalf("catching up: %+v", got)
	}
	if got := l.lagging(); len(got) != 0 {
		t.Errorf("still lagging: %v", got)
	}
	report(16, 1)
	if got := report(20, 1); len(got) != 0 { // behind again, for 4 s only
		t.Fatalf("lagging again too soon: %+v", got)
	}
	if got := report(20, 1); len(got) != 0 {
		t.Fatalf("%+v", got)
	}
	l.noteApplied("b", sec(21), 1)
	if got := l.judge(sec(21), up); len(got) != 1 || !got[0].lagging {
		t.Fatalf("lagging again: %+v", got)
	}
	if got := l.judge(sec(21), map[string]bool{"c": true}); len(got) != 0 { // b down
		t.Errorf("a member that went down reported as %+v", got)
	}
	if applied, _ := l.member("b"); applied != 0 || len(l.lagging()) != 0 {
		t.Errorf("a member down is still judged: applied %d, lagging %v", applied, l.lagging())
	}
}
