package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/dovecottest"
)

// engineStore is a one-node "cluster" in process: Propose applies to a
// real engine at once (the FSM's dedupe by command ID included). The
// e2e tests (test/e2e) run the channel in real tandemd clusters.
type engineStore struct {
	mu     sync.Mutex
	e      *cc.Engine
	seen   map[string]cluster.Result
	index  uint64
	leader bool
	events []command.Event
	now    func() time.Time // the leader's clock (default time.Now)
}

func newEngineStore(t *testing.T, doc string) *engineStore {
	s := &engineStore{e: cc.New(), seen: map[string]cluster.Result{}, leader: true}
	d, err := cc.ParseDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Propose(context.Background(), cc.TypeConfigApply, cc.ApplyRequest{Document: d}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *engineStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	env, err := command.New(typ, fmt.Sprint("id-", s.index+1), now(), payload) // as the cluster's Propose builds it
	if err != nil {
		return cluster.Result{}, err
	}
	s.index++
	em := command.NewEmitter(s.index, env)
	res, err := s.e.Apply(env, em)
	if err != nil {
		return cluster.Result{}, &cluster.Refusal{Msg: err.Error()} // as the cluster answers a refusal
	}
	s.events = append(s.events, em.Events()...)
	rb, _ := json.Marshal(res)
	return cluster.Result{Index: s.index, Result: rb}, nil
}

func (s *engineStore) IsLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

// contacts are the e-mail contacts the engine created, in order.
func (s *engineStore) contacts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		if ev.Type == cc.EvMailReceived {
			var m cc.MailReceivedEvent
			json.Unmarshal(ev.Data, &m)
			out = append(out, m.Contact+" "+m.Queue+" "+m.Subject)
		}
	}
	return out
}

func mailConfig(srv *dovecottest.Server, extra string) string {
	tls, ca := "none", ""
	switch {
	case srv.TLS:
		tls, ca = "implicit", "\n  ca_file: "+srv.CAFile
	case srv.StartTLS:
		tls, ca = "starttls", "\n  ca_file: "+srv.CAFile
	}
	return fmt.Sprintf(`
queues: [{id: support}, {id: sales}]
mail:
  imap: {host: 127.0.0.1, port: %d, tls: %s, user: %q, password: %q, poll_seconds: 1%s}
  aliases: [{address: support@example.org, queue: support}, {address: sales@example.org, queue: sales}]%s
`, srv.Port, tls, srv.User, srv.Password, extra, ca)
}

