package mail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/dovecottest"
)

// pipeStore fails the first mail.received_batch once the second has been
// proposed behind it (cluster.WithEnqueued): without applying it (the
// leader lost its log's tail) or after applying it (the answer lost).
type pipeStore struct {
	*engineStore
	applyFirst bool
	mu         sync.Mutex
	batches    int
	second     chan struct{} // closed when the second batch is proposed
	firstDone  chan struct{} // closed when the first has failed
	pipelined  bool          // the second came while the first was in flight
}

func (p *pipeStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	if typ != cc.TypeMailReceivedBatch {
		return p.engineStore.Propose(ctx, typ, payload, opts...)
	}
	p.mu.Lock()
	p.batches++
	n := p.batches
	p.mu.Unlock()
	if fn := cluster.EnqueuedOf(opts...); fn != nil {
		fn()
	}
	switch n {
	case 1:
		defer close(p.firstDone)
		select {
		case <-p.second:
			p.mu.Lock()
			p.pipelined = true
			p.mu.Unlock()
		case <-time.After(5 * time.Second):
			return cluster.Result{}, errors.New("no second batch while the first was in flight")
		}
		if p.applyFirst {
			if _, err := p.engineStore.Propose(ctx, typ, payload, opts...); err != nil {
				return cluster.Result{}, err
			}
		}
		return cluster.Result{}, errors.New("leadership lost")
	case 2:
		close(p.second)
		<-p.firstDone // applied, if at all, after the first
	}
	return p.engineStore.Propose(ctx, typ, payload, opts...)
}

// Batches are proposed while the one before commits; when the one before
// fails — not applied, or applied with its answer lost — the one behind
// it either applies in turn or is refused as out of turn, and the next
// pass reads again from what was recorded: every message one contact,
// none lost.
func TestChannelPipelinedCommitFails(t *testing.T) {
	for _, applyFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("first applied %v", applyFirst), func(t *testing.T) {
			srv := dovecottest.Start(t, dovecottest.Options{})
			const total = 2*FetchBatch + 100
			var msgs [][]byte
			for i := range total {
				msgs = append(msgs, testMessage("support@example.org", fmt.Sprintf("m%d", i)))
			}
			if _, err := srv.AppendMany("INBOX", msgs); err != nil {
				t.Fatal(err)
			}
			st := &pipeStore{engineStore: newEngineStore(t, mailConfig(srv, "")), applyFirst: applyFirst,
				second: make(chan struct{}), firstDone: make(chan struct{})}
			ch := &Channel{Store: st, Engine: st.e, Logger: slog.New(slog.DiscardHandler), MinBackoff: 50 * time.Millisecond}
			runChannel(t, ch)
			waitFor(t, "every message recorded", 30*time.Second, func() bool { _, last := st.e.MailView(); return last == total })
			st.mu.Lock()
			pipelined := st.pipelined
			st.mu.Unlock()
			if !pipelined {
				t.Fatal("the second batch was not proposed while the first was in flight")
			}
			got := st.contacts()
			seen := map[string]bool{}
			for _, c := range got {
				if seen[c] {
					t.Fatalf("contact %q twice", c)
				}
				seen[c] = true
			}
			if len(got) != total {
				t.Fatalf("%d contacts of %d messages", len(got), total)
			}
		})
	}
}

