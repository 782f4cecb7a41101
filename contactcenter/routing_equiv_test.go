package contactcenter

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// Routing equivalence. The ACD's hot path (acd.go, skills.go) works on
// derived, incrementally kept indexes — interned skills, compiled
// requirements, the queues' waiting calls as pointers, the free members a
// queue last found ineligible for its waiting calls — instead of
// evaluating the selection rules from scratch. These tests hold it to the
// rules:
//
//   - TestRoutingGolden replays fixed random command sequences of routing
//     workloads (routeWorkload) and compares a digest of every event
//     (config.* events aside) with testdata/routing_golden.txt, recorded
//     with the engine as it was before the indexes existed (commit
//     7fae74d). Same digest: the same decisions, in the same order, with
//     the same events.
//   - TestRoutingMatchesReference runs the workloads, and
//     TestRoutingMatchesReferenceRandom the random test's generator
//     (every command type), on two engines in lockstep: the engine as it
//     is, and one whose settle is referenceSettle below — the selection
//     rules evaluated from scratch on the state alone (maps, every member
//     of every queue, no derived index). Every command must give the same
//     result, error and events on both, and the states the same hash.

// referenceSettle is routing as DESIGN.md states it, evaluated from
// scratch: agents first (personal queue head, else the best call across
// its queues it is eligible for and has not missed), then each pending
// queue offers its waiting calls in order to its free eligible members by
// its strategy, preferring those who have not missed the call.
func referenceSettle(e *Engine) {
	for i := 0; i < len(e.pendA); i++ {
		a := e.pendA[i]
		a.pend = false
		refRouteAgent(e, a)
		if a.generalOK() {
			for _, q := range a.queues {
				if q.Waiting.Len() > 0 {
					e.pendQueue(q)
				}
			}
		}
	}
	for i := 0; i < len(e.pendQ); i++ {
		q := e.pendQ[i]
		q.pend = false
		refRouteQueue(e, q)
	}
	e.pendA, e.pendQ = e.pendA[:0], e.pendQ[:0]
}

func refRouteAgent(e *Engine, a *AgentState) {
	if !a.personalOK() {
		return
	}
	if len(a.Personal) > 0 {
		c := e.st.Calls[a.Personal[0]]
		e.detach(c)
		e.offer(c, OriginPersonal, nil, a)
		return
	}
	if a.State != StateConnected {
		return
	}
	var best *Call
	var bestQ *QueueState
	for _, q := range a.queues {
		for _, c := range q.Waiting.calls(nil) {
			if c.missed(a.ID) || !eligible(a, c, q) {
				continue
			}
			if best == nil || before(c, best) {
				best, bestQ = c, q
			}
			break // q's first such call is its best
		}
	}
	if best == nil {
		return
	}
	e.detach(best)
	if bestQ.strategy == stratRoundRobin {
		bestQ.RR = a.ID
	}
	e.offer(best, OriginQueue, bestQ, a)
}

func refRouteQueue(e *Engine, q *QueueState) {
	for i := 0; i < q.Waiting.Len(); {
		c := q.Waiting.at(i)
		var free, fresh, all []*AgentState
		for _, a := range q.members {
			if !a.generalOK() {
				continue
			}
			free = append(free, a)
			if eligible(a, c, q) {
				all = append(all, a)
				if !c.missed(a.ID) {
					fresh = append(fresh, a)
				}
			}
		}
		if len(free) == 0 {
			return
		}
		cands := fresh
		if len(cands) == 0 {
			cands = all // only agents who missed it: offered again
		}
		if len(cands) == 0 {
			i++
			continue
		}
		e.detach(c)
		if q.strategy == stratRingAll {
			e.offer(c, OriginQueue, q, cands...)
			continue
		}
		a := refBest(q, c, cands)
		if q.strategy == stratRoundRobin {
			q.RR = a.ID
		}
		e.offer(c, OriginQueue, q, a)
	}
}

