package contactcenter

import (
	"fmt"
	"testing"
	"time"
)

func TestForwardingCategories(t *testing.T) {
	rules := map[string]ForwardRule{
		"voicemail":     {Voicemail: true},
		"internal":      {Number: "3002"},
		"national":      {Number: "0161 555 1234"},
		"international": {Number: "+33 1 23 45 67 89"},
		"intl-00":       {Number: "0033 1 23 45 67 89"},
	}
	allowed := map[string][]string{
		"none":      {},
		"voicemail": {"voicemail"},
		"internal":  {"voicemail", "internal"},
		"national":  {"voicemail", "internal", "national"},
		"all":       {"voicemail", "internal", "national", "international", "intl-00"},
	}
	for cat, ok := range allowed {
		for name, rule := range rules {
			t.Run(cat+"/"+name, func(t *testing.T) {
				h := newHarness(t, baseDoc)
				h.config(fmt.Sprintf("users: [{id: bob, extension: \"3001\", forwarding_category: %s}]\n", cat))
				req := ForwardingRequest{User: "bob", Forwarding: Forwarding{Busy: rule}}
				if contains(ok, name) {
					h.ok(TypeUserForwarding, req)
				} else {
					h.fail(TypeUserForwarding, req, ErrForwardNotAllow)
				}
			})
		}
	}
}

func TestForwardingRulesAndDecision(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.fail(TypeUserForwarding, ForwardingRequest{User: "bob", Forwarding: Forwarding{Busy: ForwardRule{Voicemail: true, Number: "3002"}}}, nil)
	h.fail(TypeUserForwarding, ForwardingRequest{User: "bob", Forwarding: Forwarding{Busy: ForwardRule{Number: "30-02"}}}, nil)
	h.fail(TypeUserForwarding, ForwardingRequest{User: "nobody"}, ErrUnknownUser)
	if _, ok := h.e.Forward("bob", ForwardBusy); ok {
		t.Fatal("forwarded without settings")
	}
	h.ok(TypeUserForwarding, ForwardingRequest{User: "carol", Forwarding: Forwarding{
		NotConnected: ForwardRule{Voicemail: true},
		Busy:         ForwardRule{Number: "3001"},
		NoAnswer:     ForwardRule{Number: "+44 161 555 0000"},
		Calendar: []CalendarForward{
			{ID: "offsite", Start: t0.Add(2 * time.Hour), End: t0.Add(3 * time.Hour), ForwardRule: ForwardRule{Number: "3001"}},
			{ID: "fridays", Weekdays: []int{5}, From: "13:00", To: "17:30", ForwardRule: ForwardRule{Voicemail: true}},
		},
	}})
	var ev ForwardingEvent
	h.event(EvUserForwarding, &ev)
	if ev.Forwarding.NoAnswer.Number != "+441615550000" {
		t.Fatalf("number not normalised: %+v", ev.Forwarding.NoAnswer)
	}
	decide := func(cond, want string) {
		t.Helper()
		d, ok := h.e.Forward("carol", cond)
		got := ""
		if ok {
			got = d.Condition
		}
		if got != want {
			t.Fatalf("at %s, %q: %+v %v, want %q", h.now.Format(time.RFC3339), cond, d, ok, want)
		}
	}
	decide(ForwardBusy, ForwardNotConnected) // no phone of 3002 registered
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "3002", Phone: "desk", Registered: true})
	decide("", "")
	decide(ForwardBusy, ForwardBusy)
	decide(ForwardNoAnswer, ForwardNoAnswer)
	h.at(2*time.Hour + 30*time.Minute) // during the calendar event
	decide("", ForwardCalendar)
	h.at(4*24*time.Hour + 4*time.Hour) // Friday 15:30
	decide("", ForwardCalendar)
	h.at(2 * time.Hour) // Friday 17:30: the series ended
	decide(ForwardBusy, ForwardBusy)
	h.ok(TypeUserForwarding, ForwardingRequest{User: "carol", Forwarding: Forwarding{Unconditional: ForwardRule{Voicemail: true}}})
	decide(ForwardNoAnswer, ForwardUnconditional)

	bad := []CalendarForward{
		{ID: "x", Start: t0, End: t0, ForwardRule: ForwardRule{Voicemail: true}},
		{ID: "x", Weekdays: []int{7}, From: "10:00", To: "11:00", ForwardRule: ForwardRule{Voicemail: true}},
		{ID: "x", Weekdays: []int{1}, From: "11:00", To: "10:00", ForwardRule: ForwardRule{Voicemail: true}},
		{ID: "x", Weekdays: []int{1}, From: "25:00", To: "26:00", ForwardRule: ForwardRule{Voicemail: true}},
		{ID: "x", Start: t0, End: t0.Add(time.Hour), Weekdays: []int{1}, ForwardRule: ForwardRule{Voicemail: true}},
		{ID: "x", Start: t0, End: t0.Add(time.Hour)},
		{ID: "", Start: t0, End: t0.Add(time.Hour), ForwardRule: ForwardRule{Voicemail: true}},
	}
	for i, c := range bad {
		if _, err := h.apply(TypeUserForwarding, ForwardingRequest{User: "carol", Forwarding: Forwarding{Calendar: []CalendarForward{c}}}); err == nil {
			t.Errorf("bad calendar entry %d accepted", i)
		}
	}
}
