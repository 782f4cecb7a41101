package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tandemcc/tandem/console"
	"github.com/tandemcc/tandem/internal/dovecottest"
)

// TestMailContentOnFollower: an agent whose console is connected to a
// follower reads the e-mail contact offered to it — its text decoded and
// its attachment listed — through the console API of that follower,
// which asks the leader (only the leader opens IMAP sessions), as the
// follower's admin API does for an integration, and then
// the customer's answer that joined the contact, by its UID; an agent the
// contact is not offered to reads nothing. Dovecot is real; the
// message is fetched from it on demand.
func TestMailContentOnFollower(t *testing.T) {
	besideTheBurst(t)
	srv := dovecottest.Start(t, dovecottest.Options{})
	nodes := startCluster(t, "mcf", 3, nil)
	leader := waitLeader(t, nodes, 3)
	f := followers(nodes, leader)[0]
	if f.httpAddr == "" {
		t.Fatal("tandemd has no --http-addr")
	}
	annHash, _ := console.HashPassword("ann-secret-1")
	benHash, _ := console.HashPassword("ben-secret-1")
	leader.apply(mailDoc(srv) + fmt.Sprintf(`
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: ben, name: Ben, extension: "2002", password_hash: "%s"}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [support]}
`, annHash, benHash)).ok(t)
	login := func(user, password string) *consoleClient {
		c := &consoleClient{t: t, node: f}
		code, out := c.do("POST", "/session", map[string]string{"user": user, "password": password})
		if code != 200 {
			t.Fatalf("login %s on %s: %d %v", user, f.name(), code, out)
		}
		c.token = out["token"].(string)
		return c
	}
	ann, ben := login("ann", "ann-secret-1"), login("ben", "ben-secret-1")
	code, state := ann.do("GET", "/state", nil)
	if code != 200 {
		t.Fatalf("state: %d %v", code, state)
	}
	ann.follow(state["since"].(string))
	ann.op("login", nil)
	ann.op("login", nil)
	ann.until("agent.state_changed", 10*time.Second)

	msg := "From: Zoe <zoe@customer.example>\r\nTo: Sales <sales@example.org>\r\nSubject: =?ISO-8859-1?Q?Devis_caf=E9?=\r\n" +
		"Message-ID: <c-1@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCombien co=FBte le caf=E9 ?\r\n" +
		"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=plan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
	uid, err := srv.Append("INBOX", []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	offered := ann.until("call.offered", 20*time.Second)
	contact, _ := offered["call"].(string)
	if !strings.HasSuffix(contact, fmt.Sprintf("-%d", uid)) {
		t.Fatalf("offered %v, want the e-mail contact of UID %d", offered, uid)
	}
	path := "/mail/" + contact + "/content"
	code, out := ann.do("GET", path, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s on follower %s: %d %v", path, f.name(), code, out)
	}
	atts, _ := out["attachments"].([]any)
	if out["text"] != "Combien coûte le café ?" || out["subject"] != "Devis café" || out["from"] != "zoe@customer.example" || len(atts) != 1 {
		t.Fatalf("content %v", out)
	}
	if a, _ := atts[0].(map[string]any); a["filename"] != "plan.pdf" || a["content_type"] != "application/pdf" {
		t.Fatalf("attachment %v", atts[0])
	}
	// An integration asking the follower's admin API is answered too.
	if code, b, err := f.get("/v1/mail/contacts/"+contact+"/content", true); err != nil || code != http.StatusOK || !strings.Contains(string(b), `"filename":"plan.pdf"`) {
		t.Fatalf("GET /v1/mail/contacts/%s/content on %s: %d %s %v", contact, f.name(), code, b, err)
	}
	// Zoe answers; the answer joins the contact, and the agent reads it
	// by its UID, which the first message's content lists.
	answer := "From: Zoe <zoe@customer.example>\r\nTo: sales@example.org\r\nSubject: Re: Devis\r\n" +
		"Message-ID: <c-2@customer.example>\r\nIn-Reply-To: <c-1@customer.example>\r\n\r\nPour 12 tasses.\r\n"
	uid2, err := srv.Append("INBOX", []byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitShort, "the answer listed with the contact's message", func() (bool, string) {
		code, out := ann.do("GET", path, nil)
		return code == http.StatusOK && fmt.Sprint(out["answers"]) == fmt.Sprintf("[%d]", uid2), fmt.Sprintf("%d %v", code, out)
	})
	code, out = ann.do("GET", fmt.Sprintf("%s?uid=%d", path, uid2), nil)
	if code != http.StatusOK || strings.TrimSpace(fmt.Sprint(out["text"])) != "Pour 12 tasses." || out["message_id"] != "<c-2@customer.example>" || out["uid"] != float64(uid2) {
		t.Fatalf("the answer through %s: %d %q", f.name(), code, out)
	}
	if code, out := ann.do("GET", fmt.Sprintf("%s?uid=%d", path, uid2+5), nil); code != http.StatusNotFound {
		t.Fatalf("a UID not of the contact: %d %v", code, out)
	}
	// Ben serves support, not sales: the contact is not his to read.
	if code, out := ben.do("GET", path, nil); code != http.StatusNotFound {
		t.Fatalf("ben read ann's contact: %d %v", code, out)
	}
	if ms, _, err := f.mailStatus(); err != nil || ms.State != "follower" {
		t.Fatalf("%s's mail channel %+v %v: want a follower's", f.name(), ms, err)
	}
	// The message gone from the mailbox: the leader's answer (404, its
	// message) reaches the console through the follower as it was given.
	cl, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := ann.do("GET", path, nil); code != http.StatusNotFound || !strings.Contains(fmt.Sprint(out["message"]), "no longer in the mailbox") {
		t.Fatalf("the expunged message through %s: %d %v", f.name(), code, out)
	}
}
