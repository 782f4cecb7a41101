package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/console"
)

// Point 9 of issue 10: secrets never leave the engine, and each console
// stream carries what its operator may see.

const secretsDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: "Configured-Ben-Desk-Pass"}]
  - number: "3001"
    phones:
      - {id: sec, position: 0, order: 1, secure: true, published: true}
      - {id: desk, position: 1, order: 1}
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: ben, name: Ben, extension: "2002", password_hash: "%s"}
  - {id: bob, name: Bob, extension: "3001"}
queues:
  - {id: sales, strategy: longest-idle}
  - {id: support, strategy: longest-idle}
pause_reasons:
  - {code: sweep-end}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [support]}
`

// operator logs a console in on n and follows its stream from its state
// (since).
func operator(t *testing.T, n *node, user, password string) (c *consoleClient, since string) {
	t.Helper()
	c = &consoleClient{t: t, node: n}
	code, out := c.do("POST", "/session", map[string]string{"user": user, "password": password})
	if code != 200 {
		t.Fatalf("login %s: %d %v", user, code, out)
	}
	c.token = out["token"].(string)
	code, st := c.do("GET", "/state", nil)
	if code != 200 {
		t.Fatalf("state of %s: %d %v", user, code, st)
	}
	c.follow(st["since"].(string))
	return c, st["since"].(string)
}

// adminStream follows the stream of the admin mount (an integration
// holding the admin token) from since.
func adminStream(t *testing.T, n *node, since string) *consoleClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+n.adminAddr+"/v1/console/events?since="+since,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + n.tokenValue()}}})
	if err != nil {
		t.Fatalf("admin stream: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &consoleClient{t: t, node: n, ws: ws}
}

func edgeOp(t *testing.T, n *node, op string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	code, out, err := n.do("POST", "/v1/console/ops/"+op, true, b, "application/json")
	if err != nil || code != 200 {
		t.Fatalf("edge %s: %d %s %v", op, code, out, err)
	}
}

// twoQueueDay: ann (sales) and ben (support) log in, each takes a call
// of their queue, holds, retrieves and hangs up, step by step together
// so their events interleave; ben pauses last.
func twoQueueDay(t *testing.T, n *node, ann, ben *consoleClient) {
	t.Helper()
	for _, step := range []string{"login", "login", "incoming", "answer", "hold", "retrieve", "hangup", "pause"} {
		for _, o := range []struct {
			c           *consoleClient
			queue, call string
		}{{ann, "sales", "s1"}, {ben, "support", "p1"}} {
			if step == "incoming" {
				edgeOp(t, n, "incoming", map[string]any{"call": o.call, "queue": o.queue, "number": "+44 161 5527789"})
				continue
			}
			o.c.op(step, nil)
		}
	}
}

// foreignEvents reads c's stream to the agent's pause and returns the
// events naming the other agent, queue or call.
func foreignEvents(c *consoleClient, agent, otherAgent, otherQueue, otherCall string) (foreign []string, types []string) {
	c.t.Helper()
	for {
		data := c.until("agent.state_changed", 20*time.Second)
		if data["agent"] == agent && data["state"] == "paused" && data["previous"] == "connected" {
			break
		}
	}
	for _, raw := range c.raw {
		var m struct{ Events []command.Event }
		json.Unmarshal([]byte(raw), &m)
		for _, ev := range m.Events {
			var r struct {
				Call, Agent, Queue, ID string
				Agents                 []string
			}
			json.Unmarshal(ev.Data, &r)
			types = append(types, ev.Type)
			hit := r.Agent == otherAgent || r.Queue == otherQueue || r.Call == otherCall || r.ID == otherQueue || r.ID == otherAgent
			for _, a := range r.Agents {
				hit = hit || a == otherAgent
			}
			if hit {
				foreign = append(foreign, ev.Type+" "+string(ev.Data))
			}
		}
	}
	return foreign, types
}

// TestConsoleStreamFilter: two operators in two queues on a real
// tandemd; neither console's stream carries the other queue's call
// events (nor the other operator's), the admin token's stream carries
// both, and a console that sees nothing of what happens is given a
// position past it to resume from.
func TestConsoleStreamFilter(t *testing.T) {
	n := startCluster(t, "filter", 1, nil)[0]
	annHash, _ := console.HashPassword("ann-password")
	benHash, _ := console.HashPassword("ben-password")
	n.apply(fmt.Sprintf(secretsDoc, annHash, benHash)).ok(t)
	ann, since := operator(t, n, "ann", "ann-password")
	ben, _ := operator(t, n, "ben", "ben-password")
	admin := adminStream(t, n, since)
	twoQueueDay(t, n, ann, ben)

	for _, tc := range []struct {
		c                                        *consoleClient
		agent, otherAgent, otherQueue, otherCall string
	}{{ann, "a1", "a2", "support", "p1"}, {ben, "a2", "a1", "sales", "s1"}} {
		foreign, types := foreignEvents(tc.c, tc.agent, tc.otherAgent, tc.otherQueue, tc.otherCall)
		if len(foreign) > 0 {
			t.Errorf("%s's stream carries %q", tc.agent, foreign)
		}
		if !strings.Contains(strings.Join(types, " "), "call.answered call.held call.retrieved call.ended") {
			t.Errorf("%s's stream lacks its call: %v", tc.agent, types)
		}
	}
	foreign, _ := foreignEvents(admin, "a2", "a1", "sales", "s1")
	if len(foreign) == 0 {
		t.Error("the admin token's stream lacks ann's events")
	}

	// Ann acts, Ben sees none of it: his position moves past it, and a
	// new connection from there starts with what follows for him.
	ann.op("login", nil)
	before := ben.last
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := ben.ws.Read(ctx) // a timed-out Read closes the connection
	var m struct{ Type, Since string }
	json.Unmarshal(b, &m)
	ben.advance(m.Since, m.Type == "position")
	if err != nil || m.Type != "position" || !ben.last.After(before) {
		t.Fatalf("ben's stream after ann's login: %s %v (position %+v)", b, err, ben.last)
	}
	ben.ws.Close(websocket.StatusNormalClosure, "")
	ann.op("pause", nil)
	edgeOp(t, n, "incoming", map[string]any{"call": "p2", "queue": "support"})
	seen := len(ben.types)
	ben.follow("")
	if data := ben.until("call.queued", 10*time.Second); data["call"] != "p2" || len(ben.types) != seen+1 {
		t.Fatalf("ben resumed with %v, then %v", ben.types[seen:], data)
	}
}

// TestSecretsNeverLeaveTandemd: a configuration with password hashes
// and a secure phone is applied to a node delivering to PostgreSQL;
// operators work, a password changes, the configuration is read back and
// applied again. Then no hash (whole, salt or key) appears in any stream
// message, API answer, /v1/status, replication status, /metrics, GET
// /v1/config, tandemctl's output, the replication archive and buffer
// files, the reporting database's rows or tandemd's log; nor does the
// SIP password the leader's rotator generates for the secure phone
// (issue 15.2, read back with `tandemctl phone provision`), nor the
// password configured for a non-secure phone.
func TestSecretsNeverLeaveTandemd(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "e2e-secrets")
	n := startCluster(t, "secrets", 1, map[int][]nodeOpt{0: {replReportingArgs(db)}})[0]
	annHash, _ := console.HashPassword("ann-password")
	annHash2, _ := console.HashPassword("ann-password-2")
	benHash, _ := console.HashPassword("ben-password")
	outputs := map[string]string{}
	ctl := func(r ctlResult) { outputs[fmt.Sprintf("tandemctl %d", len(outputs))] = r.ok(t).stdout + r.stderr }
	ctl(n.apply(fmt.Sprintf(secretsDoc, annHash, benHash)))
	phonePw := provisioned(t, n, "3001", "sec").Password
	ann, since := operator(t, n, "ann", "ann-password")
	ben, _ := operator(t, n, "ben", "ben-password")
	admin := adminStream(t, n, since)
	twoQueueDay(t, n, ann, ben)
	ann.op("login", nil) // paused → connected
	edgeOp(t, n, "incoming", map[string]any{"call": "s2", "queue": "sales", "number": "3001"})
	ann.op("answer", nil)
	ann.op("transfer", map[string]any{"target": "3001"})
	edgeOp(t, n, "remote_answer", map[string]any{"call": "s2"})

	// A password change; the configuration read back shows no hash and,
	// applied again, keeps them all (ann logs in with her new password).
	ctl(n.apply(fmt.Sprintf(secretsDoc, annHash2, benHash)))
	code, cfg, err := n.get("/v1/config", true)
	if canon, _ := canonJSON(cfg); err != nil || code != 200 || strings.Count(canon, `"password_hash":"redacted"`) != 2 {
		t.Fatalf("GET /v1/config: %d %v %s", code, err, cfg)
	}
	outputs["GET /v1/config"] = string(cfg)
	ctl(n.apply(string(cfg), "--prune"))
	ann2, _ := operator(t, n, "ann", "ann-password-2")
	ann2.op("pause", map[string]any{"reason": "sweep-end"})
	ann2.until("agent.state_changed", 10*time.Second)
	admin.until("config.user.updated", 10*time.Second)

	waitFor(t, waitReplDrain, "the reporting database to have ann's last pause", func() (bool, string) {
		dump, err := dumpReporting(db)
		outputs["reporting rows"] = dump
		return err == nil && strings.Contains(dump, "sweep-end"), fmt.Sprint(err)
	})
	if !strings.Contains(outputs["reporting rows"], "config.user.updated") || !strings.Contains(outputs["reporting rows"], "phone.secret_rotated") {
		t.Fatal("the reporting rows lack the users' or the phone secret's events: the sweep would prove nothing")
	}
	for _, path := range []string{"/v1/status", "/v1/replication/status", "/metrics", "/v1/console/state?agent=a1", "/v1/console/directory?q="} {
		code, b, err := n.get(path, true)
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v", path, code, err)
		}
		outputs["GET "+path] = string(b)
	}
	for name, c := range map[string]*consoleClient{"ann": ann, "ann again": ann2, "ben": ben, "admin": admin} {
		outputs["stream of "+name] = strings.Join(c.raw, "\n")
	}
	files := 0
	err = filepath.WalkDir(filepath.Join(n.effectiveDataDir(), "replication"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		outputs["file "+path] = string(b)
		files++
		return err
	})
	if err != nil || files < 3 || !strings.Contains(outputs["stream of admin"], "config.user.updated") {
		t.Fatalf("replication files: %d %v; or the admin stream lacks the users' events", files, err)
	}
	outputs["log"] = n.log()
	for what, out := range outputs {
		for _, pw := range []string{phonePw, "Configured-Ben-Desk-Pass"} {
			if strings.Contains(out, pw) {
				t.Errorf("%s shows a phone password", what)
			}
		}
		for _, h := range []string{annHash, annHash2, benHash} {
			parts := strings.Split(h, "$")
			for _, needle := range []string{h, parts[2], parts[3]} {
				if strings.Contains(out, needle) {
					t.Errorf("%s shows %q", what, needle)
				}
			}
		}
	}
}

// dumpReporting renders every row of every table of the reporting schema
// as JSON, one per line.
func dumpReporting(db *replDB) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.readDSN)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'tandem' ORDER BY 1`)
	if err != nil {
		return "", err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, tbl := range tables {
		var dump string
		q := fmt.Sprintf(`SELECT coalesce(string_agg(to_jsonb(t)::text, E'\n'), '') FROM tandem.%s t`, pgx.Identifier{tbl}.Sanitize())
		if err := conn.QueryRow(ctx, q).Scan(&dump); err != nil {
			return "", fmt.Errorf("%s: %w", tbl, err)
		}
		fmt.Fprintf(&b, "== %s\n%s\n", tbl, dump)
	}
	return b.String(), nil
}
