package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// Every bundled language has every text and a message for every code, in
// UTF-8: nothing falls back to English unnoticed.
func TestBundledTranslationsComplete(t *testing.T) {
	langs := (&Pages{}).Languages()
	if strings.Join(langs, " ") != "en es" {
		t.Fatalf("languages %v", langs)
	}
	for _, l := range langs {
		b, err := bundled.ReadFile("pages/" + l + "/strings.json")
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			Codes map[string]string `json:"codes"`
		}
		var texts map[string]any
		if err := json.Unmarshal(b, &raw); err != nil || json.Unmarshal(b, &texts) != nil {
			t.Fatalf("%s: %v", l, err)
		}
		for _, k := range pageKeys {
			if s, _ := texts[k].(string); s == "" {
				t.Errorf("%s lacks %q", l, k)
			}
		}
		for code := range Messages {
			if raw.Codes[fmt.Sprint(code)] == "" {
				t.Errorf("%s lacks the message of %d", l, code)
			}
		}
	}
}

func getPage(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A translation gives texts only: one that lacks texts, or tries to
// blank them, still shows every field and button (in English where it
// says nothing); a folder outside the shipped files adds a language and
// overrides a shipped one.
func TestTranslationCannotRemoveFields(t *testing.T) {
	dir := t.TempDir()
	for l, body := range map[string]string{
		"fr": `{"title":"Rappelez-moi","send":"","codes":{"17030":"Nom trop long"}}`,
		"es": `{"title":"Llamada","clear":"   "}`,
	} {
		os.MkdirAll(filepath.Join(dir, l), 0o755)
		os.WriteFile(filepath.Join(dir, l, "strings.json"), []byte(body), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "de"), 0o755)
	os.WriteFile(filepath.Join(dir, "de", "strings.json"), []byte("{\"title\":\"\xff\"}"), 0o644)
	mux := http.NewServeMux()
	(&Handler{Pages: &Pages{Dir: dir}}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct{ lang, title, send, clear string }{
		{"fr", "Rappelez-moi", "Call me back", "Clear"},
		{"es", "Llamada", "Llámenme", "Borrar"},
		{"en", "Call me back", "Call me back", "Clear"},
	} {
		code, page := getPage(t, srv, "/callback/"+tc.lang+"/?queue=sales")
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.lang, code, page)
		}
		for _, want := range []string{`id="customer_name"`, `id="phone"`, `id="description"`, `id="start"`, `id="end"`,
			`id="send"`, `id="clear"`, `data-queue="sales"`, "<title>" + tc.title + "</title>",
			">" + tc.send + "</button>", ">" + tc.clear + "</button>"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s page lacks %s", tc.lang, want)
			}
		}
	}
	if _, page := getPage(t, srv, "/callback/fr/"); !strings.Contains(page, "Nom trop long") {
		t.Error("fr message of 17030 not in the page's strings")
	}
	for _, path := range []string{"/callback/xx/", "/callback/de/", "/callback/..%2f/"} {
		if code, page := getPage(t, srv, path); code != 404 || !strings.Contains(page, "1006") {
			t.Errorf("%s: %d %q", path, code, page)
		}
	}
	if code, page := getPage(t, srv, "/callback/es/?queue=%22%3E%3Cscript%3E"); code != 200 || strings.Contains(page, "<script>") || !strings.Contains(page, `data-queue=""`) {
		t.Errorf("queue parameter not sanitised: %d", code)
	}
}

// chromium starts Debian's Chromium headless (peers.md's flags) for a
// test; a machine without it fails the test (make deps installs it).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the form test needs Debian's chromium (apt-get install chromium; make deps does): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("lang", "en-US"))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(tcancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// formAnswer is what the form's result shows.
type formAnswer struct {
	Class string `json:"class"`
	Text  string `json:"text"`
	Code  string `json:"code"`
	ID    string `json:"id"`
}

