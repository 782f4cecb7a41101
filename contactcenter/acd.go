package contactcenter

import "math/bits"

// Routing (ACD).
//
// Routing is greedy and runs at the end of every applied command (settle):
// every agent that may have become free and every queue that may have
// gained a call was marked pending during the command, in the order it
// happened. Agents are served first — each takes the best call it may
// have (its personal queue first, then across its general queues the call
// of highest caller priority, longest waiting) — then each pending queue
// offers its waiting calls, in order, to its free agents according to its
// strategy. The result is work-conserving: after every command no waiting
// call has a free agent that could take it (checked by the invariants).

// Strategies as small integers (QueueState.strategy), for the hot path.
const (
	stratLongestIdle = iota
	stratRoundRobin
	stratRingAll
	stratFewestCalls
	stratSkills
)

func strategyCode(s string) int {
	switch s {
	case "round-robin":
		return stratRoundRobin
	case "ring-all":
		return stratRingAll
	case "fewest-calls":
		return stratFewestCalls
	case "skills":
		return stratSkills
	}
	return stratLongestIdle
}

// eligible reports whether agent a has the skills call c (in queue q)
// requires. It is the rule as stated; routing evaluates it in compiled
// form (AgentState.meets, skills.go), and the invariants check the result
// against it.
func eligible(a *AgentState, c *Call, q *QueueState) bool {
	if len(q.conf.Skills) == 0 && len(c.Skills) == 0 {
		return true
	}
	for s, lvl := range q.conf.Skills {
		if a.conf.Skills[s] < lvl {
			return false
		}
	}
	for s, lvl := range c.Skills {
		if a.conf.Skills[s] < lvl {
			return false
		}
	}
	return true
}

// skillScore sums the agent's levels in the skills the call requires (as
// stated; routing uses AgentState.score).
func skillScore(a *AgentState, c *Call, q *QueueState) int {
	if len(q.conf.Skills) == 0 && len(c.Skills) == 0 {
		return 0 // nothing required: every agent scores 0
	}
	n := 0
	for s := range q.conf.Skills {
		n += a.conf.Skills[s]
	}
	for s := range c.Skills {
		if _, dup := q.conf.Skills[s]; !dup {
			n += a.conf.Skills[s]
		}
	}
	return n
}

// Settled pairs. Most of routing's work under load would be checking
// (waiting call, free agent) pairs that were checked before and have not
// changed: a hang-up frees one agent, and each of its queues is routed
// again, every waiting call against every free member. Eligibility
// depends only on the configuration and the call, so a pair found
// ineligible stays so until the next config.apply. Each queue therefore
// records, when routeQueue has been through it, the members that were
// free then (QueueState.settled) and marks the calls still waiting
// (waiting.settled): none of those members is eligible for any of those
// calls (each call was passed over because no member free at that moment
// was eligible, and while routeQueue runs members only stop being free;
// a pass cut short because nobody was free records nobody). A call that
// enters the queue afterwards is unmarked (placeInQueue); config.apply
// and Restore forget everything (syncRouting). routeQueue then checks a
// marked call only against the free members not recorded — usually the
// one agent just freed — and routeAgent skips the marked calls of a queue
// that recorded its agent. Nothing else changes: the members skipped are
// exactly ones the full scan would have found ineligible, so the same
// agent is chosen by the same strategy in the same order.

