package snmp

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// The test users: one per security level and protocol pair.
const (
	v3AuthPass = "auth-pass-1234"
	v3PrivPass = "priv-pass-5678"
)

var testV3Users = []string{
	"noc:SHA256:" + v3AuthPass + ":AES:" + v3PrivPass,
	"old:SHA:" + v3AuthPass + ":AES:" + v3PrivPass,
	"big:SHA256:" + v3AuthPass + ":AES256:" + v3PrivPass,
	"ro:SHA256:" + v3AuthPass, // authNoPriv, configured so
	"open",                    // noAuthNoPriv, configured so
}

func withV3Users(f *Flags) {
	for _, u := range testV3Users {
		f.V3Users.Set(u)
	}
}

// v3Agent is a test agent with the SNMPv3 test users and an engine kept
// in a temporary data dir.
func v3Agent(t testing.TB, edit ...func(*Flags)) *Agent {
	t.Helper()
	return newTestAgentIn(t, t.TempDir(), append([]func(*Flags){withV3Users}, edit...)...)
}

// v3Req is an SNMPv3 request as a manager encodes it (gosnmp's encoder
// and its key localization: an implementation other than the agent's
// checks).
type v3Req struct {
	user               string
	auth               gosnmp.SnmpV3AuthProtocol
	priv               gosnmp.SnmpV3PrivProtocol
	authPass, privPass string
	flags              gosnmp.SnmpV3MsgFlags
	engineID           string
	contextEngine      string // "": engineID
	boots, time        uint32
	contextName        string
	pdu                gosnmp.PDUType
	oids               []string
}

// nocReq is a valid authPriv GET of tandemNodeId.0 as user noc.
func nocReq(a *Agent) v3Req {
	return v3Req{user: "noc", auth: gosnmp.SHA256, priv: gosnmp.AES, authPass: v3AuthPass, privPass: v3PrivPass,
		flags: gosnmp.AuthPriv | gosnmp.Reportable, engineID: string(a.usm.engineID), boots: a.usm.boots,
		time: a.usm.engineTime(a.now()), pdu: gosnmp.GetRequest, oids: []string{a.oids["tandemNodeId"].Append(0).String()}}
}