// refBest chooses among candidates (in id order) by q's strategy.
func refBest(q *QueueState, c *Call, cands []*AgentState) *AgentState {
	key := func(a *AgentState) []int64 {
		switch q.strategy {
		case stratRoundRobin:
			return nil // compared on ids below
		case stratFewestCalls:
			return []int64{int64(a.Handled), a.IdleSince}
		case stratSkills:
			return []int64{-int64(skillScore(a, c, q)), a.IdleSince}
		}
		return []int64{a.IdleSince}
	}
	if q.strategy == stratRoundRobin {
		// The first candidate after the cursor, else the first.
		for _, a := range cands {
			if a.ID > q.RR {
				return a
			}
		}
		return cands[0]
	}
	best, bk := cands[0], key(cands[0])
	for _, a := range cands[1:] {
		k := key(a)
		for j := range k {
			if k[j] != bk[j] {
				if k[j] < bk[j] {
					best, bk = a, k
				}
				break
			}
		}
	}
	return best
}

// routeSpec is a routing workload's contact center.
type routeSpec struct {
	name   string
	doc    func(variant int) string // variant > 0: a changed configuration
	steps  int
	seeds  []uint64
	agents int
	queues int
	// fill: calls arriving before the random part, so that the load run
	// starts busy.
	fill int
	// skills of the document (call requirements draw from them, plus
	// "zz", which no agent has).
	skills int
}

// denseDoc: 40 agents, 10 queues (each strategy twice), 6 skills; every
// agent in 2–4 queues with each skill at probability 0.6 (level 1..10),
// some with wrap-up and max_no_answer; a skills queue requires one or two
// skills. variant > 0 changes skills, queues, strategies of a few (a
// config.apply in the middle of a run).
func denseDoc(variant int) string {
	rng := rand.New(rand.NewPCG(uint64(variant)+100, 7))
	var b strings.Builder
	b.WriteString("settings: {ring_timeout_seconds: 8}\n")
	b.WriteString("queues:\n")
	for q := 0; q < 10; q++ {
		s := Strategies[(q+variant)%len(Strategies)]
		fmt.Fprintf(&b, "  - {id: q%d, strategy: %s", q, s)
		if s == "skills" || rng.IntN(4) == 0 {
			s1 := rng.IntN(6)
			fmt.Fprintf(&b, ", skills: {s%d: %d", s1, 1+rng.IntN(4))
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, ", s%d: %d", (s1+1+rng.IntN(5))%6, 1+rng.IntN(4))
			}
			b.WriteString("}")
		}
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ", ring_timeout_seconds: %d", 5+rng.IntN(10))
		}
		b.WriteString("}\n")
	}
	b.WriteString("agents:\n")
	for a := 0; a < 40; a++ {
		n := 2 + rng.IntN(3)
		fmt.Fprintf(&b, "  - {id: a%d, queues: [", a)
		seen := map[int]bool{}
		sep := ""
		for len(seen) < n {
			q := rng.IntN(10)
			if seen[q] {
				continue
			}
			seen[q] = true
			fmt.Fprintf(&b, "%sq%d", sep, q)
			sep = ", "
		}
		b.WriteString("], skills: {")
		sep = ""
		for s := 0; s < 6; s++ {
			if rng.IntN(10) < 6 {
				fmt.Fprintf(&b, "%ss%d: %d", sep, s, 1+rng.IntN(MaxSkillLevel))
				sep = ", "
			}
		}
		b.WriteString("}")
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ", wrap_up_seconds: %d", 1+rng.IntN(5))
		}
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ", max_no_answer: %d", 2+rng.IntN(2))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func routeSpecs(short bool) []routeSpec {
	dense := routeSpec{name: "dense", doc: denseDoc, steps: 20000, seeds: []uint64{1, 2, 3, 4}, agents: 40, queues: 10, skills: 6}
	load := routeSpec{name: "load", doc: func(variant int) string {
		if variant == 0 {
			return loadDoc()
		}
		// The load document with the skills of a few agents changed.
		d := loadDoc()
		for a := variant; a < loadAgents; a += 97 {
			old := fmt.Sprintf("  - {id: a%d, queues: [q%d, q%d, q%d], skills: {", a, a%100, (a+33)%100, (a+67)%100)
			i := strings.Index(d, old)
			j := i + strings.IndexByte(d[i:], '\n')
			d = d[:i] + old + fmt.Sprintf("s%d: %d}}", a%loadSkills, 1+a%MaxSkillLevel) + d[j:]
		}
		return d
	}, steps: 12000, seeds: []uint64{1, 2}, agents: loadAgents, queues: loadQueues, fill: 1200, skills: loadSkills}
	if short {
		dense.steps, dense.seeds = 5000, dense.seeds[:2]
		load.steps, load.seeds = 4000, load.seeds[:1]
	}
	return []routeSpec{dense, load}
}