func testMessage(to, subject string, extra ...string) []byte {
	h := fmt.Sprintf("From: Customer <cust@example.com>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n", to, subject,
		strings.ReplaceAll(subject, " ", "."))
	for _, x := range extra {
		h += x + "\r\n"
	}
	return []byte(h + "\r\nHello.\r\n")
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runChannel(t *testing.T, ch *Channel) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ch.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// New mail becomes one contact per message in its alias's queue, over
// IDLE and over polling, in plain text and TLS with a custom CA; the
// channel's own messages, auto-replies and list mail become none; a
// restarted channel makes no second contact.
func TestChannelIngestsFromDovecot(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts dovecottest.Options
		idle bool
	}{
		{"idle", dovecottest.Options{}, true},
		{"poll", dovecottest.Options{NoIdle: true}, false},
		{"tls", dovecottest.Options{TLS: true}, true},
		{"starttls", dovecottest.Options{StartTLS: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := dovecottest.Start(t, tc.opts)
			// One message is there before the channel starts.
			if _, err := srv.Append("INBOX", testMessage("support@example.org", "before start")); err != nil {
				t.Fatal(err)
			}
			st := newEngineStore(t, mailConfig(srv, ""))
			ch := &Channel{Store: st, Engine: st.e, Logger: slog.New(slog.DiscardHandler), MinBackoff: 50 * time.Millisecond}
			stop := runChannel(t, ch)
			waitFor(t, "the first contact", 20*time.Second, func() bool { return len(st.contacts()) == 1 })
			if s := ch.Status(); s.Idle != tc.idle || (s.State != "watching" && s.State != "polling") {
				t.Fatalf("status %+v", s)
			}
			for _, m := range [][]byte{
				testMessage("Sales@Example.org", "second"),
				testMessage("support@example.org", "auto", "Auto-Submitted: auto-replied"),
				testMessage("support@example.org", "news", "List-Id: <news.example.com>"),
				testMessage("cust@example.com", "our reply", HeaderContact+": mail-1-1"),
				testMessage("support@example.org", "third"),
			} {
				if _, err := srv.Append("INBOX", m); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "three contacts", 20*time.Second, func() bool { v, last := st.e.MailView(); return v != 0 && last == 6 })
			got := st.contacts()
			if len(got) != 3 || !strings.HasSuffix(got[0], "support before start") || !strings.HasSuffix(got[1], "sales second") || !strings.HasSuffix(got[2], "support third") {
				t.Fatalf("contacts %q", got)
			}
			// A second channel (a restart, a new leader) reads the same
			// mailbox: nothing new.
			stop()
			ch2 := &Channel{Store: st, Engine: st.e, MinBackoff: 50 * time.Millisecond}
			runChannel(t, ch2)
			if _, err := srv.Append("INBOX", testMessage("support@example.org", "after restart")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the fourth contact", 20*time.Second, func() bool { return len(st.contacts()) == 4 })
			time.Sleep(300 * time.Millisecond)
			if got := st.contacts(); len(got) != 4 {
				t.Fatalf("contacts after a restart %q", got)
			}
			if n, all := srv.LoginsWithoutTLS(1); (srv.TLS || srv.StartTLS) && (n != 0 || all == 0) {
				t.Errorf("%d of the server's %d logins (the channel's and the test's) without TLS\n%s", n, all, srv.Logs())
			}
		})
	}
}

// The server down: retried with back-off, shown in the status, one alarm
// for the outage; mail that arrived meanwhile is ingested once it is
// back.
func TestChannelServerOutage(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	st := newEngineStore(t, mailConfig(srv, ""))
	var mu sync.Mutex
	var alarms []string
	ch := &Channel{Store: st, Engine: st.e, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Unreachable: func(server, msg string) { mu.Lock(); alarms = append(alarms, server+" "+msg); mu.Unlock() }}
	runChannel(t, ch)
	waitFor(t, "watching", 20*time.Second, func() bool { return ch.Status().State == "watching" })
	srv.Kill()
	waitFor(t, "three failed attempts", 20*time.Second, func() bool { return ch.Status().Failures >= 3 })
	s := ch.Status()
	if !s.Unreachable || s.State != "unreachable" || s.LastError == "" || s.Outages != 1 {
		t.Fatalf("status during the outage %+v", s)
	}
	mu.Lock()
	if len(alarms) != 1 || !strings.HasPrefix(alarms[0], srv.Addr()+" ") {
		t.Fatalf("alarms %q", alarms)
	}
	mu.Unlock()
	for _, out := range []string{s.LastError, fmt.Sprintf("%+v", s), strings.Join(alarms, " ")} {
		if strings.Contains(out, srv.Password) {
			t.Fatalf("the password shows in %q", out)
		}
	}
	srv.Start()
	if _, err := srv.Append("INBOX", testMessage("support@example.org", "during outage")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the contact after the outage", 20*time.Second, func() bool { return len(st.contacts()) == 1 })
	if s := ch.Status(); s.Unreachable || s.State != "watching" {
		t.Fatalf("status after the outage %+v", s)
	}
	// A second outage is a second alarm.
	srv.Kill()
	waitFor(t, "the second alarm", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(alarms) == 2 })
}

// A wrong password is a failure with an alarm, and the password appears
// nowhere.
func TestChannelWrongPassword(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	good := srv.Password
	srv.Password = "Wrong-Password-123456"
	st := newEngineStore(t, mailConfig(srv, ""))
	var logs strings.Builder
	var mu sync.Mutex
	ch := &Channel{Store: st, Engine: st.e, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))}
	runChannel(t, ch)
	waitFor(t, "failures", 20*time.Second, func() bool { return ch.Status().Failures >= 2 })
	s := ch.Status()
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(s.LastError, "logging in") {
		t.Fatalf("status %+v", s)
	}
	for _, p := range []string{srv.Password, good} {
		if strings.Contains(out, p) || strings.Contains(fmt.Sprintf("%+v", s), p) {
			t.Fatalf("a password shows in the log or status:\n%s", out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// The session ceiling: many agents reading contacts at once never open
// more IMAP sessions than max_sessions - reserved_sessions — proved
// against Dovecot's own limit (mail_max_userip_connections), which
// refuses the connection beyond it; with a ceiling above Dovecot's, the
// same load is refused by Dovecot (so the limit is real).
func TestContentSessionCeiling(t *testing.T) {
	const dovecotLimit = 3
	for _, tc := range []struct {
		name      string
		sessions  string
		wantFails bool
	}{
		{"within", "max_sessions: 5, reserved_sessions: 2", false},
		{"above Dovecot's", "max_sessions: 12", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := dovecottest.Start(t, dovecottest.Options{MaxUserIPConnections: dovecotLimit})
			body := strings.Repeat("Dear support, line of text.\r\n", 150000) // 4 MB: each read holds its session a while
			if _, err := srv.Append("INBOX", []byte("From: c@example.com\r\nTo: support@example.org\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\nMessage-ID: <big@example.com>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n"+body)); err != nil {
				t.Fatal(err)
			}
			st := newEngineStore(t, mailConfig(srv, ", "+tc.sessions))
			ch := &Channel{Store: st, Engine: st.e, MinBackoff: 20 * time.Millisecond}
			runChannel(t, ch)
			waitFor(t, "the contact", 20*time.Second, func() bool { return len(st.contacts()) == 1 })
			contact := strings.Fields(st.contacts()[0])[0]
			// load runs 24 reads at once: the reads refused and the most
			// sessions the channel held at once.
			load := func() (fails []string, peak int) {
				var (
					wg sync.WaitGroup
					mu sync.Mutex
				)
				stopPeak := make(chan struct{})
				peaked := make(chan struct{})
				go func() {
					defer close(peaked)
					for {
						select {
						case <-stopPeak:
							return
						default:
						}
						if n := ch.Status().Sessions; n > peak {
							peak = n
						}
						time.Sleep(time.Millisecond)
					}
				}()
				for i := 0; i < 24; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
						defer cancel()
						c, err := ch.Content(ctx, contact, 0)
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							fails = append(fails, err.Error())
						} else if !strings.HasPrefix(c.Text, "Grüße") || c.Subject != "Grüße" {
							fails = append(fails, fmt.Sprintf("content %q / %q", c.Subject, c.Text[:min(20, len(c.Text))]))
						}
					}()
				}
				wg.Wait()
				close(stopPeak)
				<-peaked
				return fails, peak
			}
			fails, peak := load()
			t.Logf("peak %d sessions, %d of 24 reads refused", peak, len(fails))
			if tc.wantFails {
				// Dovecot counts a session against its limit once the
				// session's process has registered (anvil): logins that
				// arrive together may all be let in before any counts,
				// as a CI run once saw (peak 12, no refusal). A load the
				// limit never refuses three times over proves nothing.
				for attempt := 2; attempt <= 3 && len(fails) == 0; attempt++ {
					fails, peak = load()
					t.Logf("load %d: peak %d sessions, %d of 24 reads refused", attempt, peak, len(fails))
				}
				if len(fails) == 0 {
					t.Fatalf("a ceiling above Dovecot's limit met no refusal in three loads: the test proves nothing (peak %d)", peak)
				}
				return
			}
			if len(fails) > 0 {
				t.Fatalf("%d of 24 reads failed, e.g. %s\n%s", len(fails), fails[0], srv.Logs())
			}
			if peak > 3 {
				t.Fatalf("peak %d sessions, ceiling 3", peak)
			}
			if peak < 3 {
				// 24 reads of 4 MB at once fill the ceiling for hundreds of
				// milliseconds here; never seeing it full means the reads
				// did not overlap and the ceiling was not tested.
				t.Fatalf("peak %d sessions: the 24 reads never filled the ceiling of 3, the test proves nothing", peak)
			}
		})
	}
}

