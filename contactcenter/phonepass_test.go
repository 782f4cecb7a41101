package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const passDoc = `
settings: {phone_secrets: {rotate_days: 30, expire_days: 35, grace_seconds: 3600}}
extensions:
  - number: "500"
    phones:
      - {id: plain, position: 0, order: 1, password: "Plain-Phone-Pass-1"}
      - {id: sec, position: 1, order: 1, secure: true, published: true}
      - {id: bare, position: 2, order: 1}
`

const (
	passS1    = "Secret-One-0123456789abcdef"
	passS2    = "Secret-Two-0123456789abcdef"
	passS3    = "Secret-Three-0123456789abcde"
	passPlain = "Plain-Phone-Pass-1"
)

// TestPhonePasswords walks a secure phone through provisioning, a
// rotation, its grace period and expiry, on the engine's clock, and
// checks what PhonePasswords answers at each step.
func TestPhonePasswords(t *testing.T) {
	const day = 24 * time.Hour
	h := newHarness(t, passDoc)
	t1 := h.now
	set := func(secret string, exp time.Time) SecretEvent {
		var ev SecretEvent
		remarshal(t, h.ok(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: secret, ExpiresAt: exp}), &ev)
		return ev
	}
	steps := []struct {
		name  string
		at    time.Duration // engine time since the start (a tick, unless set)
		set   string        // a phone.set_secret at that time instead of a tick
		exp   time.Duration // its expiry, since the start
		grace time.Duration // the grace_until the rotation reports (0: none)
		event string        // an event the step emits
		want  []string
	}{
		{name: "no secret yet", want: nil},
		{name: "provisioned", set: passS1, exp: 35 * day, want: []string{passS1}, event: EvPhoneSecretRotated},
		{name: "still valid a day later", at: day, want: []string{passS1}},
		{name: "rotated after 30 days: both work", at: 30 * day, set: passS2, exp: 65 * day, grace: 30*day + time.Hour,
			want: []string{passS2, passS1}, event: EvPhoneSecretRotated},
		{name: "within the grace", at: 30*day + 59*time.Minute, want: []string{passS2, passS1}},
		{name: "grace over", at: 30*day + time.Hour, want: []string{passS2}, event: EvPhoneSecretGraceEnded},
		{name: "the same secret again gives no grace", at: 31 * day, set: passS2, exp: 66 * day, want: []string{passS2}},
		// A rotation ten minutes before the old secret expires: the grace
		// ends with the old secret's own expiry.
		{name: "rotation near expiry", at: 66*day - 10*time.Minute, set: passS3, exp: 100 * day, grace: 66 * day,
			want: []string{passS3, passS2}},
		{name: "grace capped by the old expiry", at: 66 * day, want: []string{passS3}, event: EvPhoneSecretGraceEnded},
		{name: "expired", at: 100 * day, want: nil, event: EvPhoneSecretExpired},
		{name: "an expired secret replaced: no grace", at: 101 * day, set: passS1, exp: 130 * day, want: []string{passS1}},
	}
	for _, st := range steps {
		h.now = t1.Add(st.at)
		switch {
		case st.set != "":
			ev := set(st.set, t1.Add(st.exp))
			var wantGrace int64
			if st.grace > 0 {
				wantGrace = t1.Add(st.grace).UnixNano()
			}
			if ev.GraceUntil != wantGrace {
				t.Errorf("%s: grace_until %d, want %d", st.name, ev.GraceUntil, wantGrace)
			}
		case st.at > 0:
			h.tick()
		}
		if st.event != "" && !h.hasEvent(st.event) {
			t.Errorf("%s: no %s in %v", st.name, st.event, h.types())
		}
		if got := h.e.PhonePasswords("500", "sec"); !slices.Equal(got, st.want) {
			t.Errorf("%s: PhonePasswords = %q, want %q", st.name, got, st.want)
		}
	}
}

