package voice

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/voice/media"
)

// vmCaller is a raw UDP SIP caller with an RTP socket, over loopback.
type vmCaller struct {
	t      *testing.T
	sip    *net.UDPConn
	media  *net.UDPConn
	server *net.UDPAddr
	callID string
	toTag  string
	answer media.Offer // where Tandem's RTP goes
}

func newVMCaller(t *testing.T, server string) *vmCaller {
	t.Helper()
	c := &vmCaller{t: t, callID: fmt.Sprintf("vm-%d", time.Now().UnixNano())}
	var err error
	if c.sip, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if c.media, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.sip.Close(); c.media.Close() })
	if c.server, err = net.ResolveUDPAddr("udp", server); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *vmCaller) local() string { return c.sip.LocalAddr().String() }

func (c *vmCaller) send(msg string) {
	c.t.Helper()
	if _, err := c.sip.WriteToUDP([]byte(strings.ReplaceAll(msg, "\n", "\r\n")), c.server); err != nil {
		c.t.Fatal(err)
	}
}

func (c *vmCaller) read(within time.Duration) sip.Message {
	c.t.Helper()
	buf := make([]byte, 65535)
	c.sip.SetReadDeadline(time.Now().Add(within))
	n, err := c.sip.Read(buf)
	if err != nil {
		c.t.Fatalf("reading SIP: %v", err)
	}
	m, err := sip.ParseMessage(buf[:n])
	if err != nil {
		c.t.Fatalf("parsing SIP: %v\n%s", err, buf[:n])
	}
	return m
}

// invite offers sdpFormats and returns the final response.
func (c *vmCaller) invite(to, formats string) *sip.Response {
	c.t.Helper()
	sdp := fmt.Sprintf("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n", c.media.LocalAddr().(*net.UDPAddr).Port, formats)
	c.send(fmt.Sprintf(`INVITE sip:%s@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-1
Max-Forwards: 70
From: "Test Caller" <sip:+441615550101@127.0.0.1>;tag=caller1
To: <sip:%s@%s>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:caller@%s>
Content-Type: application/sdp
Content-Length: %d

`, to, c.server, c.local(), c.callID, to, c.server, c.callID, c.local(), len(sdp)) + strings.ReplaceAll(sdp, "\r\n", "\n"))
	for i := 0; i < 10; i++ {
		res, ok := c.read(10 * time.Second).(*sip.Response)
		if ok && res.StatusCode >= 200 {
			if tag, ok := res.To().Params.Get("tag"); ok {
				c.toTag = tag
			}
			if res.StatusCode == 200 {
				o, err := media.ParseOffer(res.Body())
				if err != nil {
					c.t.Fatalf("Tandem's answer: %v\n%s", err, res.Body())
				}
				c.answer = o
			}
			return res
		}
	}
	c.t.Fatal("no final response")
	return nil
}

// inDialog sends a request of the dialog (an ACK to a failure response
// is of the INVITE's transaction: its branch).
func (c *vmCaller) inDialog(method string, cseq int, to string) {
	branch := method
	if method == sip.ACK.String() && c.answer.Codec == "" {
		branch = "1"
	}
	c.send(fmt.Sprintf(`%s sip:%s@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%s
Max-Forwards: 70
From: "Test Caller" <sip:+441615550101@127.0.0.1>;tag=caller1
To: <sip:%s@%s>;tag=%s
Call-ID: %s
CSeq: %d %s
Content-Length: 0

`, method, to, c.server, c.local(), c.callID, branch, to, c.server, c.toTag, c.callID, cseq, method))
}

// rtp sends n packets of 160 bytes (timestamps 160 apart), unpaced.
func (c *vmCaller) rtp(pt uint8, n int) {
	c.t.Helper()
	for i := 0; i < n; i++ {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 7, SequenceNumber: uint16(i), Timestamp: uint32(1000 + 160*i)},
			Payload: make([]byte, 160)}
		for j := range p.Payload {
			p.Payload[j] = byte(i)
		}
		b, _ := p.Marshal()
		if _, err := c.media.WriteToUDPAddrPort(b, c.answer.Remote); err != nil {
			c.t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // loopback buffers are small
	}
}

