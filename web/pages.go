package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// The bundled pages (issue 16, point 4): the callback form and the chat
// widget, one folder of strings per language (pages/<lang>/strings.json,
// UTF-8; English and Spanish shipped). The page's structure — the standard parameters and
// buttons — is the template's, not the translation's: a translation
// gives texts only, and a text it lacks is the English one, so no
// translation can remove a field or a button.
//
//go:embed pages
var bundled embed.FS

// pageTmpls are the pages' templates by name (the path segment they
// are served under).
var pageTmpls = map[string]*template.Template{
	"callback": template.Must(template.ParseFS(bundled, "pages/callback.html")),
	"chat":     template.Must(template.ParseFS(bundled, "pages/chat.html")),
}

// langRE is the form of a language folder: "es", "pt-BR"; queueRE of
// the queue a page is for (an engine id).
var (
	langRE  = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z]{2})?$`)
	queueRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// pageStrings are a language's texts: the page's and one message per code.
type pageStrings struct {
	Strings map[string]string `json:"strings"`
	Codes   map[string]string `json:"codes"`
}

// pageKeys are the texts of the page (pages/en/strings.json has them all).
var pageKeys = []string{"title", "intro", "name", "phone", "description", "when", "from", "to", "send", "clear", "sending", "accepted",
	// the chat widget's
	"chat_title", "chat_intro", "chat_caption", "chat_start", "chat_message", "chat_send", "chat_end", "chat_waiting",
	"chat_connected", "chat_requeued", "chat_reconnecting", "chat_ended", "chat_typing", "chat_you", "chat_agent",
	"chat_email", "chat_transcript", "chat_transcript_sent"}

// Pages serves the bundled pages, with texts from Dir (when set) over the
// bundled ones: <Dir>/<lang>/strings.json adds or overrides a language
// and survives upgrades, <Dir>/page.css replaces the style sheet.
type Pages struct {
	Dir string

	once sync.Once
	m    *http.ServeMux
}

// readStrings reads one strings.json: an object of page texts and a
// "codes" object of messages; only known keys count.
func readStrings(b []byte, into *pageStrings) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("not UTF-8")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range pageKeys {
		var v string
		if r, ok := raw[k]; ok && json.Unmarshal(r, &v) == nil && strings.TrimSpace(v) != "" {
			into.Strings[k] = v
		}
	}
	var codes map[string]string
	if r, ok := raw["codes"]; ok && json.Unmarshal(r, &codes) == nil {
		for code := range Messages {
			k := fmt.Sprint(code)
			if v := strings.TrimSpace(codes[k]); v != "" {
				into.Codes[k] = v
			}
		}
	}
	return nil
}

// strings returns lang's texts over English, and whether lang exists.
func (p *Pages) strings(lang string) (pageStrings, bool, error) {
	s := pageStrings{Strings: map[string]string{}, Codes: map[string]string{}}
	for code, msg := range Messages { // the last resort: web.md's meaning
		s.Codes[fmt.Sprint(code)] = msg
	}
	found := false
	layers := []func(string) ([]byte, error){
		func(l string) ([]byte, error) { return fs.ReadFile(bundled, "pages/"+l+"/strings.json") },
	}
	if p != nil && p.Dir != "" {
		layers = append(layers, func(l string) ([]byte, error) { return os.ReadFile(filepath.Join(p.Dir, l, "strings.json")) })
	}
	for _, l := range []string{"en", lang} {
		for _, read := range layers {
			b, err := read(l)
			if err != nil {
				continue
			}
			if err := readStrings(b, &s); err != nil {
				return s, false, fmt.Errorf("%s/strings.json: %v", l, err)
			}
			if l == lang {
				found = true
			}
		}
	}
	return s, found, nil
}

// Languages lists the languages served (bundled and Dir's).
func (p *Pages) Languages() []string {
	set := map[string]bool{}
	if ents, err := fs.ReadDir(bundled, "pages"); err == nil {
		for _, e := range ents {
			if e.IsDir() && langRE.MatchString(e.Name()) {
				set[e.Name()] = true
			}
		}
	}
	if p != nil && p.Dir != "" {
		if ents, err := os.ReadDir(p.Dir); err == nil {
			for _, e := range ents {
				if e.IsDir() && langRE.MatchString(e.Name()) {
					set[e.Name()] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

func pageHeaders(w http.ResponseWriter, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
}

// routes registers the pages: the callback form under /callback/ and
// the chat widget under /chat/, each refused on the plain listener when
// its feature is TLS only.
func (p *Pages) routes(mux *http.ServeMux, h *Handler) {
	for name, feature := range map[string]string{"callback": FeatureCallback, "chat": FeatureChat} {
		mux.Handle("/"+name+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !h.plainRefused(w, r, feature, true) {
				p.mux().ServeHTTP(w, r)
			}
		}))
	}
}

// mux is the pages' own routes.
func (p *Pages) mux() *http.ServeMux {
	p.once.Do(func() { p.m = http.NewServeMux(); p.register(p.m) })
	return p.m
}

func (p *Pages) register(mux *http.ServeMux) {
	for name := range pageTmpls {
		mux.HandleFunc("GET /"+name+"/{$}", func(w http.ResponseWriter, r *http.Request) {
			lang := p.pick(r.Header.Get("Accept-Language"))
			target := "/" + name + "/" + lang + "/"
			if q := r.URL.RawQuery; q != "" {
				target += "?" + q
			}
			http.Redirect(w, r, target, http.StatusFound)
		})
		mux.HandleFunc("GET /"+name+"/"+name+".js", func(w http.ResponseWriter, r *http.Request) {
			b, _ := bundled.ReadFile("pages/" + name + ".js")
			pageHeaders(w, "text/javascript; charset=utf-8")
			w.Write(b)
		})
		mux.HandleFunc("GET /"+name+"/page.css", func(w http.ResponseWriter, r *http.Request) {
			b, err := []byte(nil), error(nil)
			if p.Dir != "" {
				b, err = os.ReadFile(filepath.Join(p.Dir, "page.css"))
			}
			if p.Dir == "" || err != nil {
				b, _ = bundled.ReadFile("pages/page.css")
			}
			pageHeaders(w, "text/css; charset=utf-8")
			w.Write(b)
		})
		mux.HandleFunc("GET /"+name+"/{lang}/{$}", func(w http.ResponseWriter, r *http.Request) { p.page(w, r, name) })
	}
}

// pick chooses the page language from Accept-Language (its first
// language served, by prefix), English otherwise.
func (p *Pages) pick(accept string) string {
	have := map[string]bool{}
	for _, l := range p.Languages() {
		have[l] = true
	}
	for _, part := range strings.Split(accept, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if have[tag] {
			return tag
		}
		if base, _, _ := strings.Cut(tag, "-"); have[strings.ToLower(base)] {
			return strings.ToLower(base)
		}
	}
	return "en"
}

// page serves the page name in the language of the path: its template
// with the language's texts (over English) and every code's message. The
// callback form takes ?queue=<id>; the chat widget reads its parameters
// from the query itself (chat.js), so nothing of the query is echoed.
func (p *Pages) page(w http.ResponseWriter, r *http.Request, name string) {
	lang := r.PathValue("lang")
	s, ok, err := p.strings(lang)
	if !langRE.MatchString(lang) || !ok || err != nil {
		pageHeaders(w, "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "%d: %s\n", CodePageNotFound, s.Codes[fmt.Sprint(CodePageNotFound)])
		return
	}
	queue := r.URL.Query().Get("queue")
	if len(queue) > 64 || !queueRE.MatchString(queue) {
		queue = ""
	}
	var buf bytes.Buffer
	if err := pageTmpls[name].Execute(&buf, map[string]any{"Lang": lang, "S": s.Strings, "Codes": s.Codes, "Queue": queue, "JSON": s}); err != nil {
		http.Error(w, "1012", http.StatusInternalServerError)
		return
	}
	pageHeaders(w, "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}