func (r v3Req) marshal(t testing.TB) []byte {
	t.Helper()
	sp := &gosnmp.UsmSecurityParameters{UserName: r.user, AuthoritativeEngineID: r.engineID,
		AuthoritativeEngineBoots: r.boots, AuthoritativeEngineTime: r.time,
		AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	if r.flags&gosnmp.AuthNoPriv != 0 {
		sp.AuthenticationProtocol, sp.AuthenticationPassphrase = r.auth, r.authPass
	}
	if r.flags&gosnmp.AuthPriv == gosnmp.AuthPriv {
		sp.PrivacyProtocol, sp.PrivacyPassphrase = r.priv, r.privPass
		sp.PrivacyParameters = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	}
	if r.flags&gosnmp.AuthNoPriv != 0 {
		if err := sp.InitSecurityKeys(); err != nil {
			t.Fatal(err)
		}
	}
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: r.flags, SecurityModel: gosnmp.UserSecurityModel,
		MsgID: 77, MsgMaxSize: 65507, SecurityParameters: sp, ContextEngineID: cmp.Or(r.contextEngine, r.engineID), ContextName: r.contextName,
		PDUType: r.pdu, RequestID: 4242}
	for _, o := range r.oids {
		p.Variables = append(p.Variables, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeV3 decodes an answer of the agent as user r would: its MAC
// checked (by parseV3 and the agent's own verifier: gosnmp does not),
// then decrypted.
func decodeV3(t testing.TB, a *Agent, r v3Req, b []byte) *gosnmp.SnmpPacket {
	t.Helper()
	if b == nil {
		t.Fatal("no answer")
	}
	m, ok := parseV3(b)
	if !ok {
		t.Fatalf("answer is no SNMPv3 message: %x", b)
	}
	if !bytes.Equal(m.engineID, a.usm.engineID) || m.boots != int64(a.usm.boots) {
		t.Fatalf("answer's engine %x boots %d", m.engineID, m.boots)
	}
	sp := &gosnmp.UsmSecurityParameters{UserName: cmp.Or(r.user, "-"), AuthoritativeEngineID: string(a.usm.engineID),
		AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	if m.flags&gosnmp.AuthNoPriv != 0 {
		uu := a.usm.users[r.user]
		zeroed := bytes.Clone(b)
		clear(zeroed[m.authOff : m.authOff+len(m.authParams)])
		if !uu.authentic(zeroed, m.authParams) {
			t.Fatal("the answer's MAC is wrong")
		}
		sp.AuthenticationProtocol, sp.SecretKey = uu.auth, uu.authKey
		if m.flags&gosnmp.AuthPriv == gosnmp.AuthPriv {
			sp.PrivacyProtocol, sp.PrivacyKey = uu.priv, uu.privKey
		}
		b = zeroed
	}
	p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: m.flags,
		SecurityParameters: sp}).SnmpDecodePacket(b)
	if err != nil {
		t.Fatalf("answer does not decode: %v", err)
	}
	return p
}

func TestV3Answers(t *testing.T) {
	a := v3Agent(t)
	src, _, _ := testSources()
	for _, r := range []v3Req{
		nocReq(a),
		func() v3Req { r := nocReq(a); r.user, r.auth = "old", gosnmp.SHA; return r }(),
		func() v3Req { r := nocReq(a); r.user, r.priv = "big", gosnmp.AES256; return r }(),
		func() v3Req { r := nocReq(a); r.user, r.flags = "ro", gosnmp.AuthNoPriv|gosnmp.Reportable; return r }(),
		func() v3Req {
			r := nocReq(a)
			r.user, r.flags = "open", gosnmp.NoAuthNoPriv|gosnmp.Reportable
			return r
		}(),
		// Within the window on either side.
		func() v3Req { r := nocReq(a); r.time += timeWindow; return r }(),
		func() v3Req { r := nocReq(a); r.time -= 50; return r }(),
		// The default context, named by the engine ID or left empty.
		func() v3Req { r := nocReq(a); r.contextEngine = ""; return r }(),
	} {
		t.Run(r.user, func(t *testing.T) {
			before := a.cnt.requests[pduGet].Load()
			p := decodeV3(t, a, r, a.handle(src, loopback, r.marshal(t)))
			if p.PDUType != gosnmp.GetResponse || p.RequestID != 4242 || p.MsgID != 77 || len(p.Variables) != 1 ||
				string(p.Variables[0].Value.([]byte)) != "n1" {
				t.Fatalf("answer %v id %d %v", p.PDUType, p.RequestID, p.Variables)
			}
			if p.MsgFlags != r.flags&gosnmp.AuthPriv {
				t.Fatalf("answer's flags %v, request's %v (not reportable)", p.MsgFlags, r.flags)
			}
			if a.cnt.requests[pduGet].Load() != before+1 {
				t.Fatal("not counted")
			}
		})
	}
}

// TestV3Refusals: every USM refusal is counted once by cause, answered by
// the right Report when the request is reportable, and never answered
// with data.
func TestV3Refusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(a *Agent, r *v3Req)
		why    dropCause
		report string // the Report's varbind, "" for none
		authed bool   // the Report is authenticated
	}{
		{"discovery", func(a *Agent, r *v3Req) {
			*r = v3Req{flags: gosnmp.Reportable, pdu: gosnmp.GetRequest}
		}, dropUnknownEngineID, ".1.3.6.1.6.3.15.1.1.4.0", false},
		{"another engine", func(a *Agent, r *v3Req) { r.engineID = "\x80\x00\x1f\x88\x04other" }, dropUnknownEngineID, ".1.3.6.1.6.3.15.1.1.4.0", false},
		{"unknown user", func(a *Agent, r *v3Req) { r.user = "eve" }, dropUnknownUser, ".1.3.6.1.6.3.15.1.1.3.0", false},
		{"wrong auth key", func(a *Agent, r *v3Req) { r.authPass = "not-the-auth-pass" }, dropWrongDigest, ".1.3.6.1.6.3.15.1.1.5.0", false},
		{"wrong auth protocol", func(a *Agent, r *v3Req) { r.auth = gosnmp.SHA }, dropWrongDigest, ".1.3.6.1.6.3.15.1.1.5.0", false},
		{"wrong priv key", func(a *Agent, r *v3Req) { r.privPass = "not-the-priv-pass" }, dropDecryption, ".1.3.6.1.6.3.15.1.1.6.0", false},
		{"authNoPriv for an authPriv user", func(a *Agent, r *v3Req) { r.flags = gosnmp.AuthNoPriv | gosnmp.Reportable },
			dropUnsupportedLevel, ".1.3.6.1.6.3.15.1.1.1.0", false},
		{"noAuthNoPriv for an authPriv user", func(a *Agent, r *v3Req) { r.flags = gosnmp.Reportable },
			dropUnsupportedLevel, ".1.3.6.1.6.3.15.1.1.1.0", false},
		{"authPriv for an authNoPriv user", func(a *Agent, r *v3Req) { r.user = "ro" }, dropUnsupportedLevel, ".1.3.6.1.6.3.15.1.1.1.0", false},
		{"authNoPriv for a noAuthNoPriv user", func(a *Agent, r *v3Req) { r.user, r.flags = "open", gosnmp.AuthNoPriv|gosnmp.Reportable },
			dropUnsupportedLevel, ".1.3.6.1.6.3.15.1.1.1.0", false},
		{"boots of the last start", func(a *Agent, r *v3Req) { r.boots-- }, dropNotInTimeWindow, ".1.3.6.1.6.3.15.1.1.2.0", true},
		{"time ahead", func(a *Agent, r *v3Req) { r.time += timeWindow + 1 }, dropNotInTimeWindow, ".1.3.6.1.6.3.15.1.1.2.0", true},
		{"time behind", func(a *Agent, r *v3Req) { a.now = func() time.Time { return testNow.Add(10 * time.Minute) } },
			dropNotInTimeWindow, ".1.3.6.1.6.3.15.1.1.2.0", true},
		{"a context name", func(a *Agent, r *v3Req) { r.contextName = "vrf-1" }, dropUnknownContext, ".1.3.6.1.6.3.12.1.5.0", false},
		{"another context engine", func(a *Agent, r *v3Req) { r.contextEngine = "\x80\x00\x1f\x88\x04other" }, dropUnknownContext, ".1.3.6.1.6.3.12.1.5.0", false},
		{"not reportable", func(a *Agent, r *v3Req) { r.flags, r.authPass = gosnmp.AuthPriv, "not-the-auth-pass" }, dropWrongDigest, "", false},
		{"a response", func(a *Agent, r *v3Req) { r.pdu = gosnmp.GetResponse }, dropPDU, "", false},
		{"a trap", func(a *Agent, r *v3Req) { r.pdu = gosnmp.SNMPv2Trap }, dropPDU, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := v3Agent(t)
			src, _, _ := testSources()
			r := nocReq(a)
			tc.edit(a, &r)
			resp := a.handle(src, loopback, r.marshal(t))
			var total uint64
			for c := range numDropCauses {
				total += a.cnt.drops[c].Load()
			}
			if a.cnt.drops[tc.why].Load() != 1 || total != 1 || a.cnt.requestsTotal() != 0 {
				t.Fatalf("drops by cause %v, want one %s", dropsOf(a), dropNames[tc.why])
			}
			if tc.report == "" {
				if resp != nil {
					t.Fatalf("answered %x", resp)
				}
				return
			}
			if resp == nil {
				t.Fatal("no Report")
			}
			m, ok := parseV3(resp)
			if !ok || (m.flags&gosnmp.AuthNoPriv != 0) != tc.authed || m.flags&gosnmp.Reportable != 0 {
				t.Fatalf("Report flags %v (authenticated %v wanted)", m.flags, tc.authed)
			}
			rr := r
			if tc.authed {
				rr.user = "noc"
			}
			p := decodeV3(t, a, rr, resp)
			if p.PDUType != gosnmp.Report || len(p.Variables) != 1 || p.Variables[0].Name != tc.report ||
				p.Variables[0].Value != uint(1) {
				t.Fatalf("Report %v %v", p.PDUType, p.Variables)
			}
			// The engine's boots and time, for discovery and resync.
			if sp := p.SecurityParameters.(*gosnmp.UsmSecurityParameters); sp.AuthoritativeEngineBoots != a.usm.boots ||
				sp.AuthoritativeEngineTime != a.usm.engineTime(a.now()) {
				t.Fatalf("Report boots %d time %d", sp.AuthoritativeEngineBoots, sp.AuthoritativeEngineTime)
			}
			if a.cnt.reports.Load() != 1 {
				t.Fatalf("reports %d", a.cnt.reports.Load())
			}
		})
	}
}

