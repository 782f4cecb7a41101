package contactcenter

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // legacyZone: an old log restores on a system without a zone database
)

// CallbackSettings is the callback routing schedule of the contact
// center (document key `callbacks`): when callbacks may be made — opening
// hours per weekday and holidays, in the center's time zone — which
// queues take web callbacks, and how unanswered attempts are retried.
// Absent, the center calls back at any time (UTC), into any queue, with
// the default retries.
type CallbackSettings struct {
	// TimeZone is an IANA zone name ("Europe/Madrid"); empty is UTC.
	TimeZone string `yaml:"time_zone" json:"time_zone,omitempty"`
	// ZoneData is TimeZone's rules (TZif, as in the zone database),
	// read at the edge that proposes the configuration (ResolveZones) so
	// that Apply never reads the zone database: every node judges with
	// the same rules, the leader's edge's. Not in YAML; not shown by
	// Config.Document. Absent in commands logged before it existed
	// (legacyZone).
	ZoneData []byte `yaml:"-" json:"zone_data,omitempty"`
	// Hours are the opening hours per weekday, each day a list of
	// "HH:MM-HH:MM" ranges (end "24:00" for midnight). Absent: open
	// every day all day; present: a day not listed is closed.
	Hours *WeeklyHours `yaml:"hours" json:"hours,omitempty"`
	// Holidays are closed dates, "YYYY-MM-DD" in the center's zone.
	Holidays []string `yaml:"holidays" json:"holidays,omitempty"`
	// Queues are the queues that take web callbacks; empty: every queue.
	Queues []string `yaml:"queues" json:"queues,omitempty"`
	// MaxAttempts is how many times a callback is tried before it fails
	// (1-20, default DefaultCallbackAttempts); RetryIntervalSeconds how
	// long after an unanswered attempt the next may start (10-86400,
	// default DefaultCallbackRetrySeconds).
	MaxAttempts          int `yaml:"max_attempts" json:"max_attempts,omitempty"`
	RetryIntervalSeconds int `yaml:"retry_interval_seconds" json:"retry_interval_seconds,omitempty"`
}

// WeeklyHours are opening hours per weekday.
type WeeklyHours struct {
	Monday    []string `yaml:"monday" json:"monday,omitempty"`
	Tuesday   []string `yaml:"tuesday" json:"tuesday,omitempty"`
	Wednesday []string `yaml:"wednesday" json:"wednesday,omitempty"`
	Thursday  []string `yaml:"thursday" json:"thursday,omitempty"`
	Friday    []string `yaml:"friday" json:"friday,omitempty"`
	Saturday  []string `yaml:"saturday" json:"saturday,omitempty"`
	Sunday    []string `yaml:"sunday" json:"sunday,omitempty"`
}

// Defaults and limits of the callback settings.
const (
	DefaultCallbackAttempts     = 3
	DefaultCallbackRetrySeconds = 300
	MaxCallbackAttempts         = 20
	MaxCallbackHolidays         = 1000
	maxRangesPerDay             = 12
)

// days lists the weekdays' ranges indexed by time.Weekday (Sunday = 0).
func (h *WeeklyHours) days() [7][]string {
	return [7][]string{h.Sunday, h.Monday, h.Tuesday, h.Wednesday, h.Thursday, h.Friday, h.Saturday}
}

var weekdayNames = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// withDefaults fills the zero fields.
func (s CallbackSettings) withDefaults() CallbackSettings {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultCallbackAttempts
	}
	if s.RetryIntervalSeconds == 0 {
		s.RetryIntervalSeconds = DefaultCallbackRetrySeconds
	}
	return s
}

// MaxZoneDataBytes bounds a zone's TZif data (the largest zone of the
// database is under 4 KiB).
const MaxZoneDataBytes = 64 << 10

