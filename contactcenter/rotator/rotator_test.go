package rotator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

const day = 24 * time.Hour

const doc = `
extensions:
  - number: "2001"
    phones:
      - {id: desk, position: 0, order: 1, password: "Configured-Pass-1"}
      - {id: out, position: 1, order: 1, secure: true, published: true}
  - number: "2002"
    phones: [{id: sec, position: 0, order: 1, secure: true}]
`

// world is a real engine behind a fake cluster: Propose applies the
// command at the injected clock, as the leader would.
type world struct {
	t     *testing.T
	e     *cc.Engine
	now   time.Time
	index uint64
	// fail, when set, decides the outcome of the next proposals: apply
	// reports whether the command is applied before err is returned.
	fail      func() (apply bool, err error)
	proposals []cc.SetSecretRequest
	keys      int // proposals carrying an idempotency key
	secrets   []string
	logs      bytes.Buffer
	r         *Rotator
	leader    bool
}

func newWorld(t *testing.T, document string) *world {
	w := &world{t: t, e: cc.New(), now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), leader: true}
	d, err := cc.ParseDocument([]byte(document))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.apply(cc.TypeConfigApply, cc.ApplyRequest{Document: d}); err != nil {
		t.Fatal(err)
	}
	n := 0
	w.r = &Rotator{
		IsLeader: func() bool { return w.leader },
		Engine:   w.e,
		Propose:  w.propose,
		Now:      func() time.Time { return w.now },
		Password: func() string {
			n++
			s := fmt.Sprintf("Generated-Secret-%04d-%s", n, Password())
			w.secrets = append(w.secrets, s)
			return s
		},
		Logger: slog.New(slog.NewJSONHandler(&w.logs, nil)),
	}
	return w
}

func (w *world) apply(typ string, payload any) (any, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		w.t.Fatal(err)
	}
	w.index++
	env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: w.now.UnixNano(), ID: fmt.Sprint(w.index), Payload: b}
	return w.e.Apply(env, command.NewEmitter(w.index, env))
}

func (w *world) propose(_ context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	req := payload.(cc.SetSecretRequest)
	w.proposals = append(w.proposals, req)
	if len(opts) == 1 {
		w.keys++
	}
	apply, ferr := true, error(nil)
	if w.fail != nil {
		apply, ferr = w.fail()
	}
	if apply {
		if _, err := w.apply(typ, payload); err != nil {
			return cluster.Result{}, &cluster.Refusal{Msg: err.Error()}
		}
	}
	return cluster.Result{Index: w.index}, ferr
}

func (w *world) tick(at time.Time) {
	w.now = at
	if _, err := w.apply(cc.TypeClockTick, nil); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) step(at time.Time, want int) {
	w.t.Helper()
	w.now = at
	if got := w.r.Step(context.Background()); got != want {
		w.t.Fatalf("Step at %s committed %d, want %d", at, got, want)
	}
}

func (w *world) passwords(ext, phone string) []string { return w.e.PhonePasswords(ext, phone) }

// noLeaks checks that no generated secret is in the logs.
func (w *world) noLeaks() {
	w.t.Helper()
	for _, s := range w.secrets {
		if strings.Contains(w.logs.String(), s) {
			w.t.Fatalf("the log shows a secret: %s", w.logs.String())
		}
	}
}

func TestNewSecurePhonesGetPasswords(t *testing.T) {
	w := newWorld(t, doc)
	t0 := w.now
	w.leader = false
	w.step(t0, 0)
	w.leader = true
	w.step(t0, 2)
	if len(w.proposals) != 2 || w.keys != 2 {
		t.Fatalf("%d proposals, %d with a key", len(w.proposals), w.keys)
	}
	for i, p := range []struct{ ext, phone string }{{"2001", "out"}, {"2002", "sec"}} {
		got := w.passwords(p.ext, p.phone)
		if len(got) != 1 || got[0] != w.secrets[i] || len(got[0]) < cc.MinSecretLen {
			t.Fatalf("%s/%s: %q (generated %q)", p.ext, p.phone, got, w.secrets)
		}
		if !w.proposals[i].ExpiresAt.Equal(t0.Add(35 * day)) {
			t.Fatalf("expires %s", w.proposals[i].ExpiresAt)
		}
	}
	// The configured phone keeps its own password; nothing more is due.
	if got := w.passwords("2001", "desk"); !slices.Equal(got, []string{"Configured-Pass-1"}) {
		t.Fatalf("configured phone: %q", got)
	}
	w.step(t0.Add(time.Minute), 0)
	// A phone added later is provisioned on the next step.
	w2 := strings.Replace(doc, `phones: [{id: sec, position: 0, order: 1, secure: true}]`,
		`phones: [{id: sec, position: 0, order: 1, secure: true}, {id: new, position: 1, order: 1, secure: true}]`, 1)
	d, _ := cc.ParseDocument([]byte(w2))
	if _, err := w.apply(cc.TypeConfigApply, cc.ApplyRequest{Document: d}); err != nil {
		t.Fatal(err)
	}
	w.step(t0.Add(2*time.Minute), 1)
	if got := w.passwords("2002", "new"); len(got) != 1 {
		t.Fatalf("new phone: %q", got)
	}
	if !strings.Contains(w.logs.String(), "phone password provisioned") {
		t.Fatalf("logs: %s", w.logs.String())
	}
	w.noLeaks()
}

