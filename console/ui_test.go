package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// memberStore is a Store that only knows the cluster's members (what
// the CORS check and the page's policy read).
type memberStore struct {
	Store
	nodes []cluster.NodeStatus
}

func (m memberStore) Status() cluster.Status { return cluster.Status{NodeID: "n1", Nodes: m.nodes} }

func uiServer(t *testing.T) *httptest.Server {
	t.Helper()
	svc := &Service{Store: memberStore{nodes: []cluster.NodeStatus{
		{ID: "n1", HTTPURL: "http://10.0.0.1:6021"}, {ID: "n2", HTTPURL: "http://10.0.0.2:6021"}, {ID: "n3"}}}}
	mux := http.NewServeMux()
	mux.Handle(UIPrefix, UI{Service: svc})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestUIAssets: every embedded file is served with its content type and
// the headers that keep the page to itself; every file a page refers to
// exists; nothing refers to another site.
func TestUIAssets(t *testing.T) {
	srv := uiServer(t)
	files := UIFiles()
	if len(files) < 6 {
		t.Fatalf("embedded files: %v", files)
	}
	want := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	external := regexp.MustCompile(`(?i)(https?|wss?|ftp)://[a-z0-9\[]|(src|href|action)\s*=\s*["']?//|url\(\s*["']?(https?:)?//|@import`)
	refs := regexp.MustCompile(`(?:src|href)="([^"#?]+)"|from\s+"([^"]+)"|import\s*\(\s*"([^"]+)"`)
	names := map[string]bool{}
	for _, f := range files {
		names[f] = true
	}
	for _, f := range files {
		typ, ok := want[path.Ext(f)]
		if !ok {
			t.Errorf("%s: no content type is expected for this kind of file", f)
			continue
		}
		resp, body := get(t, srv.URL+UIPrefix+f)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != typ {
			t.Errorf("%s: %d %q, want 200 %q", f, resp.StatusCode, resp.Header.Get("Content-Type"), typ)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: headers %v", f, resp.Header)
		}
		// The SVG's XML namespace is a name, not a fetch.
		text := strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another site: %q", f, m)
		}
		for _, m := range refs.FindAllStringSubmatch(body, -1) {
			ref := m[1] + m[2] + m[3]
			target := path.Clean(path.Join(path.Dir(f), ref))
			if !names[target] {
				t.Errorf("%s refers to %q, which is not embedded", f, ref)
			}
		}
	}
	resp, body := get(t, srv.URL+UIPrefix)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want[".html"] || !strings.Contains(body, `<script type="module" src="app.js">`) {
		t.Errorf("the console's root: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Members' APIs (HTTP and WebSocket) and nothing else may be reached;
	// media only from the page's own fetches (voicemail recordings).
	csp := resp.Header.Get("Content-Security-Policy")
	for _, s := range []string{"http://10.0.0.1:6021", "ws://10.0.0.2:6021", "script-src 'self'", "frame-ancestors 'none'", "media-src 'self' blob:"} {
		if !strings.Contains(csp, s) {
			t.Errorf("policy %q lacks %q", csp, s)
		}
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{{"GET", "nothing.js", 404}, {"GET", "i18n/../app.js", 200}, {"GET", "doc.go", 404}, {"POST", "", 405}} {
		req, _ := http.NewRequest(c.method, srv.URL+UIPrefix+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Code, Message string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.code || (c.code != 200 && e.Code == "") {
			t.Errorf("%s %s: %d %+v, want %d in the error shape", c.method, c.path, resp.StatusCode, e, c.code)
		}
	}
}

// TestUIStrings: every language has every key, and every key the pages
// use exists.
func TestUIStrings(t *testing.T) {
	keyRe := regexp.MustCompile(`(?m)^\s*"([a-zA-Z0-9.]+)":`)
	keys := func(name string) []string {
		b, err := fs.ReadFile(uiFiles, "ui/i18n/"+name)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
		sort.Strings(out)
		return out
	}
	en, es := keys("en.js"), keys("es.js")
	if strings.Join(en, ",") != strings.Join(es, ",") {
		t.Errorf("en and es differ:\nen %v\nes %v", en, es)
	}
	have := map[string]bool{}
	for _, k := range en {
		have[k] = true
	}
	used := regexp.MustCompile(`\bt\("([a-zA-Z0-9.]+)"|data-i18n(?:-label|-ph)?="([a-zA-Z0-9.]+)"`)
	for _, f := range []string{"app.js", "index.html"} {
		b, _ := fs.ReadFile(uiFiles, "ui/"+f)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			// A key ending in "." is completed at run time (state.+name).
			if k := m[1] + m[2]; !have[k] && !strings.HasSuffix(k, ".") {
				t.Errorf("%s uses the string %q, which en.js lacks", f, k)
			}
		}
	}
}

// TestConsoleCORS: pages served by the cluster's members may call the
// public API cross-origin; every other origin is refused before a route.
func TestConsoleCORS(t *testing.T) {
	svc := &Service{Store: memberStore{nodes: []cluster.NodeStatus{
		{ID: "n1", HTTPURL: "http://10.0.0.1:6021"}, {ID: "n2", HTTPURL: "http://10.0.0.2:6021"}}}}
	mux := http.NewServeMux()
	(&Handler{Service: svc}).Routes(mux, PublicPrefix)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		name, method, origin, preflight string
		code                            int
		allow                           string
	}{
		{"no origin", "GET", "", "", 401, ""},
		{"same origin", "GET", "SAME", "", 401, ""},
		{"member", "GET", "http://10.0.0.2:6021", "", 401, "http://10.0.0.2:6021"},
		{"member preflight", "OPTIONS", "http://10.0.0.1:6021", "POST", 204, "http://10.0.0.1:6021"},
		{"member in capitals", "GET", "HTTP://10.0.0.2:6021", "", 401, "HTTP://10.0.0.2:6021"},
		{"other site", "GET", "http://evil.example", "", 403, ""},
		{"other site preflight", "OPTIONS", "http://evil.example", "POST", 403, ""},
		{"member host, other port", "GET", "http://10.0.0.1:6022", "", 403, ""},
		{"member host, https", "GET", "https://10.0.0.1:6021", "", 403, ""},
		{"opaque origin", "POST", "null", "", 403, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), c.method, srv.URL+PublicPrefix+"/state", nil)
			origin := c.origin
			if origin == "SAME" {
				origin = srv.URL
			}
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			if c.preflight != "" {
				req.Header.Set("Access-Control-Request-Method", c.preflight)
				req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || resp.Header.Get("Access-Control-Allow-Origin") != c.allow {
				t.Fatalf("%d allow-origin %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), c.code, c.allow, body)
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatal("credentials are never allowed cross-origin")
			}
			if c.code == 403 && !strings.Contains(string(body), `"code":"forbidden"`) {
				t.Fatalf("refusal not in the error shape: %s", body)
			}
			if c.preflight != "" && c.code == 204 && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Idempotency-Key") {
				t.Fatalf("preflight headers %v", resp.Header)
			}
		})
	}
}

