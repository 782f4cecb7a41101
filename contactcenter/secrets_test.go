package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Password hashes of the secrets sweep: well-formed, and each part
// distinctive, so a leak of the salt or the key alone is found too.
const (
	sweepHashAnn = "pbkdf2-sha256$600000$AnnSaltAnnSaltAnnSalt0$AnnKeyAnnKeyAnnKeyAnnKeyAnnKeyAnnKeyAnnKey0"
	sweepHashBob = "pbkdf2-sha256$600000$BobSaltBobSaltBobSalt0$BobKeyBobKeyBobKeyBobKeyBobKeyBobKeyBobKey0"
	sweepHashNew = "pbkdf2-sha256$600000$NewSaltNewSaltNewSalt0$NewKeyNewKeyNewKeyNewKeyNewKeyNewKeyNewKey0"
	sweepSecret  = "SIP-Secret-Sweep-0123456789abcdef"
	sweepSecret2 = "SIP-Secret-Rotated-fedcba9876543210"
	sweepPhonePw = "Sweep-Configured-Phone-Pass-42"
)

// sweepNeedles are the strings no output may contain: each hash whole,
// its salt and key alone, and the phone secrets.
func sweepNeedles() []string {
	var out []string
	for _, h := range []string{sweepHashAnn, sweepHashBob, sweepHashNew} {
		parts := strings.Split(h, "$")
		out = append(out, h, parts[2], parts[3])
	}
	return append(out, sweepSecret, sweepSecret2, sweepPhonePw)
}

const sweepDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: "Sweep-Configured-Phone-Pass-42"}]
  - number: "3001"
    phones:
      - {id: sec, position: 0, order: 1, secure: true, published: true}
      - {id: desk, position: 1, order: 1}
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: bob, name: Bob, extension: "3001", password_hash: "%s", monitored_mailboxes: ["2001"]}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`

// sweepLeaks returns what of v (marshalled as JSON unless a string or
// bytes) contains a needle.
func sweepLeaks(v any) []string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return []string{"unmarshallable: " + err.Error()}
		}
		s = string(b)
	}
	var found []string
	for _, n := range sweepNeedles() {
		if strings.Contains(s, n) {
			found = append(found, n)
		}
	}
	return found
}

// TestSecretsNeverLeaveTheEngine applies a configuration with password
// hashes and secure phones, sets phone secrets, works calls and changes
// the configuration, then looks for every hash (and its parts) and secret
// in every event, result, error, the document and every query. The
// engine must really hold them, or the sweep would prove nothing.
func TestSecretsNeverLeaveTheEngine(t *testing.T) {
	h := newHarness(t, fmt.Sprintf(sweepDoc, sweepHashAnn, sweepHashBob))
	outputs := map[string]any{}
	record := func(what string, v any) { outputs[fmt.Sprintf("%03d %s", len(outputs), what)] = v }
	ok := func(typ string, p any) { record("result of "+typ, h.ok(typ, p)) }

	exp := h.now.Add(30 * 24 * time.Hour)
	ok(TypePhoneSetSecret, SetSecretRequest{Extension: "3001", Phone: "sec", Secret: sweepSecret, ExpiresAt: exp})
	ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "3001", Phone: "sec", Registered: true})
	h.connect("a1")
	h.incoming("c1", "sales")
	h.answer("a1")
	ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
	ok(TypeCallRemoteAnswer, CallRequest{Call: "c1"})
	ok(TypeUserPresence, PresenceRequest{User: "bob", Presence: "meeting"})
	ok(TypeCallIncoming, IncomingRequest{Call: "c2", Queue: "sales", Number: "+441615550002"})
	ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c2"})
	// Rotation, a password change (an update event), expiry.
	ok(TypePhoneSetSecret, SetSecretRequest{Extension: "3001", Phone: "sec", Secret: sweepSecret2, ExpiresAt: exp.Add(time.Hour)})
	if got := h.e.PhonePasswords("3001", "sec"); len(got) != 2 || got[1] != sweepSecret {
		t.Fatalf("PhonePasswords during the grace = %q", got)
	}
	record("apply with a new hash", h.config(fmt.Sprintf(sweepDoc, sweepHashNew, sweepHashBob)))
	ok(TypePhoneSetOrder, PhoneOrderRequest{Extension: "2001", Phone: "desk", Order: 2})
	ok(TypePhoneSetRinging, PhoneRingingRequest{Extension: "2001", Phone: "desk", Enabled: false})
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	record("apply of the document read back", h.ok(TypeConfigApply, ApplyRequest{Document: doc}))
	if got := h.e.PhonePasswords("2001", "desk"); len(got) != 1 || got[0] != sweepPhonePw {
		t.Fatalf("configured phone password = %q", got)
	}
	snapGrace, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(snapGrace), sweepSecret) {
		t.Fatal("the snapshot lacks the secret in its grace period")
	}
	h.advance(25 * time.Hour) // past the default 24 h grace
	record("tick", h.tick())
	if !h.hasEvent(EvPhoneSecretGraceEnded) {
		t.Fatalf("no grace end: %v", h.types())
	}

	// The engine holds every secret (else the sweep would prove nothing).
	if s, ok := h.e.PhoneSecret("3001", "sec"); !ok || s != sweepSecret2 {
		t.Fatalf("PhoneSecret = %q %v", s, ok)
	}
	var held []string
	h.e.View(func(s *State) {
		held = []string{s.Config.Users["ann"].PasswordHash, s.Config.Users["bob"].PasswordHash}
		record("document", s.Config.Document())
	})
	if held[0] != sweepHashNew || held[1] != sweepHashBob {
		t.Fatalf("hashes held %q", held)
	}
	snap, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot is state replication: it holds the current ones.
	for _, want := range []string{sweepHashNew, sweepHashBob, sweepSecret2, sweepPhonePw} {
		if !strings.Contains(string(snap), want) {
			t.Fatalf("the snapshot lacks %q", want)
		}
	}

	// Refusals do not echo what they refuse.
	for _, bad := range []string{sweepHashAnn[:40], "x" + sweepHashAnn} {
		err := h.fail(TypeConfigApply, ApplyRequest{Document: Document{Users: []User{{ID: "ann", PasswordHash: bad}}}}, nil)
		record("error", err.Error())
	}
	record("error", h.fail(TypePhoneSetSecret, SetSecretRequest{Extension: "3001", Phone: "desk", Secret: sweepSecret, ExpiresAt: exp}, ErrNotSecure).Error())

	record("events", h.all)
	record("queues", h.e.Queues())
	record("supervised", h.e.Supervised("a1", true, ""))
	record("directory", entries(h.e.Directory("", nil, 0)))
	phones, _ := h.e.Phones("3001")
	record("phones", phones)
	sd, _ := h.e.SpeedDials("bob")
	record("speed dials", sd)
	ac, _ := h.e.ActiveCalls("a1")
	record("active calls", ac)
	hist, _ := h.e.History("a1", false)
	record("history", hist)
	record("caller", h.e.MatchCaller("3001"))
	vm, _ := h.e.Voicemail("2001")
	record("voicemail", vm)
	record("secrets due", h.e.SecretsDue(365*24*time.Hour))
	record("fmt", fmt.Sprintf("%+v %+v", h.e.Queues(), phones))

	for what, v := range outputs {
		if l := sweepLeaks(v); len(l) > 0 {
			t.Errorf("%s shows %q", what, l)
		}
	}
	var users int
	for _, ev := range h.all {
		if strings.HasPrefix(ev.Type, "config.user.") {
			users++
			var u UserEvent
			if err := json.Unmarshal(ev.Data, &u); err != nil || !u.PasswordSet || u.PasswordHash != "" {
				t.Errorf("%s %s: want password_set and no hash", ev.Type, ev.Data)
			}
		}
	}
	if users != 3 { // ann and bob created, ann updated
		t.Fatalf("%d config.user events", users)
	}
}

// TestDocumentRedactsPasswordHashes: the document shows "redacted"; read
// back and applied (pruning) it keeps every hash; "redacted" cannot give
// a user a hash it does not have.
func TestDocumentRedactsPasswordHashes(t *testing.T) {
	h := newHarness(t, fmt.Sprintf(sweepDoc, sweepHashAnn, sweepHashBob))
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	for _, u := range doc.Users {
		if u.PasswordHash != PasswordHashRedacted {
			t.Fatalf("document shows user %s with %q", u.ID, u.PasswordHash)
		}
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("the document read back does not validate: %v", err)
	}
	res := h.ok(TypeConfigApply, ApplyRequest{Document: doc, Prune: true})
	if r := res.(ApplyResult); r.Changed() {
		t.Fatalf("applying the document read back changed %+v", r)
	}
	h.e.View(func(s *State) {
		if s.Config.Users["ann"].PasswordHash != sweepHashAnn {
			t.Fatal("ann lost her hash")
		}
	})
	for _, tc := range []struct {
		name string
		user User
	}{
		{"new user", User{ID: "carl", PasswordHash: PasswordHashRedacted}},
		{"user without a hash", User{ID: "dora", PasswordHash: PasswordHashRedacted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "user without a hash" {
				h.ok(TypeConfigApply, ApplyRequest{Document: Document{Users: []User{{ID: "dora"}}}})
			}
			err := h.fail(TypeConfigApply, ApplyRequest{Document: Document{Users: []User{tc.user}}}, nil)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "users[0].password_hash" {
				t.Fatalf("error %v", err)
			}
		})
	}
}
