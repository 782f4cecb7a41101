package httpserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

// serve starts New(h) on a loopback listener.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(h)
	go srv.Serve(Listener(ln))
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

// raw sends req on a fresh connection and returns the whole reply.
func raw(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the reply to %.40q: %v", req, err)
	}
	return resp
}

// TestProtocolErrorsAreJSON: what net/http answers by itself before any
// handler runs has the error shape of every surface (issue 12.4), and a
// handler's own replies — even a plain-text one that closes the
// connection — pass untouched.
func TestProtocolErrorsAreJSON(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "handler text")
	}))
	big := strings.Repeat("a", 8<<10)
	var pad strings.Builder
	for i := 0; pad.Len() <= MaxHeaderBytes+8<<10; i++ {
		fmt.Fprintf(&pad, "X-Pad-%d: %s\r\n", i, big)
	}
	tests := []struct {
		name, req  string
		status     int
		code, text string
	}{
		{"headers over the limit", "GET / HTTP/1.1\r\nHost: x\r\n" + pad.String() + "\r\n", 431, "headers_too_large", "request headers exceed 64 KiB"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "bad_request", "malformed HTTP request: missing required Host header"},
		{"garbage request line", "HELLO\r\n\r\n", 400, "bad_request", "malformed HTTP request"},
		{"HTTP/2 preface on HTTP/1", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request", "malformed HTTP request: unsupported protocol version"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: rot13\r\n\r\n", 501, "not_implemented", "unsupported transfer encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := raw(t, addr, tt.req)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d %q, want %d application/json: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, body)
			}
			var e apierr.Error
			if err := json.Unmarshal(body, &e); err != nil || string(e.Code) != tt.code || e.Message != tt.text {
				t.Fatalf("body %s (%v), want code %q message %q", body, err, tt.code, tt.text)
			}
		})
	}
	t.Run("a handler's reply", func(t *testing.T) {
		resp := raw(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "handler text" {
			t.Fatalf("handler reply rewritten: %d %q", resp.StatusCode, body)
		}
	})
}