// waitResult waits until the form's result shows an answer.
func waitResult(ctx context.Context, t *testing.T) formAnswer {
	t.Helper()
	a, err := chromedp.Run(ctx, chromedp.Poll[formAnswer](`(() => {
		const r = document.getElementById("result");
		return r.className === "" ? null : {class: r.className, text: r.textContent,
			code: r.getAttribute("data-code") || "", id: r.getAttribute("data-id") || ""};
	})()`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("waiting for the form's answer: %v", err)
	}
	return a
}

// The bundled form in a real browser: Spanish messages for the server's
// codes, a callback created, a duplicate refused; the English page by
// Accept-Language.
func TestCallbackFormInChromium(t *testing.T) {
	r := newRig(t)
	ctx := chromium(t)
	send := func(name, phone string) formAnswer {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.ID("clear")),
			chromedp.SetValue(chromedp.ID("customer_name"), name),
			chromedp.SetValue(chromedp.ID("phone"), phone),
			chromedp.Click(chromedp.ID("send")),
		); err != nil {
			t.Fatal(err)
		}
		return waitResult(ctx, t)
	}
	title := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.srv.URL+"/callback/es/?queue=sales")); err != nil {
		t.Fatal(err)
	}
	if got := title(); got != "Le llamamos" {
		t.Fatalf("title %q", got)
	}
	if a := send(strings.Repeat("é", 76), "+34 91 555 0101"); a.Class != "error" || a.Code != "17030" || a.Text != "Su nombre es demasiado largo (75 caracteres como máximo)." {
		t.Fatalf("76 characters: %+v", a)
	}
	if a := send("Ana Pérez", "+34 91 555 0199x"); a.Class != "error" || a.Code != "1010" || !strings.HasPrefix(a.Text, "Rellene") {
		t.Fatalf("bad phone: %+v", a)
	}
	a := send("Ana Pérez", "+34 91 555 0101")
	if a.Class != "ok" || a.Text != "Gracias: le devolveremos la llamada." || a.ID == "" {
		t.Fatalf("accepted: %+v", a)
	}
	if v, ok := r.engine.Callback(a.ID); !ok || v.Status != cc.CallbackQueued {
		t.Fatalf("callback %s: %+v %v", a.ID, v, ok)
	}
	if a := send("Ana Pérez", "0034 915 550 101"); a.Code != "17006" || a.Text != "Ya ha pedido que le llamemos a este número." {
		t.Fatalf("duplicate: %+v", a)
	}
	// The English page, chosen by the browser's Accept-Language.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.srv.URL+"/callback/?queue=sales")); err != nil {
		t.Fatal(err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if got := title(); got != "Call me back" || !strings.HasSuffix(url, "/callback/en/?queue=sales") {
		t.Fatalf("English page: %q at %s", got, url)
	}
	if a := send("Bob", "+34 91 555 0199"); a.Code != "17031" || a.Text != "We cannot call this number." {
		t.Fatalf("excluded: %+v", a)
	}
}

// The chat widget is translatable like the form: a translation that
// lacks or blanks texts still has every standard parameter and button;
// a language not served is 1006; /chat/ picks the language by
// Accept-Language and keeps the query; nothing of the query is echoed
// into the page; --web-tls-only chat refuses the page on the plain
// listener.
func TestChatPageTranslation(t *testing.T) {
	dir := t.TempDir()
	for l, body := range map[string]string{
		"fr": `{"chat_title":"Discutons","chat_send":"","chat_end":"  ","codes":{"1007":"Session expirée"}}`,
		"es": `{"chat_start":""}`,
	} {
		os.MkdirAll(filepath.Join(dir, l), 0o755)
		os.WriteFile(filepath.Join(dir, l, "strings.json"), []byte(body), 0o644)
	}
	mux := http.NewServeMux()
	(&Handler{Pages: &Pages{Dir: dir}}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct{ lang, title, start, send, end string }{
		{"fr", "Discutons", "Start the chat", "Send", "End the chat"},
		{"es", "Hable con nosotros", "Empezar el chat", "Enviar", "Terminar el chat"},
		{"en", "Chat with us", "Start the chat", "Send", "End the chat"},
	} {
		code, page := getPage(t, srv, "/chat/"+tc.lang+"/?source=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.lang, code, page)
		}
		for _, want := range []string{`id="customer_name"`, `id="caption"`, `id="start"`, `id="text"`, `id="send"`, `id="end"`,
			`id="messages"`, `id="typing"`, `id="email"`, `id="transcript"`, `<script src="../chat.js">`, "<title>" + tc.title + "</title>",
			">" + tc.start + "</button>", ">" + tc.send + "</button>", ">" + tc.end + "</button>"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s chat page lacks %s", tc.lang, want)
			}
		}
		if strings.Contains(page, "alert(1)") {
			t.Errorf("%s: the query is echoed into the page", tc.lang)
		}
	}
	if _, page := getPage(t, srv, "/chat/fr/"); !strings.Contains(page, "Session expirée") {
		t.Error("fr message of 1007 not in the page's strings")
	}
	for _, path := range []string{"/chat/xx/", "/chat/..%2f/", "/chat/EN/"} {
		if code, page := getPage(t, srv, path); code != 404 || !strings.Contains(page, "1006") {
			t.Errorf("%s: %d %q", path, code, page)
		}
	}
	for _, path := range []string{"/chat/chat.js", "/chat/page.css"} {
		if code, body := getPage(t, srv, path); code != 200 || body == "" {
			t.Errorf("%s: %d", path, code)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/chat/?source=shop", nil)
	req.Header.Set("Accept-Language", "es-ES,es;q=0.9")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/chat/es/?source=shop" {
		t.Fatalf("redirect %d %q", resp.StatusCode, loc)
	}
	// TLS only: the plain listener refuses the page (1006, 403).
	tmux := http.NewServeMux()
	(&Handler{TLSOnly: []string{FeatureChat}}).Routes(tmux)
	tsrv := httptest.NewServer(tmux)
	defer tsrv.Close()
	if code, page := getPage(t, tsrv, "/chat/en/"); code != http.StatusForbidden || !strings.Contains(page, "1006") {
		t.Fatalf("TLS only: %d %q", code, page)
	}
	if code, _ := getPage(t, tsrv, "/callback/en/"); code != 200 {
		t.Fatalf("the callback form is not TLS only: %d", code)
	}
}
