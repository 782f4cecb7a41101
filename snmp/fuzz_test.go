package snmp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"testing"

	"github.com/gosnmp/gosnmp"
)

// FuzzHandle: whatever arrives, handle neither panics nor answers
// anything but a well-formed SNMPv2c response, or an SNMPv3 response or
// Report of this engine, within maxMessage; and every packet is either
// answered or counted as a drop. The seeds (below and in
// testdata/fuzz/FuzzHandle) run as a normal test; explore with
// go test -run '^$' -fuzz FuzzHandle ./snmp/
func FuzzHandle(f *testing.F) {
	a := newTestAgent(f, withV3Users)
	root := a.oids["tandemMIB"].String()
	for _, seed := range [][]byte{
		request(f, testCommunity, gosnmp.GetRequest, 0, 0, oidOf(f, a, "tandemNodeId", 0), ".1.3.6.1.2.1.1.1.0"),
		request(f, testCommunity, gosnmp.GetNextRequest, 0, 0, root),
		request(f, testCommunity, gosnmp.GetBulkRequest, 1, 20, root, oidOf(f, a, "tandemMemberTable")),
		request(f, testCommunity, gosnmp.GetBulkRequest, 0, 1000, ".1.3"),
		request(f, testCommunity, gosnmp.SetRequest, 0, 0, oidOf(f, a, "tandemNodeId", 0)),
		request(f, "wrong", gosnmp.GetRequest, 0, 0, root),
		(v3Req{flags: gosnmp.Reportable, pdu: gosnmp.GetRequest}).marshal(f), // discovery
		nocReq(a).marshal(f),
		func() []byte {
			r := nocReq(a)
			r.pdu, r.oids = gosnmp.GetBulkRequest, []string{".1.3"}
			return r.marshal(f)
		}(),
		func() []byte {
			r := nocReq(a)
			r.user, r.flags = "ro", gosnmp.AuthNoPriv|gosnmp.Reportable
			return r.marshal(f)
		}(),
		func() []byte { r := nocReq(a); r.user, r.flags = "open", gosnmp.Reportable; return r.marshal(f) }(),
		func() []byte { r := nocReq(a); r.authPass = "not-the-auth-pass"; return r.marshal(f) }(),
		{0x30, 0x03, 0x02, 0x01, 0x00},
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		{},
	} {
		f.Add(seed)
	}
	src, _, _ := testSources()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		a.cnt = newCounters() // the agent keeps no other state between requests
		checkAnswer(t, a, a.handle(src, loopback, pkt))
	})
}

// checkAnswer checks one handled packet's answer and counters: a
// response counted as a request, or a Report or nothing counted as one
// drop.
func checkAnswer(t *testing.T, a *Agent, resp []byte) {
	t.Helper()
	answered := uint64(0)
	if resp != nil {
		if len(resp) > maxMessage {
			t.Fatalf("answer of %d octets", len(resp))
		}
		switch ver, _ := peekVersion(resp); ver {
		case snmpV2c:
			p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(resp)
			if err != nil {
				t.Fatalf("response does not decode: %v", err)
			}
			if p.Version != gosnmp.Version2c || p.PDUType != gosnmp.GetResponse || p.Community != testCommunity {
				t.Fatalf("response %v %v %q", p.Version, p.PDUType, p.Community)
			}
			answered = 1
		case snmpV3:
			m, ok := parseV3(resp)
			if !ok || !bytes.Equal(m.engineID, a.usm.engineID) || m.flags&gosnmp.Reportable != 0 {
				t.Fatalf("answer is no SNMPv3 message of this engine: %x", resp)
			}
			if isReport(resp) {
				if a.cnt.reports.Load() != 1 {
					t.Fatalf("reports %d", a.cnt.reports.Load())
				}
				break
			}
			p := decodeV3(t, a, v3Req{user: string(m.user)}, resp)
			if p.PDUType != gosnmp.GetResponse && p.PDUType != gosnmp.Report {
				t.Fatalf("SNMPv3 answer %v", p.PDUType)
			}
			if p.PDUType == gosnmp.GetResponse {
				answered = 1
			}
		default:
			t.Fatalf("answer of version %d", ver)
		}
	}
	var drops uint64
	for c := range numDropCauses {
		drops += a.cnt.drops[c].Load()
	}
	if a.cnt.packets.Load() != 1 || a.cnt.requestsTotal() != answered || drops != 1-answered {
		t.Fatalf("packets %d, requests %d, drops %d, answered %d", a.cnt.packets.Load(), a.cnt.requestsTotal(), drops, answered)
	}
}

