package snmp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

// The User-based Security Model of SNMPv3 (RFC 3414, RFC 7860 for
// HMAC-SHA-2, RFC 3826 for AES), agent side: this node is the
// authoritative engine of every request it answers and of every
// notification it sends.

// timeWindow is how far a message's engine time may be from ours
// (RFC 3414, 2.2.3).
const timeWindow = 150

// usm is the agent's engine and its users. It is fixed at start: the
// keys are localized once to this engine's ID.
type usm struct {
	engineID []byte
	boots    uint32
	start    time.Time // engine time 0 of this boot
	users    map[string]*usmUser
	salt     atomic.Uint64 // AES salts of the messages this engine encrypts
}

// usmUser is one user with its localized keys (the passphrases are not
// kept).
type usmUser struct {
	name    string
	level   gosnmp.SnmpV3MsgFlags
	auth    gosnmp.SnmpV3AuthProtocol
	priv    gosnmp.SnmpV3PrivProtocol
	authKey []byte
	privKey []byte
}

func newUSM(users []userConfig, eng engineState, start time.Time) (*usm, error) {
	u := &usm{engineID: eng.id, boots: eng.boots, start: start, users: map[string]*usmUser{}}
	var seed [8]byte
	rand.Read(seed[:])
	u.salt.Store(binary.BigEndian.Uint64(seed[:]))
	for _, c := range users {
		uu := &usmUser{name: c.name, level: c.level, auth: c.auth, priv: c.priv}
		if c.level&gosnmp.AuthNoPriv != 0 {
			// gosnmp localizes keys as RFC 3414 A.2 (and RFC 7860 for
			// SHA-2; AES keys per RFC 3826 and, for AES-256, the
			// Blumenthal extension draft, as net-snmp's AES256):
			// TestKeyLocalization checks it against RFC 3414's vector.
			sp := &gosnmp.UsmSecurityParameters{AuthoritativeEngineID: string(eng.id), UserName: c.name,
				AuthenticationProtocol: c.auth, PrivacyProtocol: c.priv,
				AuthenticationPassphrase: c.authPass, PrivacyPassphrase: c.privPass}
			if err := sp.InitSecurityKeys(); err != nil {
				return nil, fmt.Errorf("--snmp-v3-user: user %q: localizing its keys: %w", c.name, err)
			}
			uu.authKey, uu.privKey = sp.SecretKey, sp.PrivacyKey
			if len(uu.authKey) == 0 || (c.level == gosnmp.AuthPriv && len(uu.privKey) == 0) {
				return nil, fmt.Errorf("--snmp-v3-user: user %q: no key could be localized", c.name)
			}
		}
		u.users[c.name] = uu
	}
	return u, nil
}

// engineTime is snmpEngineTime: seconds since this boot began.
func (u *usm) engineTime(now time.Time) uint32 {
	s := int64(now.Sub(u.start) / time.Second)
	return uint32(max(0, min(s, math.MaxInt32)))
}

// inTimeWindow is RFC 3414 3.2 step 7a for an authoritative engine.
func (u *usm) inTimeWindow(m *v3Message, now time.Time) bool {
	if u.boots >= maxBoots || m.boots != int64(u.boots) {
		return false
	}
	d := m.time - int64(u.engineTime(now))
	return d >= -timeWindow && d <= timeWindow
}

// nextSalt is the salt of one encrypted message: a counter started at a
// random value, never repeated within a boot (RFC 3826, 3.1.2.1).
func (u *usm) nextSalt() []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, u.salt.Add(1))
	return b
}

// macLen is the length of the user's message authentication code:
// HMAC-SHA-96 (RFC 3414) or usmHMAC192SHA256AuthProtocol (RFC 7860).
func (uu *usmUser) macLen() int {
	if uu.auth == gosnmp.SHA256 {
		return 24
	}
	return 12
}

func (uu *usmUser) newHash() func() hash.Hash {
	if uu.auth == gosnmp.SHA256 {
		return sha256.New
	}
	return sha1.New
}

// authentic verifies a whole message's MAC: the HMAC of the message with
// its msgAuthenticationParameters zeroed, compared in constant time
// (RFC 3414 6.3.2, RFC 7860 4.2.2). gosnmp's decoder does not verify it.
// zeroed is the message with those octets zeroed.
func (uu *usmUser) authentic(zeroed []byte, mac []byte) bool {
	if len(mac) != uu.macLen() {
		return false
	}
	h := hmac.New(uu.newHash(), uu.authKey)
	h.Write(zeroed)
	return subtle.ConstantTimeCompare(h.Sum(nil)[:uu.macLen()], mac) == 1
}