// A forward to voicemail over loopback: Tandem answers with its own SDP
// for the offered codec and plays the beep; the message ends at the
// caller's BYE, or at the bound with Tandem's BYE; it is deposited with
// its audio (the engine's copy), or not at all when nothing came.
func TestVoicemailOverLoopback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats string
		packets int
		byeBy   string // caller, tandem, "" (refused)
		bytes   int    // deposited ("0": nothing)
		codec   string
	}{
		{"caller hangs up", "0 101", 25, "caller", 4000, media.PCMU},
		{"pcma", "8", 10, "caller", 1600, media.PCMA},
		{"the bound", "0", 70, "tandem", 8000, media.PCMU},
		{"nothing said", "0", 0, "caller", 0, media.PCMU},
		{"no g711", "18", 0, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) {
				c.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
				c.VoicemailMax = time.Second
			})
			doc, err := contactcenter.ParseDocument([]byte(testDoc + "users:\n  - {id: ann, name: Ann, extension: \"2001\"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := r.store.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.store.Propose(ctx, contactcenter.TypeUserForwarding, contactcenter.ForwardingRequest{User: "ann",
				Forwarding: contactcenter.Forwarding{Unconditional: contactcenter.ForwardRule{Voicemail: true}}}); err != nil {
				t.Fatal(err)
			}
			c := newVMCaller(t, r.startServing())
			res := c.invite("2001", tc.formats)
			if tc.byeBy == "" {
				if res.StatusCode != 488 || res.GetHeader("Warning") == nil || !strings.Contains(res.GetHeader("Warning").Value(), "no G.711") {
					t.Fatalf("a caller without G.711: %d %v", res.StatusCode, res.GetHeader("Warning"))
				}
				c.inDialog("ACK", 1, "2001")
				waitUntil(t, "the call ended", func() bool { return r.hasProposal(contactcenter.TypeCallRemoteHangup) })
				return
			}
			if res.StatusCode != 200 || c.answer.Codec != tc.codec || c.answer.Remote.Addr() != netip.MustParseAddr("127.0.0.1") || c.answer.Remote.Port()%2 != 0 {
				t.Fatalf("answer %d %+v\n%s", res.StatusCode, c.answer, res.Body())
			}
			c.inDialog("ACK", 1, "2001")
			// The beep: packets of the chosen payload type.
			buf := make([]byte, 1500)
			c.media.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.media.Read(buf)
			var p rtp.Packet
			if err != nil || p.Unmarshal(buf[:n]) != nil || p.PayloadType != c.answer.PT || len(p.Payload) != 160 {
				t.Fatalf("no beep: %v %+v", err, p.Header)
			}
			c.rtp(101, 3) // DTMF events: not recorded
			c.rtp(c.answer.PT, tc.packets)
			if tc.byeBy == "caller" {
				time.Sleep(300 * time.Millisecond)
				c.inDialog("BYE", 2, "2001")
				for i := 0; i < 5; i++ {
					if res, ok := c.read(5 * time.Second).(*sip.Response); ok && res.CSeq().MethodName == sip.BYE {
						break
					}
				}
			} else {
				var bye *sip.Request
				for i := 0; i < 5 && bye == nil; i++ {
					bye, _ = c.read(5 * time.Second).(*sip.Request)
					if bye != nil && bye.Method != sip.BYE {
						bye = nil
					}
				}
				if bye == nil {
					t.Fatal("no BYE at the bound")
				}
				ok := sip.NewResponseFromRequest(bye, 200, "OK", nil)
				if _, err := c.sip.WriteToUDP([]byte(ok.String()), c.server); err != nil {
					t.Fatal(err)
				}
			}
			// For the engine the caller left the extension when answered.
			waitUntil(t, "the call ended", func() bool { return r.hasProposal(contactcenter.TypeCallRemoteHangup) })
			if tc.bytes == 0 {
				time.Sleep(500 * time.Millisecond)
				if r.hasProposal(contactcenter.TypeVoicemailDeposited) {
					t.Fatal("a message without audio was deposited")
				}
				return
			}
			waitUntil(t, "the deposit", func() bool { return r.hasProposal(contactcenter.TypeVoicemailDeposited) })
			v, _ := r.e.Voicemail("2001")
			if len(v.Inbox) != 1 {
				t.Fatalf("mailbox %+v", v)
			}
			m := v.Inbox[0]
			a, ok := r.e.VoicemailAudio("2001", m.ID)
			if !ok || len(a.Data) != tc.bytes || a.Codec != tc.codec || m.AudioBytes != tc.bytes || m.From != "+441615550101" || m.Name != "Test Caller" ||
				m.DurationSeconds != (tc.bytes+7999)/8000 {
				t.Fatalf("message %+v, audio %v %q %d bytes", m, ok, a.Codec, len(a.Data))
			}
			for i, b := range a.Data {
				if b != byte(i/160) {
					t.Fatalf("byte %d is %d, want %d", i, b, i/160)
				}
			}
		})
	}
}

// hasProposal reports whether a command of typ was committed (and
// keeps the others for later checks).
func (r *rig) hasProposal(typ string) bool {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	for _, p := range r.store.proposals {
		if strings.HasPrefix(p, typ+" ") {
			return true
		}
	}
	return false
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