// routeWorkload drives one engine with random routing commands built from
// what it sees of the state: calls arriving in the queues (priorities,
// skills with levels, sometimes a skill nobody has) and personal queues,
// offers answered and rejected, conversations hung up, callers giving
// up, ticks (ring-outs, wrap-up ends), agents pausing, logging in and
// out, a configuration change and a snapshot restore halfway through.
type routeWorkload struct {
	t      testing.TB
	spec   routeSpec
	e      *Engine
	r      *rand.Rand
	now    int64
	idx    uint64
	next   int
	agents []string
	queues []string
	step   int
	sum    hash.Hash
	// twin, when set, follows every command (the reference engine of
	// TestRoutingMatchesReference), which must give the same result,
	// error and events.
	twin *Engine

	decisions, accepted, refused int
}

func newRouteWorkload(t testing.TB, spec routeSpec, seed uint64, e *Engine) *routeWorkload {
	w := &routeWorkload{t: t, spec: spec, e: e, r: rand.New(rand.NewPCG(seed, 116)), now: t0.UnixNano(), sum: sha256.New()}
	for a := 0; a < spec.agents; a++ {
		w.agents = append(w.agents, fmt.Sprintf("a%d", a))
	}
	for q := 0; q < spec.queues; q++ {
		w.queues = append(w.queues, fmt.Sprintf("q%d", q))
	}
	return w
}

func (w *routeWorkload) config(variant int) {
	d, err := ParseDocument([]byte(w.spec.doc(variant)))
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := json.Marshal(ApplyRequest{Document: d})
	if err != nil {
		w.t.Fatal(err)
	}
	w.apply(TypeConfigApply, b)
}

// apply applies one command and adds its events to the digest.
func (w *routeWorkload) apply(typ string, payload []byte) {
	w.idx++
	env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: w.now, ID: fmt.Sprint("r", w.idx), Payload: payload}
	em := command.NewEmitter(w.idx, env)
	res, err := w.e.Apply(env, em)
	fmt.Fprintf(w.sum, "%s\x00", typ)
	if err != nil {
		w.refused++
		w.sum.Write([]byte("refused\x00"))
	} else {
		w.accepted++
	}
	for _, ev := range em.Events() {
		if strings.HasPrefix(ev.Type, "config.") {
			continue
		}
		if ev.Type == EvCallOffered {
			w.decisions++
		}
		fmt.Fprintf(w.sum, "%s\x00%s\x00", ev.Type, ev.Data)
	}
	if w.twin != nil {
		em2 := command.NewEmitter(w.idx, env)
		res2, err2 := w.twin.Apply(env, em2)
		sameOutcome(w.t, w.spec.name, w.step, env, res, err, em.Events(), res2, err2, em2.Events())
	}
}

// sameOutcome fails the test unless two engines gave a command the same
// result, error and events.
func sameOutcome(t testing.TB, run string, step int, env command.Envelope, res any, err error, evs []command.Event, res2 any, err2 error, evs2 []command.Event) {
	t.Helper()
	where := fmt.Sprintf("%s step %d", run, step)
	if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
		t.Fatalf("%s %s %s: errors differ: %v / reference %v", where, env.Type, env.Payload, err, err2)
	}
	if !reflect.DeepEqual(res, res2) {
		t.Fatalf("%s %s %s: results differ:\n%+v\nreference %+v", where, env.Type, env.Payload, res, res2)
	}
	if len(evs) != len(evs2) {
		t.Fatalf("%s %s %s: %d events, reference %d:\n%s\nreference:\n%s", where, env.Type, env.Payload, len(evs), len(evs2), eventList(evs), eventList(evs2))
	}
	for i := range evs {
		if evs[i].Type != evs2[i].Type || !bytes.Equal(evs[i].Data, evs2[i].Data) {
			t.Fatalf("%s %s %s: event %d differs:\n%s\nreference:\n%s", where, env.Type, env.Payload, i, eventList(evs), eventList(evs2))
		}
	}
}

