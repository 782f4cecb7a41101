package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/contactcenter"
)

// Issue 15.2: secure phones get their passwords.

const provisionDoc = `
settings: {sip_servers: ["sip.example.com:5060"]}
extensions:
  - number: "4001"
    phones:
      - {id: sec, position: 0, order: 1, secure: true, published: true}
      - {id: desk, position: 1, order: 1, password: "Configured-Desk-Pass-7"}
`

// provisioned waits until the leader's rotator has given ext/phone a
// password and returns `tandemctl phone provision -o json`'s answer.
func provisioned(t *testing.T, n *node, ext, phone string) contactcenter.PhoneProvisioning {
	t.Helper()
	var p contactcenter.PhoneProvisioning
	waitFor(t, 30*time.Second, "the rotator to give "+ext+"/"+phone+" a password", func() (bool, string) {
		r := n.ctl("-o", "json", "phone", "provision", ext, phone)
		if r.code != 0 {
			return false, r.String()
		}
		return json.Unmarshal([]byte(r.stdout), &p) == nil && p.Password != "", r.stdout
	})
	return p
}

// TestSecurePhoneProvisioning: on a real tandemd, a secure phone in the
// applied configuration gets a system password from the leader without
// anyone asking; `tandemctl phone provision` shows it (text and JSON) to
// the administrator, refuses a non-secure phone (409) and an unknown one
// (404); the password survives a restart and is rotated when the node's
// clock is 31 days on; and it is nowhere else: not in
// tandemd's log, /v1/status, GET /v1/config, /metrics, the admin console
// state, a backup's manifest or tandemctl's other outputs.
func TestSecurePhoneProvisioning(t *testing.T) {
	besideTheBurst(t)
	backups := t.TempDir()
	n := startCluster(t, "provision", 1, map[int][]nodeOpt{0: {withArgs("--backup-dir", backups)}})[0]
	outputs := map[string]string{}
	apply := n.apply(provisionDoc).ok(t)
	outputs["tandemctl apply"] = apply.stdout + apply.stderr

	p := provisioned(t, n, "4001", "sec")
	if p.SIPUser != contactcenter.SIPUser("4001", "sec") || p.Realm != contactcenter.SIPRealm || len(p.Password) < contactcenter.MinSecretLen ||
		strings.Join(p.SIPServers, ",") != "sip.example.com:5060" || strings.Join(p.Transports, ",") != "udp,tcp" {
		t.Fatalf("provisioning data %+v", p)
	}
	// Expiry on the default schedule: 35 days.
	if d := time.Until(p.ExpiresAt); d < 34*24*time.Hour || d > 35*24*time.Hour+time.Minute {
		t.Fatalf("expires at %s (in %s)", p.ExpiresAt, d)
	}
	text := n.ctl("phone", "provision", "4001", "sec").ok(t).stdout
	for _, want := range []string{"sip user     4001-sec", "password     " + p.Password, "sip servers  sip.example.com:5060"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text output lacks %q:\n%s", want, text)
		}
	}
	for _, tc := range []struct {
		phone, want string
	}{{"desk", "(HTTP 409)"}, {"nope", "(HTTP 404)"}} {
		r := n.ctl("phone", "provision", "4001", tc.phone)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("provision 4001 %s: %s", tc.phone, r)
		}
		outputs["tandemctl provision "+tc.phone] = r.stdout + r.stderr
	}

	// The rotation was logged (without the password).
	waitFor(t, 10*time.Second, "the rotator's log line", func() (bool, string) {
		return strings.Contains(n.log(), "phone password provisioned"), n.logTail(5)
	})
	id := backupNow(t, n, 0)
	b, err := os.ReadFile(filepath.Join(backups, id, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	outputs["backup manifest"] = string(b)
	for _, path := range []string{"/v1/status", "/v1/config", "/metrics", "/v1/console/phones?user=nobody", "/v1/backup/list"} {
		code, b, err := n.get(path, true)
		if err != nil || (code != 200 && code != 404) {
			t.Fatalf("GET %s: %d %v %s", path, code, err, b)
		}
		outputs["GET "+path] = string(b)
	}
	if !strings.Contains(outputs["GET /v1/config"], `"password": "redacted"`) {
		t.Fatalf("GET /v1/config does not show the configured password redacted: %s", outputs["GET /v1/config"])
	}
	outputs["tandemctl status"] = n.ctl("status", "-o", "json").ok(t).stdout

	// A restart keeps the password (it is in the replicated state), and
	// the rotator, finding nothing due, changes nothing.
	if code := n.stop(30 * time.Second); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	n.start()
	waitLeader(t, []*node{n}, 1)
	if again := provisioned(t, n, "4001", "sec"); again.Password != p.Password || !again.ExpiresAt.Equal(p.ExpiresAt) {
		t.Fatalf("after a restart: %+v, was %+v", again, p)
	}
	// 31 days later (the node's clock shifted; the default schedule
	// rotates after 30), the leader rotates it.
	if code := n.stop(30 * time.Second); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	n.start("--clock-offset", "744h")
	waitLeader(t, []*node{n}, 1)
	var rotated contactcenter.PhoneProvisioning
	waitFor(t, 30*time.Second, "the rotation", func() (bool, string) {
		rotated = provisioned(t, n, "4001", "sec")
		return rotated.Password != p.Password, fmt.Sprintf("%+v", rotated)
	})
	// The expiry is the rotator's clock + 35 days, the rotation time the
	// commit's (a moment later).
	if d := rotated.ExpiresAt.Sub(rotated.RotatedAt); d < 35*24*time.Hour-time.Second || d > 35*24*time.Hour ||
		!rotated.RotatedAt.After(p.RotatedAt.Add(30*24*time.Hour)) {
		t.Fatalf("rotated %+v, was %+v", rotated, p)
	}
	if !strings.Contains(n.log(), "phone password rotated") {
		t.Fatal("no rotation in the log")
	}
	outputs["log"] = n.log()
	if !strings.Contains(outputs["log"], `"msg":"phone provisioning data read"`) {
		t.Fatal("no audit line for the provisioning reads in the JSON log")
	}
	for what, out := range outputs {
		for _, secret := range []string{p.Password, rotated.Password, "Configured-Desk-Pass-7"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a phone password", what)
			}
		}
	}
	if t.Failed() {
		fmt.Println(n.logTail(40))
	}
}

