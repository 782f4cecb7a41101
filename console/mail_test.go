package console

import (
	"context"
	"fmt"
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// mail_reply and mail_forward: the session names the agent; only the
// agent holding the e-mail contact may; an Idempotency-Key makes the
// outbox entry's id, so a retry is the same entry and never a second
// message; malformed input is refused at the edge with its field.
func TestMailOperations(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash) + `mail:
  imap: {host: imap.example.org, user: desk@example.org, password: imap-pass-1}
  smtp: {host: smtp.example.org, tls: none}
  aliases: [{address: sales@example.org, queue: sales}]
`)
	ann := r.login("ann", "ann-password")
	ben := r.login("ben", "ben-password")
	for i := 0; i < 2; i++ {
		if rep := r.op(ann, "login", nil); rep.code != 200 {
			t.Fatalf("login: %d %s", rep.code, rep.raw)
		}
	}
	if _, err := r.store.Propose(context.Background(), cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: 1,
		MessageID: "<q@cust.example>", From: "cust@cust.example", To: []string{"sales@example.org"}, Subject: "Price"}); err != nil {
		t.Fatal(err)
	}
	if who := offered(r, "mail-1-1"); who != "a1" {
		t.Fatalf("offered to %q", who)
	}
	reply := map[string]any{"contact": "mail-1-1", "body": "10 EUR."}
	if rep := r.op(ann, "mail_reply", reply); rep.code != 409 {
		t.Fatalf("reply before answering: %d %s", rep.code, rep.raw)
	}
	if rep := r.op(ann, "answer", nil); rep.code != 200 {
		t.Fatalf("answer: %d %s", rep.code, rep.raw)
	}
	for _, tc := range []struct {
		who, op string
		body    map[string]any
		code    int
		field   string
	}{
		{ben, "mail_reply", reply, 409, ""}, // not ben's
		{ann, "mail_reply", map[string]any{"contact": "mail-1-1", "body": "x", "agent": "a2"}, 403, "agent"},
		{ann, "mail_reply", map[string]any{"contact": "mail-1-1", "body": 5}, 400, "body"},
		{ann, "mail_reply", map[string]any{"contact": "mail-1-1", "body": "x", "to": "x@y.example"}, 400, ""},
		{ann, "mail_forward", map[string]any{"contact": "mail-1-1", "body": "x"}, 400, "forward"},
		{ann, "mail_forward", map[string]any{"contact": "mail-1-1", "body": "x", "forward": "a b"}, 400, "forward"},
	} {
		rep := r.op(tc.who, tc.op, tc.body)
		if rep.code != tc.code || (tc.field != "" && rep.body["field"] != tc.field) {
			t.Errorf("%s %v: %d %s, want %d field %q", tc.op, tc.body, rep.code, rep.raw, tc.code, tc.field)
		}
	}
	if n := len(r.engine.Outbox("")); n != 0 {
		t.Fatalf("refusals queued %d entries", n)
	}
	first := r.op(ann, "mail_reply", reply, "Idempotency-Key", "k-1")
	again := r.op(ann, "mail_reply", reply, "Idempotency-Key", "k-1")
	if first.code != 200 || again.code != 200 {
		t.Fatalf("reply: %d %s / %d %s", first.code, first.raw, again.code, again.raw)
	}
	if rep := r.op(ann, "mail_forward", map[string]any{"contact": "mail-1-1", "body": "see below", "forward": "tech@partner.example"}); rep.code != 200 {
		t.Fatalf("forward: %d %s", rep.code, rep.raw)
	}
	out := r.engine.Outbox("")
	if len(out) != 2 {
		t.Fatalf("outbox %+v", out)
	}
	for _, o := range out {
		switch o.Kind {
		case "":
			if !strings.HasPrefix(o.ID, "k-") || o.Agent != "a1" || o.From != "sales@example.org" || o.To != "cust@cust.example" {
				t.Errorf("reply %+v", o)
			}
		case cc.OutboxForward:
			if o.Agent != "a1" || o.To != "tech@partner.example" {
				t.Errorf("forward %+v", o)
			}
		default:
			t.Errorf("entry %+v", o)
		}
	}
}
