package snmp

import (
	"crypto/subtle"
	"math"
	"net/netip"

	"github.com/gosnmp/gosnmp"
)

// maxMessage is the largest response the agent sends: the size every
// SNMP entity should accept (RFC 3417, 3.2), which also fits an Ethernet
// frame unfragmented. A GETBULK answer is cut to fit; any other request
// whose answer would not fit is answered tooBig.
const maxMessage = 1472

// maxBulkVarbinds bounds the work of one GETBULK.
const maxBulkVarbinds = 1024

// The version field of SNMPv2c and SNMPv3 messages.
const (
	snmpV2c = 1
	snmpV3  = 3
)

// handle answers one datagram from a manager at from: the response to
// send (a Report for some SNMPv3 refusals), or nil to drop it. Every
// packet is either answered or counted as a drop, by cause.
func (a *Agent) handle(src Sources, from netip.Addr, pkt []byte) []byte {
	a.cnt.packets.Add(1)
	if !a.allowed(from) {
		a.cnt.drop(dropHost)
		return nil
	}
	ver, ok := peekVersion(pkt)
	if !ok {
		a.cnt.drop(dropMalformed)
		return nil
	}
	switch {
	case ver == snmpV2c:
		return a.handleV2c(src, pkt)
	case ver == snmpV3 && a.usm != nil:
		return a.handleV3(src, pkt)
	}
	a.cnt.drop(dropVersion)
	return nil
}

func (a *Agent) handleV2c(src Sources, pkt []byte) []byte {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	req, err := dec.SnmpDecodePacket(pkt)
	// gosnmp reads request-id as an int and keeps it as a uint32; a
	// negative one could not be echoed as sent.
	if err != nil || req.Version != gosnmp.Version2c || req.RequestID > math.MaxInt32 {
		a.cnt.drop(dropMalformed)
		return nil
	}
	if !a.communityOK(req.Community) {
		a.cnt.drop(dropCommunity)
		return nil
	}
	resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community,
		PDUType: gosnmp.GetResponse, RequestID: req.RequestID}
	return a.respond(src, req, resp, maxMessage)
}

// respond answers the request req in resp (a response with its version,
// security and request-id set) and encodes it within limit octets.
func (a *Agent) respond(src Sources, req, resp *gosnmp.SnmpPacket, limit int) []byte {
	var kind pduKind
	switch req.PDUType {
	case gosnmp.GetRequest:
		kind = pduGet
		if !a.get(src, req, resp) {
			return nil
		}
	case gosnmp.GetNextRequest:
		kind = pduGetNext
		if !a.getNext(src, req, resp) {
			return nil
		}
	case gosnmp.GetBulkRequest:
		kind = pduGetBulk
		if !a.getBulk(src, req, resp, a.bulkBudget(resp, limit)) {
			return nil
		}
	case gosnmp.SetRequest:
		kind = pduSet
		notWritable(req, resp)
	default:
		a.cnt.drop(dropPDU)
		return nil
	}
	out, ok := a.marshal(resp, kind == pduGetBulk, limit)
	if !ok {
		return nil
	}
	a.cnt.requests[kind].Add(1)
	return out
}

// allowed reports whether --snmp-allow contains the manager's address.
func (a *Agent) allowed(from netip.Addr) bool {
	from = from.Unmap()
	for _, p := range a.cfg.Allow {
		if p.Contains(from) {
			return true
		}
	}
	return false
}

// communityOK compares in constant time with every configured community.
func (a *Agent) communityOK(c string) bool {
	ok := 0
	for _, want := range a.cfg.Communities {
		ok |= subtle.ConstantTimeCompare([]byte(c), want)
	}
	return ok == 1
}

// requestOIDs parses the request's names; false drops a request whose
// names gosnmp decoded but that are not OIDs of at most 128
// sub-identifiers.
func (a *Agent) requestOIDs(req *gosnmp.SnmpPacket) ([]OID, bool) {
	out := make([]OID, len(req.Variables))
	for i, v := range req.Variables {
		o, err := ParseOID(v.Name)
		if err != nil {
			a.cnt.drop(dropMalformed)
			return nil, false
		}
		out[i] = o
	}
	return out, true
}

func (a *Agent) get(src Sources, req, resp *gosnmp.SnmpPacket) bool {
	oids, ok := a.requestOIDs(req)
	if !ok {
		return false
	}
	s := a.newSnapshot(src)
	for _, o := range oids {
		resp.Variables = append(resp.Variables, varbind{oid: o, val: a.tree.get(s, o)}.pdu())
	}
	return true
}

// nextOf is the varbind that answers a GETNEXT of o.
func (a *Agent) nextOf(s *snapshot, o OID) varbind {
	if vb, ok := a.tree.next(s, o); ok {
		return vb
	}
	return varbind{oid: o, val: endOfMibView}
}

