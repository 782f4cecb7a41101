package snmp

import (
	"fmt"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/contactcenter"
)

// BenchmarkBulkWalk is one whole snmpbulkwalk of a MIB of about 830
// instances (190 queues), max-repetitions 10 (snmpbulkwalk's default), as bench/snmp.sh walks it,
// without the network: the agent's own cost per walk.
func BenchmarkBulkWalk(b *testing.B) {
	a := newTestAgent(b)
	src, _, _ := testSources()
	eng := src.Engine.(*fakeEngine)
	eng.st.Config.Queues = map[string]contactcenter.Queue{}
	eng.queues = nil
	for i := range 190 {
		id := fmt.Sprintf("queue-%d", i)
		eng.st.Config.Queues[id] = contactcenter.Queue{ID: id, Name: fmt.Sprintf("Queue %d", i)}
		eng.queues = append(eng.queues, contactcenter.QueueView{Queue: id, Waiting: i % 3})
	}
	walk := func() int {
		n := 0
		for cur := ".1.3.6.1"; ; {
			p := decode(b, a.handle(src, loopback, request(b, testCommunity, gosnmp.GetBulkRequest, 0, 10, cur)))
			for _, v := range p.Variables {
				if v.Type == gosnmp.EndOfMibView {
					return n
				}
				n++
				cur = v.Name
			}
		}
	}
	b.ReportMetric(float64(walk()), "oids/walk")
	b.ResetTimer()
	for b.Loop() {
		walk()
	}
}
