package mail

import (
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

func msg(headers string, body string) []byte {
	return []byte(strings.ReplaceAll(headers, "\n", "\r\n") + "\r\n" + body)
}

func TestParseHeaders(t *testing.T) {
	base := "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\nTo: Support <support@example.org>, x@example.org\nCc: sales@example.org\nMessage-ID: <abc@example.com>\nSubject: =?windows-1252?Q?Caf=E9_=80_bill?=\n"
	tests := []struct {
		name    string
		headers string
		skip    string
	}{
		{"customer", base, ""},
		{"auto-reply", base + "Auto-Submitted: auto-replied\n", cc.MailSkipAutoReply},
		{"auto-submitted no", base + "Auto-Submitted: no\n", ""},
		{"x-autoreply", base + "X-Autoreply: yes\n", cc.MailSkipAutoReply},
		{"bulk", base + "Precedence: Bulk\n", cc.MailSkipBulk},
		{"junk", base + "Precedence: junk\n", cc.MailSkipBulk},
		{"list", base + "List-Id: <news.example.com>\n", cc.MailSkipBulk},
		{"ours", base + HeaderContact + ": mail-1-2\n", cc.MailSkipOwn},
		{"spamassassin flag", base + "X-Spam-Flag: YES\n", cc.MailSkipSpam},
		{"spamassassin status", base + "X-Spam-Status: Yes, score=7.2 required=5.0\n", cc.MailSkipSpam},
		{"rspamd", base + "X-Spam: Yes\n", cc.MailSkipSpam},
		{"not spam", base + "X-Spam-Flag: NO\nX-Spam-Status: No, score=0.3\nX-Spam: no\n", ""},
		{"not a verdict", base + "X-Spam-Status: yesterday\n", ""},
		{"virus", base + "X-Virus-Status: Infected (Eicar-Signature)\nX-Spam-Flag: YES\n", cc.MailSkipVirus},
		{"clean", base + "X-Virus-Status: Clean\n", ""},
		{"ours before a verdict", base + HeaderContact + ": mail-1-2\nX-Spam-Flag: YES\n", cc.MailSkipOwn},
		{"answer", base + "In-Reply-To: <r1.mail-1-1@example.org>\nReferences: <q@cust> <r1.mail-1-1@example.org>\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeaders(msg(tc.headers, "hi\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			if h.Skip != tc.skip {
				t.Fatalf("skip %q, want %q", h.Skip, tc.skip)
			}
			if h.From != "andre@example.com" || h.FromName != "André" || h.MessageID != "<abc@example.com>" {
				t.Fatalf("headers %+v", h)
			}
			if h.Subject != "Café € bill" {
				t.Fatalf("subject %q", h.Subject)
			}
			if strings.Join(h.To, ",") != "support@example.org,x@example.org,sales@example.org" {
				t.Fatalf("to %q", h.To)
			}
			if tc.name == "answer" && strings.Join(h.Thread, " ") != "<r1.mail-1-1@example.org> <q@cust>" {
				t.Fatalf("thread %q", h.Thread)
			}
		})
	}
	// Control characters and over-long subjects are cleaned to the
	// engine's limits.
	h, err := ParseHeaders(msg("Subject: a\tb"+strings.Repeat("x", 600)+"\nFrom: bad\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Subject) != cc.MaxNoteLen || strings.ContainsRune(h.Subject, '\t') || h.From != "" {
		t.Fatalf("%+v", h)
	}
	if err := cc.CheckPayload(cc.TypeMailReceived, mustJSON(t, cc.MailReceivedRequest{UIDValidity: 1, UID: 1, MessageID: h.MessageID,
		From: h.From, FromName: h.FromName, To: h.To, Subject: h.Subject, Thread: h.Thread, Skip: h.Skip})); err != nil {
		t.Fatalf("the edge's check refuses a parsed message: %v", err)
	}
}

func TestParseContent(t *testing.T) {
	raw := msg("From: a@example.com\nTo: support@example.org\nSubject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n",
		"--XX\r\nContent-Type: text/plain; charset=iso-8859-2\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nZ=B3ote\r\n"+
			"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n"+
			"--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"+
			"--XX--\r\n")
	c, err := ParseContent(raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(c.Text) != "Złote" || !strings.Contains(c.HTML, "<p>hi</p>") {
		t.Fatalf("text %q html %q", c.Text, c.HTML)
	}
	if len(c.Attachments) != 1 || c.Attachments[0].Filename != "invoice.pdf" || c.Attachments[0].Size != 9 {
		t.Fatalf("attachments %+v", c.Attachments)
	}
}

// The operator's verdict rules: the first whose field says its word
// gives the reason; folded fields and case do not matter; nothing
// matches without rules.
func TestVerdictOf(t *testing.T) {
	rules := []cc.MailVerdict{{Header: "X-Filter-Verdict", Value: "Quarantine", Reason: cc.MailSkipSpam},
		{Header: "x-av", Value: "infected", Reason: cc.MailSkipVirus}, {Header: "X-Spam-Score", AtLeast: 5, Reason: cc.MailSkipSpam}}
	for _, tc := range []struct {
		header, want string
	}{
		{"From: a@b.c\r\nX-Filter-Verdict: quarantine (score 99)\r\n\r\n", cc.MailSkipSpam},
		{"From: a@b.c\r\nX-Filter-Verdict: pass\r\nX-AV: INFECTED\r\n\r\n", cc.MailSkipVirus},
		{"From: a@b.c\r\nX-AV: clean\r\nX-AV:\r\n Infected: Eicar\r\n\r\n", cc.MailSkipVirus},
		{"From: a@b.c\r\nX-Filter-Verdict: quarantined-not\r\n\r\n", ""},
		{"From: a@b.c\r\n\r\n", ""},
		{"X-Spam-Score: 7.2 (required 5.0)\r\n\r\n", cc.MailSkipSpam},
		{"X-Spam-Score: 5\r\n\r\n", cc.MailSkipSpam},
		{"X-Spam-Score: 4.99\r\n\r\n", ""},
		{"X-Spam-Score: -12\r\n\r\n", ""},
		{"X-Spam-Score: high\r\n\r\n", ""},
		{"X-Spam-Score: .\r\n\r\n", ""},
		{"", ""},
	} {
		if got := verdictOf([]byte(tc.header), rules); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.header, got, tc.want)
		}
	}
	if got := verdictOf([]byte("X-Filter-Verdict: quarantine\r\n\r\n"), nil); got != "" {
		t.Errorf("no rules: %q", got)
	}
}
