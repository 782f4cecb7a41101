package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// cbDoc adds to baseDoc a callback routing schedule: Madrid time (t0,
// Monday 09:00 UTC, is 10:00 there), weekdays 09:00-13:00 and
// 15:00-19:00, Saturday mornings, Wednesday 5 March a holiday, callbacks
// into sales and support only (not "other"), two attempts ten minutes
// apart; Spanish numbering and one excluded number.
const cbDoc = `
queues:
  - {id: other}
settings:
  ring_timeout_seconds: 15
  auto_return_seconds: 60
  park_return_seconds: 120
  default_country_code: "34"
excluded_numbers: ["+34 91 555 0199"]
callbacks:
  time_zone: Europe/Madrid
  hours:
    monday: ["09:00-13:00", "15:00-19:00"]
    tuesday: ["09:00-13:00", "15:00-19:00"]
    wednesday: ["09:00-13:00", "15:00-19:00"]
    thursday: ["09:00-13:00", "15:00-19:00"]
    friday: ["09:00-13:00", "15:00-19:00"]
    saturday: ["10:00-14:00"]
  holidays: ["2025-03-05"]
  queues: [sales, support]
  max_attempts: 2
  retry_interval_seconds: 600
`

func newCBHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, baseDoc)
	h.config(cbDoc)
	return h
}

var madrid = func() *time.Location {
	l, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		panic(err)
	}
	return l
}()

func baseCB(id string) CallbackCreateRequest {
	return CallbackCreateRequest{Callback: id, Queue: "sales", CustomerName: "Ana Pérez", Phone: "+34 91 555 0101", Priority: 50}
}

