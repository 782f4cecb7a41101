package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tandemcc/tandem/internal/dovecottest"
	"github.com/tandemcc/tandem/mail"
)

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestScratchClientCPU(t *testing.T) {
	total := 2000
	srv := dovecottest.Start(t, dovecottest.Options{MaxUserIPConnections: 50})
	body := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n", 140)
	var msgs [][]byte
	for i := 1; i <= total; i++ {
		msgs = append(msgs, append(mailMessage(i, "support@example.org"), body...))
	}
	if _, err := srv.AppendMany("Staging", msgs); err != nil {
		t.Fatal(err)
	}
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("Staging", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	for round := 0; round < 5; round++ {
		c0 := selfCPU()
		start := time.Now()
		var n int
		var parse time.Duration
		for from := 1; from <= total; from += 500 {
			set := imap.UIDSet{imap.UIDRange{Start: imap.UID(from), Stop: imap.UID(min(from+499, total))}}
			bufs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{header}}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			n += len(bufs)
			p0 := selfCPU()
			for _, b := range bufs {
				mail.ParseHeaders(b.FindBodySection(header))
			}
			parse += selfCPU() - p0
		}
		cpu := selfCPU() - c0 - parse
		t.Logf("round %d: %d in %v, client CPU %v (%.1f µs/msg), parse %v", round, n, time.Since(start).Round(100*time.Microsecond), cpu.Round(100*time.Microsecond), float64(cpu.Nanoseconds())/1e3/float64(n), parse)
	}
}
