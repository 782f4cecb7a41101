package contactcenter

import (
	"fmt"
	"maps"
	"sort"
	"strings"
)

// Check verifies the engine's invariants and returns the first violation:
//
//  1. Every live call is in exactly one place, and that place's structure
//     (queue list, personal queue, agent offer or line, coupled peer)
//     refers back to it exactly once; every structure entry names a live
//     call in that place.
//  2. Waiting lists are in offer order; a queue's Offering equals its
//     calls ringing; Entered = Answered + Abandoned + Redirected +
//     waiting counter.
//  3. Agents: an offer only to a free agent that is logged in; line 2
//     only during a consultation with line 1 on hold; nothing waits in
//     a logged-out agent's personal queue (unattended calls wait in its
//     supervision instead, type U, only while it is logged out).
//  4. Routing is work-conserving: no waiting call has a free agent who
//     could take it. And routing sees every free agent: a queue that
//     recorded its free members (routeQueue) has each free member
//     recorded or noted free since (settle).
//  5. Voicemail lists belong to configured extensions, are bounded, in
//     deposit order, without duplicate ids, each recording kept belongs
//     to a listed message of its size (the total bounded); excluded
//     numbers are stored normalised.
//  6. No call is stranded: every live call is where someone will serve
//     it — waiting in a general queue, or in the personal queue of a
//     logged-in operator; ringing with a ring timeout; on an operator's
//     line, where a held call needs an operator who is logged in or
//     consulting on line 2 for it (a logged-out operator with a lone held
//     call may have closed the console: nobody would ever retrieve it);
//     in supervision with its auto-return timer (T, C ringing, P, D, O),
//     a chain talking to its target, or unattended (U) for every operator
//     while its own is logged out; at an extension; coupled.
//
// Tests run it after every command; it reads only.
func (e *Engine) Check() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.check()
}

func (e *Engine) check() error {
	st := e.st
	if err := e.checkCallbacks(); err != nil {
		return err
	}
	if err := e.checkChats(); err != nil {
		return err
	}
	ids := sortedKeys(st.Calls)
	for _, id := range ids {
		if err := e.checkCall(st.Calls[id]); err != nil {
			return fmt.Errorf("call %s: %w", id, err)
		}
		if _, ok := e.timed[id]; !ok && st.Calls[id].Deadline > 0 {
			return fmt.Errorf("call %s: a deadline, not in the index of timed calls", id)
		}
		if _, ok := e.supervised[id]; !ok && st.Calls[id].Place == PlaceSupervised {
			return fmt.Errorf("call %s: supervised, not in the index of supervised calls", id)
		}
	}
	mailLive := 0
	for _, c := range st.Calls {
		if c.Medium == MediumEmail {
			mailLive++
		}
	}
	if mailLive != e.mailLive {
		return fmt.Errorf("%d e-mail contacts held, counted %d", mailLive, e.mailLive)
	}
	for id, c := range st.Calls {
		if _, ok := e.extCalls[id]; ok != (c.Place == PlaceExtension) {
			return fmt.Errorf("call %s at %q: in the index of calls at an extension %v", id, c.Place, ok)
		}
	}
	for id := range e.extCalls {
		if _, ok := st.Calls[id]; !ok {
			return fmt.Errorf("call %s: ended, still in the index of calls at an extension", id)
		}
	}
	every := func(fn func(c *Call)) {
		for _, id := range sortedKeys(st.Calls) {
			fn(st.Calls[id])
		}
	}
	if got, want := e.lineStatuses(), e.lineStatusesOf(every); !maps.Equal(got, want) {
		return fmt.Errorf("line statuses %v from the indexes, %v from every call", got, want)
	}
	for id := range e.supervised {
		if c, ok := st.Calls[id]; !ok || c.Place != PlaceSupervised {
			return fmt.Errorf("call %s: in the index of supervised calls, not in supervision", id)
		}
	}
	offering := map[string]int{}
	for _, c := range st.Calls {
		if c.Place == PlaceRinging && c.Origin == OriginQueue {
			offering[c.Queue]++
		}
	}
	for _, qid := range sortedKeys(st.Queues) {
		q := st.Queues[qid]
		if err := e.checkList(q.Waiting.IDs(), PlaceQueue, func(c *Call) bool { return c.Queue == qid }); err != nil {
			return fmt.Errorf("queue %s: %w", qid, err)
		}
		if err := q.Waiting.check(); err != nil {
			return fmt.Errorf("queue %s: %w", qid, err)
		}
		if q.Offering != offering[qid] {
			return fmt.Errorf("queue %s: offering %d, but %d of its calls ring", qid, q.Offering, offering[qid])
		}
		s := q.Stats
		if s.Entered != s.Answered+s.Abandoned+s.Redirected+uint64(q.Waiting.Len()+q.Offering) {
			return fmt.Errorf("queue %s: entered %d != answered %d + abandoned %d + redirected %d + waiting %d + ringing %d",
				qid, s.Entered, s.Answered, s.Abandoned, s.Redirected, q.Waiting.Len(), q.Offering)
		}
		n := 0
		for _, a := range q.members {
			if a.State == StateConnected {
				n++
			}
		}
		if n != q.connected {
			return fmt.Errorf("queue %s: connected count %d, but %d members are connected", qid, q.connected, n)
		}
		if s.AnsweredInSL > s.Answered {
			return fmt.Errorf("queue %s: %d answered within the service level of %d answered", qid, s.AnsweredInSL, s.Answered)
		}
		for _, c := range q.Waiting.calls(nil) {
			for _, a := range q.members {
				if a.generalOK() && eligible(a, c, q) {
					return fmt.Errorf("queue %s: call %s waits while agent %s is free for it", qid, c.ID, a.ID)
				}
			}
		}
		if words := (len(q.members) + 63) >> 6; len(q.settled) == words && len(q.pended) == words && !q.dup {
			for k, a := range q.members {
				if a.generalOK() && !q.settled.has(k) && !q.pended.has(k) {
					return fmt.Errorf("queue %s: agent %s is free but neither recorded free nor noted since", qid, a.ID)
				}
			}
		}
	}
	if n := st.LoggedIn(); n != e.loggedIn {
		return fmt.Errorf("logged-in count %d, but %d agents are logged in", e.loggedIn, n)
	}
	for _, aid := range sortedKeys(st.Agents) {
		if err := e.checkAgent(st.Agents[aid]); err != nil {
			return fmt.Errorf("agent %s: %w", aid, err)
		}
	}
	if err := e.checkVoicemail(); err != nil {
		return err
	}
	if err := e.checkExcluded(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := e.checkServed(st.Calls[id]); err != nil {
			return fmt.Errorf("call %s is stranded: %w", id, err)
		}
	}
	return nil
}