// checkZoneName refuses what is not an IANA zone name (a path, "Local").
func checkZoneName(name string) error {
	if name == "" || strings.ContainsAny(name, " .\\") || strings.HasPrefix(name, "/") || name == "Local" || len(name) > 64 {
		return fmt.Errorf("%q is not an IANA time zone name", name)
	}
	return nil
}

// legacyZone loads a zone from the zone database. Apply uses it only
// for a configuration logged (or snapshotted) before commands carried
// the zone's rules (ZoneData), so that an old log still restores; a
// variable so that tests can tell it is never used otherwise.
var legacyZone = time.LoadLocation

// callbackZone is the location of s in Apply: UTC, or the rules s
// carries (time.LoadLocationFromTZData: pure, no I/O), or — only for a
// configuration logged before ZoneData — legacyZone.
func callbackZone(s CallbackSettings) (*time.Location, error) {
	if s.TimeZone == "" || s.TimeZone == "UTC" {
		if len(s.ZoneData) != 0 {
			return nil, fmt.Errorf("zone data without a time zone")
		}
		return time.UTC, nil
	}
	if err := checkZoneName(s.TimeZone); err != nil {
		return nil, err
	}
	if len(s.ZoneData) > MaxZoneDataBytes {
		return nil, fmt.Errorf("zone data of %d bytes, at most %d", len(s.ZoneData), MaxZoneDataBytes)
	}
	if len(s.ZoneData) != 0 {
		return time.LoadLocationFromTZData(s.TimeZone, s.ZoneData)
	}
	return legacyZone(s.TimeZone)
}

// checkCallbackSettings validates s and returns it normalised (defaults,
// holidays and queues sorted).
func checkCallbackSettings(s CallbackSettings) (CallbackSettings, error) {
	const f = "callbacks"
	if _, err := callbackZone(s); err != nil {
		return s, fieldErr(f+".time_zone", "unknown time zone %q", s.TimeZone)
	}
	if s.Hours != nil {
		for d, rs := range s.Hours.days() {
			if _, err := parseRanges(rs); err != nil {
				return s, fieldErr(f+".hours."+weekdayNames[d], "%v", err)
			}
		}
	}
	if len(s.Holidays) > MaxCallbackHolidays {
		return s, fieldErr(f+".holidays", "%d dates, at most %d", len(s.Holidays), MaxCallbackHolidays)
	}
	for i, h := range s.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			return s, fieldErr(fmt.Sprintf("%s.holidays[%d]", f, i), "%q is not a date (YYYY-MM-DD)", h)
		}
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > MaxCallbackAttempts {
		return s, fieldErr(f+".max_attempts", "%d is out of range 1..%d", s.MaxAttempts, MaxCallbackAttempts)
	}
	if s.RetryIntervalSeconds != 0 && (s.RetryIntervalSeconds < 10 || s.RetryIntervalSeconds > 86400) {
		return s, fieldErr(f+".retry_interval_seconds", "%d is out of range 10..86400", s.RetryIntervalSeconds)
	}
	for i, q := range s.Queues {
		if err := checkID(fmt.Sprintf("%s.queues[%d]", f, i), q); err != nil {
			return s, err
		}
	}
	s.Holidays = sortedUnique(s.Holidays)
	s.Queues = sortedUnique(s.Queues)
	return s.withDefaults(), nil
}

// minuteRange is an opening range of one day, in minutes from midnight.
type minuteRange struct{ from, to int }

// parseRanges reads a day's "HH:MM-HH:MM" ranges: each from < to, in
// order, not overlapping.
func parseRanges(rs []string) ([]minuteRange, error) {
	if len(rs) > maxRangesPerDay {
		return nil, fmt.Errorf("%d ranges, a day has at most %d", len(rs), maxRangesPerDay)
	}
	out := make([]minuteRange, 0, len(rs))
	for _, r := range rs {
		a, b, ok := strings.Cut(r, "-")
		from, ok1 := rangeMinutes(strings.TrimSpace(a), false)
		to, ok2 := rangeMinutes(strings.TrimSpace(b), true)
		if !ok || !ok1 || !ok2 {
			return nil, fmt.Errorf("%q is not a range HH:MM-HH:MM", r)
		}
		if from >= to {
			return nil, fmt.Errorf("%q ends before it starts", r)
		}
		if n := len(out); n > 0 && from < out[n-1].to {
			return nil, fmt.Errorf("%q overlaps or precedes the range before it", r)
		}
		out = append(out, minuteRange{from, to})
	}
	return out, nil
}