func dropsOf(a *Agent) map[string]uint64 {
	out := map[string]uint64{}
	for c := range numDropCauses {
		if n := a.cnt.drops[c].Load(); n > 0 {
			out[dropNames[c]] = n
		}
	}
	return out
}

// TestV3Tampered: a message changed anywhere after it was authenticated
// fails the MAC, whatever the octet: the MAC covers the whole message.
func TestV3Tampered(t *testing.T) {
	a := v3Agent(t)
	src, _, _ := testSources()
	r := nocReq(a)
	good := r.marshal(t)
	if a.handle(src, loopback, good) == nil {
		t.Fatal("the untampered message is not answered")
	}
	m, _ := parseV3(good)
	for i := range good {
		if i >= m.authOff && i < m.authOff+len(m.authParams) {
			continue
		}
		b := bytes.Clone(good)
		b[i] ^= 0x01
		if resp := a.handle(src, loopback, b); resp != nil && !isReport(resp) {
			t.Fatalf("octet %d changed: answered with data", i)
		}
	}
	if a.cnt.requestsTotal() != 1 {
		t.Fatalf("%d requests answered", a.cnt.requestsTotal())
	}
}

// isReport says whether b is an SNMPv3 message carrying a plaintext
// Report PDU.
func isReport(b []byte) bool {
	m, ok := parseV3(b)
	if !ok || m.scoped == nil {
		return false
	}
	r := berReader{b: m.scoped}
	s, _ := r.seq(0x30)
	s.octets()
	s.octets()
	return s.off < len(s.b) && s.b[s.off] == byte(gosnmp.Report)
}

