package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// Store is what the SIP edge needs of the cluster: commit a command, know
// whether this node leads (and, once elected, whether it has applied
// everything committed before its term: Ready), and where the leader
// takes SIP.
type Store interface {
	Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	IsLeader() bool
	Ready() bool
	LeaderID() string
	Nodes() map[string]cluster.NodeMeta
}

// Passwords hands the registrar the passwords that authenticate a phone
// now (a secure phone's current secret, and the previous one during its
// grace period; a non-secure phone's configured password). None: the
// phone cannot register.
type Passwords interface {
	PhonePasswords(ext, phone string) []string
}

// Engine is what the SIP edge reads of the engine.
type Engine interface {
	Passwords
	// Registrations are the replicated bindings a new leader starts from.
	Registrations() []contactcenter.Registration
	// RingPlan is the waves in which an extension's phones ring.
	RingPlan(ext string) ([][]string, error)
	// Forward is where a call to a user goes instead (its forwarding rules).
	Forward(user, condition string) (contactcenter.ForwardDecision, bool)
	// View reads the engine's state under its lock (queues, agents' extensions, calls).
	View(fn func(*contactcenter.State))
}

// Config configures a Server. Store, Engine and Addr are required.
type Config struct {
	Addr   string // host:port, UDP and TCP (--sip-addr)
	Store  Store
	Engine Engine
	Realm  string // digest realm (default contactcenter.SIPRealm)
	// Algorithms are the digest algorithms challenged, in order (default
	// DefaultAlgorithms; see there why MD5 comes first).
	Algorithms []string
	Now        func() time.Time
	Logger     *slog.Logger

	MinExpires     time.Duration // shorter REGISTER intervals get 423 (default 60 s)
	MaxExpires     time.Duration // longer ones are shortened (default 3600 s)
	DefaultExpires time.Duration // when the phone asks none (default 3600 s)
	NonceLifetime  time.Duration // a nonce older is stale (default 5 min)
	MaxNonces      int           // nonce-count table bound (default 65536)
	CommitTimeout  time.Duration // how long a REGISTER waits for its commit (default 5 s)
	MaxInFlight    int           // requests handled at once; more get 503 (default 512)
	MaxCalls       int           // queue calls handled at once; more get 503 (default 10000)
	WaveTime       time.Duration // how long one wave of an extension's phones rings (default 15 s)
	// Trusted are the gateways whose INVITEs need no credentials.
	Trusted []netip.Prefix
	// Advertise is the host:port of this node's SIP in the Contact of the
	// dialogs it makes (default: the bound address).
	Advertise  string
	LeaderPoll time.Duration // how often leadership is checked (default 100 ms)
	// VoicemailMax bounds a voicemail recording (default and at most
	// contactcenter.MaxVoicemailAudioSeconds, 120 s).
	VoicemailMax time.Duration
}

var defaultLogOnce sync.Once

// Server is the SIP edge of one node. Only the leader handles SIP; a
// follower redirects.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	auth    *authenticator
	reg     *registrar
	metrics *metrics
	calls   *calls
	dua     *sipgo.DialogUA

	udp net.PacketConn
	tcp net.Listener

	leading  atomic.Bool
	inFlight chan struct{}
	closeMu  sync.Mutex
	closed   bool
}

