package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SNMPv3 passphrases of the test user, kept in files as tandemd wants
// them on its command line.
const (
	v3AuthPass = "e2e-auth-passphrase-1"
	v3PrivPass = "e2e-priv-passphrase-2"
)

// v3Cred is a manager's SNMPv3 credentials, as net-snmp's options.
type v3Cred struct{ user, auth, authPass, priv, privPass string }

func (c v3Cred) args() []string {
	return []string{"-l", "authPriv", "-u", c.user, "-a", c.auth, "-A", c.authPass, "-x", c.priv, "-X", c.privPass}
}

// snmpV3 runs a net-snmp tool in SNMPv3 against addr with TANDEM-MIB.
func snmpV3(t *testing.T, tool, addr string, sec []string, args ...string) toolResult {
	t.Helper()
	all := append([]string{"-v3", "-M", snmpMIBPath(t), "-m", "TANDEM-MIB", "-t", "2", "-r", "0"}, sec...)
	all = append(append(all, addr), args...)
	return runTool(nil, snmpTool(t, tool), all...)
}

// v3Files writes the passphrase files (mode 0600) and returns the
// --snmp-v3-user values of users noc (SHA-256, AES) and legacy (SHA,
// AES-256).
func v3Files(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	auth, priv := filepath.Join(dir, "auth"), filepath.Join(dir, "priv")
	if err := os.WriteFile(auth, []byte(v3AuthPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(priv, []byte(v3PrivPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--snmp-v3-user", "noc:SHA256:@" + auth + ":AES:@" + priv,
		"--snmp-v3-user", "legacy:SHA:@" + auth + ":AES256:@" + priv}
}

// TestSNMPv3: net-snmp's snmpget and snmpbulkwalk read the MIB in SNMPv3
// authPriv (SHA-256 + AES-128, SHA + AES-256); a wrong authentication
// key, a wrong privacy key, a security level the user is not configured
// for and an unknown user fail; a request replayed after a restart is
// out of its time window (the engine boots, kept in the data dir, went
// up); a manager with a stale engine time is answered a Report that it
// trusts to resynchronize. Each refusal is counted in the MIB and on
// /metrics, and no passphrase shows in the log, the status or the
// metrics.
func TestSNMPv3(t *testing.T) {
	snmpTool(t, "snmpget")
	addr := loopback(t)
	n := newNode(t, "v3")
	n.extra = append(n.extra, append(snmpFlags(addr), v3Files(t)...)...) // after the harness's --snmp-addr=
	n.start()
	waitLeader(t, []*node{n}, 1)
	noc := v3Cred{"noc", "SHA-256", v3AuthPass, "AES", v3PrivPass}
	legacy := v3Cred{"legacy", "SHA", v3AuthPass, "AES256", v3PrivPass}

	get := func(c v3Cred, names ...string) map[string]string {
		t.Helper()
		r := snmpV3(t, "snmpget", addr, c.args(), names...)
		if r.code != 0 {
			t.Fatalf("snmpget -v3 as %s:\n%v", c.user, r)
		}
		vals, _ := snmpLines(t, r)
		return vals
	}
	vals := get(noc, "TANDEM-MIB::tandemNodeId.0", "TANDEM-MIB::tandemNodeRole.0", "TANDEM-MIB::tandemSnmpEngineBoots.0",
		"TANDEM-MIB::tandemSnmpEngineId.0")
	if vals["tandemNodeId.0"] != "STRING: v3" || vals["tandemNodeRole.0"] != "INTEGER: leader(1)" ||
		vals["tandemSnmpEngineBoots.0"] != "Gauge32: 1" || !strings.HasPrefix(vals["tandemSnmpEngineId.0"], "STRING: 80007ed905") {
		t.Fatalf("SHA-256/AES: %v", vals)
	}
	engineID := vals["tandemSnmpEngineId.0"]
	if v := get(legacy, "TANDEM-MIB::tandemNodeId.0"); v["tandemNodeId.0"] != "STRING: v3" {
		t.Fatalf("SHA/AES-256: %v", v)
	}
	// The whole tree in SNMPv3, as in SNMPv2c.
	bulk := snmpV3(t, "snmpbulkwalk", addr, noc.args(), "TANDEM-MIB::tandemMIB")
	walk := snmp(t, "snmpwalk", snmpCommunity, addr, "TANDEM-MIB::tandemMIB")
	bv, _ := snmpLines(t, bulk)
	wv, _ := snmpLines(t, walk)
	if bulk.code != 0 || len(bv) < 40 || len(bv) != len(wv) {
		t.Fatalf("snmpbulkwalk -v3: %d objects, snmpwalk -v2c %d\n%v", len(bv), len(wv), bulk)
	}

	// Refusals: each fails with net-snmp's message for the Report.
	counters := func() map[string]string {
		t.Helper()
		v, _ := snmpLines(t, snmp(t, "snmpget", snmpCommunity, addr, "TANDEM-MIB::tandemSnmpDropsWrongDigest.0",
			"TANDEM-MIB::tandemSnmpDropsDecryption.0", "TANDEM-MIB::tandemSnmpDropsUnsupportedSecLevel.0",
			"TANDEM-MIB::tandemSnmpDropsUnknownUser.0", "TANDEM-MIB::tandemSnmpDropsNotInTimeWindow.0",
			"TANDEM-MIB::tandemSnmpRequests.0"))
		return v
	}
	before := counters()
	for _, tc := range []struct {
		name, counter, message string
		sec                    []string
	}{
		{"wrong auth key", "tandemSnmpDropsWrongDigest.0", "Authentication failure",
			v3Cred{"noc", "SHA-256", "not-the-auth-passphrase", "AES", v3PrivPass}.args()},
		{"wrong auth protocol", "tandemSnmpDropsWrongDigest.0", "Authentication failure",
			v3Cred{"noc", "SHA", v3AuthPass, "AES", v3PrivPass}.args()},
		{"wrong privacy key", "tandemSnmpDropsDecryption.0", "Decryption error",
			v3Cred{"noc", "SHA-256", v3AuthPass, "AES", "not-the-priv-passphrase"}.args()},
		{"authNoPriv", "tandemSnmpDropsUnsupportedSecLevel.0", "Unsupported security level",
			[]string{"-l", "authNoPriv", "-u", "noc", "-a", "SHA-256", "-A", v3AuthPass}},
		{"noAuthNoPriv", "tandemSnmpDropsUnsupportedSecLevel.0", "Unsupported security level",
			[]string{"-l", "noAuthNoPriv", "-u", "noc"}},
		{"unknown user", "tandemSnmpDropsUnknownUser.0", "Unknown user name",
			v3Cred{"mallory", "SHA-256", v3AuthPass, "AES", v3PrivPass}.args()},
	} {
		r := snmpV3(t, "snmpget", addr, tc.sec, "TANDEM-MIB::tandemNodeId.0")
		if r.code == 0 || strings.Contains(r.stdout, "STRING: v3") || !strings.Contains(r.stderr, tc.message) {
			t.Errorf("%s: want a failure with %q:\n%v", tc.name, tc.message, r)
		}
		after := counters()
		if after[tc.counter] == before[tc.counter] {
			t.Errorf("%s: %s still %s", tc.name, tc.counter, after[tc.counter])
		}
		before = after
	}

	// A stale engine time (net-snmp told another boots and time): the
	// agent refuses it with an authenticated Report, which net-snmp
	// trusts to resynchronize and retry (RFC 3414 4), so the request
	// ends well — and the refusal is counted.
	hexID := strings.TrimPrefix(engineID, "STRING: ")
	stale := snmpV3(t, "snmpget", addr, append(noc.args(), "-e", "0x"+hexID, "-Z", "7,100"), "TANDEM-MIB::tandemNodeId.0")
	if after := counters(); after["tandemSnmpDropsNotInTimeWindow.0"] == before["tandemSnmpDropsNotInTimeWindow.0"] || stale.code != 0 {
		t.Fatalf("stale time: %s\n%v", after["tandemSnmpDropsNotInTimeWindow.0"], stale)
	}

	// /metrics has every cause (counted since this start).
	metrics := func() string {
		t.Helper()
		code, body, err := n.get("/metrics", false)
		if err != nil || code != http.StatusOK {
			t.Fatalf("/metrics: %d %v", code, err)
		}
		return string(body)
	}
	body := metrics()
	for _, cause := range []string{"wrong_digest", "decryption", "unsupported_sec_level", "unknown_user", "not_in_time_window", "unknown_engine_id"} {
		if v, ok := labelled(body, fmt.Sprintf(`tandem_snmp_dropped_total{cause=%q}`, cause)); !ok || v < 1 {
			t.Errorf("/metrics: tandem_snmp_dropped_total{cause=%q} = %v (%v)", cause, v, ok)
		}
	}
	if v, ok := labelled(body, "tandem_snmp_reports_total"); !ok || v < 5 {
		t.Errorf("/metrics: tandem_snmp_reports_total = %v (%v)", v, ok)
	}

	// tandemctl status -o json has the same counters.
	var doc struct {
		SNMP struct {
			Addr      string            `json:"addr"`
			Requests  map[string]uint64 `json:"requests"`
			Dropped   map[string]uint64 `json:"dropped"`
			Reports   uint64            `json:"reports"`
			TrapsSent map[string]uint64 `json:"traps_sent"`
			EngineID  string            `json:"engine_id"`
		} `json:"snmp"`
	}
	r := n.ctl("status", "-o", "json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("tandemctl status -o json: %v\n%s", err, r.stdout)
	}
	if s := doc.SNMP; s.Addr != addr || s.Requests["get"] < 3 || s.Requests["getbulk"] < 1 || s.Dropped["wrong_digest"] < 2 ||
		s.Dropped["decryption"] < 1 || s.Reports < 5 || len(s.TrapsSent) < 11 || s.EngineID != hexID {
		t.Fatalf("tandemctl status: snmp %+v", s)
	}

	// A replay: an authPriv GET recorded on its way to the agent, sent
	// again after a restart, is out of the time window (the boots went
	// up): a Report of usmStatsNotInTimeWindows, no data.
	relay := startUDPRelay(t, addr)
	if r := snmpV3(t, "snmpget", relay.addr, noc.args(), "TANDEM-MIB::tandemNodeId.0"); !strings.Contains(r.stdout, "STRING: v3") {
		t.Fatalf("through the relay:\n%v", r)
	}
	recorded := relay.last(t)
	if code := n.stop(waitShort); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	n.start()
	waitLeader(t, []*node{n}, 1)
	if v := get(noc, "TANDEM-MIB::tandemSnmpEngineBoots.0", "TANDEM-MIB::tandemSnmpEngineId.0"); v["tandemSnmpEngineBoots.0"] != "Gauge32: 2" ||
		v["tandemSnmpEngineId.0"] != engineID {
		t.Fatalf("after a restart: %v (engine ID was %s)", v, engineID)
	}
	before = counters()
	answer := exchange(t, addr, recorded)
	notInTimeWindows := []byte{0x06, 0x0a, 0x2b, 6, 1, 6, 3, 15, 1, 1, 2, 0} // usmStatsNotInTimeWindows.0
	if answer == nil || !bytes.Contains(answer, notInTimeWindows) {
		t.Fatalf("the replay was answered %x, want a Report of usmStatsNotInTimeWindows", answer)
	}
	after := counters()
	if after["tandemSnmpDropsNotInTimeWindow.0"] == before["tandemSnmpDropsNotInTimeWindow.0"] {
		t.Fatalf("the replay was not counted: %v", after)
	}
	if v, ok := labelled(metrics(), `tandem_snmp_dropped_total{cause="not_in_time_window"}`); !ok || v != 1 {
		t.Errorf("/metrics after the replay: not_in_time_window %v (%v)", v, ok)
	}
	_, st, _ := n.get("/v1/status", true)
	for _, where := range map[string]string{"log": n.log(), "metrics": metrics(), "status": string(st)} {
		if strings.Contains(where, v3AuthPass) || strings.Contains(where, v3PrivPass) {
			t.Fatal("a passphrase shows")
		}
	}
}

// TestSNMPv3PassphraseOnCommandLine: tandemd refuses a passphrase written
// on its command line (every local user reads it), in one line naming the
// flag and not the passphrase; the same user in the environment starts.
func TestSNMPv3PassphraseOnCommandLine(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	user := "noc:SHA256:" + v3AuthPass + ":AES:" + v3PrivPass
	cmd := exec.CommandContext(ctx, tandemdBin, "--data-dir", filepath.Join(dir, "data"), "--raft-addr", loopback(t),
		"--admin-addr", loopback(t), "--snmp-addr", loopback(t), "--snmp-v3-user", user)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	out := stderr.String()
	if err == nil || cmd.ProcessState.ExitCode() != 2 || strings.Count(out, "\n") != 1 ||
		!strings.HasPrefix(out, `tandemd: --snmp-v3-user: user "noc": a passphrase on the command line`) ||
		strings.Contains(out, v3AuthPass) || strings.Contains(out, v3PrivPass) {
		t.Fatalf("exit %v, stderr %q", err, out)
	}
	addr := loopback(t)
	n := newNode(t, "v3env")
	n.extra = append(n.extra, snmpFlags(addr)...)
	n.env = append(n.env, "TANDEM_SNMP_V3_USER="+user)
	n.start()
	r := snmpV3(t, "snmpget", addr, v3Cred{"noc", "SHA-256", v3AuthPass, "AES", v3PrivPass}.args(), "TANDEM-MIB::tandemNodeId.0")
	if v, _ := snmpLines(t, r); v["tandemNodeId.0"] != "STRING: v3env" {
		t.Fatalf("user from the environment:\n%v", r)
	}
	if strings.Contains(n.log(), v3AuthPass) || strings.Contains(n.log(), v3PrivPass) {
		t.Fatal("a passphrase shows in the log")
	}
}

// udpRelay forwards datagrams between managers and an agent, recording
// what the managers sent.
type udpRelay struct {
	addr string
	mu   sync.Mutex
	sent [][]byte
}

func startUDPRelay(t *testing.T, agent string) *udpRelay {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ua, _ := net.ResolveUDPAddr("udp", agent)
	back, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{addr: front.LocalAddr().String()}
	var client atomicAddr
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			k, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.set(from)
			r.mu.Lock()
			r.sent = append(r.sent, bytes.Clone(buf[:k]))
			r.mu.Unlock()
			back.Write(buf[:k])
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			k, err := back.Read(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && !ne.Timeout() && strings.Contains(err.Error(), "refused") {
					continue // the agent restarting
				}
				return
			}
			if c := client.get(); c != nil {
				front.WriteToUDP(buf[:k], c)
			}
		}
	}()
	t.Cleanup(func() { front.Close(); back.Close(); wg.Wait() })
	return r
}

// last is the last datagram a manager sent.
func (r *udpRelay) last(t *testing.T) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		t.Fatal("the relay saw nothing")
	}
	return r.sent[len(r.sent)-1]
}

type atomicAddr struct {
	mu sync.Mutex
	a  *net.UDPAddr
}

func (a *atomicAddr) set(v *net.UDPAddr) { a.mu.Lock(); a.a = v; a.mu.Unlock() }
func (a *atomicAddr) get() *net.UDPAddr  { a.mu.Lock(); defer a.mu.Unlock(); return a.a }

// exchange sends one datagram to addr and returns the answer (nil after
// three seconds without one).
func exchange(t *testing.T, addr string, msg []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65535)
	k, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:k]
}