// TestV3Disabled: without users, SNMPv3 is a version the agent does not
// answer, even discovery.
func TestV3Disabled(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	r := v3Req{flags: gosnmp.Reportable, pdu: gosnmp.GetRequest}
	if a.handle(src, loopback, r.marshal(t)) != nil || a.cnt.drops[dropVersion].Load() != 1 {
		t.Fatalf("answered, drops %v", dropsOf(a))
	}
}

// TestEngineBoots: the engine ID is made once and kept; the boots grow
// by one at every start; a damaged file stops the start.
func TestEngineBoots(t *testing.T) {
	dir := t.TempDir()
	var ids []string
	for want := uint32(1); want <= 3; want++ {
		e, err := loadEngine(dir)
		if err != nil {
			t.Fatal(err)
		}
		if e.boots != want || len(e.id) != 17 || !bytes.HasPrefix(e.id, []byte{0x80, 0x00, 0x7e, 0xd9, 0x05}) {
			t.Fatalf("start %d: boots %d, id %x", want, e.boots, e.id)
		}
		ids = append(ids, hex.EncodeToString(e.id))
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("engine ID changed: %v", ids)
	}
	fi, err := os.Stat(filepath.Join(dir, engineFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("engine file: %v %v", fi, err)
	}
	// A request of the last start is out of the window now.
	a1 := newTestAgentIn(t, dir, withV3Users)
	old := nocReq(a1).marshal(t)
	a2 := newTestAgentIn(t, dir, withV3Users)
	if a2.usm.boots != a1.usm.boots+1 {
		t.Fatalf("boots %d then %d", a1.usm.boots, a2.usm.boots)
	}
	src, _, _ := testSources()
	a2.handle(src, loopback, old)
	if a2.cnt.drops[dropNotInTimeWindow].Load() != 1 {
		t.Fatalf("a replay from the last start: drops %v", dropsOf(a2))
	}

	os.WriteFile(filepath.Join(dir, engineFile), []byte("{not json"), 0o600)
	if _, err := loadEngine(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, engineFile), []byte(`{"engine_id":"8000","boots":3}`), 0o600)
	if _, err := loadEngine(dir); err == nil {
		t.Fatal("a 2-octet engine ID was accepted")
	}
	// At the ceiling the boots stay, and nothing authenticated is in
	// the window any more (RFC 3414 2.2.2).
	os.WriteFile(filepath.Join(dir, engineFile), []byte(`{"engine_id":"80007ed905aabbccdd","boots":2147483647}`), 0o600)
	a3 := newTestAgentIn(t, dir, withV3Users)
	if a3.usm.boots != maxBoots {
		t.Fatalf("boots %d", a3.usm.boots)
	}
	a3.handle(src, loopback, nocReq(a3).marshal(t))
	if a3.cnt.drops[dropNotInTimeWindow].Load() != 1 {
		t.Fatalf("at the ceiling: drops %v", dropsOf(a3))
	}
}