// readFetch against Dovecot hands a FETCH's batch on once, parsed and in
// UID order: every UID asked for; without a UID that never comes (not in
// the mailbox, as one expunged since the search), at the FETCH's end;
// and without a message the FETCH answers but the batch did not ask for.
// That the hand-over does not wait for the FETCH's tagged completion is
// TestReadFetchBeforeCompletion's (a scripted server withholds it).
func TestReadFetch(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	const total = 6
	var msgs [][]byte
	for i := range total {
		msgs = append(msgs, testMessage("support@example.org", fmt.Sprintf("r%d", i)))
	}
	if _, err := srv.AppendMany("INBOX", msgs); err != nil {
		t.Fatal(err)
	}
	cl, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ch := &Channel{Logger: slog.New(slog.DiscardHandler)}
	uids := func(from, to imap.UID) []imap.UID {
		var u []imap.UID
		for i := from; i <= to; i++ {
			u = append(u, i)
		}
		return u
	}
	fetch := func(set imap.UIDSet) *imapclient.FetchCommand {
		return cl.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{headerSection}})
	}
	for _, tc := range []struct {
		name  string
		set   imap.UIDSet
		batch []imap.UID
		want  []uint32
	}{
		{"every UID", uidRanges(uids(1, 5)), uids(1, 5), []uint32{1, 2, 3, 4, 5}},
		{"one gone", uidRanges([]imap.UID{1, 2, 3, 900}), []imap.UID{1, 2, 3, 900}, []uint32{1, 2, 3}},
		{"not asked for", uidRanges(uids(1, 6)), []imap.UID{2, 4}, []uint32{2, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []fetchRead
			ch.readFetch(7, fetch(tc.set), tc.batch, passRules{}, func(r fetchRead) { got = append(got, r) })
			if len(got) != 1 || got[0].err != nil {
				t.Fatalf("done called %d times: %+v", len(got), got)
			}
			var have []uint32
			for _, r := range got[0].reqs {
				if r.UIDValidity != 7 || r.Subject != fmt.Sprintf("r%d", r.UID-1) {
					t.Errorf("UID %d: %+v", r.UID, r)
				}
				have = append(have, r.UID)
			}
			if fmt.Sprint(have) != fmt.Sprint(tc.want) {
				t.Errorf("UIDs %v, want %v", have, tc.want)
			}
		})
	}
}

// TestReadFetchBeforeCompletion: the batch is handed on once every UID
// it asked for has come, while the server still withholds the FETCH's
// tagged completion (as Dovecot does for a FETCH pipelined behind
// another until that one is answered). The server is scripted: it
// answers the FETCH's two messages, then waits for the test before it
// completes the command.
func TestReadFetchBeforeCompletion(t *testing.T) {
	release := make(chan struct{})
	client, served := scripted(t, func(cmds *bufio.Reader, w io.Writer) error {
		tag, err := readTag(cmds)
		if err != nil {
			return err
		}
		for uid := 1; uid <= 2; uid++ {
			if _, err := io.WriteString(w, headerAnswer(uid)); err != nil {
				return err
			}
		}
		<-release
		_, err = fmt.Fprintf(w, "%s OK FETCH completed\r\n", tag)
		return err
	})
	cl := imapclient.New(client, nil)
	defer cl.Close()
	cmd := cl.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 2}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{headerSection}})
	ch := &Channel{Logger: slog.New(slog.DiscardHandler)}
	handed := make(chan fetchRead, 2)
	ended := make(chan struct{})
	go func() {
		ch.readFetch(7, cmd, []imap.UID{1, 2}, passRules{}, func(r fetchRead) { handed <- r })
		close(ended)
	}()
	select {
	case r := <-handed:
		if r.err != nil || len(r.reqs) != 2 || r.reqs[0].From != "c1@example.com" || r.reqs[1].Subject != "s2" {
			t.Fatalf("handed on %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was not handed on before the FETCH's completion")
	}
	select {
	case <-ended:
		t.Fatal("readFetch returned before the FETCH completed")
	default:
	}
	close(release)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("readFetch did not return once the FETCH completed")
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if len(handed) != 0 {
		t.Fatalf("handed on twice: %+v", <-handed)
	}
}

