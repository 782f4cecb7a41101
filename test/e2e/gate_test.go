package e2e

import (
	"io"
	"math"
	"net"
	"sync"
	"testing"
)

// gate is a loopback TCP proxy that holds what the server sends once a
// connection has passed limit bytes, until open is called: a test stops
// a peer's answers at a known point instead of racing a fast machine
// (TestMailLeaderKilled kills the leader while its IMAP fetch is held,
// so the leader cannot have ingested everything, however fast it is).
// A gate from startConnGate holds instead every connection after the
// first few from its first byte (for a client that opens one connection
// per message, such as the mail sender's SMTP sessions).
type gate struct {
	ln    net.Listener
	to    string
	limit int64
	free  int // startConnGate: connections let through before holding; 0 otherwise

	mu     sync.Mutex
	n      int // connections accepted
	opened chan struct{}
	held   chan struct{} // closed when a connection is first held
	once   sync.Once
	conns  []net.Conn
}

// startGate proxies a new loopback port to the address to.
func startGate(t *testing.T, to string, limit int64) *gate {
	t.Helper()
	return newGate(t, to, limit, 0)
}

func newGate(t *testing.T, to string, limit int64, free int) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, to: to, limit: limit, free: free, opened: make(chan struct{}), held: make(chan struct{})}
	go g.serve()
	t.Cleanup(g.close)
	return g
}

// startConnGate proxies a new loopback port to the address to, letting
// the first free connections through and holding the answers of every
// later one from its first byte until open.
func startConnGate(t *testing.T, to string, free int) *gate {
	t.Helper()
	if free < 1 {
		t.Fatalf("startConnGate: free %d, want at least 1", free)
	}
	return newGate(t, to, 0, free)
}

// Port is the proxy's port.
func (g *gate) Port() int { return g.ln.Addr().(*net.TCPAddr).Port }

// open lets every held connection go on and holds nothing from now on.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.opened:
	default:
		close(g.opened)
	}
}

func (g *gate) close() {
	g.open()
	g.ln.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", g.to)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c, s)
		g.n++
		limit := g.limit
		if g.free > 0 && g.n <= g.free {
			limit = math.MaxInt64
		}
		g.mu.Unlock()
		go func() { io.Copy(s, c); s.Close() }()
		go func() { g.down(c, s, limit); c.Close() }()
	}
}

// down copies the server's bytes to the client, holding them once the
// connection has passed limit bytes while the gate is closed.
func (g *gate) down(c, s net.Conn, limit int64) {
	var n int64
	buf := make([]byte, 4096)
	for {
		want := len(buf)
		if n < limit && int64(want) > limit-n {
			want = int(limit - n)
		}
		if n >= limit {
			select {
			case <-g.opened:
			default:
				g.once.Do(func() { close(g.held) })
				<-g.opened
			}
		}
		r, err := s.Read(buf[:want])
		if r > 0 {
			if _, werr := c.Write(buf[:r]); werr != nil {
				return
			}
			n += int64(r)
		}
		if err != nil {
			return
		}
	}
}