// rangeMinutes reads "HH:MM" (00:00-23:59; "24:00" when end).
func rangeMinutes(s string, end bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if end && h == 24 && m == 0 {
		return 24 * 60, true
	}
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// callbackPlan is the compiled callback routing schedule (derived from
// the configuration, never in the snapshot).
type callbackPlan struct {
	loc      *time.Location
	always   bool // no hours and no holidays: open at any time
	days     [7][]minuteRange
	holidays map[string]bool
	queues   map[string]bool // nil: every queue
	attempts int
	retry    int64 // ns
}

func compileCallbackPlan(c *CallbackSettings) *callbackPlan {
	s := CallbackSettings{}.withDefaults()
	if c != nil {
		s = c.withDefaults()
	}
	p := &callbackPlan{attempts: s.MaxAttempts, retry: int64(s.RetryIntervalSeconds) * int64(time.Second)}
	loc, err := callbackZone(s)
	if err != nil {
		loc = time.UTC // validated when it was applied
	}
	p.loc = loc
	if s.Hours == nil {
		for d := range p.days {
			p.days[d] = []minuteRange{{0, 24 * 60}}
		}
	} else {
		for d, rs := range s.Hours.days() {
			p.days[d], _ = parseRanges(rs)
		}
	}
	p.holidays = make(map[string]bool, len(s.Holidays))
	for _, h := range s.Holidays {
		p.holidays[h] = true
	}
	p.always = s.Hours == nil && len(s.Holidays) == 0
	if len(s.Queues) > 0 {
		p.queues = make(map[string]bool, len(s.Queues))
		for _, q := range s.Queues {
			p.queues[q] = true
		}
	}
	return p
}

// maxOpenScanDays bounds the days open walks (a schedule reaches at most
// 180 days ahead; a retry may start a little later).
const maxOpenScanDays = 400

// open calls fn with each open interval [a, b) of the routing schedule
// that intersects [from, to), clipped to it, in time order, until fn
// returns false. Local times are built with time.Date in the center's
// zone, so a range across a DST change is as long as the wall clock
// says (02:00-03:00 on a spring-forward day is empty).
func (p *callbackPlan) open(from, to int64, fn func(a, b int64) bool) {
	if from >= to {
		return
	}
	if p.always {
		fn(from, to)
		return
	}
	t := time.Unix(0, from).In(p.loc)
	y, m, d := t.Date()
	for i := 0; i < maxOpenScanDays; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, p.loc)
		if day.UnixNano() >= to {
			return
		}
		if p.holidays[day.Format(time.DateOnly)] {
			continue
		}
		dy, dm, dd := day.Date()
		for _, r := range p.days[day.Weekday()] {
			a := time.Date(dy, dm, dd, r.from/60, r.from%60, 0, 0, p.loc).UnixNano()
			b := time.Date(dy, dm, dd, r.to/60, r.to%60, 0, 0, p.loc).UnixNano()
			a, b = max(a, from), min(b, to)
			if a < b && !fn(a, b) {
				return
			}
		}
	}
}

// firstSlot is the earliest open interval inside [from, to): its start
// and end (an interval ending at a range's end and one starting there
// are joined).
func (p *callbackPlan) firstSlot(from, to int64) (start, end int64, ok bool) {
	p.open(from, to, func(a, b int64) bool {
		if !ok {
			start, end, ok = a, b, true
			return true
		}
		if a == end {
			end = b
			return true
		}
		return false
	})
	return start, end, ok
}