// checkServed is invariant 6: someone will serve c where it is. It runs
// after the structural checks, so c's place is consistent; it states, per
// place, who takes the call on from there.
func (e *Engine) checkServed(c *Call) error {
	switch c.Place {
	case PlacePersonal:
		if a := e.st.Agents[c.Agent]; a.State == StateDisconnected {
			return fmt.Errorf("waits in the personal queue of %s, who is logged out", a.ID)
		}
	case PlaceRinging:
		if c.Deadline == 0 {
			return fmt.Errorf("rings with no ring timeout")
		}
	case PlaceLine:
		a := e.st.Agents[c.Agent]
		if c.State == CallHeld && a.State == StateDisconnected && a.Line2 == "" {
			return fmt.Errorf("held on line %d of %s, who is logged out and not consulting", c.Line, a.ID)
		}
		if c.Chat != "" && a.State == StateDisconnected {
			// A chat lives only in the console: nobody writes in it once
			// its agent has logged out.
			return fmt.Errorf("chat %s on line %d of %s, who is logged out", c.Chat, c.Line, a.ID)
		}
	case PlaceSupervised:
		switch {
		case c.Kind == KindUnattended:
			// Any operator may retrieve it; its own takes it back on log-in.
		case c.Kind == KindChain && c.State == CallTalking:
			// In conversation with the target; returns when the target hangs up.
		case c.Deadline == 0:
			return fmt.Errorf("supervised as %q with no auto-return", c.Kind)
		}
	}
	return nil
}

func (e *Engine) checkList(list []string, place string, owns func(*Call) bool) error {
	seen := map[string]bool{}
	for i, id := range list {
		if seen[id] {
			return fmt.Errorf("call %s listed twice", id)
		}
		seen[id] = true
		c, ok := e.st.Calls[id]
		if !ok {
			return fmt.Errorf("lists ended call %s", id)
		}
		if c.Place != place || !owns(c) {
			return fmt.Errorf("lists call %s, which is %s", id, describe(c))
		}
		if i > 0 && before(c, e.st.Calls[list[i-1]]) {
			return fmt.Errorf("call %s is listed after %s but comes before it", id, list[i-1])
		}
	}
	return nil
}

func count(list []string, id string) int {
	n := 0
	for _, x := range list {
		if x == id {
			n++
		}
	}
	return n
}

