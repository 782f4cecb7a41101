package contactcenter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/cputime"
)

// The contact center of BenchmarkRoutingLoad (bench/README.md, "Routing
// under load").
const (
	loadAgents  = 1000
	loadQueues  = 100
	loadSkills  = 10
	loadTalking = 900 // agents kept in conversation: 90 % occupancy
	loadMaxWait = 600 // calls kept waiting over all queues (6 a queue)
	// Incoming payloads are precomputed for a pool of call ids, used in
	// turn; a caller still waiting after half a pool of arrivals gives up,
	// so an id is free again when its turn comes.
	loadCallPool = 1 << 14
	loadMaxAge   = loadCallPool / 2
	loadWarmup   = 30000 // decisions before the clock starts
)

// loadDoc: 1,000 agents and 100 queues, the five strategies in turn (20
// queues each), every agent in 3 queues (30 members a queue). There are
// 10 skills, s0..s9; an agent has each with probability 0.7, at a level
// of 1..10 (seeded: the same document every time). A skills-strategy
// queue requires one skill (s0..s9 in turn) at level 2..4; its calls
// require one or two more (call.incoming.skills), so each call needs 2–3
// of the 10 skills with levels. The other queues require no skill.
func loadDoc() string {
	rng := rand.New(rand.NewPCG(11, 6))
	var b strings.Builder
	b.WriteString("queues:\n")
	for q := 0; q < loadQueues; q++ {
		s := Strategies[q%len(Strategies)]
		fmt.Fprintf(&b, "  - {id: q%d, strategy: %s", q, s)
		if s == "skills" {
			fmt.Fprintf(&b, ", skills: {s%d: %d}", loadQueueSkill(q), 3+(q/5)%3)
		}
		b.WriteString("}\n")
	}
	b.WriteString("agents:\n")
	for a := 0; a < loadAgents; a++ {
		fmt.Fprintf(&b, "  - {id: a%d, queues: [q%d, q%d, q%d], skills: {", a, a%100, (a+33)%100, (a+67)%100)
		sep := ""
		for s := 0; s < loadSkills; s++ {
			if rng.IntN(10) < 7 {
				fmt.Fprintf(&b, "%ss%d: %d", sep, s, 1+rng.IntN(MaxSkillLevel))
				sep = ", "
			}
		}
		b.WriteString("}}\n")
	}
	return b.String()
}

// loadQueueSkill is the skill skills-queue q requires.
func loadQueueSkill(q int) int { return (q / len(Strategies)) % loadSkills }

// loadIncoming is the call.incoming payload of pool slot k: call "c<k>"
// into queue (37k mod 100), priority 0..2; a skills-queue call requires
// one or two skills besides its queue's, at level 1..5.
func loadIncoming(k int) []byte {
	q := (k * 37) % loadQueues
	p := fmt.Sprintf(`{"call":"c%d","queue":"q%d","number":"+4416155%05d","priority":%d`, k, q, k%100000, (k/7)%3)
	if Strategies[q%len(Strategies)] == "skills" {
		qs := loadQueueSkill(q)
		s1 := (qs + 1 + k%9) % loadSkills
		p += fmt.Sprintf(`,"skills":{"s%d":%d`, s1, 3+(k/3)%5)
		if k%2 == 1 {
			s2 := (s1 + 1 + (k/9)%8) % loadSkills
			if s2 == qs {
				s2 = (s2 + 1) % loadSkills
			}
			if s2 != s1 {
				p += fmt.Sprintf(`,"s%d":%d`, s2, 3+(k/5)%5)
			}
		}
		p += "}"
	}
	return []byte(p + "}")
}

