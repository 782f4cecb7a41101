package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tandemcc/tandem/backup"
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/console"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/contactcenter/rotator"
	"github.com/tandemcc/tandem/contactcenter/ticker"
	"github.com/tandemcc/tandem/internal/httpserver"
	"github.com/tandemcc/tandem/mail"
	"github.com/tandemcc/tandem/ops"
	"github.com/tandemcc/tandem/replication"
	"github.com/tandemcc/tandem/replication/reporting"
	"github.com/tandemcc/tandem/replication/standby"
	"github.com/tandemcc/tandem/snmp"
	webapi "github.com/tandemcc/tandem/web"
)

// node is a running tandemd: the cluster store and the servers around it.
type node struct {
	log       *slog.Logger
	store     *cluster.Store
	repl      *replication.Manager // nil without replication
	admin     *http.Server
	web       *http.Server    // public web server (--http-addr); nil when off
	webTLS    *http.Server    // the same over TLS (--https-addr); nil when off
	hub       *console.Hub    // console event streams, closed first on stop
	journal   *backup.Journal // the backup journal; nil without --backup-dir
	stopLoops context.CancelFunc
	done      chan error
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newLogger(w io.Writer) *slog.Logger {
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// loadToken returns the admin token: the flag's, else the one stored in the
// data dir, else a new one written there (0600). Only its path is logged.
func loadToken(o options, logger *slog.Logger) (string, error) {
	path := filepath.Join(o.DataDir, "admin.token")
	if o.AdminToken != "" {
		// Keep the given token beside the data so that a restart without
		// the flag still speaks to the rest of the cluster.
		if err := os.WriteFile(path, []byte(o.AdminToken+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing admin token: %w", err)
		}
		return o.AdminToken, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", fmt.Errorf("%s: token too short; delete it to generate a new one", path)
		}
		logger.Info("admin token loaded", "path", path)
		return tok, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("reading admin token: %w", err)
	}
	if o.Join != "" {
		return "", errors.New("--join: a joining node needs the cluster's admin token (--admin-token or TANDEM_ADMIN_TOKEN)")
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generating admin token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing admin token: %w", err)
	}
	logger.Info("admin token generated", "path", path)
	return tok, nil
}

// advertisedAdmin is the admin URL other members use to reach this node.
func advertisedAdmin(o options) string {
	host, port, _ := net.SplitHostPort(o.AdminAddr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(o.RaftAddr)
	}
	return "http://" + net.JoinHostPort(host, port)
}

// advertisedHTTP is the URL of this node's public web server (operator
// consoles fail over to it), "" when it is off.
func advertisedHTTP(o options, ln net.Listener) string {
	if ln == nil {
		return ""
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	host, _, _ := net.SplitHostPort(o.HTTPAddr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(o.RaftAddr)
	}
	return "http://" + net.JoinHostPort(host, port)
}

func startNode(ctx context.Context, o options, logger *slog.Logger, rawLog io.Writer) (*node, error) {
	if err := checkDiskSpace(o, nil); err != nil {
		return nil, err // before anything is created
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating --data-dir: %w", err)
	}
	// Claim the ports before anything is logged, so that a port in use
	// fails with one line naming its flag.
	ln, err := net.Listen("tcp", o.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr: %w", err)
	}
	if rl, err := net.Listen("tcp", o.RaftAddr); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--raft-addr: %w", err)
	} else {
		rl.Close()
	}
	var webLn net.Listener
	if o.HTTPAddr != "" {
		if webLn, err = net.Listen("tcp", o.HTTPAddr); err != nil {
			ln.Close()
			return nil, fmt.Errorf("--http-addr: %w", err)
		}
	}
	tlsLn, err := listenTLS(o, logger)
	if err != nil {
		ln.Close()
		if webLn != nil {
			webLn.Close()
		}
		return nil, err
	}
	agent, err := snmp.New(o.SNMP, o.DataDir, logger.With("component", "snmp")) // claims --snmp-addr (UDP)
	if err != nil {
		ln.Close()
		if webLn != nil {
			webLn.Close()
		}
		if tlsLn != nil {
			tlsLn.Close()
		}
		return nil, err
	}
	closeListeners := func() {
		ln.Close()
		if webLn != nil {
			webLn.Close()
		}
		if tlsLn != nil {
			tlsLn.Close()
		}
		agent.Close()
	}
	token, err := loadToken(o, logger)
	if err != nil {
		closeListeners()
		return nil, err
	}
	if o.ForceQuorum {
		fmt.Fprintln(rawLog, cluster.ForceQuorumWarning)
	}
	engine := contactcenter.New()
	events := &ops.EventCounter{}
	now := time.Now
	if o.ClockOffset != 0 {
		off := o.ClockOffset
		now = func() time.Time { return time.Now().Add(off) }
		logger.Warn("wall clock shifted for diagnostics", "clock_offset", off.String())
	}
	var storeRef atomic.Pointer[cluster.Store]
	hub := &console.Hub{Applied: func() uint64 {
		if st := storeRef.Load(); st != nil {
			return st.AppliedIndex()
		}
		return 0
	}}
	chatFeed := webapi.NewChatFeed() // wakes this node's chat WebSockets
	mailContacts := &mail.Contacts{Live: engine.MailContactsLive}
	callbackContacts, chatContacts := webapi.NewCallbackContacts(engine.CallbacksOpen), webapi.NewChatContacts(engine.ChatsOpen)
	// the SNMP agent counts voice contacts, the mail channel e-mail ones, the web edge callbacks and chats
	sinks := []cluster.EventSink{events, hub, agent.ContactEvents(), mailContacts, callbackContacts, chatContacts, chatFeed}
	sip, err := newVoice(o, &storeRef, engine, now, logger) // claims --sip-addr (UDP and TCP)
	if err != nil {
		closeListeners()
		return nil, err
	}
	if sip != nil {
		sinks = append(sinks, sip) // rings agents' phones on the leader's call.offered
		prev := closeListeners
		closeListeners = func() { prev(); sip.Close() }
	}
	var repl *replication.Manager
	// The replication states are cluster state on every node, with or
	// without targets configured here (replication/control.go).
	control := replication.NewControl()
	targets := map[string]replication.Target{}
	if o.ReportingDSN != "" {
		targets[replication.Reporting] = &replication.ReportingTarget{DSN: o.ReportingDSN,
			Opts:  []reporting.Option{reporting.WithCluster(o.ReportingCluster)},
			Admin: engineAdmin(engine, &storeRef)}
	}
	var standbyTarget *standby.Target
	if o.StandbyAddr != "" {
		standbyTarget = newStandbyTarget(o, token, now, logger, &storeRef)
		targets[replication.Standby] = standbyTarget
	}
	if len(targets) > 0 {
		repl, err = replication.Open(replication.Config{
			Dir:              filepath.Join(o.DataDir, "replication"),
			BufferSize:       int64(o.ReplicationBufferSize),
			HistoryRetention: time.Duration(o.HistoryRetention), // the event archive, for `replication sync`
			Retention:        engineRetention(engine),           // then the cluster's settings, by the daily maintenance
			Targets:          targets,
			OnAlarm:          agent.ReplicationAlarm, // SNMP traps (the leader's)
			Control:          control,
			Cluster:          lateStore{&storeRef},
			Now:              now,
			Logger:           logger,
			ClockCheck: func() error {
				if st := storeRef.Load(); st != nil {
					if c := st.Clock(); c.Alarm {
						return fmt.Errorf("this node's clock is %d ms off the leader's (more than 2 s)", c.SkewVsLeaderMS)
					}
				}
				return nil
			},
			IsLeader: func() bool {
				st := storeRef.Load()
				return st != nil && st.IsLeader()
			},
			LeaderTerm: func() uint64 {
				if st := storeRef.Load(); st != nil {
					return st.Status().Term
				}
				return 0
			},
		})
		if err != nil {
			closeListeners()
			return nil, err
		}
		sinks = append(sinks, repl, maintenanceSink{repl})
	}
	// Every node's FSM is gated by the standby receiver: a cluster started
	// with --standby-of refuses its own engine commands until promoted.
	receiver := standby.NewReceiver(o.StandbyOf, logger.With("component", "standby"))
	// The backup journal hears every applied entry, those Raft replays at
	// start included: it is a sink before Raft opens.
	journal, err := openJournal(o, logger)
	if err != nil {
		closeListeners()
		if repl != nil {
			repl.Close()
		}
		return nil, err
	}
	if journal != nil {
		sinks = append(sinks, journal)
	}
	store, err := cluster.Open(ctx, cluster.Config{
		NodeID:      o.NodeID,
		RaftAddr:    o.RaftAddr,
		AdminURL:    advertisedAdmin(o),
		HTTPURL:     advertisedHTTP(o, webLn),
		SIPAddr:     advertisedSIP(o),
		DataDir:     o.DataDir,
		Join:        o.Join,
		ForceQuorum: o.ForceQuorum,
		Gate:        receiver,
		Token:       token,
		Machines:    []cluster.Machine{engine},
		Control:     []cluster.Machine{control},
		Sinks:       sinks,
		Logger:      logger,
		Now:         now,
		Timing:      timing(o),
	})
	if err != nil {
		closeListeners()
		if repl != nil {
			repl.Close()
		}
		journal.Close()
		return nil, err
	}
	storeRef.Store(store)
	receiver.Attach(store)
	bk, err := newBackups(o, store, journal, agent, logger)
	if err != nil {
		store.Close(ctx)
		journal.Close()
		closeListeners()
		if repl != nil {
			repl.Close()
		}
		return nil, err
	}
	if repl != nil {
		repl.Start()
	}
	reg := ops.NewRegistry(store)
	webapi.RegisterContacts(reg, callbackContacts, chatContacts) // tandem_web_contacts
	webMetrics := webapi.NewMetrics(reg)
	webMetrics.Callbacks, webMetrics.Chats = callbackContacts, chatContacts
	events.Register(reg)
	agent.Register(reg)
	// The e-mail channel: the leader watches the mailbox; the first
	// failure of an outage is the SNMP trap (the leader's).
	mailCh := &mail.Channel{Store: mailStore{store, receiver}, Engine: engine, Logger: logger.With("component", "mail"),
		Unreachable: agent.MailServerUnreachable, Now: now}
	mailCh.Register(reg)
	mailOut := &mail.Sender{Store: mailStore{store, receiver}, Engine: engine, Logger: logger.With("component", "mail"), Now: now,
		Original: mailCh.Raw}
	mailOut.Register(reg)
	if sip != nil {
		sip.Register(reg)
	}
	// The operations API: sessions are signed with a key derived from the
	// admin token, which every member shares, so they survive failover.
	svc := &console.Service{Store: store, Engine: engine, Hub: hub, Sessions: console.NewSessions(token, 0, now),
		MailContent: func(ctx context.Context, contact string, uid uint32) (any, error) {
			return mail.ContentReader{Channel: mailCh, Leader: store}.Content(ctx, contact, uid)
		}}
	api := &ops.Server{Store: store, Engine: engine, Token: token, Logger: logger, Registry: reg, Replication: repl,
		Standby:  &standby.Handler{Receiver: receiver, Target: standbyTarget, Hash: engine.Hash, Logger: logger},
		BenchAPI: o.BenchAPI, Backup: bk, SNMP: agent, Mail: mailCh, MailRoutes: &mail.Handler{Store: store, Engine: engine, Channel: mailCh, Leader: store},
		Console: &console.Handler{Service: svc, AdminActor: true, Logger: logger}}
	if repl != nil {
		ops.RegisterReplication(reg, repl)
	}
	loops, stopLoops := context.WithCancel(context.Background())
	n := &node{log: logger, store: store, repl: repl, hub: hub, journal: journal, done: make(chan error, 2), stopLoops: stopLoops,
		admin: httpserver.New(api.Handler())}
	go func() { n.done <- n.admin.Serve(httpserver.Listener(ln)) }()
	if webLn != nil || tlsLn != nil {
		web := http.NewServeMux()
		(&console.Handler{Service: svc, Logger: logger}).Routes(web, console.PublicPrefix)
		web.Handle(console.UIPrefix, console.UI{Service: svc}) // the web console's pages
		// The public web API for customers' web sites (package web).
		(&webapi.Handler{Store: store, Engine: engine, Logger: logger.With("component", "web"),
			Metrics: webMetrics, Pages: &webapi.Pages{Dir: o.WebPagesDir},
			CORSOrigins: webOrigins(o.WebCORS), RateLimit: o.WebRate, TLSOnly: webOrigins(o.WebTLSOnly), Feed: chatFeed}).Routes(web)
		if webLn != nil {
			n.web = httpserver.New(web)
			go func() { n.done <- n.web.Serve(httpserver.Listener(webLn)) }()
		}
		if tlsLn != nil {
			n.webTLS = httpserver.New(web)
			go func() { n.done <- n.webTLS.Serve(httpserver.Listener(tlsLn)) }()
		}
	}
	// The leader moves the engine's clock when a deadline is due.
	// A standby takes its clock from the primary's shipped ticks.
	tk := &ticker.Ticker{IsLeader: func() bool { return store.IsLeader() && !receiver.RefusesWrites() }, Next: engine.NextDeadline, Propose: store.Propose, Now: now, Logger: logger}
	go tk.Run(loops)
	if sip != nil {
		go func() {
			if err := sip.Run(loops); err != nil {
				logger.Error("SIP edge stopped", "err", err)
			}
		}()
	}
	// The leader gives secure phones their SIP passwords and rotates them.
	rot := &rotator.Rotator{IsLeader: func() bool { return store.IsLeader() && !receiver.RefusesWrites() }, Engine: engine,
		Propose: store.Propose, Now: now, Logger: logger.With("component", "rotator")}
	go rot.Run(loops)
	if bk != nil {
		ops.RegisterBackup(reg, bk)
		go bk.Run(loops)
	}
	go receiver.Run(loops)
	go mailCh.Run(loops)
	go mailOut.Run(loops)
	snmpSrc := snmp.Sources{Cluster: store, Engine: engine, Email: mailContacts, Callback: callbackContacts, Chat: chatContacts}
	if repl != nil {
		snmpSrc.Replication = repl
	}
	if bk != nil {
		snmpSrc.Backups = backupsMIB{bk}
	}
	go func() {
		if err := agent.Run(loops, snmpSrc); err != nil {
			logger.Error("SNMP agent stopped", "err", err)
		}
	}()
	webAddr := ""
	if webLn != nil {
		webAddr = webLn.Addr().String()
	}
	logger.Info("tandemd started", "node_id", o.NodeID, "raft_addr", o.RaftAddr,
		"admin_addr", ln.Addr().String(), "http_addr", webAddr, "sip_addr", o.SIPAddr, "data_dir", o.DataDir)
	return n, nil
}

// stop hands leadership over, stops Raft (flushing its log) and then the
// admin API.
func (n *node) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	n.stopLoops()
	// Every event stream tells its console where to resume and closes
	// with 1001 going away (http.Server.Shutdown does not wait for
	// hijacked WebSocket connections); consoles reconnect to another
	// member.
	hctx, hcancel := context.WithTimeout(ctx, 3*time.Second)
	if err := n.hub.Shutdown(hctx); err != nil {
		n.log.Warn("console event streams did not all close in time", "err", err)
	}
	hcancel()
	if n.web != nil {
		n.web.Shutdown(ctx)
	}
	if n.webTLS != nil {
		n.webTLS.Shutdown(ctx)
	}
	err := n.store.Close(ctx)
	if e := n.journal.Close(); e != nil && err == nil {
		err = fmt.Errorf("closing the backup journal: %w", e)
	}
	if n.repl != nil {
		// After Raft: no more events arrive; Close makes the buffer durable.
		if e := n.repl.Close(); e != nil && err == nil {
			err = fmt.Errorf("closing replication: %w", e)
		}
	}
	if e := n.admin.Shutdown(ctx); e != nil && err == nil {
		err = fmt.Errorf("stopping admin API: %w", e)
	}
	return err
}

// lateStore is the node's store for those opened before it (replication
// commits its state commands through it).
type lateStore struct {
	ref *atomic.Pointer[cluster.Store]
}

func (l lateStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	st := l.ref.Load()
	if st == nil {
		return cluster.Result{}, errors.New("the node is still starting")
	}
	return st.Propose(ctx, typ, payload, opts...)
}

func (l lateStore) WaitApplied(ctx context.Context, index uint64) error {
	st := l.ref.Load()
	if st == nil {
		return errors.New("the node is still starting")
	}
	return st.WaitApplied(ctx, index)
}

// newStandbyTarget is the standby replication target of --standby-addr. It
// authenticates with --standby-token, or this node's own admin token when
// both sites share one; the token is never logged.
func newStandbyTarget(o options, token string, now func() time.Time, logger *slog.Logger, storeRef *atomic.Pointer[cluster.Store]) *standby.Target {
	tok := o.StandbyToken
	if tok == "" {
		tok = token
	}
	return &standby.Target{
		URLs:  strings.Split(o.StandbyAddr, ","),
		Token: tok,
		Export: func() (cluster.EngineExport, error) {
			st := storeRef.Load()
			if st == nil {
				return cluster.EngineExport{}, errors.New("the node is still starting")
			}
			return st.ExportEngine()
		},
		HTTP:   &http.Client{Timeout: 10 * time.Minute},
		Now:    now,
		Logger: logger.With("component", "standby"),
	}
}

// timing is cluster.LANDefaults with the snapshot and state-check flags
// applied.
func timing(o options) cluster.Timing {
	t := cluster.LANDefaults
	t.SnapshotThreshold = o.SnapshotThreshold
	t.SnapshotInterval = o.SnapshotInterval
	t.CheckpointInterval = o.StateCheckInterval
	return t
}

// webOrigins splits --web-cors-origins.
func webOrigins(list string) []string {
	var out []string
	for _, o := range strings.Split(list, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// listenTLS claims --https-addr with the certificate of --tls-cert (nil
// when off) and says when the certificate does not name --web-host.
func listenTLS(o options, logger *slog.Logger) (net.Listener, error) {
	if o.HTTPSAddr == "" {
		return nil, nil
	}
	cfg, names, mismatch, err := webapi.LoadTLS(o.TLSCert, o.TLSKey, o.WebHost)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	ln, err := net.Listen("tcp", o.HTTPSAddr)
	if err != nil {
		return nil, fmt.Errorf("--https-addr: %w", err)
	}
	if mismatch != "" {
		logger.Warn(mismatch, "certificate_names", strings.Join(names, ","), "web_host", o.WebHost)
	}
	return tls.NewListener(ln, cfg), nil
}