func (e *Engine) checkCall(c *Call) error {
	st := e.st
	agent := func() (*AgentState, error) {
		a, ok := st.Agents[c.Agent]
		if !ok {
			return nil, fmt.Errorf("%s with unknown agent %q", c.Place, c.Agent)
		}
		return a, nil
	}
	switch c.Place {
	case PlaceQueue:
		q, ok := st.Queues[c.Queue]
		if !ok {
			return fmt.Errorf("waits in unknown queue %q", c.Queue)
		}
		if n := q.Waiting.count(c.ID); n != 1 {
			return fmt.Errorf("listed %d times in queue %s", n, q.ID)
		}
	case PlacePersonal:
		a, err := agent()
		if err != nil {
			return err
		}
		if n := count(a.Personal, c.ID); n != 1 {
			return fmt.Errorf("listed %d times in %s's personal queue", n, a.ID)
		}
	case PlaceRinging:
		if len(c.Offered) == 0 {
			return fmt.Errorf("rings on nobody")
		}
		seen := map[string]bool{}
		for _, id := range c.Offered {
			a, ok := st.Agents[id]
			if !ok || a.Offer != c.ID || seen[id] {
				return fmt.Errorf("offered to %s, whose offer is not this call", id)
			}
			seen[id] = true
		}
		switch c.Origin {
		case OriginQueue:
			if _, ok := st.Queues[c.Queue]; !ok {
				return fmt.Errorf("rings for unknown queue %q", c.Queue)
			}
		case OriginPersonal:
			if _, err := agent(); err != nil {
				return err
			}
			if len(c.Offered) != 1 || c.Offered[0] != c.Agent {
				return fmt.Errorf("personal call of %s offered to %v", c.Agent, c.Offered)
			}
		default:
			return fmt.Errorf("rings with origin %q", c.Origin)
		}
		if c.Deadline == 0 {
			return fmt.Errorf("rings without a ring timeout")
		}
	case PlaceLine:
		a, err := agent()
		if err != nil {
			return err
		}
		switch {
		case c.Line == 1 && a.Line1 == c.ID, c.Line == 2 && a.Line2 == c.ID:
		default:
			return fmt.Errorf("on line %d of %s, which carries %q / %q", c.Line, a.ID, a.Line1, a.Line2)
		}
		switch c.State {
		case CallDialing, CallTalking, CallHeld:
		case CallBusy:
			if c.Line != 2 {
				return fmt.Errorf("busy on line 1")
			}
		default:
			return fmt.Errorf("on a line in state %q", c.State)
		}
	case PlaceSupervised:
		owner, err := agent()
		if err != nil {
			return err
		}
		ok := false
		switch c.Kind {
		case KindTransfer:
			ok = c.State == CallRinging && c.Deadline > 0
		case KindChain:
			ok = (c.State == CallRinging && c.Deadline > 0) || (c.State == CallTalking && c.Deadline == 0)
		case KindPark, KindDirectedPark:
			ok = c.State == CallParked && c.Deadline > 0
		case KindCampOn:
			ok = c.State == CallWaiting && c.Deadline > 0
		case KindUnattended:
			ok = c.State == CallWaiting && c.Deadline == 0 && c.Target == ""
			if ok && owner.State != StateDisconnected {
				return fmt.Errorf("unattended in the supervision of %s, who is logged in", owner.ID)
			}
		}
		if !ok {
			return fmt.Errorf("supervised as %q in state %q (deadline %d)", c.Kind, c.State, c.Deadline)
		}
		if c.Kind != KindPark && c.Kind != KindUnattended && c.Target == "" {
			return fmt.Errorf("supervised as %q without a target", c.Kind)
		}
	case PlaceExtension:
		if c.Target == "" || (c.State != CallRinging && c.State != CallTalking) {
			return fmt.Errorf("at extension %q in state %q", c.Target, c.State)
		}
	case PlaceBridged:
		p, ok := st.Calls[c.Peer]
		if !ok || p.Place != PlaceBridged || p.Peer != c.ID || p.ID == c.ID {
			return fmt.Errorf("coupled with %q, which is not coupled back", c.Peer)
		}
	default:
		return fmt.Errorf("in unknown place %q", c.Place)
	}
	if c.Place != PlaceRinging && len(c.Offered) > 0 {
		return fmt.Errorf("%s but offered to %v", c.Place, c.Offered)
	}
	return nil
}

