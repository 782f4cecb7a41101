package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleFailoverRounds is how many times TestConsoleFailoverTime kills
// the console's primary (TANDEM_CONSOLE_FAILOVER_ROUNDS overrides;
// bench/console.sh runs 20).
func consoleFailoverRounds(t *testing.T) int {
	if v := os.Getenv("TANDEM_CONSOLE_FAILOVER_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("TANDEM_CONSOLE_FAILOVER_ROUNDS=%q: want 1..100", v)
		}
		return n
	}
	return 2
}

// TestConsoleFailoverTime measures the console's failover in automatic
// mode with zero grace: the console's primary, made the leader first
// (the worst case: an election too), is SIGKILLed; the time until the
// console listens to its secondary and has read its state there with a
// linearizable read (the new node has a leader and can act) is one
// measure, logged as console_failover_ms=<n> and appended to the file
// TANDEM_CONSOLE_FAILOVER_OUT names. The killed node restarts and the
// next round kills the node the console moved to.
func TestConsoleFailoverTime(t *testing.T) {
	nodes := uiCluster(t, "cft", uiOpts{})
	leader := waitLeader(t, nodes, 3)
	b := newBrowser(t, 1280, 800)
	page := "http://" + leader.httpAddr + "/console/"
	uiEdge(t, leader, "preferences", autoPrefs) // automatic mode, zero grace: ann's preference
	b.must("open the console", chromedp.Navigate(page))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.must("log in", chromedp.SendKeys("#login-user", "ann"), chromedp.SendKeys("#login-password", "ann-secret-1"),
		chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	var times []time.Duration
	for round := 1; round <= consoleFailoverRounds(t); round++ {
		b.waitJS(waitCluster, "a standby connection", `window.tandemConsole.standby !== ""`)
		primaryID, _ := eval[string](b, `window.tandemConsole.listening`)
		primary := nodeByID(nodes, primaryID)
		if primary == nil {
			t.Fatalf("console listens to %q", primaryID)
		}
		if l := waitLeader(t, nodes, 3); l != primary {
			l.ctl("cluster", "transfer-leader", primary.id).ok(t)
			waitFor(t, waitCluster, primary.id+" leading", func() (bool, string) {
				st, err := primary.status()
				return err == nil && st.Role == "leader" && st.Ready, fmt.Sprintf("%+v %v", st.Role, err)
			})
		}
		before, _ := eval[string](b, `document.body.dataset.switchedAt || ""`)
		t0 := time.Now()
		primary.kill()
		b.waitJS(waitCluster, "the automatic switch", fmt.Sprintf(`(document.body.dataset.switchedAt || "") !== %q && window.tandemConsole.listening !== %q`, before, primaryID))
		at, _ := eval[string](b, `document.body.dataset.switchedAt`)
		ms, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			t.Fatalf("switchedAt %q", at)
		}
		d := time.UnixMilli(ms).Sub(t0)
		times = append(times, d)
		now, _ := eval[string](b, `window.tandemConsole.listening`)
		recordConsoleFailover(t, d, fmt.Sprintf("round=%d from=%s to=%s", round, primaryID, now))
		primary.start()
		waitLeader(t, nodes, 3)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("console failover: %d rounds, p50 %v, max %v", len(times), times[len(times)/2], times[len(times)-1])
	b.noJSErrors()
}

// recordConsoleFailover logs one measure and appends it to the file
// TANDEM_CONSOLE_FAILOVER_OUT names, if any.
func recordConsoleFailover(t *testing.T, d time.Duration, detail string) {
	t.Helper()
	line := fmt.Sprintf("console_failover_ms=%d %s", d.Milliseconds(), detail)
	t.Logf("%s", line)
	path := os.Getenv("TANDEM_CONSOLE_FAILOVER_OUT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("TANDEM_CONSOLE_FAILOVER_OUT: %v", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Fatalf("TANDEM_CONSOLE_FAILOVER_OUT: %v", err)
	}
}