// New checks the configuration and builds the server; Listen claims the
// ports, Run serves.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errors.New("voice: Store and Engine are required")
	}
	if cfg.Realm == "" {
		cfg.Realm = contactcenter.SIPRealm
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	if _, err := ParseAlgorithms(strings.Join(cfg.Algorithms, ",")); err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinExpires, 60*time.Second)
	def(&cfg.MaxExpires, 3600*time.Second)
	def(&cfg.DefaultExpires, 3600*time.Second)
	def(&cfg.NonceLifetime, 5*time.Minute)
	def(&cfg.CommitTimeout, 5*time.Second)
	def(&cfg.LeaderPoll, 100*time.Millisecond)
	def(&cfg.WaveTime, 15*time.Second)
	def(&cfg.VoicemailMax, contactcenter.MaxVoicemailAudioSeconds*time.Second)
	cfg.VoicemailMax = min(cfg.VoicemailMax, contactcenter.MaxVoicemailAudioSeconds*time.Second)
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 10000
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = 65536
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 512
	}
	if cfg.MaxExpires < cfg.MinExpires {
		return nil, errors.New("voice: MaxExpires below MinExpires")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), inFlight: make(chan struct{}, cfg.MaxInFlight)}
	s.reg = &registrar{s: s, binds: map[string]*binding{}}
	s.calls = &calls{byID: map[string]*call{}, bySIP: map[string]*call{}, legOf: map[string]bool{}, consults: map[string]*call{}, maxLen: cfg.MaxCalls}
	a, err := newAuthenticator(cfg.Realm, cfg.Algorithms, cfg.NonceLifetime, cfg.MaxNonces, cfg.Now)
	if err != nil {
		return nil, err
	}
	s.auth = a
	sipLog := slog.New(&sipgoLog{next: cfg.Logger.Handler(), m: s.metrics})
	// sipgo's package-wide logger (lazy header parsing, connection
	// references: debug records) is a global without a lock: set once,
	// before any SIP goroutine of this process runs, never counted.
	defaultLogOnce.Do(func() { sip.SetDefaultLogger(slog.New(&sipgoLog{next: cfg.Logger.Handler()})) })
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("Tandem"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)))
	if err != nil {
		return nil, fmt.Errorf("voice: SIP user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("voice: SIP server: %w", err)
	}
	srv.OnNoRoute(s.handle)
	s.ua, s.srv = ua, srv
	return s, nil
}

// dialogs prepares the client side of the B2BUA once the address is
// bound: requests it sends carry this node's SIP address.
func (s *Server) dialogs() error {
	adv := s.cfg.Advertise
	if adv == "" {
		adv = s.Addr()
	}
	host, port, err := net.SplitHostPort(adv)
	if err != nil {
		return fmt.Errorf("voice: advertised address: %w", err)
	}
	p, _ := strconv.Atoi(port)
	cl, err := sipgo.NewClient(s.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(p))
	if err != nil {
		return fmt.Errorf("voice: SIP client: %w", err)
	}
	s.dua = &sipgo.DialogUA{Client: cl, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "tandem", Host: host, Port: p}}}
	return nil
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// Listen claims the UDP and TCP sockets of Addr (the same port for both;
// with port 0 the kernel picks one for UDP and TCP takes it too).
func (s *Server) Listen() error {
	for try := 0; ; try++ {
		u, err := net.ListenPacket("udp", s.cfg.Addr)
		if err != nil {
			return err
		}
		taddr := u.LocalAddr().String()
		t, err := net.Listen("tcp", taddr)
		if err == nil {
			s.udp, s.tcp = u, t
			return s.dialogs()
		}
		u.Close()
		if _, port, _ := net.SplitHostPort(s.cfg.Addr); port != "0" || try >= 20 {
			return err
		}
	}
}

// Addr is the bound address (UDP and TCP), once Listen returned.
func (s *Server) Addr() string {
	if s.udp == nil {
		return s.cfg.Addr
	}
	return s.udp.LocalAddr().String()
}

// Run serves until ctx ends: the transports, the leadership watch (seed
// the bindings on becoming leader, forget them on losing it) and the
// leader's expiry of registrations not refreshed.
func (s *Server) Run(ctx context.Context) error {
	if s.udp == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- s.srv.ServeUDP(s.udp) }()
	go func() { errc <- s.srv.ServeTCP(s.tcp) }()
	go s.leaderLoop(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			err = fmt.Errorf("voice: serving SIP: %w", err)
		} else {
			err = nil
		}
	}
	s.Close()
	return err
}

// Close stops the transports.
func (s *Server) Close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	s.ua.Close()
}

