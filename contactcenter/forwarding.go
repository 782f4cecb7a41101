package contactcenter

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandemcc/tandem/command"
)

// Forwarding is a user's call forwarding (per user, not per extension).
// Each rule forwards to voicemail or to a number; an empty rule is off.
type Forwarding struct {
	// Unconditional forwards every call.
	Unconditional ForwardRule `json:"unconditional"`
	// Calendar forwards unconditionally while one of its entries is on.
	Calendar []CalendarForward `json:"calendar,omitempty"`
	// NotConnected applies when no phone of the user's extension is
	// registered.
	NotConnected ForwardRule `json:"not_connected"`
	Busy         ForwardRule `json:"busy"`
	NoAnswer     ForwardRule `json:"no_answer"`
	// NoAnswerSeconds is how long to ring before NoAnswer applies (0:
	// the ring timeout setting).
	NoAnswerSeconds int `json:"no_answer_seconds,omitempty"`
}

// ForwardRule forwards to voicemail or to a number.
type ForwardRule struct {
	Voicemail bool   `json:"voicemail,omitempty"`
	Number    string `json:"number,omitempty"`
}

func (r ForwardRule) on() bool { return r.Voicemail || r.Number != "" }

// CalendarForward is one calendar entry: an event (Start..End) or a
// weekly series (Weekdays, From..To as "HH:MM", UTC).
type CalendarForward struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start,omitempty"`
	End      time.Time `json:"end,omitempty"`
	Weekdays []int     `json:"weekdays,omitempty"` // 0 = Sunday … 6 = Saturday
	From     string    `json:"from,omitempty"`
	To       string    `json:"to,omitempty"`
	ForwardRule
}

// MaxCalendarEntries bounds a user's calendar forwards.
const MaxCalendarEntries = 50

// ForwardingRequest is the payload of user.forwarding: the user's whole
// forwarding settings (the portal's Forwarding tab).
type ForwardingRequest struct {
	User       string     `json:"user"`
	Forwarding Forwarding `json:"forwarding"`
}

func (e *Engine) cmdUserForwarding(env command.Envelope) (any, error) {
	var p ForwardingRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	u, ok := e.st.Config.Users[p.User]
	if !ok {
		return nil, opErr(ErrUnknownUser, "forwarding", "unknown user %q", p.User)
	}
	cat := u.ForwardingCategory
	if cat == "" {
		cat = "all"
	}
	f := p.Forwarding
	check := func(field string, r *ForwardRule) error {
		if r.Voicemail && r.Number != "" {
			return fieldErr(field, "forward to voicemail or to a number, not both")
		}
		if r.Number != "" {
			n, err := NormalizeNumber(r.Number)
			if err != nil {
				return fieldErr(field+".number", "%v", err)
			}
			r.Number = n
		}
		if !r.on() {
			return nil
		}
		if !e.forwardAllowed(cat, *r) {
			return opErr(ErrForwardNotAllow, "forwarding", "user %q's forwarding category %q does not allow %s (%s)", p.User, cat, field, describeRule(*r))
		}
		return nil
	}
	if err := check("forwarding.unconditional", &f.Unconditional); err != nil {
		return nil, err
	}
	if err := check("forwarding.not_connected", &f.NotConnected); err != nil {
		return nil, err
	}
	if err := check("forwarding.busy", &f.Busy); err != nil {
		return nil, err
	}
	if err := check("forwarding.no_answer", &f.NoAnswer); err != nil {
		return nil, err
	}
	if f.NoAnswerSeconds < 0 || f.NoAnswerSeconds > 600 {
		return nil, fieldErr("forwarding.no_answer_seconds", "%d is out of range 0..600", f.NoAnswerSeconds)
	}
	if len(f.Calendar) > MaxCalendarEntries {
		return nil, fieldErr("forwarding.calendar", "%d entries, at most %d", len(f.Calendar), MaxCalendarEntries)
	}
	cal := make([]CalendarForward, len(f.Calendar))
	ids := map[string]bool{}
	for i, c := range f.Calendar {
		cf := fmt.Sprintf("forwarding.calendar[%d]", i)
		if err := checkID(cf+".id", c.ID); err != nil {
			return nil, err
		}
		if ids[c.ID] {
			return nil, fieldErr(cf+".id", "duplicate entry %q", c.ID)
		}
		ids[c.ID] = true
		if err := checkCalendar(cf, &c); err != nil {
			return nil, err
		}
		if !c.on() {
			return nil, fieldErr(cf, "forward to voicemail or to a number")
		}
		if err := check(cf, &c.ForwardRule); err != nil {
			return nil, err
		}
		cal[i] = c
	}
	if len(cal) == 0 {
		cal = nil
	}
	f.Calendar = cal
	e.userState(p.User).Forwarding = f
	ev := ForwardingEvent{User: p.User, Forwarding: f}
	e.emit(EvUserForwarding, ev)
	return ev, nil
}

