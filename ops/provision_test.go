package ops_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/contactcenter"
)

const provisionYAML = `
settings: {sip_servers: ["sip.example.com:5060"]}
extensions:
  - number: "2003"
    phones:
      - {id: sec, position: 0, order: 1, secure: true, published: true}
      - {id: plain, position: 1, order: 1, password: "Plain-Phone-Pass-9"}
`

const provisionSecret = "Provisioned-Secret-0123456789"

// TestPhoneProvision: GET /v1/phones/{extension}/{phone}/provision
// answers a secure phone's provisioning data to administrators, the
// standard error shape otherwise; neither the secret nor a configured
// password shows in any other answer of the API or in its log.
func TestPhoneProvision(t *testing.T) {
	r := newRig(t)
	if code, body := r.do(t, "POST", r.admin+"/v1/config", token, provisionYAML); code != 200 {
		t.Fatalf("config: %d %s", code, body)
	}
	path := func(ext, phone string) string { return r.admin + "/v1/phones/" + ext + "/" + phone + "/provision" }
	for _, tc := range []struct {
		name, url, auth string
		status          int
		code, field     string
	}{
		{"no token", path("2003", "sec"), "", 401, "unauthorized", ""},
		{"unknown extension", path("2999", "sec"), token, 404, "not_found", ""},
		{"unknown phone", path("2003", "nope"), token, 404, "not_found", ""},
		{"not secure", path("2003", "plain"), token, 409, "refused", ""},
		{"no password yet", path("2003", "sec"), token, 503, "unavailable", ""},
		{"unknown consistency", path("2003", "sec") + "?consistency=eventual", token, 400, "bad_request", "consistency"},
		{"wrong method", path("2003", "sec"), token, 405, "method_not_allowed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.name == "wrong method" {
				method = "POST"
			}
			code, body := r.do(t, method, tc.url, tc.auth, "")
			var e struct{ Code, Message, Field string }
			if code != tc.status || json.Unmarshal(body, &e) != nil || e.Code != tc.code || e.Message == "" || e.Field != tc.field {
				t.Fatalf("HTTP %d %s, want %d %s", code, body, tc.status, tc.code)
			}
			if strings.Contains(string(body), "Plain-Phone-Pass-9") {
				t.Fatalf("the error shows the configured password: %s", body)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp := time.Now().Add(35 * 24 * time.Hour).UTC().Truncate(time.Second)
	if _, err := r.store.Propose(ctx, contactcenter.TypePhoneSetSecret, contactcenter.SetSecretRequest{
		Extension: "2003", Phone: "sec", Secret: provisionSecret, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", path("2003", "sec"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p contactcenter.PhoneProvisioning
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	if p.Password != provisionSecret || p.SIPUser != "2003-sec" || p.Realm != contactcenter.SIPRealm ||
		strings.Join(p.SIPServers, ",") != "sip.example.com:5060" || strings.Join(p.Transports, ",") != "udp,tcp" || !p.ExpiresAt.Equal(exp) {
		t.Fatalf("provisioning %+v", p)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}

	// Nothing else shows either password.
	for _, u := range []string{"/v1/status", "/v1/config", "/v1/console/state", "/v1/console/phones?user=nobody", "/metrics"} {
		code, body := r.do(t, "GET", r.admin+u, token, "")
		for _, s := range []string{provisionSecret, "Plain-Phone-Pass-9"} {
			if strings.Contains(string(body), s) {
				t.Errorf("GET %s (HTTP %d) shows a password", u, code)
			}
		}
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "phone provisioning data read") {
		t.Fatalf("no audit line in %s", logs)
	}
	for _, s := range []string{provisionSecret, "Plain-Phone-Pass-9"} {
		if strings.Contains(logs, s) {
			t.Fatalf("the log shows a password: %s", logs)
		}
	}
}