// TestPhonePasswordsKinds: what PhonePasswords answers for each kind of
// phone, and that the grace deadline is a timer (NextDeadline, snapshot).
func TestPhonePasswordsKinds(t *testing.T) {
	h := newHarness(t, passDoc)
	exp := h.now.Add(35 * 24 * time.Hour)
	h.ok(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: passS1, ExpiresAt: exp})
	h.advance(time.Minute)
	h.ok(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: passS2, ExpiresAt: exp})
	for _, tc := range []struct {
		ext, phone string
		want       []string
	}{
		{"500", "plain", []string{passPlain}},
		{"500", "sec", []string{passS2, passS1}},
		{"500", "bare", nil},
		{"500", "nope", nil},
		{"599", "plain", nil},
	} {
		if got := h.e.PhonePasswords(tc.ext, tc.phone); !slices.Equal(got, tc.want) {
			t.Errorf("PhonePasswords(%s, %s) = %q, want %q", tc.ext, tc.phone, got, tc.want)
		}
	}
	h.tick() // schedules the daily maintenance (03:00, later than the grace's end)
	if at, ok := h.e.NextDeadline(); !ok || at != h.now.Add(time.Hour).UnixNano() {
		t.Fatalf("NextDeadline = %d %v, want the grace's end", at, ok)
	}
	e2 := restored(t, h.e)
	if got := e2.PhonePasswords("500", "sec"); !slices.Equal(got, []string{passS2, passS1}) || e2.Hash() != h.e.Hash() {
		t.Fatalf("restored engine: %q", got)
	}
	// The phone stops being secure: its secrets go.
	h.config(strings.Replace(passDoc, ", secure: true, published: true", "", 1))
	if got := h.e.PhonePasswords("500", "sec"); got != nil {
		t.Fatalf("a phone no longer secure still has %q", got)
	}
}

// TestPhonePasswordConfig: the password field of the document, its
// refusals (state unchanged, the value never quoted), its redaction and
// keeping it when the redacted document is applied back.
func TestPhonePasswordConfig(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"secure phone", `{id: s, position: 0, secure: true, password: "Admin-Chosen-Pass"}`, "extensions[0].phones[0].password"},
		{"secure phone, redacted", `{id: s, position: 0, secure: true, password: redacted}`, "extensions[0].phones[0].password"},
		{"too short", `{id: p, position: 0, password: "Short-1"}`, "extensions[0].phones[0].password"},
		{"a space", `{id: p, position: 0, password: "Has A Space 123"}`, "extensions[0].phones[0].password"},
		{"not ASCII", `{id: p, position: 0, password: "Pässwörter-123"}`, "extensions[0].phones[0].password"},
		{"too long", `{id: p, position: 0, password: "` + strings.Repeat("x", MaxPhonePasswordLen+1) + `"}`, "extensions[0].phones[0].password"},
		{"redacted, new phone", `{id: p, position: 0, password: redacted}`, "extensions[0].phones[0].password"},
		{"redacted, phone without one", `{id: bare, position: 2, password: redacted}`, "extensions[0].phones[0].password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, passDoc)
			d, err := ParseDocument([]byte("extensions:\n  - number: \"500\"\n    phones:\n      - " + tc.doc + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil) // state unchanged, nothing emitted
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a field error on %s", err, tc.field)
			}
			for _, p := range []string{"Admin-Chosen-Pass", "Short-1", "Has A Space", "Pässwörter", "xxxxxxxxxx"} {
				if strings.Contains(err.Error(), p) {
					t.Fatalf("the error quotes the password: %v", err)
				}
			}
			if tc.name != "redacted, new phone" && tc.name != "redacted, phone without one" {
				if verr := d.Validate(); verr == nil {
					t.Fatal("Validate accepts it")
				}
			}
		})
	}

	h := newHarness(t, passDoc)
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	b, _ := json.Marshal(doc)
	if strings.Contains(string(b), passPlain) || doc.Extensions[0].Phones[0].Password != PasswordHashRedacted || doc.Extensions[0].Phones[2].Password != "" {
		t.Fatalf("document: %s", b)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("the document read back does not validate: %v", err)
	}
	if r := h.ok(TypeConfigApply, ApplyRequest{Document: doc, Prune: true}).(ApplyResult); r.Changed() {
		t.Fatalf("applying the document read back changed %+v", r)
	}
	if got := h.e.PhonePasswords("500", "plain"); !slices.Equal(got, []string{passPlain}) {
		t.Fatalf("after re-applying the redacted document: %q", got)
	}
	// A new password: an update event without it.
	h.config(strings.Replace(passDoc, passPlain, "Another-Pass-22", 1))
	if got := h.e.PhonePasswords("500", "plain"); !slices.Equal(got, []string{"Another-Pass-22"}) {
		t.Fatalf("new password: %q", got)
	}
	var ext Extension
	h.event("config.extension.updated", &ext)
	if ext.Phones[0].Password != PasswordHashRedacted {
		t.Fatalf("config.extension.updated shows %+v", ext.Phones[0])
	}
	// Ring order and ringing switches keep it, and show it to no one.
	res := h.ok(TypePhoneSetOrder, PhoneOrderRequest{Extension: "500", Phone: "plain", Order: 3})
	views, _ := h.e.Phones("500")
	for what, v := range map[string]any{"set_order result": res, "events": h.events, "phones": views} {
		if b, _ := json.Marshal(v); strings.Contains(string(b), "Another-Pass-22") {
			t.Fatalf("%s shows the password: %s", what, b)
		}
	}
	if got := h.e.PhonePasswords("500", "plain"); !slices.Equal(got, []string{"Another-Pass-22"}) {
		t.Fatalf("after set_order: %q", got)
	}
	// Omitted from the document: the phone has none any more.
	h.config(strings.Replace(passDoc, `, password: "`+passPlain+`"`, "", 1))
	if got := h.e.PhonePasswords("500", "plain"); got != nil {
		t.Fatalf("password omitted: %q", got)
	}
}