func (a *Agent) getNext(src Sources, req, resp *gosnmp.SnmpPacket) bool {
	oids, ok := a.requestOIDs(req)
	if !ok {
		return false
	}
	s := a.newSnapshot(src)
	for _, o := range oids {
		resp.Variables = append(resp.Variables, a.nextOf(s, o).pdu())
	}
	return true
}

// bulkBudget is how many octets a GETBULK answer's varbinds may take
// within limit: the message without varbinds is encoded once to know
// the rest, with room for its lengths to grow.
func (a *Agent) bulkBudget(resp *gosnmp.SnmpPacket, limit int) int {
	empty, err := resp.MarshalMsg()
	if err != nil {
		return limit
	}
	return limit - len(empty) - 12
}

// getBulk follows RFC 3416, 4.2.3: the first non-repeaters names get one
// successor each, the others max-repetitions successors, interleaved.
// Repetitions stop early once every repeater is past the end of the MIB
// view, when maxBulkVarbinds is reached, and before the varbinds would
// exceed budget octets (marshal cuts the answer to the limit if they do
// all the same).
func (a *Agent) getBulk(src Sources, req, resp *gosnmp.SnmpPacket, budget int) bool {
	oids, ok := a.requestOIDs(req)
	if !ok {
		return false
	}
	s := a.newSnapshot(src)
	n := min(int(req.NonRepeaters), len(oids))
	size := 0
	for _, o := range oids[:n] {
		vb := a.nextOf(s, o)
		size += vb.maxEncodedLen()
		resp.Variables = append(resp.Variables, vb.pdu())
	}
	cur := oids[n:]
	if len(cur) == 0 {
		return true
	}
	reps := min(int(req.MaxRepetitions), (maxBulkVarbinds-n)/len(cur))
	for r := 0; r < reps; r++ {
		ended := 0
		for i, o := range cur {
			vb := a.nextOf(s, o)
			if size += vb.maxEncodedLen(); size > budget && len(resp.Variables) > 0 {
				return true
			}
			if vb.val.typ == gosnmp.EndOfMibView {
				ended++
			}
			cur[i] = vb.oid
			resp.Variables = append(resp.Variables, vb.pdu())
		}
		if ended == len(cur) {
			break
		}
	}
	return true
}

// notWritable answers a SET: nothing in this MIB is writable (error-index
// 1, the request's varbinds echoed).
func notWritable(req, resp *gosnmp.SnmpPacket) {
	resp.Variables = req.Variables
	if len(req.Variables) > 0 {
		resp.Error, resp.ErrorIndex = gosnmp.NotWritable, 1
	}
}

// marshal encodes the response within limit octets: a GETBULK answer
// loses its last varbinds until it fits, any other becomes tooBig with no
// varbinds. false drops it (counted).
func (a *Agent) marshal(resp *gosnmp.SnmpPacket, bulk bool, limit int) ([]byte, bool) {
	out, err := resp.MarshalMsg()
	if err != nil && resp.PDUType == gosnmp.GetResponse && resp.Error == gosnmp.NotWritable {
		// A SET's values may be of a type gosnmp decodes but cannot
		// encode: echo the names only.
		vars := make([]gosnmp.SnmpPDU, len(resp.Variables))
		for i, v := range resp.Variables {
			vars[i] = gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.Null}
		}
		resp.Variables = vars
		out, err = resp.MarshalMsg()
	}
	if err != nil {
		a.cnt.drop(dropMalformed)
		return nil, false
	}
	if len(out) <= limit {
		return out, true
	}
	if bulk {
		// The longest prefix of varbinds that fits.
		all := resp.Variables
		lo, hi := 0, len(all)-1 // all[:lo] fits, all[:hi+1] does not
		for lo < hi {
			mid := (lo + hi + 1) / 2
			resp.Variables = all[:mid]
			if b, err := resp.MarshalMsg(); err == nil && len(b) <= limit {
				lo, out = mid, b
			} else {
				hi = mid - 1
			}
		}
		resp.Variables = all[:lo]
		if out, err = resp.MarshalMsg(); err == nil && len(out) <= limit {
			return out, true
		}
	}
	resp.Variables, resp.Error, resp.ErrorIndex = nil, gosnmp.TooBig, 0
	if out, err = resp.MarshalMsg(); err != nil || len(out) > limit {
		a.cnt.drop(dropMalformed)
		return nil, false
	}
	return out, true
}

// peekVersion reads the version of an SNMP message, Message ::=
// SEQUENCE { version INTEGER, ... }, without decoding the rest: only
// SNMPv2c goes on to the decoder, SNMPv3 to the USM first.
func peekVersion(pkt []byte) (int, bool) {
	if len(pkt) < 2 || pkt[0] != 0x30 {
		return 0, false
	}
	i := 2
	if l := pkt[1]; l&0x80 != 0 {
		n := int(l & 0x7f)
		if n == 0 || n > 4 {
			return 0, false
		}
		i += n
	}
	if len(pkt) < i+3 || pkt[i] != 0x02 || pkt[i+1] != 1 {
		return 0, false
	}
	return int(pkt[i+2]), true
}
