package contactcenter

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
// requires.
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

// skillScore sums the agent's levels in the skills the call requires.
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

// settle routes until nothing more can be offered.
func (e *Engine) settle() {
	for i := 0; i < len(e.pendA); i++ {
		a := e.pendA[i]
		a.pend = false
		e.routeAgent(a)
		if a.generalOK() {
			// Still free: its queues may hold calls it skipped (offered
			// to it before); let the strategies decide.
			for _, q := range a.queues {
				if len(q.Waiting) > 0 {
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
	for _, q := range a.queues {
		for _, id := range q.Waiting {
			c := e.st.Calls[id]
			if best != nil && !before(c, best) {
				break // the rest of q comes after best too
			}
			if c.missed(a.ID) || !eligible(a, c, q) {
				continue
			}
			best, bestQ = c, q
			break
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
// this is the same as narrowing one list of free agents as offers go
// out, without building it.
func (e *Engine) routeQueue(q *QueueState) {
	for i := 0; i < len(q.Waiting); {
		c := e.st.Calls[q.Waiting[i]]
		if q.strategy == stratRingAll {
			group, free := e.candidates(q, c, e.scratch[:0])
			if !free {
				break
			}
			if len(group) == 0 {
				i++
				continue
			}
			e.detach(c)
			e.offer(c, OriginQueue, q, group...)
			clear(group)
			e.scratch = group[:0]
			continue
		}
		a, free := e.pick(q, c)
		if !free {
			break
		}
		if a == nil {
			i++
			continue
		}
		e.detach(c)
		if q.strategy == stratRoundRobin {
			q.RR = a.ID
		}
		e.offer(c, OriginQueue, q, a)
	}
}

// candidates appends to dst q's free members eligible for c, preferring
// those who have not missed it. free reports whether q has any free
// member at all.
func (e *Engine) candidates(q *QueueState, c *Call, dst []*AgentState) (group []*AgentState, free bool) {
	fresh := false
	for _, a := range q.members {
		if !a.generalOK() {
			continue
		}
		free = true
		if eligible(a, c, q) && !c.missed(a.ID) {
			fresh = true
			dst = append(dst, a)
		}
	}
	if fresh || !free {
		return dst, free
	}
	for _, a := range q.members {
		if a.generalOK() && eligible(a, c, q) {
			dst = append(dst, a)
		}
	}
	return dst, free
}

// pick chooses one of q's free members for c by q's strategy, or nil.
// free reports whether q has any free member at all.
func (e *Engine) pick(q *QueueState, c *Call) (best *AgentState, free bool) {
	for pass := 0; pass < 2; pass++ {
		bestScore := 0
		for _, a := range q.members {
			if !a.generalOK() {
				continue
			}
			free = true
			if !eligible(a, c, q) || (pass == 0 && c.missed(a.ID)) {
				continue
			}
			if best == nil {
				best = a
				if q.strategy == stratSkills {
					bestScore = skillScore(a, c, q)
				}
				continue
			}
			if better(q, c, a, best, &bestScore) {
				best = a
			}
		}
		if best != nil || !free || len(c.Missed) == 0 {
			return best, free
		}
	}
	return nil, free
}

// better reports whether agent a beats the current best b for call c
// under q's strategy (members are scanned in agent id order, so ties keep
// the lower id).
func better(q *QueueState, c *Call, a, b *AgentState, bestScore *int) bool {
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
		s := skillScore(a, c, q)
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
	e.ev.offered = ev
	e.emit(EvCallOffered, &e.ev.offered)
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
