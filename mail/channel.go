package mail

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// Store is what the channel needs of the cluster: proposing commands and
// knowing whether this node leads.
type Store interface {
	Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	IsLeader() bool
}

// Engine is what the channel reads of the engine.
type Engine interface {
	// MailSettings is the channel's configuration (nil: off).
	MailSettings() *cc.Mail
	// MailView is the UIDVALIDITY and the highest UID recorded.
	MailView() (uidValidity, lastUID uint32)
	// MailMessageOf is the message a contact was made of.
	MailMessageOf(contact string) (cc.MailMessage, bool)
	// MailContactLive tells whether a contact is still held.
	MailContactLive(contact string) bool
	// LastMaintenance is when the cluster's daily data maintenance last
	// ran (Unix ns, 0 never): handled messages are expunged after it.
	LastMaintenance() int64
}

// Channel is the e-mail channel of one node. Run it on every node: only
// the leader watches the mailbox; the others wait for leadership.
type Channel struct {
	Store  Store
	Engine Engine
	Logger *slog.Logger
	// Unreachable is told, on the leader, once per outage, that the mail
	// server (host:port) cannot be reached and why (no credentials):
	// snmp.Agent.MailServerUnreachable.
	Unreachable func(server, message string)
	Now         func() time.Time
	// MinBackoff and MaxBackoff bound the wait between attempts to reach
	// the server (default 1 s and 60 s); CheckEvery is how often a
	// session checks leadership and settings (default 200 ms).
	MinBackoff, MaxBackoff, CheckEvery time.Duration

	mu      sync.Mutex
	st      Status
	alarmed bool // the current outage was reported
	// expungedFor is the maintenance (Engine.LastMaintenance) after
	// which this node last expunged handled messages.
	expungedFor atomic.Int64
	pool        *Pool
	check       cc.MailBatchChecker // each batch's check before it is proposed
}

