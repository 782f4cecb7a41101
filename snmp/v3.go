package snmp

import (
	"bytes"
	"math"
	"time"

	"github.com/gosnmp/gosnmp"
)

// maxReceive is the msgMaxSize this engine announces: the largest UDP
// payload it reads.
const maxReceive = 65507

// The usmStats objects (SNMP-USER-BASED-SM-MIB, RFC 3414 5) and
// snmpUnknownContexts (SNMP-TARGET-MIB, RFC 3413) a Report carries.
var reportOIDs = map[dropCause]string{
	dropUnsupportedLevel: ".1.3.6.1.6.3.15.1.1.1.0",
	dropNotInTimeWindow:  ".1.3.6.1.6.3.15.1.1.2.0",
	dropUnknownUser:      ".1.3.6.1.6.3.15.1.1.3.0",
	dropUnknownEngineID:  ".1.3.6.1.6.3.15.1.1.4.0",
	dropWrongDigest:      ".1.3.6.1.6.3.15.1.1.5.0",
	dropDecryption:       ".1.3.6.1.6.3.15.1.1.6.0",
	dropUnknownContext:   ".1.3.6.1.6.3.12.1.5.0",
}

// handleV3 is RFC 3414 3.2 (processing an incoming message) for this
// authoritative engine, then the request as in SNMPv2c. Nothing reaches
// gosnmp's decoder before the engine ID, the user, the security level,
// the MAC (verified here: gosnmp does not) and the time window are
// checked; each refusal is counted and answered by a Report when the
// message is reportable.
func (a *Agent) handleV3(src Sources, pkt []byte) []byte {
	m, ok := parseV3(pkt)
	if !ok || m.secModel != int64(gosnmp.UserSecurityModel) {
		a.cnt.drop(dropMalformed)
		return nil
	}
	u, now := a.usm, a.now()
	reqID := plainRequestID(m.scoped)
	// 3: unknown engine ID, and discovery (an empty one).
	if !bytes.Equal(m.engineID, u.engineID) {
		return a.report(&m, dropUnknownEngineID, nil, reqID, now)
	}
	// 4: unknown user.
	uu := u.users[string(m.user)]
	if uu == nil {
		return a.report(&m, dropUnknownUser, nil, reqID, now)
	}
	// 5: every user has one security level: noAuthNoPriv and authNoPriv
	// only for users configured so, authPriv users always encrypt.
	level := m.flags & gosnmp.AuthPriv
	if level != uu.level {
		return a.report(&m, dropUnsupportedLevel, nil, reqID, now)
	}
	if level&gosnmp.AuthNoPriv != 0 {
		// 6: the MAC, over the whole message with the MAC zeroed.
		zeroed := bytes.Clone(pkt)
		clear(zeroed[m.authOff : m.authOff+len(m.authParams)])
		if !uu.authentic(zeroed, m.authParams) {
			return a.report(&m, dropWrongDigest, nil, reqID, now)
		}
		// 7: the time window; the Report is authenticated, so the
		// manager may trust our boots and time and retry.
		if !u.inTimeWindow(&m, now) {
			return a.report(&m, dropNotInTimeWindow, uu, reqID, now)
		}
		pkt = zeroed // gosnmp zeroes the MAC itself, in place
	}
	// 8: decrypt and decode, with the user's localized keys.
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: m.flags,
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: uu.name, AuthoritativeEngineID: string(u.engineID),
			AuthenticationProtocol: uu.auth, PrivacyProtocol: uu.priv, SecretKey: uu.authKey, PrivacyKey: uu.privKey}}
	req, err := dec.SnmpDecodePacket(pkt)
	if err != nil {
		if level == gosnmp.AuthPriv {
			// With AES-CFB a wrong privacy key decrypts to octets that
			// are no scopedPDU.
			return a.report(&m, dropDecryption, nil, 0, now)
		}
		a.cnt.drop(dropMalformed)
		return nil
	}
	// The decoder read what the USM checked, or the message is refused.
	sp, _ := req.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if req.Version != gosnmp.Version3 || req.MsgID != uint32(m.msgID) || req.MsgFlags != m.flags || sp == nil ||
		sp.UserName != uu.name || sp.AuthoritativeEngineID != string(u.engineID) || req.RequestID > math.MaxInt32 {
		a.cnt.drop(dropMalformed)
		return nil
	}
	// The agent has one context: the default one of its own engine.
	if req.ContextName != "" || (req.ContextEngineID != "" && req.ContextEngineID != string(u.engineID)) {
		return a.report(&m, dropUnknownContext, nil, req.RequestID, now)
	}
	resp := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: level, SecurityModel: gosnmp.UserSecurityModel,
		MsgID: req.MsgID, MsgMaxSize: maxReceive, SecurityParameters: u.securityParameters(uu, uu.name, now, level),
		ContextEngineID: string(u.engineID), PDUType: gosnmp.GetResponse, RequestID: req.RequestID}
	return a.respond(src, req, resp, min(maxMessage, int(m.maxSize)))
}

// report counts a refused SNMPv3 message and, when it asks for one,
// answers it with a Report carrying the counter (RFC 3412 7.1 3,
// RFC 3414 3.2): unauthenticated, except for the time window, whose
// Report uu authenticates so that the manager may resynchronize.
func (a *Agent) report(m *v3Message, why dropCause, uu *usmUser, reqID uint32, now time.Time) []byte {
	a.cnt.drop(why)
	if m.flags&gosnmp.Reportable == 0 {
		return nil
	}
	flags := gosnmp.NoAuthNoPriv
	if uu != nil {
		flags = gosnmp.AuthNoPriv
	}
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: flags, SecurityModel: gosnmp.UserSecurityModel,
		MsgID: uint32(m.msgID), MsgMaxSize: maxReceive,
		SecurityParameters: a.usm.securityParameters(uu, string(m.user), now, flags),
		ContextEngineID:    string(a.usm.engineID), PDUType: gosnmp.Report, RequestID: reqID,
		Variables: []gosnmp.SnmpPDU{{Name: reportOIDs[why], Type: gosnmp.Counter32, Value: uint32(a.cnt.drops[why].Load())}}}
	out, err := p.MarshalMsg()
	if err != nil || len(out) > int(m.maxSize) {
		return nil
	}
	a.cnt.reports.Add(1)
	return out
}
