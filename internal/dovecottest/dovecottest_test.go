package dovecottest

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
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

// Dovecot counts a loopback connection as secured and lets it log in
// without TLS; its log tells TLS logins apart (LoginsWithoutTLS).
func TestLoginsWithoutTLS(t *testing.T) {
	s := Start(t, Options{StartTLS: true})
	c, err := s.Dial() // STARTTLS
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n, all := s.LoginsWithoutTLS(1); n != 0 || all != 1 {
		t.Fatalf("after a STARTTLS login: %d of %d logins without TLS\n%s", n, all, s.Logs())
	}
	if c, err = imapclient.DialInsecure(s.Addr(), nil); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if n, all := s.LoginsWithoutTLS(2); n != 1 || all != 2 {
		t.Fatalf("after a plain login too: %d of %d logins without TLS\n%s", n, all, s.Logs())
	}
}
