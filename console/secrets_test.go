package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/syncbuf"
	"github.com/tandemcc/tandem/replication"
)

// recordingTarget is a reporting target that keeps what it is delivered.
type recordingTarget struct {
	mu   sync.Mutex
	got  []command.Event
	last command.Position
}

func (r *recordingTarget) Deliver(ctx context.Context, evs []command.Event) (command.Position, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, evs...)
	r.last = evs[len(evs)-1].Pos()
	return r.last, nil
}

func (r *recordingTarget) LastDelivered(ctx context.Context) (command.Position, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, nil
}

func (r *recordingTarget) Diagnose(ctx context.Context) (string, error) { return "ok\n", nil }

func (r *recordingTarget) delivered() []command.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]command.Event(nil), r.got...)
}

const secretsDoc = `
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1, password: "Console-Sweep-Desk-Pass"}]
  - number: "3001"
    phones:
      - {id: sec, position: 0, order: 1, secure: true, published: true}
      - {id: desk, position: 1, order: 1}
users:
  - {id: ann, name: Ann, extension: "2001", password_hash: "%s"}
  - {id: ben, name: Ben, extension: "2002", password_hash: "%s", monitored_mailboxes: ["3001"]}
  - {id: bob, name: Bob, extension: "3001"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, user: ben, extension: "2002", queues: [sales]}
`

// needles are the strings no output may hold: each hash, its salt and
// key alone, each secret.
func needles(hashes, secrets []string) []string {
	var out []string
	for _, h := range hashes {
		parts := strings.Split(h, "$")
		out = append(out, h, parts[2], parts[3])
	}
	return append(out, secrets...)
}

