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
	dropVersion                    // not SNMPv2c, nor SNMPv3 with users configured
	dropPDU                        // not a request
	// SNMPv3 (USM, RFC 3414 3.2): each answered by a Report when the
	// message asks for one, counted in the usmStats object of the same
	// name.
	dropUnknownEngineID  // usmStatsUnknownEngineIDs (discovery)
	dropUnknownUser      // usmStatsUnknownUserNames
	dropUnsupportedLevel // usmStatsUnsupportedSecLevels
	dropWrongDigest      // usmStatsWrongDigests
	dropNotInTimeWindow  // usmStatsNotInTimeWindows
	dropDecryption       // usmStatsDecryptionErrors
	dropUnknownContext   // snmpUnknownContexts: a context name other than ""
	numDropCauses
)

var dropNames = [numDropCauses]string{"malformed", "host", "community", "version", "pdu",
	"unknown_engine_id", "unknown_user", "unsupported_sec_level", "wrong_digest", "not_in_time_window",
	"decryption", "unknown_context"}

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
	reports  atomic.Uint64 // SNMPv3 Reports sent (each for a drop)
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
	descDrops    = prometheus.NewDesc("tandem_snmp_dropped_total", "SNMP packets not answered, by cause (malformed, host, community, version, pdu; SNMPv3: unknown_engine_id, unknown_user, unsupported_sec_level, wrong_digest, not_in_time_window, decryption, unknown_context, which get a Report when asked).", []string{"cause"}, nil)
	descReports  = prometheus.NewDesc("tandem_snmp_reports_total", "SNMPv3 Reports sent for requests not answered (engine discovery, USM refusals).", nil, nil)
	descTraps    = prometheus.NewDesc("tandem_snmp_traps_sent_total", "SNMP notifications sent, by type, once per destination.", []string{"type"}, nil)
	descTrapErrs = prometheus.NewDesc("tandem_snmp_trap_failures_total", "SNMP notifications that could not be sent, by type, once per destination.", []string{"type"}, nil)
)

// collector exposes the counters to Prometheus at scrape time.
type collector struct{ c *counters }

func (col collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descRequests, descDrops, descReports, descTraps, descTrapErrs} {
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
	counter(descReports, c.reports.Load())
	for _, n := range notificationNames {
		counter(descTraps, c.trapsSent[n].Load(), n)
		counter(descTrapErrs, c.trapsFailed[n].Load(), n)
	}
}