// TestUIContrast: every text colour of the console's stylesheet on each
// background it is used on reaches WCAG AA for normal text (4.5:1).
func TestUIContrast(t *testing.T) {
	css, err := fs.ReadFile(uiFiles, "ui/console.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	col := func(s string) string {
		if strings.HasPrefix(s, "#") {
			return s
		}
		v, ok := vars[s]
		if !ok {
			t.Fatalf("console.css has no --%s", s)
		}
		return v
	}
	pairs := [][2]string{
		{"fg", "bg"}, {"fg", "panel"}, {"muted", "panel"}, {"muted", "bg"}, {"danger", "panel"}, {"danger", "bg"},
		{"fg", "band0"}, {"fg", "band1"}, {"fg", "band2"},
		{"fg", "lvl0"}, {"fg", "lvl1"}, {"fg", "lvl2"}, {"fg", "lvl3"},
		{"accent-fg", "accent"}, {"#ffffff", "danger"}, {"fg", "#eef0f3"}, {"#5f6670", "#e4e6ea"},
		{"fg", "#fff4c2"}, {"fg", "#e3f0ff"}, {"#1b5e20", "panel"},
	}
	for _, p := range pairs {
		if r := contrast(col(p[0]), col(p[1])); r < 4.5 {
			t.Errorf("%s on %s: contrast %.2f, want ≥ 4.5", p[0], p[1], r)
		}
	}
	// The speed-dial palette (contactcenter.SpeedDialColours): each
	// colour has its variable and class, and text on it reads.
	for _, c := range cc.SpeedDialColours {
		if r := contrast(col("fg"), col("sd-"+c)); r < 4.5 {
			t.Errorf("fg on speed-dial colour %s: contrast %.2f, want ≥ 4.5", c, r)
		}
		if !strings.Contains(string(css), ".sd-"+c+" { background: var(--sd-"+c+"); }") {
			t.Errorf("console.css has no class .sd-%s", c)
		}
	}
	// The pairs above are the ones the stylesheet uses.
	for _, c := range []string{"#eef0f3", "#e4e6ea", "#5f6670", "#fff4c2", "#e3f0ff", "#1b5e20"} {
		if !strings.Contains(string(css), c) {
			t.Errorf("console.css no longer uses %s: update the pairs", c)
		}
	}
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	lum := func(hex string) float64 {
		var rgb [3]float64
		for i := range rgb {
			var v int
			fmt.Sscanf(hex[1+2*i:3+2*i], "%02x", &v)
			c := float64(v) / 255
			if c <= 0.03928 {
				rgb[i] = c / 12.92
			} else {
				rgb[i] = math.Pow((c+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// TestUIVocabulary: the shortcut actions and hideable columns the edge
// accepts (ShortcutActions, Columns) are exactly the web console's
// (app.js shortcutActions, index.html th[data-col] of table[data-list]),
// every list has its label, and a key the predefined sets bind is one
// the engine accepts.
func TestUIVocabulary(t *testing.T) {
	app, _ := fs.ReadFile(uiFiles, "ui/app.js")
	html, _ := fs.ReadFile(uiFiles, "ui/index.html")
	en, _ := fs.ReadFile(uiFiles, "ui/i18n/en.js")
	block := regexp.MustCompile(`(?s)const shortcutActions = \{(.*?)\n\};`).FindSubmatch(app)
	if block == nil {
		t.Fatal("app.js has no shortcutActions")
	}
	var actions []string
	for _, m := range regexp.MustCompile(`\b([a-z_]+): \(\) =>`).FindAllSubmatch(block[1], -1) {
		actions = append(actions, string(m[1]))
	}
	want := append([]string(nil), ShortcutActions...)
	sort.Strings(actions)
	sort.Strings(want)
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("app.js actions %v, ShortcutActions %v", actions, want)
	}
	var cols []string
	for _, tm := range regexp.MustCompile(`(?s)<table data-list="([a-z_]+)">(.*?)</thead>`).FindAllSubmatch(html, -1) {
		if !strings.Contains(string(en), `"cols.list.`+string(tm[1])+`"`) {
			t.Errorf("no label cols.list.%s", tm[1])
		}
		for _, m := range regexp.MustCompile(`data-col="([a-z_]+)"`).FindAllSubmatch(tm[2], -1) {
			cols = append(cols, string(tm[1])+"."+string(m[1]))
		}
	}
	want = append([]string(nil), Columns...)
	sort.Strings(cols)
	sort.Strings(want)
	if strings.Join(cols, " ") != strings.Join(want, " ") {
		t.Errorf("index.html columns %v, Columns %v", cols, want)
	}
	preset := regexp.MustCompile(`(?s)const PRESET = \{(.*?)\n\};`).FindSubmatch(app)
	if preset == nil {
		t.Fatal("app.js has no PRESET")
	}
	var sc []cc.Shortcut
	for _, m := range regexp.MustCompile(`([a-z]+): \{([^}]*)\}`).FindAllSubmatch(preset[1], -1) {
		for _, kv := range regexp.MustCompile(`"?([A-Za-z0-9+]+)"?: "([a-z_]+)"`).FindAllSubmatch(m[2], -1) {
			sc = append(sc, cc.Shortcut{State: string(m[1]), Key: string(kv[1]), Action: string(kv[2])})
		}
	}
	if len(sc) < 4 {
		t.Fatalf("PRESET read as %v", sc)
	}
	if err := cc.CheckPreferences(cc.Preferences{Shortcuts: sc}); err != nil {
		t.Errorf("the predefined shortcuts are not valid preferences: %v", err)
	}
	payload, _ := json.Marshal(cc.PreferencesRequest{User: "u", Preferences: cc.Preferences{Shortcuts: sc, HiddenColumns: Columns}})
	if err := checkConsoleVocabulary(payload); err != nil {
		t.Errorf("the predefined shortcuts or the columns: %v", err)
	}
}

// TestUIPalette: the web console offers exactly the engine's speed-dial
// colours (app.js PALETTE), each named in every language.
func TestUIPalette(t *testing.T) {
	app, _ := fs.ReadFile(uiFiles, "ui/app.js")
	m := regexp.MustCompile(`const PALETTE = \[([^\]]*)\];`).FindSubmatch(app)
	if m == nil {
		t.Fatal("app.js has no PALETTE")
	}
	if got, want := strings.ReplaceAll(string(m[1]), `"`, ""), strings.Join(cc.SpeedDialColours, ", "); got != want {
		t.Fatalf("app.js PALETTE %s, want %s", got, want)
	}
	for _, lang := range []string{"en.js", "es.js"} {
		b, _ := fs.ReadFile(uiFiles, "ui/i18n/"+lang)
		for _, c := range append([]string{"none"}, cc.SpeedDialColours...) {
			if !strings.Contains(string(b), `"speed.colour.`+c+`":`) {
				t.Errorf("%s lacks speed.colour.%s", lang, c)
			}
		}
		for _, st := range []string{cc.LineFree, cc.LineNotConnected, cc.LineBusyExternal, cc.LineBusyInternal} {
			if !strings.Contains(string(b), `"line.status.`+st+`":`) {
				t.Errorf("%s lacks line.status.%s", lang, st)
			}
		}
	}
}