// Handled messages older than retention_days are expunged in the
// nightly data-maintenance window: after the engine's daily maintenance
// ran, not before; those whose contact is still waiting, and recent ones,
// stay.
func TestChannelExpungesAfterRetention(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	old := time.Now().Add(-40 * 24 * time.Hour)
	if _, err := srv.AppendAt("INBOX", old, testMessage("support@example.org", "old ended"), testMessage("support@example.org", "old waiting"),
		testMessage("support@example.org", "old auto", "Auto-Submitted: auto-replied")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Append("INBOX", testMessage("support@example.org", "recent ended")); err != nil {
		t.Fatal(err)
	}
	st := newEngineStore(t, mailConfig(srv, "")+"  retention_days: 30\n")
	ch := &Channel{Store: st, Engine: st.e, MinBackoff: 20 * time.Millisecond}
	stop := runChannel(t, ch)
	waitFor(t, "the contacts", 20*time.Second, func() bool { return len(st.contacts()) == 3 })
	v, _ := st.e.MailView()
	for _, uid := range []uint32{1, 4} { // the customer gave up: the contact ends
		if _, err := st.Propose(context.Background(), cc.TypeCallRemoteHangup, cc.RemoteHangupRequest{Call: cc.MailContactID(v, uid)}); err != nil {
			t.Fatal(err)
		}
	}
	// No maintenance has run: a message ingested after the hang-ups
	// proves the session went round its loop, and nothing was expunged.
	if _, err := srv.Append("INBOX", testMessage("support@example.org", "after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fourth contact", 20*time.Second, func() bool { return len(st.contacts()) == 4 })
	if n, err := srv.Count("INBOX"); err != nil || n != 5 || ch.Status().Expunged != 0 {
		t.Fatalf("%d messages left, %d expunged (%v) before any maintenance ran", n, ch.Status().Expunged, err)
	}
	// The daily maintenance: a tick schedules it, a tick at its time
	// (03:00 UTC by default) runs it; the session notices within a poll.
	tick := func(at time.Time) {
		st.mu.Lock()
		st.now = func() time.Time { return at }
		st.mu.Unlock()
		if _, err := st.Propose(context.Background(), cc.TypeClockTick, nil); err != nil {
			t.Fatal(err)
		}
	}
	tick(time.Now())
	tick(time.Now().Add(25 * time.Hour))
	if st.e.LastMaintenance() == 0 {
		t.Fatal("the maintenance did not run")
	}
	waitFor(t, "the expunge", 20*time.Second, func() bool { n, err := srv.Count("INBOX"); return err == nil && n == 3 })
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(found.AllUIDs()); got != "[2 4 5]" {
		t.Fatalf("UIDs left %s, want [2 4 5] (the old waiting one and the recent ones)", got)
	}
	if s := ch.Status(); s.Expunged != 2 {
		t.Fatalf("status %+v: want 2 expunged", s)
	}
	// Once a maintenance: a new leader's channel does the latest one's
	// again (nothing left to remove), this one does not repeat it.
	stop()
	ch2 := &Channel{Store: st, Engine: st.e, MinBackoff: 20 * time.Millisecond}
	runChannel(t, ch2)
	waitFor(t, "the second channel's pass", 20*time.Second, func() bool { return ch2.expungedFor.Load() == st.e.LastMaintenance() })
	if n, err := srv.Count("INBOX"); err != nil || n != 3 {
		t.Fatalf("%d messages left (%v)", n, err)
	}
}

// settingsCounter counts the channel's reads of its settings from the
// engine, each under the engine's lock.
type settingsCounter struct {
	Engine
	n atomic.Int64
}

func (e *settingsCounter) MailSettings() *cc.Mail {
	e.n.Add(1)
	return e.Engine.MailSettings()
}

// A message from one of the aliases is the channel's own (never a
// contact), matched without case. The answers to a FETCH are read without
// the engine's lock, which an apply holds: the aliases are read from the
// engine once a pass, not once a message.
func TestChannelAliasesReadOncePerPass(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	const n = 40
	var msgs [][]byte
	for i := range n - 1 {
		msgs = append(msgs, testMessage("support@example.org", fmt.Sprint("customer ", i)))
	}
	own := bytes.Replace(testMessage("cust@example.com", "from our alias"), []byte("From: Customer <cust@example.com>"), []byte("From: Support Desk <Support@Example.ORG>"), 1)
	msgs = append(msgs, own)
	if _, err := srv.AppendMany("INBOX", msgs); err != nil {
		t.Fatal(err)
	}
	st := newEngineStore(t, mailConfig(srv, ""))
	eng := &settingsCounter{Engine: st.e}
	// CheckEvery long: the session's leadership and settings check reads
	// nothing while the messages are ingested.
	ch := &Channel{Store: st, Engine: eng, Logger: slog.New(slog.DiscardHandler), MinBackoff: 50 * time.Millisecond, CheckEvery: time.Hour}
	runChannel(t, ch)
	waitFor(t, "every message recorded", 20*time.Second, func() bool { s := ch.Status(); return s.Ingested+s.Skipped == n })
	if got := st.contacts(); len(got) != n-1 {
		t.Fatalf("%d contacts of %d messages, one from an alias; want %d", len(got), n, n-1)
	}
	if s := ch.Status(); s.Skipped != 1 || s.Ingested != n-1 {
		t.Fatalf("status %+v: want %d ingested, 1 skipped", s, n-1)
	}
	if got := eng.n.Load(); got >= n/4 {
		t.Fatalf("the settings read %d times from the engine for %d messages: want once a pass", got, n)
	}
}
