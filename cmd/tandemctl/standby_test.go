package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/internal/apierr"
)

func TestStandbyCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	const tok = "standby-cli-token-0123"
	var promoted bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+tok {
			apierr.Write(w, apierr.Errorf(apierr.Unauthorized, "missing or wrong admin token"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/standby/status":
			w.Write([]byte(`{"mode":"standby","of":"http://p:7070","node_id":"sb1","position":{"index":42,"seq":1},"n":7,"applied":7,"lag_seconds":1.5,"needs_sync":"commands 3 to 4 are missing"}`))
		case "POST /v1/standby/promote":
			if promoted {
				apierr.Write(w, apierr.Errorf(apierr.Refused, "this cluster is not a standby; there is nothing to promote"))
				return
			}
			promoted = true
			w.Write([]byte(`{"message":"promoted: this cluster accepts writes; it was a standby of http://p:7070 up to the primary's index 42"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	base := []string{"--addr", srv.URL, "--token", tok}
	tests := []struct {
		name string
		args []string
		code int
		out  []string // in stdout (or stderr when code != 0)
	}{
		{"status text", []string{"standby", "status"}, 0, []string{"standby of http://p:7070", "index 42", "lag 1.5s", "NEEDS SYNC: commands 3 to 4 are missing"}},
		{"status json", []string{"standby", "status", "-o", "json"}, 0, []string{`"mode": "standby"`}},
		{"promote", []string{"standby", "promote"}, 0, []string{"promoted: this cluster accepts writes"}},
		{"promote refused", []string{"standby", "promote"}, 1, []string{"nothing to promote (HTTP 409)"}},
		{"no subcommand", []string{"standby"}, 2, []string{"standby: missing subcommand"}},
		{"unknown subcommand", []string{"standby", "demote"}, 2, []string{`unknown subcommand "demote"`}},
		{"extra argument", []string{"standby", "promote", "now"}, 2, []string{`unexpected argument "now"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCtl(t, nil, append(append([]string{}, base...), tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.code, tc.code, r.stdout, r.stderr)
			}
			text := r.stdout
			if tc.code != 0 {
				text = r.stderr
				assertOneLine(t, "error", r.stderr)
			}
			for _, want := range tc.out {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
		})
	}
}
