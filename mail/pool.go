package mail

import (
	"context"
	"strings"
	"sync"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// Pool bounds the IMAP sessions this node opens to the account: at most
// max_sessions - reserved_sessions at once, shared by the mailbox watch
// and every agent action that needs IMAP (a session waits for a free
// slot, never opens one more).
type Pool struct {
	mu    sync.Mutex
	limit int
	inUse int
	wake  chan struct{} // closed and replaced when a slot frees
}

// NewPool returns a pool of limit sessions (at least 1).
func NewPool(limit int) *Pool {
	return &Pool{limit: max(limit, 1), wake: make(chan struct{})}
}

// Acquire waits for a free slot; release gives it back (once).
func (p *Pool) Acquire(ctx context.Context) (release func(), err error) {
	for {
		p.mu.Lock()
		if p.inUse < p.limit {
			p.inUse++
			p.mu.Unlock()
			var once sync.Once
			return func() { once.Do(p.release) }, nil
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

func (p *Pool) release() {
	p.mu.Lock()
	p.inUse--
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// InUse is the sessions open now; Limit the ceiling.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Limit is the ceiling of sessions.
func (p *Pool) Limit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limit
}

// setLimit changes the ceiling (new settings); sessions above it finish
// their work and are not replaced.
func (p *Pool) setLimit(n int) {
	p.mu.Lock()
	p.limit = max(n, 1)
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// poolFor is the node's pool, sized by the settings.
func (c *Channel) poolFor(m cc.Mail) *Pool {
	n := m.IMAP.MaxSessions - m.IMAP.ReservedSessions
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == nil {
		c.pool = NewPool(n)
	} else if c.pool.Limit() != n {
		c.pool.setLimit(n)
	}
	return c.pool
}

func equalFold(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