func eventList(evs []command.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s\n", ev.Type, ev.Data)
	}
	return b.String()
}

// newReferenceEngine is an engine whose settle is referenceSettle.
func newReferenceEngine() *Engine {
	e := New()
	e.settleRef = referenceSettle
	return e
}

func (w *routeWorkload) agentJSON(a string) []byte { return []byte(`{"agent":"` + a + `"}`) }

// incoming is a new call into a queue (or, sometimes, a personal queue).
func (w *routeWorkload) incoming(s *State) {
	w.next++
	id := fmt.Sprintf("c%d", w.next)
	num := fmt.Sprintf("+4416155%05d", w.r.IntN(100000))
	if w.r.IntN(20) == 0 {
		var in []string
		for _, a := range w.agents {
			if s.Agents[a].State != StateDisconnected {
				in = append(in, a)
			}
		}
		if len(in) > 0 {
			w.apply(TypeCallIncoming, fmt.Appendf(nil, `{"call":%q,"agent":%q,"number":%q}`, id, in[w.r.IntN(len(in))], num))
			return
		}
	}
	p := fmt.Sprintf(`{"call":%q,"queue":%q,"number":%q,"priority":%d`, id, w.queues[w.r.IntN(len(w.queues))], num, w.r.IntN(3))
	if n := w.r.IntN(4); n > 0 {
		p += `,"skills":{`
		seen := map[string]bool{}
		sep := ""
		for i := 0; i < n; i++ {
			sk := fmt.Sprintf("s%d", w.r.IntN(w.spec.skills))
			if w.r.IntN(40) == 0 {
				sk = "zz"
			}
			if seen[sk] {
				continue
			}
			seen[sk] = true
			p += fmt.Sprintf(`%s%q:%d`, sep, sk, 1+w.r.IntN(MaxSkillLevel))
			sep = ","
		}
		p += "}"
	}
	w.apply(TypeCallIncoming, []byte(p+"}"))
}

// pickAgent returns a random agent satisfying ok, or "".
func (w *routeWorkload) pickAgent(s *State, ok func(a *AgentState) bool) string {
	for try := 0; try < 2*len(w.agents); try++ {
		a := w.agents[w.r.IntN(len(w.agents))]
		if ok(s.Agents[a]) {
			return a
		}
	}
	return ""
}

// waitingCall returns a random call waiting or ringing for a queue, or "".
func (w *routeWorkload) waitingCall(s *State) string {
	for try := 0; try < 2*len(w.queues); try++ {
		q := s.Queues[w.queues[w.r.IntN(len(w.queues))]]
		if q.Waiting.Len() > 0 {
			return q.Waiting.at(w.r.IntN(q.Waiting.Len())).ID
		}
	}
	if a := w.pickAgent(s, func(a *AgentState) bool { return a.Offer != "" }); a != "" {
		return s.Agents[a].Offer
	}
	return ""
}

// run applies the workload: the configuration, every agent logged in,
// the fill, then spec.steps random commands (a configuration change at a
// third, a snapshot restored into a fresh engine at two thirds).
func (w *routeWorkload) run() {
	w.config(0)
	for _, a := range w.agents {
		w.apply(TypeAgentLogin, w.agentJSON(a))
		w.apply(TypeAgentLogin, w.agentJSON(a))
	}
	for i := 0; i < w.spec.fill; i++ {
		w.now += int64(time.Millisecond)
		w.incoming(w.e.st)
		w.answerAll()
	}
	for w.step = 0; w.step < w.spec.steps; w.step++ {
		w.now += int64(w.r.IntN(1500)) * int64(time.Millisecond)
		switch w.step {
		case w.spec.steps / 3:
			w.config(1 + w.r.IntN(5))
			continue
		case 2 * w.spec.steps / 3:
			snap, err := w.e.Snapshot()
			if err != nil {
				w.t.Fatal(err)
			}
			e := New()
			if err := e.Restore(snap); err != nil {
				w.t.Fatal(err)
			}
			w.e = e
			if w.twin != nil {
				snap2, err := w.twin.Snapshot()
				if err != nil {
					w.t.Fatal(err)
				}
				if !bytes.Equal(snap, snap2) {
					w.t.Fatalf("%s: the snapshots differ before the restore", w.spec.name)
				}
				w.twin = newReferenceEngine()
				if err := w.twin.Restore(snap2); err != nil {
					w.t.Fatal(err)
				}
			}
		}
		w.randomCommand(w.e.st)
	}
	if err := w.e.Check(); err != nil {
		w.t.Fatal(err)
	}
	if w.twin != nil && w.e.Hash() != w.twin.Hash() {
		w.t.Fatalf("%s: the states differ from the reference engine's at the end", w.spec.name)
	}
}

