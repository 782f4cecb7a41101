package contactcenter

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRingPlan(t *testing.T) {
	cases := []struct {
		name   string
		doc    string
		regWeb bool
		want   [][]string
		err    string
	}{
		{"order waves, 0 never rings, gaps in positions", `
extensions:
  - number: "100"
    phones:
      - {id: a, position: 0, order: 2}
      - {id: b, position: 2, order: 1}
      - {id: c, position: 5, order: 2}
      - {id: d, position: 7, order: 0}
      - {id: e, position: 3, order: 3, disabled: true}
`, false, [][]string{{"b"}, {"a", "c"}}, ""},
		{"exclusive web phone logged in rings alone", `
extensions:
  - number: "100"
    phones:
      - {id: desk, position: 0, order: 1}
      - {id: web, kind: web, position: 1, order: 1}
users: [{id: u, extension: "100"}]
`, true, [][]string{{"web"}}, ""},
		{"exclusive web phone logged out: others by order", `
extensions:
  - number: "100"
    phones:
      - {id: desk, position: 0, order: 1}
      - {id: web, kind: web, position: 1, order: 1}
users: [{id: u, extension: "100"}]
`, false, [][]string{{"desk"}}, ""},
		{"multi-device: the web phone rings by order", `
extensions:
  - number: "100"
    phones:
      - {id: desk, position: 0, order: 2}
      - {id: web, kind: web, position: 1, order: 1}
users: [{id: u, extension: "100", web_phone_mode: multi-device}]
`, true, [][]string{{"web"}, {"desk"}}, ""},
		{"a pool web phone cannot be multi-device", `
extensions:
  - number: "100"
    phones: [{id: web, kind: web, pool: true, position: 1, order: 1}]
users: [{id: u, extension: "100", web_phone_mode: multi-device}]
`, false, nil, "users[0].web_phone_mode"},
		{"primary phone sits at position 0", `
extensions:
  - number: "100"
    phones:
      - {id: main, kind: primary, position: 4, order: 1}
      - {id: desk, position: 1, order: 1}
`, false, [][]string{{"main", "desk"}}, ""},
		{"position 0 is the primary phone's", `
extensions:
  - number: "100"
    phones:
      - {id: main, kind: primary, position: 4, order: 1}
      - {id: desk, position: 0, order: 1}
`, false, nil, "extensions[0].phones[1].position"},
		{"a 9th phone", `
extensions:
  - number: "100"
    phones: [{id: p0, position: 0}, {id: p1, position: 1}, {id: p2, position: 2}, {id: p3, position: 3},
             {id: p4, position: 4}, {id: p5, position: 5}, {id: p6, position: 6}, {id: p7, position: 7}, {id: p8, position: 7}]
`, false, nil, "extensions[0].phones"},
		{"position out of range", `
extensions:
  - number: "100"
    phones: [{id: p, position: 8}]
`, false, nil, "extensions[0].phones[0].position"},
		{"published must be secure", `
extensions:
  - number: "100"
    phones: [{id: p, position: 0, published: true}]
`, false, nil, "extensions[0].phones[0].published"},
		{"web phone neither secure nor published", `
extensions:
  - number: "100"
    phones: [{id: p, kind: web, position: 0, secure: true}]
`, false, nil, "extensions[0].phones[0].kind"},
		{"only web phones are pool phones", `
extensions:
  - number: "100"
    phones: [{id: p, position: 0, pool: true}]
`, false, nil, "extensions[0].phones[0].pool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			d, err := ParseDocument([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.apply(TypeConfigApply, ApplyRequest{Document: d})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("apply: %v, want an error naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.regWeb {
				h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "100", Phone: "web", Registered: true})
			}
			got, err := h.e.RingPlan("100")
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ring plan %v (%v), want %v", got, err, tc.want)
			}
		})
	}
	h := newHarness(t, baseDoc)
	if _, err := h.e.RingPlan("9"); err == nil {
		t.Fatal("ring plan of an unknown extension")
	}
}

func TestUserChangesOrderAndRinging(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.ok(TypePhoneSetOrder, PhoneOrderRequest{Extension: "3001", Phone: "mob", Order: 1})
	if p, _ := h.e.RingPlan("3001"); !reflect.DeepEqual(p, [][]string{{"desk", "mob"}}) {
		t.Fatalf("plan %v", p)
	}
	h.ok(TypePhoneSetRinging, PhoneRingingRequest{Extension: "3001", Phone: "desk", Enabled: false})
	if p, _ := h.e.RingPlan("3001"); !reflect.DeepEqual(p, [][]string{{"mob"}}) {
		t.Fatalf("plan %v", p)
	}
	if !h.hasEvent("config.extension.updated") {
		t.Fatalf("events %v", h.types())
	}
	h.fail(TypePhoneSetOrder, PhoneOrderRequest{Extension: "3001", Phone: "mob", Order: 100}, nil)
	h.fail(TypePhoneSetOrder, PhoneOrderRequest{Extension: "3001", Phone: "nope", Order: 1}, ErrUnknownPhone)
	h.fail(TypePhoneSetRinging, PhoneRingingRequest{Extension: "39", Phone: "desk"}, ErrUnknownExtension)
	views, _ := h.e.Phones("3001")
	if len(views) != 2 || !views[0].Disabled || views[1].Order != 1 {
		t.Fatalf("phones %+v", views)
	}
}

