package snmp

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// dropCause is why a packet got no answer.
type dropCause int

const (
	dropMalformed dropCause = iota // could not be decoded
	dropHost                       // source not in --snmp-allow
	dropCommunity                  // community not configured
	dropVersion                    // not SNMPv2c
	dropPDU                        // not a request
	numDropCauses
)

var dropNames = [numDropCauses]string{"malformed", "host", "community", "version", "pdu"}

// pduKind is a request answered.
type pduKind int

const (
	pduGet pduKind = iota
	pduGetNext
	pduGetBulk
	pduSet
	numPDUKinds
)

var pduNames = [numPDUKinds]string{"get", "getnext", "getbulk", "set"}

// counters are the agent's own statistics, served in the MIB
// (tandemAgent) and on /metrics.
type counters struct {
	packets  atomic.Uint64
	requests [numPDUKinds]atomic.Uint64
	drops    [numDropCauses]atomic.Uint64
	// Traps by notification name, counted once per destination.
	trapsSent   map[string]*atomic.Uint64
	trapsFailed map[string]*atomic.Uint64
}

func newCounters() *counters {
	c := &counters{trapsSent: map[string]*atomic.Uint64{}, trapsFailed: map[string]*atomic.Uint64{}}
	for _, n := range notificationNames {
		c.trapsSent[n], c.trapsFailed[n] = new(atomic.Uint64), new(atomic.Uint64)
	}
	return c
}

func (c *counters) drop(why dropCause) { c.drops[why].Add(1) }

func (c *counters) requestsTotal() uint64 {
	var n uint64
	for i := range c.requests {
		n += c.requests[i].Load()
	}
	return n
}

func sum(m map[string]*atomic.Uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v.Load()
	}
	return n
}

var (
	descPackets  = prometheus.NewDesc("tandem_snmp_packets_total", "SNMP packets received by the agent, answered or not.", nil, nil)
	descRequests = prometheus.NewDesc("tandem_snmp_requests_total", "SNMP requests answered, by PDU type (set is answered notWritable).", []string{"pdu"}, nil)
	descDrops    = prometheus.NewDesc("tandem_snmp_dropped_total", "SNMP packets dropped without an answer, by cause (malformed, host, community, version, pdu).", []string{"cause"}, nil)
	descTraps    = prometheus.NewDesc("tandem_snmp_traps_sent_total", "SNMP notifications sent, by type, once per destination.", []string{"type"}, nil)
	descTrapErrs = prometheus.NewDesc("tandem_snmp_trap_failures_total", "SNMP notifications that could not be sent, by type, once per destination.", []string{"type"}, nil)
)

// collector exposes the counters to Prometheus at scrape time.
type collector struct{ c *counters }

func (col collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descRequests, descDrops, descTraps, descTrapErrs} {
		ch <- d
	}
}

func (col collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	c := col.c
	counter(descPackets, c.packets.Load())
	for i := range c.requests {
		counter(descRequests, c.requests[i].Load(), pduNames[i])
	}
	for i := range c.drops {
		counter(descDrops, c.drops[i].Load(), dropNames[i])
	}
	for _, n := range notificationNames {
		counter(descTraps, c.trapsSent[n].Load(), n)
		counter(descTrapErrs, c.trapsFailed[n].Load(), n)
	}
}
