package contactcenter

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/cputime"
)

// BenchmarkCallbackCreate measures the engine's apply of callback.create
// alone (no Raft, no I/O), as bench/web.sh's requests make it: queue
// bench takes callbacks at any hour, every request has a new phone number
// and its priority cycles 1–100, and nobody takes the callbacks, so they
// wait in the queue. Sub-benchmarks start with that many callbacks
// already waiting (the e2e benchmark's queue grows to tens of thousands).
// One op is one Apply with a fresh command.Emitter, as the cluster FSM
// makes it: JSON decode of the payload, the checks, the callback queued,
// its events encoded. cpu-ns/op is the process's CPU time (user + system,
// the garbage collector included) over the ops: on a shared machine it
// moves less than ns/op, which is wall clock.
func BenchmarkCallbackCreate(b *testing.B) {
	for _, waiting := range []int{0, 20_000, 100_000} {
		b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) { benchCallbackCreate(b, waiting) })
	}
}

func benchCallbackCreate(b *testing.B, waiting int) {
	e := New()
	now := t0.UnixNano()
	idx := uint64(0)
	var em command.Emitter
	apply := func(env command.Envelope) {
		idx++
		now += int64(time.Microsecond)
		env.Time = now
		em.Restart(idx, env)
		if _, err := e.Apply(env, &em); err != nil {
			b.Fatalf("%s %s: %v", env.Type, env.Payload, err)
		}
	}
	d, err := ParseDocument([]byte("queues: [{id: bench}]\ncallbacks: {queues: [bench]}\n"))
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := json.Marshal(ApplyRequest{Document: d})
	apply(command.Envelope{Type: TypeConfigApply, Version: 1, Payload: cfg, ID: "cfg"})
	n := 0
	create := func() command.Envelope {
		n++
		p := fmt.Sprintf(`{"callback":"cb%08d","queue":"bench","customer_name":"Bench %08x","phone":"+1 123456 %012d","priority":%d}`,
			n, n*2654435761, n, 1+n%100)
		return command.Envelope{Type: TypeCallbackCreate, Version: 1, ID: fmt.Sprintf("x%d", n), Payload: []byte(p)}
	}
	for range waiting {
		apply(create())
	}
	envs := make([]command.Envelope, b.N)
	for i := range envs {
		envs[i] = create()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Self()
	for i := range envs {
		apply(envs[i])
	}
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
}