// TestKeyLocalization checks the keys the agent derives against RFC 3414
// A.3.2 (SHA, "maplesyrup") and, for SHA-256, against RFC 7860's
// algorithm computed here.
func TestKeyLocalization(t *testing.T) {
	engineID, _ := hex.DecodeString("000000000000000000000002")
	u, err := newUSM([]userConfig{
		{name: "sha", level: gosnmp.AuthNoPriv, auth: gosnmp.SHA, priv: gosnmp.NoPriv, authPass: "maplesyrup"},
		{name: "sha256", level: gosnmp.AuthPriv, auth: gosnmp.SHA256, priv: gosnmp.AES256, authPass: "maplesyrup", privPass: "maplesyrup"},
	}, engineState{id: engineID, boots: 1}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(u.users["sha"].authKey); got != "6695febc9288e36282235fc7151f128497b38f3f" {
		t.Fatalf("SHA localized key %s, RFC 3414 A.3.2 says 6695febc…3f", got)
	}
	// RFC 3414 A.2.2 with SHA-256: hash 1 MiB of the repeated passphrase,
	// then H(Ku | engineID | Ku).
	pass := []byte("maplesyrup")
	h := sha256.New()
	for i := 0; i < 1<<20; i++ {
		h.Write(pass[i%len(pass) : i%len(pass)+1])
	}
	ku := h.Sum(nil)
	h.Reset()
	h.Write(ku)
	h.Write(engineID)
	h.Write(ku)
	kul := h.Sum(nil)
	if got := u.users["sha256"]; !bytes.Equal(got.authKey, kul) || !bytes.Equal(got.privKey, kul) {
		t.Fatalf("SHA-256 keys %x / %x, want %x", got.authKey, got.privKey, kul)
	}
}

func TestV3Flags(t *testing.T) {
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth")
	os.WriteFile(authFile, []byte(v3AuthPass+"\n"), 0o600)
	privFile := filepath.Join(dir, "priv")
	os.WriteFile(privFile, []byte("pass:with:colons\r\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("short"), 0o600)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"authPriv", []string{"--snmp-v3-user", "noc:SHA256:" + v3AuthPass + ":AES:" + v3PrivPass}, ""},
		{"files", []string{"--snmp-v3-user", "noc:sha:@" + authFile + ":aes256:@" + privFile}, ""},
		{"authNoPriv", []string{"--snmp-v3-user", "ro:SHA256:@" + authFile}, ""},
		{"noAuthNoPriv", []string{"--snmp-v3-user", "open"}, ""},
		{"MD5 refused", []string{"--snmp-v3-user", "noc:MD5:" + v3AuthPass}, "AUTH (the second field) is SHA or SHA256"},
		{"DES refused", []string{"--snmp-v3-user", "noc:SHA:" + v3AuthPass + ":DES:" + v3PrivPass}, "PRIV (the fourth field) is AES or AES256"},
		{"four fields", []string{"--snmp-v3-user", "noc:SHA:" + v3AuthPass + ":AES"}, "want NAME:AUTH:AUTHPASS:PRIV:PRIVPASS"},
		{"short passphrase", []string{"--snmp-v3-user", "noc:SHA:@" + short}, "8 to 1024 characters"},
		{"missing file", []string{"--snmp-v3-user", "noc:SHA:@" + filepath.Join(dir, "none")}, "no such file"},
		{"twice", []string{"--snmp-v3-user", "open", "--snmp-v3-user", "open"}, `user "open" given twice`},
		{"long name", []string{"--snmp-v3-user", strings.Repeat("n", 33)}, "1 to 32 characters"},
		{"trap user", []string{"--snmp-v3-user", "open", "--snmp-trap-v3-user", "open", "--snmp-trap-to", "127.0.0.1:162"}, ""},
		{"unknown trap user", []string{"--snmp-v3-user", "open", "--snmp-trap-v3-user", "nobody", "--snmp-trap-to", "127.0.0.1:162"},
			`--snmp-trap-v3-user: "nobody" is not one of`},
		{"trap user without destination", []string{"--snmp-v3-user", "open", "--snmp-trap-v3-user", "open"}, "needs --snmp-trap-to"},
		{"threshold", []string{"--snmp-extension-threshold", "75"}, ""},
		{"threshold over 100", []string{"--snmp-extension-threshold", "101"}, "--snmp-extension-threshold:"},
		{"threshold not a number", []string{"--snmp-extension-threshold", "ninety"}, "--snmp-extension-threshold:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(t, tc.args...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("accepted")
			case err != nil && (!strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("error %q, want one line with %q", err, tc.wantErr)
			}
			// No passphrase ever shows, in an error or in the flag's
			// value.
			f, _ := parseFlags(t, tc.args...)
			for _, s := range []string{v3AuthPass, v3PrivPass, "pass:with", "short"} {
				if (err != nil && strings.Contains(err.Error(), s)) || strings.Contains(f.V3Users.String(), s) {
					t.Fatalf("passphrase shown: %v / %s", err, f.V3Users.String())
				}
			}
		})
	}
	f, _ := parseFlags(t, "--snmp-v3-user", "noc:SHA:@"+authFile+":AES:@"+privFile)
	c, _ := f.config()
	if c.Users[0].authPass != v3AuthPass || c.Users[0].privPass != "pass:with:colons" {
		t.Fatal("passphrase files not read as written (one trailing line break dropped)")
	}
	if err := f.V3Users.CheckCommandLine(); err != nil {
		t.Fatalf("@FILE on the command line: %v", err)
	}
	f, _ = parseFlags(t, "--snmp-v3-user", "ro:SHA:@"+authFile, "--snmp-v3-user", "noc:SHA:"+v3AuthPass+":AES:@"+privFile)
	if err := f.V3Users.CheckCommandLine(); err == nil || !strings.Contains(err.Error(), `user "noc"`) || strings.Contains(err.Error(), v3AuthPass) {
		t.Fatalf("a literal passphrase on the command line: %v", err)
	}
}

// TestServeUDPv3: gosnmp's SNMPv3 manager discovers the engine, reads
// and walks the MIB with authPriv over UDP; the same manager with a wrong
// privacy key gets nothing.
func TestServeUDPv3(t *testing.T) {
	a := listeningAgentIn(t, t.TempDir(), withV3Users)
	a.now = time.Now
	a.usm.start = time.Now()
	src, _, _ := testSources()
	ctx, cancel := contextWithCancel()
	done := make(chan error)
	go func() { done <- a.Run(ctx, src) }()
	port := uint16(a.Addr().(*net.UDPAddr).Port)
	client := func(user string, auth gosnmp.SnmpV3AuthProtocol, priv gosnmp.SnmpV3PrivProtocol, privPass string) *gosnmp.GoSNMP {
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: port, Version: gosnmp.Version3, Timeout: 500 * time.Millisecond,
			SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv, MaxRepetitions: 10,
			SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: user, AuthenticationProtocol: auth,
				AuthenticationPassphrase: v3AuthPass, PrivacyProtocol: priv, PrivacyPassphrase: privPass}}
		if err := g.Connect(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	for _, c := range []*gosnmp.GoSNMP{
		client("noc", gosnmp.SHA256, gosnmp.AES, v3PrivPass),
		client("old", gosnmp.SHA, gosnmp.AES, v3PrivPass),
		client("big", gosnmp.SHA256, gosnmp.AES256, v3PrivPass),
	} {
		r, err := c.Get([]string{oidOf(t, a, "tandemNodeId", 0)})
		if err != nil || string(r.Variables[0].Value.([]byte)) != "n1" {
			t.Fatalf("GET: %v %v", r, err)
		}
		bulk, err := c.BulkWalkAll(enterprise)
		if err != nil || len(bulk) < 40 {
			t.Fatalf("bulk walk: %d varbinds, %v", len(bulk), err)
		}
	}
	if _, err := client("noc", gosnmp.SHA256, gosnmp.AES, "wrong-priv-pass").Get([]string{oidOf(t, a, "tandemNodeId", 0)}); err == nil {
		t.Fatal("a wrong privacy key was answered")
	}
	if a.cnt.drops[dropDecryption].Load() == 0 || a.cnt.drops[dropUnknownEngineID].Load() == 0 {
		t.Fatalf("drops %v", dropsOf(a))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSealV3: the fuzz target's own sealing makes messages the agent
// answers, for every user, so that FuzzHandleV3 explores past the USM.
func TestSealV3(t *testing.T) {
	a := v3Agent(t)
	src, _, _ := testSources()
	get := scopedContents(t, a, gosnmp.GetRequest, oidOf(t, a, "tandemNodeId", 0))
	for name, uu := range a.usm.users {
		p := decodeV3(t, a, v3Req{user: name}, a.handle(src, loopback, sealV3(t, a, uu, get)))
		if p.PDUType != gosnmp.GetResponse || string(p.Variables[0].Value.([]byte)) != "n1" {
			t.Fatalf("%s: %v %v", name, p.PDUType, p.Variables)
		}
	}
}
