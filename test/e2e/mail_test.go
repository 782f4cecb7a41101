package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/dovecottest"
)

// mailDoc configures the e-mail channel against a test Dovecot: alias
// support@ to queue support, sales@ to sales; no agent, so every
// contact waits in its queue and the queues' counters count contacts.
func mailDoc(srv *dovecottest.Server) string {
	tls, ca := "none", ""
	if srv.TLS {
		tls, ca = "implicit", "\n  ca_file: "+srv.CAFile
	}
	return fmt.Sprintf(`queues:
  - {id: support, strategy: longest-idle}
  - {id: sales, strategy: longest-idle}
mail:
  imap: {host: 127.0.0.1, port: %d, tls: %s, user: %q, password: %q, poll_seconds: 2}
  aliases:
    - {address: support@example.org, queue: support}
    - {address: sales@example.org, queue: sales}%s
`, srv.Port, tls, srv.User, srv.Password, ca)
}

func mailMessage(i int, to string, extra ...string) []byte {
	h := fmt.Sprintf("From: Customer %d <c%d@example.com>\r\nTo: %s\r\nSubject: =?ISO-8859-1?Q?Caf=E9_%d?=\r\nMessage-ID: <m%d.%d@example.com>\r\n",
		i, i, to, i, i, time.Now().UnixNano())
	for _, x := range extra {
		h += x + "\r\n"
	}
	return []byte(h + "\r\nHello, I need help.\r\n")
}

// mailStatus is the mail section of /v1/status.
type mailStatus struct {
	State        string    `json:"state"`
	Unreachable  bool      `json:"unreachable"`
	Failures     int       `json:"failures"`
	LastError    string    `json:"last_error"`
	LastUID      uint32    `json:"last_uid"`
	Ingested     uint64    `json:"ingested"`
	Skipped      uint64    `json:"skipped"`
	LastNewMail  time.Time `json:"last_new_mail"`
	LastRecorded time.Time `json:"last_recorded"`
}

