package console

import (
	"context"
	"fmt"
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
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

// GET /mail/{contact}/content: the message is fetched (Service.
// MailContent) only for an agent who may read the contact — one serving
// the queue it waits in, the one it is offered to or whose line holds
// it — and for the admin mount; to anyone else, and for no contact, it
// does not exist and nothing is fetched. The source's errors keep their
// kind.
func TestMailContent(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	bobHash, _ := HashPassword("bob-password")
	doc := strings.Replace(fmt.Sprintf(rigDoc, annHash, benHash), `extension: "3001"}`, `extension: "3001", password_hash: "`+bobHash+`"}`, 1)
	r.config(doc + `mail:
  imap: {host: imap.example.org, user: desk@example.org, password: imap-pass-1}
  aliases: [{address: sales@example.org, queue: sales}]
`)
	var fetched []string
	fail := error(nil)
	r.svc.MailContent = func(ctx context.Context, contact string, uid uint32) (any, error) {
		if uid != 0 {
			contact += fmt.Sprintf("#%d", uid)
		}
		fetched = append(fetched, contact)
		if fail != nil {
			return nil, fail
		}
		return map[string]string{"text": "the message of " + contact}, nil // mail-1-1, or mail-1-1#uid
	}
	ann := r.login("ann", "ann-password")
	ben := r.login("ben", "ben-password")
	bob := r.login("bob", "bob-password")
	read := func(token, contact string, query ...string) reply {
		t.Helper()
		q := ""
		if len(query) > 0 {
			q = "?" + query[0]
		}
		return r.call("GET", r.public.URL+"/console/api/v1/mail/"+contact+"/content"+q, token, nil)
	}
	check := func(what string, rep reply, want int) {
		t.Helper()
		if rep.code != want {
			t.Fatalf("%s: %d %s, want %d", what, rep.code, rep.raw, want)
		}
		if want == 200 && !strings.Contains(rep.raw, `"text":"the message of mail-1-1"`) {
			t.Fatalf("%s: %s", what, rep.raw)
		}
	}
	if _, err := r.store.Propose(context.Background(), cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: 1,
		MessageID: "<q@cust.example>", From: "cust@cust.example", To: []string{"sales@example.org"}, Subject: "Price"}); err != nil {
		t.Fatal(err)
	}
	// Waiting in sales (nobody logged in to the ACD): its agents may
	// preview it.
	check("ann, waiting in her queue", read(ann, "mail-1-1"), 200)
	check("bob, no agent", read(bob, "mail-1-1"), 404)
	check("no session", read("", "mail-1-1"), 401)
	for i := 0; i < 2; i++ {
		if rep := r.op(ann, "login", nil); rep.code != 200 {
			t.Fatalf("login: %d %s", rep.code, rep.raw)
		}
	}
	if who := offered(r, "mail-1-1"); who != "a1" {
		t.Fatalf("offered to %q", who)
	}
	check("ann, offered to her", read(ann, "mail-1-1"), 200)
	check("ben, offered to ann", read(ben, "mail-1-1"), 404)
	if rep := r.op(ann, "answer", nil); rep.code != 200 {
		t.Fatalf("answer: %d %s", rep.code, rep.raw)
	}
	check("ann, on her line", read(ann, "mail-1-1"), 200)
	check("ben, on ann's line", read(ben, "mail-1-1"), 404)
	check("ann, no such contact", read(ann, "mail-1-2"), 404)
	if rep := read(ann, "mail-1-1", "uid=7"); rep.code != 200 || !strings.Contains(rep.raw, "mail-1-1#7") {
		t.Fatalf("ann, an answer: %d %s", rep.code, rep.raw)
	}
	for _, bad := range []string{"0", "x", "4294967296"} {
		if rep := read(ann, "mail-1-1", "uid="+bad); rep.code != 400 || rep.body["field"] != "uid" {
			t.Fatalf("uid=%s: %d %s", bad, rep.code, rep.raw)
		}
	}
	if fmt.Sprint(fetched) != "[mail-1-1 mail-1-1 mail-1-1 mail-1-1#7]" {
		t.Fatalf("fetched %q, want only for ann's four reads", fetched)
	}
	check("admin", r.call("GET", r.admin.URL+"/v1/console/mail/mail-1-1/content", "", nil), 200)
	fail = apierr.Errorf(apierr.Unavailable, "the mail server is down")
	if rep := read(ann, "mail-1-1"); rep.code != 503 || rep.body["code"] != "unavailable" {
		t.Fatalf("source down: %d %s", rep.code, rep.raw)
	}
	r.svc.MailContent = nil
	check("not served", read(ann, "mail-1-1"), 404)
}
