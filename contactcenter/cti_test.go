package contactcenter

import (
	"reflect"
	"strings"
	"testing"
)

// ctiSettings are UK settings with outside-line prefix 9 (the spec's
// examples).
var ctiSettings = Settings{InternalNumberLength: 4, OutsideLinePrefix: "9", DefaultCountryCode: "44", DefaultAreaCode: "161"}

func TestCanonicalNumber(t *testing.T) {
	uk := ctiSettings
	ukNoPrefix := uk
	ukNoPrefix.OutsideLinePrefix = ""
	de := Settings{InternalNumberLength: 3, OutsideLinePrefix: "0", DefaultCountryCode: "49", DefaultAreaCode: "30"}
	us := Settings{InternalNumberLength: 4, OutsideLinePrefix: "9", DefaultCountryCode: "1", DefaultAreaCode: "212"}
	none := Settings{InternalNumberLength: 4}
	exts := func(d string) bool { return d == "201" || d == "55501" }
	cases := []struct {
		name string
		s    Settings
		in   string
		want string
	}{
		{"canonical", uk, "+44 (161) 5527789", "+441615527789"},
		{"plus with junk", uk, "Tel: +44-161-552 7789 (office)", "+441615527789"},
		{"international 00", uk, "0044 161 5527789", "+441615527789"},
		{"national", uk, "0161 552 7789", "+441615527789"},
		{"local", uk, "552 7789", "+441615527789"},
		{"mobile national", uk, "07700 900123", "+447700900123"},
		{"outside line + national", uk, "9 0161 5527789", "+441615527789"},
		{"outside line + international", uk, "9 00 33 1 23 45 67 89", "+33123456789"},
		{"outside line + local", uk, "9 5527789", "+441615527789"},
		{"internal length", uk, "2001", "2001"},
		{"short number", uk, "112", "112"},
		{"internal starting with the prefix", uk, "9123", "9123"},
		{"configured extension", uk, "55501", "55501"},
		{"no digits", uk, "ask reception", ""},
		{"empty", uk, "", ""},
		{"plus not leading: local, too long for E.164", uk, "44+161 5527789", "441615527789"},
		{"no prefix setting: 9 is a local digit", ukNoPrefix, "9 5527789", "+4416195527789"},
		{"too long for E.164 stays digits", uk, "0161 5527789 123456", "01615527789123456"},
		{"plus too long kept", uk, "+1234567890123456789", "+1234567890123456789"},
		{"DE prefix 0 + national", de, "0 030 1234567", "+49301234567"},
		{"DE national without prefix", de, "030 1234567", "+49301234567"},
		{"DE outside + international", de, "0 0044 161 5527789", "+441615527789"},
		{"DE local", de, "1234567", "+49301234567"},
		{"US national 1", us, "1 (646) 555-0100", "+16465550100"},
		{"US ten digits", us, "646-555-0100", "+16465550100"},
		{"US international 011", us, "011 44 161 5527789", "+441615527789"},
		{"US outside + local", us, "9 555 0100", "+12125550100"},
		{"no settings: national stays", none, "0161 5527789", "01615527789"},
		{"no settings: international", none, "00 44 161 5527789", "+441615527789"},
		{"no settings: prefix-less local", none, "5527789", "5527789"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.CanonicalNumber(tc.in, exts)
			if got != tc.want {
				t.Fatalf("CanonicalNumber(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := tc.s.CanonicalNumber(got, exts); again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q", tc.in, got, again)
			}
		})
	}
}

func TestIsE164(t *testing.T) {
	for in, want := range map[string]bool{
		"+441615527789": true, "+1": true, "+0161": false, "441615527789": false,
		"+1234567890123456": false, "+123456789012345": true, "+": false, "+44a": false,
	} {
		if got := IsE164(in); got != want {
			t.Errorf("IsE164(%q) = %v", in, got)
		}
	}
}