// BenchmarkRoutingLoad measures routing decisions per second of the
// engine alone (the Apply loop, no Raft) in a busy contact center: 1,000
// Connected agents of whom 900 are in conversation (90 % occupancy),
// about 600 calls waiting over 100 queues of the five strategies, calls
// of the skills queues needing 2–3 of 10 skills with levels (loadDoc).
// The state is built by the engine's own commands — config.apply,
// agent.login twice per agent, call.incoming — and a warm-up of 30,000
// decisions before the clock starts.
//
// The load keeps itself steady: while 900 or more agents talk, the
// longest conversation ends (call.hangup), which frees its agent, whom
// routing offers the best waiting call he is eligible for, if any; then
// a call arrives (call.incoming) into the next queue, offered at once
// when a free eligible member exists, else waiting; every offer is
// answered at once (call.answer) — for ring-all by the first agent rung,
// which withdraws the others' offers and frees them to be routed again;
// the caller waiting longest gives up (call.remote_hangup) while 600 or
// more calls wait. A decision is an offer (a call.offered event); b.N
// counts decisions. Every command is applied with one command.Emitter
// restarted for it, as the cluster FSM does.
//
// Metrics: decisions/s (wall clock of the whole loop: every Apply and
// the benchmark's bookkeeping), decisions/cpu-s (process CPU time, GC
// included), allocs/decision and B/decision (all commands), p50-ns and
// p99-ns of the decision time — the duration of the Apply that made the
// decision (the whole command: decoding, state change, routing, events),
// counted once per command —, mean occupancy-% and mean waiting calls,
// and applies/decision. It also prints one ROUTING_LOAD line (per
// strategy: share of decisions, mean and p99 decision time) for
// bench/routing.sh.
func BenchmarkRoutingLoad(b *testing.B) {
	r := newLoadRun(b)
	r.run(loadWarmup)
	if r.t < loadTalking*8/10 {
		b.Fatalf("after the warm-up only %d of %d agents talk", r.t, loadAgents)
	}
	r.resetStats()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Self()
	r.run(b.N)
	el, cpu := time.Since(start), cputime.Self()-cpu0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(r.decisions)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/decision")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/decision")
	b.ReportMetric(n/el.Seconds(), "decisions/s")
	if cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), "decisions/cpu-s")
	}
	b.ReportMetric(float64(r.all.quantile(0.50)), "p50-ns")
	b.ReportMetric(float64(r.all.quantile(0.99)), "p99-ns")
	b.ReportMetric(100*float64(r.occSum)/float64(r.samples)/loadAgents, "occupancy-%")
	b.ReportMetric(float64(r.waitSum)/float64(r.samples), "waiting")
	b.ReportMetric(float64(r.applies)/n, "applies/decision")
	if min := 100 * float64(r.minOcc) / loadAgents; min < 80 {
		b.Fatalf("occupancy fell to %.1f %% (want ≥ 80 %% throughout)", min)
	}
	if err := r.e.Check(); err != nil {
		b.Fatal(err)
	}
	var per strings.Builder
	for i, s := range Strategies {
		h := &r.per[i]
		if h.count == 0 {
			continue
		}
		fmt.Fprintf(&per, " %s_share=%.3f %s_mean_ns=%.0f %s_p99_ns=%d", s, float64(h.count)/float64(r.all.count),
			s, float64(h.sum)/float64(h.count), s, h.quantile(0.99))
	}
	var applyNS int64
	for _, t := range []string{TypeCallIncoming, TypeCallHangup, TypeCallAnswer, TypeCallRemoteHangup} {
		st := r.byType[t]
		applyNS += st.ns
		if st.n > 0 {
			k := strings.ReplaceAll(t, ".", "_")
			fmt.Fprintf(&per, " %s_per_decision=%.3f %s_mean_ns=%.0f %s_deciding=%.3f", k, float64(st.n)/n, k,
				float64(st.ns)/float64(st.n), k, float64(st.decided)/float64(st.n))
		}
	}
	fmt.Fprintf(&per, " apply_share=%.3f", float64(applyNS)/float64(el.Nanoseconds()))
	fmt.Printf("ROUTING_LOAD decisions=%d elapsed_s=%.3f cpu_s=%.3f decisions_per_s=%.0f decisions_per_cpu_s=%.0f "+
		"allocs_per_decision=%.2f bytes_per_decision=%.0f p50_ns=%d p99_ns=%d max_ns=%d mean_ns=%.0f "+
		"occupancy_pct=%.1f occupancy_min_pct=%.1f waiting_mean=%.1f waiting_max=%d applies_per_decision=%.2f%s\n",
		r.decisions, el.Seconds(), cpu.Seconds(), n/el.Seconds(), n/cpu.Seconds(),
		float64(ms1.Mallocs-ms0.Mallocs)/n, float64(ms1.TotalAlloc-ms0.TotalAlloc)/n,
		r.all.quantile(0.50), r.all.quantile(0.99), r.all.max, float64(r.all.sum)/float64(r.all.count),
		100*float64(r.occSum)/float64(r.samples)/loadAgents, 100*float64(r.minOcc)/loadAgents,
		float64(r.waitSum)/float64(r.samples), r.maxWait, float64(r.applies)/n, per.String())
}