// TestFetchAllSendsAhead: fetchDepth FETCHes are sent before the first is
// answered (the scripted server answers nothing until it has them all),
// and the batches come out in UID order, each message naming the one
// before it.
func TestFetchAllSendsAhead(t *testing.T) {
	client, served := scripted(t, func(r *bufio.Reader, w io.Writer) error {
		type fetchCmd struct {
			tag        string
			from, upto int
		}
		var cmds []fetchCmd
		for len(cmds) < fetchDepth {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("%d FETCHes sent before the first answer: %w", len(cmds), err)
			}
			var c fetchCmd
			if _, err := fmt.Sscanf(line, "%s UID FETCH %d:%d", &c.tag, &c.from, &c.upto); err != nil {
				return fmt.Errorf("%q: %w", line, err)
			}
			cmds = append(cmds, c)
		}
		for _, c := range cmds {
			for uid := c.from; uid <= c.upto; uid++ {
				if _, err := io.WriteString(w, headerAnswer(uid)); err != nil {
					return err
				}
			}
			if _, err := fmt.Fprintf(w, "%s OK FETCH completed\r\n", c.tag); err != nil {
				return err
			}
		}
		return nil
	})
	cl := imapclient.New(client, nil)
	defer cl.Close()
	total := fetchDepth * FetchBatch
	var uids []imap.UID
	for u := 1; u <= total; u++ {
		uids = append(uids, imap.UID(u))
	}
	ch := &Channel{Logger: slog.New(slog.DiscardHandler)}
	out := make(chan fetched, fetchDepth)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		guard := time.AfterFunc(10*time.Second, func() { cl.Close() })
		defer guard.Stop()
		ch.fetchAll(ctx, cl, 7, 0, uids, passRules{}, out)
	}()
	next := uint32(1)
	for f := range out {
		if f.err != nil {
			t.Fatalf("%v (server: %v)", f.err, <-served)
		}
		for _, r := range f.reqs {
			if r.UID != next || r.After != next-1 || r.Subject != fmt.Sprintf("s%d", next) {
				t.Fatalf("got %+v, want UID %d after %d", r, next, next-1)
			}
			next++
		}
	}
	if next != uint32(total)+1 {
		t.Fatalf("%d of %d messages", next-1, total)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// TestFetchFlagChange: a server may report a flag change another
// session made as a FETCH of the UID without the header section, before
// the FETCH's answer for it, and the library hands the command only the
// first answer for a UID: the message is fetched again (refetch), and a
// message the server never sends a header for is recorded without one
// after refetchTries more FETCHes. (Dovecot, tried with a STORE from
// another session between two pipelined FETCHes, holds such news back
// until they are answered; a server need not.) The server is scripted:
// each FETCH it receives is answered by the next script.
func TestFetchFlagChange(t *testing.T) {
	header := headerAnswer
	flags := func(uid int) string { return fmt.Sprintf("* %d FETCH (UID %d FLAGS (\\Seen))\r\n", uid, uid) }
	for _, tc := range []struct {
		name    string
		scripts []string // answers to the FETCHes in turn (the last repeats)
		fetches []string // the UID sets the FETCHes name
		want    []string // each UID's sender as recorded
	}{
		{"a flag change, then the answer", []string{flags(1) + header(1) + flags(2), header(1) + header(2)},
			[]string{"1:2", "1:2"}, []string{"1 c1@example.com", "2 c2@example.com"}},
		{"one answered", []string{header(1) + flags(2), header(2)},
			[]string{"1:2", "2"}, []string{"1 c1@example.com", "2 c2@example.com"}},
		{"never a header", []string{flags(1) + flags(2)},
			[]string{"1:2", "1:2", "1:2", "1:2"}, []string{"1 ", "2 "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fetches []string
			client, served := scripted(t, func(rd *bufio.Reader, w io.Writer) error {
				for k := 0; ; k++ {
					line, err := rd.ReadString('\n')
					if err != nil {
						return nil // the client closed
					}
					f := strings.Fields(line)
					if len(f) < 4 || f[1] != "UID" || f[2] != "FETCH" {
						return fmt.Errorf("unexpected command %q", line)
					}
					fetches = append(fetches, f[3])
					script := tc.scripts[min(k, len(tc.scripts)-1)]
					if _, err := fmt.Fprintf(w, "%s%s OK FETCH completed\r\n", script, f[0]); err != nil {
						return err
					}
				}
			})
			cl := imapclient.New(client, nil)
			ch := &Channel{Logger: slog.New(slog.DiscardHandler)}
			batch := []imap.UID{1, 2}
			cmd := cl.Fetch(uidRanges(batch), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{headerSection}})
			var r fetchRead
			ch.readFetch(7, cmd, batch, passRules{}, func(got fetchRead) { r = got })
			r = ch.refetch(cl, 7, r, passRules{})
			cl.Close()
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			if r.err != nil || len(r.bare) != 0 {
				t.Fatalf("%+v", r)
			}
			var got []string
			for _, q := range r.reqs {
				if q.UIDValidity != 7 {
					t.Errorf("%+v", q)
				}
				got = append(got, fmt.Sprint(q.UID, " ", q.From))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("recorded %q, want %q", got, tc.want)
			}
			if fmt.Sprint(fetches) != fmt.Sprint(tc.fetches) {
				t.Errorf("FETCHes of %v, want %v", fetches, tc.fetches)
			}
		})
	}
}