// syncRouting rebuilds routing's derived state after syncRuntime has
// rebuilt the members: interned skills, the agents' levels, the queues'
// and waiting calls' compiled requirements, the waiting calls as
// pointers, and no settled pairs.
//
// queues and agents are the IDs of st.Queues and st.Agents, sorted.
func (e *Engine) syncRouting(queues, agents []string) {
	st := e.st
	e.internSkills()
	for _, id := range queues {
		q := st.Queues[id]
		e.compileQueue(q)
		q.settled = q.settled[:0]
		q.pended = q.pended.sized(len(q.members))
		q.dup = false
		var calls []*Call
		if ids := q.Waiting.restored; ids != nil { // a decoded snapshot
			for _, cid := range ids {
				if c := st.Calls[cid]; c != nil {
					calls = append(calls, c)
				}
			}
		} else {
			calls = q.Waiting.calls(nil)
		}
		q.Waiting.reset()
		for _, c := range calls {
			q.Waiting.insert(waiting{c: c, need: e.compileNeed(c, q)})
		}
	}
	for _, id := range agents {
		a := st.Agents[id]
		e.compileAgent(a)
		a.qidx = a.qidx[:0]
		for range a.queues {
			a.qidx = append(a.qidx, -1)
		}
	}
	// a.qidx[j]: a's (first) index in the members of a.queues[j].
	for _, q := range st.Queues {
		for k, a := range q.members {
			first := true
			for j, x := range a.queues {
				if x == q && a.qidx[j] < 0 {
					a.qidx[j] = k
				} else if x == q {
					first = false
				}
			}
			if !first {
				q.dup = true // an agent listed twice (not from a validated document)
			}
		}
	}
}

// indexQueue is the index of q in qs (an agent's queues), or -1.
func indexQueue(qs []*QueueState, q *QueueState) int {
	for i, x := range qs {
		if x == q {
			return i
		}
	}
	return -1
}

// settle routes until nothing more can be offered.
func (e *Engine) settle() {
	if e.settleRef != nil {
		e.settleRef(e)
		return
	}
	for i := 0; i < len(e.pendA); i++ {
		a := e.pendA[i]
		a.pend = false
		e.routeAgent(a)
		if a.generalOK() {
			// Still free: its queues may hold calls it skipped (offered
			// to it before); let the strategies decide. Its queues note
			// it (QueueState.pended): routeQueue looks for free members
			// only among those it recorded free and those noted since.
			for j, q := range a.queues {
				if k := a.qidx[j]; k >= 0 && k>>6 < len(q.pended) {
					q.pended.add(k)
				}
				if q.Waiting.Len() > 0 {
					e.pendQueue(q)
				}
			}
		}
	}
	for i := 0; i < len(e.pendQ); i++ {
		q := e.pendQ[i]
		q.pend = false
		e.routeQueue(q)
	}
	e.pendA, e.pendQ = e.pendA[:0], e.pendQ[:0]
}

