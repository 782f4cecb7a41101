package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func vmIDs(ms []VoicemailMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestVoicemailList(t *testing.T) {
	h := newHarness(t, baseDoc)
	dep := func(id string) VoicemailEvent {
		t.Helper()
		h.advance(time.Minute)
		var ev VoicemailEvent
		remarshal(t, h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: id, From: "+441615550000", Name: "Caller", DurationSeconds: 12}), &ev)
		return ev
	}
	dep("m1")
	dep("m2")
	ev := dep("m3")
	if ev.Inbox != 3 || ev.Old != 0 || ev.Folder != FolderInbox || ev.At != h.now.UnixNano() {
		t.Fatalf("deposit %+v", ev)
	}
	h.ok(TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m2", Folder: FolderOld})
	var mk VoicemailEvent
	h.event(EvVoicemailMarked, &mk)
	if mk.Inbox != 2 || mk.Old != 1 {
		t.Fatalf("marked %+v", mk)
	}
	// Marking into the folder it is in is accepted and announces nothing.
	h.ok(TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m2", Folder: FolderOld})
	if len(h.events) != 0 {
		t.Fatalf("no-op mark emitted %v", h.types())
	}
	v, ok := h.e.Voicemail("3001")
	if !ok || !reflect.DeepEqual(vmIDs(v.Inbox), []string{"m3", "m1"}) || !reflect.DeepEqual(vmIDs(v.Old), []string{"m2"}) {
		t.Fatalf("view %+v", v)
	}
	h.ok(TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m2", Folder: FolderInbox, User: "bob"})
	h.ok(TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: "3001", Message: "m1", User: "bob"})
	var del VoicemailEvent
	h.event(EvVoicemailDeleted, &del)
	if del.Reason != "deleted" || del.Inbox != 2 {
		t.Fatalf("deleted %+v", del)
	}
	v, _ = h.e.Voicemail("3001")
	if !reflect.DeepEqual(vmIDs(v.Inbox), []string{"m3", "m2"}) || len(v.Old) != 0 {
		t.Fatalf("view %+v", v)
	}
	if v, ok := h.e.Voicemail("3002"); !ok || v.Inbox == nil || v.Old == nil || len(v.Inbox) != 0 {
		t.Fatalf("empty mailbox %+v", v)
	}
	if _, ok := h.e.Voicemail("9999"); ok {
		t.Fatal("unknown mailbox listed")
	}
	// Deleting the last message leaves no trace in the state.
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3002", Message: "x"})
	h.ok(TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: "3002", Message: "x"})
	h.e.View(func(s *State) {
		if _, ok := s.Voicemail["3002"]; ok {
			t.Fatal("empty mailbox kept")
		}
	})
}

func TestVoicemailRefusals(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(`users: [{id: dan, monitored_mailboxes: ["3001"]}]`)
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m1"})
	cases := []struct {
		name    string
		typ     string
		payload any
		want    error // nil: a field error
	}{
		{"unknown mailbox", TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "9999", Message: "m2"}, ErrUnknownExtension},
		{"no mailbox", TypeVoicemailDeposited, VoicemailDepositRequest{Message: "m2"}, nil},
		{"bad message id", TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m 2"}, nil},
		{"duplicate message", TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m1"}, ErrMessageExists},
		{"negative duration", TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m2", DurationSeconds: -1}, nil},
		{"long duration", TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m2", DurationSeconds: MaxVoicemailSeconds + 1}, nil},
		{"control character", TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m2", Name: "a\x00"}, nil},
		{"unknown field", TypeVoicemailDeposited, `{"mailbox":"3001","message":"m2","audio":"x"}`, nil},
		{"bad folder", TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m1", Folder: "trash"}, nil},
		{"unknown message", TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "zz", Folder: FolderOld}, ErrUnknownMessage},
		{"mark unknown mailbox", TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "9999", Message: "m1", Folder: FolderOld}, ErrUnknownExtension},
		{"not the user's mailbox", TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m1", Folder: FolderOld, User: "carol"}, ErrNotYours},
		{"unknown user", TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: "3001", Message: "m1", User: "zed"}, ErrUnknownUser},
		{"delete unknown message", TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: "3001", Message: "zz"}, ErrUnknownMessage},
		{"delete in an empty mailbox", TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: "2001", Message: "m1"}, ErrUnknownMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.fail(tc.typ, tc.payload, tc.want)
		})
	}
	// A monitoring user may mark.
	h.ok(TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m1", Folder: FolderOld, User: "dan"})
}

func TestVoicemailBounded(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.check = false // the invariants run at the end (201 deposits)
	for i := 1; i <= MaxVoicemailMessages; i++ {
		h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: fmt.Sprintf("m%d", i)})
	}
	h.ok(TypeVoicemailMark, VoicemailMarkRequest{Mailbox: "3001", Message: "m1", Folder: FolderOld})
	h.check = true
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "new"})
	if got := h.types(); !reflect.DeepEqual(got, []string{EvVoicemailDeposited, EvVoicemailDeleted}) {
		t.Fatalf("events %v", got)
	}
	var del VoicemailEvent
	h.event(EvVoicemailDeleted, &del)
	if del.Message != "m1" || del.Reason != "limit" || del.Folder != FolderOld || del.Inbox != MaxVoicemailMessages {
		t.Fatalf("dropped %+v", del)
	}
	v, _ := h.e.Voicemail("3001")
	if len(v.Inbox) != MaxVoicemailMessages || v.Inbox[0].ID != "new" || v.Inbox[len(v.Inbox)-1].ID != "m2" || len(v.Old) != 0 {
		t.Fatalf("%d in the inbox, newest %s", len(v.Inbox), v.Inbox[0].ID)
	}
}