// TestReadFetchLongHeader: a header longer than maxHeaderBytes is read as
// far as the bound, the rest discarded, and parsed from what was read;
// the FETCH's next message is read as usual. The server is scripted.
func TestReadFetchLongHeader(t *testing.T) {
	long := "From: c1@example.com\r\nSubject: s1\r\nX-Pad: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n"
	client, served := scripted(t, func(cmds *bufio.Reader, w io.Writer) error {
		tag, err := readTag(cmds)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "* 1 FETCH (UID 1 BODY[HEADER] {%d}\r\n%s)\r\n%s%s OK FETCH completed\r\n", len(long), long, headerAnswer(2), tag)
		return err
	})
	cl := imapclient.New(client, nil)
	defer cl.Close()
	batch := []imap.UID{1, 2}
	cmd := cl.Fetch(uidRanges(batch), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{headerSection}})
	ch := &Channel{Logger: slog.New(slog.DiscardHandler)}
	var got []fetchRead
	ch.readFetch(7, cmd, batch, passRules{}, func(r fetchRead) { got = append(got, r) })
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].err != nil || len(got[0].reqs) != 2 {
		t.Fatalf("handed on %+v", got)
	}
	if r := got[0].reqs[0]; r.UID != 1 || r.From != "c1@example.com" || r.Subject != "s1" {
		t.Errorf("the long header read as %+v", r)
	}
	if r := got[0].reqs[1]; r.UID != 2 || r.From != "c2@example.com" {
		t.Errorf("the message after it read as %+v", r)
	}
}

// scripted is an IMAP server on one end of a pipe, its client's end
// returned: it greets, then serve reads the client's commands and answers
// them. served has serve's error once it returns.
func scripted(t *testing.T, serve func(cmds *bufio.Reader, w io.Writer) error) (client net.Conn, served <-chan error) {
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			if _, err := io.WriteString(server, "* OK [CAPABILITY IMAP4rev1] scripted\r\n"); err != nil {
				return err
			}
			return serve(bufio.NewReader(server), server)
		}()
	}()
	return client, done
}

// readTag reads the client's next command and returns its tag.
func readTag(cmds *bufio.Reader) (string, error) {
	line, err := cmds.ReadString('\n')
	if err != nil {
		return "", err
	}
	tag, _, _ := strings.Cut(line, " ")
	return tag, nil
}

// headerAnswer is a FETCH answer of message uid's header: sender
// c<uid>@example.com, subject s<uid>.
func headerAnswer(uid int) string {
	h := fmt.Sprintf("From: c%d@example.com\r\nSubject: s%d\r\n\r\n", uid, uid)
	return fmt.Sprintf("* %d FETCH (UID %d BODY[HEADER] {%d}\r\n%s)\r\n", uid, uid, len(h), h)
}
