package snmp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/contactcenter"
)

func TestGet(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	member := func(col uint32, id string) string {
		return oidOf(t, a, "tandemMemberEntry", append([]uint32{col}, stringIndex(id)...)...)
	}
	queue := func(col uint32, id string) string {
		return oidOf(t, a, "tandemQueueEntry", append([]uint32{col}, stringIndex(id)...)...)
	}
	for _, tc := range []struct {
		name string
		oid  string
		typ  gosnmp.Asn1BER
		want any
	}{
		{"node id", oidOf(t, a, "tandemNodeId", 0), gosnmp.OctetString, "n1"},
		{"role leader", oidOf(t, a, "tandemNodeRole", 0), gosnmp.Integer, 1},
		{"leader", oidOf(t, a, "tandemLeaderId", 0), gosnmp.OctetString, "n1"},
		{"term", oidOf(t, a, "tandemTerm", 0), gosnmp.Gauge32, uint(7)},
		{"members", oidOf(t, a, "tandemMemberCount", 0), gosnmp.Gauge32, uint(3)},
		{"members up", oidOf(t, a, "tandemMembersUp", 0), gosnmp.Gauge32, uint(2)},
		{"member address", member(2, "n2"), gosnmp.OctetString, "127.0.0.1:7002"},
		{"member suffrage", member(3, "n3"), gosnmp.Integer, 2},
		{"member down", member(4, "n3"), gosnmp.Integer, 2},
		{"member is leader", member(6, "n1"), gosnmp.Integer, 1},
		{"member not leader", member(6, "n2"), gosnmp.Integer, 2},
		{"ready", oidOf(t, a, "tandemReady", 0), gosnmp.Integer, 1},
		{"extensions", oidOf(t, a, "tandemExtensionsConfigured", 0), gosnmp.Gauge32, uint(3)},
		{"agents", oidOf(t, a, "tandemAgentsConfigured", 0), gosnmp.Gauge32, uint(4)},
		{"logged in", oidOf(t, a, "tandemAgentsLoggedIn", 0), gosnmp.Gauge32, uint(3)},
		{"connected", oidOf(t, a, "tandemAgentsConnected", 0), gosnmp.Gauge32, uint(2)},
		{"paused", oidOf(t, a, "tandemAgentsPaused", 0), gosnmp.Gauge32, uint(1)},
		{"busy", oidOf(t, a, "tandemAgentsBusy", 0), gosnmp.Gauge32, uint(1)},
		{"wrap-up", oidOf(t, a, "tandemAgentsWrapUp", 0), gosnmp.Gauge32, uint(1)},
		{"queues", oidOf(t, a, "tandemQueueCount", 0), gosnmp.Gauge32, uint(2)},
		{"queue name utf-8", queue(2, "support"), gosnmp.OctetString, "Support ✓"},
		{"queue waiting", queue(3, "support"), gosnmp.Gauge32, uint(3)},
		// 20 s at the engine's clock, 10 s before now.
		{"queue longest wait, live", queue(4, "support"), gosnmp.Gauge32, uint(30)},
		{"queue longest wait, none waiting", queue(4, "sales"), gosnmp.Gauge32, uint(0)},
		{"queue serving", queue(5, "support"), gosnmp.Gauge32, uint(2)},
		{"buffer percent in tenths", oidOf(t, a, "tandemReplBufferPercent", 0), gosnmp.Gauge32, uint(425)},
		{"alarm level", oidOf(t, a, "tandemReplAlarmLevel", 0), gosnmp.Integer, 1},
		{"target state", oidOf(t, a, "tandemReplTargetEntry", 2, 1), gosnmp.Integer, 1},
		{"target backlog", oidOf(t, a, "tandemReplTargetEntry", 4, 1), gosnmp.Gauge32, uint(1234)},
		{"target last error", oidOf(t, a, "tandemReplTargetEntry", 5, 1), gosnmp.OctetString, "connection refused"},
		{"trap profile", oidOf(t, a, "tandemSnmpTrapProfile", 0), gosnmp.Integer, 1},
		{"member clock skew", member(7, "n2"), gosnmp.Integer, -250},
		{"own clock skew", member(7, "n1"), gosnmp.Integer, 0},
		{"extensions registered", oidOf(t, a, "tandemExtensionsRegistered", 0), gosnmp.Gauge32, uint(3)},
		{"extensions in use", oidOf(t, a, "tandemExtensionsInUse", 0), gosnmp.Gauge32, uint(1)},
		{"operational percent", oidOf(t, a, "tandemExtensionsOperationalPct", 0), gosnmp.Gauge32, uint(1000)},
		{"threshold", oidOf(t, a, "tandemExtensionThreshold", 0), gosnmp.Gauge32, uint(90)},
		{"voice counted", oidOf(t, a, "tandemContactEntry", 2, MediumVoice), gosnmp.Integer, 1},
		{"voice current", oidOf(t, a, "tandemContactEntry", 3, MediumVoice), gosnmp.Gauge32, uint(2)},
		{"chat not counted", oidOf(t, a, "tandemContactEntry", 2, MediumChat), gosnmp.Integer, 2},
		{"chat current", oidOf(t, a, "tandemContactEntry", 3, MediumChat), gosnmp.Gauge32, uint(0)},
		{"full backup never", oidOf(t, a, "tandemBackupEntry", 3, 1), gosnmp.Integer, 1},
		{"full backup time never", oidOf(t, a, "tandemBackupEntry", 2, 1), gosnmp.OctetString, string(make([]byte, 8))},
		{"no third backup level", oidOf(t, a, "tandemBackupEntry", 3, 3), gosnmp.NoSuchInstance, nil},
		{"scalar without .0", oidOf(t, a, "tandemNodeId"), gosnmp.NoSuchInstance, nil},
		{"scalar.1", oidOf(t, a, "tandemNodeId", 1), gosnmp.NoSuchInstance, nil},
		{"no such row", member(2, "n9"), gosnmp.NoSuchInstance, nil},
		{"no standby row", oidOf(t, a, "tandemReplTargetEntry", 2, 2), gosnmp.NoSuchInstance, nil},
		{"index column is not readable", member(1, "n1"), gosnmp.NoSuchObject, nil},
		{"notify-only object", oidOf(t, a, "tandemNotifyMessage", 0), gosnmp.NoSuchObject, nil},
		{"outside the MIB", ".1.3.6.1.2.1.1.1.0", gosnmp.NoSuchObject, nil},
		{"a group", oidOf(t, a, "tandemCluster"), gosnmp.NoSuchObject, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ask(t, a, src, gosnmp.GetRequest, 0, 0, tc.oid)
			if p.Error != gosnmp.NoError || len(p.Variables) != 1 {
				t.Fatalf("error %v, %d varbinds", p.Error, len(p.Variables))
			}
			v := p.Variables[0]
			if v.Name != tc.oid || v.Type != tc.typ {
				t.Fatalf("got %s %v, want %s %v", v.Name, v.Type, tc.oid, tc.typ)
			}
			got := v.Value
			if b, ok := got.([]byte); ok {
				got = string(b)
			}
			if tc.want != nil && got != tc.want {
				t.Fatalf("value %#v, want %#v", got, tc.want)
			}
		})
	}
}

