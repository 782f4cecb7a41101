package contactcenter

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The SIP registrar's binding travels with phone.registration so that a
// new leader can ring the phone at once (voice/DESIGN.md).
func TestRegistrationBinding(t *testing.T) {
	h := newHarness(t, baseDoc)
	if got := h.e.Registrations(); len(got) != 0 {
		t.Fatalf("registrations before any = %+v", got)
	}
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true,
		Contact: "sip:2001@192.0.2.7:5062;transport=udp", ExpiresSeconds: 600})
	got := h.e.Registrations()
	want := []Registration{{Extension: "2001", Phone: "desk", Contact: "sip:2001@192.0.2.7:5062;transport=udp", ExpiresSeconds: 600, Since: got[0].Since}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("registrations = %+v, want %+v", got, want)
	}
	// A new contact while registered replaces the binding.
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true,
		Contact: "sip:2001@192.0.2.8:5062", ExpiresSeconds: 300})
	if got := h.e.Registrations(); len(got) != 1 || got[0].Contact != "sip:2001@192.0.2.8:5062" || got[0].ExpiresSeconds != 300 {
		t.Fatalf("after a new contact: %+v", got)
	}
	for _, bad := range []PhoneRegistrationRequest{
		{Extension: "2001", Phone: "desk", Registered: false, Contact: "sip:x@y"},
		{Extension: "2001", Phone: "desk", Registered: true, ExpiresSeconds: -1},
		{Extension: "2001", Phone: "desk", Registered: true, ExpiresSeconds: MaxRegistrationSeconds + 1},
	} {
		before := h.e.Hash()
		if _, err := h.apply(TypePhoneRegistration, bad); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
		if h.e.Hash() != before {
			t.Fatalf("refused %+v changed the state", bad)
		}
	}
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: false})
	if got := h.e.Registrations(); len(got) != 0 {
		t.Fatalf("after un-registering: %+v", got)
	}
	// The edge bounds the contact (CheckPayload).
	long := make([]byte, MaxURILen+1)
	for i := range long {
		long[i] = 'a'
	}
	if err := CheckPayload(TypePhoneRegistration, []byte(`{"extension":"2001","phone":"desk","registered":true,"contact":"`+string(long)+`"}`)); err == nil {
		t.Fatal("CheckPayload accepted an over-long contact")
	}
	if err := CheckPayload(TypePhoneRegistration, []byte(`{"extension":"2001","phone":"desk","registered":true,"contact":"sip:a@b\u0007"}`)); err == nil {
		t.Fatal("CheckPayload accepted a control character in the contact")
	}
}

// The expiry the granting leader stamped travels with the binding, so a
// new leader expires the phone when the old one would have; it must lie
// within the interval of the command's (leader-stamped) time.
func TestRegistrationExpiresAt(t *testing.T) {
	h := newHarness(t, baseDoc)
	now := h.now.UnixNano()
	at := now + 600*int64(time.Second)
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true,
		Contact: "sip:2001@192.0.2.7:5062", ExpiresSeconds: 600, ExpiresAt: at})
	if got := h.e.Registrations(); len(got) != 1 || got[0].ExpiresAt != at {
		t.Fatalf("registrations = %+v, want expires_at %d", got, at)
	}
	for _, bad := range []PhoneRegistrationRequest{
		{Extension: "2001", Phone: "desk", Registered: false, ExpiresAt: at},
		{Extension: "2001", Phone: "desk", Registered: true, ExpiresSeconds: 600, ExpiresAt: now - int64(2*time.Minute)},
		{Extension: "2001", Phone: "desk", Registered: true, ExpiresSeconds: 600, ExpiresAt: now + int64(12*time.Minute)},
		{Extension: "2001", Phone: "desk", Registered: true, ExpiresSeconds: 600, ExpiresAt: -1},
	} {
		before := h.e.Hash()
		if _, err := h.apply(TypePhoneRegistration, bad); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
		if h.e.Hash() != before {
			t.Fatalf("refused %+v changed the state", bad)
		}
	}
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: false})
	if got := h.e.Registrations(); len(got) != 0 {
		t.Fatalf("after un-registering: %+v", got)
	}
}

// A call's edge data is kept with it, opaque, and bounded at the edge.
func TestIncomingEdgeKept(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.ok(TypeCallIncoming, IncomingRequest{Call: "sip-1", Queue: "sales", Edge: `{"src":"192.0.2.1:5060"}`})
	var edge string
	h.e.View(func(st *State) { edge = st.Calls["sip-1"].Edge })
	if edge != `{"src":"192.0.2.1:5060"}` {
		t.Fatalf("edge %q", edge)
	}
	long := strings.Repeat("a", MaxEdgeLen+1)
	if err := CheckPayload(TypeCallIncoming, []byte(`{"call":"sip-2","queue":"sales","edge":"`+long+`"}`)); err == nil {
		t.Fatal("CheckPayload accepted an over-long edge")
	}
}