// securityParameters are gosnmp's USM parameters of a message this
// engine sends as user uu (nil: noAuthNoPriv with user name name).
func (u *usm) securityParameters(uu *usmUser, name string, now time.Time, flags gosnmp.SnmpV3MsgFlags) *gosnmp.UsmSecurityParameters {
	sp := &gosnmp.UsmSecurityParameters{AuthoritativeEngineID: string(u.engineID), AuthoritativeEngineBoots: u.boots,
		AuthoritativeEngineTime: u.engineTime(now), UserName: name,
		AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	if uu != nil && flags&gosnmp.AuthNoPriv != 0 {
		sp.AuthenticationProtocol, sp.SecretKey = uu.auth, uu.authKey
	}
	if uu != nil && flags&gosnmp.AuthPriv == gosnmp.AuthPriv {
		sp.PrivacyProtocol, sp.PrivacyKey, sp.PrivacyParameters = uu.priv, uu.privKey, u.nextSalt()
	}
	return sp
}

// v3Message is what the USM checks of an SNMPv3 message before anything
// is decrypted or handed to the decoder (RFC 3412 6, RFC 3414 2.4), read
// by this package's own strict BER reader.
type v3Message struct {
	msgID, maxSize int64
	flags          gosnmp.SnmpV3MsgFlags
	secModel       int64
	engineID, user []byte
	boots, time    int64
	authParams     []byte
	authOff        int // offset of authParams' value in the message
	privParams     []byte
	scoped         []byte // msgData: a plaintext scopedPDU's TLV, or nil
}

// Limits of RFC 3412 (msgMaxSize at least 484) and 3411 (engine IDs of 5
// to 32 octets; the empty one of discovery).
const (
	minMsgSize  = 484
	maxEngineID = 32
)

// parseV3 reads an SNMPv3 message, strictly: definite lengths, the
// message exactly the datagram, every field of its type and range.
func parseV3(pkt []byte) (v3Message, bool) {
	var m v3Message
	r := berReader{b: pkt}
	msg, ok := r.seq(0x30)
	if !ok || !r.done() {
		return m, false
	}
	if v, ok := msg.integer(); !ok || v != 3 {
		return m, false
	}
	g, ok := msg.seq(0x30)
	if !ok {
		return m, false
	}
	var flags []byte
	if m.msgID, ok = g.integer(); !ok || m.msgID > math.MaxInt32 {
		return m, false
	}
	if m.maxSize, ok = g.integer(); !ok || m.maxSize < minMsgSize || m.maxSize > math.MaxInt32 {
		return m, false
	}
	if flags, ok = g.octets(); !ok || len(flags) != 1 {
		return m, false
	}
	m.flags = gosnmp.SnmpV3MsgFlags(flags[0])
	if m.secModel, ok = g.integer(); !ok || m.secModel > math.MaxInt32 || !g.done() {
		return m, false
	}
	// Privacy without authentication is not a security level.
	if m.flags&gosnmp.AuthPriv == 0x2 {
		return m, false
	}
	spOctets, ok := msg.seq(0x04)
	if !ok {
		return m, false
	}
	sp, ok := spOctets.seq(0x30)
	if !ok || !spOctets.done() {
		return m, false
	}
	if m.engineID, ok = sp.octets(); !ok || len(m.engineID) > maxEngineID {
		return m, false
	}
	if m.boots, ok = sp.integer(); !ok || m.boots > math.MaxInt32 {
		return m, false
	}
	if m.time, ok = sp.integer(); !ok || m.time > math.MaxInt32 {
		return m, false
	}
	if m.user, ok = sp.octets(); !ok || len(m.user) > maxUserName {
		return m, false
	}
	if m.authParams, ok = sp.octets(); !ok {
		return m, false
	}
	m.authOff = sp.base + sp.last
	if m.privParams, ok = sp.octets(); !ok || !sp.done() {
		return m, false
	}
	// msgData: a scopedPDU (SEQUENCE) or an encryptedPDU (OCTET STRING),
	// and nothing after it.
	if msg.off >= len(msg.b) {
		return m, false
	}
	tag := msg.b[msg.off]
	start := msg.off
	if _, ok := msg.next(tag); !ok || !msg.done() || (tag != 0x30 && tag != 0x04) {
		return m, false
	}
	if (tag == 0x04) != (m.flags&gosnmp.AuthPriv == gosnmp.AuthPriv) {
		return m, false
	}
	if tag == 0x30 {
		m.scoped = msg.b[start:msg.off]
	}
	return m, true
}

// plainRequestID is the request-id of a plaintext scopedPDU, for a
// Report answering it (0 when it cannot be read: RFC 3412 7.1 3c).
func plainRequestID(scoped []byte) uint32 {
	r := berReader{b: scoped}
	s, ok := r.seq(0x30)
	if !ok {
		return 0
	}
	if _, ok := s.octets(); !ok {
		return 0
	}
	if _, ok := s.octets(); !ok {
		return 0
	}
	if s.off >= len(s.b) || s.b[s.off] < 0xa0 || s.b[s.off] > 0xa8 {
		return 0
	}
	pdu, ok := s.seq(s.b[s.off])
	if !ok {
		return 0
	}
	id, ok := pdu.integer()
	if !ok || id > math.MaxInt32 {
		return 0
	}
	return uint32(id)
}

// berReader reads BER TLVs from b[off:]: definite lengths of at most four
// octets, nothing reaching past b.
type berReader struct {
	b    []byte
	base int // offset of b in the message
	off  int
	last int // offset in b of the value of the last TLV read
}

func (r *berReader) done() bool { return r.off == len(r.b) }

// next reads one TLV of tag: its value.
func (r *berReader) next(tag byte) ([]byte, bool) {
	b := r.b[r.off:]
	if len(b) < 2 || b[0] != tag {
		return nil, false
	}
	n, i := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return nil, false
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		i += k
	}
	if n < 0 || n > len(b)-i {
		return nil, false
	}
	r.last = r.off + i
	r.off += i + n
	return b[i : i+n], true
}

// seq reads a constructed (or any) TLV of tag and returns a reader of its
// contents.
func (r *berReader) seq(tag byte) (berReader, bool) {
	v, ok := r.next(tag)
	return berReader{b: v, base: r.base + r.last}, ok
}

func (r *berReader) octets() ([]byte, bool) { return r.next(0x04) }

// integer reads a non-negative INTEGER of at most five octets (an
// unsigned 32-bit value with its leading zero).
func (r *berReader) integer() (int64, bool) {
	v, ok := r.next(0x02)
	if !ok || len(v) == 0 || len(v) > 5 || v[0]&0x80 != 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		n = n<<8 | int64(c)
	}
	return n, true
}
