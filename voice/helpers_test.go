package voice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
)

// testDoc has a plain extension with two phones, a secure phone and a
// second extension.
const testDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2001}, {id: soft, position: 1, order: 2, password: soft-password-2001}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: desk-password-2002}]
  - number: "2003"
    phones: [{id: sec, position: 0, order: 1, secure: true}]
queues:
  - {id: sales, strategy: longest-idle}
`

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// engineStore is a cluster.Store stand-in that applies every proposal to
// a real engine at the test clock's time.
type engineStore struct {
	mu         sync.Mutex
	e          *contactcenter.Engine
	now        func() time.Time
	index      uint64
	leader     bool
	catchingUp bool // elected, the barrier of its term not applied yet (Ready false)
	leaderID   string
	nodes      map[string]cluster.NodeMeta
	proposals  []string      // "type payload"
	fail       error         // when set, Propose fails with it (a cluster that cannot commit)
	hold       chan struct{} // when set, Propose waits for it to close (a slow commit)
}

func (f *engineStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return cluster.Result{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return cluster.Result{}, f.fail
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return cluster.Result{}, err
	}
	if err := contactcenter.CheckPayload(typ, b); err != nil {
		return cluster.Result{}, &cluster.Refusal{Msg: err.Error()}
	}
	f.index++
	env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: f.now().UnixNano(), ID: fmt.Sprint("c", f.index), Payload: b}
	res, err := f.e.Apply(env, command.NewEmitter(f.index, env))
	if err != nil {
		return cluster.Result{}, &cluster.Refusal{Msg: err.Error()}
	}
	f.proposals = append(f.proposals, typ+" "+string(b))
	out, _ := json.Marshal(res)
	return cluster.Result{Index: f.index, Result: out}, nil
}

func (f *engineStore) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *engineStore) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader && !f.catchingUp
}

func (f *engineStore) LeaderID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaderID
}

func (f *engineStore) Nodes() map[string]cluster.NodeMeta {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes
}

func (f *engineStore) taken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.proposals
	f.proposals = nil
	return out
}

// rig is a Server on a real engine, handling requests directly (no
// transport) or over loopback.
type rig struct {
	t     testing.TB
	s     *Server
	store *engineStore
	clk   *clock
	e     *contactcenter.Engine
	logs  *lockedWriter
	cseq  int
}

func newRig(t testing.TB, mods ...func(*Config)) *rig {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	e := contactcenter.New()
	store := &engineStore{e: e, now: clk.now, leader: true, leaderID: "n1",
		nodes: map[string]cluster.NodeMeta{"n1": {ID: "n1", SIPAddr: "127.0.0.1:5999"}}}
	doc, err := contactcenter.ParseDocument([]byte(testDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Propose(context.Background(), contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}); err != nil {
		t.Fatal(err)
	}
	store.taken()
	logs := &lockedWriter{w: &bytes.Buffer{}}
	cfg := Config{Addr: "127.0.0.1:0", Store: store, Engine: e, Now: clk.now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.checkLeader()
	return &rig{t: t, s: s, store: store, clk: clk, e: e, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fakeTx records the responses to one request.
type fakeTx struct {
	mu   sync.Mutex
	res  []*sip.Response
	done chan struct{}
}

func newFakeTx() *fakeTx { return &fakeTx{done: make(chan struct{})} }

func (f *fakeTx) Terminate()                         {}
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (f *fakeTx) Done() <-chan struct{}              { return f.done }
func (f *fakeTx) Err() error                         { return nil }
func (f *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (f *fakeTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (f *fakeTx) Respond(r *sip.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res = append(f.res, r)
	return nil
}

func (f *fakeTx) last() *sip.Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.res) == 0 {
		return nil
	}
	return f.res[len(f.res)-1]
}

// request builds a REGISTER (or another method) as text and parses it
// the way the transport does.
type reqOpts struct {
	method   string
	ruri     string
	to       string
	callID   string
	cseq     int
	contacts []string
	expires  string // Expires header ("" = none)
	authz    string
	extra    []string
}

func (r *rig) build(o reqOpts) *sip.Request {
	r.t.Helper()
	if o.method == "" {
		o.method = "REGISTER"
	}
	if o.ruri == "" {
		o.ruri = "sip:127.0.0.1"
	}
	if o.to == "" {
		o.to = "2001"
	}
	if o.callID == "" {
		o.callID = "call-" + o.to
	}
	if o.cseq == 0 {
		r.cseq++
		o.cseq = r.cseq
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", o.method, o.ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%s-%d\r\n", o.callID, o.cseq)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=from1\r\n", o.to)
	fmt.Fprintf(&b, "To: <sip:%s@127.0.0.1>\r\n", o.to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", o.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", o.cseq, o.method)
	for _, c := range o.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if o.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", o.expires)
	}
	if o.authz != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", o.authz)
	}
	for _, x := range o.extra {
		b.WriteString(x + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	m, err := sip.ParseMessage([]byte(b.String()))
	if err != nil {
		r.t.Fatalf("parsing the test's request: %v\n%s", err, b.String())
	}
	req := m.(*sip.Request)
	req.SetSource("127.0.0.1:5070")
	req.SetTransport("UDP")
	return req
}

func (r *rig) send(req *sip.Request) *sip.Response {
	r.t.Helper()
	tx := newFakeTx()
	r.s.handle(req, tx)
	res := tx.last()
	if res == nil {
		r.t.Fatalf("%s: no response", req.Method)
	}
	return res
}

// challengeOf picks the challenge of the algorithm from a 401.
func challengeOf(t testing.TB, res *sip.Response, alg string) *digest.Challenge {
	t.Helper()
	if res.StatusCode != sip.StatusUnauthorized {
		t.Fatalf("want 401, got %d %s", res.StatusCode, res.Reason)
	}
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("challenge %q: %v", h.Value(), err)
		}
		if c.Algorithm == alg {
			return c
		}
	}
	t.Fatalf("no %s challenge in %v", alg, res.GetHeaders("WWW-Authenticate"))
	return nil
}

// authz computes an Authorization value for a REGISTER to sip:127.0.0.1
// (the default request-URI of build).
func authz(t testing.TB, c *digest.Challenge, user, password string, nc int) string {
	t.Helper()
	return authzFor(t, c, "REGISTER", "sip:127.0.0.1", user, password, nc)
}

// authzFor computes an Authorization value for a request of method to uri.
func authzFor(t testing.TB, c *digest.Challenge, method, uri, user, password string, nc int) string {
	t.Helper()
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: user, Password: password, Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

// register runs the challenge and the authenticated REGISTER; it returns
// the final response.
func (r *rig) register(o reqOpts, user, password, alg string) *sip.Response {
	r.t.Helper()
	first := o
	first.authz = ""
	ch := challengeOf(r.t, r.send(r.build(first)), alg)
	o.authz = authz(r.t, ch, user, password, 1)
	return r.send(r.build(o))
}

func (r *rig) registered(ext, phone string) bool {
	views, _ := r.e.Phones(ext)
	for _, v := range views {
		if v.ID == phone {
			return v.Registered
		}
	}
	r.t.Fatalf("no phone %s/%s", ext, phone)
	return false
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
