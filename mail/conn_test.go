package mail

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the read deadlines applied to it.
type countingConn struct {
	net.Conn
	applied atomic.Int32
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.applied.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func lazyPipe(t *testing.T) (*lazyConn, *countingConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	cc := &countingConn{Conn: a}
	return newLazyConn(cc), cc, b
}

// write sends p on conn after d, in the background.
func writeAfter(t *testing.T, conn net.Conn, d time.Duration, p string) {
	t.Helper()
	go func() {
		time.Sleep(d)
		_, _ = conn.Write([]byte(p))
	}()
}

func TestLazyConnDeadlines(t *testing.T) {
	buf := make([]byte, 16)
	t.Run("a deadline asked for holds at the next read", func(t *testing.T) {
		c, _, _ := lazyPipe(t)
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with nothing to read: %v, want the deadline exceeded", err)
		}
	})
	t.Run("a deadline cleared after a read does not hold at the next", func(t *testing.T) {
		c, _, peer := lazyPipe(t)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with nothing to read: %v, want the deadline exceeded", err)
		}
		_ = c.SetReadDeadline(time.Time{})
		writeAfter(t, peer, 80*time.Millisecond, "ok")
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ok" {
			t.Fatalf("read after the deadline was cleared: %q, %v", buf[:n], err)
		}
	})
	t.Run("an earlier deadline is applied to a read under way", func(t *testing.T) {
		c, _, _ := lazyPipe(t)
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(buf)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond) // the read is waiting (or about to)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read under way: %v, want the deadline exceeded", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a deadline set during a read did not end it")
		}
	})
	t.Run("a deadline moved later by less than the slack is not applied again", func(t *testing.T) {
		c, counted, peer := lazyPipe(t)
		start := time.Now().Add(30 * time.Second)
		for i := range 100 { // as go-imap does for every response: 30 s from its start, then none
			_ = c.SetReadDeadline(start.Add(time.Duration(i) * time.Millisecond))
			writeAfter(t, peer, 0, "x")
			if _, err := c.Read(buf[:1]); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Time{})
		}
		if n := counted.applied.Load(); n != 1 {
			t.Errorf("%d read deadlines applied for 100 reads within %v of the first, want 1", n, deadlineSlack)
		}
		_ = c.SetReadDeadline(start.Add(2 * deadlineSlack))
		writeAfter(t, peer, 0, "x")
		if _, err := c.Read(buf[:1]); err != nil {
			t.Fatal(err)
		}
		if n := counted.applied.Load(); n != 2 {
			t.Errorf("a deadline %v later: %d applied in all, want 2", 2*deadlineSlack, n)
		}
		// None asked for at the next read: cleared, and a read waits.
		_ = c.SetReadDeadline(time.Time{})
		writeAfter(t, peer, 0, "x")
		if _, err := c.Read(buf[:1]); err != nil {
			t.Fatal(err)
		}
		if n := counted.applied.Load(); n != 3 {
			t.Errorf("the deadline cleared: %d applied in all, want 3", n)
		}
	})
}
