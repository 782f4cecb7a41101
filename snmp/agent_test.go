package snmp

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestServeUDP: a manager (gosnmp's client) walks the agent over UDP; a
// wrong community times out; the counters show both, in the MIB and on
// /metrics; the port is released when the context ends.
func TestServeUDP(t *testing.T) {
	a := listeningAgent(t)
	reg := prometheus.NewRegistry()
	a.Register(reg)
	src, _, _ := testSources()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx, src) }()
	addr := a.Addr().(*net.UDPAddr)
	client := func(community string) *gosnmp.GoSNMP {
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(addr.Port), Community: community, Version: gosnmp.Version2c,
			Timeout: 300 * time.Millisecond, Retries: 0, MaxRepetitions: 7}
		if err := g.Connect(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	good := client(testCommunity)
	bulk, err := good.BulkWalkAll(".1.3.6.1.4.1.32473")
	if err != nil {
		t.Fatal(err)
	}
	walked, err := good.WalkAll(".1.3.6.1.4.1.32473")
	if err != nil {
		t.Fatal(err)
	}
	if len(bulk) != len(walked) || len(bulk) < 40 {
		t.Fatalf("bulk walk %d varbinds, walk %d", len(bulk), len(walked))
	}
	if _, err := client("wrong").Get([]string{".1.3.6.1.4.1.32473.1.1.1.1.0"}); err == nil {
		t.Fatal("a wrong community was answered")
	}
	r, err := good.Get([]string{oidOf(t, a, "tandemSnmpDropsCommunity", 0)})
	if err != nil || r.Variables[0].Value != uint(1) {
		t.Fatalf("tandemSnmpDropsCommunity: %v %v", r, err)
	}
	for cause, want := range map[string]float64{"community": 1, "host": 0, "malformed": 0, "pdu": 0, "version": 0} {
		if got := metricValue(t, reg, "tandem_snmp_dropped_total", cause); got != want {
			t.Errorf("tandem_snmp_dropped_total{cause=%q} = %v, want %v", cause, got, want)
		}
	}
	if n := metricValue(t, reg, "tandem_snmp_requests_total", "getbulk"); n < 2 {
		t.Fatalf("getbulk requests %v", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The socket is closed (rebinding the port would race with every
	// other process on the machine).
	if _, err := a.conn.WriteToUDP([]byte{0}, addr); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("socket not closed after Run: %v", err)
	}
}

// metricValue is the value of one labelled series in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

// TestPortInUse: a second agent on the same port fails with one line
// naming the flag.
func TestPortInUse(t *testing.T) {
	a := listeningAgent(t)
	defer a.Close()
	var f Flags
	f.Addr.Set(a.Addr().String())
	if _, err := New(f, "", nil); err == nil || !strings.HasPrefix(err.Error(), "--snmp-addr: ") {
		t.Fatalf("second agent on %s: %v", a.Addr(), err)
	}
}

// listeningAgent is a test agent on a loopback port the kernel chose
// (the flag wants a fixed port).
func listeningAgent(t *testing.T) *Agent {
	t.Helper()
	return listeningAgentIn(t, "")
}

func listeningAgentIn(t *testing.T, dataDir string, edit ...func(*Flags)) *Agent {
	t.Helper()
	a := newTestAgentIn(t, dataDir, edit...)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a.conn = c
	return a
}

// TestStatus: the status section has the counters /metrics has.
func TestStatus(t *testing.T) {
	a := v3Agent(t)
	src, _, _ := testSources()
	ask(t, a, src, gosnmp.GetRequest, 0, 0, oidOf(t, a, "tandemNodeId", 0))
	a.handle(src, loopback, request(t, "wrong", gosnmp.GetRequest, 0, 0, ".1.3"))
	a.handle(src, loopback, (v3Req{flags: gosnmp.Reportable, pdu: gosnmp.GetRequest}).marshal(t))
	a.cnt.trapsSent["tandemNodeLost"].Add(2)
	st := a.Status()
	if st.Packets != 3 || st.Requests["get"] != 1 || st.Dropped["community"] != 1 || st.Dropped["unknown_engine_id"] != 1 ||
		st.Reports != 1 || st.TrapsSent["tandemNodeLost"] != 2 || st.TrapsFailed["tandemNodeLost"] != 0 ||
		len(st.Dropped) != int(numDropCauses) || len(st.TrapsSent) != len(notificationNames) ||
		st.EngineBoots != 1 || len(st.EngineID) != 34 || st.TrapProfile != "all" {
		t.Fatalf("status %+v", st)
	}
}