// walk follows GETNEXT from oid to the end of the MIB view.
func walk(t *testing.T, a *Agent, src Sources, from string) []gosnmp.SnmpPDU {
	t.Helper()
	var out []gosnmp.SnmpPDU
	for cur := from; len(out) < 10000; {
		p := ask(t, a, src, gosnmp.GetNextRequest, 0, 0, cur)
		v := p.Variables[0]
		if v.Type == gosnmp.EndOfMibView {
			if v.Name != cur {
				t.Fatalf("endOfMibView names %s, want the request's %s", v.Name, cur)
			}
			return out
		}
		out = append(out, v)
		cur = v.Name
	}
	t.Fatal("walk does not end")
	return nil
}

func TestGetNextOrder(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	all := walk(t, a, src, ".1.3")
	// Strictly increasing, all under the module, none unreadable.
	root := a.oids["tandemMIB"]
	var prev OID
	for _, v := range all {
		o := mustOID(v.Name)
		if prev != nil && o.Compare(prev) <= 0 {
			t.Fatalf("%s after %s: not increasing", o, prev)
		}
		if !o.HasPrefix(root) {
			t.Fatalf("%s is outside TANDEM-MIB", o)
		}
		if v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance {
			t.Fatalf("%s: %v in a walk", o, v.Type)
		}
		prev = o
	}
	// 9 cluster scalars + 3 members × 7 columns, 12 contact-center
	// scalars + 2 queues × 4 + 4 media × 6, 2 + 1 target × 6, 2 backup
	// levels × 3, 21 agent scalars.
	if want := 9 + 21 + 12 + 8 + 24 + 2 + 6 + 6 + 21; len(all) != want {
		t.Fatalf("walk has %d varbinds, want %d", len(all), want)
	}
	member := func(col uint32, id string) string {
		return oidOf(t, a, "tandemMemberEntry", append([]uint32{col}, stringIndex(id)...)...)
	}
	for _, tc := range []struct {
		name, from, want string
	}{
		{"before the MIB", ".1.3.6.1.2", oidOf(t, a, "tandemNodeId", 0)},
		{"the module", oidOf(t, a, "tandemMIB"), oidOf(t, a, "tandemNodeId", 0)},
		{"a scalar's object", oidOf(t, a, "tandemNodeRole"), oidOf(t, a, "tandemNodeRole", 0)},
		{"a scalar's instance", oidOf(t, a, "tandemNodeRole", 0), oidOf(t, a, "tandemLeaderId", 0)},
		{"past a scalar's instance", oidOf(t, a, "tandemNodeRole", 0, 5), oidOf(t, a, "tandemLeaderId", 0)},
		{"a table", oidOf(t, a, "tandemMemberTable"), member(2, "n1")},
		{"the index column", oidOf(t, a, "tandemMemberEntry", 1), member(2, "n1")},
		{"column-major: first row", member(2, "n1"), member(2, "n2")},
		{"column-major: last row, next column", member(2, "n3"), member(3, "n1")},
		{"a missing row", member(2, "n0"), member(2, "n1")},
		{"a longer index sorts after every shorter one", member(2, "n15"), member(3, "n1")},
		{"after the table", member(8, "n3"), oidOf(t, a, "tandemClockSkew", 0)},
		{"shorter index sorts first", oidOf(t, a, "tandemQueueEntry", 2), oidOf(t, a, "tandemQueueEntry", append([]uint32{2}, stringIndex("sales")...)...)},
		{"an empty column range", oidOf(t, a, "tandemReplTargetEntry", 2, 2), oidOf(t, a, "tandemReplTargetEntry", 3, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ask(t, a, src, gosnmp.GetNextRequest, 0, 0, tc.from)
			if got := p.Variables[0].Name; got != tc.want {
				t.Fatalf("next of %s is %s, want %s", tc.from, got, tc.want)
			}
		})
	}
	last := all[len(all)-1].Name
	if p := ask(t, a, src, gosnmp.GetNextRequest, 0, 0, last, ".2.1"); p.Variables[0].Type != gosnmp.EndOfMibView || p.Variables[1].Type != gosnmp.EndOfMibView {
		t.Fatalf("after the last object: %v", p.Variables)
	}
}

