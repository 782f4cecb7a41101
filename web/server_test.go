package web

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
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// rig is a one-node cluster (real Raft, an injected clock) with the
// public API in front of it.
type rig struct {
	t      *testing.T
	store  *cluster.Store
	engine *cc.Engine
	srv    *httptest.Server
	reg    *prometheus.Registry

	mu  sync.Mutex
	now time.Time
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rig) set(t time.Time) {
	r.mu.Lock()
	r.now = t
	r.mu.Unlock()
}

// rigStart is Monday 3 March 2025, 10:00 in Madrid.
var rigStart = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

const rigDoc = `
settings: {default_country_code: "34"}
queues:
  - {id: sales}
  - {id: support}
  - {id: other}
agents:
  - {id: a1, queues: [sales]}
excluded_numbers: ["+34 91 555 0199"]
callbacks:
  time_zone: Europe/Madrid
  hours:
    monday: ["09:00-13:00", "15:00-19:00"]
    tuesday: ["09:00-13:00", "15:00-19:00"]
    wednesday: ["09:00-13:00", "15:00-19:00"]
    thursday: ["09:00-13:00", "15:00-19:00"]
    friday: ["09:00-13:00", "15:00-19:00"]
  holidays: ["2025-03-05"]
  queues: [sales, support]
`

