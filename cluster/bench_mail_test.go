package cluster_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/console"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/cputime"
	"github.com/tandemcc/tandem/mail"
	"github.com/tandemcc/tandem/ops"
	"github.com/tandemcc/tandem/snmp"
	webapi "github.com/tandemcc/tandem/web"
)

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

// BenchmarkFSMMailBatch measures what every node of the cluster does for
// each batch the mail channel commits: the Raft log entry of one
// mail.received_batch of 500 messages (as the channel encodes it and the
// leader's Propose wraps and compresses it) applied by the cluster FSM —
// the entry decompressed, the envelope decoded, the engine's apply, the result encoded and remembered — and
// its events published to tandemd's event sinks (those that need no
// network: the event counter, the console hub, the SNMP, mail, callback
// and chat contact counters, the chat feed; the SIP edge's and the
// replication manager's are not here). cpu-ns/msg is the process's CPU
// time (GC included) per message, which a loaded machine distorts less
// than ns/msg. An op is one batch; the engine
// holds the batches before it up to 2,000 messages (the e2e benchmark's)
// and starts again from its configuration (untimed) after the fourth.
func BenchmarkFSMMailBatch(b *testing.B) {
	const perBatch, batches = 500, 4
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var entries [][]byte
	uid := uint32(0)
	for k := range batches {
		req := contactcenter.MailReceivedBatchRequest{Messages: make([]contactcenter.MailReceivedRequest, perBatch)}
		for i := range req.Messages {
			uid++
			req.Messages[i] = contactcenter.MailReceivedRequest{UIDValidity: 7, UID: uid, After: uid - 1,
				MessageID: fmt.Sprintf("<m%d.1764870000000000000@example.com>", uid),
				From:      fmt.Sprintf("c%d@example.com", uid), FromName: fmt.Sprintf("Customer %d", uid),
				To: []string{"support@example.org"}, Subject: fmt.Sprintf("Café %d", uid)}
		}
		payload, err := mail.EncodeBatch(req)
		if err != nil {
			b.Fatal(err)
		}
		// Compressed, as the leader writes it once every member reads
		// compressed entries (cluster/entry.go).
		entries = append(entries, cluster.PackEntry(encodeEnv(b, contactcenter.TypeMailReceivedBatch, fmt.Sprintf("mail.received_batch/7/%d", k), now, json.RawMessage(payload))))
	}
	doc, err := contactcenter.ParseDocument([]byte(mailBenchDoc))
	if err != nil {
		b.Fatal(err)
	}
	config := encodeEnv(b, contactcenter.TypeConfigApply, "cfg", now, contactcenter.ApplyRequest{Document: doc})
	var eng *contactcenter.Engine
	var apply func([]*raft.Log) []any
	index := uint64(0)
	// The sinks that do not read the engine live as long as tandemd's.
	var snmpAgent snmp.Agent
	counter, hub, feed := &ops.EventCounter{}, &console.Hub{}, webapi.NewChatFeed()
	fresh := func() {
		eng = contactcenter.New()
		sinks := []cluster.EventSink{counter, hub, snmpAgent.ContactEvents(),
			&mail.Contacts{Live: eng.MailContactsLive}, webapi.NewCallbackContacts(eng.CallbacksOpen),
			webapi.NewChatContacts(eng.ChatsOpen), feed}
		if apply, err = cluster.NewBenchFSM([]cluster.Machine{eng}, sinks); err != nil {
			b.Fatal(err)
		}
		index++
		if err := cluster.ResponseErr(apply([]*raft.Log{{Index: index, Term: 1, Type: raft.LogCommand, Data: config}})[0]); err != nil {
			b.Fatal(err)
		}
	}
	fresh()
	b.ReportAllocs()
	b.SetBytes(int64(len(entries[0])))
	b.ResetTimer()
	cpu0 := cputime.Self()
	for i := 0; i < b.N; i++ {
		k := i % batches
		if k == 0 && i > 0 {
			b.StopTimer()
			c := cputime.Self()
			fresh()
			cpu0 += cputime.Self() - c // untimed
			b.StartTimer()
		}
		index++
		if err := cluster.ResponseErr(apply([]*raft.Log{{Index: index, Term: 1, Type: raft.LogCommand, Data: entries[k]}})[0]); err != nil {
			b.Fatalf("batch %d: %v", k, err)
		}
	}
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perBatch), "cpu-ns/msg")
}

// encodeEnv is the Raft log entry of a command, as the leader's Propose
// writes it.
func encodeEnv(tb testing.TB, typ, id string, now time.Time, payload any) []byte {
	tb.Helper()
	env, err := command.New(typ, id, now, payload)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := command.Encode(env)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