// answerAll answers every offer (the load's callers are answered at once).
func (w *routeWorkload) answerAll() {
	for _, a := range w.agents {
		if w.e.st.Agents[a].Offer != "" {
			w.apply(TypeCallAnswer, w.agentJSON(a))
		}
	}
}

func (w *routeWorkload) randomCommand(s *State) {
	busy := func(a *AgentState) bool { return a.Line1 != "" && a.Line2 == "" }
	offered := func(a *AgentState) bool { return a.Offer != "" }
	switch k := w.r.IntN(100); {
	case k < 30:
		w.incoming(s)
	case k < 55:
		if a := w.pickAgent(s, offered); a != "" {
			w.apply(TypeCallAnswer, w.agentJSON(a))
			return
		}
		w.incoming(s)
	case k < 60:
		if a := w.pickAgent(s, offered); a != "" {
			w.apply(TypeCallReject, w.agentJSON(a))
			return
		}
		w.incoming(s)
	case k < 82:
		if a := w.pickAgent(s, busy); a != "" {
			w.apply(TypeCallHangup, w.agentJSON(a))
			return
		}
		w.incoming(s)
	case k < 87:
		if c := w.waitingCall(s); c != "" {
			w.apply(TypeCallRemoteHangup, []byte(`{"call":"`+c+`"}`))
		}
	case k < 91:
		// Long enough, now and then, for ring timeouts and wrap-ups.
		w.now += int64(w.r.IntN(9000)) * int64(time.Millisecond)
		w.apply(TypeClockTick, nil)
	case k < 94:
		a := w.agents[w.r.IntN(len(w.agents))]
		if s.Agents[a].State == StateConnected {
			w.apply(TypeAgentPause, fmt.Appendf(nil, `{"agent":%q,"reason":"break"}`, a))
			return
		}
		w.apply(TypeAgentLogin, w.agentJSON(a))
	case k < 96:
		a := w.agents[w.r.IntN(len(w.agents))]
		w.apply(TypeAgentLogout, w.agentJSON(a))
	case k < 98:
		if a := w.pickAgent(s, func(a *AgentState) bool { return a.WrapUntil != 0 }); a != "" {
			w.apply(TypeAgentWrapUpEnd, w.agentJSON(a))
		}
	default:
		// A disconnected agent comes back (logins outnumber log-outs).
		if a := w.pickAgent(s, func(a *AgentState) bool { return a.State != StateConnected }); a != "" {
			w.apply(TypeAgentLogin, w.agentJSON(a))
		}
	}
}

// digest is the workload's result: the events digest, with counts.
func (w *routeWorkload) digest(seed uint64) string {
	return fmt.Sprintf("%s seed=%d steps=%d accepted=%d refused=%d decisions=%d sha256=%s",
		w.spec.name, seed, w.spec.steps, w.accepted, w.refused, w.decisions, hex.EncodeToString(w.sum.Sum(nil)))
}

const routingGoldenFile = "testdata/routing_golden.txt"