func (n *node) mailStatus() (mailStatus, string, error) {
	code, b, err := n.get("/v1/status", true)
	if err != nil {
		return mailStatus{}, "", err
	}
	if code != http.StatusOK {
		return mailStatus{}, string(b), fmt.Errorf("HTTP %d: %s", code, b)
	}
	var doc struct {
		Mail *mailStatus `json:"mail"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Mail == nil {
		return mailStatus{}, string(b), fmt.Errorf("no mail section: %v", err)
	}
	return *doc.Mail, string(b), nil
}

// queueCounts is each queue's waiting counter and entered statistic, as
// a node's engine has them after a linearizable read.
func (n *node) queueCounts() (map[string][2]int, error) {
	code, b, err := n.get("/v1/console/queues", true)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", code, b)
	}
	var qs []struct {
		Queue   string `json:"queue"`
		Waiting int    `json:"waiting"`
		Entered int    `json:"entered"`
	}
	if err := json.Unmarshal(b, &qs); err != nil {
		var wrapped struct {
			Queues json.RawMessage `json:"queues"`
		}
		if json.Unmarshal(b, &wrapped) != nil || json.Unmarshal(wrapped.Queues, &qs) != nil {
			return nil, fmt.Errorf("queues: %v: %s", err, b)
		}
	}
	out := map[string][2]int{}
	for _, q := range qs {
		out[q.Queue] = [2]int{q.Waiting, q.Entered}
	}
	return out, nil
}

// TestMailIngestion: a real tandemd watches a real Dovecot over TLS
// (test CA): each customer message becomes exactly one contact in its
// alias's queue; an auto-reply, list mail, a message Dovecot's filter
// would mark spam (X-Spam-Flag) or infected (X-Virus-Status), one the
// operator's own filter header marks, and one from a blocked sender's
// subdomain become none; the password
// shows nowhere (config read back, status, metrics, log). The server
// down: status and /metrics show it, one tandemMailServerUnreachable
// reaches snmptrapd; back up, mail sent meanwhile is ingested.
func TestMailIngestion(t *testing.T) {
	snmpTool(t, "snmpget")
	recv := startTrapReceiver(t)
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true})
	n := newNode(t, "m1")
	n.extra = append(n.extra, snmpFlags(loopback(t), "--snmp-trap-to", recv.addr, "--snmp-trap-profile", "noc")...)
	n.start()
	waitLeader(t, []*node{n}, 1)
	if _, err := srv.AppendMany("INBOX", [][]byte{
		mailMessage(1, "support@example.org"),
		mailMessage(2, "Sales <sales@example.org>"),
		mailMessage(3, "support@example.org", "Auto-Submitted: auto-replied"),
		mailMessage(4, "support@example.org", "Precedence: list"),
		mailMessage(5, "nobody@example.org"),
		mailMessage(8, "support@example.org", "X-Spam-Flag: YES", "X-Spam-Status: Yes, score=8.1"),
		mailMessage(9, "sales@example.org", "X-Virus-Status: Infected (Eicar-Signature)"),
		[]byte("From: Offers <deals@news.spammy.example>\r\nTo: support@example.org\r\nSubject: Win\r\nMessage-ID: <w1@spammy.example>\r\n\r\nWin!\r\n"),
		mailMessage(10, "support@example.org", "X-Filter-Verdict: Quarantine (score 97)"),
		mailMessage(11, "support@example.org", "X-Spam-Score: 6.5"),
		mailMessage(12, "support@example.org", "X-Spam-Score: 1.5"),
	}); err != nil {
		t.Fatal(err)
	}
	n.apply(strings.Replace(mailDoc(srv), "  aliases:", "  blocked_senders: ['@Spammy.example', someone@example.net]\n"+
		"  verdict_headers: [{header: X-Filter-Verdict, value: quarantine, reason: spam}, {header: X-Spam-Score, at_least: 5, reason: spam}]\n  aliases:", 1)).ok(t)
	want := map[string][2]int{"support": {3, 3}, "sales": {1, 1}}
	waitFor(t, waitShort, "three contacts", func() (bool, string) {
		got, err := n.queueCounts()
		return err == nil && fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("%v %v", got, err)
	})
	ms, _, err := n.mailStatus()
	if err != nil || ms.State != "watching" || ms.LastUID != 11 || ms.Ingested != 4 || ms.Skipped != 7 {
		t.Fatalf("mail status %+v %v", ms, err)
	}
	if r := n.ctl("status"); !strings.Contains(r.stdout, "mail") || !strings.Contains(r.stdout, "watching") || !strings.Contains(r.stdout, "contacts 4") {
		t.Errorf("tandemctl status does not show the mail channel:\n%v", r)
	}
	// A new message while watching (IDLE).
	if _, err := srv.Append("INBOX", mailMessage(6, "sales@example.org")); err != nil {
		t.Fatal(err)
	}
	want["sales"] = [2]int{2, 2}
	waitFor(t, waitShort, "the contact of a new message", func() (bool, string) {
		got, err := n.queueCounts()
		return err == nil && fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("%v %v", got, err)
	})

	// The server goes away.
	srv.Kill()
	waitFor(t, waitShort, "the outage in status and metrics", func() (bool, string) {
		ms, _, err := n.mailStatus()
		_, m, _ := n.get("/metrics", false)
		v, _ := metric(string(m), "tandem_mail_server_unreachable")
		return err == nil && ms.Unreachable && ms.State == "unreachable" && v == 1, fmt.Sprintf("%+v %v metric %v", ms, err, v)
	})
	var traps []trap
	waitFor(t, waitShort, "tandemMailServerUnreachable", func() (bool, string) {
		traps = named(recv.traps(t), "TANDEM-MIB::tandemMailServerUnreachable")
		return len(traps) > 0, fmt.Sprintf("%d traps", len(recv.traps(t)))
	})
	waitFor(t, waitShort, "more failed attempts", func() (bool, string) {
		ms, _, _ := n.mailStatus()
		return ms.Failures >= 3, fmt.Sprintf("%+v", ms)
	})
	if traps = named(recv.traps(t), "TANDEM-MIB::tandemMailServerUnreachable"); len(traps) != 1 {
		t.Fatalf("%d tandemMailServerUnreachable for one outage:\n%v", len(traps), traps)
	}
	if got := traps[0].vars["TANDEM-MIB::tandemNotifyServer.0"]; !strings.Contains(got, srv.Addr()) {
		t.Errorf("tandemNotifyServer = %q, want %s\n%s", got, srv.Addr(), traps[0].line)
	}
	// Back: what arrived meanwhile is ingested, the alarm clears.
	srv.Start()
	if _, err := srv.Append("INBOX", mailMessage(7, "support@example.org")); err != nil {
		t.Fatal(err)
	}
	want["support"] = [2]int{4, 4}
	waitFor(t, waitCluster, "the contact after the outage", func() (bool, string) {
		got, err := n.queueCounts()
		ms, _, _ := n.mailStatus()
		return err == nil && fmt.Sprint(got) == fmt.Sprint(want) && !ms.Unreachable, fmt.Sprintf("%v %v %+v", got, err, ms)
	})

	// The password: redacted in the configuration, absent from status,
	// metrics, traps and the log.
	cfg := n.mustConfig("linearizable")
	if !strings.Contains(strings.ReplaceAll(cfg, " ", ""), `"blocked_senders":["spammy.example","someone@example.net"]`) {
		t.Errorf("GET /v1/config does not show the blocked senders as kept (lower case, a domain without its @):\n%s", cfg)
	}
	if !strings.Contains(strings.ReplaceAll(cfg, " ", ""), `"password":"redacted"`) {
		t.Errorf("GET /v1/config does not show the password redacted:\n%s", cfg)
	}
	_, st, _ := n.mailStatus()
	_, m, _ := n.get("/metrics", false)
	b, _ := json.Marshal(recv.traps(t))
	for what, out := range map[string]string{"config": cfg, "status": st, "metrics": string(m), "traps": string(b), "log": n.log()} {
		if strings.Contains(out, srv.Password) {
			t.Errorf("the IMAP password shows in the %s", what)
		}
	}
}

// TestMailLeaderKilled: a three-node cluster ingests a full mailbox; the
// leader is SIGKILLed in the middle; the new leader carries on. Every
// message becomes exactly one contact — none twice, none missed — on
// every node, and the killed node agrees once back.
//
// The cluster reaches Dovecot through a gate that holds the server's
// answers once a connection has received about 60 % of the mailbox's
// headers, so the leader is killed mid-way however fast the machine is
// (a fast one ingested all 2,000 messages in 70 ms, before a poll saw
// any); the gate opens for the new leader.
func TestMailLeaderKilled(t *testing.T) {
	const total = 2000
	srv := dovecottest.Start(t, dovecottest.Options{})
	var msgs [][]byte
	var headers int64
	for i := 1; i <= total; i++ {
		m := mailMessage(i, "support@example.org")
		msgs = append(msgs, m)
		headers += int64(bytes.Index(m, []byte("\r\n\r\n"))+4) + 40 // + the FETCH line around it
	}
	if _, err := srv.AppendMany("INBOX", msgs); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, srv.Addr(), headers*6/10)
	nodes := startCluster(t, "mk", 3, nil)
	leader := waitLeader(t, nodes, 3)
	doc := strings.Replace(mailDoc(srv), fmt.Sprintf("port: %d,", srv.Port), fmt.Sprintf("port: %d,", g.Port()), 1)
	leader.apply(doc).ok(t)
	// Kill the leader once it has recorded some, not all: its fetch is
	// held by the gate.
	select {
	case <-g.held:
	case <-time.After(waitCluster):
		t.Fatal("the leader's IMAP fetch never reached the gate")
	}
	var at uint64
	waitFor(t, waitCluster, "the leader to start ingesting", func() (bool, string) {
		ms, _, err := leader.mailStatus()
		at = ms.Ingested
		return err == nil && ms.Ingested >= 1, fmt.Sprintf("%+v %v", ms, err)
	})
	leader.kill()
	if at >= total {
		t.Fatalf("the leader ingested all %d messages before it was killed: the test killed nothing mid-way", at)
	}
	g.open()
	t.Logf("leader %s killed after it recorded %d of %d messages", leader.name(), at, total)
	rest := followers(nodes, leader)
	waitLeader(t, rest, 3)
	want := fmt.Sprint(map[string][2]int{"sales": {0, 0}, "support": {total, total}})
	for _, n := range rest {
		waitFor(t, waitCluster, n.name()+" to hold every contact once", func() (bool, string) {
			got, err := n.queueCounts()
			return err == nil && fmt.Sprint(got) == want, fmt.Sprintf("%v %v", got, err)
		})
	}
	leader.start()
	waitLeader(t, nodes, 3)
	waitFor(t, waitCluster, leader.name()+" (restarted) to agree", func() (bool, string) {
		got, err := leader.queueCounts()
		return err == nil && fmt.Sprint(got) == want, fmt.Sprintf("%v %v", got, err)
	})
	// A message after the failover: one more, once.
	if _, err := srv.Append("INBOX", mailMessage(total+1, "sales@example.org")); err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprint(map[string][2]int{"sales": {1, 1}, "support": {total, total}})
	for _, n := range nodes {
		waitFor(t, waitCluster, n.name()+" to hold the new contact", func() (bool, string) {
			got, err := n.queueCounts()
			return err == nil && fmt.Sprint(got) == want, fmt.Sprintf("%v %v", got, err)
		})
	}
}
