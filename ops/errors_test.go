package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/console"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/syncbuf"
	"github.com/tandemcc/tandem/ops"
	"github.com/tandemcc/tandem/replication"
	"github.com/tandemcc/tandem/replication/standby"
)

// The tests of this file run one real node in the process: a one-node
// cluster (hashicorp/raft on loopback, the real engine), its admin API
// (package ops, with the console mounted at /v1/console and the peer
// protocol at /v1/internal/), a replication manager, and the console API
// on its public mount.

const token = "ops-test-token-0123456789"

const centerYAML = `
queues:
  - {id: sales, strategy: longest-idle}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: ben, name: Ben, extension: "2002"}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [sales]}
`

// rig is the running node and its two addresses.
type rig struct {
	admin, public string // base URLs: the admin API, the console's public API
	session       string // ann's console session
	diskFull      *atomic.Bool
	store         *cluster.Store
	logs          *syncbuf.Buffer // the admin API's log (JSON)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	var h atomic.Pointer[http.Handler]
	adminSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(adminSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := ln.Addr().String()
	ln.Close()
	eng := contactcenter.New()
	receiver := standby.NewReceiver("", nil)
	control := replication.NewControl()
	st, err := cluster.Open(context.Background(), cluster.Config{
		NodeID: "n1", RaftAddr: raftAddr, AdminURL: adminSrv.URL, DataDir: t.TempDir(), Token: token,
		Machines: []cluster.Machine{eng}, Control: []cluster.Machine{control}, Gate: receiver, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Close(ctx)
	})
	full := &atomic.Bool{}
	repl, err := replication.Open(replication.Config{Dir: t.TempDir(), BufferSize: 1 << 20,
		Targets: map[string]replication.Target{replication.Reporting: nopTarget{}},
		Control: control, Cluster: st,
		WriteFault: func(string) error {
			if full.Load() {
				return syscall.ENOSPC
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repl.Close() })
	receiver.Attach(st)

	svc := &console.Service{Store: st, Engine: eng, Sessions: console.NewSessions(token, 0, time.Now)}
	logs := &syncbuf.Buffer{}
	var handler http.Handler = (&ops.Server{Store: st, Engine: eng, Token: token, Registry: prometheus.NewRegistry(),
		Logger:      slog.New(slog.NewJSONHandler(logs, nil)),
		Replication: repl, Console: &console.Handler{Service: svc, AdminActor: true},
		Standby: &standby.Handler{Receiver: receiver}}).Handler()
	h.Store(&handler)
	web := http.NewServeMux()
	(&console.Handler{Service: svc}).Routes(web, console.PublicPrefix)
	publicSrv := httptest.NewServer(web)
	t.Cleanup(publicSrv.Close)

	deadline := time.Now().Add(20 * time.Second)
	for !(st.Ready() && st.IsLeader()) {
		if time.Now().After(deadline) {
			t.Fatal("no leader after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	hash, err := console.HashPassword("ann-password")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{admin: adminSrv.URL, public: publicSrv.URL + console.PublicPrefix, diskFull: full, store: st, logs: logs}
	if code, body := r.do(t, "POST", r.admin+"/v1/config", token, fmt.Sprintf(centerYAML, hash)); code != 200 {
		t.Fatalf("config: %d %s", code, body)
	}
	code, body := r.do(t, "POST", r.public+"/session", "", `{"user":"ann","password":"ann-password"}`)
	var login console.LoginResponse
	if code != 200 || json.Unmarshal(body, &login) != nil {
		t.Fatalf("login: %d %s", code, body)
	}
	r.session = login.Token
	return r
}

type nopTarget struct{}

func (nopTarget) Deliver(_ context.Context, ev []command.Event) (command.Position, error) {
	if len(ev) == 0 {
		return command.Position{}, nil
	}
	last := ev[len(ev)-1]
	return command.Position{Index: last.Index, Seq: last.Seq}, nil
}
func (nopTarget) LastDelivered(context.Context) (command.Position, error) {
	return command.Position{}, nil
}
func (nopTarget) Diagnose(context.Context) (string, error) { return "nothing to diagnose", nil }

func (r *rig) do(t *testing.T, method, url, bearer, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// refusedEnvelope is a command the engine refuses naming a field: an agent
// in a queue that does not exist.
func refusedEnvelope(t *testing.T) string {
	t.Helper()
	doc, err := contactcenter.ParseDocument([]byte("agents:\n  - {id: a9, queues: [nosuch]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := command.New(contactcenter.TypeConfigApply, cluster.NewID(), time.Now(), contactcenter.ApplyRequest{Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every surface answers every kind of error it can give in the one shape,
// exactly {"code","message"[,"field"]}, with the one status of its code.
func TestErrorsOfEverySurface(t *testing.T) {
	r := newRig(t)
	const (
		admin   = "admin"   // the admin token
		session = "session" // ann's console session
		none    = ""
		bogus   = "bogus"
	)
	big := `{"reason":"` + strings.Repeat("x", 2<<20) + `"}`
	bigConfig := "queues: []\n#" + strings.Repeat("x", command.MaxPayload/2)
	tests := []struct {
		surface, name string
		method, path  string // path: on the admin API, or "public:" + a console path
		auth, body    string
		status        int
		code, field   string
		diskFull      bool
	}{
		// The admin API.
		{"admin", "no token", "GET", "/v1/status", none, "", 401, "unauthorized", "", false},
		{"admin", "wrong token", "GET", "/v1/status", bogus, "", 401, "unauthorized", "", false},
		{"admin", "malformed request", "POST", "/v1/cluster/join", admin, "{", 400, "bad_request", "", false},
		{"admin", "unknown request field", "POST", "/v1/cluster/remove", admin, `{"node":"n1"}`, 400, "bad_request", "node", false},
		{"admin", "invalid document", "POST", "/v1/config", admin, "queues:\n  - {id: q9, strategy: random}\n", 400, "bad_request", "queues[0].strategy", false},
		{"admin", "engine refusal naming a field", "POST", "/v1/config", admin, "agents:\n  - {id: a9, queues: [nosuch]}\n", 400, "bad_request", "agents[0].queues[0]", false},
		{"admin", "refusal", "POST", "/v1/cluster/remove", admin, `{"id":"nosuch"}`, 409, "refused", "", false},
		{"admin", "too large", "POST", "/v1/config", admin, bigConfig, 413, "too_large", "", false},
		{"admin", "unknown consistency", "GET", "/v1/config?consistency=eventual", admin, "", 400, "bad_request", "consistency", false},
		{"admin", "no such route", "GET", "/v1/nosuch", admin, "", 404, "not_found", "", false},
		{"admin", "no such route, before the token", "GET", "/nosuch", none, "", 404, "not_found", "", false},
		{"admin", "wrong method", "DELETE", "/v1/status", admin, "", 405, "method_not_allowed", "", false},
		{"admin", "wrong method, before the token", "POST", "/healthz", none, "", 405, "method_not_allowed", "", false},

		// Replication routes.
		{"replication", "no token", "POST", "/v1/replication/suspend", none, `{"target":"reporting"}`, 401, "unauthorized", "", false},
		{"replication", "no target", "POST", "/v1/replication/suspend", admin, `{}`, 400, "bad_request", "target", false},
		{"replication", "bad run_for", "POST", "/v1/replication/sync", admin, `{"target":"reporting","all":true,"run_for":"soon"}`, 400, "bad_request", "run_for", false},
		{"replication", "unknown target", "POST", "/v1/replication/suspend", admin, `{"target":"nosuch"}`, 409, "refused", "", false},
		{"replication", "disk full", "POST", "/v1/replication/suspend", admin, `{"target":"reporting"}`, 507, "no_space", "", true},
		{"replication", "no target to follow", "GET", "/v1/replication/sync", admin, "", 400, "bad_request", "target", false},
		{"replication", "no such sync", "GET", "/v1/replication/sync?target=reporting", admin, "", 404, "not_found", "", false},
		{"replication", "wrong method", "PUT", "/v1/replication/status", admin, "", 405, "method_not_allowed", "", false},

		// Standby routes (this node is a primary).
		{"standby", "no token", "POST", "/v1/standby/promote", none, "", 401, "unauthorized", "", false},
		{"standby", "malformed shipment", "POST", "/v1/standby/apply", admin, "{", 400, "bad_request", "", false},
		{"standby", "not a standby", "POST", "/v1/standby/apply", admin, `{}`, 409, "refused", "", false},
		{"standby", "nothing to promote", "POST", "/v1/standby/promote", admin, "", 409, "refused", "", false},
		{"standby", "no such route", "GET", "/v1/standby/nosuch", admin, "", 404, "not_found", "", false},

		// The peer protocol.
		{"peer", "no token", "POST", "/v1/internal/apply", none, "{}", 401, "unauthorized", "", false},
		{"peer", "malformed request", "POST", "/v1/internal/apply", admin, "{", 400, "bad_request", "", false},
		{"peer", "engine refusal naming a field", "POST", "/v1/internal/apply", admin, refusedEnvelope(t), 400, "bad_request", "agents[0].queues[0]", false},
		{"peer", "refusal", "POST", "/v1/internal/join", admin, `{}`, 409, "refused", "", false},
		{"peer", "refused transfer", "POST", "/v1/internal/transfer", admin, `{"ID":"nosuch"}`, 409, "refused", "", false},
		{"peer", "no such route", "GET", "/v1/internal/nosuch", admin, "", 404, "not_found", "", false},
		{"peer", "wrong method", "GET", "/v1/internal/apply", admin, "", 405, "method_not_allowed", "", false},

		// The console under /v1/console (admin token; acts for anyone).
		{"console/admin", "no token", "GET", "/v1/console/state", none, "", 401, "unauthorized", "", false},
		{"console/admin", "actor not named", "POST", "/v1/console/ops/answer", admin, `{}`, 400, "bad_request", "agent", false},
		{"console/admin", "refusal", "POST", "/v1/console/ops/answer", admin, `{"agent":"a1"}`, 409, "refused", "", false},
		{"console/admin", "no such object", "GET", "/v1/console/line-status?extension=9999", admin, "", 404, "not_found", "", false},
		{"console/admin", "unknown consistency", "GET", "/v1/console/queues?consistency=eventual", admin, "", 400, "bad_request", "consistency", false},
		{"console/admin", "no such route", "GET", "/v1/console/nosuch", admin, "", 404, "not_found", "", false},
		{"console/admin", "wrong method", "DELETE", "/v1/console/state", admin, "", 405, "method_not_allowed", "", false},

		// The console on its public address (session).
		{"console/public", "no session", "GET", "public:/state", none, "", 401, "unauthorized", "", false},
		{"console/public", "bad session", "GET", "public:/state", bogus, "", 401, "unauthorized", "", false},
		{"console/public", "wrong password", "POST", "public:/session", none, `{"user":"ann","password":"wrong-password"}`, 401, "unauthorized", "", false},
		{"console/public", "not an object", "POST", "public:/ops/pause", session, `[1]`, 400, "bad_request", "", false},
		{"console/public", "someone else's agent", "POST", "public:/ops/answer", session, `{"agent":"a2"}`, 403, "forbidden", "agent", false},
		{"console/public", "refusal", "POST", "public:/ops/answer", session, "", 409, "refused", "", false},
		{"console/public", "unknown operation", "POST", "public:/ops/teleport", session, "", 404, "not_found", "", false},
		{"console/public", "no such object", "GET", "public:/line-status?extension=9999", session, "", 404, "not_found", "", false},
		{"console/public", "too large", "POST", "public:/ops/pause", session, big, 413, "too_large", "", false},
		{"console/public", "unknown consistency", "GET", "public:/queues?consistency=eventual", session, "", 400, "bad_request", "consistency", false},
		{"console/public", "stream without a position", "GET", "public:/events", session, "", 400, "bad_request", "since", false},
		{"console/public", "no such route", "GET", "public:/nosuch", session, "", 404, "not_found", "", false},
		{"console/public", "wrong method", "DELETE", "public:/state", session, "", 405, "method_not_allowed", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.surface+"/"+tt.name, func(t *testing.T) {
			url := r.admin + tt.path
			if p, ok := strings.CutPrefix(tt.path, "public:"); ok {
				url = r.public + p
			}
			bearer := tt.auth
			switch tt.auth {
			case admin:
				bearer = token
			case session:
				bearer = r.session
			}
			r.diskFull.Store(tt.diskFull)
			defer r.diskFull.Store(false)
			code, body := r.do(t, tt.method, url, bearer, tt.body)
			if code != tt.status {
				t.Errorf("%s %s: HTTP %d %s; want %d", tt.method, tt.path, code, trim(body), tt.status)
			}
			var got map[string]any
			dec := json.NewDecoder(bytes.NewReader(body))
			if err := dec.Decode(&got); err != nil || dec.More() {
				t.Fatalf("%s %s: body %s is not one JSON object: %v", tt.method, tt.path, trim(body), err)
			}
			want := map[string]bool{"code": true, "message": true, "field": tt.field != ""}
			for k := range got {
				if !want[k] {
					t.Errorf("body %s has %q; want exactly code, message and field %q", trim(body), k, tt.field)
				}
			}
			if got["code"] != tt.code || got["message"] == nil || got["message"] == "" || (tt.field != "" && got["field"] != tt.field) {
				t.Errorf("%s %s: body %s; want code %q, a message and field %q", tt.method, tt.path, trim(body), tt.code, tt.field)
			}
		})
	}
}

func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
