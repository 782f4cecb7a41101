package snmp

import (
	"testing"

	"github.com/gosnmp/gosnmp"
)

// FuzzHandle: whatever arrives, handle neither panics nor answers
// anything but a well-formed SNMPv2c response within maxMessage, and
// every packet is either answered or counted as a drop. The seeds (below
// and in testdata/fuzz/FuzzHandle) run as a normal test; explore with
// go test -run '^$' -fuzz FuzzHandle ./snmp/
func FuzzHandle(f *testing.F) {
	a := newTestAgent(f)
	root := a.oids["tandemMIB"].String()
	for _, seed := range [][]byte{
		request(f, testCommunity, gosnmp.GetRequest, 0, 0, oidOf(f, a, "tandemNodeId", 0), ".1.3.6.1.2.1.1.1.0"),
		request(f, testCommunity, gosnmp.GetNextRequest, 0, 0, root),
		request(f, testCommunity, gosnmp.GetBulkRequest, 1, 20, root, oidOf(f, a, "tandemMemberTable")),
		request(f, testCommunity, gosnmp.GetBulkRequest, 0, 1000, ".1.3"),
		request(f, testCommunity, gosnmp.SetRequest, 0, 0, oidOf(f, a, "tandemNodeId", 0)),
		request(f, "wrong", gosnmp.GetRequest, 0, 0, root),
		{0x30, 0x03, 0x02, 0x01, 0x00},
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		a := newTestAgent(t)
		src, _, _ := testSources()
		resp := a.handle(src, loopback, pkt)
		answered := uint64(0)
		if resp != nil {
			answered = 1
			if len(resp) > maxMessage {
				t.Fatalf("response of %d octets", len(resp))
			}
			p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(resp)
			if err != nil {
				t.Fatalf("response does not decode: %v", err)
			}
			if p.Version != gosnmp.Version2c || p.PDUType != gosnmp.GetResponse || p.Community != testCommunity {
				t.Fatalf("response %v %v %q", p.Version, p.PDUType, p.Community)
			}
		}
		var drops uint64
		for c := range numDropCauses {
			drops += a.cnt.drops[c].Load()
		}
		if a.cnt.packets.Load() != 1 || a.cnt.requestsTotal() != answered || drops != 1-answered {
			t.Fatalf("packets %d, requests %d, drops %d, answered %d", a.cnt.packets.Load(), a.cnt.requestsTotal(), drops, answered)
		}
	})
}
