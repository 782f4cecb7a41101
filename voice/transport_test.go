package voice

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// startServing runs the rig's server on loopback (UDP and TCP).
func (r *rig) startServing() string {
	r.t.Helper()
	if err := r.s.Listen(); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.s.Run(ctx); close(done) }()
	r.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			r.t.Error("the server did not stop")
		}
	})
	return r.s.Addr()
}

// A REGISTER over each transport, with sipgo's own client computing the
// digest (it answers the first challenge).
func TestRegisterOverLoopback(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			r := newRig(t)
			addr := r.startServing()
			ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			defer ua.Close()
			cl, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(addr)
			var to sip.Uri
			if err := sip.ParseUri("sip:2001@"+host+":"+port+";transport="+transport, &to); err != nil {
				t.Fatal(err)
			}
			req := sip.NewRequest(sip.REGISTER, to)
			req.AppendHeader(sip.NewHeader("Contact", "<sip:2001@127.0.0.1:5090>"))
			req.AppendHeader(sip.NewHeader("Expires", "300"))
			req.SetTransport(strings.ToUpper(transport))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := cl.Do(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 401 {
				t.Fatalf("first answer %d", res.StatusCode)
			}
			res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "2001-desk", Password: "desk-password-2001"})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || !r.registered("2001", "desk") {
				t.Fatalf("with the password: %d", res.StatusCode)
			}
		})
	}
}

// Junk is dropped and counted; a request sipgo cannot make a transaction
// of gets its 400; no raw message and no password reaches the log.
func TestMalformedOverUDP(t *testing.T) {
	r := newRig(t)
	addr := r.startServing()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := []string{
		"\x00\x01 not SIP at all desk-password-2001",
		"REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n",
		"SIP/2.0 999\r\n\r\n",
		strings.Repeat("A", 4000),
	}
	for _, j := range junk {
		if _, err := c.Write([]byte(j)); err != nil {
			t.Fatal(err)
		}
	}
	// Missing CSeq: sipgo answers 400 statelessly.
	noCSeq := "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bKx1\r\n" +
		"From: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: nocseq\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(noCSeq)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer to a request without CSeq: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400") {
		t.Fatalf("answer %q", buf[:n])
	}
	deadline := time.Now().Add(10 * time.Second)
	for (counter(r.s.metrics.malformed.WithLabelValues("dropped")) < 3 || counter(r.s.metrics.malformed.WithLabelValues("rejected")) < 1) &&
		time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d := counter(r.s.metrics.malformed.WithLabelValues("dropped")); d < 3 {
		t.Fatalf("dropped counted %v, want ≥ 3", d)
	}
	if d := counter(r.s.metrics.malformed.WithLabelValues("rejected")); d < 1 {
		t.Fatalf("rejected counted %v", d)
	}
	// A registration with a wrong and a right password, then the log.
	r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}, "2001-desk", "wrong-password-xyz", "MD5")
	r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}, "2001-desk", "desk-password-2001", "SHA-256")
	logs := r.logs.String()
	for _, secret := range []string{"desk-password-2001", "wrong-password-xyz", "not SIP at all", "AAAAAAAAAA"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
}
