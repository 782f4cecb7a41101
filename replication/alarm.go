package replication

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Level is a fill level of the replication buffer (replication.md, "Fill
// alarms").
type Level int

// Fill levels.
const (
	LevelNormal Level = iota // below 50 %
	Level50                  // ≥ 50 %: error every hour
	Level75                  // ≥ 75 %: error every 15 min; stop the one target filling the buffer
	Level95                  // ≥ 95 %: warning every 15 min; stop all replication
)

// LevelOf returns the level of a fill percentage.
func LevelOf(percent float64) Level {
	switch {
	case percent >= 95:
		return Level95
	case percent >= 75:
		return Level75
	case percent >= 50:
		return Level50
	}
	return LevelNormal
}

func (l Level) String() string {
	if l < LevelNormal || l > Level95 {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return [...]string{"normal", "50", "75", "95"}[l]
}

// MarshalJSON writes the level as status's alarm_level does: "normal",
// "50", "75" or "95".
func (l Level) MarshalJSON() ([]byte, error) { return json.Marshal(l.String()) }

// UnmarshalJSON reads the string form (and, from older files, a number).
func (l *Level) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int
		if nerr := json.Unmarshal(b, &n); nerr != nil || n < int(LevelNormal) || n > int(Level95) {
			return fmt.Errorf("alarm level %s: want \"normal\", \"50\", \"75\" or \"95\"", b)
		}
		*l = Level(n)
		return nil
	}
	for v := LevelNormal; v <= Level95; v++ {
		if v.String() == s {
			*l = v
			return nil
		}
	}
	return fmt.Errorf("alarm level %q: want normal, 50, 75 or 95", s)
}

// period is how often a level repeats its message.
func (l Level) period() time.Duration {
	switch l {
	case Level50:
		return time.Hour
	case Level75, Level95:
		return 15 * time.Minute
	}
	return 0
}

// Alarm is one fill message: a log line, an SNMP trap and a status field.
type Alarm struct {
	Time     time.Time `json:"time"`
	Level    Level     `json:"level"`
	Percent  float64   `json:"percent"`
	Severity string    `json:"severity"` // "error", "warning" or "info" (cleared)
	Message  string    `json:"message"`
	// Stop lists the targets this alarm stops automatically.
	Stop []string `json:"stop,omitempty"`
}

// Alarms applies the fill-alarm table. It is pure: the caller passes the
// time and the fills, so the rules are tested with an injected clock.
type Alarms struct {
	level Level
	last  time.Time // when the current level last produced a message
}

// Evaluate returns the message due at now, if any. total is the buffer's
// fill (the share of its capacity held for the target furthest behind);
// pending is the share each running target (active or suspended) still
// needs; configured counts the replication types configured on the node.
//
// At ≥ 75 %, "only one of them is filling the buffer" means exactly one
// running target needs 75 % or more while another configured target does
// not: that one is stopped and the other keeps delivering. When both are
// behind, neither is singled out and the 95 % rule stops both.
//
// held names the targets the 95 % rule auto-stopped that are still
// auto-stopped: stopping them released their space, but the condition
// holds until an administrator restarts them, so the level stays at 95 %
// and its warning repeats every 15 minutes, naming them.
func (a *Alarms) Evaluate(now time.Time, total float64, pending map[string]float64, configured int, held []string) (Alarm, bool) {
	lvl := LevelOf(total)
	holding := len(held) > 0 && lvl < Level95
	if holding {
		lvl = Level95
	}
	changed := lvl != a.level
	a.level = lvl
	if lvl == LevelNormal {
		if changed {
			a.last = now
			return Alarm{Time: now, Level: lvl, Percent: total, Severity: "info",
				Message: fmt.Sprintf("replication buffer back to %.1f%% used (below 50%%)", total)}, true
		}
		return Alarm{}, false
	}
	if !changed && now.Sub(a.last) < lvl.period() {
		return Alarm{}, false
	}
	a.last = now
	al := Alarm{Time: now, Level: lvl, Percent: total, Severity: "error"}
	switch lvl {
	case Level50:
		al.Message = fmt.Sprintf("replication buffer %.1f%% used", total)
	case Level75:
		al.Message = fmt.Sprintf("replication buffer %.1f%% used", total)
		var filling []string
		for t, p := range pending {
			if p >= 75 {
				filling = append(filling, t)
			}
		}
		if configured >= 2 && len(filling) == 1 {
			al.Stop = filling
			al.Message += fmt.Sprintf("; stopping %s replication, the only one filling the buffer", filling[0])
		}
	case Level95:
		al.Severity = "warning"
		al.Message = fmt.Sprintf("replication buffer %.1f%% used", total)
		if holding {
			names := append([]string(nil), held...)
			sort.Strings(names)
			al.Message += fmt.Sprintf("; %s replication auto-stopped at 95%%: shut it down and restart it by hand after fixing the cause",
				strings.Join(names, " and "))
			return al, true
		}
		for t := range pending {
			al.Stop = append(al.Stop, t)
		}
		sort.Strings(al.Stop)
		if len(al.Stop) > 0 {
			al.Message += "; stopping all replication on this node"
		}
	}
	return al, true
}

// Level returns the level of the last evaluation.
func (a *Alarms) Level() Level { return a.level }