// Status is the channel's state on this node (/v1/status "mail").
type Status struct {
	// State: off (no mail settings), follower (another node watches),
	// connecting, watching (IDLE), polling, unreachable (the server
	// failed; retrying with back-off), error (the cluster refused).
	State  string `json:"state"`
	Server string `json:"server,omitempty"`
	// Idle tells whether the server offers IDLE (watching) or the
	// channel polls.
	Idle        bool   `json:"idle,omitempty"`
	Mailbox     string `json:"mailbox,omitempty"`
	UIDValidity uint32 `json:"uid_validity,omitempty"`
	LastUID     uint32 `json:"last_uid,omitempty"`
	// Unreachable is set during an outage: since when, how many attempts
	// failed, the last error, the next attempt.
	Unreachable bool      `json:"unreachable"`
	Since       time.Time `json:"since,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastConnect time.Time `json:"last_connect,omitzero"`
	// LastNewMail is when a search last found new messages (the
	// ingestion of them started).
	LastNewMail time.Time `json:"last_new_mail,omitzero"`
	// LastRecorded is when the last batch of messages was committed.
	LastRecorded time.Time `json:"last_recorded,omitzero"`
	Sessions     int       `json:"sessions"`
	SessionLimit int       `json:"session_limit,omitempty"`
	// Counters of this node since it started.
	Ingested     uint64 `json:"ingested"`
	Duplicates   uint64 `json:"duplicates"`
	Skipped      uint64 `json:"skipped"`
	Outages      uint64 `json:"outages"`
	FailuresSeen uint64 `json:"failures_total"`
	Expunged     uint64 `json:"expunged"`
}

// Status returns the channel's state.
func (c *Channel) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	if c.pool != nil {
		st.Sessions, st.SessionLimit = c.pool.InUse(), c.pool.Limit()
	}
	return st
}

func (c *Channel) update(fn func(*Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.st)
}

func (c *Channel) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Channel) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// serverError is a failure of the mail server (dial, TLS, login,
// commands): it counts toward an outage and the alarm.
type serverError struct{ err error }

func (e serverError) Error() string { return e.err.Error() }
func (e serverError) Unwrap() error { return e.err }

func serverErr(what string, err error) error {
	return serverError{fmt.Errorf("%s: %w", what, err)}
}

// errRestart ends a session without a failure: leadership lost, the
// settings changed.
var errRestart = errors.New("session restarted")

// Run watches the mailbox while this node leads, until ctx ends.
func (c *Channel) Run(ctx context.Context) {
	minB, maxB := orDefault(c.MinBackoff, time.Second), orDefault(c.MaxBackoff, time.Minute)
	backoff := minB
	for ctx.Err() == nil {
		m := c.Engine.MailSettings()
		switch {
		case m == nil:
			c.update(func(s *Status) {
				*s = Status{State: "off", Ingested: s.Ingested, Duplicates: s.Duplicates, Skipped: s.Skipped, Outages: s.Outages, FailuresSeen: s.FailuresSeen}
			})
			sleep(ctx, time.Second)
			continue
		case !c.Store.IsLeader():
			c.update(func(s *Status) {
				s.State, s.Server, s.Unreachable, s.Failures, s.NextAttempt = "follower", server(m.IMAP), false, 0, time.Time{}
			})
			c.mu.Lock()
			c.alarmed = false
			c.mu.Unlock()
			sleep(ctx, orDefault(c.CheckEvery, 200*time.Millisecond))
			continue
		}
		err := c.session(ctx, *m, func() { backoff = minB })
		if err == nil || errors.Is(err, errRestart) || ctx.Err() != nil {
			continue
		}
		c.failed(*m, err, backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, maxB)
	}
}

func server(im cc.MailIMAP) string { return net.JoinHostPort(im.Host, strconv.Itoa(im.Port)) }

// failed records a failed attempt; the first of an outage raises the
// alarm (logged, and the trap through Unreachable).
func (c *Channel) failed(m cc.Mail, err error, wait time.Duration) {
	msg := cc.CleanText(err.Error(), 256)
	var se serverError
	isServer := errors.As(err, &se)
	now := c.now()
	c.mu.Lock()
	first := isServer && !c.alarmed
	if first {
		c.alarmed = true
	}
	s := &c.st
	s.FailuresSeen++
	s.Failures++
	s.LastError = msg
	s.NextAttempt = now.Add(wait)
	if isServer {
		s.State = "unreachable"
		if !s.Unreachable {
			s.Unreachable, s.Since = true, now
			s.Outages++
		}
	} else {
		s.State = "error"
	}
	c.mu.Unlock()
	if !isServer {
		c.log().Warn("mail: ingestion stopped; retrying", "err", msg, "retry_in", wait.String())
		return
	}
	c.log().Warn("mail server unreachable; retrying", "server", server(m.IMAP), "err", msg, "retry_in", wait.String())
	if first {
		c.log().Error("mail server unreachable: alarm raised", "server", server(m.IMAP), "err", msg)
		if c.Unreachable != nil {
			c.Unreachable(server(m.IMAP), msg)
		}
	}
}

// connected ends an outage.
func (c *Channel) connected(m cc.Mail, idle bool, v uint32) {
	now := c.now()
	c.mu.Lock()
	was := c.alarmed
	c.alarmed = false
	s := &c.st
	s.State, s.Server, s.Idle, s.Mailbox, s.UIDValidity = "polling", server(m.IMAP), idle, m.IMAP.Mailbox, v
	if idle {
		s.State = "watching"
	}
	s.Unreachable, s.Since, s.Failures, s.LastError, s.NextAttempt, s.LastConnect = false, time.Time{}, 0, "", time.Time{}, now
	c.mu.Unlock()
	if was {
		c.log().Info("mail server reachable again: alarm cleared", "server", server(m.IMAP))
	}
}

// tlsConfig trusts the system's authorities and the configured CA file.
func tlsConfig(m cc.Mail, host string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if m.CAFile != "" {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading mail.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mail.ca_file %s: no PEM certificate in it", m.CAFile)
		}
	}
	return &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// dial connects and logs in, in the settings' TLS mode.
func dial(m cc.Mail, opts *imapclient.Options) (*imapclient.Client, error) {
	im := m.IMAP
	addr := server(im)
	dialer := &net.Dialer{Timeout: 15 * time.Second}
	var (
		cl  *imapclient.Client
		err error
	)
	// The library's Dial functions, on a lazyConn (conn.go).
	switch im.TLS {
	case cc.MailTLSNone:
		var conn net.Conn
		if conn, err = dialer.Dial("tcp", addr); err == nil {
			cl = imapclient.New(newLazyConn(conn), opts)
		}
	default:
		if opts.TLSConfig, err = tlsConfig(m, im.Host); err != nil {
			return nil, err
		}
		if im.TLS == cc.MailTLSStartTLS {
			var conn net.Conn
			if conn, err = dialer.Dial("tcp", addr); err == nil {
				cl, err = imapclient.NewStartTLS(newLazyConn(conn), opts)
			}
		} else {
			cfg := opts.TLSConfig.Clone()
			cfg.NextProtos = []string{"imap"} // as imapclient.DialTLS
			var conn *tls.Conn
			if conn, err = tls.DialWithDialer(dialer, "tcp", addr, cfg); err == nil {
				cl = imapclient.New(newLazyConn(conn), opts)
			}
		}
	}
	if err != nil {
		return nil, serverErr("connecting to "+addr, err)
	}
	if err := cl.WaitGreeting(); err != nil {
		cl.Close()
		return nil, serverErr("greeting of "+addr, err)
	}
	if err := cl.Login(im.User, im.Password).Wait(); err != nil {
		cl.Close()
		return nil, serverErr("logging in to "+addr+" as "+cc.CleanText(im.User, 64), err)
	}
	return cl, nil
}

// commandTimeout bounds one IMAP exchange (not IDLE): a server that
// stops answering is a failure, not a hang.
const commandTimeout = 60 * time.Second

// session watches the mailbox until ctx ends, the node stops leading, the
// settings change (errRestart) or the server fails. ok is called once
// logged in and the mailbox selected.
func (c *Channel) session(ctx context.Context, m cc.Mail, ok func()) error {
	c.update(func(s *Status) { s.State, s.Server = "connecting", server(m.IMAP) })
	pool := c.poolFor(m)
	release, err := pool.Acquire(ctx)
	if err != nil {
		return errRestart
	}
	defer release()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	restarted := make(chan struct{})
	go func() {
		t := time.NewTicker(orDefault(c.CheckEvery, 200*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				cur := c.Engine.MailSettings()
				if !c.Store.IsLeader() || cur == nil || !reflect.DeepEqual(*cur, m) {
					close(restarted)
					cancel()
					return
				}
			}
		}
	}()
	newMail := make(chan struct{}, 1)
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case newMail <- struct{}{}:
				default:
				}
			}
		},
	}}
	cl, err := dial(m, opts)
	if err != nil {
		return err
	}
	defer cl.Close()
	stop := context.AfterFunc(sctx, func() { cl.Close() })
	defer stop()
	end := func(err error) error {
		select {
		case <-restarted:
			return errRestart
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
	sel, err := cl.Select(m.IMAP.Mailbox, nil).Wait()
	guard.Stop()
	if err != nil {
		return end(serverErr("selecting mailbox "+cc.CleanText(m.IMAP.Mailbox, 64), err))
	}
	idle := cl.Caps().Has(imap.CapIdle)
	c.connected(m, idle, sel.UIDValidity)
	ok()
	c.log().Info("mail: watching the mailbox", "server", server(m.IMAP), "mailbox", m.IMAP.Mailbox, "idle", idle, "uid_validity", sel.UIDValidity)
	poll := time.Duration(m.IMAP.PollSeconds) * time.Second
	for {
		if err := c.ingestFresh(sctx, cl, sel.UIDValidity); err != nil {
			return end(err)
		}
		// Handled messages are expunged in the nightly data-maintenance
		// window (mail.md): once after each maintenance the cluster ran,
		// noticed within a poll; a node that has just become the leader
		// does the latest one's (an expunge removes only what retention
		// allows, so doing it again is harmless).
		if last := c.Engine.LastMaintenance(); last != 0 && last != c.expungedFor.Load() {
			if err := c.expunge(cl, m, sel.UIDValidity); err != nil {
				return end(err)
			}
			c.expungedFor.Store(last)
		}
		if idle {
			err = waitIdle(sctx, cl, newMail, poll)
		} else {
			sleep(sctx, poll)
			err = sctx.Err()
		}
		if err != nil {
			return end(err)
		}
	}
}

// waitIdle idles until the server announces a change, d passes or ctx
// ends.
func waitIdle(ctx context.Context, cl *imapclient.Client, newMail chan struct{}, d time.Duration) error {
	cmd, err := cl.Idle()
	if err != nil {
		return serverErr("IDLE", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-newMail:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case err := <-done:
		return serverErr("IDLE", err)
	}
	if err := cmd.Close(); err != nil {
		return serverErr("ending IDLE", err)
	}
	if err := <-done; err != nil {
		return serverErr("ending IDLE", err)
	}
	return nil
}

// ingestFresh is ingest, started again from the engine's watermark when
// another proposer moved it meanwhile (mail.received refused as stale: an
// old leader's last proposals still arriving).
func (c *Channel) ingestFresh(ctx context.Context, cl *imapclient.Client, validity uint32) error {
	for i := 0; ; i++ {
		err := c.ingest(ctx, cl, validity)
		var r *cluster.Refusal
		if err == nil || i == 10 || !errors.As(err, &r) || !strings.Contains(r.Msg, "read the mailbox again") {
			return err
		}
		c.log().Info("mail: the watermark moved under this proposer; reading the mailbox again")
		sleep(ctx, 50*time.Millisecond)
	}
}

// FetchBatch bounds the messages fetched by one FETCH and committed by
// one mail.received_batch: the commit, not the fetch, is what costs (a
// Raft round with its disk writes on a quorum), so a batch is large.
const FetchBatch = 500

var headerSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}

// ingest records every message above the engine's watermark, in UID
// order, each through Raft before the next.
func (c *Channel) ingest(ctx context.Context, cl *imapclient.Client, validity uint32) error {
	v, last := c.Engine.MailView()
	if v != validity {
		last = 0 // a new mailbox: everything in it is new (Message-IDs still dedupe)
	}
	guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
	found, err := cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}}}, nil).Wait()
	guard.Stop()
	if err != nil {
		return serverErr("searching new messages", err)
	}
	var uids []imap.UID
	for _, u := range found.AllUIDs() {
		if uint32(u) > last { // "n:*" names the highest UID even below n
			uids = append(uids, u)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	now := c.now()
	c.update(func(s *Status) { s.LastNewMail = now })
	slices.Sort(uids)
	// The next batches are fetched while one is committed (at most
	// fetchAhead waiting): the fetch and the commit overlap, and each
	// batch is still committed, in UID order, before its contacts exist.
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan fetched, fetchAhead)
	fetching := make(chan struct{})
	defer func() {
		cancel()
		<-fetching // no FETCH of this pass left pending on the session
	}()
	go func() {
		defer close(fetching)
		c.fetchAll(ctx, cl, validity, last, uids, c.passRules(), batches)
	}()
	// Up to commitAhead commands are in flight: each proposed once the one
	// before holds its place in the leader's log (cluster.WithEnqueued),
	// so a batch fetched while another commits goes in the next Raft
	// round instead of waiting for that commit to end. They settle in
	// order; a command applied out of turn is refused (each message names
	// the UID before it) and the next pass reads again from what was
	// recorded.
	var inflight []*inflightCommand
	defer func() {
		for _, p := range inflight {
			<-p.done // none left running when the pass returns
		}
	}()
	settle := func() error {
		p := inflight[0]
		err := <-p.done
		inflight = inflight[1:]
		if err != nil {
			return err
		}
		now := c.now()
		c.update(func(s *Status) { s.UIDValidity, s.LastUID, s.LastRecorded = validity, p.last, now })
		return nil
	}
	var held *fetched // fetched, not yet committed
	for {
		b := held
		if b == nil {
			f, ok := <-batches
			if !ok {
				break
			}
			b = &f
		}
		if b.err != nil {
			return b.err
		}
		for len(inflight) >= commitAhead {
			if err := settle(); err != nil {
				return err
			}
		}
		var reqs []cc.MailReceivedRequest
		var last uint32
		reqs, last, held = groupBatches(*b, batches)
		p := &inflightCommand{done: make(chan error, 1), last: last}
		inflight = append(inflight, p)
		if len(reqs) == 0 {
			p.done <- nil // nothing to record: only the watermark moves, in turn
			continue
		}
		enqueued := make(chan struct{})
		go func() {
			p.done <- c.propose(ctx, validity, cc.MailReceivedBatchRequest{Messages: reqs}, func() { close(enqueued) })
		}()
		select {
		case <-enqueued:
		case err := <-p.done: // finished (or failed) before: keep its outcome for settle
			p.done <- err
		}
	}
	for len(inflight) > 0 {
		if err := settle(); err != nil {
			return err
		}
	}
	return nil
}

// inflightCommand is a mail.received_batch proposed and not yet settled.
type inflightCommand struct {
	done chan error // its outcome, once
	last uint32     // the highest UID searched it records
}

// commitAhead bounds the mail.received_batch commands in flight at once.
const commitAhead = 2

// fetched is a batch of messages fetched and parsed, or the error that
// ended the fetches.
type fetched struct {
	reqs []cc.MailReceivedRequest // parsed, each naming the UID before it
	last uint32                   // the batch's highest UID searched
	err  error
}

// fetchAll fetches the headers of uids (sorted, all above after) in
// batches of FetchBatch, parses them and sends them to out in UID order,
// then closes out; an error is sent as the last batch. Up to fetchDepth
// FETCHes are sent before the answers to the first are read, so the
// server goes from one to the next without waiting for the client (and
// prepares the next while it answers the current: Dovecot takes ~3 ms to
// prepare 500 headers before it sends the first); each FETCH's answers
// are read by their own goroutine (the client hands a message to its
// command and waits for it to be read: a reader waiting for the end of
// the one before would never see it), each message parsed as it
// arrives. A batch is handed on once every UID it asked for has come,
// without waiting for the FETCH's tagged completion, which Dovecot sends
// for pipelined FETCHes only once the next one is answered. It returns
// once no FETCH it sent is pending.
func (c *Channel) fetchAll(ctx context.Context, cl *imapclient.Client, validity, after uint32, uids []imap.UID, rules passRules, out chan<- fetched) {
	defer close(out)
	type pending struct {
		res  chan fetchRead // one answer, as soon as it is known
		end  chan struct{}  // closed once the FETCH is read to its end
		last uint32
	}
	issue := func() *pending {
		if len(uids) == 0 {
			return nil
		}
		n := min(len(uids), FetchBatch, cc.MaxMailBatch)
		batch := uids[:n]
		uids = uids[n:]
		p := &pending{res: make(chan fetchRead, 1), end: make(chan struct{}), last: uint32(batch[n-1])}
		cmd := cl.Fetch(uidRanges(batch), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{headerSection}})
		go func() {
			defer close(p.end)
			guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
			defer guard.Stop()
			c.readFetch(validity, cmd, batch, rules, func(r fetchRead) { p.res <- r })
		}()
		return p
	}
	var issued, queue []*pending // every FETCH sent; those not handed on
	defer func() {
		for _, p := range issued {
			<-p.end // read to its end (or the session closed): nothing pending
		}
	}()
	more := func() {
		if p := issue(); p != nil {
			issued, queue = append(issued, p), append(queue, p)
		}
	}
	for range fetchDepth {
		more()
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		r := <-cur.res
		if r.err == nil {
			more()
			r = c.refetch(cl, validity, r, rules)
		}
		var f fetched
		if r.err != nil {
			f.err = serverErr("fetching new messages", r.err)
		} else {
			for i := range r.reqs {
				r.reqs[i].After, after = after, r.reqs[i].UID
			}
			f.reqs, f.last = r.reqs, cur.last
		}
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
		if r.err != nil {
			return
		}
	}
}

// fetchDepth bounds the FETCHes sent whose batch is not yet handed on.
const fetchDepth = 3

// refetch completes r: the messages answered only without their header
// (a server may report another session's flag change on a UID before
// the FETCH's answer for it) are fetched again, each time by a FETCH of
// their own (the other FETCHes in flight are read meanwhile by their
// goroutines). After refetchTries a message the server still sends no
// header for is recorded without one: never skipped silently, never
// fetched for ever.
func (c *Channel) refetch(cl *imapclient.Client, validity uint32, r fetchRead, rules passRules) fetchRead {
	for try := 0; len(r.bare) > 0 && r.err == nil; try++ {
		if try == refetchTries {
			for _, uid := range r.bare {
				c.log().Warn("mail: the server sent no header for a message", "uid", uid)
				r.reqs = append(r.reqs, c.request(validity, uid, nil, rules))
			}
			r.bare = nil
			break
		}
		uids := r.bare
		cmd := cl.Fetch(uidRanges(uids), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{headerSection}})
		guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
		c.readFetch(validity, cmd, uids, rules, func(again fetchRead) {
			r.reqs, r.bare, r.err = append(r.reqs, again.reqs...), again.bare, again.err
		})
		guard.Stop()
	}
	slices.SortFunc(r.reqs, func(a, b cc.MailReceivedRequest) int { return cmp.Compare(a.UID, b.UID) })
	return r
}

// refetchTries bounds the FETCHes of a message answered without its
// header.
const refetchTries = 3

// fetchRead is the answer to one FETCH: its messages parsed, or the error
// that ended it.
type fetchRead struct {
	reqs []cc.MailReceivedRequest
	// bare are the UIDs answered only without their header: a flag
	// change reported first, after which the library hands the
	// command no other answer for the UID (fetched again: refetch).
	bare []imap.UID
	err  error
}

// readFetch reads the answers to one FETCH of the headers of batch
// (sorted), parsing each message as it arrives, into mail.received_batch
// entries sorted by UID (their After not set), and calls done once: as
// soon as every UID of batch has come with its header (a FETCH names no
// message twice unless the server also reports a flag change, which
// carries no header: the first answer with one counts), or else at the
// FETCH's end, with its error if any. It reads the FETCH to its end
// either way.
func (c *Channel) readFetch(validity uint32, cmd *imapclient.FetchCommand, batch []imap.UID, rules passRules, done func(fetchRead)) {
	reqs := make([]cc.MailReceivedRequest, 0, len(batch))
	seen := make([]bool, len(batch))
	bare := make([]bool, len(batch)) // answered, but only without the header section so far
	var missing []imap.UID           // those at the FETCH's end
	sent := false
	send := func(err error) {
		if sent {
			return
		}
		sent = true
		if err != nil {
			done(fetchRead{err: err})
			return
		}
		slices.SortFunc(reqs, func(a, b cc.MailReceivedRequest) int { return cmp.Compare(a.UID, b.UID) })
		done(fetchRead{reqs: reqs, bare: missing})
	}
	var buf bytes.Buffer // each message's header, parsed before the next is read
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		uid, header, err := readHeader(msg, &buf)
		if err != nil {
			_ = cmd.Close()
			send(err)
			return
		}
		i, ok := slices.BinarySearch(batch, uid)
		if sent || !ok || seen[i] {
			continue // not asked for, or answered already
		}
		if header == nil {
			// A flag change another session made, reported during the
			// FETCH: the answer with the header may still come (refetch
			// asks for it again if it does not).
			bare[i] = true
			continue
		}
		seen[i] = true
		reqs = append(reqs, c.request(validity, uid, header, rules))
		if len(reqs) == len(batch) {
			send(nil)
		}
	}
	if !sent {
		for i, uid := range batch {
			if bare[i] && !seen[i] {
				missing = append(missing, uid)
			}
		}
	}
	send(cmd.Close())
}

// readHeader reads one message of a FETCH's answers as it streams in:
// its UID and its header section (nil if the server sent none), read
// into buf, whose bytes it returns, valid until buf is used again.
// Reading into one buffer, rather than the library's Collect (a buffer
// grown from 512 bytes for each message), keeps the leader's
// allocations per message to what the library itself needs.
func readHeader(msg *imapclient.FetchMessageData, buf *bytes.Buffer) (imap.UID, []byte, error) {
	buf.Reset()
	var uid imap.UID
	var header []byte
	for item := msg.Next(); item != nil; item = msg.Next() { // Next discards what was not read
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			uid = it.UID
		case imapclient.FetchItemDataBodySection:
			if header != nil || it.Literal == nil || !it.MatchCommand(headerSection) {
				continue
			}
			if _, err := buf.ReadFrom(io.LimitReader(it.Literal, maxHeaderBytes+1)); err != nil {
				return 0, nil, err
			}
			if buf.Len() > maxHeaderBytes {
				// Read as far as the bound (Next discards the rest: a
				// server cannot make the leader hold more), cut after its
				// last whole line there and ended, to be parsed.
				buf.Truncate(bytes.LastIndexByte(buf.Bytes()[:maxHeaderBytes], '\n') + 1)
				buf.WriteString("\r\n")
			}
			header = buf.Bytes()[:buf.Len():buf.Len()]
			if header == nil {
				header = []byte{}
			}
		}
	}
	return uid, header, nil
}

// maxHeaderBytes bounds the header read of one message. RFC 5322 sets
// none; a header past 1 MiB (a mail loop's Received lines, a hostile
// server) is parsed from its whole lines within the first MiB.
const maxHeaderBytes = 1 << 20

// groupBatches is the group commit: b (fetched without error) with the
// batches fetched while the previous command committed — those already
// waiting in more, up to what one command may carry (MaxMailBatch
// messages) — fewer Raft rounds, each a quorum's disk writes, when the
// commits are slower than the fetches. It returns their messages, the
// highest UID searched, and the batch received but not taken (an error,
// or one that does not fit), to be handled next.
func groupBatches(b fetched, more <-chan fetched) ([]cc.MailReceivedRequest, uint32, *fetched) {
	reqs, last := b.reqs, b.last
	for len(reqs) < cc.MaxMailBatch {
		select {
		case f, ok := <-more:
			if !ok {
				return reqs, last, nil
			}
			if f.err != nil || len(reqs)+len(f.reqs) > cc.MaxMailBatch {
				return reqs, last, &f
			}
			reqs, last = append(reqs[:len(reqs):len(reqs)], f.reqs...), f.last
		default:
			return reqs, last, nil
		}
	}
	return reqs, last, nil
}

// uidRanges is the set of sorted uids as ranges (1:500 rather than
// 1,2,…,500).
func uidRanges(uids []imap.UID) imap.UIDSet {
	var set imap.UIDSet
	for _, u := range uids {
		if n := len(set); n > 0 && set[n-1].Stop+1 == u {
			set[n-1].Stop = u
			continue
		}
		set = append(set, imap.UIDRange{Start: u, Stop: u})
	}
	return set
}

// fetchAhead bounds the fetched batches waiting for their commit.
const fetchAhead = 2

// request reads one fetched message into its mail.received_batch entry
// (After not set).
func (c *Channel) request(validity uint32, uid imap.UID, header []byte, rules passRules) cc.MailReceivedRequest {
	h, err := ParseHeaders(header)
	if err != nil {
		// An unreadable header still gets its UID recorded, as a
		// contact without sender or subject: never skipped silently,
		// never fetched for ever.
		c.log().Warn("mail: unreadable message header", "uid", uid, "err", err)
		h = Headers{}
	}
	req := cc.MailReceivedRequest{UIDValidity: validity, UID: uint32(uid), MessageID: h.MessageID, From: h.From,
		FromName: h.FromName, To: h.To, Subject: h.Subject, Thread: h.Thread, Skip: h.Skip}
	if h.Skip == "" && isAlias(rules.aliases, h.From) {
		req.Skip = cc.MailSkipOwn // an alias writing to the mailbox: our own
	}
	if req.Skip == "" && len(rules.verdicts) > 0 {
		req.Skip = verdictOf(header, rules.verdicts)
	}
	return req
}

// EncodeBatch is the payload of a mail.received_batch: json.Marshal's
// encoding, written without reflection.
func EncodeBatch(batch cc.MailReceivedBatchRequest) ([]byte, error) {
	return batch.AppendJSON(make([]byte, 0, 256*len(batch.Messages))), nil
}

// maxBatchPayload bounds a mail.received_batch's payload (a quarter of
// what a command may carry): a larger batch is proposed in halves.
const maxBatchPayload = command.MaxPayload / 4

// propose commits one batch (the contacts with their messages) and waits
// until it applied. The command's key is the batch's UIDVALIDITY and
// UIDs, so a retry applies once; a batch on a moved watermark is refused
// as stale and the mailbox read again.
//
// enqueued, when not nil, is called once: when the command holds its place
// in the leader's log (cluster.WithEnqueued), or when propose returns.
func (c *Channel) propose(ctx context.Context, validity uint32, batch cc.MailReceivedBatchRequest, enqueued func()) error {
	if enqueued != nil {
		var once sync.Once
		fn := enqueued
		enqueued = func() { once.Do(fn) }
		defer enqueued()
	}
	payload, err := EncodeBatch(batch)
	if err != nil {
		return err
	}
	if n := len(batch.Messages); len(payload) > maxBatchPayload && n > 1 {
		// Halves, one after the other: the caller's next command waits
		// for both.
		if err := c.propose(ctx, validity, cc.MailReceivedBatchRequest{Messages: batch.Messages[:n/2]}, nil); err != nil {
			return err
		}
		return c.propose(ctx, validity, cc.MailReceivedBatchRequest{Messages: batch.Messages[n/2:]}, nil)
	}
	first, last := batch.Messages[0].UID, batch.Messages[len(batch.Messages)-1].UID
	if err := c.check.Check(payload); err != nil {
		return fmt.Errorf("mail.received_batch of UIDs %d..%d: %w", first, last, err)
	}
	opts := []cluster.ProposeOption{cluster.WithKey(fmt.Sprintf("mail.received_batch/%d/%d-%d", validity, first, last))}
	if enqueued != nil {
		opts = append(opts, cluster.WithEnqueued(enqueued))
	}
	res, err := c.Store.Propose(ctx, cc.TypeMailReceivedBatch, command.Owned(payload), opts...) // payload is not used again
	if err != nil {
		return fmt.Errorf("recording UIDs %d..%d: %w", first, last, err)
	}
	var r cc.MailBatchResult
	_ = r.UnmarshalJSON(res.Result) // without encoding/json's scan and reflection: one a batch
	c.update(func(s *Status) {
		for _, x := range r.Results {
			switch {
			case x.Duplicate || res.Duplicate:
				s.Duplicates++
			case x.Skipped != "":
				s.Skipped++
			default:
				s.Ingested++
			}
		}
	})
	created := 0
	debug := c.log().Enabled(ctx, slog.LevelDebug) // else each message's arguments are boxed for nothing
	for i, x := range r.Results {
		switch {
		case x.Threaded:
			c.log().Info("mail: answer joined its contact", "contact", x.Contact, "uid", batch.Messages[i].UID)
		case x.Contact != "" && !x.Duplicate:
			created++
			if debug {
				c.log().Debug("mail: contact created", "contact", x.Contact, "queue", x.Queue, "uid", batch.Messages[i].UID)
			}
		}
	}
	if created > 0 {
		c.log().Info("mail: contacts created", "count", created, "uids", fmt.Sprintf("%d..%d", first, last))
	}
	return nil
}

// passRules are what a pass checks each message against, read from the
// settings once a pass: each message is checked without the engine's
// lock, which a batch being applied holds (the reading of the answers
// must not wait for it: the server would wait in turn).
type passRules struct {
	aliases  []string         // the configured aliases' addresses
	verdicts []cc.MailVerdict // the operator's verdict headers
}

func (c *Channel) passRules() passRules {
	m := c.Engine.MailSettings()
	if m == nil {
		return passRules{}
	}
	var out passRules
	for _, a := range m.Aliases {
		if a.Address != "" {
			out.aliases = append(out.aliases, a.Address)
		}
	}
	out.verdicts = m.Verdicts
	return out
}

// isAlias tells whether from is one of aliases (an alias writing to the
// mailbox: our own message).
func isAlias(aliases []string, from string) bool {
	if from == "" {
		return false
	}
	for _, a := range aliases {
		if equalFold(a, from) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
