package contactcenter

import "testing"

// TestExtensionUsage follows TestLineStatus's steps: the counts agree
// with the line statuses at each one.
func TestExtensionUsage(t *testing.T) {
	h := newHarness(t, baseDoc)
	want := func(operational, inUse int) {
		t.Helper()
		if got := h.e.ExtensionUsage(); got != (ExtensionUsage{Configured: 6, Operational: operational, InUse: inUse}) {
			t.Fatalf("usage %+v, want 6 configured, %d operational, %d in use", got, operational, inUse)
		}
	}
	want(1, 0) // 3001 has a mobile phone
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true})
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "3002", Phone: "desk", Registered: true})
	want(3, 0)
	h.connect("a1")
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Queue: "sales", Number: "+441615550000"})
	want(3, 0) // ringing is not in use
	h.answer("a1")
	want(3, 1)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d", Number: "3002"})
	want(3, 1)
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: false})
	want(3, 1) // busy: still operational
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	want(2, 0)
}