func checkCalendar(f string, c *CalendarForward) error {
	event := !c.Start.IsZero() || !c.End.IsZero()
	series := len(c.Weekdays) > 0 || c.From != "" || c.To != ""
	switch {
	case event && series:
		return fieldErr(f, "an entry is an event (start, end) or a weekly series (weekdays, from, to), not both")
	case event:
		if c.Start.IsZero() || c.End.IsZero() || !c.End.After(c.Start) {
			return fieldErr(f+".end", "an event needs a start before its end")
		}
		c.Start, c.End = c.Start.UTC(), c.End.UTC()
	case series:
		if len(c.Weekdays) == 0 {
			return fieldErr(f+".weekdays", "missing")
		}
		for _, d := range c.Weekdays {
			if d < 0 || d > 6 {
				return fieldErr(f+".weekdays", "%d is not a weekday (0 = Sunday … 6 = Saturday)", d)
			}
		}
		from, err := clockMinutes(c.From)
		if err != nil {
			return fieldErr(f+".from", "%v", err)
		}
		to, err := clockMinutes(c.To)
		if err != nil {
			return fieldErr(f+".to", "%v", err)
		}
		if to <= from {
			return fieldErr(f+".to", "must be after from")
		}
	default:
		return fieldErr(f, "an entry needs start and end, or weekdays, from and to")
	}
	return nil
}

func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", clip(s))
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (c CalendarForward) activeAt(now time.Time) bool {
	if !c.Start.IsZero() {
		return !now.Before(c.Start) && now.Before(c.End)
	}
	day := int(now.Weekday())
	on := false
	for _, d := range c.Weekdays {
		if d == day {
			on = true
		}
	}
	if !on {
		return false
	}
	from, _ := clockMinutes(c.From)
	to, _ := clockMinutes(c.To)
	m := now.Hour()*60 + now.Minute()
	return m >= from && m < to
}

func describeRule(r ForwardRule) string {
	if r.Voicemail {
		return "voicemail"
	}
	return r.Number
}

// forwardAllowed applies the forwarding category.
func (e *Engine) forwardAllowed(cat string, r ForwardRule) bool {
	switch cat {
	case "none":
		return false
	case "voicemail":
		return r.Voicemail
	case "internal":
		return r.Voicemail || e.isInternal(r.Number)
	case "national":
		return r.Voicemail || !(strings.HasPrefix(r.Number, "+") || strings.HasPrefix(r.Number, "00"))
	}
	return true
}

// Forward conditions.
const (
	ForwardUnconditional = "unconditional"
	ForwardCalendar      = "calendar"
	ForwardNotConnected  = "not_connected"
	ForwardBusy          = "busy"
	ForwardNoAnswer      = "no_answer"
)

// ForwardDecision is where a call to a user goes instead.
type ForwardDecision struct {
	Condition string `json:"condition"`
	ForwardRule
	Calendar string `json:"calendar,omitempty"`
}

// Forward tells the telephony edge where a call to user goes, as of the
// engine clock: unconditional first, then an active calendar entry, then
// not connected (no phone of the user's extension registered), then the
// condition the edge saw ("busy" or "no_answer", or "" when the call is
// about to ring). ok is false when the call is not forwarded.
func (e *Engine) Forward(user, condition string) (ForwardDecision, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.forwardAt(user, condition, e.st.Clock, false)
}

// forwardAt decides a user's forward at engine time now. loggedOut: the
// call is for the user's operator, who is logged out of the console — it
// counts as "not connected" whatever the phones' registration, and only
// unconditional, calendar and not-connected forwards apply (busy and no
// answer need a phone that rang).
func (e *Engine) forwardAt(user, condition string, now int64, loggedOut bool) (ForwardDecision, bool) {
	u, ok := e.st.Config.Users[user]
	if !ok {
		return ForwardDecision{}, false
	}
	us := e.st.Users[user]
	if us == nil {
		return ForwardDecision{}, false
	}
	f := us.Forwarding
	if f.Unconditional.on() {
		return ForwardDecision{Condition: ForwardUnconditional, ForwardRule: f.Unconditional}, true
	}
	t := time.Unix(0, now).UTC()
	for _, c := range f.Calendar {
		if c.activeAt(t) {
			return ForwardDecision{Condition: ForwardCalendar, ForwardRule: c.ForwardRule, Calendar: c.ID}, true
		}
	}
	if f.NotConnected.on() && (loggedOut || (u.Extension != "" && e.lineStatuses()[u.Extension] == LineNotConnected)) {
		return ForwardDecision{Condition: ForwardNotConnected, ForwardRule: f.NotConnected}, true
	}
	if loggedOut {
		return ForwardDecision{}, false
	}
	switch condition {
	case ForwardBusy:
		if f.Busy.on() {
			return ForwardDecision{Condition: ForwardBusy, ForwardRule: f.Busy}, true
		}
	case ForwardNoAnswer:
		if f.NoAnswer.on() {
			return ForwardDecision{Condition: ForwardNoAnswer, ForwardRule: f.NoAnswer}, true
		}
	}
	return ForwardDecision{}, false
}
