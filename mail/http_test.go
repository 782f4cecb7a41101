package mail

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// The routes check their input at the edge (a refused request commits
// nothing), answer in the one error shape, and never show a reply's body
// in the outbox listing.
func TestHandlerRoutes(t *testing.T) {
	sink := startSink(t)
	st := newEngineStore(t, senderConfig(sink, 30))
	if _, err := st.Propose(t.Context(), cc.TypeMailReceived, cc.MailReceivedRequest{UIDValidity: 1, UID: 1, From: "c@example.com"}); err != nil {
		t.Fatal(err)
	}
	ch := &Channel{Store: st, Engine: st.e}
	mux := http.NewServeMux()
	(&Handler{Store: st, Engine: st.e, Channel: ch}).Routes(mux)
	do := func(method, path, body, key string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	secret := "Body-Secret-Text-0123"
	for _, tc := range []struct {
		name, body, key string
		code            int
		want            string
	}{
		{"unknown field", `{"contact":"mail-1-1","body":"x","bcc":"a@b"}`, "", 400, `"code":"bad_request"`},
		{"wrong type", `{"contact":"mail-1-1","body":5}`, "", 400, `"field":"body"`},
		{"bad contact id", `{"contact":"no such id!","body":"x"}`, "", 400, `"field":"contact"`},
		{"NUL in body", `{"contact":"mail-1-1","body":"a\u0000b"}`, "", 400, `"field":"body"`},
		{"too large", `{"contact":"mail-1-1","body":"` + strings.Repeat("x", cc.MaxMailBodyLen+5000) + `"}`, "", 413, `"code":"too_large"`},
		{"unknown contact", `{"contact":"mail-9-9","body":"x"}`, "", 409, `no e-mail contact`},
		{"ok", `{"contact":"mail-1-1","body":"` + secret + `"}`, "k1", 200, `"index"`},
		{"ok again (same key)", `{"contact":"mail-1-1","body":"` + secret + `"}`, "k1", 200, `"duplicate":true`},
	} {
		code, body := do("POST", "/v1/mail/replies", tc.body, tc.key)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, code, body[:min(len(body), 300)], tc.code, tc.want)
		}
	}
	if n := len(st.e.Outbox("")); n != 1 {
		t.Fatalf("%d entries in the outbox, want 1 (refusals commit nothing, a retried key is one reply)", n)
	}
	code, body := do("GET", "/v1/mail/outbox", "", "")
	var out []cc.OutboxEntry
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out) != 1 || strings.Contains(body, secret) {
		t.Fatalf("outbox: %d %s", code, body)
	}
	st.mu.Lock()
	st.leader = false
	st.mu.Unlock()
	if code, body := do("GET", "/v1/mail/contacts/mail-1-1/content", "", ""); code != 503 || !strings.Contains(body, "not_leader") {
		t.Fatalf("content on a follower: %d %s", code, body)
	}
}
