package voice

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// FuzzAuthorization: any Authorization value, for any method, is
// refused unless its response is the one the right password gives; the
// handling never panics.
func FuzzAuthorization(f *testing.F) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	a, err := newAuthenticator("tandem", DefaultAlgorithms, 5*time.Minute, 64, func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	const password = "desk-password-2001"
	for _, alg := range []string{"MD5", "SHA-256", "SHA-512", ""} {
		ch := &digest.Challenge{Realm: "tandem", Nonce: a.nonce(), Algorithm: alg, QOP: []string{"auth"}}
		for _, pw := range []string{password, "wrong"} {
			c, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: "sip:127.0.0.1", Username: "2001-desk", Password: pw, Count: 1})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(c.String(), "REGISTER")
		}
	}
	for _, s := range []string{"", "Digest", "Digest ", "Basic Zm9vOmJhcg==", `Digest username="2001-desk", nc=zz`,
		`Digest username="2001-desk",realm="tandem",nonce="x",uri="sip:a",response="00",qop=auth,nc=00000001,cnonce="c"`,
		`Digest username="a\"b", realm=tandem, nonce=, uri=, response=`, `Digest userhash=true, username="x"`,
		"Digest " + strings.Repeat(`a="b",`, 400)} {
		f.Add(s, "REGISTER")
	}
	f.Fuzz(func(t *testing.T, h, method string) {
		c, err := a.verify(h, method, sip.Uri{Scheme: "sip", Host: "127.0.0.1"}, func(user string) []string {
			if user == "2001-desk" {
				return []string{password}
			}
			return nil
		})
		if err != nil {
			if _, ok := err.(*authError); !ok {
				t.Fatalf("error of another kind: %T %v", err, err)
			}
			return
		}
		// Accepted: it must be the right password's response.
		cred, perr := digest.ParseCredentials(h)
		if perr != nil || c.User != "2001-desk" {
			t.Fatalf("accepted %q (user %q, parse %v)", h, c.User, perr)
		}
		alg := cred.Algorithm
		want, _ := digest.Digest(&digest.Challenge{Realm: "tandem", Nonce: cred.Nonce, Algorithm: alg, QOP: []string{"auth"}},
			digest.Options{Method: method, URI: cred.URI, Username: cred.Username, Password: password, Count: cred.Nc, Cnonce: cred.Cnonce})
		if want == nil || !strings.EqualFold(want.Response, cred.Response) {
			t.Fatalf("accepted %q without the right response", h)
		}
	})
}

// FuzzRequest: any message the SIP parser accepts, handled as a request
// by the leader's edge, gets one final answer of a valid status or
// none (an ACK); the handler never panics (it would answer 500 and
// count a panic).
func FuzzRequest(f *testing.F) {
	seeds := []string{
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContact: <sip:2001@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nAuthorization: Digest username=\"2001-desk\", realm=\"tandem\", nonce=\"abc\", uri=\"sip:127.0.0.1\", response=\"0\", qop=auth, nc=00000001, cnonce=\"c\"\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nTo: <sip:abc@127.0.0.1>\r\nCSeq: 1 REGISTER\r\nContact: <sip:2001@127.0.0.1:5070>;expires=abc\r\nExpires: -1\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:2001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=b\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: y\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:*552001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK4\r\nFrom: <sip:2002@y>;tag=c\r\nTo: <sip:*552001@127.0.0.1>\r\nCall-ID: z\r\nCSeq: 1 INVITE\r\nContact: <sip:2002@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
		"INVITE sip:*55@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK5\r\nFrom: <sip:2002@y>;tag=d\r\nTo: <sip:*55@127.0.0.1>\r\nCall-ID: w\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK3\r\nCSeq: 9 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"ACK sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK3\r\nCSeq: 9 ACK\r\nContent-Length: 0\r\n\r\n",
		"FOO sip:127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	r := newRig(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := sip.ParseMessage(b)
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.1:5070")
		req.SetTransport("UDP")
		tx := newFakeTx()
		r.s.handle(req, tx)
		res := tx.last()
		if req.IsAck() {
			if res != nil {
				t.Fatal("answered an ACK")
			}
			return
		}
		if res == nil || res.StatusCode < 200 || res.StatusCode > 699 {
			t.Fatalf("answer %v to %q", res, b)
		}
		if n := counter(r.s.metrics.malformed.WithLabelValues("panic")); n != 0 {
			t.Fatalf("the handler panicked on %q", b)
		}
	})
}

// FuzzExtensionOf: a URI maps to an extension only when its user part is
// 2-15 digits.
func FuzzExtensionOf(f *testing.F) {
	for _, s := range []string{"sip:2001@h", "sips:12@h", "sip:1@h", "sip:20-01@h", "tel:2001", "sip:0123456789012345@h", "sip:%32%30@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var u sip.Uri
		if sip.ParseUri(s, &u) != nil {
			return
		}
		ext, ok := extensionOf(u)
		if !ok {
			return
		}
		if len(ext) < 2 || len(ext) > 15 || !isDigits(ext) || ext != u.User {
			t.Fatalf("%q → %q", s, ext)
		}
	})
}

// FuzzByeRequest: whatever INVITE the parser accepts, the edge data kept
// from it (callerEdge) either gives no BYE or one that parses as a BYE of
// the INVITE's Call-ID with one From, one To and no header of the
// caller's making outside From, To, Call-ID and Route (no injection).
func FuzzByeRequest(f *testing.F) {
	for _, s := range []string{
		"INVITE sip:sales@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:sales@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:sales@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nRecord-Route: <sip:10.0.0.1;lr>, <sip:p.example.com>\r\nFrom: \"A, B\" <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:sales@127.0.0.1>\r\nCall-ID: x@y\r\nCSeq: 99 INVITE\r\nContact: \"x\" <sip:a:pw@[::1]:5070;transport=udp?Subject=hi>\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:sales@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nRecord-Route: <sip:10.0.0.1>\r\nFrom: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:sales@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sips:a@h>\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := sip.ParseMessage(b)
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok || req.CallID() == nil {
			return
		}
		req.SetSource("127.0.0.1:5070")
		req.SetTransport("UDP")
		if req.To() != nil {
			req.To().Params.Add("tag", "ourtag")
		}
		raw, _, err := byeRequest(callerEdge(req), 1234)
		if err != nil {
			return
		}
		bm, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatalf("the BYE does not parse: %v\n%s", err, raw)
		}
		bye, ok := bm.(*sip.Request)
		if !ok || bye.Method != sip.BYE || bye.CallID() == nil || bye.CallID().Value() != req.CallID().Value() ||
			len(bye.GetHeaders("From")) != 1 || len(bye.GetHeaders("To")) != 1 || bye.CSeq() == nil || bye.CSeq().SeqNo != 1234 {
			t.Fatalf("not the dialog's BYE:\n%s", raw)
		}
		for _, h := range bye.Headers() {
			switch strings.ToLower(h.Name()) {
			case "from", "to", "call-id", "route", "cseq", "max-forwards", "reason", "user-agent", "content-length":
			default:
				t.Fatalf("header %s in the BYE:\n%s", h.Name(), raw)
			}
		}
	})
}