// FuzzCanonicalNumber holds the stored-number normaliser and the
// dial-input rule to their properties on any input: no panic; the result
// is "" exactly when there is no digit, else digits with at most a leading
// '+'; normalising is idempotent; a number accepted for dialling
// normalises like its dial form.
func FuzzCanonicalNumber(f *testing.F) {
	for _, s := range []string{
		"+44 (161) 5527789", "44 161 5527789", "0161 552 7789", "9 0161 5527789", "2001", "112",
		"0044 161 5527789", "*552001", "Tel: +1 (646) 555-0100 ext. 12", "", "+", "((", "9", "99999999999999999999999",
		"0 030 1234567", "011 44 161", "+0", "٣٤٥", "1-800-FLOWERS", "  +  44", "+44 (161 5527789", "+44 () 1",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	plans := []Settings{
		ctiSettings,
		{InternalNumberLength: 3, OutsideLinePrefix: "0", DefaultCountryCode: "49", DefaultAreaCode: "30"},
		{InternalNumberLength: 4, OutsideLinePrefix: "9", DefaultCountryCode: "1", DefaultAreaCode: "212"},
		{InternalNumberLength: 4},
	}
	exts := func(d string) bool { return d == "201" || d == "55501" }
	f.Fuzz(func(t *testing.T, raw string, plan uint8) {
		s := plans[int(plan)%len(plans)]
		n := s.CanonicalNumber(raw, exts)
		if (n == "") != (DigitsOf(raw) == "") {
			t.Fatalf("%q -> %q: empty iff no digits", raw, n)
		}
		for i := 0; i < len(n); i++ {
			if c := n[i]; !(c >= '0' && c <= '9') && !(c == '+' && i == 0) {
				t.Fatalf("%q -> %q: not digits with a leading +", raw, n)
			}
		}
		if again := s.CanonicalNumber(n, exts); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, n, again)
		}
		if d := len(strings.TrimPrefix(n, "+")); d > 0 && d <= MaxDigits {
			if dial, err := NormalizeNumber(n); err != nil || dial != n {
				t.Fatalf("click-to-dial of %q: %q is not dialable as is (%q, %v)", raw, n, dial, err)
			}
		}
		if strings.HasPrefix(n, "+") && !strings.Contains(raw, "+") {
			if !IsE164(n) && n[1] != '0' {
				t.Fatalf("%q -> %q: made up a non-E.164 international number", raw, n)
			}
		}
		if dial, err := NormalizeNumber(raw); err == nil {
			for i := 0; i < len(dial); i++ {
				if c := dial[i]; !(c >= '0' && c <= '9') && !((c == '+' || c == '*') && i == 0) {
					t.Fatalf("dial %q -> %q", raw, dial)
				}
			}
			if got := s.CanonicalNumber(dial, exts); got != n {
				t.Fatalf("dial form %q of %q normalises to %q, the input to %q", dial, raw, got, n)
			}
		}
	})
}