func cbCode(err error) int {
	var ce *CallbackError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func win(from, to time.Time) CallbackWindow {
	return CallbackWindow{Start: from.UnixNano(), End: to.UnixNano()}
}

// Every code the engine decides, at its boundary; a refusal changes
// nothing (the harness compares the hash) and emits nothing.
func TestCallbackCreateCodes(t *testing.T) {
	now := t0
	inMadrid := func(d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, madrid) }
	data := func(n int) []CallbackDatum { // "k=vvvv…" of n characters, multi-byte values
		return []CallbackDatum{{Key: "k", Value: strings.Repeat("ü", n-2)}}
	}
	windows := func(n int) []CallbackWindow {
		var ws []CallbackWindow
		for i := range n {
			s := now.Add(time.Duration(i) * time.Minute)
			ws = append(ws, win(s, s.Add(30*time.Second)))
		}
		return ws
	}
	tests := []struct {
		name string
		mod  func(*CallbackCreateRequest)
		code int
	}{
		{"accepted", func(*CallbackCreateRequest) {}, 0},
		{"name 75 multi-byte characters", func(p *CallbackCreateRequest) { p.CustomerName = strings.Repeat("é", 75) }, 0},
		{"name 76 characters", func(p *CallbackCreateRequest) { p.CustomerName = strings.Repeat("é", 76) }, CodeNameTooLong},
		{"name 75 four-byte characters", func(p *CallbackCreateRequest) { p.CustomerName = strings.Repeat("😀", 75) }, 0},
		{"name with a control character", func(p *CallbackCreateRequest) { p.CustomerName = "Ana\x07" }, CodeBadParameter},
		{"description 100", func(p *CallbackCreateRequest) { p.Description = strings.Repeat("€", 100) }, 0},
		{"description 101", func(p *CallbackCreateRequest) { p.Description = strings.Repeat("€", 101) }, CodeDescTooLong},
		{"contact data 1000", func(p *CallbackCreateRequest) { p.ContactData = data(1000) }, 0},
		{"contact data 1001", func(p *CallbackCreateRequest) { p.ContactData = data(1001) }, CodeContactDataLong},
		{"contact data pairs counted with separators", func(p *CallbackCreateRequest) {
			p.ContactData = []CallbackDatum{{"a", strings.Repeat("x", 497)}, {"b", strings.Repeat("x", 498)}} // 499+1+500 = 1000
		}, 0},
		{"contact data pairs one over", func(p *CallbackCreateRequest) {
			p.ContactData = []CallbackDatum{{"a", strings.Repeat("x", 498)}, {"b", strings.Repeat("x", 498)}}
		}, CodeContactDataLong},
		{"contact data key with =", func(p *CallbackCreateRequest) { p.ContactData = []CallbackDatum{{"a=b", "x"}} }, CodeBadParameter},
		{"priority 0", func(p *CallbackCreateRequest) { p.Priority = 0 }, CodeInvalidPriority},
		{"priority 1", func(p *CallbackCreateRequest) { p.Priority = 1 }, 0},
		{"priority 100", func(p *CallbackCreateRequest) { p.Priority = 100 }, 0},
		{"priority 101", func(p *CallbackCreateRequest) { p.Priority = 101 }, CodeInvalidPriority},
		{"queue missing", func(p *CallbackCreateRequest) { p.Queue = "" }, CodeBadMandatory},
		{"queue malformed", func(p *CallbackCreateRequest) { p.Queue = "sa les" }, CodeBadMandatory},
		{"unknown queue", func(p *CallbackCreateRequest) { p.Queue = "nope" }, CodeUnknownQueue},
		{"queue not a callback queue", func(p *CallbackCreateRequest) { p.Queue = "other" }, CodeUnknownQueue},
		{"phone missing", func(p *CallbackCreateRequest) { p.Phone = "" }, CodeBadMandatory},
		{"phone malformed", func(p *CallbackCreateRequest) { p.Phone = "call me" }, CodeBadMandatory},
		{"phone 33 digits", func(p *CallbackCreateRequest) { p.Phone = strings.Repeat("1", 33) }, CodeBadMandatory},
		{"excluded as written", func(p *CallbackCreateRequest) { p.Phone = "+34 91 555 0199" }, CodeExcludedNumber},
		{"excluded after normalising", func(p *CallbackCreateRequest) { p.Phone = "0034 (91) 555-01-99" }, CodeExcludedNumber},
		{"window ends before it starts", func(p *CallbackCreateRequest) { p.Schedule = []CallbackWindow{win(now.Add(time.Hour), now)} }, CodeInvalidSchedule},
		{"empty window", func(p *CallbackCreateRequest) { p.Schedule = []CallbackWindow{win(now, now)} }, CodeInvalidSchedule},
		{"overlapping windows", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(now, now.Add(time.Hour)), win(now.Add(30*time.Minute), now.Add(2*time.Hour))}
		}, CodeInvalidSchedule},
		{"10 windows", func(p *CallbackCreateRequest) { p.Schedule = windows(10) }, 0},
		{"11 windows", func(p *CallbackCreateRequest) { p.Schedule = windows(11) }, CodeInvalidSchedule},
		{"window ended now", func(p *CallbackCreateRequest) { p.Schedule = []CallbackWindow{win(now.Add(-time.Hour), now)} }, CodeScheduleExpired},
		{"window ends a second from now", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(now.Add(-time.Hour), now.Add(time.Second))}
		}, 0},
		{"end exactly 180 days ahead", func(p *CallbackCreateRequest) { p.Schedule = []CallbackWindow{win(now, now.Add(CallbackHorizon))} }, 0},
		{"end 180 days and a second ahead", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(now, now.Add(CallbackHorizon+time.Second))}
		}, CodeScheduleTooFar},
		{"start 180 days and a second ahead", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(now.Add(CallbackHorizon+time.Second), now.Add(CallbackHorizon+time.Hour))}
		}, CodeScheduleTooFar},
		{"on a holiday", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(inMadrid(5, 10, 0), inMadrid(5, 12, 0))}
		}, CodeOutsideSchedule},
		{"the day after the holiday", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(inMadrid(6, 10, 0), inMadrid(6, 12, 0))}
		}, 0},
		{"closed at lunch", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(inMadrid(4, 13, 0), inMadrid(4, 15, 0))}
		}, CodeOutsideSchedule},
		{"overlapping the last open minute", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(inMadrid(4, 12, 59), inMadrid(4, 15, 0))}
		}, 0},
		{"on a Sunday", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(inMadrid(9, 9, 0), inMadrid(9, 20, 0))}
		}, CodeOutsideSchedule},
		{"one window of two outside", func(p *CallbackCreateRequest) {
			p.Schedule = []CallbackWindow{win(inMadrid(4, 10, 0), inMadrid(4, 11, 0)), win(inMadrid(9, 10, 0), inMadrid(9, 11, 0))}
		}, CodeOutsideSchedule},
		{"bad id", func(p *CallbackCreateRequest) { p.Callback = "" }, CodeInternalWeb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newCBHarness(t)
			p := baseCB("cb1")
			tc.mod(&p)
			_, err := h.apply(TypeCallbackCreate, p)
			if got := cbCode(err); got != tc.code {
				t.Fatalf("code %d (%v), want %d", got, err, tc.code)
			}
			if err == nil {
				if _, ok := h.e.Callback("cb1"); !ok {
					t.Fatal("accepted but no callback")
				}
				return
			}
			if err := CheckPayload(TypeCallbackCreate, mustJSON(t, p)); err != nil && tc.code >= 17000 {
				t.Errorf("CheckPayload refused what only the callback rules should: %v", err)
			}
			if code, _, ok := ParseCallbackError(err.Error()); !ok || code != tc.code {
				t.Errorf("ParseCallbackError(%q) = %d, %v", err.Error(), code, ok)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A duplicate is the same queue and normalised number with an open
// callback; another queue, or a finished callback, is not.
func TestCallbackDuplicate(t *testing.T) {
	h := newCBHarness(t)
	h.ok(TypeCallbackCreate, baseCB("cb1"))
	p := baseCB("cb2")
	p.Phone = "0034 915 550 101"
	_, err := h.apply(TypeCallbackCreate, p)
	if cbCode(err) != CodeDuplicate {
		t.Fatalf("duplicate: %v", err)
	}
	p.Queue = "support"
	h.ok(TypeCallbackCreate, p)
	// The same id again is an edge's mistake.
	if _, err := h.apply(TypeCallbackCreate, baseCB("cb1")); cbCode(err) != CodeCallbackInternal {
		t.Fatalf("id reuse: %v", err)
	}
	// A snapshot keeps the rule (the index is rebuilt from the state).
	r := restored(t, h.e)
	if r.Hash() != h.e.Hash() {
		t.Fatal("restored hash differs")
	}
	h.e = r
	h.hash = ""
	p = baseCB("cb3")
	if _, err := h.apply(TypeCallbackCreate, p); cbCode(err) != CodeDuplicate {
		t.Fatalf("duplicate after restore: %v", err)
	}
	h.ok(TypeCallbackCancel, CallbackCancelRequest{Callback: "cb1"})
	h.ok(TypeCallbackCreate, p) // cb1 is no longer open
	if _, err := h.apply(TypeCallbackCancel, CallbackCancelRequest{Callback: "cb1"}); cbCode(err) != CodeBadParameter {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := h.apply(TypeCallbackCancel, CallbackCancelRequest{Callback: "nope"}); cbCode(err) != CodeBadParameter {
		t.Fatalf("unknown cancel: %v", err)
	}
}

func cbStatus(t *testing.T, h *harness, id string) CallbackView {
	t.Helper()
	v, ok := h.e.Callback(id)
	if !ok {
		t.Fatalf("no callback %s", id)
	}
	return v
}

// A callback inside its slot is a call in its queue, offered like any
// other; the agent's answer dials the customer; the customer's answer
// completes it.
func TestCallbackWorked(t *testing.T) {
	h := newCBHarness(t)
	h.connect("a1")
	h.ok(TypeCallbackCreate, baseCB("cb1"))
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackQueued || v.Attempts != 1 {
		t.Fatalf("after create: %+v", v)
	}
	if h.offerOf("a1") != "cb1.1" {
		t.Fatalf("a1 is offered %q", h.offerOf("a1"))
	}
	res := h.ok(TypeCallAnswer, AgentCallRequest{Agent: "a1"}).(CallResult)
	if res.State != CallDialing {
		t.Fatalf("answer result %+v", res)
	}
	var dial DialingEvent
	h.event(EvCallDialing, &dial)
	if dial.Number != "+34 91 555 0101" || dial.Agent != "a1" {
		t.Fatalf("dialing %+v", dial)
	}
	var ev CallbackEvent
	h.event(EvCallbackDial, &ev)
	if ev.Callback != "cb1" || ev.Call != "cb1.1" || ev.Phone != "+34 91 555 0101" || ev.Attempt != 1 {
		t.Fatalf("callback.dial %+v", ev)
	}
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "cb1.1"})
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackCompleted || v.Outcome != "answered" {
		t.Fatalf("after remote answer: %+v", v)
	}
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackCompleted {
		t.Fatalf("after hang-up: %+v", v)
	}
}

// Unanswered attempts are retried after the interval until the limit.
func TestCallbackRetries(t *testing.T) {
	h := newCBHarness(t)
	h.connect("a1")
	h.ok(TypeCallbackCreate, baseCB("cb1"))
	h.ok(TypeCallAnswer, AgentCallRequest{Agent: "a1"})
	h.ok(TypeCallRemoteBusy, CallRequest{Call: "cb1.1"})
	v := cbStatus(t, h, "cb1")
	if v.Status != CallbackScheduled || v.Outcome != "busy" || v.Due != h.now.Add(600*time.Second).UnixNano() {
		t.Fatalf("after busy: %+v", v)
	}
	if at, ok := h.e.NextDeadline(); !ok || at > v.Due {
		t.Fatalf("next deadline %d, want ≤ %d", at, v.Due)
	}
	h.at(599 * time.Second)
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackScheduled {
		t.Fatalf("a second early: %+v", v)
	}
	h.at(time.Second)
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackQueued || v.Attempts != 2 {
		t.Fatalf("at the retry: %+v", v)
	}
	h.answer("a1")
	h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "cb1.2"})
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackFailed || v.Outcome != "no_answer" || v.Attempts != 2 {
		t.Fatalf("after the last attempt: %+v", v)
	}
	// Failed is not open: the customer may ask again.
	h.ok(TypeCallbackCreate, baseCB("cb2"))
}