// loadRun drives the engine and keeps the benchmark's own account of
// who talks and what waits, from the events alone.
type loadRun struct {
	b   *testing.B
	e   *Engine
	em  command.Emitter
	idx uint64
	now int64

	incoming, abandon [][]byte // per pool slot
	answer, hangup    [][]byte // per agent

	talk     []int32 // agents in conversation, oldest first (a ring)
	talkHead int
	t        int     // agents in conversation (len of the ring)
	slotOf   []int32 // per agent: the pool slot of its call (-1: none)
	offered  []int32 // per agent: the slot offered to it (-1: none)

	arrivals  int     // calls that arrived
	alive     []bool  // per slot: the call exists
	waiting   []bool  // per slot: the call waits in a queue
	arrivedAt []int   // per slot: arrival number
	waitQ     []int32 // slots in order of queueing (a ring; stale entries skipped)
	waitHead  int     // index of the oldest entry in waitQ
	waitLen   int     // entries in waitQ
	w         int     // calls waiting
	toAnswer  []int32 // agents with an offer to answer
	queueStr  []int   // per queue: index in Strategies
	keyCall   []byte  // `"call":"c`
	keyAgents []byte  // `"agents":["a`
	keyQueue  []byte  // `"queue":"q`

	decisions, applies int
	occSum, waitSum    int64
	samples            int64
	minOcc, maxWait    int
	all                loadHist
	per                [5]loadHist // by strategy
	byType             map[string]*loadTypeStat
	// The stats of the load's commands (byType's), and the origin of the
	// monotonic clock that times the Applys.
	hangupSt, remoteHangupSt, incomingSt, answerSt *loadTypeStat
	epoch                                          time.Time
}

// loadTypeStat sums the Applys of one command type.
type loadTypeStat struct {
	n, decided int
	ns         int64
}

func newLoadRun(b *testing.B) *loadRun {
	r := &loadRun{b: b, e: New(), now: t0.UnixNano(),
		slotOf: make([]int32, loadAgents), offered: make([]int32, loadAgents),
		alive: make([]bool, loadCallPool), waiting: make([]bool, loadCallPool), arrivedAt: make([]int, loadCallPool),
		talk: make([]int32, loadAgents), waitQ: make([]int32, 4*loadCallPool),
		keyCall: []byte(`"call":"c`), keyAgents: []byte(`"agents":["a`), keyQueue: []byte(`"queue":"q`),
		byType: map[string]*loadTypeStat{}}
	for _, t := range []string{TypeCallHangup, TypeCallRemoteHangup, TypeCallIncoming, TypeCallAnswer} {
		r.byType[t] = &loadTypeStat{}
	}
	r.hangupSt, r.remoteHangupSt = r.byType[TypeCallHangup], r.byType[TypeCallRemoteHangup]
	r.incomingSt, r.answerSt = r.byType[TypeCallIncoming], r.byType[TypeCallAnswer]
	r.epoch = time.Now()
	for i := range r.slotOf {
		r.slotOf[i], r.offered[i] = -1, -1
	}
	for q := 0; q < loadQueues; q++ {
		r.queueStr = append(r.queueStr, q%len(Strategies))
	}
	d, err := ParseDocument([]byte(loadDoc()))
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := json.Marshal(ApplyRequest{Document: d})
	if err != nil {
		b.Fatal(err)
	}
	r.apply(TypeConfigApply, cfg, nil)
	for a := 0; a < loadAgents; a++ {
		p := []byte(fmt.Sprintf(`{"agent":"a%d"}`, a))
		r.apply(TypeAgentLogin, p, nil) // disconnected → paused
		r.apply(TypeAgentLogin, p, nil) // paused → connected
		r.answer = append(r.answer, p)
		r.hangup = append(r.hangup, p)
	}
	for k := 0; k < loadCallPool; k++ {
		r.incoming = append(r.incoming, loadIncoming(k))
		r.abandon = append(r.abandon, []byte(fmt.Sprintf(`{"call":"c%d"}`, k)))
	}
	r.decisions, r.applies = 0, 0
	return r
}

