package contactcenter

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/cputime"
)

// benchDoc: 1,000 agents and 100 queues, each agent serving 3 queues (30
// agents a queue); strategy "" gives the five strategies in turn.
func benchDoc(strategy string) string {
	var b strings.Builder
	b.WriteString("queues:\n")
	for q := 0; q < 100; q++ {
		s := strategy
		if s == "" {
			s = Strategies[q%len(Strategies)]
		}
		fmt.Fprintf(&b, "  - {id: q%d, strategy: %s}\n", q, s)
	}
	b.WriteString("agents:\n")
	for a := 0; a < 1000; a++ {
		fmt.Fprintf(&b, "  - {id: a%d, queues: [q%d, q%d, q%d], skills: {english: %d}}\n", a, a%100, (a+33)%100, (a+67)%100, 1+a%10)
	}
	return b.String()
}

// BenchmarkRouting measures routing decisions per second of the engine
// alone (the Apply loop, no Raft): each iteration is one call through a
// decision — call.incoming (routed at once to a free agent of one of the
// 100 queues), call.answer, call.hangup — on 1,000 Connected agents,
// each command applied with a fresh command.Emitter as the cluster FSM
// does. The three Applys are the measured work: JSON decoding, routing
// and event encoding included. Metrics: decisions/s (wall clock),
// decisions/cpu-s (process CPU time, GC included), decide-ns (the
// call.incoming Apply alone) and allocs/decision and B/decision (all
// three commands; the same as allocs/op and B/op, since an op is a
// decision). "mixed" gives the 100 queues the five strategies in turn;
// the others use one strategy for all. (ring-all rings every free agent
// of the queue — about 30 — at each decision, and frees them all again
// on the answer.)
func BenchmarkRouting(b *testing.B) {
	for _, s := range append([]string{""}, Strategies...) {
		name := s
		if name == "" {
			name = "mixed"
		}
		b.Run(name, func(b *testing.B) { benchRouting(b, s) })
	}
}

func benchRouting(b *testing.B, strategy string) {
	e := New()
	now := t0.UnixNano()
	idx := uint64(0)
	var em command.Emitter // restarted for every command, as the cluster FSM does
	apply := func(env command.Envelope) any {
		idx++
		now += int64(time.Millisecond)
		env.Time = now
		env.ID = "x"
		em.Restart(idx, env)
		res, err := e.Apply(env, &em)
		if err != nil {
			b.Fatalf("%s %s: %v", env.Type, env.Payload, err)
		}
		return res
	}
	d, err := ParseDocument([]byte(benchDoc(strategy)))
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := json.Marshal(ApplyRequest{Document: d})
	apply(command.Envelope{Type: TypeConfigApply, Version: 1, Payload: cfg})
	answer := make([]command.Envelope, 1000)
	hangup := make([]command.Envelope, 1000)
	for i := range 1000 {
		id := fmt.Sprintf("a%d", i)
		p := []byte(`{"agent":"` + id + `"}`)
		login := command.Envelope{Type: TypeAgentLogin, Version: 1, Payload: p}
		apply(login)
		apply(login)
		answer[i] = command.Envelope{Type: TypeCallAnswer, Version: 1, Payload: p}
		hangup[i] = command.Envelope{Type: TypeCallHangup, Version: 1, Payload: p}
	}
	incoming := make([]command.Envelope, 1000)
	for i := range incoming {
		p := fmt.Sprintf(`{"call":"c%d","queue":"q%d","number":"+4416155%05d","priority":%d}`, i, (i*7)%100, i, i%3)
		incoming[i] = command.Envelope{Type: TypeCallIncoming, Version: 1, Payload: []byte(p)}
	}
	var ms0, ms1 runtime.MemStats
	b.ReportAllocs()
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Self()
	var decide time.Duration
	for i := 0; i < b.N; i++ {
		t := time.Now()
		r := apply(incoming[i%1000]).(CallResult)
		decide += time.Since(t)
		if len(r.Offered) == 0 {
			b.Fatalf("call %s not routed: %+v", r.Call, r)
		}
		a, err := strconv.Atoi(r.Offered[0][1:]) // "a17" -> 17
		if err != nil {
			b.Fatalf("call %s offered to %q", r.Call, r.Offered[0])
		}
		apply(answer[a])
		apply(hangup[a])
	}
	el, cpu := time.Since(start), cputime.Self()-cpu0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/decision")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N), "B/decision")
	b.ReportMetric(float64(b.N)/el.Seconds(), "decisions/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "decisions/cpu-s")
	}
	// The call.incoming command alone (decode, queue, route, offer, two
	// events): the cost of the decision without the answer and hang-up.
	b.ReportMetric(float64(decide.Nanoseconds())/float64(b.N), "decide-ns")
	if err := e.Check(); err != nil {
		b.Fatal(err)
	}
}