// routeAgent offers a free agent the best call it may take.
func (e *Engine) routeAgent(a *AgentState) {
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
	for j, q := range a.queues {
		l := &q.Waiting
		if l.Len() == 0 {
			continue
		}
		// Recorded free by q: ineligible for q's settled calls.
		known := len(q.settled) > 0 && a.qidx[j] >= 0 && q.settled.has(a.qidx[j])
	scan:
		for _, items := range l.b {
			for i := range items {
				w := &items[i]
				c := w.c
				if best != nil && !before(c, best) {
					break scan // the rest of q comes after best too
				}
				if (known && l.settled(w)) || c.missed(a.ID) || !a.meets(w.need) {
					continue
				}
				best, bestQ = c, q
				break scan
			}
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

// routeQueue offers q's waiting calls, in order, to its free agents.
// Each call considers the members free at that moment (in id order): an
// agent offered a call stops being free, and nothing here frees one, so
// this is the same as narrowing one set of free members as offers go
// out. The scan that finds the free members chooses for the first call
// on the way. A settled call (see above) considers only the free members
// q has not recorded; the others are not eligible for it.
//
// The scan looks only at the members q recorded free and those noted
// since (QueueState.pended), when q has a record: a member that became
// free since was marked for routing (pendAgent — every way of becoming
// free marks the agent, which is what routing relies on anyway) and,
// still free after routeAgent, noted in its queues by settle; the
// others are still busy. (Routing only takes agents, so one free after
// routeAgent stays free until the queues are routed.) Without a record (after config.apply or Restore) or with a
// member listed twice it looks at every member.
func (e *Engine) routeQueue(q *QueueState) {
	l := &q.Waiting
	if l.Len() == 0 {
		return
	}
	n := len(q.members)
	free, unknown := e.free.sized(n), e.unknown.sized(n)
	e.free, e.unknown = free, unknown
	recorded := len(q.settled) == len(free) // q.settled is of these members
	var look memberSet                      // nil: every member
	if recorded && !q.dup && len(q.pended) == len(free) {
		look = e.look.sized(n)
		e.look = look
		for x := range look {
			look[x] = q.settled[x] | q.pended[x]
		}
	}
	ringAll := q.strategy == stratRingAll
	scanned := false
buckets: // the calls in offer order; an offer takes its call out of l
	for bk := range l.b {
		for i := 0; i < len(l.b[bk]); {
			w := &l.b[bk][i]
			c, need := w.c, w.need
			restricted := recorded && l.settled(w)
			k := fromSets
			cands := e.cands[:0]
			listed := false // cands holds the candidates
			if !scanned {
				scanned = true
				if ringAll {
					cands = ringAllFree(q, look, free, restricted, cands)
					listed = true
				} else {
					k = scanFree(q, c, need, free, look, restricted)
				}
				if recorded {
					for x := range free {
						unknown[x] = free[x] &^ q.settled[x]
					}
				} else {
					copy(unknown, free)
				}
			}
			if free.empty() {
				break buckets // nobody is free: nothing more to offer
			}
			if k == fromSets {
				if !listed {
					set := free
					if restricted {
						set = unknown
					}
					for x, word := range set {
						for ; word != 0; word &= word - 1 {
							cands = append(cands, x<<6+bits.TrailingZeros64(word))
						}
					}
				}
				e.cands = cands
				if ringAll {
					ks := ringAllOf(q, c, need, cands)
					if len(ks) == 0 {
						i++
						continue
					}
					group := e.scratch[:0]
					for _, k := range ks {
						group = append(group, q.members[k])
					}
					e.detach(c)
					e.offer(c, OriginQueue, q, group...)
					for j, k := range ks {
						e.unfree(q, group[j], k)
					}
					clear(group)
					e.scratch = group[:0]
					continue
				}
				k = pick(q, c, need, cands)
			}
			if k < 0 {
				i++
				continue
			}
			a := q.members[k]
			e.detach(c)
			if q.strategy == stratRoundRobin {
				q.RR = a.ID
			}
			e.offer(c, OriginQueue, q, a)
			e.unfree(q, a, k)
		}
	}
	// Every call left was passed over with no free member eligible.
	q.settled = append(q.settled[:0], free...)
	clear(q.pended)
	l.settleAll()
}

// fromSets: scanFree has not chosen; choose from the sets of free members.
const fromSets = -2

// scanFree adds q's free members to free and picks among them
// (restricted: those not recorded in q.settled) for c as pick does, on
// the way: a member index, -1 for none, or fromSets when only members who
// missed c are eligible (rare: pick, which handles it, decides). It looks
// at the members in look (nil: every member), in id order.
func scanFree(q *QueueState, c *Call, need []skillNeed, free, look memberSet, restricted bool) int {
	s := freeScan{q: q, c: c, need: need, free: free, restricted: restricted, best: -1}
	if look == nil {
		for k, a := range q.members {
			if a.generalOK() {
				s.add(k, a)
			}
		}
	} else {
		for x, word := range look {
			for ; word != 0; word &= word - 1 {
				k := x<<6 + bits.TrailingZeros64(word)
				if a := q.members[k]; a.generalOK() {
					s.add(k, a)
				}
			}
		}
	}
	if s.best < 0 && s.missed {
		return fromSets
	}
	return s.best
}

// freeScan is scanFree's choice so far.
type freeScan struct {
	q          *QueueState
	c          *Call
	need       []skillNeed
	free       memberSet
	restricted bool
	best       int
	bestScore  int
	bestA      *AgentState
	missed     bool
}

// add counts free member k (agent a) and considers it for the call.
func (s *freeScan) add(k int, a *AgentState) {
	s.free.add(k)
	if (s.restricted && s.q.settled.has(k)) || !a.meets(s.need) {
		return
	}
	if len(s.c.Missed) > 0 && s.c.missed(a.ID) {
		s.missed = true
		return
	}
	if s.best < 0 {
		s.best, s.bestA = k, a
		if s.q.strategy == stratSkills {
			s.bestScore = a.score(s.need)
		}
		return
	}
	if better(s.q, s.need, a, s.bestA, &s.bestScore) {
		s.best, s.bestA = k, a
	}
}

// ringAllFree adds q's free members to free and appends to cands those a
// ring-all offer may go to (restricted: those not recorded in
// q.settled), in id order. It looks at the members in look (nil: every
// member).
func ringAllFree(q *QueueState, look, free memberSet, restricted bool, cands []int) []int {
	if look == nil {
		for k, a := range q.members {
			if a.generalOK() {
				free.add(k)
				if !restricted || !q.settled.has(k) {
					cands = append(cands, k)
				}
			}
		}
		return cands
	}
	for x, word := range look {
		for ; word != 0; word &= word - 1 {
			k := x<<6 + bits.TrailingZeros64(word)
			if q.members[k].generalOK() {
				free.add(k)
				if !restricted || !q.settled.has(k) {
					cands = append(cands, k)
				}
			}
		}
	}
	return cands
}

// ringAllOf narrows cands (member indexes, in id order) in place to
// those ring-all rings for c: the eligible who have not missed it, else
// the eligible who have.
func ringAllOf(q *QueueState, c *Call, need []skillNeed, cands []int) []int {
	ks := cands[:0]
	for _, k := range cands {
		if a := q.members[k]; a.meets(need) && (len(c.Missed) == 0 || !c.missed(a.ID)) {
			ks = append(ks, k)
		}
	}
	if len(ks) > 0 || len(c.Missed) == 0 {
		return ks
	}
	// Nobody who has not missed it: cands is intact (ks is empty), and
	// every eligible one has missed it.
	for _, k := range cands {
		if q.members[k].meets(need) {
			ks = append(ks, k)
		}
	}
	return ks
}

// pick chooses, by q's strategy, the member of cands (indexes, in id
// order) to offer c: the best of those eligible who have not missed it,
// else the best of those who have (they are offered it again only when
// nobody else can take it). It returns the member's index, or -1.
func pick(q *QueueState, c *Call, need []skillNeed, cands []int) int {
	best, bestScore := -1, 0
	var bestA *AgentState
	missed := false // an eligible candidate has missed c
	for _, k := range cands {
		a := q.members[k]
		if !a.meets(need) {
			continue
		}
		if len(c.Missed) > 0 && c.missed(a.ID) {
			missed = true
			continue
		}
		if best < 0 {
			best, bestA = k, a
			if q.strategy == stratSkills {
				bestScore = a.score(need)
			}
			continue
		}
		if better(q, need, a, bestA, &bestScore) {
			best, bestA = k, a
		}
	}
	if best >= 0 || !missed {
		return best
	}
	// Only agents who missed c: the best of them.
	for _, k := range cands {
		a := q.members[k]
		if !a.meets(need) {
			continue
		}
		if best < 0 {
			best, bestA = k, a
			if q.strategy == stratSkills {
				bestScore = a.score(need)
			}
			continue
		}
		if better(q, need, a, bestA, &bestScore) {
			best, bestA = k, a
		}
	}
	return best
}

// unfree takes agent a (member k, -1: look it up), just offered a call,
// out of the free members being routed (e.free and e.unknown).
func (e *Engine) unfree(q *QueueState, a *AgentState, k int) {
	if !q.dup {
		if k < 0 {
			k = a.qidx[indexQueue(a.queues, q)]
		}
		e.free.del(k)
		e.unknown.del(k)
		return
	}
	for k, m := range q.members {
		if m == a {
			e.free.del(k)
			e.unknown.del(k)
		}
	}
}

// better reports whether agent a beats the current best b for call c
// under q's strategy (members are scanned in agent id order, so ties keep
// the lower id).
func better(q *QueueState, need []skillNeed, a, b *AgentState, bestScore *int) bool {
	switch q.strategy {
	case stratRoundRobin:
		// The first agent after the cursor, cyclically, in id order.
		ka, kb := a.ID > q.RR, b.ID > q.RR
		if ka != kb {
			return ka
		}
		return a.ID < b.ID
	case stratFewestCalls:
		if a.Handled != b.Handled {
			return a.Handled < b.Handled
		}
	case stratSkills:
		s := a.score(need)
		if s != *bestScore {
			if s > *bestScore {
				*bestScore = s
				return true
			}
			return false
		}
	}
	return a.IdleSince < b.IdleSince
}

// ringTimeout is how long an offer from q (nil: personal) rings.
func (e *Engine) ringTimeout(q *QueueState) int64 {
	s := e.st.Config.Settings.RingTimeoutSeconds
	if q != nil && q.conf.RingTimeoutSeconds > 0 {
		s = q.conf.RingTimeoutSeconds
	}
	return int64(s) * 1e9
}

// offer rings call c (detached) on agents. origin says where it waits.
func (e *Engine) offer(c *Call, origin string, q *QueueState, agents ...*AgentState) {
	c.Place, c.Origin, c.State = PlaceRinging, origin, ""
	c.Deadline = e.now + e.ringTimeout(q)
	e.timed[c.ID] = struct{}{}
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
		a.Offer = c.ID
	}
	c.Offered = ids
	ev := OfferedEvent{Call: c.ID, Agents: ids, Number: c.Number, Name: c.Name, Note: c.Note, RingUntil: c.Deadline}
	if origin == OriginQueue {
		q.Offering++
		q.Dirty = true
		ev.Queue = q.ID
		c.Agent = ""
	} else {
		ev.Personal = true
		c.Agent = agents[0].ID
	}
	e.evBuf = ev.AppendJSON(e.evBuf)
	e.emitted(EvCallOffered)
}

// backToOrigin puts a ringing call (already detached from its agents)
// back where it waited, keeping its position.
func (e *Engine) backToOrigin(c *Call, origin, owner string) {
	if origin == OriginQueue {
		e.placeInQueue(c, e.st.Queues[c.Queue])
		return
	}
	e.placeInPersonal(c, e.st.Agents[owner])
}

// withdraw stops a ringing call ringing anywhere and puts it back where it
// waited (not counted as unanswered).
func (e *Engine) withdraw(c *Call, reason string) {
	origin, owner, agents := c.Origin, c.Agent, c.Offered
	e.detach(c)
	e.backToOrigin(c, origin, owner)
	e.emit(EvCallOfferWithdrawn, WithdrawnEvent{Call: c.ID, Agents: agents, Reason: reason})
}

// withdrawAgent stops c ringing on agent a only; when nobody else rings
// it goes back where it waited.
func (e *Engine) withdrawAgent(c *Call, a *AgentState, reason string) {
	if len(c.Offered) == 1 {
		e.withdraw(c, reason)
		return
	}
	c.Offered = removeID(append([]string(nil), c.Offered...), a.ID)
	a.Offer = ""
	e.pendAgent(a)
	e.emit(EvCallOfferWithdrawn, WithdrawnEvent{Call: c.ID, Agents: []string{a.ID}, Reason: reason})
}

// ringOut handles an offer that rang out on agent a (or was rejected):
// the agent is remembered as having missed the call, and the call goes
// back where it waited once nobody rings it any more.
func (e *Engine) ringOut(c *Call, a *AgentState, rejected bool) {
	if !c.missed(a.ID) {
		c.Missed = append(c.Missed, a.ID)
	}
	if rejected {
		e.history(a, c, OpReject, 0, "")
		e.emit(EvCallRejected, CallAgentEvent{Call: c.ID, Agent: a.ID})
	} else {
		e.history(a, c, OpMissed, 0, "")
		if c.Origin == OriginQueue {
			q := e.st.Queues[c.Queue]
			q.Stats.NoAnswer++
			q.Dirty = true
		}
		e.emit(EvCallNoAnswer, CallAgentEvent{Call: c.ID, Agent: a.ID})
	}
	if len(c.Offered) > 1 {
		c.Offered = removeID(append([]string(nil), c.Offered...), a.ID)
		a.Offer = ""
		e.pendAgent(a)
	} else {
		origin, owner := c.Origin, c.Agent
		e.detach(c)
		e.backToOrigin(c, origin, owner)
	}
	if !rejected {
		e.noAnswer(a)
	}
}
