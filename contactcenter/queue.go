package contactcenter

// QueueState is a general queue's runtime state.
type QueueState struct {
	ID string `json:"id"`
	// Waiting holds the calls waiting (not ringing), in offer order:
	// caller priority (high first), then time of entry, then entry order
	// (waitlist.go; encoded as their ids in that order).
	Waiting waitList `json:"waiting,omitzero"`
	// Offering counts the queue's calls ringing on agents. The queue's
	// waiting counter is len(Waiting)+Offering.
	Offering int `json:"offering,omitempty"`
	// RR is the agent last offered a call (round-robin cursor).
	RR    string     `json:"rr,omitempty"`
	Stats QueueStats `json:"stats"`
	// Dirty: statistics changed since the last queue.stats event.
	Dirty bool `json:"dirty,omitempty"`

	conf      Queue
	strategy  int           // strategyCode(conf.Strategy)
	members   []*AgentState // agents serving the queue, sorted by id
	connected int           // members Connected
	pend      bool

	// Routing's derived state (syncRouting, acd.go): the queue's own
	// requirement, the members recorded free when routeQueue last went
	// through it (they are ineligible for its settled calls), the members
	// noted free since (settle, after routeAgent), and whether an agent
	// is a member twice. (The waiting calls' compiled requirements and
	// marks are in Waiting's entries.)
	need    []skillNeed
	settled memberSet
	pended  memberSet
	dup     bool
}

// QueueStats are a queue's cumulative service statistics.
type QueueStats struct {
	// Entered counts calls that entered the queue. Every one is answered,
	// abandoned, redirected, or still waiting/ringing:
	// Entered = Answered + Abandoned + Redirected + waiting counter.
	Entered   uint64 `json:"entered"`
	Answered  uint64 `json:"answered"`
	Abandoned uint64 `json:"abandoned"`
	// Redirected counts calls that left the queue unanswered for an
	// operator's personal queue: they rang on the operator alone when it
	// retrieved another call (see redirectOffer).
	Redirected uint64 `json:"redirected,omitempty"`
	// AnsweredInSL counts calls answered within service_level_seconds.
	AnsweredInSL uint64 `json:"answered_in_sl"`
	// NoAnswer counts offers that rang out unanswered.
	NoAnswer uint64 `json:"no_answer"`
	// MaxWaitMS is the longest wait of any answered or abandoned call.
	MaxWaitMS int64 `json:"max_wait_ms"`
	// TalkMS/Talked give the average handle time for expected waits.
	TalkMS int64  `json:"talk_ms"`
	Talked uint64 `json:"talked"`
}

// DefaultHandleSeconds is the handle time assumed for expected waits
// before a queue has any measured conversation.
const DefaultHandleSeconds = 120

// WaitingLevel is the console's colour level of a queue row: 0 for no
// call waiting, 1 for 1–2, 2 for 3–4, 3 for 5 or more.
func WaitingLevel(waiting int) int {
	switch {
	case waiting <= 0:
		return 0
	case waiting <= 2:
		return 1
	case waiting <= 4:
		return 2
	default:
		return 3
	}
}

// before orders waiting calls: priority high first, then earlier entry,
// then entry sequence.
func before(a, b *Call) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if a.Enqueued != b.Enqueued {
		return a.Enqueued < b.Enqueued
	}
	return a.Seq < b.Seq
}

