package snmp

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

const testCommunity = "n0c-s3cret"

var loopback = netip.MustParseAddr("127.0.0.1")

type fakeCluster struct {
	mu sync.Mutex
	st cluster.Status
}

func (f *fakeCluster) Status() cluster.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Nodes = append([]cluster.NodeStatus(nil), f.st.Nodes...)
	return st
}

func (f *fakeCluster) set(fn func(*cluster.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

type fakeEngine struct {
	mu     sync.Mutex
	st     contactcenter.State
	queues []contactcenter.QueueView
	usage  contactcenter.ExtensionUsage
}

func (f *fakeEngine) View(fn func(*contactcenter.State)) { fn(&f.st) }

func (f *fakeEngine) ExtensionUsage() contactcenter.ExtensionUsage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usage
}

func (f *fakeEngine) setUsage(u contactcenter.ExtensionUsage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = u
}
func (f *fakeEngine) Queues() []contactcenter.QueueView {
	return append([]contactcenter.QueueView(nil), f.queues...)
}

type fakeRepl struct {
	mu sync.Mutex
	st replication.Status
}

func (f *fakeRepl) Status() replication.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Targets = map[string]replication.TargetStatus{}
	for k, v := range f.st.Targets {
		st.Targets[k] = v
	}
	return st
}

var testNow = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// testSources is a three-node cluster seen from its leader n1, two queues
// and a reporting target.
func testSources() (Sources, *fakeCluster, *fakeRepl) {
	cl := &fakeCluster{st: cluster.Status{NodeID: "n1", Role: "leader", LeaderID: "n1", Term: 7, Ready: true,
		Clock: cluster.ClockStatus{SkewVsLeaderMS: 0, PeersMS: map[string]int64{"n2": -250, "n3": 40}},
		Nodes: []cluster.NodeStatus{
			{ID: "n1", Address: "127.0.0.1:7001", Suffrage: "voter", State: "up", AdminAddr: "http://127.0.0.1:7071"},
			{ID: "n2", Address: "127.0.0.1:7002", Suffrage: "voter", State: "up", AdminAddr: "http://127.0.0.1:7072"},
			{ID: "n3", Address: "127.0.0.1:7003", Suffrage: "nonvoter", State: "down"},
		}}}
	eng := &fakeEngine{
		st: contactcenter.State{
			Clock: testNow.Add(-10 * time.Second).UnixNano(),
			Config: contactcenter.Config{
				Extensions: map[string]contactcenter.Extension{"2001": {Number: "2001"}, "2002": {Number: "2002"}, "2003": {Number: "2003"}},
				Queues:     map[string]contactcenter.Queue{"support": {ID: "support", Name: "Support ✓"}, "sales": {ID: "sales"}},
			},
			Calls: map[string]*contactcenter.Call{"c1": {ID: "c1"}, "c2": {ID: "c2"}},
			Agents: map[string]*contactcenter.AgentState{
				"a1": {ID: "a1", State: contactcenter.StateConnected, Line1: "c1"},
				"a2": {ID: "a2", State: contactcenter.StatePaused, WrapUntil: 5},
				"a3": {ID: "a3", State: contactcenter.StateDisconnected},
				"a4": {ID: "a4", State: contactcenter.StateConnected},
			},
		},
		queues: []contactcenter.QueueView{
			{Queue: "sales", Waiting: 0, Connected: 1},
			{Queue: "support", Waiting: 3, LongestWaitMS: 20_000, Connected: 2},
		},
		usage: contactcenter.ExtensionUsage{Configured: 3, Operational: 3, InUse: 1},
	}
	repl := &fakeRepl{st: replication.Status{BufferPercent: 42.54, Level: "normal", Targets: map[string]replication.TargetStatus{
		replication.Reporting: {State: replication.Active, BufferPercent: 42.54, BacklogEvents: 1234, LastError: "connection refused"},
	}}}
	return Sources{Cluster: cl, Engine: eng, Replication: repl}, cl, repl
}

// newTestAgent is an agent without a socket, answering testCommunity from
// loopback.
func newTestAgent(t testing.TB, edit ...func(*Flags)) *Agent {
	t.Helper()
	return newTestAgentIn(t, "", edit...)
}

// newTestAgentIn is newTestAgent with its SNMP engine kept in dataDir.
func newTestAgentIn(t testing.TB, dataDir string, edit ...func(*Flags)) *Agent {
	t.Helper()
	var f Flags
	f.Addr.Set("") // no socket
	f.Communities.Set(testCommunity)
	f.Allow.Set("127.0.0.0/8,::1")
	for _, e := range edit {
		e(&f)
	}
	a, err := New(f, dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return testNow }
	a.start = testNow.Add(-time.Minute)
	if a.usm != nil {
		a.usm.start = a.start
	}
	return a
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// request encodes a v2c request.
func request(t testing.TB, community string, typ gosnmp.PDUType, nonRep uint8, maxRep uint32, oids ...string) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: typ, RequestID: 4242,
		NonRepeaters: nonRep, MaxRepetitions: maxRep}
	for _, o := range oids {
		p.Variables = append(p.Variables, gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null})
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode decodes a response, failing the test when it is not one.
func decode(t testing.TB, b []byte) *gosnmp.SnmpPacket {
	t.Helper()
	if b == nil {
		t.Fatal("no response")
	}
	p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(b)
	if err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	if p.PDUType != gosnmp.GetResponse || p.RequestID != 4242 {
		t.Fatalf("response PDU %v, request id %d", p.PDUType, p.RequestID)
	}
	return p
}

// ask sends a request to a and decodes the answer.
func ask(t testing.TB, a *Agent, src Sources, typ gosnmp.PDUType, nonRep uint8, maxRep uint32, oids ...string) *gosnmp.SnmpPacket {
	t.Helper()
	return decode(t, a.handle(src, loopback, request(t, testCommunity, typ, nonRep, maxRep, oids...)))
}

// oidOf is the OID of a MIB name in the dotted form gosnmp uses.
func oidOf(t testing.TB, a *Agent, name string, subs ...uint32) string {
	t.Helper()
	o, ok := a.oids[name]
	if !ok {
		t.Fatalf("no MIB node %s", name)
	}
	return o.Append(subs...).String()
}

// testQueue is a queue view with a long id, to fill messages.
func testQueue(i int) contactcenter.QueueView {
	return contactcenter.QueueView{Queue: fmt.Sprintf("queue-with-a-long-identifier-%04d", i), Waiting: i}
}