// Offered only inside the slot: a queued callback leaves the queue when
// the opening hours close and comes back when they open again.
func TestCallbackOpeningHours(t *testing.T) {
	h := newCBHarness(t)
	h.now = time.Date(2025, 3, 3, 12, 30, 0, 0, madrid) // Monday, 30 min before lunch
	h.ok(TypeCallbackCreate, baseCB("cb1"))
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackQueued {
		t.Fatalf("%+v", v)
	}
	h.at(30 * time.Minute) // 13:00: closed
	v := cbStatus(t, h, "cb1")
	if v.Status != CallbackScheduled || v.Attempts != 0 || v.Due != time.Date(2025, 3, 3, 15, 0, 0, 0, madrid).UnixNano() {
		t.Fatalf("at lunch: %+v", v)
	}
	if _, ok := h.call("cb1.1"); ok {
		t.Fatal("the call still waits at lunch")
	}
	h.connect("a2") // nobody takes it at lunch
	if h.offerOf("a2") != "" {
		t.Fatal("offered outside the opening hours")
	}
	h.at(2 * time.Hour) // 15:00
	if h.offerOf("a2") != "cb1.1" {
		t.Fatalf("at 15:00 a2 is offered %q", h.offerOf("a2"))
	}
}

// A window that passes unworked expires the callback.
func TestCallbackWindowExpires(t *testing.T) {
	h := newCBHarness(t)
	p := baseCB("cb1")
	p.Schedule = []CallbackWindow{win(h.now.Add(time.Hour), h.now.Add(90*time.Minute))}
	h.ok(TypeCallbackCreate, p)
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackScheduled || v.Due != p.Schedule[0].Start {
		t.Fatalf("%+v", v)
	}
	h.at(time.Hour - time.Second)
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackScheduled {
		t.Fatalf("early: %+v", v)
	}
	h.at(time.Second)
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackQueued {
		t.Fatalf("at start: %+v", v)
	}
	h.at(30 * time.Minute)
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackExpired || v.Outcome != "schedule_passed" {
		t.Fatalf("at end: %+v", v)
	}
	if _, ok := h.call("cb1.1"); ok {
		t.Fatal("the call outlived its window")
	}
}

