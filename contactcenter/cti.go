package contactcenter

import (
	"sort"
	"strings"

	"github.com/tandemcc/tandem/command"
)

// CTI (click-to-dial and screen pop for a CRM): caller identification on
// normalised numbers and the operator's active-call list.

// EvCallIdentified is call.identified: the screen pop of an incoming
// call (CallerMatch), emitted by call.incoming when the caller ID matched
// a user or contact, is internal, or is on the excluded-numbers list.
const EvCallIdentified = "call.identified"

// InternalLabel is what the screen pop shows for a colleague's
// (internal) call.
const InternalLabel = "Internal"

// CallerMatchEntry is one directory entry whose number matched.
type CallerMatchEntry struct {
	// Kind is "user" (a colleague) or "contact".
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Company   string `json:"company,omitempty"`
	// Field is the field that matched: extension, mobile or phone;
	// Number is that field as stored.
	Field  string `json:"field"`
	Number string `json:"number"`
}

// CallerMatch is the identification of a caller ID.
type CallerMatch struct {
	Call string `json:"call,omitempty"`
	// Number is the caller ID as received; Normalized its canonical form
	// (E.164 where possible, see Settings.CanonicalNumber).
	Number     string `json:"number"`
	Normalized string `json:"normalized"`
	// Internal: a colleague's call (a configured extension or a number of
	// internal_number_length digits).
	Internal bool `json:"internal,omitempty"`
	// Excluded: the number is on the excluded-numbers list.
	Excluded bool `json:"excluded,omitempty"`
	// Display is what the screen pop shows: "Internal" for an internal
	// number, else the name of the only match, else "" (Matches lists
	// every match; none: unknown caller).
	Display string             `json:"display,omitempty"`
	Matches []CallerMatchEntry `json:"matches"`
}

// buildCallerIndex indexes every user's and contact's numbers by their
// normalised form (rebuilt with the other derived indexes).
func (e *Engine) buildCallerIndex() {
	idx := map[string][]CallerMatchEntry{}
	cfg := &e.st.Config
	for _, id := range sortedKeys(cfg.Users) {
		u := cfg.Users[id]
		m := CallerMatchEntry{Kind: "user", ID: id, Name: u.Name, FirstName: u.FirstName, LastName: u.LastName, Company: u.Company}
		if m.Name == "" {
			m.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		}
		for _, f := range [][2]string{{"extension", u.Extension}, {"mobile", u.Mobile}} {
			if f[1] != "" {
				m.Field, m.Number = f[0], f[1]
				e.indexCaller(idx, m)
			}
		}
	}
	for _, id := range sortedKeys(cfg.Contacts) {
		for _, m := range contactCallerEntries(id, cfg.Contacts[id]) {
			e.indexCaller(idx, m)
		}
	}
	for _, list := range idx {
		sortCallers(list)
	}
	e.callers = idx
}

// updateCallerIndex brings the index up to date after a config.apply
// that changed, of what the index reads, the directory contacts ids
// alone (previous: the values before it of those that existed; users,
// extensions and settings unchanged), in time that grows with the
// change: the result is the index buildCallerIndex would build.
func (e *Engine) updateCallerIndex(ids []string, previous map[string]Contact) {
	touched := map[string]bool{}
	for _, id := range ids {
		if c, ok := previous[id]; ok {
			for _, m := range contactCallerEntries(id, c) {
				n := e.canonical(m.Number)
				if n == "" {
					continue
				}
				list := e.callers[n][:0]
				for _, x := range e.callers[n] {
					if x.Kind != "contact" || x.ID != id {
						list = append(list, x)
					}
				}
				e.callers[n] = list
				touched[n] = true
			}
		}
		if c, ok := e.st.Config.Contacts[id]; ok {
			for _, m := range contactCallerEntries(id, c) {
				if n := e.indexCaller(e.callers, m); n != "" {
					touched[n] = true
				}
			}
		}
	}
	for n := range touched {
		if len(e.callers[n]) == 0 {
			delete(e.callers, n)
			continue
		}
		sortCallers(e.callers[n])
	}
}

// indexCaller adds m under its number's canonical form, which it returns
// ("" when the number has none and nothing was added).
func (e *Engine) indexCaller(idx map[string][]CallerMatchEntry, m CallerMatchEntry) string {
	n := e.canonical(m.Number)
	if n != "" {
		idx[n] = append(idx[n], m)
	}
	return n
}

