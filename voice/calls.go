package voice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Queue calls (issue 15.4). An INVITE whose request-URI user is a
// configured queue's ID, from a trusted gateway or an authenticated
// phone, enters the ACD as call.incoming; the caller hears ringing while
// it waits. When the engine offers the call (call.offered, on the
// leader) the agent's phones ring by the engine's ring plan, wave after
// wave; provisional answers are relayed to the caller; the first phone
// to answer wins (the others get CANCEL), call.answer is committed and
// the caller gets the agent's SDP: Tandem is a B2BUA in signalling,
// media flows end to end. A BYE on either leg ends the other and commits
// the hang-up; a caller who cancels while queued or ringing is committed
// as call.remote_hangup (the engine counts it abandoned).

// call is one inbound call (to a queue or an extension) this leader handles.
type call struct {
	id     string // engine call id
	direct string // the extension a direct call rings ("" for a queue call)
	caller *sipgo.DialogServerSession
	sdp    []byte // the caller's offer
	from   sip.FromHeader

	mu       sync.Mutex
	ringing  map[string]context.CancelFunc // agent → its branches
	answered bool
	agent    string
	leg      *sipgo.DialogClientSession // the answered agent leg
	// picker is the phone that retrieved the call from a directed park
	// (*55<ext>, pickup.go): the caller's peer once it is re-bridged.
	picker *sipgo.DialogServerSession
	// transferTo is the extension a blind transfer rings (transfer.go)
	// until it answers; transferred: the leg is that extension's.
	transferTo  string
	transferred bool
	// referDone, set while an agent's REFER is being committed, tells
	// the agent's phone the outcome (NOTIFY) before its leg is released.
	referDone func(code int)
	// chain: the transfer is a chain (its target's hang-up brings the
	// caller back to the operator, operator.go).
	chain bool
	// requeued: the caller's dialog is confirmed but it has no peer —
	// the engine put it back in a queue, or on the operator's line on
	// hold after a busy transfer; the next phone to answer is bridged to
	// it by a re-INVITE (operator.go).
	requeued bool
	// consult is the line-2 consultation of an attended transfer.
	consult *consult
	// peer is the call this one is coupled with (call.couple): each
	// caller is the other's peer, re-INVITEs are relayed between them.
	peer  *call
	ended bool
	done  chan struct{}
	// doneOnce closes done (closeDone): an end of the call seen from two
	// sides at once closes it once.
	doneOnce sync.Once

	// respondMu serialises the responses to the caller's INVITE: the
	// handler (100, 180, a refusal) and the ringing branches (relayed
	// 180/183, the 200) answer from different goroutines, and sipgo's
	// DialogServerSession is not safe for concurrent writes.
	respondMu sync.Mutex
}

// closeDone tells whoever waits on the call that it is over.
func (c *call) closeDone() { c.doneOnce.Do(func() { close(c.done) }) }

// respond answers the caller's INVITE (one response at a time).
func (c *call) respond(code int, reason string, body []byte, hdrs ...sip.Header) error {
	c.respondMu.Lock()
	defer c.respondMu.Unlock()
	return c.caller.Respond(code, reason, body, hdrs...)
}

// settled reports whether nothing more is to ring for the call: it
// ended, or it is answered, bridged and not being transferred (c.mu
// held).
func (c *call) settled() bool {
	return c.ended || (c.answered && c.transferTo == "" && !c.requeued)
}

// settledFor is settled for what the ring key rings: a consultation
// rings until its target answered (c.mu held).
func (c *call) settledFor(key string) bool {
	if strings.HasPrefix(key, consultKey) {
		return c.ended || c.consult == nil || c.consult.leg != nil
	}
	return c.settled()
}

// calls indexes the calls by engine id and by the SIP Call-ID of each leg.
type calls struct {
	mu    sync.Mutex
	byID  map[string]*call
	bySIP map[string]*call
	legOf map[string]bool // SIP Call-ID → it is an agent leg
	// consults maps a consultation's engine id to the caller's call.
	consults map[string]*call
	maxLen   int
}

func (cs *calls) addConsult(id string, c *call) {
	cs.mu.Lock()
	cs.consults[id] = c
	cs.mu.Unlock()
}

func (cs *calls) dropConsult(id string) {
	cs.mu.Lock()
	delete(cs.consults, id)
	cs.mu.Unlock()
}

func (cs *calls) consultOf(id string) *call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.consults[id]
}

func (cs *calls) add(c *call, sipID string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.byID) >= cs.maxLen {
		return false
	}
	cs.byID[c.id] = c
	cs.bySIP[sipID] = c
	return true
}

func (cs *calls) addLeg(c *call, sipID string) {
	cs.mu.Lock()
	cs.bySIP[sipID] = c
	cs.legOf[sipID] = true
	cs.mu.Unlock()
}

func (cs *calls) get(id string) *call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byID[id]
}

func (cs *calls) match(sipID string) (*call, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.bySIP[sipID], cs.legOf[sipID]
}

func (cs *calls) remove(c *call) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.byID, c.id)
	for k, v := range cs.consults {
		if v == c {
			delete(cs.consults, k)
		}
	}
	for k, v := range cs.bySIP {
		if v == c {
			delete(cs.bySIP, k)
			delete(cs.legOf, k)
		}
	}
}

// engineCallID is the engine's id of a SIP call: stable for the
// INVITE's retransmissions and retries (it keys the idempotent commit).
func engineCallID(req *sip.Request) string {
	h := sha256.New()
	h.Write([]byte(req.CallID().Value()))
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h.Write([]byte{0})
		h.Write([]byte(tag))
	}
	return "sip-" + hex.EncodeToString(h.Sum(nil)[:12])
}