func (r *loadRun) resetStats() {
	r.decisions, r.applies, r.occSum, r.waitSum, r.samples, r.maxWait = 0, 0, 0, 0, 0, 0
	r.minOcc = loadAgents
	r.all = loadHist{}
	r.per = [5]loadHist{}
	for _, st := range r.byType {
		*st = loadTypeStat{}
	}
}

// run goes on until n more decisions were made.
func (r *loadRun) run(n int) {
	end := r.decisions + n
	for r.decisions < end {
		r.samples++
		r.occSum += int64(r.t)
		r.waitSum += int64(r.w)
		r.minOcc = min(r.minOcc, r.t)
		r.maxWait = max(r.maxWait, r.w)
		// A conversation ends.
		if r.t >= loadTalking {
			a := r.talk[r.talkHead]
			r.talkHead = (r.talkHead + 1) % len(r.talk)
			r.t--
			s := r.slotOf[a]
			r.slotOf[a] = -1
			r.alive[s] = false
			r.apply(TypeCallHangup, r.hangup[a], r.hangupSt)
			r.answerAll()
		}
		// Callers give up: too many waiting, or waiting too long.
		for r.w > 0 {
			s := r.oldestWaiting()
			if r.w < loadMaxWait && r.arrivals-r.arrivedAt[s] < loadMaxAge {
				break
			}
			r.waiting[s], r.alive[s] = false, false
			r.w--
			r.apply(TypeCallRemoteHangup, r.abandon[s], r.remoteHangupSt)
			r.answerAll()
		}
		// A call arrives.
		s := r.arrivals % loadCallPool
		if r.alive[s] {
			r.b.Fatalf("call c%d still exists when its id comes round again", s)
		}
		r.alive[s], r.arrivedAt[s] = true, r.arrivals
		r.arrivals++
		r.apply(TypeCallIncoming, r.incoming[s], r.incomingSt)
		r.answerAll()
	}
}

// oldestWaiting returns the slot waiting longest, dropping stale entries.
func (r *loadRun) oldestWaiting() int32 {
	for {
		s := r.waitQ[r.waitHead]
		if r.waiting[s] {
			return s
		}
		r.waitHead = (r.waitHead + 1) % len(r.waitQ)
		r.waitLen--
	}
}

// answerAll answers every offer made, and those the answers make.
func (r *loadRun) answerAll() {
	for i := 0; i < len(r.toAnswer); i++ {
		a := r.toAnswer[i]
		s := r.offered[a]
		r.offered[a] = -1
		r.apply(TypeCallAnswer, r.answer[a], r.answerSt)
		r.slotOf[a] = s
		r.talk[(r.talkHead+r.t)%len(r.talk)] = a
		r.t++
	}
	r.toAnswer = r.toAnswer[:0]
}

// apply applies one command, which must succeed, and follows its events:
// offers (decisions, to be answered) and calls queued. st, when not nil,
// sums the command's Applys. The Apply is timed by the monotonic clock
// alone (time.Since of one origin: a clock read before and after).
func (r *loadRun) apply(typ string, payload []byte, st *loadTypeStat) {
	r.idx++
	r.now += int64(time.Millisecond)
	env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: r.now, ID: "x", Payload: payload}
	em := &r.em
	em.Restart(r.idx, env)
	t := time.Since(r.epoch)
	_, err := r.e.Apply(env, em)
	d := time.Since(r.epoch) - t
	if err != nil {
		r.b.Fatalf("%s %s: %v", typ, payload, err)
	}
	r.applies++
	offers, strat := 0, -1
	for i := range em.Events() {
		ev := &em.Events()[i]
		switch ev.Type {
		case EvCallQueued:
			s, _ := numAfter(ev.Data, r.keyCall, 1)
			if s >= 0 && !r.waiting[s] {
				r.waiting[s] = true
				r.w++
				if r.waitLen == len(r.waitQ) {
					r.b.Fatal("wait ring full")
				}
				r.waitQ[(r.waitHead+r.waitLen)%len(r.waitQ)] = int32(s)
				r.waitLen++
			}
		case EvCallOffered:
			s, end := numAfter(ev.Data, r.keyCall, 1)
			a, end := numAfter(ev.Data, r.keyAgents, end+2)
			if s < 0 || a < 0 {
				r.b.Fatalf("offer %s: no call or agent", ev.Data)
			}
			if r.waiting[s] {
				r.waiting[s] = false
				r.w--
			}
			r.offered[a] = int32(s)
			r.toAnswer = append(r.toAnswer, int32(a))
			if offers == 0 {
				if q, _ := numAfter(ev.Data, r.keyQueue, end+3); q >= 0 {
					strat = r.queueStr[q]
				}
			}
			offers++
		}
	}
	if st != nil {
		st.n++
		st.ns += d.Nanoseconds()
		if offers > 0 {
			st.decided++
		}
	}
	if offers > 0 {
		r.decisions += offers
		r.all.add(d.Nanoseconds())
		if strat >= 0 {
			r.per[strat].add(d.Nanoseconds())
		}
	}
}