const secureDoc = `
extensions:
  - number: "500"
    phones:
      - {id: sec, position: 0, order: 1, secure: true, published: true}
      - {id: plain, position: 1, order: 1}
`

func TestSecurePhoneSecrets(t *testing.T) {
	h := newHarness(t, secureDoc)
	const secret = "S3cr3t-Generated-At-The-Edge-0123456789"
	exp := h.now.Add(30 * 24 * time.Hour)
	// A secure phone without a secret cannot register.
	h.fail(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "500", Phone: "sec", Registered: true}, ErrNotSecure)
	if due := h.e.SecretsDue(0); len(due) != 1 || due[0].Phone != "sec" {
		t.Fatalf("due %+v", due)
	}
	err := h.fail(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "plain", Secret: secret, ExpiresAt: exp}, ErrNotSecure)
	for _, e := range []error{err,
		h.fail(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: "short", ExpiresAt: exp}, nil),
		h.fail(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: secret, ExpiresAt: h.now}, nil),
	} {
		if strings.Contains(e.Error(), "S3cr3t") || strings.Contains(e.Error(), "short") {
			t.Fatalf("error echoes the secret: %v", e)
		}
	}
	res := h.ok(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: secret, ExpiresAt: exp})
	got, ok := h.e.PhoneSecret("500", "sec")
	if !ok || got != secret {
		t.Fatalf("PhoneSecret = %q %v", got, ok)
	}
	// Never exposed: result, events, View (state JSON), document, phone
	// views.
	leak := func(what string, v any) {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), secret) {
			t.Fatalf("%s exposes the secret: %s", what, b)
		}
	}
	leak("result", res)
	for _, ev := range h.events {
		leak("event "+ev.Type, ev)
	}
	h.e.View(func(s *State) { leak("state", s); leak("document", s.Config.Document()) })
	views, _ := h.e.Phones("500")
	leak("phones", views)
	if !views[0].SecretValid || views[0].SecretExpiresAt != exp.UnixNano() {
		t.Fatalf("view %+v", views[0])
	}
	leak("fmt", fmt.Sprintf("%+v", h.e.Queues()))
	// Registration works now; it survives a snapshot and restore.
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "500", Phone: "sec", Registered: true})
	snap, _ := h.e.Snapshot()
	e2 := New()
	if err := e2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if s, ok := e2.PhoneSecret("500", "sec"); !ok || s != secret || e2.Hash() != h.e.Hash() {
		t.Fatal("secret lost by snapshot/restore")
	}
	// Due for rotation a week before expiry; expires on a tick.
	if due := h.e.SecretsDue(7 * 24 * time.Hour); len(due) != 0 {
		t.Fatalf("due early %+v", due)
	}
	h.advance(24 * 24 * time.Hour)
	h.tick()
	if due := h.e.SecretsDue(7 * 24 * time.Hour); len(due) != 1 {
		t.Fatalf("not due %+v", due)
	}
	h.advance(6 * 24 * time.Hour)
	if r := h.tick(); r.Expired != 1 {
		t.Fatalf("tick %+v", r)
	}
	if _, ok := h.e.PhoneSecret("500", "sec"); ok {
		t.Fatal("expired secret still handed out")
	}
	h.fail(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "500", Phone: "sec", Registered: true}, ErrNotSecure)
	// Rotation gives a fresh secret.
	h.ok(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: secret + "x", ExpiresAt: h.now.Add(time.Hour)})
	if s, ok := h.e.PhoneSecret("500", "sec"); !ok || s != secret+"x" {
		t.Fatal("rotation")
	}
	// Making the phone non-secure drops the secret.
	d, _ := ParseDocument([]byte(`extensions: [{number: "500", phones: [{id: sec, position: 0, order: 1}]}]`))
	h.ok(TypeConfigApply, ApplyRequest{Document: d})
	if _, ok := h.e.PhoneSecret("500", "sec"); ok {
		t.Fatal("secret kept for a phone no longer secure")
	}
	// The administrator cannot set a secure phone's password in the
	// document (a non-secure phone's, yes: phonepass_test.go).
	d, err = ParseDocument([]byte(`extensions: [{number: "500", phones: [{id: sec, secure: true, password: Admin-Chosen-1}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err == nil || strings.Contains(err.Error(), "Admin-Chosen-1") {
		t.Fatalf("a secure phone's password in the document: %v", err)
	}
}
