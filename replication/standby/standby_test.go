package standby_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/ops"
	"github.com/tandemcc/tandem/replication"
	"github.com/tandemcc/tandem/replication/standby"
)

// These tests run real one-node clusters (hashicorp/raft on loopback, the
// real engine) in the test process: a primary whose replication manager
// ships to a standby through the standby's real admin API.

const token = "standby-test-token-0123456789"

const centerYAML = `
business_units:
  - {id: sales, name: Sales}
queues:
  - {id: support, name: Support, business_unit: sales, strategy: longest-idle}
extensions:
  - number: "1001"
    phones: [{id: alice-desk, kind: sip}]
users:
  - {id: alice, name: Alice, extension: "1001", business_unit: sales}
agents:
  - {id: alice, name: Alice, user: alice, extension: "1001", queues: [support]}
`

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitUntil polls cond (bounded) until it holds.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", within, what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type node struct {
	store    *cluster.Store
	receiver *standby.Receiver
	engine   *contactcenter.Engine
	url      string
}

// startNode starts a one-node cluster and its admin API.
func startNode(t *testing.T, id, standbyOf string, sinks ...cluster.EventSink) *node {
	t.Helper()
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	eng := contactcenter.New()
	rcv := standby.NewReceiver(standbyOf, nil)
	st, err := cluster.Open(context.Background(), cluster.Config{
		NodeID: id, RaftAddr: freeAddr(t), AdminURL: srv.URL, DataDir: t.TempDir(), Token: token,
		Machines: []cluster.Machine{eng}, Sinks: sinks, Gate: rcv,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Close(ctx)
	})
	rcv.Attach(st)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go rcv.Run(ctx)
	var handler http.Handler = (&ops.Server{Store: st, Engine: eng, Token: token, Registry: prometheus.NewRegistry(),
		Standby: &standby.Handler{Receiver: rcv, Hash: eng.Hash}}).Handler()
	h.Store(&handler)
	waitUntil(t, 20*time.Second, id+" ready", func() (bool, string) { return st.Ready() && st.IsLeader(), "" })
	if standbyOf != "" {
		waitUntil(t, 20*time.Second, id+" in standby mode", func() (bool, string) {
			sb, ok := rcv.State()
			return ok && sb.Active, ""
		})
	}
	return &node{store: st, receiver: rcv, engine: eng, url: srv.URL}
}

func applyConfig(t *testing.T, n *node, yaml string) {
	t.Helper()
	doc, err := contactcenter.ParseDocument([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.store.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}); err != nil {
		t.Fatalf("config apply: %v", err)
	}
}

func propose(t *testing.T, n *node, typ string, payload any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := n.store.Propose(ctx, typ, payload)
	return err
}

func sameEngine(a, b *node) func() (bool, string) {
	return func() (bool, string) {
		ha, hb := a.engine.Hash(), b.engine.Hash()
		return ha == hb, "primary " + ha + ", standby " + hb
	}
}

func newTarget(urls []string, primary *atomic.Pointer[cluster.Store]) *standby.Target {
	return &standby.Target{URLs: urls, Token: token, Export: func() (cluster.EngineExport, error) {
		return primary.Load().ExportEngine()
	}}
}