// insertOrdered inserts c into ids (kept in before order) and returns the
// new slice and c's index.
func (e *Engine) insertOrdered(ids []string, c *Call) ([]string, int) {
	calls := e.st.Calls
	lo, hi := 0, len(ids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if before(c, calls[ids[m]]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	i := lo
	ids = append(ids, "")
	copy(ids[i+1:], ids[i:])
	ids[i] = c.ID
	return ids, i
}

// removeWaiting removes c from q's waiting calls.
func (e *Engine) removeWaiting(q *QueueState, c *Call) {
	if need, ok := q.Waiting.remove(c); ok {
		e.recycleNeed(q, need)
	}
}

// removeID removes id from ids in place (the backing array is kept for
// the next entry; an empty list encodes like a nil one).
func removeID(ids []string, id string) []string {
	for i, x := range ids {
		if x == id {
			copy(ids[i:], ids[i+1:])
			ids[len(ids)-1] = ""
			return ids[:len(ids)-1]
		}
	}
	return ids
}

func indexOf(ids []string, id string) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

// queueNamed is e.st.Queues[id]: the payload's queue when decode found
// it, else looked up.
func (e *Engine) queueNamed(id string) (*QueueState, bool) {
	if q := e.in.queue; q != nil && q.ID == id {
		return q, true
	}
	q, ok := e.st.Queues[id]
	return q, ok
}

// enterQueue makes c a new entry of general queue q (waiting starts now).
func (e *Engine) enterQueue(c *Call, q *QueueState) int {
	e.st.Seq++
	c.Enqueued, c.Seq = e.now, e.st.Seq
	c.Queue = q.ID
	q.Stats.Entered++
	return e.placeInQueue(c, q)
}

// placeInQueue puts c into q's waiting list at its position (a call coming
// back from ringing keeps its original entry time and position).
func (e *Engine) placeInQueue(c *Call, q *QueueState) int {
	if c.Chat != "" {
		// A chat an agent held (parked, returned, left behind at a
		// log-out) waits again: its session is queued (chat.go).
		e.chatWaiting(c, ReasonAgentLogout)
	}
	c.Place, c.Agent, c.State = PlaceQueue, "", ""
	pos := q.Waiting.insert(waiting{c: c, need: e.compileNeed(c, q)})
	q.Dirty = true
	e.pendQueue(q)
	return pos
}

// enterPersonal makes c a new entry of agent a's personal queue.
func (e *Engine) enterPersonal(c *Call, a *AgentState) int {
	e.st.Seq++
	c.Enqueued, c.Seq = e.now, e.st.Seq
	return e.placeInPersonal(c, a)
}

func (e *Engine) placeInPersonal(c *Call, a *AgentState) int {
	c.Place, c.Agent, c.State = PlacePersonal, a.ID, ""
	var i int
	a.Personal, i = e.insertOrdered(a.Personal, c)
	e.pendAgent(a)
	return i + 1
}

// serving counts the queue's Connected agents.
func (q *QueueState) serving() int { return q.connected }

// handleSeconds is the queue's average handle time.
func (q *QueueState) handleSeconds() int64 {
	if q.Stats.Talked == 0 {
		return DefaultHandleSeconds
	}
	s := q.Stats.TalkMS / int64(q.Stats.Talked) / 1000
	if s < 1 {
		s = 1
	}
	return s
}

// expectedWait estimates, in seconds, how long the call at 1-based
// position pos still waits: pos × average handle time ÷ Connected agents.
// -1 means unknown (no agent Connected).
func (q *QueueState) expectedWait(pos int) int64 {
	n := q.serving()
	if n == 0 {
		return -1
	}
	return (int64(pos)*q.handleSeconds() + int64(n) - 1) / int64(n)
}

// QueueView is a queue's live counters and statistics.
type QueueView struct {
	Queue string `json:"queue"`
	// Waiting is the waiting counter (waiting + ringing calls).
	Waiting int `json:"waiting"`
	Ringing int `json:"ringing"`
	// Level is the console colour level (WaitingLevel).
	Level         int   `json:"level"`
	LongestWaitMS int64 `json:"longest_wait_ms"`
	Agents        int   `json:"agents"`
	Connected     int   `json:"connected"`
	QueueStats
	// ServiceLevelPct is answered-within-N-s ÷ (answered + abandoned),
	// in percent (100 when nothing was answered or abandoned yet).
	ServiceLevelPct     float64 `json:"service_level_pct"`
	ServiceLevelSeconds int     `json:"service_level_seconds"`
	ExpectedWaitSeconds int64   `json:"expected_wait_seconds"`
}

func (e *Engine) queueView(q *QueueState) QueueView {
	v := QueueView{
		Queue: q.ID, Waiting: q.Waiting.Len() + q.Offering, Ringing: q.Offering,
		Agents: len(q.members), Connected: q.serving(), QueueStats: q.Stats,
		ServiceLevelSeconds: q.conf.ServiceLevelSeconds, ServiceLevelPct: 100,
	}
	v.Level = WaitingLevel(v.Waiting)
	if n := q.Stats.Answered + q.Stats.Abandoned; n > 0 {
		v.ServiceLevelPct = float64(q.Stats.AnsweredInSL) * 100 / float64(n)
	}
	oldest := q.Waiting.oldest()
	if q.Offering > 0 {
		for id := range e.timed { // a ringing call has its ring timeout
			if c, ok := e.st.Calls[id]; ok && c.Place == PlaceRinging && c.Origin == OriginQueue && c.Queue == q.ID && (oldest < 0 || c.Enqueued < oldest) {
				oldest = c.Enqueued
			}
		}
	}
	if oldest >= 0 {
		v.LongestWaitMS = (e.st.Clock - oldest) / 1e6
	}
	v.ExpectedWaitSeconds = q.expectedWait(q.Waiting.Len() + 1)
	return v
}

// Queue returns a queue's live counters and statistics as of the last
// applied command.
func (e *Engine) Queue(id string) (QueueView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	q, ok := e.st.Queues[id]
	if !ok {
		return QueueView{}, false
	}
	return e.queueView(q), true
}

// Queues returns every queue's view, sorted by id.
func (e *Engine) Queues() []QueueView {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]QueueView, 0, len(e.st.Queues))
	for _, id := range sortedKeys(e.st.Queues) {
		out = append(out, e.queueView(e.st.Queues[id]))
	}
	return out
}

// Position is a waiting call's place in its queue.
type Position struct {
	Call  string `json:"call"`
	Queue string `json:"queue,omitempty"`
	Agent string `json:"agent,omitempty"`
	// Position is 1-based; 0 while the call rings on an agent.
	Position            int   `json:"position"`
	Waiting             int   `json:"waiting"`
	WaitedMS            int64 `json:"waited_ms"`
	ExpectedWaitSeconds int64 `json:"expected_wait_seconds"`
}

// CallPosition tells where a waiting call stands: its position, the
// queue's waiting counter and the expected wait (-1 when unknown).
func (e *Engine) CallPosition(call string) (Position, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.st.Calls[call]
	if !ok {
		return Position{}, false
	}
	p := Position{Call: c.ID, WaitedMS: (e.st.Clock - c.Enqueued) / 1e6}
	switch {
	case c.Place == PlaceQueue || (c.Place == PlaceRinging && c.Origin == OriginQueue):
		q := e.st.Queues[c.Queue]
		p.Queue, p.Waiting = q.ID, q.Waiting.Len()+q.Offering
		if c.Place == PlaceQueue {
			p.Position = q.Waiting.position(c)
			p.ExpectedWaitSeconds = q.expectedWait(p.Position)
		}
	case c.Place == PlacePersonal || (c.Place == PlaceRinging && c.Origin == OriginPersonal):
		a := e.st.Agents[c.Agent]
		p.Agent, p.Waiting = a.ID, len(a.Personal)
		if c.Place == PlacePersonal {
			p.Position = indexOf(a.Personal, c.ID) + 1
			p.ExpectedWaitSeconds = -1
		}
	default:
		return Position{}, false
	}
	return p, true
}
