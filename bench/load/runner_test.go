package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunOpsBound(t *testing.T) {
	var calls atomic.Uint64
	op := func(ctx context.Context, w int, seq uint64) error {
		calls.Add(1)
		if seq%10 == 0 {
			return errors.New("boom")
		}
		return nil
	}
	warm, m := Run(context.Background(), RunConfig{Concurrency: 4, Duration: time.Minute, Ops: 1000}, op)
	if warm.OK+warm.Errors != 0 {
		t.Fatalf("no warmup requested, got %d", warm.OK+warm.Errors)
	}
	if m.OK+m.Errors != 1000 || calls.Load() != 1000 {
		t.Fatalf("ok %d + errors %d, calls %d; want 1000", m.OK, m.Errors, calls.Load())
	}
	if m.Errors != 100 || m.Hist.Count() != m.OK {
		t.Fatalf("errors %d, hist %d", m.Errors, m.Hist.Count())
	}
	if len(m.ErrorSamples) != 1 || m.ErrorSamples[0] != "boom" {
		t.Fatalf("samples %v", m.ErrorSamples)
	}
}

func TestRunDurationBoundAndWarmup(t *testing.T) {
	op := func(ctx context.Context, w int, seq uint64) error {
		time.Sleep(time.Millisecond)
		return nil
	}
	start := time.Now()
	warm, m := Run(context.Background(), RunConfig{Concurrency: 3, Duration: 200 * time.Millisecond, Warmup: 100 * time.Millisecond}, op)
	took := time.Since(start)
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("run took %v", took)
	}
	if warm.OK == 0 || m.OK == 0 {
		t.Fatalf("warm %d measured %d", warm.OK, m.OK)
	}
	if m.Hist.Count() != m.OK {
		t.Fatalf("warmup leaked into the histogram: %d vs %d", m.Hist.Count(), m.OK)
	}
	if m.Elapsed < 200*time.Millisecond || m.Hist.Quantile(0.5) < time.Millisecond {
		t.Fatalf("elapsed %v p50 %v", m.Elapsed, m.Hist.Quantile(0.5))
	}
}

func TestRunOpTimeoutAndCancel(t *testing.T) {
	op := func(ctx context.Context, w int, seq uint64) error {
		<-ctx.Done()
		return ctx.Err()
	}
	_, m := Run(context.Background(), RunConfig{Concurrency: 2, Duration: 150 * time.Millisecond, OpTimeout: 20 * time.Millisecond}, op)
	if m.OK != 0 || m.Errors == 0 {
		t.Fatalf("ok %d errors %d", m.OK, m.Errors)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	Run(ctx, RunConfig{Concurrency: 2, Duration: time.Hour, OpTimeout: time.Hour}, op)
	if time.Since(start) > 2*time.Second {
		t.Fatal("cancel did not stop the run")
	}
}

func TestParseConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var sink bytes.Buffer

	c, err := parseConfig([]string{"-target", "etcd", "-endpoints", "127.0.0.1:1, 127.0.0.1:2,"}, env(nil), &sink)
	if err != nil || len(c.Endpoints) != 2 || c.Payload != 256 || c.Concurrency != 64 || c.Duration != 10*time.Second {
		t.Fatalf("defaults: %+v %v", c, err)
	}

	tok := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(tok, []byte("abc\n"), 0o600)
	c, err = parseConfig([]string{"-target", "tandem", "-token-file", tok, "-ops", "50"}, env(nil), &sink)
	if err != nil || c.Token != "abc" || c.Ops != 50 || c.Duration != 5*time.Minute {
		t.Fatalf("tandem ops mode: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"-target", "tandem", "-ops", "50", "-duration", "3s"}, env(map[string]string{"TANDEM_ADMIN_TOKEN": "envtok"}), &sink)
	if err != nil || c.Token != "envtok" || c.Duration != 3*time.Second {
		t.Fatalf("env token: %+v %v", c, err)
	}

	pw := filepath.Join(t.TempDir(), "agent.password")
	os.WriteFile(pw, []byte("s3cret-pass\n"), 0o600)
	c, err = parseConfig([]string{"-target", "webchat", "-addr", "http://a,http://b", "-password-file", pw, "-user-offset", "16"}, env(nil), &sink)
	if err != nil || c.Password != "s3cret-pass" || len(c.Addrs) != 2 || c.UserPrefix != "chat" || c.UserOffset != 16 || c.ChatLanguage != "en" {
		t.Fatalf("webchat: %+v %v", c, err)
	}
	if got := chatUsers(c.UserPrefix, c.UserOffset, 3); fmt.Sprint(got) != "[chat16 chat17 chat18]" {
		t.Errorf("chat users %v", got)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)

	for _, bad := range [][]string{
		{},
		{"-target", "webchat"},
		{"-target", "webchat", "-password-file", empty},
		{"-target", "webchat", "-password-file", pw, "-user-offset", "-1"},
		{"-target", "webchat", "-password-file", pw, "-chat-users", ""},
		{"-target", "webchat", "-password-file", pw, "-setup-wait", "0s"},
		{"-target", "webchat", "-password-file", pw, "-chat-rotate", "0"},
		{"-target", "webchat", "-password-file", pw, "-chat-rotate", "1000"},
		{"-target", "redis"},
		{"-target", "tandem"},
		{"-target", "etcd", "-payload", "-1"},
		{"-target", "etcd", "-concurrency", "0"},
		{"-target", "etcd", "-duration", "0s"},
		{"-target", "etcd", "-ops", "-3"},
		{"-target", "etcd", "-endpoints", ""},
		{"-target", "etcd", "extra"},
		{"-target", "tandem", "-token-file", tok, "-agents", "0"},
	} {
		if _, err := parseConfig(bad, env(nil), &sink); err == nil {
			t.Errorf("%v: expected an error", bad)
		}
	}
}

func TestRunEndToEndTandem(t *testing.T) {
	f, srv := newFake(t, "leader")
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte(f.token), 0o600)
	var out, errb bytes.Buffer
	code := run([]string{"-target", "tandem", "-addr", srv.URL, "-token-file", tok, "-ops", "200", "-concurrency", "4", "-payload", "32", "-agents", "3"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	line := out.String()
	for _, k := range []string{`"target":"tandem"`, `"ops":200`, `"errors":0`, `"payload":32`, `"concurrency":4`, `"ops_per_s":`, `"p50_ms":`, `"p99_ms":`, `"duration_s":`,
		`"op":"tandem call.note of a 12-character note on the call of agent i mod 3, 32 bytes in the Raft log"`} {
		if !strings.Contains(line, k) {
			t.Errorf("output %q lacks %s", line, k)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want exactly one line, got %q", line)
	}
	// Two calibration commits, then the 200 measured ones over 3 agents.
	if f.types["call.note"] != 202 || len(f.bodies) != 4 {
		t.Errorf("server saw %v in %d distinct bodies", f.types, len(f.bodies))
	}
}
