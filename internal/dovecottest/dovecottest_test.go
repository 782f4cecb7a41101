package dovecottest

import (
	"fmt"
	"testing"
)

func TestAppendAndCount(t *testing.T) {
	for _, o := range []Options{{}, {TLS: true}, {StartTLS: true}} {
		t.Run(fmt.Sprintf("tls=%v starttls=%v", o.TLS, o.StartTLS), func(t *testing.T) {
			s := Start(t, o)
			uid, err := s.Append("INBOX", []byte("From: a@example.com\r\nSubject: x\r\n\r\nhello\r\n"))
			if err != nil {
				t.Fatalf("append: %v\n%s", err, s.Logs())
			}
			n, err := s.Count("INBOX")
			if err != nil || n != 1 || uid == 0 {
				t.Fatalf("count %d uid %d err %v", n, uid, err)
			}
			s.Kill()
			s.Start()
			if n, err := s.Count("INBOX"); err != nil || n != 1 {
				t.Fatalf("after a restart: %d %v", n, err)
			}
		})
	}
}