// contactCallerEntries are a directory contact's entries, one a number.
func contactCallerEntries(id string, c Contact) []CallerMatchEntry {
	var out []CallerMatchEntry
	m := CallerMatchEntry{Kind: "contact", ID: id, Name: strings.TrimSpace(c.FirstName + " " + c.LastName), FirstName: c.FirstName, LastName: c.LastName, Company: c.Company}
	for _, f := range [][2]string{{"extension", c.Extension}, {"mobile", c.Mobile}, {"phone", c.Phone}} {
		if f[1] != "" {
			m.Field, m.Number = f[0], f[1]
			out = append(out, m)
		}
	}
	return out
}

// sortCallers puts one number's matches in screen-pop order: colleagues
// first, then by last name, first name, id and field (case-insensitive,
// then as written, so the order is total and an index updated in place
// equals one built anew).
func sortCallers(list []CallerMatchEntry) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Kind != b.Kind {
			return a.Kind == "user" // colleagues first
		}
		for _, p := range [][2]string{{a.LastName, b.LastName}, {a.FirstName, b.FirstName}, {a.ID, b.ID}, {a.Field, b.Field}} {
			if x, y := strings.ToLower(p[0]), strings.ToLower(p[1]); x != y {
				return x < y
			}
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Field < b.Field
	})
}

// MatchCaller identifies an incoming caller ID: every user and contact
// whose extension, mobile or phone normalises to the same number (E.164
// where possible), whether it is internal ("Internal" on the screen pop)
// and whether it is excluded.
func (e *Engine) MatchCaller(number string) CallerMatch {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.matchCaller(number)
}

func (e *Engine) matchCaller(number string) CallerMatch {
	n := e.canonical(number)
	m := CallerMatch{Number: number, Normalized: n, Matches: []CallerMatchEntry{}}
	if n == "" {
		return m
	}
	m.Internal = e.isInternal(n)
	m.Excluded = e.isExcluded(n)
	m.Matches = append(m.Matches, e.callers[n]...)
	switch {
	case m.Internal:
		m.Display = InternalLabel
	case len(m.Matches) == 1:
		m.Display = m.Matches[0].Name
	}
	return m
}

// cmdIncomingCTI is call.incoming followed by the screen pop: when the
// caller ID matches a user or contact, is internal, or is excluded, a
// call.identified event follows the call's arrival (before it is offered).
// With no users, contacts and excluded numbers configured nothing is
// computed (the routing hot path stays as it was).
func (e *Engine) cmdIncomingCTI(env command.Envelope) (any, error) {
	res, err := e.cmdIncoming(env)
	if err != nil || (len(e.callers) == 0 && len(e.st.Config.ExcludedNumbers) == 0) {
		return res, err
	}
	c, ok := e.st.Calls[e.req.incoming.Call]
	if !ok || c.Number == "" {
		return res, nil
	}
	m := e.matchCaller(c.Number)
	if len(m.Matches) > 0 || m.Internal || m.Excluded {
		m.Call = c.ID
		e.emit(EvCallIdentified, m)
	}
	return res, nil
}

// Active-call states of the CTI active-call list.
const (
	CTIDialing         = "Dialing"
	CTIRinging         = "Ringing"
	CTIConnected       = "Connected"
	CTIOnHold          = "On hold"
	CTIPendingTransfer = "Pending transfer"
	CTIConsulting      = "Consulting"
)

// ActiveCall is one row of an operator's CTI active-call list.
type ActiveCall struct {
	Call string `json:"call"`
	// Line is 1 or 2 for a call on the operator's phone, 0 otherwise
	// (ringing, or in supervision).
	Line  int    `json:"line,omitempty"`
	State string `json:"state"`
	// Detail is the engine's finer state: dialing, talking, held, busy
	// (line 2), offered, transfer, chain, camp_on, parked,
	// directed_park.
	Detail    string `json:"detail"`
	Number    string `json:"number,omitempty"`
	Name      string `json:"name,omitempty"`
	Direction string `json:"direction,omitempty"`
	// Target is the extension a consultation, transfer or park is for.
	Target  string `json:"target,omitempty"`
	Note    string `json:"note,omitempty"`
	Created int64  `json:"created"`
	// Operations are the command types the CTI may send for this call now.
	Operations []string `json:"operations"`
}

