package contactcenter

// Operations recorded in an operator's call history.
const (
	OpDial         = "DIAL"
	OpAnswer       = "ANSWER"
	OpHangup       = "HANGUP"
	OpReject       = "REJECT"
	OpMissed       = "MISSED"
	OpTransfer     = "TRANSFER"
	OpChain        = "CHAIN"
	OpConsult      = "CONSULT"
	OpCampOn       = "CAMPON"
	OpPark         = "PARK"
	OpDirectedPark = "DIRECTED_PARK"
	OpCouple       = "COUPLE"
	OpRetrieve     = "RETRIEVE"
	OpReturned     = "RETURNED"
)

// HistoryLength is how many entries an operator's history keeps.
const HistoryLength = 100

// HistoryEntry is one operation in an operator's call history.
type HistoryEntry struct {
	At     int64  `json:"at"`
	Call   string `json:"call"`
	Number string `json:"number,omitempty"`
	Name   string `json:"name,omitempty"`
	Op     string `json:"op"`
	// DurationMS is the conversation's length so far, where it applies.
	DurationMS int64  `json:"duration_ms,omitempty"`
	Note       string `json:"note,omitempty"`
	// Extension is the extension involved (transfer or park target).
	Extension string `json:"extension,omitempty"`
}

// Trend counts an operator's made, answered and missed calls.
type Trend struct {
	Made     uint64 `json:"made"`
	Answered uint64 `json:"answered"`
	Missed   uint64 `json:"missed"`
}

func (e *Engine) history(a *AgentState, c *Call, op string, durMS int64, ext string) {
	switch op {
	case OpAnswer:
		a.Trend.Answered++
	case OpMissed:
		a.Trend.Missed++
	}
	h := HistoryEntry{
		At: e.now, Call: c.ID, Number: c.Number, Name: c.Name, Op: op,
		DurationMS: durMS, Note: c.Note, Extension: ext,
	}
	// A ring of HistoryLength entries: HistoryHead is the oldest once full.
	if len(a.History) < HistoryLength {
		if cap(a.History) < HistoryLength {
			a.History = append(make([]HistoryEntry, 0, HistoryLength), a.History...)
		}
		a.History = append(a.History, h)
		return
	}
	a.History[a.HistoryHead] = h
	a.HistoryHead = (a.HistoryHead + 1) % HistoryLength
}

// historyOrdered returns the agent's history oldest first.
func (a *AgentState) historyOrdered() []HistoryEntry {
	out := make([]HistoryEntry, 0, len(a.History))
	out = append(out, a.History[a.HistoryHead:]...)
	return append(out, a.History[:a.HistoryHead]...)
}

// HistoryView is an operator's call history, newest first.
type HistoryView struct {
	Agent   string         `json:"agent"`
	Entries []HistoryEntry `json:"entries"`
	Trend   Trend          `json:"trend"`
}

// History returns an operator's last HistoryLength operations, newest
// first; with missed, only the calls the operator missed.
func (e *Engine) History(agent string, missed bool) (HistoryView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	a, ok := e.st.Agents[agent]
	if !ok {
		return HistoryView{}, false
	}
	v := HistoryView{Agent: a.ID, Trend: a.Trend, Entries: []HistoryEntry{}}
	h := a.historyOrdered()
	for i := len(h) - 1; i >= 0; i-- {
		if missed && h[i].Op != OpMissed {
			continue
		}
		v.Entries = append(v.Entries, h[i])
	}
	return v, true
}

// inRecentHistory reports whether the operator's recent history names
// the call.
func (a *AgentState) inRecentHistory(call string) bool {
	_, ok := a.lastEntry(call)
	return ok
}

// lastEntry returns the newest history entry of the call.
func (a *AgentState) lastEntry(call string) (HistoryEntry, bool) {
	h := a.historyOrdered()
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Call == call {
			return h[i], true
		}
	}
	return HistoryEntry{}, false
}

// pruneHistory drops the entries older than cutoff (Unix ns) and returns
// how many it dropped; the ring restarts with the rest, oldest first.
func (a *AgentState) pruneHistory(cutoff int64) int {
	ordered := a.historyOrdered()
	keep := 0
	for keep < len(ordered) && ordered[keep].At < cutoff {
		keep++
	}
	if keep == 0 {
		return 0
	}
	rest := append(make([]HistoryEntry, 0, HistoryLength), ordered[keep:]...)
	a.History, a.HistoryHead = rest, 0
	return keep
}