// TestRoutingGolden: the routing workloads give, event for event, what
// the engine gave before its routing indexes (testdata/routing_golden.txt,
// recorded at commit 7fae74d). TANDEM_ROUTING_GOLDEN=write rewrites the
// file — only for a deliberate change of routing behaviour.
func TestRoutingGolden(t *testing.T) {
	want := map[string]string{}
	if f, err := os.Open(routingGoldenFile); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			want[f[0]+" "+f[1]+" "+f[2]] = line
		}
		f.Close()
	}
	write := os.Getenv("TANDEM_ROUTING_GOLDEN") == "write"
	specs := routeSpecs(testing.Short())
	if write {
		specs = append(routeSpecs(true), routeSpecs(false)...)
	}
	var got []string
	for _, spec := range specs {
		for _, seed := range spec.seeds {
			w := newRouteWorkload(t, spec, seed, New())
			w.run()
			line := w.digest(seed)
			got = append(got, line)
			if write {
				continue
			}
			f := strings.Fields(line)
			key := f[0] + " " + f[1] + " " + f[2]
			if want[key] == "" {
				t.Errorf("no golden digest for %q in %s", key, routingGoldenFile)
				continue
			}
			if want[key] != line {
				t.Errorf("routing changed:\n got %s\nwant %s", line, want[key])
			}
			t.Log(line)
		}
	}
	if write {
		var b strings.Builder
		b.WriteString("# Digests of TestRoutingGolden's workloads (routing_equiv_test.go): the events of\n")
		b.WriteString("# fixed random routing command sequences, recorded with the engine before its routing indexes.\n")
		for _, l := range got {
			b.WriteString(l + "\n")
		}
		if err := os.MkdirAll(filepath.Dir(routingGoldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(routingGoldenFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", routingGoldenFile)
	}
}

// TestRoutingMatchesReference: the routing workloads (more seeds than the
// golden digests) give the same results and events on the engine and on
// the reference engine, command by command.
func TestRoutingMatchesReference(t *testing.T) {
	for _, spec := range routeSpecs(testing.Short()) {
		seeds := append([]uint64{}, spec.seeds...)
		for s := uint64(101); s < 103 && spec.name == "dense" && !testing.Short(); s++ {
			seeds = append(seeds, s)
		}
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed%d", spec.name, seed), func(t *testing.T) {
				w := newRouteWorkload(t, spec, seed, New())
				w.twin = newReferenceEngine()
				w.run()
				t.Log(w.digest(seed))
			})
		}
	}
}

// TestRoutingMatchesReferenceRandom: the random test's command sequences
// (every command type, invariants checked after each) give the same
// results and events on the engine and on the reference engine.
func TestRoutingMatchesReferenceRandom(t *testing.T) {
	steps, seeds := randomSteps, uint64(3*randomSeeds)
	if testing.Short() {
		steps, seeds = randomSteps/4, randomSeeds
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			h := newHarness(t, randomDoc)
			// TestRandomSequences checks the invariants and refusals of
			// these sequences after every step; here only at the end.
			h.check = false
			ref := newReferenceEngine()
			for _, env := range h.log {
				if _, err := ref.Apply(env, command.NewEmitter(0, env)); err != nil {
					t.Fatal(err)
				}
			}
			g := newRandomGen(t, seed, steps)
			accepted, offers := 0, 0
			for i := 0; i < steps; i++ {
				h.advance(time.Duration(g.r.IntN(2500)) * time.Millisecond)
				if i%600 == 599 {
					h.advance(24 * time.Hour)
				}
				h.e.View(func(s *State) { g.see(s, h.now, i) })
				typ, payload := g.command()
				env := h.env(typ, payload)
				res, err := h.applyEnv(env)
				em := command.NewEmitter(h.index, env)
				res2, err2 := ref.Apply(env, em)
				sameOutcome(t, fmt.Sprint("seed ", seed), i, env, res, err, h.events, res2, err2, em.Events())
				if err == nil {
					accepted++
					for _, ev := range h.events {
						if ev.Type == EvCallOffered {
							offers++
						}
					}
				}
			}
			t.Logf("seed %d: %d steps, %d accepted, %d offers", seed, steps, accepted, offers)
			if accepted < steps/4 || offers < steps/60 {
				t.Fatalf("the sequence exercised too little routing: %d accepted, %d offers", accepted, offers)
			}
			if err := h.e.Check(); err != nil {
				t.Fatal(err)
			}
			if h.e.Hash() != ref.Hash() {
				t.Fatal("the states differ from the reference engine's at the end")
			}
		})
	}
}
