package mail

import (
	"net"
	"sync"
	"time"
)

// lazyConn is an IMAP session's connection as go-imap sees it. The
// library sets a read deadline twice for every response it reads (30 s
// from the response's start, then none) — twice a message of a FETCH,
// each a change of the runtime's poller timer. lazyConn applies a read
// deadline when it is about to read, or at once while a read is under
// way, so that every read waits under the deadline last asked for. It
// skips moving an applied deadline later by less than deadlineSlack: a
// read may then time out up to that much sooner than asked.
type lazyConn struct {
	net.Conn

	mu      sync.Mutex
	want    time.Time // the read deadline last asked for
	set     time.Time // the one applied to Conn
	reading int       // reads under way
}

// deadlineSlack is how much later than an applied read deadline a new
// one may be and still not be applied.
const deadlineSlack = time.Second

func newLazyConn(c net.Conn) *lazyConn { return &lazyConn{Conn: c} }

// SetReadDeadline records t; it is applied before the next read, or now
// if a read is under way.
func (c *lazyConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = t
	if c.reading > 0 {
		return c.applyLocked()
	}
	return nil
}

// SetDeadline sets both deadlines, the read one as SetReadDeadline does.
func (c *lazyConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *lazyConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if err := c.applyLocked(); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.reading++
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading--
	c.mu.Unlock()
	return n, err
}

// applyLocked applies want unless the applied deadline is the same, or
// none both, or earlier by less than deadlineSlack.
func (c *lazyConn) applyLocked() error {
	w, s := c.want, c.set
	if w.IsZero() == s.IsZero() && !w.Before(s) && w.Sub(s) <= deadlineSlack {
		return nil
	}
	if err := c.Conn.SetReadDeadline(w); err != nil {
		return err
	}
	c.set = w
	return nil
}