func TestMonitoredMailboxesConfig(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(`extensions: [{number: "4001"}]
users: [{id: carol, extension: "3002", monitored_mailboxes: ["3001", "4001", "3001"]}]`)
	boxes, ok := h.e.UserMailboxes("carol")
	if !ok || !reflect.DeepEqual(boxes, []string{"3002", "3001", "4001"}) {
		t.Fatalf("carol's mailboxes %v", boxes)
	}
	if !h.e.MayAccessMailbox("carol", "3001") || !h.e.MayAccessMailbox("carol", "3002") || h.e.MayAccessMailbox("carol", "2002") || h.e.MayAccessMailbox("nobody", "3001") {
		t.Fatal("access")
	}
	if _, ok := h.e.UserMailboxes("nobody"); ok {
		t.Fatal("unknown user")
	}
	for _, tc := range []struct{ doc, field string }{
		{`users: [{id: carol, monitored_mailboxes: ["3001", "9999"]}]`, "users[0].monitored_mailboxes[1]"},
		{`users: [{id: carol, monitored_mailboxes: ["30a1"]}]`, "users[0].monitored_mailboxes[0]"},
	} {
		d, err := ParseDocument([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		err = h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Fatalf("%s: %v, want field %s", tc.doc, err, tc.field)
		}
	}
	// A monitored extension cannot disappear under the user.
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	var exts []Extension
	for _, x := range doc.Extensions {
		if x.Number != "4001" {
			exts = append(exts, x)
		}
	}
	doc.Extensions = exts
	err := h.fail(TypeConfigApply, ApplyRequest{Document: doc, Prune: true}, nil)
	h.errContains(err, "monitored_mailboxes")
}

// Removing an extension removes its mailbox's list, announcing each
// message; a snapshot carries the lists.
func TestVoicemailMailboxRemovedAndRestored(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(`extensions: [{number: "4001", phones: [{id: desk, position: 0, order: 1}]}]`)
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "4001", Message: "a"})
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "b"})
	r := restored(t, h.e)
	if v, _ := r.Voicemail("4001"); len(v.Inbox) != 1 || r.Hash() != h.e.Hash() {
		t.Fatalf("restored %+v", v)
	}
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	var exts []Extension
	for _, x := range doc.Extensions {
		if x.Number != "4001" {
			exts = append(exts, x)
		}
	}
	doc.Extensions = exts
	h.ok(TypeConfigApply, ApplyRequest{Document: doc, Prune: true})
	var del VoicemailEvent
	h.event(EvVoicemailDeleted, &del)
	if del.Mailbox != "4001" || del.Message != "a" || del.Reason != "mailbox_removed" {
		t.Fatalf("deleted %+v", del)
	}
	if _, ok := h.e.Voicemail("4001"); ok {
		t.Fatal("removed mailbox still listed")
	}
	if v, _ := h.e.Voicemail("3001"); len(v.Inbox) != 1 {
		t.Fatalf("other mailbox lost: %+v", v)
	}
}

// The invariant checker catches corruption of the voicemail lists, the
// excluded numbers and the logged-out personal-queue rule.
func TestCheckCatchesFeatureCorruption(t *testing.T) {
	build := func() *harness {
		h := newHarness(t, baseDoc)
		h.config(`excluded_numbers: ["+44 161 5527789"]`)
		h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m1"})
		h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m2"})
		h.connect("a1", "a3")
		h.ok(TypeCallIncoming, IncomingRequest{Call: "p1", Agent: "a3"})
		h.answer("a3")
		h.ok(TypeCallIncoming, IncomingRequest{Call: "p2", Agent: "a3"})
		h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
		h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"}) // p2 → unattended
		return h
	}
	corruptions := map[string]func(s *State){
		"mailbox of no extension": func(s *State) { s.Voicemail["7777"] = s.Voicemail["3001"] },
		"empty mailbox kept":      func(s *State) { s.Voicemail["3002"] = &Mailbox{} },
		"duplicate message":       func(s *State) { mb := s.Voicemail["3001"]; mb.Messages[1].ID = mb.Messages[0].ID },
		"unknown folder":          func(s *State) { s.Voicemail["3001"].Messages[0].Folder = "trash" },
		"deposit order":           func(s *State) { m := s.Voicemail["3001"].Messages; m[0], m[1] = m[1], m[0] },
		"excluded not normalised": func(s *State) { s.Config.ExcludedNumbers["0161 5527789"] = ExcludedNumber{Number: "0161 5527789"} },
		"stranded personal call": func(s *State) {
			c := s.Calls["p2"]
			c.Place, c.Kind, c.Agent = PlacePersonal, "", "a3"
			s.Agents["a3"].Personal = []string{"p2"}
		},
		"unattended while logged in": func(s *State) { s.Calls["p2"].Agent = "a1" },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			h := build()
			h.wantPlace("p2", PlaceSupervised+":"+KindUnattended)
			if err := h.e.Check(); err != nil {
				t.Fatalf("healthy engine: %v", err)
			}
			h.e.mu.Lock()
			corrupt(h.e.st)
			h.e.mu.Unlock()
			if err := h.e.Check(); err == nil {
				t.Fatal("corruption not detected")
			}
		})
	}
}

