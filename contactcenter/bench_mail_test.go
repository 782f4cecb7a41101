package contactcenter

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/cputime"
)

// mailBenchDoc is the e2e ingestion benchmark's configuration
// (test/e2e TestMailIngestRate): two queues, no agents, one alias each.
const mailBenchDoc = `
queues:
  - {id: support, strategy: longest-idle}
  - {id: sales, strategy: longest-idle}
mail:
  imap: {host: 127.0.0.1, port: 993, tls: implicit, user: desk, password: Imap-Pass-Bench-0123456789, poll_seconds: 2}
  aliases:
    - {address: support@example.org, queue: support}
    - {address: sales@example.org, queue: sales}
`

// MailBenchBatches are mail.received_batch envelopes of n messages each,
// as the channel proposes them for the e2e benchmark's messages (one
// alias, a Message-ID, a sender with a name, a decoded subject), UIDs
// from 1 on, each batch after the one before.
func MailBenchBatches(tb testing.TB, batches, n int) []command.Envelope {
	tb.Helper()
	var out []command.Envelope
	uid := uint32(0)
	for b := range batches {
		req := MailReceivedBatchRequest{Messages: make([]MailReceivedRequest, n)}
		for i := range req.Messages {
			uid++
			req.Messages[i] = MailReceivedRequest{UIDValidity: 7, UID: uid, After: uid - 1,
				MessageID: fmt.Sprintf("<m%d.1764870000000000000@example.com>", uid),
				From:      fmt.Sprintf("c%d@example.com", uid), FromName: fmt.Sprintf("Customer %d", uid),
				To: []string{"support@example.org"}, Subject: fmt.Sprintf("Café %d", uid)}
		}
		p, err := json.Marshal(req)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, command.Envelope{Type: TypeMailReceivedBatch, Version: command.CurrentVersion,
			ID: fmt.Sprintf("mail-%d", b), Payload: p})
	}
	return out
}

// BenchmarkMailBatch measures the engine applying one mail.received_batch
// of 500 messages (an op), as every node of the cluster does for each
// batch the mail channel commits: JSON decoding, the checks, the
// contacts entering their queue and the events encoded. The engine holds
// the batches before it, up to 2,000 messages (the e2e benchmark's), and
// starts again from its configuration after the fourth (untimed).
// ns/msg is per message, cpu-ns/msg the process's CPU time (GC
// included) per message, which a loaded machine distorts less.
func BenchmarkMailBatch(b *testing.B) {
	const perBatch, batches = 500, 4
	envs := MailBenchBatches(b, batches, perBatch)
	fresh := func() *Engine {
		h := newHarness(b, mailBenchDoc)
		h.check = false
		return h.e
	}
	e := fresh()
	var em command.Emitter
	now := t0.UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Self()
	for i := 0; i < b.N; i++ {
		k := i % batches
		if k == 0 && i > 0 {
			b.StopTimer()
			c := cputime.Self()
			e = fresh()
			cpu0 += cputime.Self() - c // untimed
			b.StartTimer()
		}
		env := envs[k]
		now += int64(time.Millisecond)
		env.Time = now
		em.Restart(uint64(i+2), env)
		res, err := e.Apply(env, &em)
		if err != nil {
			b.Fatalf("batch %d: %v", k, err)
		}
		if r := res.(MailBatchResult); len(r.Results) != perBatch {
			b.Fatalf("batch %d: %d results", k, len(r.Results))
		}
	}
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perBatch), "cpu-ns/msg")
}
