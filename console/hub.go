package console

import (
	"context"
	"errors"
	"sync"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// ErrGap means the events a subscriber asked for are no longer (or were
// never) held by this node: the subscriber must reload the state and
// follow the stream from the position that came with it.
var ErrGap = errors.New("events before this position are no longer held here: reload the state")

// ErrSlow means a subscriber fell more than its queue limit behind; it is
// dropped and resumes from the last position it saw (or reloads).
var ErrSlow = errors.New("subscriber too slow: resume from the last position seen")

// ErrShutdown means the node stops: the subscriber resumes on another
// member from the last position it saw.
var ErrShutdown = errors.New("this node is stopping: resume on another member from the last position seen")

// DefaultHubSize is how many recent events a hub keeps for resumption.
const DefaultHubSize = 65536

// DefaultHubBytes bounds the data of the events a hub keeps, and of those
// a subscriber has not read yet: 65,536 chat messages of 2,000 characters
// that JSON spells with escapes would otherwise hold most of a gigabyte on
// every node.
const DefaultHubBytes = 64 << 20

// Hub keeps the node's most recent committed events and fans them out to
// live subscribers (console event streams). It is a cluster.EventSink: it
// sees every event of every command this node applies, in log order.
//
// Positions are Raft-log positions, identical on every node, so a console
// that loses its node resumes on another from the last position it saw.
//
// The hub knows it can serve every event after base: everything it kept
// since then is in its ring. base starts at the applied index when first
// needed (events are published after the FSM records the applied index, so
// nothing after that index can have been missed), moves forward as the
// ring evicts, and jumps to a restored snapshot's index (Restored).
type Hub struct {
	// Applied returns the node's last applied Raft index (used once, to
	// fix the first base).
	Applied func() uint64
	// Size bounds the ring's events (set before the first Publish); 0 =
	// DefaultHubSize.
	Size int
	// MaxBytes bounds the data of the events in the ring, and of a
	// subscriber's undelivered events; 0 = DefaultHubBytes. The oldest
	// events leave the ring first; a subscriber that falls further behind
	// is dropped (ErrSlow).
	MaxBytes int
	// QueueLimit bounds a subscriber's undelivered events; 0 = Size.
	QueueLimit int

	mu    sync.Mutex
	ring  []command.Event // Size slots once the first event comes
	head  int             // the slot of the oldest event held
	count int             // the events held: ring[head], ring[head+1], … (mod Size)
	bytes int             // the data of the events held
	base  command.Position
	known bool
	subs  map[*Subscription]struct{}
	down  bool          // Shutdown ran: no new subscriptions
	gone  chan struct{} // closed when the last subscription closes after Shutdown
}

func (h *Hub) size() int {
	if h.Size > 0 {
		return h.Size
	}
	return DefaultHubSize
}

func (h *Hub) maxBytes() int {
	if h.MaxBytes > 0 {
		return h.MaxBytes
	}
	return DefaultHubBytes
}

// fixBaseLocked sets base when no event was ever published (Publish sets
// it otherwise).
func (h *Hub) fixBaseLocked() {
	if h.known {
		return
	}
	h.known = true
	var idx uint64
	if h.Applied != nil {
		idx = h.Applied()
	}
	h.base = command.EndOf(idx)
}

// Publish implements cluster.EventSink. It never blocks.
func (h *Hub) Publish(events []command.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.known && h.count == 0 && len(events) > 0 {
		// The first events this hub ever sees: all of their command's
		// events arrive together, so nothing of that index is missing.
		h.known = true
		h.base = command.EndOf(events[0].Index - 1)
	}
	n, limit := h.size(), h.maxBytes()
	if len(h.ring) != n {
		// The ring's memory at once: grown by append, the first n events
		// of every node would copy a multi-megabyte slice of pointers
		// again and again (5 % of a node's CPU while a fresh cluster
		// commits a few thousand commands a second).
		h.ring, h.head = make([]command.Event, n), 0
	}
	for _, ev := range events {
		if !ev.Pos().After(h.lastLocked()) {
			continue // replayed: already held
		}
		// The oldest events make room (an event larger than the bound
		// is still held, alone).
		for h.count > 0 && (h.count == n || h.bytes+len(ev.Data) > limit) {
			old := &h.ring[h.head]
			h.base = old.Pos()
			h.bytes -= len(old.Data)
			*old = command.Event{} // its data is not held on to
			h.head = (h.head + 1) % n
			h.count--
		}
		h.ring[(h.head+h.count)%n] = ev
		h.count++
		h.bytes += len(ev.Data)
	}
	for s := range h.subs {
		s.push(events)
	}
}

func (h *Hub) lastLocked() command.Position {
	if h.count == 0 {
		return h.base
	}
	return h.ring[(h.head+h.count-1)%len(h.ring)].Pos()
}

// Sync implements cluster.EventSink; the hub keeps nothing durable.
func (h *Hub) Sync() error { return nil }

// Restored tells the hub the node's state was replaced by a snapshot at
// index: what it held no longer connects to what follows, so it starts
// over there and every subscriber must reload.
func (h *Hub) Restored(index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ring)
	h.head, h.count, h.bytes = 0, 0, 0
	h.base, h.known = command.EndOf(index), true
	for s := range h.subs {
		s.fail(ErrGap)
		delete(h.subs, s)
	}
}