func (e *Engine) checkAgent(a *AgentState) error {
	st := e.st
	switch a.State {
	case StateDisconnected, StatePaused, StateConnected:
	default:
		return fmt.Errorf("unknown state %q", a.State)
	}
	if a.Offer != "" {
		c, ok := st.Calls[a.Offer]
		if !ok || c.Place != PlaceRinging || count(c.Offered, a.ID) != 1 {
			return fmt.Errorf("offer %q does not ring on it", a.Offer)
		}
		if a.State == StateDisconnected {
			return fmt.Errorf("offered call %s while logged out", a.Offer)
		}
		if a.Line1 != "" || a.Line2 != "" || a.WrapUntil != 0 {
			return fmt.Errorf("offered call %s while busy", a.Offer)
		}
	}
	for n, id := range []string{a.Line1, a.Line2} {
		if id == "" {
			continue
		}
		c, ok := st.Calls[id]
		if !ok || c.Place != PlaceLine || c.Agent != a.ID || c.Line != n+1 {
			return fmt.Errorf("line %d names call %q, which is not there", n+1, id)
		}
	}
	if a.Line2 != "" {
		if a.Line1 == "" || st.Calls[a.Line1].State != CallHeld {
			return fmt.Errorf("line 2 in use without a held call on line 1")
		}
	}
	if err := e.checkList(a.Personal, PlacePersonal, func(c *Call) bool { return c.Agent == a.ID }); err != nil {
		return fmt.Errorf("personal queue: %w", err)
	}
	if a.personalOK() && len(a.Personal) > 0 {
		return fmt.Errorf("free while its personal queue holds %v", a.Personal)
	}
	if a.State == StateDisconnected && len(a.Personal) > 0 {
		return fmt.Errorf("logged out while its personal queue holds %v", a.Personal)
	}
	return nil
}

// checkVoicemail: every mailbox is a configured extension with 1..Max
// messages of unique ids, in deposit order, each in a known folder.
func (e *Engine) checkVoicemail() error {
	for _, ext := range sortedKeys(e.st.Voicemail) {
		mb := e.st.Voicemail[ext]
		if _, ok := e.st.Config.Extensions[ext]; !ok {
			return fmt.Errorf("mailbox %s: not a configured extension", ext)
		}
		if n := len(mb.Messages); n == 0 || n > MaxVoicemailMessages {
			return fmt.Errorf("mailbox %s: %d messages (1..%d)", ext, n, MaxVoicemailMessages)
		}
		seen := map[string]bool{}
		for i, m := range mb.Messages {
			if seen[m.ID] {
				return fmt.Errorf("mailbox %s: message %s twice", ext, m.ID)
			}
			seen[m.ID] = true
			if m.Folder != FolderInbox && m.Folder != FolderOld {
				return fmt.Errorf("mailbox %s: message %s in folder %q", ext, m.ID, m.Folder)
			}
			if m.Seq > mb.Next || (i > 0 && (m.Seq <= mb.Messages[i-1].Seq || m.At < mb.Messages[i-1].At)) {
				return fmt.Errorf("mailbox %s: message %s out of deposit order", ext, m.ID)
			}
			a := e.audio[audioKey(ext, m.ID)]
			if (a == nil && m.AudioBytes != 0) || (a != nil && len(a.Data) != m.AudioBytes) {
				return fmt.Errorf("mailbox %s: message %s lists %d audio bytes, has %v", ext, m.ID, m.AudioBytes, a != nil)
			}
		}
	}
	total := 0
	for _, k := range sortedKeys(e.audio) {
		mailbox, message, _ := strings.Cut(k, "/")
		if mb := e.st.Voicemail[mailbox]; mb == nil || mb.find(message) < 0 {
			return fmt.Errorf("recording %s: no such message", k)
		}
		total += len(e.audio[k].Data)
	}
	if total != e.audioBytes || total > e.maxAudio {
		return fmt.Errorf("recordings: %d bytes, counted %d (at most %d)", total, e.audioBytes, e.maxAudio)
	}
	return nil
}

// checkExcluded: excluded numbers are keyed by their normalised form under
// the current settings.
func (e *Engine) checkExcluded() error {
	for _, k := range sortedKeys(e.st.Config.ExcludedNumbers) {
		if n := e.canonical(k); n != k || e.st.Config.ExcludedNumbers[k].Number != k {
			return fmt.Errorf("excluded number %q is not normalised (%q)", k, n)
		}
	}
	return nil
}

// liveCalls returns the ids of the calls in the state, sorted.
func (s *State) liveCalls() []string {
	ids := make([]string, 0, len(s.Calls))
	for id := range s.Calls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
