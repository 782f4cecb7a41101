package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is a headless Debian Chromium driven over the DevTools protocol
// (chromedp), with the page's uncaught exceptions collected and
// screenshots written to an artifacts directory that outlives the test.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
	shots     int

	mu     sync.Mutex
	errors []string
}

// chromiumFlags are the flags peers.md fixes for Chromium in tests.
var chromiumFlags = []string{"headless", "no-sandbox", "disable-gpu", "disable-background-networking",
	"disable-component-update", "no-first-run"}

// newBrowser starts Chromium (1280×800 by default). The artifacts
// directory is $TANDEM_E2E_ARTIFACTS/<test> when set, else a new
// directory under the system's temporary directory; its path is logged.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is needed (make test installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()), chromedp.WSURLReadTimeout(60 * time.Second), chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true)}
	for _, f := range chromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action starts the browser, which lives as long as the
	// context of that call: no timeout here (WSURLReadTimeout bounds the
	// start).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	go b.collectErrors()
	dir := ""
	if base := os.Getenv("TANDEM_E2E_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "tandem-e2e-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	}
	if err != nil {
		t.Fatal(err)
	}
	b.artifacts = dir
	t.Logf("screenshots in %s", dir)
	return b
}

// collectErrors records the page's uncaught exceptions, its
// console.error calls and the browser's security messages (a
// Content-Security-Policy violation) until the tab closes; network
// errors are expected while a node is down.
func (b *browser) collectErrors() {
	for m, err := range chromedp.Console(b.ctx) {
		if err != nil {
			return
		}
		if m.IsException() || (m.Type == chromedp.ConsoleError && (m.Source == "" || m.Source == "security")) {
			b.mu.Lock()
			b.errors = append(b.errors, m.String())
			b.mu.Unlock()
		}
	}
}

// newTab opens another tab of b's Chromium: a page of its own, with its
// own sessionStorage (another console of the same operator), its errors
// collected apart and its screenshots under name in b's directory. It
// closes with the test.
func (b *browser) newTab(name string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	tab := &browser{t: b.t, ctx: ctx, artifacts: filepath.Join(b.artifacts, name)}
	if err := os.MkdirAll(tab.artifacts, 0o755); err != nil {
		b.t.Fatal(err)
	}
	// As for the browser: the first action opens the tab, which lives as
	// long as that call's context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("opening tab %s: %v", name, err)
	}
	go tab.collectErrors()
	return tab
}

// run performs actions within a bound.
func (b *browser) run(within time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// must performs actions or fails the test with what was being done.
func (b *browser) must(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	err := b.run(waitShort, actions...)
	// A node the page re-rendered between its lookup and the action
	// (live line states redraw the speed dials) did not take the click:
	// one action alone is safe to try again, at most twice.
	for try := 0; try < 2 && err != nil && len(actions) == 1 && strings.Contains(err.Error(), "Could not find node with given id"); try++ {
		err = b.run(waitShort, actions...)
	}
	if err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// shot saves a screenshot of the page as NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shots++
	p := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// eval evaluates a JavaScript expression into out.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// waitJS polls a boolean JavaScript expression until it holds.
func (b *browser) waitJS(within time.Duration, what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := eval[bool](b, "Boolean("+expr+")")
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			page, _ := eval[string](b, `document.getElementById("error") ? document.getElementById("error").textContent + " | " + document.title : document.title`)
			b.shot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("timed out after %v waiting for %s (%s): err=%v page=%q js errors=%v", within, what, expr, err, page, b.jsErrors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) jsErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// noJSErrors fails the test when the page threw.
func (b *browser) noJSErrors() {
	b.t.Helper()
	if errs := b.jsErrors(); len(errs) > 0 {
		b.t.Fatalf("the page reported errors: %v", errs)
	}
}

// jsDo is an action evaluating a JavaScript expression for its effect.
func jsDo(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}