// TestStandbyFollowsPrimaryAndPromotes: everything the primary commits
// reaches the standby through the buffer; the standby refuses its own
// writes; promotion makes it writable and the primary's shipping is then
// refused, visibly.
func TestStandbyFollowsPrimaryAndPromotes(t *testing.T) {
	sb := startNode(t, "sb1", "http://primary.example:7070")
	var primary atomic.Pointer[cluster.Store]
	tgt := newTarget([]string{sb.url}, &primary)
	m, err := replication.Open(replication.Config{Dir: t.TempDir(), Targets: map[string]replication.Target{replication.Standby: tgt},
		IsLeader: func() bool { p := primary.Load(); return p != nil && p.IsLeader() }, TrackEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p := startNode(t, "p1", "", m)
	primary.Store(p.store)
	m.Start()
	m.SetLeader(true)

	applyConfig(t, p, centerYAML)
	if err := propose(t, p, contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: "alice"}); err != nil {
		t.Fatalf("agent login on the primary: %v", err)
	}
	waitUntil(t, 20*time.Second, "the standby to reach the primary's engine state", sameEngine(p, sb))

	// The standby's own edges are refused, and nothing changes.
	before := sb.engine.Hash()
	err = propose(t, sb, contactcenter.TypeAgentLogout, contactcenter.AgentRequest{Agent: "alice"})
	if err == nil || !strings.Contains(err.Error(), "is a standby of http://primary.example:7070; promote it first") {
		t.Fatalf("write on the standby: %v", err)
	}
	if sb.engine.Hash() != before {
		t.Fatal("a refused write changed the standby")
	}

	// More writes: they follow.
	if err := propose(t, p, contactcenter.TypeAgentLogout, contactcenter.AgentRequest{Agent: "alice"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the logout to reach the standby", sameEngine(p, sb))
	st := sb.receiver.Status(time.Now())
	if st.Mode != standby.ModeStandby || st.N != 3 || st.Applied != 3 || st.NeedsSync != "" {
		t.Fatalf("standby status %+v", st)
	}

	// Promote through the admin API.
	req, _ := http.NewRequest(http.MethodPost, sb.url+standby.PathPromote, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "promoted") {
		t.Fatalf("promote: HTTP %d %s", resp.StatusCode, body)
	}
	if err := propose(t, sb, contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: "alice"}); err != nil {
		t.Fatalf("write on the promoted standby: %v", err)
	}
	// The primary keeps writing; its shipping is refused and says why.
	if err := propose(t, p, contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: "alice"}); err != nil {
		t.Fatalf("login on the primary: %v", err)
	}
	waitUntil(t, 20*time.Second, "the primary's standby target to show the refusal", func() (bool, string) {
		ts := m.Status().Targets[replication.Standby]
		return strings.Contains(ts.LastError, "promoted"), ts.LastError
	})
	if got := sb.receiver.Status(time.Now()); got.Mode != standby.ModePromoted {
		t.Fatalf("mode after promotion %q", got.Mode)
	}
}

// record makes the buffer record of the primary's n-th engine command.
func record(t *testing.T, index uint64, n uint64, typ string, payload any) command.Event {
	t.Helper()
	env, err := command.New(typ, cluster.NewID(), time.Now(), payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := command.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(replication.CommandRecord{N: n, Env: raw})
	return command.Event{Index: index, Seq: 0, Type: replication.CommandRecordType, Time: env.Time, CommandID: env.ID, Data: data}
}

// TestDeliverSeedsAnEmptyStandbyAndReportsGaps: a standby that never
// received anything is seeded with the whole engine state; one that
// already holds data and misses commands is not touched, and delivery
// says a sync is needed.
func TestDeliverSeedsAnEmptyStandbyAndReportsGaps(t *testing.T) {
	p := startNode(t, "p1", "")
	sb := startNode(t, "sb1", "http://p1.example:7070")
	var primary atomic.Pointer[cluster.Store]
	primary.Store(p.store)
	tgt := newTarget([]string{"http://" + freeAddr(t), sb.url}, &primary) // the first member is down
	applyConfig(t, p, centerYAML)
	if err := propose(t, p, contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: "alice"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The buffer began after command 1: the standby lacks it.
	pos, err := tgt.Deliver(ctx, []command.Event{record(t, p.store.AppliedIndex(), 2, contactcenter.TypeAgentLogout, contactcenter.AgentRequest{Agent: "alice"})})
	if err != nil {
		t.Fatalf("deliver to an empty standby: %v", err)
	}
	if ok, d := sameEngine(p, sb)(); !ok {
		t.Fatalf("after seeding: %s", d)
	}
	if pos.Index != p.store.AppliedIndex() || pos.Seq != command.MaxSeq {
		t.Fatalf("position after seeding %v, applied %d", pos, p.store.AppliedIndex())
	}
	// Records the seed covers are not shipped again.
	if again, err := tgt.Deliver(ctx, []command.Event{record(t, 5, 2, contactcenter.TypeAgentLogout, contactcenter.AgentRequest{Agent: "alice"})}); err != nil || again != pos {
		t.Fatalf("redelivery of covered records: %v %v", again, err)
	}
	// Now command 5 arrives while 3 and 4 never did: a sync is needed,
	// and the standby's state is untouched.
	before := sb.engine.Hash()
	fresh := newTarget([]string{sb.url}, &primary) // forgets the position it learnt
	_, err = fresh.Deliver(ctx, []command.Event{record(t, pos.Index+10, 5, contactcenter.TypeAgentLogout, contactcenter.AgentRequest{Agent: "alice"})})
	if err == nil || !strings.Contains(err.Error(), "needs a sync") || !strings.Contains(err.Error(), "commands 3 to 4 are missing") {
		t.Fatalf("gap: %v", err)
	}
	if sb.engine.Hash() != before {
		t.Fatal("a gapped shipment changed the standby")
	}
	// The administrator's sync brings it level.
	applyConfig(t, p, strings.Replace(centerYAML, "Support", "Support desk", 1))
	var last [2]int64
	if err := fresh.SyncAdmin(ctx, func(done, total int64) { last = [2]int64{done, total} }); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if last[0] != last[1] || last[1] == 0 {
		t.Fatalf("progress ended at %d of %d", last[0], last[1])
	}
	if ok, d := sameEngine(p, sb)(); !ok {
		t.Fatalf("after sync: %s", d)
	}
	if st := sb.receiver.Status(time.Now()); st.NeedsSync != "" || st.Syncs != 2 {
		t.Fatalf("status after sync %+v", st)
	}
}

func TestDiagnose(t *testing.T) {
	p := startNode(t, "p1", "")
	sb := startNode(t, "sb1", "http://p1.example:7070")
	var primary atomic.Pointer[cluster.Store]
	primary.Store(p.store)
	tests := []struct {
		name string
		tgt  *standby.Target
		fail string // "" = passes
	}{
		{"standby", newTarget([]string{sb.url}, &primary), ""},
		{"down then standby", newTarget([]string{"http://" + freeAddr(t), sb.url}, &primary), ""},
		{"unreachable", newTarget([]string{"http://" + freeAddr(t)}, &primary), "connectivity"},
		{"unknown host", newTarget([]string{"http://no-such-host.invalid:7070"}, &primary), "name resolution"},
		{"wrong token", &standby.Target{URLs: []string{sb.url}, Token: "wrong-token-0123456789"}, "credentials"},
		{"not a standby", newTarget([]string{p.url}, &primary), "mode"},
		{"clock skew", &standby.Target{URLs: []string{sb.url}, Token: token, Now: func() time.Time { return time.Now().Add(3 * time.Second) }}, "clock skew"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rep, err := tc.tgt.Diagnose(ctx)
			if strings.Contains(rep, "wrong-token") || strings.Contains(rep, token) {
				t.Fatalf("the report shows a token:\n%s", rep)
			}
			if tc.fail == "" {
				if err != nil {
					t.Fatalf("diagnose: %v\n%s", err, rep)
				}
				for _, check := range []string{"name resolution", "connectivity", "credentials", "clock skew", "mode"} {
					if !strings.Contains(rep, check+":") {
						t.Errorf("report lacks %q:\n%s", check, rep)
					}
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.fail) || !strings.Contains(rep, "FAIL") {
				t.Fatalf("err %v, want a %s failure\n%s", err, tc.fail, rep)
			}
		})
	}
}
