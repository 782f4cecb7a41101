package contactcenter

import (
	"sort"
	"strings"
)

// SupervisedCall is one row of the supervised-calls list.
type SupervisedCall struct {
	Call string `json:"call"`
	// Type: T transfer, C chain, P parked, D directed park, O camp-on,
	// U unattended; in WaitingCalls Q (a personal queue's) and G (a
	// general queue's).
	Type   string `json:"type"`
	State  string `json:"state"`
	Number string `json:"number,omitempty"`
	Name   string `json:"name,omitempty"`
	// Since is when the call entered supervision (Unix ns).
	Since  int64  `json:"since"`
	Note   string `json:"note,omitempty"`
	Owner  string `json:"owner"`
	Target string `json:"target,omitempty"`
	// ReturnAt is when it returns to the owner's personal queue (0:
	// never, a chain in conversation); ElapsedPct and Band colour it.
	ReturnAt   int64 `json:"return_at,omitempty"`
	ElapsedPct int   `json:"elapsed_pct"`
	Band       int   `json:"band"`
	// Queue is the general queue a G row waits in.
	Queue string `json:"queue,omitempty"`
}

// WaitingCalls lists, as supervision rows, the calls waiting in the
// personal queue of agent — with all, of every operator ("show all
// includes other operators' personal-queue calls") — as type Q with the
// operator as Owner, and the calls waiting in the general queues named in
// queues (the operator's, when its preference shows them) as type G with
// Queue set; oldest first. Only the own personal queue's calls can be
// retrieved (call.retrieve); the others are shown.
func (e *Engine) WaitingCalls(agent string, all bool, queues []string) []SupervisedCall {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := []SupervisedCall{}
	row := func(c *Call, typ string) SupervisedCall {
		since := c.Enqueued
		if since == 0 {
			since = c.Created
		}
		return SupervisedCall{Call: c.ID, Type: typ, State: "waiting", Number: c.Number, Name: c.Name,
			Since: since, Note: c.Note, Owner: c.Agent}
	}
	for _, a := range sortedKeys(e.st.Agents) {
		if !all && a != agent {
			continue
		}
		for _, id := range e.st.Agents[a].Personal {
			if c := e.st.Calls[id]; c != nil {
				out = append(out, row(c, "Q"))
			}
		}
	}
	for _, q := range queues {
		qs := e.st.Queues[q]
		if qs == nil {
			continue
		}
		for _, c := range qs.Waiting.calls(nil) {
			r := row(c, "G")
			r.Owner, r.Queue = "", q
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Since != out[j].Since {
			return out[i].Since < out[j].Since
		}
		return out[i].Call < out[j].Call
	})
	return out
}

// supervisedCalls calls fn for each call in supervision, in no
// particular order (callers sort or pick deterministically). It changes
// nothing: the read-only views use it too (the tick prunes the index).
func (e *Engine) supervisedCalls(fn func(c *Call)) {
	for id := range e.supervised {
		if c, ok := e.st.Calls[id]; ok && c.Place == PlaceSupervised {
			fn(c)
		}
	}
}

// pruneSupervised drops from the index the calls no longer in
// supervision (ended, or taken out of it without detach).
func (e *Engine) pruneSupervised() {
	for id := range e.supervised {
		if c, ok := e.st.Calls[id]; !ok || c.Place != PlaceSupervised {
			delete(e.supervised, id)
		}
	}
}

// Supervised lists the calls in agent's supervision — with all, every
// operator's ("show all supervised calls") — whose number, name, note or
// target contains search (case-insensitive; empty matches all), oldest
// first. Bands are computed at the engine clock.
func (e *Engine) Supervised(agent string, all bool, search string) []SupervisedCall {
	e.mu.RLock()
	defer e.mu.RUnlock()
	search = strings.ToLower(search)
	out := []SupervisedCall{}
	e.supervisedCalls(func(c *Call) {
		if !all && c.Agent != agent {
			return
		}
		if search != "" {
			hay := strings.ToLower(c.Number + "\x00" + c.Name + "\x00" + c.Note + "\x00" + c.Target)
			if !strings.Contains(hay, search) {
				return
			}
		}
		r := SupervisedCall{
			Call: c.ID, Type: c.Kind, State: c.State, Number: c.Number, Name: c.Name,
			Since: c.Since, Note: c.Note, Owner: c.Agent, Target: c.Target, ReturnAt: c.Deadline,
		}
		if c.Deadline > 0 {
			r.Band, r.ElapsedPct = band(c.Since, c.Deadline, e.st.Clock)
		}
		out = append(out, r)
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Since != out[j].Since {
			return out[i].Since < out[j].Since
		}
		return out[i].Call < out[j].Call
	})
	return out
}