// Cancelling a queued callback ends its call.
func TestCallbackCancelQueued(t *testing.T) {
	h := newCBHarness(t)
	h.ok(TypeCallbackCreate, baseCB("cb1"))
	h.ok(TypeCallbackCancel, CallbackCancelRequest{Callback: "cb1"})
	if v := cbStatus(t, h, "cb1"); v.Status != CallbackCancelled {
		t.Fatalf("%+v", v)
	}
	if _, ok := h.call("cb1.1"); ok {
		t.Fatal("call survived the cancel")
	}
}

// The routing schedule follows the zone's wall clock across DST: on
// 30 March 2025 Madrid skips 02:00-03:00, so 01:00-04:00 is two hours.
func TestCallbackPlanDST(t *testing.T) {
	p := compileCallbackPlan(&CallbackSettings{TimeZone: "Europe/Madrid", Hours: &WeeklyHours{Sunday: []string{"01:00-04:00"}}})
	from := time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC).UnixNano()
	a, b, ok := p.firstSlot(from, from+int64(48*time.Hour))
	if !ok || time.Duration(b-a) != 2*time.Hour || a != time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC).UnixNano() {
		t.Fatalf("slot %v-%v %v", time.Unix(0, a).UTC(), time.Unix(0, b).UTC(), ok)
	}
	// Autumn: 02:00-03:00 happens twice, 01:00-04:00 lasts four hours.
	from = time.Date(2025, 10, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	a, b, ok = p.firstSlot(from, from+int64(48*time.Hour))
	if !ok || time.Duration(b-a) != 4*time.Hour {
		t.Fatalf("autumn slot %v-%v %v", time.Unix(0, a).UTC(), time.Unix(0, b).UTC(), ok)
	}
	// Ranges joined across midnight.
	p = compileCallbackPlan(&CallbackSettings{Hours: &WeeklyHours{Monday: []string{"20:00-24:00"}, Tuesday: []string{"00:00-02:00"}}})
	from = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC).UnixNano()
	a, b, _ = p.firstSlot(from, from+int64(72*time.Hour))
	if time.Duration(b-a) != 6*time.Hour {
		t.Fatalf("joined slot %v", time.Duration(b-a))
	}
}