// FuzzHandleV3 fuzzes what only an authenticated manager reaches: the
// scopedPDU's contents, sealed here with a user's real keys (encrypted
// for authPriv, then authenticated), so that decryption and decoding
// meet arbitrary octets. The sealing is this test's own BER and crypto,
// not the agent's nor gosnmp's.
// go test -run '^$' -fuzz FuzzHandleV3 ./snmp/
func FuzzHandleV3(f *testing.F) {
	a := newTestAgent(f, withV3Users)
	get := scopedContents(f, a, gosnmp.GetRequest, oidOf(f, a, "tandemNodeId", 0))
	bulk := scopedContents(f, a, gosnmp.GetBulkRequest, ".1.3")
	for _, user := range []string{"noc", "old", "big", "ro", "open"} {
		f.Add(user, get)
		f.Add(user, bulk)
	}
	f.Add("noc", []byte{0x04, 0x00, 0x04, 0x00, 0xa0, 0x00})
	f.Add("noc", []byte{})
	src, _, _ := testSources()
	f.Fuzz(func(t *testing.T, user string, contents []byte) {
		uu := a.usm.users[user]
		if uu == nil {
			return
		}
		a.cnt = newCounters()
		b := a
		resp := b.handle(src, loopback, sealV3(t, b, uu, contents))
		checkAnswer(t, b, resp)
		// Sealed right, it is never refused by the USM.
		for _, c := range []dropCause{dropUnknownEngineID, dropUnknownUser, dropUnsupportedLevel, dropWrongDigest, dropNotInTimeWindow} {
			if b.cnt.drops[c].Load() != 0 {
				t.Fatalf("a sealed message dropped as %s", dropNames[c])
			}
		}
	})
}

// scopedContents is the inside of a scopedPDU SEQUENCE for this engine:
// contextEngineID, contextName and a PDU of typ.
func scopedContents(t testing.TB, a *Agent, typ gosnmp.PDUType, oid string) []byte {
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "x", PDUType: typ, RequestID: 4242, MaxRepetitions: 5,
		Variables: []gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Null}}}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	// The v2c message is 30 L 02 01 01 04 01 'x' PDU: keep the PDU.
	r := berReader{b: b}
	msg, _ := r.seq(0x30)
	msg.integer()
	msg.octets()
	pdu := msg.b[msg.off:]
	return append(append(ber(0x04, a.usm.engineID), ber(0x04, nil)...), pdu...)
}

// sealV3 is an SNMPv3 message of user uu, at the user's level, from a
// manager with its keys, the scopedPDU SEQUENCE holding contents.
func sealV3(t testing.TB, a *Agent, uu *usmUser, contents []byte) []byte {
	u := a.usm
	boots, now := u.boots, u.engineTime(a.now())
	data := ber(0x30, contents)
	var privParams []byte
	if uu.level == gosnmp.AuthPriv {
		privParams = []byte{9, 8, 7, 6, 5, 4, 3, 2}
		iv := make([]byte, 16)
		binary.BigEndian.PutUint32(iv, boots)
		binary.BigEndian.PutUint32(iv[4:], now)
		copy(iv[8:], privParams)
		block, err := aes.NewCipher(uu.privKey)
		if err != nil {
			t.Fatal(err)
		}
		enc := make([]byte, len(data))
		//lint:ignore SA1019 RFC 3826 (SNMPv3's AES) is CFB-128: what a manager sends
		cipher.NewCFBEncrypter(block, iv).XORKeyStream(enc, data)
		data = ber(0x04, enc)
	}
	var mac []byte
	if uu.level&gosnmp.AuthNoPriv != 0 {
		mac = make([]byte, uu.macLen())
	}
	sp := ber(0x30, cat(ber(0x04, u.engineID), berInt(int64(boots)), berInt(int64(now)), ber(0x04, []byte(uu.name)),
		ber(0x04, mac), ber(0x04, privParams)))
	flags := byte(uu.level | gosnmp.Reportable)
	msg := ber(0x30, cat(berInt(3), ber(0x30, cat(berInt(77), berInt(65507), ber(0x04, []byte{flags}), berInt(3))),
		ber(0x04, sp), data))
	if mac != nil {
		m, ok := parseV3(msg)
		if !ok {
			t.Fatalf("sealed message does not parse: %x", msg)
		}
		h := hmac.New(uu.newHash(), uu.authKey)
		h.Write(msg)
		copy(msg[m.authOff:], h.Sum(nil)[:uu.macLen()])
	}
	return msg
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// ber is one TLV with a definite length.
func ber(tag byte, v []byte) []byte {
	var l []byte
	switch n := len(v); {
	case n < 0x80:
		l = []byte{byte(n)}
	case n < 0x100:
		l = []byte{0x81, byte(n)}
	default:
		l = []byte{0x82, byte(n >> 8), byte(n)}
	}
	return cat([]byte{tag}, l, v)
}

// berInt is a non-negative INTEGER, minimally encoded.
func berInt(n int64) []byte {
	var v []byte
	for {
		v = append([]byte{byte(n)}, v...)
		n >>= 8
		if n == 0 {
			break
		}
	}
	if v[0]&0x80 != 0 {
		v = append([]byte{0}, v...)
	}
	return ber(0x02, v)
}