func TestPhoneSecretSettings(t *testing.T) {
	for _, tc := range []struct {
		settings, field string
	}{
		{"{rotate_days: 30, expire_days: 30}", "settings.phone_secrets.expire_days"},
		{"{rotate_days: 40}", "settings.phone_secrets.expire_days"}, // default expiry 35
		{"{rotate_days: -1}", "settings.phone_secrets.rotate_days"},
		{"{expire_days: 4000}", "settings.phone_secrets.expire_days"},
		{"{grace_seconds: 604801}", "settings.phone_secrets.grace_seconds"},
		{"{grace_seconds: -5}", "settings.phone_secrets.grace_seconds"},
	} {
		d, err := ParseDocument([]byte("settings: {phone_secrets: " + tc.settings + "}"))
		if err == nil {
			err = d.Validate()
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error on %s", tc.settings, err, tc.field)
		}
	}
	d := DefaultSettings().withDefaults().PhoneSecrets
	if d.Rotate() != 30*24*time.Hour || d.Expire() != 35*24*time.Hour || d.Grace() != 24*time.Hour || d.Due() != 5*24*time.Hour {
		t.Fatalf("defaults %+v", d)
	}
}

func TestSIPUser(t *testing.T) {
	for _, tc := range []struct {
		user, ext, phone string
		ok               bool
	}{
		{"2001-desk", "2001", "desk", true},
		{"2001-my-desk.2", "2001", "my-desk.2", true},
		{"2001desk", "", "", false},
		{"20a1-desk", "", "", false},
		{"2001-", "", "", false},
		{"-desk", "", "", false},
		{"2001--desk", "", "", false},
		{"1-desk", "", "", false},
	} {
		ext, phone, ok := ParseSIPUser(tc.user)
		if ext != tc.ext || phone != tc.phone || ok != tc.ok {
			t.Errorf("ParseSIPUser(%q) = %q %q %v", tc.user, ext, phone, ok)
		}
		if ok && SIPUser(ext, phone) != tc.user {
			t.Errorf("SIPUser(%q, %q) = %q", ext, phone, SIPUser(ext, phone))
		}
	}
}