func TestDialInputRule(t *testing.T) {
	for in, want := range map[string]string{
		"44 161 5527789":    "441615527789",
		"+44 (161) 5527789": "+441615527789",
		"  3001 ":           "3001",
		"*553001":           "*553001",
		"0161-552-7789":     "",
		"+44.161.5527789":   "",
		"+44 (161 5527789":  "",
		"44 (161) 5527789":  "",
		"":                  "",
		"abc":               "",
	} {
		got, err := NormalizeNumber(in)
		if (err == nil) != (want != "") || got != want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

const ctiDoc = `
settings: {internal_number_length: 4, outside_line_prefix: "9", default_country_code: "44", default_area_code: "161"}
contacts:
  - {id: k1, first_name: Dora, last_name: Supplier, company: Widgets, phone: "0161 552 7789"}
  - {id: k2, first_name: Abe, last_name: Accounts, company: Widgets, phone: "+44 (161) 5527789", mobile: "07700 900999"}
  - {id: k3, first_name: Zed, last_name: Other, phone: "tel. 020 7946 0000"}
`

func TestMatchCaller(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(ctiDoc)
	ids := func(m CallerMatch) []string {
		var out []string
		for _, x := range m.Matches {
			out = append(out, x.Kind+":"+x.ID+":"+x.Field)
		}
		return out
	}
	cases := []struct {
		number   string
		norm     string
		internal bool
		display  string
		want     []string
	}{
		{"+441615527789", "+441615527789", false, "", []string{"contact:k2:phone", "contact:k1:phone"}}, // every match, sorted by last name
		{"01615527789", "+441615527789", false, "", []string{"contact:k2:phone", "contact:k1:phone"}},
		{"5527789", "+441615527789", false, "", []string{"contact:k2:phone", "contact:k1:phone"}},
		{"+447700900999", "+447700900999", false, "Abe Accounts", []string{"contact:k2:mobile"}},
		{"+447700900123", "+447700900123", false, "Bob Target", []string{"user:bob:mobile"}}, // a colleague's mobile
		{"3001", "3001", true, InternalLabel, []string{"user:bob:extension"}},
		{"2003", "2003", true, InternalLabel, nil}, // an agent's extension without a user
		{"4444", "4444", true, InternalLabel, nil}, // internal length
		{"+33 1 23 45 67 89", "+33123456789", false, "", nil},
		{"anonymous", "", false, "", nil},
	}
	for _, tc := range cases {
		m := h.e.MatchCaller(tc.number)
		if m.Normalized != tc.norm || m.Internal != tc.internal || m.Display != tc.display || !reflect.DeepEqual(ids(m), tc.want) {
			t.Errorf("MatchCaller(%q) = %+v; want %s internal=%v display=%q %v", tc.number, m, tc.norm, tc.internal, tc.display, tc.want)
		}
		if m.Matches == nil {
			t.Errorf("MatchCaller(%q): nil matches", tc.number)
		}
	}
	// The index follows the configuration: a new contact matches at once,
	// a settings change renormalises.
	h.config(`contacts: [{id: k4, first_name: New, last_name: Caller, mobile: "+33 1 23 45 67 89"}]`)
	if m := h.e.MatchCaller("0033123456789"); len(m.Matches) != 1 || m.Matches[0].ID != "k4" {
		t.Fatalf("new contact not matched: %+v", m)
	}
	h.config(`settings: {default_country_code: "33"}`)
	if m := h.e.MatchCaller("01 23 45 67 89"); len(m.Matches) != 1 || m.Normalized != "+33123456789" {
		t.Fatalf("after a country change: %+v", m)
	}
}

func TestIncomingCallIdentified(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(ctiDoc + `excluded_numbers: ["020 7946 0000"]`)
	h.connect("a1")
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c1", Queue: "sales", Number: "0161 5527789"})
	want := []string{EvCallQueued, EvCallIdentified, EvCallOffered}
	if got := h.types(); !reflect.DeepEqual(got[:3], want) {
		t.Fatalf("events %v, want %v first", got, want)
	}
	var m CallerMatch
	h.event(EvCallIdentified, &m)
	if m.Call != "c1" || len(m.Matches) != 2 || m.Normalized != "+441615527789" {
		t.Fatalf("identified %+v", m)
	}
	// A colleague: "Internal".
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c2", Extension: "3002", Number: "3001"})
	h.event(EvCallIdentified, &m)
	if !m.Internal || m.Display != InternalLabel || len(m.Matches) != 1 || m.Matches[0].ID != "bob" {
		t.Fatalf("colleague %+v", m)
	}
	// Excluded, no match: still identified (flagged).
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c3", Queue: "sales", Number: "+44 20 7946 0000"})
	h.event(EvCallIdentified, &m)
	if !m.Excluded || len(m.Matches) != 1 {
		t.Fatalf("excluded %+v", m)
	}
	// Unknown caller: no screen pop event.
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c4", Queue: "sales", Number: "+33 1 23 45 67 89"})
	if h.hasEvent(EvCallIdentified) {
		t.Fatalf("unknown caller identified: %v", h.types())
	}
	// A refused incoming call identifies nothing (the harness checks it
	// emits nothing and changes nothing).
	h.fail(TypeCallIncoming, IncomingRequest{Call: "c1", Queue: "sales", Number: "0161 5527789"}, nil)
}

func TestActiveCalls(t *testing.T) {
	h := newHarness(t, baseDoc)
	states := func(agent string) []string {
		t.Helper()
		list, ok := h.e.ActiveCalls(agent)
		if !ok {
			t.Fatalf("no agent %s", agent)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.Call+":"+c.State+":"+c.Detail)
		}
		return out
	}
	want := func(agent string, w ...string) {
		t.Helper()
		if got := states(agent); !reflect.DeepEqual(got, w) {
			t.Fatalf("%s active calls %v, want %v", agent, got, w)
		}
	}
	if _, ok := h.e.ActiveCalls("ghost"); ok {
		t.Fatal("unknown agent listed")
	}
	want("a1")
	h.connect("a1")
	h.incoming("c1", "sales")
	want("a1", "c1:"+CTIRinging+":offered")
	h.answer("a1")
	want("a1", "c1:"+CTIConnected+":talking")
	h.ok(TypeCallHold, AgentCallRequest{Agent: "a1"})
	want("a1", "c1:"+CTIOnHold+":held")
	h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k1", Target: "3001"})
	want("a1", "c1:"+CTIPendingTransfer+":held", "k1:"+CTIDialing+":dialing")
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "k1"})
	want("a1", "c1:"+CTIPendingTransfer+":held", "k1:"+CTIConsulting+":talking")
	list, _ := h.e.ActiveCalls("a1")
	if ops := list[1].Operations; !contains(ops, TypeCallComplete) || !contains(ops, TypeCallCancelConsult) || len(list[0].Operations) != 0 {
		t.Fatalf("operations %+v", list)
	}
	h.ok(TypeCallCancelConsult, AgentCallRequest{Agent: "a1"})
	want("a1", "c1:"+CTIConnected+":talking")
	h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
	want("a1", "c1:"+CTIPendingTransfer+":transfer")
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d1", Number: "+44 (161) 5550000"})
	want("a1", "d1:"+CTIDialing+":dialing", "c1:"+CTIPendingTransfer+":transfer")
	list, _ = h.e.ActiveCalls("a1")
	if len(list[1].Operations) != 0 {
		t.Fatalf("retrieve offered while in a call: %+v", list[1])
	}
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "d1"})
	h.ok(TypeCallPark, ParkRequest{Agent: "a1", Note: "n"})
	want("a1", "c1:"+CTIPendingTransfer+":transfer", "d1:"+CTIOnHold+":parked")
	list, _ = h.e.ActiveCalls("a1")
	if !reflect.DeepEqual(list[1].Operations, []string{TypeCallRetrieve}) || list[1].Note != "n" {
		t.Fatalf("parked row %+v", list[1])
	}
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c1"}) // the transfer target answered: gone
	want("a1", "d1:"+CTIOnHold+":parked")
}
