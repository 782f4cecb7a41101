package contactcenter

import (
	"sort"

	"github.com/tandemcc/tandem/command"
)

// Timers.
//
// The engine never reads a clock. Every deadline lives in the state (an
// agent's WrapUntil, a ringing call's ring timeout, a supervised call's
// auto-return time, a phone secret's expiry) and fires on the first
// clock.tick whose time is at or after it. The leader proposes clock.tick
// periodically (every second is plenty) with its wall-clock time; tests
// build ticks with chosen times. A tick with nothing due changes only the
// engine clock.

// TickResult answers clock.tick: what fired.
type TickResult struct {
	WrapUpsEnded int `json:"wrapups_ended,omitempty"`
	RingOuts     int `json:"ring_outs,omitempty"`
	Returned     int `json:"returned,omitempty"`
	Expired      int `json:"secrets_expired,omitempty"`
	GracesEnded  int `json:"secret_graces_ended,omitempty"`
}

const (
	dueWrapUp = iota
	dueRing
	dueReturn
	dueSecret
	dueGrace
)

type due struct {
	at   int64
	kind int
	id   string
}

func (e *Engine) cmdTick(env command.Envelope) (any, error) {
	if len(env.Payload) > 0 {
		var p struct{}
		if err := e.decode(env, &p); err != nil {
			return nil, err
		}
	}
	now := e.now
	e.pruneSupervised()
	var list []due
	for id, a := range e.st.Agents {
		if a.WrapUntil > 0 && a.WrapUntil <= now {
			list = append(list, due{a.WrapUntil, dueWrapUp, id})
		}
	}
	for id := range e.timed {
		c, ok := e.st.Calls[id]
		if !ok || c.Deadline == 0 {
			delete(e.timed, id) // ended, or its deadline cleared: derived state only
			continue
		}
		if c.Deadline > now {
			continue
		}
		switch c.Place {
		case PlaceRinging:
			list = append(list, due{c.Deadline, dueRing, id})
		case PlaceSupervised:
			list = append(list, due{c.Deadline, dueReturn, id})
		}
	}
	for key, s := range e.secrets {
		if !s.Expired && s.ExpiresAt <= now {
			list = append(list, due{s.ExpiresAt, dueSecret, key})
		}
		if s.Previous != "" && s.PreviousUntil <= now {
			list = append(list, due{s.PreviousUntil, dueGrace, key})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].at != list[j].at {
			return list[i].at < list[j].at
		}
		if list[i].kind != list[j].kind {
			return list[i].kind < list[j].kind
		}
		return list[i].id < list[j].id
	})
	var r TickResult
	for _, d := range list {
		switch d.kind {
		case dueWrapUp:
			if a := e.st.Agents[d.id]; a.WrapUntil > 0 {
				e.endWrapUp(a)
				r.WrapUpsEnded++
			}
		case dueRing:
			c, ok := e.st.Calls[d.id]
			if !ok || c.Place != PlaceRinging || c.Deadline > now {
				continue
			}
			for _, id := range append([]string(nil), c.Offered...) {
				e.ringOut(c, e.st.Agents[id], false)
			}
			r.RingOuts++
		case dueReturn:
			c, ok := e.st.Calls[d.id]
			if !ok || c.Place != PlaceSupervised || c.Deadline == 0 || c.Deadline > now {
				continue
			}
			owner := e.st.Agents[c.Agent]
			kind := c.Kind
			e.history(owner, c, OpReturned, 0, c.Target)
			e.returnToOperator(c, owner, "auto_return")
			e.emit(EvCallReturned, ReturnedEvent{Call: c.ID, Agent: owner.ID, Kind: kind, Reason: "auto_return"})
			r.Returned++
		case dueSecret:
			s := e.secrets[d.id]
			s.Expired = true
			ext, phone := splitPhoneKey(d.id)
			e.emit(EvPhoneSecretExpired, SecretEvent{Extension: ext, Phone: phone, ExpiresAt: s.ExpiresAt})
			r.Expired++
		case dueGrace:
			s := e.secrets[d.id]
			until := s.PreviousUntil
			s.Previous, s.PreviousUntil = "", 0
			ext, phone := splitPhoneKey(d.id)
			e.emit(EvPhoneSecretGraceEnded, SecretEvent{Extension: ext, Phone: phone, ExpiresAt: until})
			r.GracesEnded++
		}
	}
	e.tickCallbacks()
	// Route what the timers freed before reporting bands and statistics.
	e.settle()
	e.updateBands()
	for _, id := range sortedKeys(e.st.Queues) {
		if q := e.st.Queues[id]; q.Dirty {
			q.Dirty = false
			e.emit(EvQueueStats, e.queueViewAt(q, now))
		}
	}
	return r, nil
}

// band is the colour band of a supervised call: the share of its
// auto-return limit already elapsed, < 60 % → 0, 60–80 % → 1, > 80 % → 2.
func band(since, deadline, now int64) (int, int) {
	if deadline <= since {
		return 0, 0
	}
	pct := int((now - since) * 100 / (deadline - since))
	switch {
	case pct < 60:
		return 0, pct
	case pct <= 80:
		return 1, pct
	default:
		return 2, pct
	}
}

// updateBands announces supervised calls whose colour band changed.
func (e *Engine) updateBands() {
	var ids []string
	for id := range e.timed {
		if c, ok := e.st.Calls[id]; ok && c.Place == PlaceSupervised && c.Deadline > 0 {
			if b, _ := band(c.Since, c.Deadline, e.now); b != c.Band {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := e.st.Calls[id]
		b, pct := band(c.Since, c.Deadline, e.now)
		c.Band = b
		e.emit(EvCallBand, BandEvent{Call: c.ID, Agent: c.Agent, Band: b, ElapsedPct: pct})
	}
}

// queueViewAt is queueView with the clock at now (inside a command the
// state's Clock is not advanced yet).
func (e *Engine) queueViewAt(q *QueueState, now int64) QueueView {
	saved := e.st.Clock
	e.st.Clock = now
	v := e.queueView(q)
	e.st.Clock = saved
	return v
}

// NextDeadline returns the earliest time (Unix ns) at which a clock.tick
// would change something: a wrap-up ending, an offer ringing out, a
// supervised call returning or changing colour band, a phone secret
// expiring. ok is false when nothing is pending. The leader's ticker uses
// it to propose a tick exactly when one is due, so an idle cluster writes
// nothing to its log.
func (e *Engine) NextDeadline() (at int64, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	consider := func(t int64) {
		if t > 0 && (!ok || t < at) {
			at, ok = t, true
		}
	}
	for _, a := range e.st.Agents {
		consider(a.WrapUntil)
	}
	for id := range e.timed {
		c, ok := e.st.Calls[id]
		if !ok || c.Deadline == 0 {
			continue
		}
		switch c.Place {
		case PlaceRinging:
			consider(c.Deadline)
		case PlaceSupervised:
			consider(c.Deadline)
			// The colour band moves at 60 % and past 80 % of the limit.
			if span := c.Deadline - c.Since; span > 0 {
				for b, t := range []int64{c.Since + (span*60+99)/100, c.Since + (span*81+99)/100} {
					if c.Band <= b {
						consider(t)
					}
				}
			}
		}
	}
	for _, s := range e.secrets {
		if !s.Expired {
			consider(s.ExpiresAt)
		}
		if s.Previous != "" {
			consider(s.PreviousUntil)
		}
	}
	consider(e.maintenanceDeadline())
	consider(e.callbackDeadline())
	return at, ok
}
