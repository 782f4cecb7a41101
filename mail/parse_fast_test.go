package mail

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fastSeeds are headers parseHeadersFast reads (plain) and ones it must
// leave to go-message.
var fastSeeds = []struct {
	raw   string
	plain bool
}{
	{"From: Customer 7 <c7@example.com>\r\nTo: support@example.org\r\nSubject: =?ISO-8859-1?Q?Caf=E9_7?=\r\nMessage-ID: <m7.1733330000@example.com>\r\n\r\nHello\r\n", true},
	{"From: a@b.c\r\nTo: Support <support@example.org>, x@example.org\r\nCc: sales@example.org\r\nDelivered-To: d@example.org\r\nX-Original-To: o@example.org\r\n\r\n", true},
	{"Received: from x\r\n\tby y; Fri, 4 Dec 2026\r\nDKIM-Signature: v=1;\r\n b=abc\r\nFrom: a@b.c\r\nSubject: a\r\n  folded   subject\r\n \r\n\tend\r\n\r\n", true},
	{"From: a@b.c\r\nIn-Reply-To: <r1.mail-1-1@example.org>\r\nReferences: <q@cust> <r1.mail-1-1@example.org> <q@cust>\r\n\r\n", true},
	{"From: a@b.c\r\nReferences: <q@cust>\r\n <r@cust>\r\n\r\n", true},
	{"From: a@b.c\r\nAuto-Submitted: auto-replied\r\nPrecedence: Bulk\r\nList-Id: <x.y>\r\nX-Autoreply: yes\r\nX-Autorespond: yes\r\nX-Tandem-Contact: mail-1\r\n\r\n", true},
	{"From: a@b.c\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=7.1\r\nX-Spam: yes\r\nX-Virus-Status: Infected (Eicar-Signature)\r\n\r\n", true},
	{"From: a@b.c\r\nX-Spam-Flag: NO\r\nX-Spam-Status: No, score=0.1\r\nX-Virus-Status: Clean\r\n\r\n", true},
	{"from: a@b.c\r\nSUBJECT:   x  \r\nmessage-id:<a@b>\r\n\r\n", true},
	{"Subject: =?x-unknown?Q?abc?=\r\n\r\n", true},
	{"Subject: =?utf-8?B?w6k=?= =?utf-8?B?w6k=?=\r\n\r\n", true},
	{"From: \"Quoted\" <x@y.z>\r\n\r\n", false},
	{"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\r\n\r\n", false},
	{"From: a@b.c (comment)\r\n\r\n", false},
	{"From: a@b.c\r\nFrom: d@e.f\r\n\r\n", false},
	{"From: a@b.c\n\n", false},
	{"From: a@b.c\r\n", false},
	{" From: a@b.c\r\n\r\n", false},
	{"From: a@b.c\r\nSubject: caf\xc3\xa9\r\n\r\n", false},
	{"Message-ID: <a@[1.2.3.4]>\r\n\r\n", false},
	{"Message-ID: a@b\r\n\r\n", false},
	{"To: a@b.c,d@e.f\r\n\r\n", false},
	{"To: a@b..c\r\n\r\n", false},
	{"X_Odd: 1\r\nFrom: a@b.c\r\n\r\n", false},
	{"No colon\r\n\r\n", false},
	{"", false},
}

// TestParseHeadersFast: the plain headers take the fast path, the others
// go to go-message, and the fast path answers as go-message does.
func TestParseHeadersFast(t *testing.T) {
	for i, tc := range fastSeeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, ok := parseHeadersFast([]byte(tc.raw))
			if ok != tc.plain {
				t.Fatalf("fast path taken %v, want %v for %q", ok, tc.plain, tc.raw)
			}
			if ok {
				checkFastAsMessage(t, []byte(tc.raw), got)
			}
		})
	}
}

func checkFastAsMessage(t *testing.T, raw []byte, got Headers) {
	t.Helper()
	want, err := parseHeadersMessage(raw)
	if err != nil {
		t.Fatalf("the fast path read %q, go-message refused it: %v", raw, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast       %+v\ngo-message %+v", raw, got, want)
	}
}

// FuzzParseHeadersFast holds the fast path to go-message: whatever it
// reads, go-message reads the same.
func FuzzParseHeadersFast(f *testing.F) {
	for _, tc := range fastSeeds {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, ok := parseHeadersFast(raw); ok {
			checkFastAsMessage(t, raw, got)
		}
	})
}

func BenchmarkParseHeaders(b *testing.B) {
	raw := []byte(strings.ReplaceAll(fastSeeds[0].raw, "Hello\r\n", ""))
	for _, c := range []struct {
		name string
		fn   func([]byte) (Headers, error)
	}{{"fast", ParseHeaders}, {"go-message", parseHeadersMessage}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fn(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