// ActiveCalls is agent's CTI active-call list: the call ringing on it
// (Ringing), its lines — line 1 Dialing / Connected / On hold, or Pending
// transfer while line 2 carries a consultation; line 2 Dialing, then
// Consulting (also when the consulted party is busy, Detail "busy") —
// and its calls in supervision that are not with anybody yet: a blind
// transfer or chain still ringing, a camp-on (Pending transfer), a parked
// call (On hold). A chain in conversation with its target is not listed.
// Ordered: ringing, line 1, line 2, then supervision oldest first.
func (e *Engine) ActiveCalls(agent string) ([]ActiveCall, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	a, ok := e.st.Agents[agent]
	if !ok {
		return nil, false
	}
	out := []ActiveCall{}
	row := func(c *Call, state, detail string, ops ...string) {
		ops = append([]string{}, ops...)
		out = append(out, ActiveCall{
			Call: c.ID, Line: c.Line, State: state, Detail: detail, Number: c.Number, Name: c.Name,
			Direction: c.Direction, Target: c.Target, Note: c.Note, Created: c.Created, Operations: ops,
		})
	}
	if a.Offer != "" {
		c := e.st.Calls[a.Offer]
		r := ActiveCall{Call: c.ID, State: CTIRinging, Detail: "offered", Number: c.Number, Name: c.Name,
			Direction: c.Direction, Note: c.Note, Created: c.Created, Operations: []string{TypeCallAnswer, TypeCallReject}}
		out = append(out, r)
	}
	if a.Line1 != "" {
		c := e.st.Calls[a.Line1]
		switch {
		case a.Line2 != "":
			row(c, CTIPendingTransfer, c.State)
		case c.State == CallDialing:
			row(c, CTIDialing, c.State, TypeCallHangup)
		case c.State == CallHeld:
			row(c, CTIOnHold, c.State, TypeCallHangup, TypeCallRetrieve, TypeCallTransfer, TypeCallConsult)
		case a.State == StateDisconnected:
			// No hold for a logged-out operator (see cmdHold).
			row(c, CTIConnected, c.State, TypeCallHangup, TypeCallTransfer, TypeCallConsult)
		default:
			row(c, CTIConnected, c.State, TypeCallHangup, TypeCallHold, TypeCallTransfer, TypeCallConsult)
		}
	}
	if a.Line2 != "" {
		c := e.st.Calls[a.Line2]
		switch c.State {
		case CallDialing:
			row(c, CTIDialing, c.State, TypeCallHangup, TypeCallCancelConsult)
		case CallBusy:
			row(c, CTIConsulting, c.State, TypeCallHangup, TypeCallCancelConsult, TypeCallCampOn)
		default:
			row(c, CTIConsulting, c.State, TypeCallHangup, TypeCallCancelConsult, TypeCallComplete)
		}
	}
	var sup []*Call
	e.supervisedCalls(func(c *Call) {
		if c.Agent == a.ID && !(c.Kind == KindChain && c.State == CallTalking) {
			sup = append(sup, c)
		}
	})
	sort.Slice(sup, func(i, j int) bool {
		if sup[i].Since != sup[j].Since {
			return sup[i].Since < sup[j].Since
		}
		return sup[i].ID < sup[j].ID
	})
	// A call in supervision can be retrieved only by an operator who is
	// not in a conversation.
	var ops []string
	if a.Line1 == "" && a.Line2 == "" {
		ops = []string{TypeCallRetrieve}
	}
	for _, c := range sup {
		switch c.Kind {
		case KindPark:
			row(c, CTIOnHold, "parked", ops...)
		case KindDirectedPark:
			row(c, CTIOnHold, "directed_park", ops...)
		case KindTransfer:
			row(c, CTIPendingTransfer, "transfer", ops...)
		case KindChain:
			row(c, CTIPendingTransfer, "chain", ops...)
		case KindCampOn:
			row(c, CTIPendingTransfer, "camp_on", ops...)
		default:
			row(c, CTIOnHold, "unattended", ops...)
		}
	}
	return out, true
}