func TestGetBulk(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	all := walk(t, a, src, ".1.3")
	names := func(vs []gosnmp.SnmpPDU) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = v.Name
		}
		return out
	}
	walked := names(all)
	last := walked[len(walked)-1]
	nodeID, role := oidOf(t, a, "tandemNodeId", 0), oidOf(t, a, "tandemNodeRole", 0)
	for _, tc := range []struct {
		name   string
		nonRep uint8
		maxRep uint32
		oids   []string
		want   []string // names; "" = endOfMibView (with the name checked separately)
	}{
		{"repetitions follow the walk", 0, 5, []string{".1.3"}, walked[:5]},
		{"zero repetitions", 0, 0, []string{".1.3"}, nil},
		{"non-repeaters only", 2, 10, []string{".1.3", nodeID}, []string{walked[0], role}},
		{"non-repeater then repeater", 1, 3, []string{".1.3", nodeID}, []string{walked[0], walked[1], walked[2], walked[3]}},
		{"non-repeaters above the count", 9, 3, []string{".1.3"}, []string{walked[0]}},
		{"two repeaters interleave", 0, 2, []string{".1.3", nodeID},
			[]string{walked[0], walked[1], walked[1], walked[2]}},
		{"stops once all repeaters ended", 0, 50, []string{walked[len(walked)-3]}, append(slices.Clone(walked[len(walked)-2:]), "")},
		{"an ended repeater keeps reporting the end", 0, 3, []string{last, walked[len(walked)-3]},
			[]string{"", walked[len(walked)-2], "", last, "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ask(t, a, src, gosnmp.GetBulkRequest, tc.nonRep, tc.maxRep, tc.oids...)
			got := make([]string, len(p.Variables))
			for i, v := range p.Variables {
				got[i] = v.Name
				if v.Type == gosnmp.EndOfMibView {
					got[i] = ""
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestGetBulkWholeMIB: GETBULKs of many repetitions, each from the last
// name of the one before, return the walk (each answer cut to fit in a
// message), then the end of the MIB view.
func TestGetBulkWholeMIB(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	var walked []string
	for _, v := range walk(t, a, src, ".1.3") {
		walked = append(walked, v.Name)
	}
	var got []string
	for cur := ".1.3"; len(got) < 1000; {
		p := ask(t, a, src, gosnmp.GetBulkRequest, 0, 1000, cur)
		end := false
		for _, v := range p.Variables {
			if v.Type == gosnmp.EndOfMibView {
				end = true
				break
			}
			got = append(got, v.Name)
			cur = v.Name
		}
		if end {
			break
		}
	}
	if !slices.Equal(got, walked) {
		t.Fatalf("bulk %q\nwalk %q", got, walked)
	}
}

// TestGetBulkFitsMessage: a large table's GETBULK is cut to maxMessage,
// keeping the varbinds in order.
func TestGetBulkFitsMessage(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	eng := src.Engine.(*fakeEngine)
	for i := range 300 {
		eng.queues = append(eng.queues, testQueue(i))
	}
	b := a.handle(src, loopback, request(t, testCommunity, gosnmp.GetBulkRequest, 0, 500, oidOf(t, a, "tandemQueueTable")))
	if len(b) > maxMessage {
		t.Fatalf("response of %d octets, max %d", len(b), maxMessage)
	}
	p := decode(t, b)
	if p.Error != gosnmp.NoError || len(p.Variables) < 20 || len(p.Variables) >= 500 {
		t.Fatalf("error %v, %d varbinds", p.Error, len(p.Variables))
	}
	// The same as the first repetitions of a walk.
	cur := oidOf(t, a, "tandemQueueTable")
	for i, v := range p.Variables {
		n := ask(t, a, src, gosnmp.GetNextRequest, 0, 0, cur).Variables[0]
		if n.Name != v.Name {
			t.Fatalf("varbind %d is %s, the walk has %s", i, v.Name, n.Name)
		}
		cur = n.Name
	}
	// A GET whose answer cannot fit is tooBig with no varbinds.
	var oids []string
	for range 60 {
		oids = append(oids, oidOf(t, a, "tandemQueueEntry", append([]uint32{2}, stringIndex("support")...)...))
	}
	p = ask(t, a, src, gosnmp.GetRequest, 0, 0, oids...)
	if p.Error != gosnmp.TooBig || len(p.Variables) != 0 {
		t.Fatalf("a GET too big for one message: error %v, %d varbinds", p.Error, len(p.Variables))
	}
}

func TestSetNotWritable(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: testCommunity, PDUType: gosnmp.SetRequest, RequestID: 4242,
		Variables: []gosnmp.SnmpPDU{{Name: oidOf(t, a, "tandemNodeId", 0), Type: gosnmp.OctetString, Value: "evil"},
			{Name: oidOf(t, a, "tandemTerm", 0), Type: gosnmp.Gauge32, Value: uint32(1)}}}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, a.handle(src, loopback, b))
	if r.Error != gosnmp.NotWritable || r.ErrorIndex != 1 || len(r.Variables) != 2 || r.Variables[0].Name != oidOf(t, a, "tandemNodeId", 0) {
		t.Fatalf("SET answered %v index %d %v", r.Error, r.ErrorIndex, r.Variables)
	}
	if got := ask(t, a, src, gosnmp.GetRequest, 0, 0, oidOf(t, a, "tandemNodeId", 0)).Variables[0].Value; string(got.([]byte)) != "n1" {
		t.Fatalf("SET changed the value: %q", got)
	}
	if n := a.cnt.requests[pduSet].Load(); n != 1 {
		t.Fatalf("set requests counted %d", n)
	}
}

// TestRefusals: a wrong community or host, another version or a PDU that
// is not a request get no answer, each counted by cause.
func TestRefusals(t *testing.T) {
	src, _, _ := testSources()
	get := func(t *testing.T, community string) []byte {
		return request(t, community, gosnmp.GetRequest, 0, 0, ".1.3.6.1.4.1.32473.1.1.1.1.0")
	}
	v1 := func(t *testing.T) []byte {
		p := &gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: testCommunity, PDUType: gosnmp.GetRequest, RequestID: 1,
			Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1", Type: gosnmp.Null}}}
		b, _ := p.MarshalMsg()
		return b
	}
	trap := func(t *testing.T) []byte {
		p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: testCommunity, PDUType: gosnmp.SNMPv2Trap, RequestID: 1,
			Variables: []gosnmp.SnmpPDU{{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)}}}
		b, _ := p.MarshalMsg()
		return b
	}
	// An SNMPv3 discovery probe as snmpget -v3 sends it.
	v3 := []byte{0x30, 0x3a, 0x02, 0x01, 0x03, 0x30, 0x0f, 0x02, 0x03, 0x01, 0x02, 0x03, 0x02, 0x02, 0x05, 0xdc, 0x04, 0x01, 0x04, 0x02,
		0x01, 0x03, 0x04, 0x10, 0x30, 0x0e, 0x04, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0x04, 0x00,
		0x30, 0x12, 0x04, 0x00, 0x04, 0x00, 0xa0, 0x0c, 0x02, 0x02, 0x12, 0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00}
	for _, tc := range []struct {
		name  string
		edit  func(*Flags)
		from  string
		pkt   func(*testing.T) []byte
		cause dropCause
	}{
		{"wrong community", nil, "127.0.0.1", func(t *testing.T) []byte { return get(t, "guess") }, dropCommunity},
		{"community prefix", nil, "127.0.0.1", func(t *testing.T) []byte { return get(t, testCommunity[:4]) }, dropCommunity},
		{"empty community", nil, "127.0.0.1", func(t *testing.T) []byte { return get(t, "") }, dropCommunity},
		{"no community configured", func(f *Flags) { f.Communities = List{} }, "127.0.0.1",
			func(t *testing.T) []byte { return get(t, testCommunity) }, dropCommunity},
		{"host not allowed", nil, "192.0.2.7", func(t *testing.T) []byte { return get(t, testCommunity) }, dropHost},
		{"ipv6 host not allowed", nil, "2001:db8::1", func(t *testing.T) []byte { return get(t, testCommunity) }, dropHost},
		{"allowed host, other net", func(f *Flags) { f.Allow = Allow{}; f.Allow.Set("10.0.0.0/8") }, "127.0.0.1",
			func(t *testing.T) []byte { return get(t, testCommunity) }, dropHost},
		{"SNMPv1", nil, "127.0.0.1", v1, dropVersion},
		{"SNMPv3", nil, "127.0.0.1", func(*testing.T) []byte { return v3 }, dropVersion},
		{"a trap sent to the agent", nil, "127.0.0.1", trap, dropPDU},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*Flags)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			a := newTestAgent(t, edits...)
			if r := a.handle(src, netip.MustParseAddr(tc.from), tc.pkt(t)); r != nil {
				t.Fatalf("answered: % x", r)
			}
			for c := range numDropCauses {
				want := uint64(0)
				if c == tc.cause {
					want = 1
				}
				if got := a.cnt.drops[c].Load(); got != want {
					t.Fatalf("drops[%s] = %d, want %d", dropNames[c], got, want)
				}
			}
			if a.cnt.packets.Load() != 1 || a.cnt.requestsTotal() != 0 {
				t.Fatalf("packets %d, requests %d", a.cnt.packets.Load(), a.cnt.requestsTotal())
			}
		})
	}
	// The right community from an allowed IPv4-mapped address is answered.
	a := newTestAgent(t)
	decode(t, a.handle(src, netip.MustParseAddr("::ffff:127.0.0.1"), get(t, testCommunity)))
}

