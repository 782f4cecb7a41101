package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/internal/apierr"
)

func TestPhoneProvisionCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	const tok = "phone-cli-token-0123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+tok {
			apierr.Write(w, apierr.Errorf(apierr.Unauthorized, "missing or wrong admin token"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.EscapedPath() {
		case "GET /v1/phones/2001/desk/provision":
			w.Write([]byte(`{"extension":"2001","phone":"desk","sip_user":"2001-desk","password":"GENERATEDSECRET234567ABCD","realm":"tandem",` +
				`"sip_servers":["sip.example.com:5060"],"transports":["udp","tcp"],"rotated_at":"2026-01-05T09:00:00Z","expires_at":"2026-02-09T09:00:00Z"}`))
		case "GET /v1/phones/2001/plain/provision":
			apierr.Write(w, apierr.Errorf(apierr.Refused, `provision: phone "plain" of extension "2001" is not secure: its password is the one configured`))
		case "GET /v1/phones/2001/a%2Fb/provision":
			apierr.Write(w, apierr.Errorf(apierr.NotFound, `provision: extension "2001" has no phone "a/b"`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	base := []string{"--addr", srv.URL, "--token", tok}
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"text", []string{"phone", "provision", "2001", "desk"}, 0, []string{"sip user     2001-desk", "password     GENERATEDSECRET234567ABCD", "realm        tandem",
			"sip servers  sip.example.com:5060", "transports   udp, tcp", "expires      2026-02-09T09:00:00Z"}},
		{"json", []string{"phone", "provision", "2001", "desk", "-o", "json"}, 0, []string{`"password": "GENERATEDSECRET234567ABCD"`, `"sip_user": "2001-desk"`}},
		{"not secure", []string{"phone", "provision", "2001", "plain"}, 1, []string{"is not secure", "(HTTP 409)"}},
		{"escaped", []string{"phone", "provision", "2001", "a/b"}, 1, []string{`no phone "a/b" (HTTP 404)`}},
		{"no subcommand", []string{"phone"}, 2, []string{"phone: missing subcommand"}},
		{"unknown subcommand", []string{"phone", "rotate"}, 2, []string{`unknown subcommand "rotate"`}},
		{"missing phone", []string{"phone", "provision", "2001"}, 2, []string{"phone provision"}},
	} {
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