// TestRotationAndGrace: the default schedule (rotate every 30 days,
// expire after 35, grace 24 h) on an injected clock, the engine's clock
// left behind by an idle cluster.
func TestRotationAndGrace(t *testing.T) {
	w := newWorld(t, doc)
	t0 := w.now
	w.step(t0, 2)
	first := w.passwords("2002", "sec")[0]
	w.step(t0.Add(29*day), 0) // not due yet (the engine's clock is still t0)
	w.step(t0.Add(30*day), 2) // rotated before the expiry at 35 days
	second := w.passwords("2002", "sec")
	if len(second) != 2 || second[1] != first || second[0] == first {
		t.Fatalf("after the rotation: %q (first %q)", second, first)
	}
	if !w.proposals[3].ExpiresAt.Equal(t0.Add(65 * day)) {
		t.Fatalf("rotated secret expires %s", w.proposals[3].ExpiresAt)
	}
	for _, tc := range []struct {
		at   time.Duration
		want []string
	}{
		{30*day + 23*time.Hour, second},
		{30*day + 24*time.Hour, second[:1]},
		{40 * day, second[:1]},
	} {
		w.tick(t0.Add(tc.at))
		if got := w.passwords("2002", "sec"); !slices.Equal(got, tc.want) {
			t.Fatalf("at %s: %q, want %q", tc.at, got, tc.want)
		}
	}
	w.step(t0.Add(40*day), 0)
	w.step(t0.Add(60*day), 2)
	w.noLeaks()
}

// TestCustomSchedule: the settings drive the schedule.
func TestCustomSchedule(t *testing.T) {
	w := newWorld(t, doc+"settings: {phone_secrets: {rotate_days: 1, expire_days: 3, grace_seconds: 60}}\n")
	t0 := w.now
	w.step(t0, 2)
	if !w.proposals[0].ExpiresAt.Equal(t0.Add(3 * day)) {
		t.Fatalf("expires %s", w.proposals[0].ExpiresAt)
	}
	w.step(t0.Add(day-time.Second), 0)
	w.step(t0.Add(day), 2)
	w.tick(t0.Add(day + time.Minute))
	if got := w.passwords("2002", "sec"); len(got) != 1 {
		t.Fatalf("after a 60 s grace: %q", got)
	}
}

// TestRetries: a proposal that times out is retried with the same
// password and idempotency key; one that applied but lost its answer is
// not proposed again; a refusal is decided afresh.
func TestRetries(t *testing.T) {
	w := newWorld(t, `extensions: [{number: "2002", phones: [{id: sec, position: 0, order: 1, secure: true}]}]`)
	t0 := w.now
	timeout := errors.New("timed out")
	w.fail = func() (bool, error) { return false, timeout }
	w.step(t0, 0)
	w.step(t0.Add(time.Second), 0)
	if len(w.proposals) != 2 || w.proposals[0] != w.proposals[1] || len(w.secrets) != 1 {
		t.Fatalf("retry changed the proposal: %+v (secrets drawn %d)", w.proposals, len(w.secrets))
	}
	if w.passwords("2002", "sec") != nil {
		t.Fatal("applied")
	}
	if n := strings.Count(w.logs.String(), "phone password not committed"); n != 1 {
		t.Fatalf("the same failure logged %d times", n)
	}
	// Applied, but the answer lost: the engine shows it, nothing is retried.
	w.fail = func() (bool, error) { return true, timeout }
	w.step(t0.Add(2*time.Second), 0)
	if got := w.passwords("2002", "sec"); len(got) != 1 || got[0] != w.secrets[0] {
		t.Fatalf("after the lost answer: %q", got)
	}
	w.fail = nil
	w.step(t0.Add(3*time.Second), 0)
	if len(w.proposals) != 3 {
		t.Fatalf("%d proposals", len(w.proposals))
	}
	// A refusal (here: the pending rotation's expiry has passed before
	// its retry) drops it; the next step draws a new one.
	w.fail = func() (bool, error) { return false, timeout }
	w.step(t0.Add(30*day), 0) // expiring at 65 days, not applied
	w.fail = nil
	w.step(t0.Add(66*day), 0) // its retry is refused
	if !strings.Contains(w.logs.String(), "phone password not committed") || len(w.secrets) != 2 {
		t.Fatalf("refusal: drawn %d, logs %s", len(w.secrets), w.logs.String())
	}
	w.step(t0.Add(66*day), 1)
	if got := w.passwords("2002", "sec"); len(got) != 1 || got[0] != w.secrets[2] {
		t.Fatalf("after the refusal: %q (drawn %q)", got, w.secrets)
	}
	// Losing leadership forgets pending rotations.
	w.fail = func() (bool, error) { return false, timeout }
	w.step(t0.Add(100*day), 0)
	w.leader = false
	w.step(t0.Add(100*day), 0)
	w.leader, w.fail = true, nil
	w.step(t0.Add(100*day), 1)
	if n := len(w.secrets); n != 5 {
		t.Fatalf("%d secrets drawn, want a fresh one after the leader change", n)
	}
	w.noLeaks()
}

func TestPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := Password()
		if len(p) < cc.MinSecretLen || len(p) > cc.MaxSecretLen || seen[p] || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("password %q", p)
		}
		seen[p] = true
	}
}
