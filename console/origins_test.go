package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/cluster"
)

// FuzzConsoleOrigin: whatever Origin a browser (or anyone) sends, the
// CORS check never panics, never allows credentials, and allows an
// origin only when it is exactly a member's (case aside).
func FuzzConsoleOrigin(f *testing.F) {
	for _, s := range []string{"", "null", "http://10.0.0.2:6021", "HTTP://10.0.0.2:6021", "http://10.0.0.2:6021/",
		"http://10.0.0.2:6021.evil.example", "https://10.0.0.2:6021", "http://user@10.0.0.2:6021", "http://[::1]:6021",
		"http://10.0.0.2", "javascript:alert(1)", "http://%zz", "\x00", "http://10.0.0.2:6021\r\nX: y"} {
		f.Add(s)
	}
	svc := &Service{Store: memberStore{nodes: []cluster.NodeStatus{{ID: "n2", HTTPURL: "http://10.0.0.2:6021"}}}}
	h := (&Handler{Service: svc}).cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	f.Fuzz(func(t *testing.T, origin string) {
		req := httptest.NewRequest("GET", "http://10.0.0.1:6021/console/api/v1/state", nil)
		req.Header["Origin"] = []string{origin}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		allowed := w.Header().Get("Access-Control-Allow-Origin")
		if w.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Fatal("credentials allowed")
		}
		if allowed != "" && (allowed != origin || originOf(origin) != "http://10.0.0.2:6021") {
			t.Fatalf("origin %q allowed as %q", origin, allowed)
		}
		if w.Code == 299 && allowed == "" && origin != "" && !strings.EqualFold(hostOf(origin), "10.0.0.1:6021") {
			t.Fatalf("origin %q passed without being the node's own or a member's", origin)
		}
	})
}

// hostOf is the host an Origin names ("" when it names none).
func hostOf(origin string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return ""
	}
	return u.Host
}
