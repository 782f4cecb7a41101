package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tandemcc/tandem/internal/dovecottest"
)

// TestMailIngestRate is the benchmark, bounded for `make test`:
// messages of 10 KB ingested from Dovecot into contacts through a
// three-node cluster, beside the raw IMAP FETCH rate of the same
// messages, with the same library and the same fetch items (headers, in
// batches of 200, as the channel fetches), in the same run. It logs ours ÷ raw (target ≥ 0.7) and
// asserts only that every message became one contact — never a speed.
// TANDEM_MAIL_BENCH_MESSAGES sets the count (default 100).
func TestMailIngestRate(t *testing.T) {
	total := 100
	if v, err := strconv.Atoi(os.Getenv("TANDEM_MAIL_BENCH_MESSAGES")); err == nil && v > 0 {
		total = v
	}
	srv := dovecottest.Start(t, dovecottest.Options{MaxUserIPConnections: 50})
	body := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n", 140) // ~10 KB
	var msgs [][]byte
	for i := 1; i <= total; i++ {
		msgs = append(msgs, append(mailMessage(i, "support@example.org"), body...))
	}
	if _, err := srv.AppendMany("INBOX", msgs); err != nil {
		t.Fatal(err)
	}
	// Raw: the same fetches the channel makes, on one session.
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	start := time.Now()
	fetched := 0
	for from := 1; from <= total; from += 200 {
		set := imap.UIDSet{imap.UIDRange{Start: imap.UID(from), Stop: imap.UID(min(from+199, total))}}
		bufs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{header}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		fetched += len(bufs)
	}
	raw := time.Since(start)
	c.Close()
	if fetched != total {
		t.Fatalf("raw fetch got %d of %d", fetched, total)
	}

	nodes := startCluster(t, "mb", 3, nil)
	leader := waitLeader(t, nodes, 3)
	start = time.Now()
	leader.apply(mailDoc(srv)).ok(t)
	want := fmt.Sprint(map[string][2]int{"sales": {0, 0}, "support": {total, total}})
	waitFor(t, waitCluster+time.Duration(total)*100*time.Millisecond, "every message a contact", func() (bool, string) {
		got, err := leader.queueCounts()
		return err == nil && fmt.Sprint(got) == want, fmt.Sprintf("%v %v", got, err)
	})
	ours := time.Since(start)
	oursRate, rawRate := float64(total)/ours.Seconds(), float64(total)/raw.Seconds()
	t.Logf("mail ingest: %d messages of %d bytes through 3 nodes in %v: %.0f msg/s; raw IMAP FETCH (headers, 200 a batch) in %v: %.0f msg/s; ours ÷ raw = %.3f (target ≥ 0.7)",
		total, len(msgs[0]), ours.Round(time.Millisecond), oursRate, raw.Round(time.Millisecond), rawRate, oursRate/rawRate)
	for _, n := range nodes {
		waitFor(t, waitCluster, n.name()+" to agree", func() (bool, string) {
			got, err := n.queueCounts()
			return err == nil && fmt.Sprint(got) == want, fmt.Sprintf("%v %v", got, err)
		})
	}
}