// TestVoicemailPIN: a user sets its mailbox's PIN as a hash, kept out of
// the state, events and results but in the snapshot; a user picks a
// mailbox to monitor and then may read it; removing the extension drops
// both.
func TestVoicemailPIN(t *testing.T) {
	const hash = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	h := newHarness(t, baseDoc)
	h.fail(TypeVoicemailSetPIN, VoicemailPINRequest{User: "bob", PINHash: "1234"}, nil)
	h.fail(TypeVoicemailSetPIN, VoicemailPINRequest{User: "nobody", PINHash: hash}, ErrUnknownUser)
	res := h.ok(TypeVoicemailSetPIN, VoicemailPINRequest{User: "bob", PINHash: hash})
	if got := h.e.MailboxPINHash("3001"); got != hash {
		t.Fatalf("hash %q", got)
	}
	var ev VoicemailPINEvent
	h.event(EvVoicemailPINSet, &ev)
	if ev.Mailbox != "3001" || ev.User != "bob" {
		t.Fatalf("event %+v", ev)
	}
	shown, _ := json.Marshal([]any{res, h.all})
	var st []byte
	h.e.View(func(s *State) { st, _ = json.Marshal(s) })
	for what, b := range map[string][]byte{"result and events": shown, "state": st} {
		if strings.Contains(string(b), "BBBBBBBB") {
			t.Fatalf("the PIN hash is in the %s", what)
		}
	}
	snap, _ := h.e.Snapshot()
	e2 := New()
	if err := e2.Restore(snap); err != nil || e2.MailboxPINHash("3001") != hash {
		t.Fatalf("restored: %v %q", err, e2.MailboxPINHash("3001"))
	}

	if h.e.MayAccessMailbox("u1", "3001") {
		t.Fatal("u1 reads 3001 before monitoring it")
	}
	h.fail(TypeVoicemailMonitor, VoicemailMonitorRequest{User: "u1", Mailbox: "2001", Monitor: true}, nil) // its own
	h.fail(TypeVoicemailMonitor, VoicemailMonitorRequest{User: "u1", Mailbox: "4999", Monitor: true}, ErrUnknownExtension)
	h.ok(TypeVoicemailMonitor, VoicemailMonitorRequest{User: "u1", Mailbox: "3001", Monitor: true})
	if !h.e.MayAccessMailbox("u1", "3001") {
		t.Fatal("u1 cannot read 3001 after monitoring it")
	}
	if boxes, _ := h.e.UserMailboxes("u1"); strings.Join(boxes, ",") != "2001,3001" {
		t.Fatalf("u1's mailboxes %v", boxes)
	}
	// The extension goes: its PIN and its monitors go with it.
	doc := strings.Replace(baseDoc, `  - number: "3001"
    phones: [{id: desk, position: 0, order: 1}, {id: mob, kind: mobile, position: 2, order: 2}]
`, "", 1)
	doc = strings.Replace(doc, `  - {id: bob, name: Bob Target, first_name: Bob, last_name: Target, company: Acme, extension: "3001", mobile: "+44 7700 900123"}
`, "", 1)
	d, err := ParseDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	h.ok(TypeConfigApply, ApplyRequest{Document: d, Prune: true})
	if h.e.MailboxPINHash("3001") != "" || len(h.e.MonitoredByUser("u1")) != 0 {
		t.Fatalf("after removing 3001: pin %q, monitored %v", h.e.MailboxPINHash("3001"), h.e.MonitoredByUser("u1"))
	}
	h.ok(TypeVoicemailMonitor, VoicemailMonitorRequest{User: "u1", Mailbox: "3002", Monitor: true})
	h.ok(TypeVoicemailMonitor, VoicemailMonitorRequest{User: "u1", Mailbox: "3002", Monitor: false})
	if h.e.MayAccessMailbox("u1", "3002") {
		t.Fatal("u1 still reads 3002")
	}
}