func TestMalformed(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	good := request(t, testCommunity, gosnmp.GetRequest, 0, 0, ".1.3.6.1.4.1.32473.1.1.1.1.0")
	inputs := map[string][]byte{
		"empty":             {},
		"one byte":          {0x30},
		"not a sequence":    {0x04, 0x02, 'h', 'i'},
		"long length":       {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01},
		"truncated":         good[:len(good)-3],
		"extra byte":        append(slices.Clone(good), 0),
		"length too big":    append([]byte{0x30, byte(len(good))}, good[2:]...),
		"text":              []byte("GET / HTTP/1.1\r\n\r\n"),
		"version only":      {0x30, 0x03, 0x02, 0x01, 0x01},
		"bad community tag": {0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0xa0, 0x00},
	}
	n := 0
	for name, in := range inputs {
		if r := a.handle(src, loopback, in); r != nil {
			t.Errorf("%s: answered % x", name, r)
		}
		n++
	}
	if got := a.cnt.drops[dropMalformed].Load(); got != uint64(n) {
		t.Fatalf("malformed drops %d, want %d", got, n)
	}
}

// TestMaxEncodedLen: the estimate GETBULK fills messages with is an
// upper bound of what gosnmp writes, and not a loose one.
func TestMaxEncodedLen(t *testing.T) {
	long := make(OID, 0, 128)
	for i := range 128 {
		long = append(long, uint32(i)<<(i%32))
	}
	for _, vb := range []varbind{
		{oid: mustOID("1.3.6.1.4.1.32473.1.1.1.1.0"), val: text("n1")},
		{oid: mustOID("2.999.4294967295"), val: text(strings.Repeat("é", 200))},
		{oid: mustOID("1.3"), val: integer(-2147483648)},
		{oid: mustOID("1.3.6.1.4.1.32473.1.1.3.1.0"), val: gauge(uint64(4294967295))},
		{oid: mustOID("1.3.6.1.4.1.32473.1.1.4.1.0"), val: counter32(12345)},
		{oid: mustOID("1.3.6.1.4.1.32473.1.1.4.1.0"), val: endOfMibView},
		{oid: long, val: text(strings.Repeat("x", 255))},
	} {
		// What one more varbind adds to a message that has one (its
		// lengths already long).
		p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "c", PDUType: gosnmp.GetResponse,
			Variables: []gosnmp.SnmpPDU{vb.pdu()}}
		one, _ := p.MarshalMsg()
		p.Variables = append(p.Variables, vb.pdu())
		b, err := p.MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		got := len(b) - len(one)
		if est := vb.maxEncodedLen(); est < got || est > got+8 {
			t.Errorf("%s: estimate %d, encoded %d", vb.oid, est, got)
		}
	}
}