func TestCallbackSettingsValidation(t *testing.T) {
	tests := []struct{ doc, field string }{
		{"callbacks: {time_zone: Mars/Olympus}", "callbacks.time_zone"},
		{"callbacks: {time_zone: ../../etc/passwd}", "callbacks.time_zone"},
		{"callbacks: {hours: {monday: [\"09:00-08:00\"]}}", "callbacks.hours.monday"},
		{"callbacks: {hours: {monday: [\"09:00-12:00\", \"11:00-13:00\"]}}", "callbacks.hours.monday"},
		{"callbacks: {hours: {sunday: [\"9-12\"]}}", "callbacks.hours.sunday"},
		{"callbacks: {hours: {sunday: [\"24:00-24:00\"]}}", "callbacks.hours.sunday"},
		{"callbacks: {holidays: [\"2025-02-30\"]}", "callbacks.holidays[0]"},
		{"callbacks: {max_attempts: 21}", "callbacks.max_attempts"},
		{"callbacks: {retry_interval_seconds: 5}", "callbacks.retry_interval_seconds"},
		{"callbacks: {queues: [nope]}", "callbacks.queues[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			d, err := ParseDocument([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("%v, want field %s", err, tc.field)
			}
		})
	}
	// Accepted, shown back by Document, applying it again changes nothing;
	// removing a callback queue it lists is refused.
	h := newHarness(t, baseDoc)
	h.config("callbacks: {time_zone: America/New_York, hours: {monday: [\"09:00-17:00\"]}, holidays: [\"2025-12-25\", \"2025-01-01\"], queues: [sales]}")
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	if doc.Callbacks == nil || fmt.Sprint(doc.Callbacks.Holidays) != "[2025-01-01 2025-12-25]" || doc.Callbacks.MaxAttempts != DefaultCallbackAttempts {
		t.Fatalf("document %+v", doc.Callbacks)
	}
	if r := h.config("callbacks: {time_zone: America/New_York, hours: {monday: [\"09:00-17:00\"]}, holidays: [\"2025-01-01\", \"2025-12-25\"], queues: [sales]}"); r.Changed() {
		t.Fatalf("re-apply changed %+v", r)
	}
	doc.Queues = nil
	doc.Agents = nil
	h.fail(TypeConfigApply, ApplyRequest{Document: Document{Queues: []Queue{{ID: "support"}}, Agents: []Agent{{ID: "a3", Extension: "2003"}}, Extensions: doc.Extensions, Users: doc.Users, Callbacks: doc.Callbacks}, Prune: true}, nil)
}

// The invariant catches each kind of callback corruption.
func TestCallbackInvariant(t *testing.T) {
	corrupt := []struct {
		name string
		fn   func(e *Engine)
	}{
		{"queued without its call", func(e *Engine) { delete(e.st.Calls, "cb1.1") }},
		{"scheduled with a call", func(e *Engine) { e.st.Callbacks["cb1"].Status = CallbackScheduled }},
		{"open but not indexed", func(e *Engine) { clear(e.cbOpen) }},
		{"finished but counted", func(e *Engine) { e.st.Callbacks["cb1"].Status = CallbackFailed }},
		{"dialing off the line", func(e *Engine) { e.st.Callbacks["cb1"].Status = CallbackDialing }},
	}
	for _, tc := range corrupt {
		t.Run(tc.name, func(t *testing.T) {
			h := newCBHarness(t)
			h.ok(TypeCallbackCreate, baseCB("cb1"))
			if err := h.e.Check(); err != nil {
				t.Fatal(err)
			}
			tc.fn(h.e)
			if err := h.e.Check(); err == nil || !strings.Contains(err.Error(), "callback") {
				t.Fatalf("not caught: %v", err)
			}
		})
	}
}