// Subscribe returns a subscription delivering every event after since,
// or ErrGap when the hub cannot prove it holds all of them.
func (h *Hub) Subscribe(since command.Position) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return nil, ErrShutdown
	}
	h.fixBaseLocked()
	if h.base.After(since) {
		return nil, ErrGap
	}
	limit := h.QueueLimit
	if limit <= 0 {
		limit = h.size()
	}
	s := &Subscription{hub: h, since: since, limit: limit, maxBytes: h.maxBytes(), wake: make(chan struct{}, 1)}
	for i := range h.count {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if ev.Pos().After(since) {
			s.queue = append(s.queue, ev)
			s.bytes += len(ev.Data)
		}
	}
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
	}
	h.subs[s] = struct{}{}
	return s, nil
}

// Position returns the position after which the hub holds every event up
// to its newest, and its newest position.
func (h *Hub) Position() (base, last command.Position) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fixBaseLocked()
	return h.base, h.lastLocked()
}

// Subscription is one subscriber's view of the stream.
type Subscription struct {
	hub      *Hub
	limit    int // events
	maxBytes int // their data

	mu    sync.Mutex
	since command.Position // last position handed out (or asked for)
	queue []command.Event
	bytes int // the data of queue
	err   error
	wake  chan struct{}
}

func (s *Subscription) push(events []command.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	for _, ev := range events {
		if !ev.Pos().After(s.since) {
			continue
		}
		if n := len(s.queue); n > 0 && !ev.Pos().After(s.queue[n-1].Pos()) {
			continue
		}
		if len(s.queue) >= s.limit || (len(s.queue) > 0 && s.bytes+len(ev.Data) > s.maxBytes) {
			s.queue, s.bytes = nil, 0
			s.err = ErrSlow
			break
		}
		s.queue = append(s.queue, ev)
		s.bytes += len(ev.Data)
	}
	s.signal()
}

// fail ends the subscription; what it still held is dropped, since the
// subscriber must start over anyway.
func (s *Subscription) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	s.queue, s.bytes = nil, 0
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns the next batch of events (in stream order), waiting until
// there is one, the subscription fails (ErrSlow, ErrGap) or ctx ends.
func (s *Subscription) Next(ctx context.Context) ([]command.Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			out := s.queue
			s.queue, s.bytes = nil, 0
			s.since = out[len(out)-1].Pos()
			s.mu.Unlock()
			return out, nil
		}
		if err := s.err; err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
		}
	}
}

// Close detaches the subscription from its hub.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	delete(h.subs, s)
	if h.down && len(h.subs) == 0 && h.gone != nil {
		close(h.gone)
		h.gone = nil
	}
	h.mu.Unlock()
	s.fail(errors.New("subscription closed"))
}

// Shutdown ends every subscription with ErrShutdown, so that each stream
// tells its console to resume elsewhere and closes with a close frame
// (1001 going away), and waits until they have closed or ctx ends. It is
// called when the node stops (SIGTERM), before the listeners close.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.down = true
	var gone chan struct{}
	if len(h.subs) > 0 {
		if h.gone == nil {
			h.gone = make(chan struct{})
		}
		gone = h.gone
	}
	for s := range h.subs {
		s.fail(ErrShutdown)
	}
	h.mu.Unlock()
	if gone == nil {
		return nil
	}
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The hub learns of snapshot restores (a follower installing the leader's
// snapshot, a standby sync) from the cluster.
var _ cluster.RestoreSink = (*Hub)(nil)
