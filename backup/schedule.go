package backup

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a cron expression (robfig/cron/v3's standard syntax: five
// fields or a descriptor such as @daily) read on the wall clock of a time
// zone.
//
// robfig/cron's own runner is not used: it reads time.Now and real
// timers (no clock to inject), skips jobs that fall in a spring-forward
// gap and needs wrappers to survive panics (libraries.md). Only its
// parser and Schedule.Next are, evaluated on wall-clock times in UTC (no
// DST there) and mapped to the zone by Next, so that every wall-clock
// time the expression names is due exactly once.
type Schedule struct {
	spec string
	loc  *time.Location
	s    cron.Schedule
}

// ParseSchedule parses a cron expression for the zone loc.
func ParseSchedule(spec string, loc *time.Location) (*Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("%q: give the time zone with --backup-timezone, not in the expression", spec)
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression (minute hour day-of-month month day-of-week, or @daily…): %v", spec, err)
	}
	if loc == nil {
		loc = time.Local
	}
	sc := &Schedule{spec: spec, loc: loc, s: s}
	if sc.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("%q is never due", spec)
	}
	return sc, nil
}

// String is the expression.
func (s *Schedule) String() string { return s.spec }

// Next is the first time after t at which the schedule is due, or the
// zero time if never. A wall-clock time a spring-forward change skips is
// due at the same distance after the gap's start (02:30 is 03:30 when
// 02:00 jumps to 03:00); a time a fall-back change repeats is due once,
// at its second occurrence (standard time).
func (s *Schedule) Next(t time.Time) time.Time {
	lt := t.In(s.loc)
	wall := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), time.UTC)
	for i := 0; i < 1000; i++ {
		wall = s.s.Next(wall)
		if wall.IsZero() {
			return time.Time{}
		}
		at := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, s.loc)
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// dueBetween counts the times the schedule was due in (from, to], and
// the last of them, looking at most at limit of them.
func (s *Schedule) dueBetween(from, to time.Time, limit int) (n int, last time.Time) {
	for t := s.Next(from); !t.IsZero() && !t.After(to) && n < limit; t = s.Next(t) {
		n, last = n+1, t
	}
	return n, last
}

// Clock is the time a Manager reads and waits on; tests inject one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