func newRig(t *testing.T) *rig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &rig{t: t, engine: cc.New(), now: rigStart, reg: prometheus.NewRegistry()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cluster.Open(ctx, cluster.Config{
		NodeID: "n1", RaftAddr: addr, AdminURL: "http://127.0.0.1:1", DataDir: t.TempDir(),
		Token: "test-token-0123456789", Machines: []cluster.Machine{r.engine},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: r.clock,
	})
	if err != nil {
		t.Fatalf("opening the cluster: %v", err)
	}
	r.store = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Close(ctx)
	})
	for i := 0; !st.IsLeader(); i++ {
		if i > 300 {
			t.Fatal("no leader after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	d, err := cc.ParseDocument([]byte(rigDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Propose(ctx, cc.TypeConfigApply, cc.ApplyRequest{Document: d}); err != nil {
		t.Fatalf("config: %v", err)
	}
	mux := http.NewServeMux()
	(&Handler{Store: st, Engine: r.engine, Metrics: NewMetrics(r.reg)}).Routes(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

type answer struct {
	status int
	hdr    http.Header
	body   map[string]any
	raw    string
}

func (a answer) code() int {
	if c, ok := a.body["code"].(float64); ok {
		return int(c)
	}
	return 0
}

func (r *rig) do(method, path, body string, hdr ...string) answer {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, hdr: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &a.body); err != nil {
		r.t.Fatalf("%s %s: %d %q is not a JSON object", method, path, resp.StatusCode, b)
	}
	return a
}

func (r *rig) create(body string, hdr ...string) answer {
	r.t.Helper()
	return r.do("POST", "/api/v1/callbacks", body, hdr...)
}

func cbBody(phone, extra string) string {
	return fmt.Sprintf(`{"queue":"sales","customer_name":"Ana Pérez","phone":%q,"description":"Invoice","contact_data":{"order":"A-17"},"priority":10%s}`, phone, extra)
}

func madridAt(d, h, m int) string {
	l, _ := time.LoadLocation("Europe/Madrid")
	return time.Date(2025, 3, d, h, m, 0, 0, l).Format(time.RFC3339)
}

func sched(from, to string) string {
	return fmt.Sprintf(`,"schedule":[{"start":%q,"end":%q}]`, from, to)
}

// Create, read, cancel, read: the lifecycle through HTTP.
func TestCallbackLifecycle(t *testing.T) {
	r := newRig(t)
	a := r.create(cbBody("+34 91 555 0101", ""))
	if a.status != http.StatusCreated || a.body["status"] != "queued" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	id := a.body["id"].(string)
	if len(id) != 32 || a.hdr.Get("Location") != "/api/v1/callbacks/"+id {
		t.Fatalf("id %q, Location %q", id, a.hdr.Get("Location"))
	}
	if strings.Contains(a.raw, "555 0101") || strings.Contains(a.raw, "+34") || strings.Contains(a.raw, "Ana") || strings.Contains(a.raw, "A-17") {
		t.Fatalf("the answer shows the customer's data: %s", a.raw)
	}
	g := r.do("GET", "/api/v1/callbacks/"+id, "")
	if g.status != 200 || g.body["status"] != "queued" || g.body["attempts"] != float64(1) || g.body["created_at"] != "2025-03-03T09:00:00Z" {
		t.Fatalf("get: %d %s", g.status, g.raw)
	}
	d := r.do("DELETE", "/api/v1/callbacks/"+id, "")
	if d.status != 200 || d.body["status"] != "cancelled" {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	d = r.do("DELETE", "/api/v1/callbacks/"+id, "")
	if d.status != http.StatusConflict || d.code() != CodeBadParameter {
		t.Fatalf("second delete: %d %s", d.status, d.raw)
	}
	for _, path := range []string{"/api/v1/callbacks/0123456789abcdef0123456789abcdef", "/api/v1/callbacks/..%2f", "/api/v1/callbacks/" + strings.Repeat("a", 49)} {
		if g := r.do("GET", path, ""); g.status != 404 || g.code() != CodeBadParameter {
			t.Fatalf("GET %s: %d %s", path, g.status, g.raw)
		}
	}
	if g := r.do("PUT", "/api/v1/callbacks/"+id, ""); g.status != 405 || g.code() != CodeGeneral || g.hdr.Get("Allow") != "GET, DELETE" {
		t.Fatalf("PUT: %d %s %v", g.status, g.raw, g.hdr)
	}
	if g := r.do("GET", "/api/v1/nothing", ""); g.status != 404 || g.code() != CodeGeneral {
		t.Fatalf("unknown route: %d %s", g.status, g.raw)
	}
}

// Every code through HTTP, with its status; a refused request changes
// nothing in the engine.
func TestCallbackCodesOverHTTP(t *testing.T) {
	r := newRig(t)
	if a := r.create(cbBody("+34 91 555 0100", "")); a.status != 201 {
		t.Fatalf("first: %s", a.raw)
	}
	tests := []struct {
		name, body string
		code       int
		status     int
	}{
		{"missing phone", `{"queue":"sales"}`, CodeBadMandatory, 400},
		{"unknown parameter", cbBody("1", `,"x":1`), CodeBadParameter, 400},
		{"name 76", strings.Replace(cbBody("+34 91 555 0101", ""), "Ana Pérez", strings.Repeat("é", 76), 1), CodeNameTooLong, 400},
		{"description 101", strings.Replace(cbBody("+34 91 555 0101", ""), "Invoice", strings.Repeat("x", 101), 1), CodeDescTooLong, 400},
		{"contact data 1001", strings.Replace(cbBody("+34 91 555 0101", ""), "A-17", strings.Repeat("x", 995), 1), CodeContactDataLong, 400},
		{"priority 101", strings.Replace(cbBody("+34 91 555 0101", ""), `"priority":10`, `"priority":101`, 1), CodeInvalidPriority, 400},
		{"unknown queue", strings.Replace(cbBody("+34 91 555 0101", ""), `"sales"`, `"nope"`, 1), CodeUnknownQueue, 404},
		{"not a callback queue", strings.Replace(cbBody("+34 91 555 0101", ""), `"sales"`, `"other"`, 1), CodeUnknownQueue, 404},
		{"excluded", cbBody("0034 91 555 01 99", ""), CodeExcludedNumber, 409},
		{"duplicate", cbBody("0034915550100", ""), CodeDuplicate, 409},
		{"invalid schedule", cbBody("+34 91 555 0101", sched(madridAt(4, 11, 0), madridAt(4, 10, 0))), CodeInvalidSchedule, 400},
		{"holiday", cbBody("+34 91 555 0101", sched(madridAt(5, 10, 0), madridAt(5, 11, 0))), CodeOutsideSchedule, 409},
		{"expired", cbBody("+34 91 555 0101", sched("2025-03-03T08:00:00Z", "2025-03-03T09:00:00Z")), CodeScheduleExpired, 400},
		{"181 days", cbBody("+34 91 555 0101", sched("2025-03-03T09:00:00Z", "2025-08-30T09:00:01Z")), CodeScheduleTooFar, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := r.engine.Hash()
			a := r.create(tc.body)
			if a.code() != tc.code || a.status != tc.status {
				t.Fatalf("got %d %s, want %d code %d", a.status, a.raw, tc.status, tc.code)
			}
			if msg, _ := a.body["message"].(string); msg == "" || strings.HasPrefix(msg, "callback ") {
				t.Fatalf("message %q", msg)
			}
			if r.engine.Hash() != before {
				t.Fatal("a refused request changed the engine")
			}
		})
	}
	// Exactly 180 days is accepted.
	if a := r.create(cbBody("+34 91 555 0102", sched("2025-03-03T09:00:00Z", "2025-08-30T09:00:00Z"))); a.status != 201 {
		t.Fatalf("180 days: %s", a.raw)
	}
	// Too large a body.
	if a := r.create(`{"queue":"sales","phone":"1","description":"` + strings.Repeat("x", MaxBody) + `"}`); a.status != 413 || a.code() != CodeBadParameter {
		t.Fatalf("large body: %d %s", a.status, a.raw)
	}
	// The counters: 2 accepted creates, refusals by code.
	if n := counterValue(t, r.reg, "callback_create", "accepted", "0"); n != 2 {
		t.Fatalf("accepted %v", n)
	}
	if n := counterValue(t, r.reg, "callback_create", "refused", "17006"); n != 1 {
		t.Fatalf("refused 17006: %v", n)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, op, result, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tandem_web_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["op"] == op && l["result"] == result && l["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no tandem_web_requests_total{op=%q,result=%q,code=%q}", op, result, code)
	return 0
}

// A retried request with the same Idempotency-Key creates one callback;
// another request under the same key is a request of its own.
func TestCallbackIdempotencyKey(t *testing.T) {
	r := newRig(t)
	body := cbBody("+34 91 555 0101", "")
	a := r.create(body, "Idempotency-Key", "order-17-try")
	b := r.create(body, "Idempotency-Key", "order-17-try")
	if a.status != 201 || b.status != 201 || a.body["id"] != b.body["id"] || b.hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s / %d %s %v", a.status, a.raw, b.status, b.raw, b.hdr)
	}
	// Without the key the same request is a duplicate.
	if c := r.create(body); c.code() != CodeDuplicate {
		t.Fatalf("without key: %s", c.raw)
	}
	// The key with another request does not reveal the first callback.
	c := r.create(cbBody("+34 91 555 0102", ""), "Idempotency-Key", "order-17-try")
	if c.status != 201 || c.body["id"] == a.body["id"] {
		t.Fatalf("other request under the key: %s", c.raw)
	}
	if d := r.create(body, "Idempotency-Key", strings.Repeat("k", 129)); d.code() != CodeBadParameter {
		t.Fatalf("long key: %s", d.raw)
	}
	var n int
	r.engine.View(func(s *cc.State) { n = len(s.Callbacks) })
	if n != 2 {
		t.Fatalf("%d callbacks, want 2", n)
	}
}

// The schedule is judged at the leader's time, not the web server's.
func TestCallbackLeaderTime(t *testing.T) {
	r := newRig(t)
	r.set(rigStart.Add(2 * time.Hour)) // 12:00 in Madrid
	a := r.create(cbBody("+34 91 555 0101", sched(madridAt(3, 10, 0), madridAt(3, 11, 30))))
	if a.code() != CodeScheduleExpired {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	body, _ := json.Marshal(map[string]any{"queue": "sales", "phone": "+34 91 555 0101", "schedule": []map[string]string{{"start": madridAt(3, 12, 30), "end": madridAt(3, 14, 0)}}})
	if a := r.create(string(bytes.TrimSpace(body))); a.status != 201 || a.body["status"] != "scheduled" || a.body["next_attempt_at"] != "2025-03-03T11:30:00Z" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}