// TestSecretsSweep: a configuration with password hashes and a secure
// phone, phone secrets set (and rotated), a password changed, calls
// worked — then every WebSocket message (an operator's and the admin
// token's), every API answer, the cluster status, the replication
// archive, buffer and state files, what the reporting target was
// delivered and every log line are searched for each hash (whole, salt,
// key) and secret. The engine must really hold them first.
func TestSecretsSweep(t *testing.T) {
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	target := &recordingTarget{}
	replDir := filepath.Join(t.TempDir(), "replication")
	repl, err := replication.Open(replication.Config{Dir: replDir, Logger: logger,
		Targets: map[string]replication.Target{replication.Reporting: target}, IsLeader: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repl.Close() }) // after the store's (cleanups run last first)
	r := newRig(t, rigOpts{sinks: []cluster.EventSink{repl}, logger: logger})
	repl.Start()
	repl.SetLeader(true)

	annHash, _ := HashPassword("ann-password")
	annHash2, _ := HashPassword("ann-password-2")
	benHash, _ := HashPassword("ben-password")
	const secret, secret2 = "Sweep-SIP-Secret-0123456789abcdef", "Sweep-SIP-Rotated-fedcba9876543210"
	r.config(fmt.Sprintf(secretsDoc, annHash, benHash))

	var answers []string
	keep := func(rep reply) reply { answers = append(answers, rep.raw); return rep }
	loginRaw := func(user, pw string) string {
		rep := keep(r.call("POST", r.public.URL+"/console/api/v1/session", "", LoginRequest{User: user, Password: pw}))
		if rep.code != 200 {
			t.Fatalf("login %s: %d %s", user, rep.code, rep.raw)
		}
		return rep.body["token"].(string)
	}
	ann, ben := loginRaw("ann", "ann-password"), loginRaw("ben", "ben-password")
	st := keep(r.call("GET", r.public.URL+"/console/api/v1/state", ann, nil))
	annEv, adminEv := r.stream(ann, st.body["since"].(string)), r.stream("", st.body["since"].(string))

	setSecret := func(s string, exp time.Time) {
		res, err := r.store.Propose(context.Background(), cc.TypePhoneSetSecret,
			cc.SetSecretRequest{Extension: "3001", Phone: "sec", Secret: s, ExpiresAt: exp})
		if err != nil {
			t.Fatalf("set secret: %v", err)
		}
		b, _ := json.Marshal(res)
		answers = append(answers, string(b))
	}
	setSecret(secret, r.clock().Add(30*24*time.Hour))
	for _, step := range []struct {
		token, op string
		body      any
	}{
		{ann, "login", nil}, {ann, "login", nil}, {ben, "login", nil}, {ben, "login", nil},
		{"", "incoming", map[string]any{"call": "c1", "queue": "sales", "number": "3001"}},
		{ann, "answer", nil}, {ann, "note", map[string]any{"call": "c1", "note": "about the phone"}},
		{ann, "transfer", map[string]any{"target": "3001"}},
		{"", "remote_answer", map[string]any{"call": "c1"}},
		{"", "voicemail_deposited", map[string]any{"mailbox": "3001", "message": "m1", "from": "2001"}},
		{ben, "presence", map[string]any{"presence": "lunch"}},
	} {
		if step.token == "" {
			keep(r.edge(step.op, step.body))
			continue
		}
		if rep := keep(r.op(step.token, step.op, step.body)); rep.code != 200 {
			t.Fatalf("%s: %d %s", step.op, rep.code, rep.raw)
		}
	}
	setSecret(secret2, r.clock().Add(40*24*time.Hour))
	r.config(fmt.Sprintf(secretsDoc, annHash2, benHash)) // ann's password changes
	ann = loginRaw("ann", "ann-password-2")
	keep(r.op(ben, "pause", nil))

	// The engine holds every secret, else the sweep proves nothing.
	if s, ok := r.engine.PhoneSecret("3001", "sec"); !ok || s != secret2 {
		t.Fatalf("PhoneSecret %q %v", s, ok)
	}
	// The replaced secret is in its grace period; ben's desk phone has a
	// configured password.
	if p := r.engine.PhonePasswords("3001", "sec"); len(p) != 2 || p[1] != secret {
		t.Fatalf("PhonePasswords %q", p)
	}
	if p := r.engine.PhonePasswords("2002", "desk"); len(p) != 1 || p[0] != "Console-Sweep-Desk-Pass" {
		t.Fatalf("PhonePasswords of the configured phone %q", p)
	}
	r.engine.View(func(s *cc.State) {
		if s.Config.Users["ann"].PasswordHash != annHash2 || s.Config.Users["ben"].PasswordHash != benHash {
			t.Fatal("the engine does not hold the hashes")
		}
	})

	// Streams: ann's to her password change, the admin token's to Ben's pause.
	annEv.collect(func(e command.Event) bool { return e.Type == "config.user.updated" })
	adminEv.collectUntilPaused("a2")
	// Every read, as an operator and with the admin token.
	for _, path := range []string{"/session", "/state", "/queues", "/supervised?all=1", "/directory?q=", "/history", "/speed-dials",
		"/phones", "/line-status?extension=3001", "/voicemail", "/voicemail?mailbox=3001", "/caller?number=3001", "/active-calls", "/cluster", "/receptionists"} {
		for _, tok := range []string{ann, ben} {
			keep(r.call("GET", r.public.URL+"/console/api/v1"+path, tok, nil))
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		keep(r.call("GET", r.admin.URL+"/v1/console"+path+sep+"agent=a2&user=ben", "", nil))
	}
	status, _ := json.Marshal(r.store.Status())
	replStatus, _ := json.Marshal(repl.Status())
	waitUntil(t, "the reporting target has every event", func() bool {
		d := target.delivered()
		return len(d) > 0 && d[len(d)-1].Index >= r.store.AppliedIndex()-1
	})
	delivered, _ := json.Marshal(target.delivered())

	outputs := map[string]string{
		"operator stream":  strings.Join(annEv.raw, "\n"),
		"admin stream":     strings.Join(adminEv.raw, "\n"),
		"API answers":      strings.Join(answers, "\n"),
		"cluster status":   string(status),
		"replication":      string(replStatus),
		"reporting target": string(delivered),
	}
	files := 0
	err = filepath.WalkDir(replDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		outputs["file "+path] = string(b)
		files++
		return err
	})
	if err != nil || files < 3 {
		t.Fatalf("replication files: %d, %v", files, err)
	}
	repl.Close() // durable: the buffer and archive as they stay on disk
	outputs["log"] = logs.String()
	if !strings.Contains(outputs["admin stream"], "config.user.updated") || !strings.Contains(outputs["reporting target"], "config.user.updated") {
		t.Fatal("the sweep did not see the configuration events")
	}
	for what, out := range outputs {
		for _, n := range needles([]string{annHash, annHash2, benHash}, []string{secret, secret2, "Console-Sweep-Desk-Pass"}) {
			if strings.Contains(out, n) {
				t.Errorf("%s shows %q", what, n)
			}
		}
	}
}

// collect reads s until done is true of an event.
func (s *stream) collect(done func(command.Event) bool) {
	s.t.Helper()
	for i := 0; i < 200; i++ {
		for _, e := range s.read().Events {
			if done(e) {
				return
			}
		}
	}
	s.t.Fatal("not done after 200 messages")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}