// TestSecurePhonePasswordsOnTheLeader: in a three-node cluster only the
// leader provisions (one log line, one password, the same read through
// every member); after the leader is killed the new leader provisions a
// phone added meanwhile and the first phone keeps its password.
func TestSecurePhonePasswordsOnTheLeader(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "provha", 3, nil)
	leader := waitLeader(t, nodes, 3)
	survivors := followers(nodes, leader)
	survivors[0].apply(provisionDoc).ok(t)
	p := provisioned(t, survivors[1], "4001", "sec")
	for _, n := range nodes {
		if got := provisioned(t, n, "4001", "sec"); got.Password != p.Password {
			t.Fatalf("%s answers another password", n.name())
		}
	}
	lines := 0
	for _, n := range nodes {
		c := strings.Count(n.log(), "phone password provisioned")
		if c > 0 && n != leader {
			t.Errorf("follower %s provisioned", n.name())
		}
		lines += c
	}
	if lines != 1 {
		t.Fatalf("%d provisioning log lines, want 1 (the leader's)", lines)
	}

	leader.kill()
	newLeader := waitLeader(t, survivors, 3)
	doc := strings.Replace(provisionDoc, `      - {id: desk,`, "      - {id: sec2, position: 2, order: 1, secure: true}\n      - {id: desk,", 1)
	waitFor(t, waitCluster, "the survivors to accept the configuration", func() (bool, string) {
		r := newLeader.apply(doc)
		return r.code == 0, r.String()
	})
	p2 := provisioned(t, survivors[0], "4001", "sec2")
	if p2.Password == p.Password || !strings.Contains(newLeader.log(), "phone password provisioned") {
		t.Fatalf("new leader %s: %+v", newLeader.name(), p2)
	}
	if again := provisioned(t, survivors[1], "4001", "sec"); again.Password != p.Password {
		t.Fatal("the first phone's password changed with the leader")
	}
	for _, n := range nodes {
		for _, s := range []string{p.Password, p2.Password} {
			if strings.Contains(n.log(), s) {
				t.Errorf("%s's log shows a password", n.name())
			}
		}
	}
}
