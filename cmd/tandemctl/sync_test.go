package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestReplicationSyncBadInput(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	base := []string{"--addr", srv.URL, "--token", "t", "replication", "sync"}
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"no target", []string{"--recent"}, "--target is required (reporting or standby)"},
		{"unknown target", []string{"--target", "archive", "--recent"}, `unknown target "archive"`},
		{"admin with a full sync", []string{"--target", "reporting", "--admin", "--all", "--run-for", "1h"}, "--admin sends the administration data alone"},
		{"admin with recent", []string{"--target", "reporting", "--admin", "--recent"}, "send it first anyway"},
		{"run-for with admin", []string{"--target", "reporting", "--admin", "--run-for", "1h"}, "not to --admin"},
		{"recent with standby", []string{"--target", "standby", "--recent"}, "--recent, --all and --continue apply to --target reporting"},
		{"standby without admin", []string{"--target", "standby"}, "needs --admin"},
		{"run-for with standby", []string{"--target", "standby", "--admin", "--run-for", "1h"}, "--run-for applies to --target reporting"},
		{"no mode", []string{"--target", "reporting"}, "needs one of --admin, --recent"},
		{"two modes", []string{"--target", "reporting", "--recent", "--all", "--run-for", "1h"}, "exclude each other"},
		{"run-for with recent", []string{"--target", "reporting", "--recent", "--run-for", "1h"}, "--run-for applies to --all and --continue"},
		{"all without run-for", []string{"--target", "reporting", "--all"}, "need --run-for D"},
		{"continue without run-for", []string{"--target", "reporting", "--continue"}, "need --run-for D"},
		{"bad duration", []string{"--target", "reporting", "--all", "--run-for", "two hours"}, "run-for"},
		{"negative run-for", []string{"--target", "reporting", "--all", "--run-for", "-1h"}, "positive duration"},
		{"status with a mode", []string{"--status", "--target", "reporting", "--all"}, "takes only --target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCtl(t, nil, append(append([]string(nil), base...), tt.args...)...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			assertOneLine(t, "stderr", r.stderr)
			if !strings.Contains(r.stderr, tt.wantIn) {
				t.Errorf("stderr %q: want %q", r.stderr, tt.wantIn)
			}
		})
	}
}

// fakeSyncNode answers the sync API with a job that advances one step per
// poll, ending in final.
func fakeSyncNode(t *testing.T, final string) (*httptest.Server, *map[string]any) {
	t.Helper()
	var (
		mu   sync.Mutex
		got  map[string]any
		step int64
	)
	job := func() map[string]any {
		done := min(step*400, 1000)
		st := "running"
		msg := ""
		if done == 1000 {
			st = final
			msg = map[string]string{"done": "all sync of reporting done: 1000 events read, 1000 were missing in the target",
				"failed": "sync failed at 100.0%: reporting database unreachable"}[final]
		}
		return map[string]any{"id": 7, "target": "reporting", "mode": "all", "state": st, "done": done, "total": 1000,
			"percent": float64(done) / 10, "message": msg}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/replication/sync":
			json.NewDecoder(r.Body).Decode(&got)
			json.NewEncoder(w).Encode(map[string]any{"command": "sync", "message": "all sync of reporting started (1000 events up to index 1200)",
				"diagnostic": "/d/replication.003", "warnings": []string{"reporting table calls keeps 90 days, the cluster keeps 396 days"},
				"sync": job()})
		case r.Method == "GET" && r.URL.Path == "/v1/replication/sync" && r.URL.Query().Get("target") == "reporting":
			step++
			json.NewEncoder(w).Encode(job())
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			http.Error(w, "no", http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestReplicationSyncFollowsProgress(t *testing.T) {
	t.Chdir(t.TempDir())
	srv, got := fakeSyncNode(t, "done")
	r := runCtl(t, nil, "--addr", srv.URL, "--token", "t", "replication", "sync", "--target", "reporting",
		"--all", "--run-for", "2h", "--poll", "1ms")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if (*got)["all"] != true || (*got)["run_for"] != "2h0m0s" || (*got)["target"] != "reporting" {
		t.Errorf("request body %v", *got)
	}
	if !strings.Contains(r.stderr, "warning: reporting table calls keeps 90 days") {
		t.Errorf("no retention warning on stderr: %q", r.stderr)
	}
	// Not a terminal: plain progress lines, then the result.
	lines := nonEmpty(r.stdout)
	if len(lines) < 3 || !strings.Contains(lines[0], "started") || !strings.Contains(lines[0], "replication.003") ||
		!strings.HasPrefix(lines[1], "sync reporting: ") || !strings.Contains(lines[len(lines)-1], "done") ||
		strings.Contains(r.stdout, "\r") {
		t.Errorf("stdout:\n%s", r.stdout)
	}

	srv, _ = fakeSyncNode(t, "failed")
	r = runCtl(t, nil, "--addr", srv.URL, "--token", "t", "replication", "sync", "--target", "reporting",
		"--continue", "--run-for", "1h", "--poll", "1ms")
	if r.code == 0 || !strings.Contains(r.stderr, "sync failed at 100.0%") {
		t.Errorf("failed sync: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Count(r.stderr, "tandemctl: ") != 1 {
		t.Errorf("failed sync: want one error line, got %q", r.stderr)
	}
}

func nonEmpty(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// `sync --target reporting --admin`: the request says admin, and the
// output names the cluster, from the start line to the result.
func TestReplicationSyncReportingAdmin(t *testing.T) {
	t.Chdir(t.TempDir())
	var (
		mu   sync.Mutex
		got  map[string]any
		poll int
	)
	job := func() map[string]any {
		j := map[string]any{"id": 3, "target": "reporting", "mode": "admin", "cluster": "site-a", "state": "running",
			"done": 0, "total": 9, "percent": 0.0}
		if poll > 0 {
			j["state"], j["done"], j["percent"] = "done", 9, 100.0
			j["message"] = "administration data of cluster site-a synchronised to reporting: 3 agents, 2 queues, 2 users, 2 business units"
		}
		return j
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/replication/sync":
			json.NewDecoder(r.Body).Decode(&got)
			json.NewEncoder(w).Encode(map[string]any{"command": "sync", "message": "admin sync of reporting for cluster site-a started",
				"diagnostic": "/d/replication.004", "sync": job()})
		case r.Method == "GET" && r.URL.Path == "/v1/replication/sync":
			poll++
			json.NewEncoder(w).Encode(job())
		default:
			http.Error(w, "no", http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	r := runCtl(t, nil, "--addr", srv.URL, "--token", "t", "replication", "sync", "--target", "reporting", "--admin", "--poll", "1ms")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got["admin"] != true || got["target"] != "reporting" || got["all"] != false || got["run_for"] != nil {
		t.Errorf("request body %v", got)
	}
	lines := nonEmpty(r.stdout)
	if len(lines) < 2 || lines[0] != "admin sync of reporting for cluster site-a started (diagnostic: /d/replication.004)" ||
		lines[len(lines)-1] != "administration data of cluster site-a synchronised to reporting: 3 agents, 2 queues, 2 users, 2 business units" {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, "sync reporting for cluster site-a: ") {
			t.Errorf("progress line %q names no cluster", l)
		}
	}
}
