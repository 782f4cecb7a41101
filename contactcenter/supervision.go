package contactcenter

import (
	"sort"
	"strings"
)

// SupervisedCall is one row of the supervised-calls list.
type SupervisedCall struct {
	Call string `json:"call"`
	// Type: T transfer, C chain, P parked, D directed park, O camp-on.
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
	for _, c := range e.st.Calls {
		if c.Place != PlaceSupervised || (!all && c.Agent != agent) {
			continue
		}
		if search != "" {
			hay := strings.ToLower(c.Number + "\x00" + c.Name + "\x00" + c.Note + "\x00" + c.Target)
			if !strings.Contains(hay, search) {
				continue
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
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Since != out[j].Since {
			return out[i].Since < out[j].Since
		}
		return out[i].Call < out[j].Call
	})
	return out
}
