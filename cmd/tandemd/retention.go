package main

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// month is the calendar's average month, the unit of --history-retention.
const month = time.Duration(365.25 / 12 * 24 * float64(time.Hour))

// defaultHistoryRetention keeps 13 months: the current month and the whole
// same month a year before.
const defaultHistoryRetention = period(13 * month)

// period is a flag for long retention periods: a whole number of months
// ("13mo"), weeks ("8w"), days ("400d") or years ("2y"), or a Go duration
// ("9600h"); at least one day.
type period time.Duration

func (p *period) String() string {
	d := time.Duration(*p)
	switch {
	case d > 0 && d%month == 0:
		return strconv.FormatInt(int64(d/month), 10) + "mo"
	case d > 0 && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (p *period) Set(v string) error {
	v = strings.TrimSpace(v)
	bad := errors.New("want a period like 13mo, 400d, 8w or 2y (at least one day)")
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"mo", month}, {"y", 12 * month}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}}
	var d time.Duration
	matched := false
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 || n > 1000*int64(12*month/u.unit) {
				return bad
			}
			d, matched = time.Duration(n)*u.unit, true
			break
		}
	}
	if !matched {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return bad
		}
	}
	if d < 24*time.Hour {
		return bad
	}
	*p = period(d)
	return nil
}
