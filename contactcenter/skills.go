package contactcenter

// Compiled skills: the routing hot path's form of the eligibility rule.
//
// The rule (eligible, skillScore in acd.go) is stated on the
// configuration's maps: an agent is eligible for a call waiting in queue q
// when it has every skill q and the call require at least at the
// required level; the skills strategy scores it by the sum of its levels
// in those skills. Evaluated that way every (call, agent) pair costs two
// map ranges and a string-hashed lookup per skill. So syncRouting (run by
// syncRuntime after config.apply and Restore) interns the configuration's
// skills (agents' and queues') to small integers and
// gives every agent its levels as a slice indexed by them, and every call
// entering a queue gets its requirement compiled once: the union of the
// queue's and its own skills, each at the higher of the two levels, as a
// short list of (skill, level). Then
//
//   - eligible ⇔ the agent's level in each listed skill is at least the
//     listed level (a skill both require must meet both levels: the
//     higher), and
//   - the skills score = the sum of the agent's levels in the listed
//     skills (the union counts a skill both require once, as skillScore
//     does).
//
// A call skill that no agent or queue of the configuration names is a
// level 0 for every agent: required at level ≥ 1 it makes the call
// eligible for nobody (impossible), at a level ≤ 0 it neither restricts
// nor scores and is left out. The compiled forms are derived state: never
// snapshotted, rebuilt by syncRouting, and compiled by placeInQueue for
// every call entering a queue (QueueState.wait).

// skillNeed is one compiled requirement: interned skill, minimum level
// (levels are validated to 1..MaxSkillLevel). A call's list holds
// impossible — {-1, 0} — alone when it requires a skill no agent has.
type skillNeed struct {
	skill int32
	level int32
}

var impossible = skillNeed{skill: -1}

// internSkills numbers every skill the configuration names (agents' and
// queues'), in sorted order.
func (e *Engine) internSkills() {
	cfg := &e.st.Config
	seen := map[string]bool{}
	for _, a := range cfg.Agents {
		for s := range a.Skills {
			seen[s] = true
		}
	}
	for _, q := range cfg.Queues {
		for s := range q.Skills {
			seen[s] = true
		}
	}
	names := sortedKeys(seen)
	e.skillIDs = make(map[string]int32, len(names))
	for i, s := range names {
		e.skillIDs[s] = int32(i)
		// A call's skills decoded by the fast path reuse these strings.
		e.ids[s] = s
	}
}

// compileAgent gives a its level in every interned skill (0: none).
func (e *Engine) compileAgent(a *AgentState) {
	n := len(e.skillIDs)
	if cap(a.levels) >= n {
		a.levels = a.levels[:n]
		clear(a.levels)
	} else {
		a.levels = make([]int32, n)
	}
	for s, lvl := range a.conf.Skills {
		a.levels[e.skillIDs[s]] = int32(lvl)
	}
}

// compileQueue compiles q's own requirement (sorted by skill).
func (e *Engine) compileQueue(q *QueueState) {
	q.need = q.need[:0]
	for _, s := range sortedKeys(q.conf.Skills) {
		q.need = append(q.need, skillNeed{e.skillIDs[s], int32(q.conf.Skills[s])})
	}
}

// compileNeed compiles the requirement of c waiting in q: q's merged
// with the call's own. A call without skills shares q.need.
func (e *Engine) compileNeed(c *Call, q *QueueState) []skillNeed {
	if len(c.Skills) == 0 {
		return q.need
	}
	var list []skillNeed
	if n := len(e.needs); n > 0 && cap(e.needs[n-1]) >= len(q.need)+len(c.Skills) {
		list = append(e.needs[n-1][:0], q.need...)
		e.needs[n-1] = nil
		e.needs = e.needs[:n-1]
	} else {
		list = make([]skillNeed, len(q.need), max(len(q.need)+len(c.Skills), 4))
		copy(list, q.need)
	}
	for s, lvl := range c.Skills {
		id, ok := e.skillIDs[s]
		if !ok {
			if lvl > 0 {
				return append(list[:0], impossible)
			}
			continue
		}
		merged := false
		for i := range list {
			if list[i].skill == id {
				list[i].level = max(list[i].level, int32(lvl))
				merged = true
				break
			}
		}
		if !merged {
			list = append(list, skillNeed{id, int32(lvl)})
		}
	}
	return list
}

// recycleNeed keeps the compiled requirement of a call leaving q's
// waiting list for the next call's (a call's own list only: q.need, which
// calls without skills share, stays).
func (e *Engine) recycleNeed(q *QueueState, need []skillNeed) {
	if cap(need) == 0 || (cap(q.need) > 0 && &need[:1][0] == &q.need[:1][0]) || len(e.needs) >= 256 {
		return
	}
	e.needs = append(e.needs, need)
}

// meets is eligible(a, c, q) for a call c waiting in q, on the compiled
// requirement need = compileNeed(c, q).
func (a *AgentState) meets(need []skillNeed) bool {
	if len(need) == 0 {
		return true // without touching a.levels (another cache line)
	}
	lv := a.levels
	for _, r := range need {
		if r.skill < 0 || lv[r.skill] < r.level {
			return false
		}
	}
	return true
}

// score is skillScore(a, c, q), on need = compileNeed(c, q).
func (a *AgentState) score(need []skillNeed) int {
	n := 0
	lv := a.levels
	for _, r := range need {
		n += int(lv[r.skill])
	}
	return n
}

// memberSet is a set of a queue's members, by their index in
// QueueState.members (bit i of word i/64).
type memberSet []uint64

func (s memberSet) has(i int) bool { return s[i>>6]&(1<<(uint(i)&63)) != 0 }
func (s memberSet) add(i int)      { s[i>>6] |= 1 << (uint(i) & 63) }
func (s memberSet) del(i int)      { s[i>>6] &^= 1 << (uint(i) & 63) }

func (s memberSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// sized returns s resized to hold n members, emptied.
func (s memberSet) sized(n int) memberSet {
	w := (n + 63) >> 6
	if cap(s) < w {
		return make(memberSet, w)
	}
	s = s[:w]
	clear(s)
	return s
}