// FuzzParseSIPUser: whatever ParseSIPUser accepts, SIPUser gives back.
func FuzzParseSIPUser(f *testing.F) {
	for _, s := range []string{"2001-desk", "2001-my-desk", "2001", "-", "2001--x", "99-a.b_c", "\x00-\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, user string) {
		ext, phone, ok := ParseSIPUser(user)
		if !ok {
			return
		}
		if SIPUser(ext, phone) != user || !extRE.MatchString(ext) || !validID(phone) {
			t.Fatalf("%q → %q %q", user, ext, phone)
		}
	})
}

// ExampleSIPUser shows the digest user name of a phone.
func ExampleSIPUser() {
	fmt.Println(SIPUser("2001", "desk"))
	// Output: 2001-desk
}

func TestPhoneProvisioning(t *testing.T) {
	h := newHarness(t, strings.Replace(passDoc, "grace_seconds: 3600}", "grace_seconds: 3600}, sip_servers: [\"sip.example.com:5060\", \"[2001:db8::1]:5080\"]", 1))
	start := h.now
	for _, tc := range []struct {
		name, ext, phone string
		want             error
	}{
		{"unknown extension", "599", "sec", ErrUnknownExtension},
		{"unknown phone", "500", "nope", ErrUnknownPhone},
		{"not secure", "500", "plain", ErrNotSecure},
		{"no password yet", "500", "sec", ErrNoSecret},
	} {
		if _, err := h.e.PhoneProvisioning(tc.ext, tc.phone); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		} else if strings.Contains(err.Error(), passPlain) {
			t.Errorf("%s: %v quotes the password", tc.name, err)
		}
	}
	exp := start.Add(time.Hour)
	h.ok(TypePhoneSetSecret, SetSecretRequest{Extension: "500", Phone: "sec", Secret: passS1, ExpiresAt: exp})
	got, err := h.e.PhoneProvisioning("500", "sec")
	want := PhoneProvisioning{Extension: "500", Phone: "sec", SIPUser: "500-sec", Password: passS1, Realm: SIPRealm,
		SIPServers: []string{"sip.example.com:5060", "[2001:db8::1]:5080"}, Transports: []string{"udp", "tcp"},
		RotatedAt: start, ExpiresAt: exp}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("PhoneProvisioning = %+v %v,\nwant %+v", got, err, want)
	}
	h.at(time.Hour)
	if _, err := h.e.PhoneProvisioning("500", "sec"); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("expired: %v", err)
	}
}

func TestSIPServersSetting(t *testing.T) {
	for _, tc := range []struct {
		servers string
		field   string
	}{
		{`["sip.example.com:5060"]`, ""},
		{`["10.0.0.1:5060", "[::1]:5060"]`, ""},
		{`["sip.example.com"]`, "settings.sip_servers[0]"},
		{`["a:5060", ":5060"]`, "settings.sip_servers[1]"},
		{`["a:0"]`, "settings.sip_servers[0]"},
		{`["a:70000"]`, "settings.sip_servers[0]"},
		{`["sip:a@b:5060"]`, "settings.sip_servers[0]"},
		{`["a\u202e:5060"]`, "settings.sip_servers[0]"},
		{`[` + strings.Repeat(`"a:1",`, MaxSIPServers) + `"a:1"]`, "settings.sip_servers"},
	} {
		d, err := ParseDocument([]byte(`{"settings": {"sip_servers": ` + tc.servers + `}}`))
		if err == nil {
			err = d.Validate()
		}
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.servers, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%s: %v, want an error on %s", tc.servers, err, tc.field)
		}
	}
}