// leaderLoop follows leadership and expires bindings while leading.
func (s *Server) leaderLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.LeaderPoll)
	defer t.Stop()
	lastExpire := time.Time{}
	for {
		s.checkLeader()
		if s.leading.Load() && s.now().Sub(lastExpire) >= time.Second {
			lastExpire = s.now()
			s.reg.expire(ctx, lastExpire)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkLeader seeds or clears the registrar on a change of leadership.
// A newly elected leader starts leading SIP only once it is Ready (the
// barrier of its term applied): before that its engine may not yet hold
// the calls and registrations its predecessor committed, and the release
// of orphaned calls would miss them — they would stay queued forever.
func (s *Server) checkLeader() {
	is := s.cfg.Store.IsLeader()
	if is == s.leading.Load() {
		return
	}
	if is && !s.cfg.Store.Ready() {
		return // elected, not caught up yet: requests get 503 meanwhile
	}
	if is {
		s.reg.seed(s.cfg.Engine.Registrations(), s.now())
		s.log.Info("SIP: leading; registrations loaded", "bindings", s.reg.count())
		s.leading.Store(true)
		s.releaseOrphans()
		return
	} else {
		s.reg.clear()
		s.log.Info("SIP: no longer leading; requests are redirected to the leader")
	}
	s.leading.Store(is)
}

// handle is the entry of every request.
func (s *Server) handle(req *sip.Request, tx sip.ServerTransaction) {
	defer func() {
		if p := recover(); p != nil {
			s.metrics.malformed.WithLabelValues("panic").Inc()
			s.log.Error("SIP: request handler panicked", "method", string(req.Method), "panic", fmt.Sprint(p))
			s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		}
	}()
	s.metrics.requests.WithLabelValues(methodLabel(req.Method)).Inc()
	if req.IsAck() {
		s.handleAck(req, tx) // confirms a call's dialog; an ACK for a final non-2xx needs nothing
		return
	}
	if !s.leading.Load() {
		// A former leader still ends the dialogs it holds.
		if req.Method == sip.BYE && req.CallID() != nil && s.handleBye(req, tx) {
			return
		}
		if s.cfg.Store.IsLeader() {
			// Elected, catching up: a redirect would name this node.
			s.metrics.redirects.WithLabelValues("unavailable").Inc()
			s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "1"))
			return
		}
		s.redirect(req, tx)
		return
	}
	var once sync.Once
	release := func() { once.Do(func() { <-s.inFlight }) }
	select {
	case s.inFlight <- struct{}{}:
		defer release()
	default:
		s.metrics.overload.Inc()
		s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "2"))
		return
	}
	switch req.Method {
	case sip.REGISTER:
		s.handleRegister(req, tx)
	case sip.OPTIONS:
		s.respond(req, tx, sip.StatusOK, "OK", sip.NewHeader("Allow", "INVITE, REGISTER, OPTIONS, ACK, CANCEL, BYE, REFER"))
	case sip.INVITE:
		if s.dua == nil {
			s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		s.handleInvite(req, tx, release)
	case sip.BYE:
		if req.CallID() == nil || !s.handleBye(req, tx) {
			s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		}
	case sip.CANCEL:
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	case sip.REFER:
		if req.CallID() == nil {
			s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
			return
		}
		s.handleRefer(req, tx)
	case sip.SUBSCRIBE, sip.NOTIFY, sip.INFO, sip.MESSAGE, sip.PRACK, sip.UPDATE, sip.PUBLISH:
		s.respond(req, tx, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", "INVITE, REGISTER, OPTIONS, ACK, CANCEL, BYE, REFER"))
	default:
		s.respond(req, tx, sip.StatusNotImplemented, "Not Implemented")
	}
}

// handleRegister authenticates a REGISTER and hands it to the registrar.
func (s *Server) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil {
		s.metrics.malformed.WithLabelValues("rejected").Inc()
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	aor, ok := extensionOf(to.Address)
	if !ok {
		s.respond(req, tx, sip.StatusNotFound, "Not Found")
		return
	}
	authz := ""
	if h := req.GetHeader("Authorization"); h != nil {
		authz = h.Value()
	}
	var ext, phone string
	_, err := s.auth.verify(authz, string(req.Method), req.Recipient, func(user string) []string {
		e, p, ok := contactcenter.ParseSIPUser(user)
		if !ok {
			return nil
		}
		ext, phone = e, p
		return s.cfg.Engine.PhonePasswords(e, p)
	})
	if err != nil {
		var ae *authError
		errors.As(err, &ae)
		reason := "malformed"
		if ae != nil {
			reason = ae.Reason
		}
		if reason != "missing" {
			s.metrics.authFailures.WithLabelValues(reason).Inc()
		}
		switch reason {
		case "wrong", "unknown_user", "replay":
			s.log.Info("SIP: REGISTER refused", "reason", reason, "to", aor, "source", req.Source())
			s.respond(req, tx, sip.StatusForbidden, "Forbidden")
		case "uri":
			// RFC 7616 §3.4.6: credentials for another resource are a 400.
			s.respond(req, tx, sip.StatusBadRequest, "Digest URI Mismatch")
		default:
			s.challenge(req, tx, ae != nil && ae.Stale)
		}
		return
	}
	if ext != aor {
		s.metrics.authFailures.WithLabelValues("other_extension").Inc()
		s.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout+time.Second)
	defer cancel()
	contacts, err := s.reg.register(ctx, req, ext, phone)
	if err != nil {
		var re *regError
		if errors.As(err, &re) {
			s.respond(req, tx, re.code, re.reason, re.hdrs...)
			return
		}
		s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	hdrs := append(contacts, sip.NewHeader("Date", s.now().UTC().Format(time.RFC1123)))
	s.respond(req, tx, sip.StatusOK, "OK", hdrs...)
}

// challenge answers 401 with one challenge per algorithm.
func (s *Server) challenge(req *sip.Request, tx sip.ServerTransaction, stale bool) {
	var hdrs []sip.Header
	for _, c := range s.auth.challenges(stale) {
		hdrs = append(hdrs, sip.NewHeader("WWW-Authenticate", c))
	}
	s.respond(req, tx, sip.StatusUnauthorized, "Unauthorized", hdrs...)
}

// redirect answers a request to a follower: 302 to the leader's SIP
// address when the cluster knows it, else 503 with Retry-After.
func (s *Server) redirect(req *sip.Request, tx sip.ServerTransaction) {
	target := ""
	if id := s.cfg.Store.LeaderID(); id != "" {
		target = s.cfg.Store.Nodes()[id].SIPAddr
	}
	if target == "" {
		s.metrics.redirects.WithLabelValues("unavailable").Inc()
		s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "2"))
		return
	}
	s.metrics.redirects.WithLabelValues("leader").Inc()
	user := ""
	if req.Recipient.User != "" {
		user = req.Recipient.User + "@"
	}
	uri := "sip:" + user + target
	if t := strings.ToLower(req.Transport()); t == "tcp" {
		uri += ";transport=tcp"
	}
	s.respond(req, tx, sip.StatusMovedTemporarily, "Moved Temporarily", sip.NewHeader("Contact", "<"+uri+">"))
}

