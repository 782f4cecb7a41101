package postfixtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/dovecottest"
)

// A message sent with STARTTLS (and, with Auth, PLAIN authentication)
// reaches the recipient's mailbox in Dovecot, with this Postfix's
// Received: time; without authentication, Auth refuses to relay.
func TestDeliversIntoDovecot(t *testing.T) {
	for _, auth := range []bool{false, true} {
		t.Run(fmt.Sprint("auth=", auth), func(t *testing.T) {
			dc := dovecottest.Start(t, dovecottest.Options{TLS: true, LMTP: true})
			pf := Start(t, Options{Dovecot: dc, Auth: auth})
			send := func(withAuth bool, to string) error {
				c, err := smtp.Dial(pf.Addr())
				if err != nil {
					return err
				}
				defer c.Close()
				pem, _ := os.ReadFile(pf.CAFile)
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(pem)
				if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
					return err
				}
				if withAuth {
					if err := c.Auth(smtp.PlainAuth("", pf.User, pf.Password, "127.0.0.1")); err != nil {
						return err
					}
				}
				if err := c.Mail("sales@example.org"); err != nil {
					return err
				}
				if err := c.Rcpt(to); err != nil {
					return err
				}
				w, err := c.Data()
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "From: sales@example.org\r\nTo: %s\r\nSubject: hi\r\nMessage-ID: <t1@example.org>\r\n\r\nhello\r\n", to)
				if err := w.Close(); err != nil {
					return err
				}
				return c.Quit()
			}
			before := time.Now().Truncate(time.Second)
			if err := send(auth, "ann@customer.example"); err != nil {
				t.Fatalf("send: %v\n%s", err, pf.Logs())
			}
			if auth {
				if err := send(false, "bob@customer.example"); err == nil || !strings.Contains(err.Error(), "5.7.1") {
					t.Fatalf("relayed without authentication: %v", err)
				}
			}
			var got [][]byte
			for i := 0; i < 200 && len(got) == 0; i++ {
				got, _ = dc.Messages("ann@customer.example", "INBOX")
				if len(got) == 0 {
					time.Sleep(50 * time.Millisecond)
				}
			}
			if len(got) != 1 || !strings.Contains(string(got[0]), "Message-ID: <t1@example.org>") || !strings.Contains(string(got[0]), "(using TLS") {
				t.Fatalf("ann's mailbox: %q\npostfix: %s\ndovecot: %s", got, pf.Logs(), dc.Logs())
			}
			at, err := ReceivedAt(got[0])
			if err != nil || at.Before(before) || at.After(time.Now()) {
				t.Fatalf("received at %v (%v), sent after %v:\n%s", at, err, before, got[0])
			}
		})
	}
}
