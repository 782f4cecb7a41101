package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

// The web console: plain ES modules, CSS and HTML in ui/, embedded in
// tandemd and served by every node at UIPrefix. Nothing is fetched from
// elsewhere (TestUIAssets checks it); the pages speak the API at
// PublicPrefix of this node or, after a failover, of another member
// (origins.go).
//
//go:embed ui
var uiFiles embed.FS

// UIPrefix is where the web console lives on --http-addr.
const UIPrefix = "/console/"

// uiTypes are the content types of the console's files, by extension
// (explicit: the system's MIME table differs between machines).
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".ico":  "image/x-icon",
}

// UI serves the web console's files. Service, when set, lists the
// members whose APIs the page may connect to (its Content-Security-Policy).
type UI struct {
	Service *Service
}

// uiModTime is when the binary started: the embedded files carry no time.
var uiModTime = time.Now()

// ServeHTTP serves the file named by the path after UIPrefix (index.html
// for the prefix itself).
func (u UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apierr.Write(w, apierr.Errorf(apierr.MethodNotAllowed, "%s: the console's pages are read with GET", r.Method))
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, UIPrefix)), "/")
	if name == "" || name == "." {
		name = "index.html"
	}
	typ, ok := uiTypes[path.Ext(name)]
	b, err := fs.ReadFile(uiFiles, "ui/"+name)
	if !ok || err != nil {
		apierr.Write(w, apierr.Errorf(apierr.NotFound, "no console page %s", apierr.Quote(name)))
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", u.csp(r.Host))
	http.ServeContent(w, r, name, uiModTime, bytes.NewReader(b))
}

// csp allows the page this node's own resources and connections to the
// members' APIs (HTTP and WebSocket), and the voicemail recordings it
// fetched itself (blob: URLs for its audio element), nothing else.
func (u UI) csp(host string) string {
	connect := []string{"'self'", "ws://" + host, "wss://" + host}
	if u.Service != nil {
		var origins []string
		for o := range u.Service.memberOrigins() {
			origins = append(origins, o, "ws"+strings.TrimPrefix(o, "http"))
		}
		sort.Strings(origins)
		connect = append(connect, origins...)
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src " +
		strings.Join(connect, " ") + "; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}

// UIFiles lists the console's embedded files (paths under UIPrefix).
func UIFiles() []string {
	var out []string
	fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, "ui/"))
		}
		return nil
	})
	return out
}
