package mail

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	cc "github.com/tandemcc/tandem/contactcenter"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fuzzVerdicts are operator's verdict rules FuzzParseMessage reads.
var fuzzVerdicts = []cc.MailVerdict{{Header: "X-Filter-Verdict", Value: "quarantine", Reason: cc.MailSkipSpam},
	{Header: "X-AV", Value: "infected", Reason: cc.MailSkipVirus}, {Header: "X-Spam-Score", AtLeast: 5, Reason: cc.MailSkipSpam}}

// FuzzParseMessage: any bytes as a message never panic; what is read of
// the headers always passes the engine's check as a mail.received, and
// the text is UTF-8 within its bound.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		"",
		"From: a@b\r\n\r\nbody",
		"Subject: =?utf-8?B?w6k=?=\r\nFrom: \"x\" <x@y>\r\nTo: a@b, c@d\r\n\r\n",
		"Subject: =?x-unknown?Q?abc?=\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nabc",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
		"Content-Type: multipart/mixed\r\n\r\nno boundary",
		"Message-ID: <\x00\x01@x>\r\nFrom: <\xff\xfe@x>\r\nAuto-Submitted: auto-generated\r\n\r\n",
		"To: " + string(make([]byte, 300)) + "@x\r\n\r\n",
		"In-Reply-To: <a@b> <\x01@c>\r\nReferences: " + strings.Repeat("<r@x> ", 40) + "\r\n\r\n",
		"Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=FF=FEa=00=\r\n",
		"X-Filter-Verdict: Quarantine\r\nX-AV:\r\n infected\r\nX-Spam-Flag: YES\r\nX-Spam-Score: 5.5\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := ParseHeaders(raw)
		if err == nil {
			p := cc.MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: h.MessageID, From: h.From, FromName: h.FromName,
				To: h.To, Subject: h.Subject, Thread: h.Thread, Skip: h.Skip}
			if err := cc.CheckPayload(cc.TypeMailReceived, mustJSON(t, p)); err != nil {
				t.Fatalf("headers %+v refused by the engine's check: %v", h, err)
			}
		}
		if r := verdictOf(raw, fuzzVerdicts); r != "" && r != cc.MailSkipSpam && r != cc.MailSkipVirus {
			t.Fatalf("verdict %q", r)
		}
		c, _ := ParseContent(raw)
		if !utf8.ValidString(c.Text) || !utf8.ValidString(c.HTML) || len(c.Text) > MaxBodyBytes || len(c.HTML) > MaxBodyBytes {
			t.Fatalf("content not UTF-8 or over its bound: %d/%d bytes", len(c.Text), len(c.HTML))
		}
	})
}