// numAfter parses the decimal number right after key in data (-1: none)
// and returns the index after its digits. It looks for key at data[at:]
// first (where the events' encoders put it), then anywhere.
func numAfter(data, key []byte, at int) (n, end int) {
	i := at
	if at < 0 || at > len(data) || !bytes.HasPrefix(data[at:], key) {
		if i = bytes.Index(data, key); i < 0 {
			return -1, 0
		}
	}
	end = i + len(key)
	for ; end < len(data) && data[end] >= '0' && data[end] <= '9'; end++ {
		n = n*10 + int(data[end]-'0')
	}
	if end == i+len(key) {
		return -1, end
	}
	return n, end
}

// loadHist is a log-linear histogram of nanoseconds (about 1.6 %
// resolution): values below 128 in buckets of their own, above with 64
// buckets for each power of two.
type loadHist struct {
	n     [64*40 + 128]uint32
	count uint64
	sum   int64
	max   int64
}

func (h *loadHist) add(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.count++
	h.sum += ns
	h.max = max(h.max, ns)
	h.n[histBucket(uint64(ns))]++
}

func histBucket(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 128)
	return min(shift*64+int(v>>shift), 64*40+127)
}

// histUpper is the largest value of bucket i.
func histUpper(i int) int64 {
	if i < 128 {
		return int64(i)
	}
	shift := (i - 64) / 64
	m := int64(i - shift*64)
	return (m+1)<<shift - 1
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *loadHist) quantile(q float64) int64 {
	if h.count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.count))
	if rank >= h.count {
		rank = h.count - 1
	}
	var seen uint64
	for i, c := range h.n {
		seen += uint64(c)
		if seen > rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}

func TestNumAfter(t *testing.T) {
	key := []byte(`"agents":["a`)
	for _, tt := range []struct {
		data     string
		at, want int
	}{
		{`{"call":"c12","agents":["a7"]}`, 14, 7},        // at the hint
		{`{"call":"c12","agents":["a7"]}`, 3, 7},         // found by searching
		{`{"call":"c12","agents":["a70","a8"]}`, 99, 70}, // a hint past the end
		{`{"call":"c12","agents":["ax"]}`, 14, -1},       // no digits
		{`{"call":"c12"}`, 14, -1},                       // no key
	} {
		if got, _ := numAfter([]byte(tt.data), key, tt.at); got != tt.want {
			t.Errorf("numAfter(%s, at %d) = %d, want %d", tt.data, tt.at, got, tt.want)
		}
	}
}

// BenchmarkLoadedSnapshot: encoding the whole state of the busy center of
// BenchmarkRoutingLoad (1,000 agents, ~900 calls in conversation, ~600
// waiting), as a Raft snapshot and every checkpoint of the state check
// (cluster/statecheck.go) do on the apply path, and its SHA-256.
func BenchmarkLoadedSnapshot(b *testing.B) {
	r := newLoadRun(b)
	r.run(loadWarmup)
	snap, err := r.e.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(snap)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r.e.Hash() == "" {
			b.Fatal("no hash")
		}
	}
	b.ReportMetric(float64(len(snap)), "state-bytes")
}