// respond sends a response built from the request.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code > 100 && req.To() != nil {
		if _, ok := req.To().Params.Get("tag"); !ok && res.To() != nil {
			res.To().Params.Add("tag", toTag(req))
		}
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.metrics.responses.WithLabelValues(strconv.Itoa(code/100) + "xx").Inc()
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP: sending a response", "code", code, "err", err)
	}
}

// toTag is a To tag for our responses, stable for a request's
// retransmissions.
func toTag(req *sip.Request) string {
	h := uint64(1469598103934665603)
	var parts []string
	if c := req.CallID(); c != nil {
		parts = append(parts, c.Value())
	}
	if c := req.CSeq(); c != nil {
		parts = append(parts, c.Value())
	}
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return strconv.FormatUint(h, 36)
}

// extensionOf maps a request or To URI to an extension number: its user
// part, digits only (a visual separator such as '-' or '.' is not
// accepted: extensions are stored as plain digits).
func extensionOf(u sip.Uri) (string, bool) {
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return "", false
	}
	user := u.User
	if len(user) < 2 || len(user) > contactcenter.MaxExtensionLen || !isDigits(user) {
		return "", false
	}
	return user, true
}

func methodLabel(m sip.RequestMethod) string {
	switch m {
	case sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.REGISTER, sip.OPTIONS, sip.SUBSCRIBE, sip.NOTIFY,
		sip.REFER, sip.INFO, sip.MESSAGE, sip.PRACK, sip.UPDATE, sip.PUBLISH:
		return string(m)
	}
	return "other"
}