// TestQueueTableLive: the queue table follows every command the engine
// applies (it is kept only between two), and the longest wait goes on
// with the time between them.
func TestQueueTableLive(t *testing.T) {
	a := newTestAgent(t)
	src, _, _ := testSources()
	eng := src.Engine.(*fakeEngine)
	get := func(col uint32, id string) any {
		t.Helper()
		p := ask(t, a, src, gosnmp.GetRequest, 0, 0, oidOf(t, a, "tandemQueueEntry", append([]uint32{col}, stringIndex(id)...)...))
		return p.Variables[0].Value
	}
	if get(3, "support") != uint(3) || get(4, "support") != uint(30) {
		t.Fatal("initial values")
	}
	a.now = func() time.Time { return testNow.Add(5 * time.Second) }
	if w := get(4, "support"); w != uint(35) {
		t.Fatalf("longest wait 5 s later: %v", w)
	}
	// A command: a queue more, support's counts changed.
	eng.st.Applied++
	eng.st.Config.Queues["new"] = contactcenter.Queue{ID: "new", Name: "New"}
	eng.queues = []contactcenter.QueueView{{Queue: "new"}, {Queue: "sales"}, {Queue: "support", Waiting: 1, LongestWaitMS: 1000, Connected: 4}}
	if get(3, "support") != uint(1) || get(5, "support") != uint(4) || string(get(2, "new").([]byte)) != "New" {
		t.Fatal("after a command: not read again")
	}
	if n := ask(t, a, src, gosnmp.GetRequest, 0, 0, oidOf(t, a, "tandemQueueCount", 0)).Variables[0].Value; n != uint(3) {
		t.Fatalf("queue count %v", n)
	}
}
