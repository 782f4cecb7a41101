package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tandemcc/tandem/internal/apierr"
)

// Cross-origin requests (DESIGN.md, "Failover in the browser"). A console
// page is served by one member and, after a failover, talks to another:
// the browser sends that member's API an Origin naming the first. The
// public mount therefore answers CORS for the origins of the cluster's
// own members (their advertised http URLs) and for nobody else; a
// request from any other origin is refused before it reaches a route.
// Sessions are bearer tokens the page holds, never cookies: no
// credentials are allowed cross-origin and nothing ambient is sent.

// memberOrigins are the web origins ("http://host:port") of the members'
// public web servers, as the cluster's metadata records them.
func (s *Service) memberOrigins() map[string]bool {
	out := map[string]bool{}
	for _, n := range s.Store.Status().Nodes {
		if o := originOf(n.HTTPURL); o != "" {
			out[o] = true
		}
	}
	return out
}

// originOf is the origin of a URL, lower case; "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// crossOrigin reports whether r comes from a page of another origin
// (an Origin header whose host is not the one asked), and that origin.
func crossOrigin(r *http.Request) (string, bool) {
	o := r.Header.Get("Origin")
	if o == "" {
		return "", false
	}
	u, err := url.Parse(o)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return "", false
	}
	return o, true
}

// memberOrigin reports whether a cross-origin request comes from a
// page served by a member of this cluster.
func (h *Handler) memberOrigin(origin string) bool {
	o := originOf(origin)
	return o != "" && h.Service.memberOrigins()[o]
}

// cors lets pages served by the cluster's members use the API and
// refuses every other cross-origin request.
func (h *Handler) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin, cross := crossOrigin(r)
		if !cross {
			next.ServeHTTP(w, r)
			return
		}
		if !h.memberOrigin(origin) {
			apierr.Write(w, apierr.Errorf(apierr.Forbidden, "origin %s is not a member of this cluster", apierr.Quote(origin)))
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Add("Vary", "Origin")
		hd.Set("Access-Control-Expose-Headers", "X-Tandem-Consistency, Retry-After, WWW-Authenticate, ETag")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", "GET, POST")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, If-Match")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
