package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/tandemcc/tandem/internal/postfixtest"
)

// TestMailReplyBurstLeaderKilled: a burst of 100 replies to one contact
// under the provider's 30 a minute, through a three-node cluster, a real
// Postfix (STARTTLS, SMTP AUTH by Dovecot) and Dovecot's LMTP into the
// customer's mailbox; the leader is SIGKILLed in the middle of the
// second minute's sends. Every reply is attempted once (sent, or
// uncertain when the leader died between the attempt and its record);
// none is delivered twice (the customer's mailbox holds each reply's
// Message-ID at most once, and every sent one); no 60 s holds more than
// 30 attempts — by the attempts' times the engine recorded (exact, Unix
// ns, across both leaders) and by the times Postfix received the
// delivered replies (its Received: header, to the second: no 31 within
// 55 s, 5 s left for the commit and SMTP session between the attempt's
// start and Postfix's receipt); and every delivered reply is threaded on the customer's message
// (In-Reply-To, References, X-Tandem-Contact) from the alias.
//
// It runs in parallel with the tests that call besideTheBurst, one at a
// time, after the package's sequential tests.
func TestMailReplyBurstLeaderKilled(t *testing.T) {
	t.Parallel()
	const (
		total     = 100
		perMinute = 30
		ann       = "ann@customer.example"
	)
	srv, pf := startMailPeers(t, true)
	// The cluster reaches Postfix through a gate that lets the first
	// minute's sessions and five of the second's through and holds the
	// next one (the sender opens one SMTP session per reply, one at a
	// time), so the leader is killed in the middle of the second
	// minute's sends however fast the machine is: the second minute's
	// attempts are spaced as the first minute's were, which a fast
	// machine makes within a few milliseconds of each other.
	g := startConnGate(t, pf.Addr(), perMinute+5)
	nodes := startCluster(t, "mq", 3, nil)
	leader := waitLeader(t, nodes, 3)
	leader.apply(strings.Replace(mailDocSMTP(srv, pf, perMinute), fmt.Sprintf("port: %d,", pf.Port), fmt.Sprintf("port: %d,", g.Port()), 1)).ok(t)
	uid, err := srv.Append("INBOX", []byte("From: Ann <ann@customer.example>\r\nTo: Support <support@example.org>\r\nSubject: Order 7\r\nMessage-ID: <o-7@customer.example>\r\n\r\nWhere is it?\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var uidValidity uint32
	waitFor(t, waitCluster, "the contact", func() (bool, string) {
		var st struct {
			Mail struct {
				UIDValidity uint32 `json:"uid_validity"`
				LastUID     uint32 `json:"last_uid"`
			} `json:"mail"`
		}
		_, b, err := leader.get("/v1/status", true)
		if err != nil {
			return false, err.Error()
		}
		json.Unmarshal(b, &st)
		uidValidity = st.Mail.UIDValidity
		return st.Mail.LastUID == uid, string(b)
	})
	contact := fmt.Sprintf("mail-%d-%d", uidValidity, uid)

	outbox := func(n *node) []struct {
		ID        string `json:"id"`
		MessageID string `json:"message_id"`
		State     string `json:"state"`
		SendingAt int64  `json:"sending_at"`
	} {
		code, b, err := n.get("/v1/mail/outbox", true)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /v1/mail/outbox on %s: %d %v %s", n.name(), code, err, b)
		}
		var out []struct {
			ID        string `json:"id"`
			MessageID string `json:"message_id"`
			State     string `json:"state"`
			SendingAt int64  `json:"sending_at"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("outbox: %v: %s", err, b)
		}
		return out
	}
	count := func(n *node, states ...string) int {
		c := 0
		for _, o := range outbox(n) {
			if slices.Contains(states, o.State) {
				c++
			}
		}
		return c
	}
	for i := 1; i <= total; i++ {
		body, _ := json.Marshal(map[string]string{"contact": contact, "body": fmt.Sprintf("Dear Ann,\n\nupdate %d.\n", i)})
		code, b, err := leader.do(http.MethodPost, "/v1/mail/replies", true, body, "application/json")
		if err != nil || code != http.StatusOK {
			t.Fatalf("reply %d: %d %v %s", i, code, err, b)
		}
	}
	// The first minute's 30 go out; the 31st waits for the first to
	// leave the window. Kill the leader once the second minute's sends
	// have begun and before they end: while the gate holds its 36th
	// SMTP session.
	waitFor(t, waitShort, "the first minute's 30 attempts", func() (bool, string) {
		c := count(leader, "sent", "sending", "uncertain")
		return c == perMinute, fmt.Sprint(c, " attempted")
	})
	select {
	case <-g.held:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no SMTP session held 2 min after the first 30 attempts: %d attempted", count(leader, "sent", "sending", "uncertain"))
	}
	at := count(leader, "sent", "sending", "uncertain")
	leader.kill()
	g.open()
	if at <= perMinute {
		t.Fatalf("the leader was killed after %d attempts: the second minute's sends had not begun", at)
	}
	if at >= 2*perMinute {
		t.Fatalf("the leader made all of the second minute's %d attempts before it was killed: the test killed nothing mid-way", at)
	}
	t.Logf("leader %s killed after %d attempts", leader.name(), at)
	rest := followers(nodes, leader)
	leader = waitLeader(t, rest, 3)
	waitFor(t, 4*time.Minute, "every reply attempted", func() (bool, string) {
		c := count(leader, "sent", "uncertain")
		return c == total, fmt.Sprintf("%d sent or uncertain on %s", c, leader.name())
	})
	entries := outbox(leader)
	var sendings []int64
	sent, uncertain := map[string]bool{}, map[string]bool{}
	for _, o := range entries {
		switch o.State {
		case "sent":
			sent[strings.Trim(o.MessageID, "<>")] = true
		case "uncertain":
			uncertain[strings.Trim(o.MessageID, "<>")] = true
		default:
			t.Fatalf("reply %s is %s", o.ID, o.State)
		}
		sendings = append(sendings, o.SendingAt)
	}
	slices.Sort(sendings)
	for i := perMinute; i < len(sendings); i++ {
		if d := time.Duration(sendings[i] - sendings[i-perMinute]); d < time.Minute {
			t.Errorf("attempts %d and %d (engine time) %v apart: %d in less than a minute", i-perMinute+1, i+1, d, perMinute+1)
		}
	}
	// Postfix hands a message to LMTP at once; wait until every sent reply
	// is in the mailbox.
	var delivered [][]byte
	waitFor(t, waitShort, "every sent reply in Ann's mailbox", func() (bool, string) {
		delivered = mailbox(t, srv, ann)
		return len(delivered) >= len(sent), fmt.Sprintf("%d delivered, %d sent", len(delivered), len(sent))
	})
	seen := map[string]bool{}
	var received []time.Time
	for _, raw := range delivered {
		m, err := gomail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		id, err := m.Header.MessageID()
		if err != nil || id == "" {
			t.Fatalf("a delivered reply without a Message-ID (%v): %s", err, raw)
		}
		from, _ := m.Header.AddressList("From")
		irt, _ := m.Header.MsgIDList("In-Reply-To")
		refs, _ := m.Header.MsgIDList("References")
		if seen[id] {
			t.Errorf("reply %s delivered twice", id)
		}
		seen[id] = true
		if !sent[id] && !uncertain[id] {
			t.Errorf("a message %s the outbox does not hold", id)
		}
		if len(from) != 1 || from[0].Address != "support@example.org" || fmt.Sprint(irt) != "[o-7@customer.example]" ||
			fmt.Sprint(refs) != "[o-7@customer.example]" || m.Header.Get("X-Tandem-Contact") != contact {
			t.Errorf("reply %s headers: %v", id, m.Header.Map())
		}
		at, err := postfixtest.ReceivedAt(raw)
		if err != nil {
			t.Fatal(err)
		}
		received = append(received, at)
	}
	for id := range sent {
		if !seen[id] {
			t.Errorf("reply %s recorded sent, not delivered", id)
		}
	}
	slices.SortFunc(received, func(a, b time.Time) int { return a.Compare(b) })
	for i := perMinute; i < len(received); i++ {
		// To the second, and received a moment (the attempt's commit,
		// the SMTP session; the test beside it may load the machine)
		// after the attempt began: 5 s of slack. The engine's times above
		// are exact.
		if d := received[i].Sub(received[i-perMinute]); d < 55*time.Second {
			t.Errorf("Postfix received replies %d and %d %v apart: %d in less than a minute", i-perMinute+1, i+1, d, perMinute+1)
		}
	}
	t.Logf("%d replies: %d sent, %d uncertain (the leader killed between attempt and record), %d delivered; first to last received by Postfix %v",
		total, len(sent), len(uncertain), len(delivered), received[len(received)-1].Sub(received[0]))
}
