package httpserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve starts New(h) on a loopback listener.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// dribble sends text one byte every gap and reports how long until the
// server closed the connection (or everything was sent).
func dribble(t *testing.T, addr, text string, gap time.Duration) (time.Duration, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	for i := 0; i < len(text); i++ {
		if _, err := c.Write([]byte{text[i]}); err != nil {
			return time.Since(start), "write failed: " + err.Error()
		}
		time.Sleep(gap)
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if b, err := bufio.NewReader(c).Peek(1); len(b) > 0 || (err != nil && !isTimeout(err)) {
			rest, _ := io.ReadAll(io.LimitReader(c, 4096))
			return time.Since(start), string(b) + string(rest)
		}
	}
	return time.Since(start), ""
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestSlowHeadersAreDropped: a client sending its headers one byte every
// two seconds is cut off after HeaderTimeout (issue 12.4).
func TestSlowHeadersAreDropped(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	took, _ := dribble(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 40)+"\r\n\r\n", 2*time.Second)
	if took > HeaderTimeout+3*time.Second {
		t.Errorf("slow headers: connection kept %v, want dropped after about %v", took, HeaderTimeout)
	}
}

// TestSlowBodyIsCutOff: a body arriving one byte every two seconds fails
// to read after BodyTimeout (plus its length at BodyRate).
func TestSlowBodyIsCutOff(t *testing.T) {
	errs := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(2 * time.Second)
		}
	}()
	select {
	case err := <-errs:
		if err == nil || !isTimeout(err) {
			t.Fatalf("a body one byte every 2 s read as %v", err)
		}
		if took := time.Since(start); took > BodyTimeout+3*time.Second {
			t.Fatalf("slow body cut off after %v, want about %v", took, BodyTimeout)
		}
	case <-time.After(BodyTimeout + 10*time.Second):
		t.Fatal("a body one byte every 2 s was never cut off")
	}
}

func TestUpgradeIsExempt(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Connection", "keep-alive, Upgrade")
	if !isUpgrade(r) {
		t.Fatal("a WebSocket upgrade gets the body deadline")
	}
	r.Header.Set("Connection", "keep-alive")
	if isUpgrade(r) {
		t.Fatal("a plain request is taken for an upgrade")
	}
}
